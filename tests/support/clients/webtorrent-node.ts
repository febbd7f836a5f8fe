/**
 * WebTorrent end-to-end plumbing in Node: the ws:// tracker under test, a raw
 * WebSocket scrape to see what that tracker knows, and webtorrent@3 seeders
 * and leechers that talk WebRTC (through @roamhq/wrtc) and find each other
 * only through that tracker (DHT, LSD, PEX, uTP, NAT traversal and web seeds
 * off; no STUN servers, so ICE uses this machine's own host candidates and
 * every packet stays on this machine).
 *
 *   const tracker = await startWsTracker(scope);      // WT_E2E_TARGET picks which
 *   const seeder = await startNodeSeeder(scope, { torrent, announce: tracker.url('/announce') });
 *   await seeder.waitForTrackerAnnounce(10_000);
 *   await tracker.waitForSeeders(torrent.infoHash, 1, 10_000);   // before any leecher (glare)
 *   const leecher = await startNodeLeecher(scope, { magnet, dir, announce });
 *   const result = await leecher.waitForDone(30_000);             // sha256 of the file on disk
 *
 * Every Node peer is a child process (this module is its entry point), as
 * real peers are: webtorrent's tracker client shares one WebSocket per tracker
 * URL between all clients of a process, so two clients in one process would
 * reach the tracker as one connection announcing two peer_ids.
 *
 * webtorrent and its WebRTC stack are loaded only in the children, by a
 * non-literal specifier: the build does not depend on them, and a missing
 * package fails the test that needs it with what to install.
 */
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { sha256File, type TestTorrent } from '../torrent.js';
import { OutputTail, raceTimeout, startTracker, type CleanupContext } from '../tracker-process.js';
import { ManagedProcess, pollUntil } from './common.js';

export const WT_INSTALL_HINT =
  'the WebTorrent e2e tests need the devDependencies webtorrent, @roamhq/wrtc and playwright-core, the ' +
  '`webrtc-polyfill` override pointing at tests/support/webrtc/webrtc-polyfill (npm ci), and Chromium ' +
  '(`bash scripts/install-test-deps.sh`, as root)';

/** Imports an npm package by a non-literal specifier; a missing package names the fix. */
export async function importPackage<T>(specifier: string): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    throw new Error(`cannot load ${specifier}: ${(error as Error).message}\n${WT_INSTALL_HINT}`);
  }
}

function debugEnabled(): boolean {
  return process.env.WT_E2E_DEBUG === '1';
}

/** A timestamped event log kept for failure messages (and echoed to stderr with WT_E2E_DEBUG=1). */
export class EventLog {
  private readonly tail = new OutputTail(32 * 1024);
  private readonly start = Date.now();
  constructor(private readonly name: string) {}

  push(message: string): void {
    const line = `[${((Date.now() - this.start) / 1000).toFixed(3)}s ${this.name}] ${message}`;
    this.tail.push(`${line}\n`);
    if (debugEnabled()) process.stderr.write(`${line}\n`);
  }

  toString(): string {
    return this.tail.toString();
  }
}

// ---------------------------------------------------------------------------
// The tracker under test: chosen here, and only here.

export type WtTarget = 'reference' | 'ours';

/**
 * Which tracker the WebTorrent tests run against: WT_E2E_TARGET=ours (the
 * default: our tracker, as a child process, WebSockets on its HTTP port) or
 * WT_E2E_TARGET=reference (bittorrent-tracker's server, in this process).
 */
export function wtTarget(): WtTarget {
  const value = (process.env.WT_E2E_TARGET ?? '').trim() || 'ours';
  if (value !== 'ours' && value !== 'reference') {
    throw new Error(`WT_E2E_TARGET must be "ours" or "reference", not ${JSON.stringify(value)}`);
  }
  return value;
}

export interface ScrapeStats {
  complete: number;
  incomplete: number;
  downloaded?: number;
}

export interface WsTracker {
  readonly target: WtTarget;
  readonly port: number;
  /** ws://127.0.0.1:<port>/announce, or ws://127.0.0.1:<port> for '/': both are served. */
  url(path?: '/' | '/announce'): string;
  /** One WebSocket scrape of `infoHash` (bounded). Throws on a failure reply. */
  scrape(infoHash: Uint8Array, timeoutMs?: number): Promise<ScrapeStats>;
  /**
   * Polls scrape until the tracker counts at least `count` seeders: proof that
   * it has processed their announces (start leechers only after this: glare).
   */
  waitForSeeders(infoHash: Uint8Array, count: number, timeoutMs: number): Promise<ScrapeStats>;
  /** `message` plus what the tracker said (its output, or the reference server's events). */
  describe(message: string): string;
  /** Stops the tracker (bounded); ours must exit cleanly. */
  stop(): Promise<void>;
}

/** Starts the tracker chosen by WT_E2E_TARGET on 127.0.0.1; it is stopped when `scope` ends. */
export async function startWsTracker(scope: CleanupContext): Promise<WsTracker> {
  return wtTarget() === 'reference' ? startReferenceTracker(scope) : startOurTracker(scope);
}

function wsUrl(port: number, path: '/' | '/announce' = '/announce'): string {
  return `ws://127.0.0.1:${port}${path === '/' ? '' : path}`;
}

async function startOurTracker(scope: CleanupContext): Promise<WsTracker> {
  const tracker = await startTracker(scope, { host: '127.0.0.1' });
  const url = (path?: '/' | '/announce'): string => wsUrl(tracker.port, path);
  const describe = (message: string): string =>
    `${message}\n--- our tracker (pid ${tracker.pid}, ${url()}) output ---\n${tracker.output() || '(nothing)'}\n--- end of tracker output ---`;
  return makeWsTracker('ours', tracker.port, url, describe, async () => {
    await tracker.stop({ expectCleanExit: true });
  });
}

interface ReferenceServer {
  listen(port: number, hostname: string, onListening?: () => void): void;
  close(cb?: (err?: Error | null) => void): void;
  on(event: string, listener: (...args: unknown[]) => void): void;
  once(event: string, listener: (...args: unknown[]) => void): void;
  removeListener(event: string, listener: (...args: unknown[]) => void): void;
  ws: { address(): { port: number } };
  http: { closeAllConnections?: () => void } | null;
}
type ReferenceServerConstructor = new (options: Record<string, unknown>) => ReferenceServer;

async function startReferenceTracker(scope: CleanupContext): Promise<WsTracker> {
  const { default: Server } = await importPackage<{ default: ReferenceServerConstructor }>('bittorrent-tracker/server');
  const log = new EventLog('reference tracker');
  const server = new Server({ udp: false, http: false, ws: true, stats: false });
  server.on('warning', (error) => log.push(`warning: ${(error as Error).message}`));
  server.on('error', (error) => log.push(`error: ${(error as Error).message}`));
  for (const event of ['start', 'complete', 'update', 'stop'] as const) {
    server.on(event, (peerId, params) => {
      const p = params as { left?: number; info_hash?: string; offers?: unknown[]; answer?: unknown };
      log.push(`${event}: peer ${String(peerId)} info_hash ${p.info_hash} left ${p.left}${p.answer ? ' (answer)' : ''}${p.offers ? ` offers ${p.offers.length}` : ''}`);
    });
  }

  await new Promise<void>((resolveListen, reject) => {
    const onError = (error: unknown): void => reject(error as Error);
    server.once('error', onError);
    server.listen(0, '127.0.0.1', () => {
      server.removeListener('error', onError);
      resolveListen();
    });
  });
  const port = server.ws.address().port;
  log.push(`listening on 127.0.0.1:${port}`);

  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      // http.close() waits for every connection, upgraded WebSockets included: bound it.
      const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
      server.http?.closeAllConnections?.();
      if ((await raceTimeout(closed, 5000)) === null) log.push('close() did not finish within 5 s');
    })();
    return stopped;
  };
  scope.after(stop);

  const url = (path?: '/' | '/announce'): string => wsUrl(port, path);
  const describe = (message: string): string =>
    `${message}\n--- reference tracker (bittorrent-tracker server, ${url()}) events ---\n${log.toString() || '(nothing)'}\n--- end of tracker events ---`;
  return makeWsTracker('reference', port, url, describe, stop);
}

function makeWsTracker(
  target: WtTarget,
  port: number,
  url: (path?: '/' | '/announce') => string,
  describe: (message: string) => string,
  stop: () => Promise<void>,
): WsTracker {
  const scrape = (infoHash: Uint8Array, timeoutMs = 3000): Promise<ScrapeStats> => wsScrape(url('/announce'), infoHash, timeoutMs);
  return {
    target,
    port,
    url,
    scrape,
    describe,
    stop,
    async waitForSeeders(infoHash, count, timeoutMs) {
      let last: ScrapeStats | string = 'no reply yet';
      const found = await pollUntil(
        async () => {
          try {
            const stats = await scrape(infoHash, Math.min(3000, timeoutMs));
            last = stats;
            return stats.complete >= count ? stats : undefined;
          } catch (error) {
            last = (error as Error).message;
            return undefined;
          }
        },
        timeoutMs,
        100,
      );
      if (found === undefined) {
        const hash = Buffer.from(infoHash).toString('hex');
        throw new Error(describe(`the ${target} tracker did not count ${count} seeder(s) of ${hash} within ${timeoutMs} ms (last scrape: ${JSON.stringify(last)})`));
      }
      return found;
    },
  };
}

// ---------------------------------------------------------------------------
// A raw WebSocket scrape: {action:"scrape", info_hash} -> {action:"scrape", files:{<hash>: stats}}

/** Latin-1 "binary string" of `bytes`, as the WebTorrent protocol carries ids. */
export function binaryString(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1');
}

/** One scrape over a fresh WebSocket to `url`, bounded by `timeoutMs`. */
export async function wsScrape(url: string, infoHash: Uint8Array, timeoutMs = 3000): Promise<ScrapeStats> {
  const key = binaryString(infoHash);
  const socket = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<ScrapeStats>((resolveStats, reject) => {
      timer = setTimeout(() => reject(new Error(`no scrape reply from ${url} within ${timeoutMs} ms`)), timeoutMs);
      socket.on('error', (error) => reject(new Error(`scrape ${url}: ${error.message}`)));
      socket.on('close', (code) => reject(new Error(`scrape ${url}: socket closed (code ${code}) before a reply`)));
      socket.on('open', () => socket.send(JSON.stringify({ action: 'scrape', info_hash: key })));
      socket.on('message', (data) => {
        const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as Uint8Array).toString('utf8');
        let reply: { action?: string; files?: Record<string, ScrapeStats>; 'failure reason'?: string };
        try {
          reply = JSON.parse(text) as typeof reply;
        } catch {
          reject(new Error(`scrape ${url}: reply is not JSON: ${text.slice(0, 200)}`));
          return;
        }
        if (reply['failure reason'] !== undefined) {
          reject(new Error(`scrape ${url}: failure reason ${JSON.stringify(reply['failure reason'])}`));
          return;
        }
        if (reply.action !== 'scrape') return;
        const stats = reply.files?.[key];
        if (stats === undefined) {
          reject(new Error(`scrape ${url}: no entry for the info_hash in ${JSON.stringify(reply)}`));
          return;
        }
        resolveStats({ complete: Number(stats.complete), incomplete: Number(stats.incomplete), downloaded: stats.downloaded });
      });
    });
  } finally {
    clearTimeout(timer);
    socket.terminate();
  }
}

/**
 * Polls WebSocket scrapes of `url` (2 s each) until at least `count` seeders
 * are counted: proof the tracker has processed their announces. Throws
 * `failure(what happened)` when `timeoutMs` runs out, with the last reply.
 */
export async function waitForWsSeeders(url: string, infoHash: Uint8Array, count: number, timeoutMs: number, failure: (message: string) => string): Promise<ScrapeStats> {
  let last: unknown = 'no reply yet';
  const found = await pollUntil(async () => {
    try {
      const stats = await wsScrape(url, infoHash, 2000);
      last = stats;
      return stats.complete >= count ? stats : undefined;
    } catch (error) {
      last = (error as Error).message;
      return undefined;
    }
  }, timeoutMs);
  if (!found) throw new Error(failure(`did not count ${count} seeder(s) within ${timeoutMs} ms (last scrape: ${JSON.stringify(last)})`));
  return found;
}

// ---------------------------------------------------------------------------
// webtorrent@3 peers in child processes: the parent side

/** Client options: only the tracker finds peers, and ICE needs no STUN server. */
export const WEBTORRENT_NODE_OPTIONS = {
  dht: false,
  lsd: false,
  utPex: false,
  utp: false,
  natUpnp: false,
  natPmp: false,
  webSeeds: false,
  tracker: { rtcConfig: { iceServers: [] } },
} as const;

/** What a peer child is told to do (passed as JSON on its command line). */
interface PeerJob {
  role: 'seed' | 'leech';
  /** A .torrent file, or ... */
  torrentFile?: string;
  /** ... a magnet URI. */
  magnet?: string;
  /** Download directory (for a seeder: the directory holding the payload). */
  path: string;
  /** The only tracker. */
  announce: string;
  /** The child exits by itself after this long, whatever happens. */
  lifetimeMs: number;
}

/** One line a peer child prints on stdout: `WT {"event": ...}`. */
interface PeerEvent {
  event: 'loaded' | 'ready' | 'announce' | 'wire' | 'warning' | 'done' | 'stats' | 'error' | 'stopped';
  [key: string]: unknown;
}

const EVENT_PREFIX = 'WT ';
const THIS_FILE = fileURLToPath(import.meta.url);

export interface PeerStats {
  uploaded: number;
  downloaded: number;
  numPeers: number;
}

export interface NodePeer {
  readonly name: string;
  readonly proc: ManagedProcess;
  /** Times the tracker answered an announce of the torrent. */
  trackerAnnounces(): number;
  /** "type address" of every wire (peer connection) so far. */
  wires(): string[];
  /** The latest transfer counters the child reported (every 200 ms while they change, and when it stops). */
  stats(): PeerStats;
  /** Resolves once the tracker has answered at least one announce (bounded). */
  waitForTrackerAnnounce(timeoutMs: number): Promise<void>;
  /** `message` plus the child's command line and output. */
  describe(message: string): Promise<string>;
  /**
   * SIGTERM: the child destroys its client (closing its peer connections
   * itself) and exits. Bounded; never rejects. Resolves with how it ended and
   * its final counters.
   */
  stop(): Promise<PeerExit>;
}

export interface PeerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The counters the child reported last (on a clean stop: at the moment it stopped). */
  stats: PeerStats;
}

export interface NodeSeederOptions {
  /** The payload (already in `torrent.dir`) and its .torrent. */
  torrent: TestTorrent;
  /** The ws:// announce URL: the only tracker the seeder uses. */
  announce: string;
  /** Bound for loading webtorrent, checking the payload and becoming a seed (default 30 s). */
  readyTimeoutMs?: number;
}

/**
 * Seeds `torrent` from its directory in a child process: webtorrent checks
 * every piece of the existing file, then announces (left = 0) to `announce`
 * only. Resolves once it is a complete seed; its first announce may still be
 * in flight (see waitForTrackerAnnounce).
 */
export async function startNodeSeeder(scope: CleanupContext, options: NodeSeederOptions): Promise<NodePeer> {
  const peer = spawnPeer(scope, 'node seeder', {
    role: 'seed',
    torrentFile: options.torrent.torrentPath,
    path: options.torrent.dir,
    announce: options.announce,
    lifetimeMs: 120_000,
  });
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  await peer.waitForEvent('done', readyTimeoutMs, `a complete seed of ${options.torrent.payloadPath}`);
  return peer;
}

export interface NodeLeecherOptions {
  /** A magnet URI (whose `tr` is the tracker), or ... */
  magnet?: string;
  /** ... a .torrent file. */
  torrentFile?: string;
  /** Download directory (a fresh temporary directory). */
  dir: string;
  /** The ws:// announce URL: the only tracker the leecher uses. */
  announce: string;
}

export interface LeechResult {
  /** Path of the downloaded file. */
  path: string;
  /** SHA-256 of the file on disk, computed here (not by webtorrent), hex. */
  sha256: string;
  bytes: number;
  /** Milliseconds from the leecher's client start (in the child) to its 'done'. */
  durationMs: number;
  /** "type address" of every wire the leecher had. */
  wires: string[];
}

export interface NodeLeecher extends NodePeer {
  /** Waits (bounded) for the download, then hashes the file on disk. */
  waitForDone(timeoutMs: number): Promise<LeechResult>;
}

/** Starts a child that downloads into `dir`, announcing only to `announce`. */
export async function startNodeLeecher(scope: CleanupContext, options: NodeLeecherOptions): Promise<NodeLeecher> {
  if (!options.magnet === !options.torrentFile) throw new Error('startNodeLeecher needs exactly one of magnet and torrentFile');
  const peer = spawnPeer(scope, 'node leecher', {
    role: 'leech',
    magnet: options.magnet,
    torrentFile: options.torrentFile,
    path: options.dir,
    announce: options.announce,
    lifetimeMs: 120_000,
  });
  await peer.waitForEvent('loaded', 15_000, 'webtorrent to load');
  return {
    ...peer,
    async waitForDone(timeoutMs) {
      const done = await peer.waitForEvent('done', timeoutMs, 'the download to finish');
      const file = String(done.file);
      const path = join(options.dir, file);
      return { path, sha256: await sha256File(path), bytes: Number(done.bytes), durationMs: Number(done.elapsedMs), wires: peer.wires() };
    },
  };
}

interface SpawnedPeer extends NodePeer {
  waitForEvent(event: PeerEvent['event'], timeoutMs: number, what: string): Promise<PeerEvent>;
}

function spawnPeer(scope: CleanupContext, name: string, job: PeerJob): SpawnedPeer {
  const proc = new ManagedProcess(scope, {
    name,
    command: process.execPath,
    args: [THIS_FILE, 'wt-peer', JSON.stringify(job)],
    display: `node ${THIS_FILE} wt-peer '${JSON.stringify(job)}'`,
  });
  const events: PeerEvent[] = [];
  let announces = 0;
  const wires: string[] = [];
  let stats: PeerStats = { uploaded: 0, downloaded: 0, numPeers: 0 };
  const parse = (line: string): PeerEvent | null => {
    if (!line.startsWith(EVENT_PREFIX)) return null;
    try {
      return JSON.parse(line.slice(EVENT_PREFIX.length)) as PeerEvent;
    } catch {
      return null;
    }
  };
  proc.onLine((line) => {
    if (debugEnabled()) process.stderr.write(`[${name}] ${line}\n`);
    const event = parse(line);
    if (!event) return;
    events.push(event);
    if (event.event === 'announce') announces += 1;
    if (event.event === 'wire') wires.push(`${event.type} ${event.address}`.trim());
    if (typeof event.uploaded === 'number') {
      stats = { uploaded: event.uploaded, downloaded: Number(event.downloaded), numPeers: Number(event.numPeers) };
    }
  });

  const waitForEvent = async (kind: PeerEvent['event'], timeoutMs: number, what: string): Promise<PeerEvent> => {
    const seen = events.find((e) => e.event === kind);
    if (seen) return seen;
    const line = await proc.waitForLine((l) => parse(l)?.event === kind || parse(l)?.event === 'error', timeoutMs, what);
    const event = parse(line)!;
    if (event.event === 'error' && kind !== 'error') {
      throw new Error(await proc.describe(`${name}: ${String(event.message)} (while waiting for ${what})`));
    }
    return event;
  };

  return {
    name,
    proc,
    trackerAnnounces: () => announces,
    wires: () => [...wires],
    stats: () => ({ ...stats }),
    waitForEvent,
    async waitForTrackerAnnounce(timeoutMs) {
      await waitForEvent('announce', timeoutMs, 'an answer from the tracker to its announce');
    },
    describe: (message) => proc.describe(message),
    async stop() {
      const result = await proc.stop({ graceMs: 5000 });
      // 'exit' can come before the last stdout lines are read: wait (briefly) for the final report.
      if (result?.code === 0) await pollUntil(() => (events.some((e) => e.event === 'stopped') ? true : undefined), 1000, 20);
      return { code: result?.code ?? null, signal: result?.signal ?? null, stats: { ...stats } };
    },
  };
}

// The magnet link maker lives with the torrents; the WebTorrent tests import it from here too.
export { magnetUri } from '../torrent.js';

// ---------------------------------------------------------------------------
// webtorrent@3 peers in child processes: the child side
//
//   node webtorrent-node.js wt-peer '<PeerJob as JSON>'
//
// prints `WT {...}` event lines on stdout and exits 0 on SIGTERM.

// The part of webtorrent's API the child uses.
interface WtWire {
  type: string;
  remoteAddress?: string;
}
interface WtTorrent {
  announce: string[];
  files: Array<{ name: string; path: string; length: number }>;
  length: number;
  done: boolean;
  numPeers: number;
  downloaded: number;
  uploaded: number;
  on(event: string, listener: (...args: never[]) => void): void;
}
interface WtClient {
  add(torrentId: string | Uint8Array, options: Record<string, unknown>): WtTorrent;
  destroy(cb?: (error?: Error | null) => void): void;
  on(event: 'error' | 'warning', listener: (error: Error | string) => void): void;
  peerId: string;
}
type WebTorrentConstructor = new (options: Record<string, unknown>) => WtClient;

/** Which WebRTC webtorrent will get: '@roamhq/wrtc' through our shim, or why not. */
export function webrtcImplementation(): string {
  try {
    // Resolve webrtc-polyfill exactly as webtorrent's simple-peer does.
    const webtorrentMain = createRequire(import.meta.url).resolve('webtorrent');
    const simplePeerMain = createRequire(webtorrentMain).resolve('@thaunknown/simple-peer');
    const polyfill = createRequire(simplePeerMain)('webrtc-polyfill') as { implementation?: string; loadError?: Error | null };
    if (polyfill.implementation === undefined) return 'not the shim in tests/support/webrtc/webrtc-polyfill (no WebRTC)';
    if (polyfill.implementation !== '@roamhq/wrtc') return `${polyfill.implementation} (${polyfill.loadError?.message ?? 'no reason given'})`;
    return polyfill.implementation;
  } catch (error) {
    return `unknown: ${(error as Error).message}`;
  }
}

function emit(event: PeerEvent['event'], fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${EVENT_PREFIX}${JSON.stringify({ event, ...fields })}\n`);
}

async function runPeer(job: PeerJob): Promise<void> {
  const lifetime = setTimeout(() => {
    emit('error', { message: `still running after ${job.lifetimeMs} ms: giving up` });
    process.exit(3);
  }, job.lifetimeMs);
  lifetime.unref();

  const implementation = webrtcImplementation();
  if (implementation !== '@roamhq/wrtc') {
    throw new Error(`webtorrent has no WebRTC in Node: webrtc-polyfill gives ${implementation}. ${WT_INSTALL_HINT}`);
  }
  const { default: WebTorrent } = await importPackage<{ default: WebTorrentConstructor }>('webtorrent');
  const { readFile } = await import('node:fs/promises');
  const started = Date.now();
  const client = new WebTorrent({ ...WEBTORRENT_NODE_OPTIONS });
  emit('loaded', { peerId: client.peerId, elapsedMs: Date.now() - started });

  let reportStats = (): void => {};
  let stopping = false;
  const stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    const timer = setTimeout(() => process.exit(code === 0 ? 4 : code), 3000);
    reportStats();
    client.destroy(() => {
      clearTimeout(timer);
      emit('stopped');
      process.exit(code);
    });
  };
  process.once('SIGTERM', () => stop(0));
  process.once('SIGINT', () => stop(0));

  const fail = (error: unknown): void => {
    emit('error', { message: error instanceof Error ? error.message : String(error) });
    stop(1);
  };
  client.on('error', fail);
  client.on('warning', (error) => emit('warning', { message: error instanceof Error ? error.message : String(error) }));

  const torrentId = job.torrentFile ? new Uint8Array(await readFile(job.torrentFile)) : job.magnet!;
  const torrent = client.add(torrentId, { path: job.path, announce: [job.announce] });

  let lastStats = '';
  reportStats = (): void => {
    const stats = { uploaded: torrent.uploaded, downloaded: torrent.downloaded, numPeers: torrent.numPeers };
    const key = JSON.stringify(stats);
    if (key !== lastStats) {
      lastStats = key;
      emit('stats', stats);
    }
  };
  setInterval(() => reportStats(), 200).unref();

  torrent.on('error', fail);
  torrent.on('warning', (error: Error | string) => emit('warning', { message: error instanceof Error ? error.message : String(error) }));
  torrent.on('trackerAnnounce', () => emit('announce'));
  torrent.on('wire', (wire: WtWire, addr?: string) => emit('wire', { type: wire.type, address: addr ?? wire.remoteAddress ?? '' }));
  torrent.on('ready', () => {
    const trackers = [...new Set(torrent.announce)];
    if (trackers.length !== 1 || trackers[0] !== job.announce) {
      fail(new Error(`expected ${job.announce} as the only tracker, got ${JSON.stringify(trackers)}`));
      return;
    }
    emit('ready', { length: torrent.length, files: torrent.files.length, trackers });
  });
  torrent.on('done', () => {
    reportStats();
    const file = torrent.files[0];
    if (torrent.files.length !== 1 || file === undefined) {
      fail(new Error(`expected one file, got ${torrent.files.length}`));
      return;
    }
    emit('done', { file: file.path, bytes: file.length, elapsedMs: Date.now() - started });
  });
}

function isMainModule(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(THIS_FILE);
  } catch {
    return false;
  }
}

if (isMainModule() && process.argv[2] === 'wt-peer') {
  const job = JSON.parse(process.argv[3] ?? '{}') as PeerJob;
  runPeer(job).catch((error: unknown) => {
    emit('error', { message: error instanceof Error ? error.message : String(error) });
    process.exit(2);
  });
}
