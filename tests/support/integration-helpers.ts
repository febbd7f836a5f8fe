/**
 * Helpers for the integration suite (tests/integration): small clients that
 * talk to a real tracker process over loopback sockets, built on the
 * project's codecs, plus a standard bencode decoder and a /metrics parser.
 *
 * Every wait here is bounded: each request has a timeout and rejects with a
 * message that says what was awaited.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  parseUdpReply,
  writeAnnounceRequest,
  writeConnectRequest,
  writeScrapeRequest,
  type UdpAnnounceRequestParams,
  type UdpReply,
} from '../../lib/protocol/udp/client.js';
import { AnnounceEvent } from '../../lib/tracker/events.js';
import { TRACKER_ENTRY, killOnExit, startTracker, trackerEnv, withParentDeathSignal, type StopResult, type TrackerProcess } from './tracker-process.js';

export { AnnounceEvent };

// ---------------------------------------------------------------- ids and hashes

/** A random 20-byte binary (latin1) string, e.g. an info-hash or peer id. */
export function randomId20(prefix = ''): string {
  const bytes = randomBytes(20);
  Buffer.from(prefix, 'latin1').copy(bytes, 0, 0, Math.min(prefix.length, 20));
  return bytes.toString('latin1');
}

/** An ASCII-only 20-char id (handy where a decoder would mangle non-UTF-8 bytes). */
export function asciiId20(prefix = ''): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let s = prefix.slice(0, 20);
  const r = randomBytes(20);
  for (let i = s.length; i < 20; i++) s += alphabet[r[i] % alphabet.length];
  return s;
}

export function toHex(binary: string): string {
  return Buffer.from(binary, 'latin1').toString('hex');
}

export function fromHex(hex: string): string {
  return Buffer.from(hex, 'hex').toString('latin1');
}

// ---------------------------------------------------------------- compact peers

export interface Endpoint {
  ip: string;
  port: number;
}

/** Decodes concatenated compact peers (6-byte IPv4 or 18-byte IPv6 entries). */
export function decodeCompactPeers(bytes: Uint8Array, peerLength: 6 | 18): Endpoint[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length % peerLength !== 0) throw new Error(`compact peers: ${buf.length} bytes is not a multiple of ${peerLength}`);
  const out: Endpoint[] = [];
  for (let o = 0; o < buf.length; o += peerLength) {
    let ip: string;
    if (peerLength === 6) ip = `${buf[o]}.${buf[o + 1]}.${buf[o + 2]}.${buf[o + 3]}`;
    else {
      const groups: string[] = [];
      for (let g = 0; g < 8; g++) groups.push(buf.readUInt16BE(o + g * 2).toString(16));
      ip = compressIpv6(groups);
    }
    out.push({ ip, port: buf.readUInt16BE(o + peerLength - 2) });
  }
  return out;
}

function compressIpv6(groups: string[]): string {
  // RFC 5952: collapse the longest run (length >= 2) of zero groups.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) (bestStart = i), (bestLen = j - i);
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`;
}

export function endpointKey(e: Endpoint): string {
  return `${e.ip}|${e.port}`;
}

// ---------------------------------------------------------------- bencode (the npm package)

export { default as bencode } from 'bencode';
import bencode from 'bencode';

/** Decodes with the standard decoder and insists on a dictionary at the top. */
export function bdecodeDict(body: Uint8Array): Record<string, unknown> {
  const value = bencode.decode(body);
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
    throw new Error(`not a bencoded dictionary: ${Buffer.from(body).toString('latin1').slice(0, 200)}`);
  }
  return value as Record<string, unknown>;
}

export function bytesToText(v: unknown): string {
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
  if (typeof v === 'string') return v;
  throw new Error(`expected a byte string, got ${typeof v}`);
}

export function asBytes(v: unknown): Buffer {
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw new Error(`expected a byte string, got ${JSON.stringify(v)}`);
}

// ---------------------------------------------------------------- misc

export { eventually, sleep, withinTurn, withTimeout } from './waiting.js';
import { eventually, sleep, withTimeout } from './waiting.js';



// ---------------------------------------------------------------- UDP client

export type Loopback = '127.0.0.1' | '::1';

let nextTransactionId = randomBytes(4).readUInt32BE(0) >>> 1;
export function newTransactionId(): number {
  nextTransactionId = (nextTransactionId + 1) >>> 0;
  return nextTransactionId;
}

export interface ConnectionId {
  high: number;
  low: number;
}

export interface AnnounceOptions {
  infoHash: string;
  peerId: string;
  port: number;
  left?: number;
  downloaded?: number;
  uploaded?: number;
  event?: AnnounceEvent;
  numwant?: number;
  key?: number;
  options?: Uint8Array;
}

/**
 * A promise-based BEP 15 client on its own socket (so its source port is its
 * own). Replies are matched by transaction id; what arrives that no request
 * was waiting for is what `expectNoReplySince` complains about.
 */
export class UdpTestClient {
  readonly peerLength: 6 | 18;
  private readonly waiters = new Map<number, (msg: Buffer) => void>();
  private readonly received: Buffer[] = [];
  /** Datagrams a pending request was waiting for. */
  private readonly claimed = new WeakSet<Buffer>();
  private listeners: Array<(msg: Buffer) => void> = [];
  private connection: ConnectionId | undefined;

  private constructor(
    readonly socket: dgram.Socket,
    readonly host: Loopback,
    readonly port: number,
  ) {
    this.peerLength = host === '::1' ? 18 : 6;
    socket.on('message', (msg) => {
      this.received.push(msg);
      for (const l of this.listeners) l(msg);
      if (msg.length >= 8) {
        const tid = msg.readUInt32BE(4);
        const waiter = this.waiters.get(tid);
        if (waiter) {
          this.waiters.delete(tid);
          this.claimed.add(msg);
          waiter(msg);
        }
      }
    });
  }

  static async open(host: Loopback, port: number): Promise<UdpTestClient> {
    // A roomy receive buffer: tests fire hundreds of requests at once and loopback drops on overflow.
    const socket = dgram.createSocket({ type: host === '::1' ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new UdpTestClient(socket, host, port);
  }

  /** The local port this client's datagrams come from (what the tracker records as the source). */
  get localPort(): number {
    return this.socket.address().port;
  }

  /** Every datagram received so far. */
  get datagrams(): readonly Buffer[] {
    return this.received;
  }

  async send(buf: Uint8Array, length = buf.length): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.socket.send(buf, 0, length, this.port, this.host, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Sends `buf` and waits for the datagram carrying `transactionId`. */
  async request(buf: Uint8Array, transactionId: number, timeoutMs = 3000, what = 'a UDP reply'): Promise<Buffer> {
    if (this.waiters.has(transactionId)) throw new Error(`transaction ${transactionId} already pending`);
    const reply = new Promise<Buffer>((resolve) => this.waiters.set(transactionId, resolve));
    try {
      await this.send(buf);
      return await withTimeout(reply, timeoutMs, `${what} (transaction ${transactionId})`);
    } finally {
      this.waiters.delete(transactionId);
    }
  }

  /**
   * Sends `buf` and asserts the tracker never answers it (see expectNoReplySince).
   */
  async sendExpectingSilence(buf: Uint8Array, probe?: () => Promise<unknown>): Promise<void> {
    const since = this.received.length;
    await this.send(buf);
    await this.expectNoReplySince(since, probe);
  }

  /**
   * Sends `probe` (default: a connect, which is always answered) from this
   * socket, waits for its reply, then asserts that nothing else arrived
   * since `since` (an index into `datagrams`) that no request was waiting
   * for. The tracker reads one socket's datagrams in order and answers in
   * that order, so a reply to anything sent before the probe would have come
   * first; the probe's own reply is the positive control (this socket is
   * heard and answered). A probe that travels the same path as what it
   * follows (an announce for the same info-hash through an edge) keeps that
   * order for replies that wait for a swarm.
   */
  async expectNoReplySince(since = this.received.length, probe: () => Promise<unknown> = () => this.probeConnect()): Promise<void> {
    await probe();
    const stray = this.received.slice(since).filter((m) => !this.claimed.has(m));
    if (stray.length > 0) {
      const got = stray.map((m) => m.subarray(0, 64).toString('hex'));
      throw new Error(`expected no reply, got ${got.length} datagram(s) before the probe's reply: ${got.join(', ')}`);
    }
  }

  /** A connect round trip that does not replace the remembered connection id. */
  async probeConnect(timeoutMs = 3000): Promise<void> {
    const tid = newTransactionId();
    const buf = Buffer.alloc(16);
    writeConnectRequest(buf, tid);
    const reply = this.parse(await this.request(buf, tid, timeoutMs, 'the probe connect reply'));
    if (reply.type !== 'connect') throw new Error(`expected a connect reply to the probe, got ${JSON.stringify(reply)}`);
  }

  parse(msg: Buffer): UdpReply {
    return parseUdpReply(msg, this.peerLength);
  }

  /** connect; returns (and remembers) the connection id. */
  async connect(timeoutMs = 3000): Promise<ConnectionId> {
    const tid = newTransactionId();
    const buf = Buffer.alloc(16);
    writeConnectRequest(buf, tid);
    const reply = this.parse(await this.request(buf, tid, timeoutMs, 'a connect reply'));
    if (reply.type !== 'connect') throw new Error(`expected a connect reply, got ${JSON.stringify(reply)}`);
    this.connection = { high: reply.connectionIdHigh, low: reply.connectionIdLow };
    return this.connection;
  }

  async connectionId(): Promise<ConnectionId> {
    return this.connection ?? (await this.connect());
  }

  announcePacket(a: AnnounceOptions, conn: ConnectionId, transactionId: number): Buffer {
    const params: UdpAnnounceRequestParams = {
      connectionIdHigh: conn.high,
      connectionIdLow: conn.low,
      transactionId,
      infoHash: a.infoHash,
      peerId: a.peerId,
      downloaded: a.downloaded ?? 0,
      left: a.left ?? 1000,
      uploaded: a.uploaded ?? 0,
      event: a.event ?? AnnounceEvent.None,
      key: a.key ?? 0,
      numwant: a.numwant ?? -1,
      port: a.port,
      options: a.options,
    };
    const buf = Buffer.alloc(98 + (a.options?.length ?? 0));
    const n = writeAnnounceRequest(buf, params);
    return buf.subarray(0, n);
  }

  /** announce (connecting first when needed); returns the parsed reply, whatever its type. */
  async announce(a: AnnounceOptions, timeoutMs = 3000): Promise<UdpReply> {
    const conn = await this.connectionId();
    const tid = newTransactionId();
    return this.parse(await this.request(this.announcePacket(a, conn, tid), tid, timeoutMs, 'an announce reply'));
  }

  /** announce that must succeed; returns the reply with decoded peers. */
  async announceOk(a: AnnounceOptions, timeoutMs = 3000): Promise<UdpAnnounceResult> {
    const reply = await this.announce(a, timeoutMs);
    if (reply.type !== 'announce') throw new Error(`expected an announce reply, got ${JSON.stringify(reply)}`);
    return {
      interval: reply.interval,
      leechers: reply.leechers,
      seeders: reply.seeders,
      peerBytes: reply.peers.length,
      peers: decodeCompactPeers(reply.peers, this.peerLength),
    };
  }

  scrapePacket(hashes: readonly string[], conn: ConnectionId, transactionId: number): Buffer {
    const buf = Buffer.alloc(16 + 20 * hashes.length);
    writeScrapeRequest(buf, conn.high, conn.low, transactionId, hashes);
    return buf;
  }

  async scrape(hashes: readonly string[], timeoutMs = 3000): Promise<UdpReply> {
    const conn = await this.connectionId();
    const tid = newTransactionId();
    return this.parse(await this.request(this.scrapePacket(hashes, conn, tid), tid, timeoutMs, 'a scrape reply'));
  }

  async scrapeOk(hashes: readonly string[], timeoutMs = 3000): Promise<Array<{ complete: number; incomplete: number; downloaded: number }>> {
    const reply = await this.scrape(hashes, timeoutMs);
    if (reply.type !== 'scrape') throw new Error(`expected a scrape reply, got ${JSON.stringify(reply)}`);
    return reply.stats;
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

export interface UdpAnnounceResult {
  interval: number;
  leechers: number;
  seeders: number;
  peerBytes: number;
  peers: Endpoint[];
}

// ---------------------------------------------------------------- HTTP client over node:net

export interface RawHttpResponse {
  status: number;
  statusText: string;
  /** Lower-case header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * One TCP connection speaking HTTP/1.1 by hand, so tests control the exact
 * bytes on the wire (raw query bytes, several requests in one write) and
 * read responses strictly in order.
 */
export class RawHttpConnection {
  private buffer = Buffer.alloc(0);
  private readonly parsed: RawHttpResponse[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private error: Error | undefined;

  private constructor(
    readonly socket: net.Socket,
    readonly hostHeader: string,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.drain();
      this.wake?.();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', (error) => {
      this.error = error;
      this.wake?.();
    });
  }

  static async open(host: Loopback, port: number, timeoutMs = 3000): Promise<RawHttpConnection> {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      timeoutMs,
      `a TCP connection to ${host} port ${port}`,
    );
    return new RawHttpConnection(socket, host === '::1' ? `[::1]:${port}` : `${host}:${port}`);
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Writes bytes as they are (latin1 for strings: one char, one byte). */
  async write(data: string | Uint8Array): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    await new Promise<void>((resolve, reject) => this.socket.write(buf, (error) => (error ? reject(error) : resolve())));
  }

  /** A GET request's bytes; `target` is written as given (latin1). */
  requestBytes(target: string, headers: Record<string, string> = {}): string {
    let out = `GET ${target} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n`;
    for (const [name, value] of Object.entries(headers)) out += `${name}: ${value}\r\n`;
    return `${out}\r\n`;
  }

  async get(target: string, headers: Record<string, string> = {}, timeoutMs = 3000): Promise<RawHttpResponse> {
    await this.write(this.requestBytes(target, headers));
    return this.readResponse(timeoutMs);
  }

  /** The next complete response, in order. */
  async readResponse(timeoutMs = 3000): Promise<RawHttpResponse> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const next = this.parsed.shift();
      if (next) return next;
      if (this.error) throw this.error;
      if (this.ended) throw new Error(`connection closed before a complete response (${this.buffer.length} bytes buffered: ${this.buffer.subarray(0, 200).toString('latin1')})`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for an HTTP response (${this.buffer.length} bytes buffered)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
    }
  }

  /** Resolves true if the server closes the connection within `ms`. */
  async waitClosed(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (!this.ended && Date.now() < until) await sleep(20);
    return this.ended;
  }

  private drain(): void {
    for (;;) {
      const headerEnd = this.buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const head = this.buffer.subarray(0, headerEnd).toString('latin1').split('\r\n');
      const statusLine = head[0] ?? '';
      const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine);
      if (!m) {
        this.error = new Error(`bad status line: ${JSON.stringify(statusLine)}`);
        return;
      }
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      let rest = this.buffer.subarray(headerEnd + 4);
      let body: Buffer;
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        const chunks: Buffer[] = [];
        let o = 0;
        for (;;) {
          const lineEnd = rest.indexOf('\r\n', o);
          if (lineEnd < 0) return; // incomplete
          const size = parseInt(rest.subarray(o, lineEnd).toString('latin1'), 16);
          if (Number.isNaN(size)) {
            this.error = new Error('bad chunk size');
            return;
          }
          const dataStart = lineEnd + 2;
          if (size === 0) {
            // Trailers are not expected; need the final CRLF.
            if (rest.length < dataStart + 2) return;
            o = dataStart + 2;
            break;
          }
          if (rest.length < dataStart + size + 2) return;
          chunks.push(rest.subarray(dataStart, dataStart + size));
          o = dataStart + size + 2;
        }
        body = Buffer.concat(chunks);
        rest = rest.subarray(o);
      } else {
        const length = Number(headers['content-length'] ?? '0');
        if (rest.length < length) return;
        body = Buffer.from(rest.subarray(0, length));
        rest = rest.subarray(length);
      }
      this.buffer = Buffer.from(rest);
      this.parsed.push({ status: Number(m[1]), statusText: m[2], headers, body });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One GET on a fresh connection (closed afterwards). */
export async function httpGet(
  host: Loopback,
  port: number,
  target: string,
  headers: Record<string, string> = {},
  timeoutMs = 3000,
): Promise<RawHttpResponse> {
  const conn = await RawHttpConnection.open(host, port, timeoutMs);
  try {
    return await conn.get(target, headers, timeoutMs);
  } finally {
    conn.close();
  }
}

// ---------------------------------------------------------------- Prometheus text

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) {
      for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    }
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

/** The value of the sample with exactly these labels (a subset match), or undefined. */
export function metricValue(samples: readonly MetricSample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hit = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hit?.value;
}

/** GET http://127.0.0.1:<port><path> via fetch (the ops port is a plain node:http server). */
export async function fetchOps(port: number, path: string, timeoutMs = 3000): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, text: await res.text() };
}

export async function scrapeMetrics(port: number): Promise<MetricSample[]> {
  const { status, text } = await fetchOps(port, '/metrics');
  if (status !== 200) throw new Error(`/metrics answered ${status}`);
  return parseMetrics(text);
}

// ---------------------------------------------------------------- running the CLI to completion

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs `node dist/services/tracker/main.js ...args` (without TRACKER_* from
 * this environment unless given in `env`) expecting it to exit by
 * itself (bad config, --print-config, a bad access list). Killed (SIGKILL)
 * after `timeoutMs`, which the result reports as timedOut.
 */
export function runTrackerCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const [command, commandArgs] = withParentDeathSignal(process.execPath, [TRACKER_ENTRY, ...args]);
  const child = spawn(command, commandArgs, { env: trackerEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise<CliResult>((resolve) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

// ---------------------------------------------------------------- a running tracker

/** What the integration tests need from a running tracker (a thin view of tracker-process.ts). */
export interface LaunchedTracker {
  readonly udpPort: number;
  readonly httpPort: number;
  readonly metricsPort: number;
  readonly pid: number;
  readonly process: TrackerProcess;
  running(): boolean;
  /** What the process wrote to stdout and stderr so far (log level info). */
  output(): string;
  signal(signal: NodeJS.Signals): void;
  /** Waits (bounded) for the process to exit by itself, without signalling it. */
  waitExit(ms: number): Promise<StopResult>;
  /** SIGTERM and wait (bounded); rejects unless the exit code is 0. Idempotent. */
  stop(): Promise<StopResult>;
}

/**
 * Starts `tracker all-in-one --host=:: <args>` through tests/support/tracker-process.ts
 * (free port shared by UDP and TCP, free metrics port, waits for /readyz),
 * dual-stack so both 127.0.0.1 and ::1 reach it.
 */
export async function launchTracker(args: readonly string[] = [], options: { env?: NodeJS.ProcessEnv } = {}): Promise<LaunchedTracker> {
  const proc = await startTracker(undefined, { host: '::', logLevel: 'info', extraArgs: [...args], env: trackerEnv(options.env) });
  return {
    udpPort: proc.port,
    httpPort: proc.port,
    metricsPort: proc.metricsPort,
    pid: proc.pid,
    process: proc,
    running: () => !proc.exited(),
    output: () => proc.output(),
    signal: (s) => proc.signal(s),
    async waitExit(ms) {
      await eventually(() => (proc.exited() ? true : undefined), ms, `the tracker (pid ${proc.pid}) to exit`, 20);
      // Already exited: stop() only reports how.
      return proc.stop({ expectCleanExit: false });
    },
    stop: () => proc.stop({ timeoutMs: 10_000 }),
  };
}

// ---------------------------------------------------------------- WebTorrent client (the `ws` package)

// (Imports are hoisted; they sit here so this section can be appended on its own.)
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import type { WtScrapeStats } from '../../lib/protocol/webtorrent/server.js';
import {
  encodeAnnounceRequest,
  encodeAnswerRequest,
  encodeScrapeRequest,
  parseWtServerMessage,
  type WtAnnounceReplyDecoded,
  type WtAnnounceRequestParams,
  type WtAnswerDecoded,
  type WtAnswerRequestParams,
  type WtFailureDecoded,
  type WtOfferDecoded,
  type WtScrapeReplyDecoded,
  type WtServerMessage,
} from '../../lib/protocol/webtorrent/client.js';
import type { WtSdp } from '../../lib/protocol/webtorrent/json.js';

export type { WtServerMessage, WtOfferDecoded, WtAnswerDecoded, WtFailureDecoded, WtScrapeStats };

/** One frame received from the tracker, as text (UTF-8 decoded) and as parsed by the client codec. */
export interface WtFrame {
  readonly text: string;
  readonly binary: boolean;
  readonly message: WtServerMessage;
}

export interface WtClose {
  code: number;
  reason: string;
}

/** A fake SDP of about `size` characters. */
export function fakeSdp(type: 'offer' | 'answer', size = 64, tag = ''): WtSdp {
  const head = `v=0\r\no=- ${tag || randomBytes(4).toString('hex')} 2 IN IP4 127.0.0.1\r\n`;
  return { type, sdp: head.length >= size ? head : head + 'a=x'.padEnd(size - head.length, 'x') };
}

/** `n` offers with fresh random (binary) offer ids. */
export function makeOffers(n: number, sdpSize = 64): Array<{ offerId: string; offer: WtSdp }> {
  return Array.from({ length: n }, () => ({ offerId: randomId20(), offer: fakeSdp('offer', sdpSize) }));
}

/**
 * A WebTorrent client on one WebSocket. Every frame the tracker sends is kept
 * in `frames`; `next` hands out (and marks as taken) the first frame not yet
 * taken that matches, waiting (bounded) for it. Helpers for announce, answer
 * and scrape build frames with the project's client-side encoders.
 */
export class WtTestClient {
  readonly frames: WtFrame[] = [];
  private readonly taken = new Set<number>();
  private scanFrom = 0;
  private wakers: Array<() => void> = [];
  private closeInfo: WtClose | undefined;
  private lastError: Error | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      const text = buf.toString('utf8');
      this.frames.push({ text, binary: isBinary, message: parseWtServerMessage(text) });
      this.wake();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closeInfo = { code, reason: reason.toString('utf8') };
      this.wake();
    });
    ws.on('error', (error: Error) => {
      this.lastError = error;
      this.wake();
    });
  }

  /**
   * Opens a socket; `localAddress` picks the source address (any of 127.0.0.0/8
   * works on Linux loopback), `headers` are sent with the upgrade request. A
   * refused upgrade rejects with "Unexpected server response: <status>".
   */
  static async open(
    port: number,
    options: { host?: string; path?: string; timeoutMs?: number; localAddress?: string; headers?: Record<string, string> } = {},
  ): Promise<WtTestClient> {
    const host = options.host ?? '127.0.0.1';
    const url = `ws://${host.includes(':') ? `[${host}]` : host}:${port}${options.path ?? '/announce'}`;
    const ws = new WebSocket(url, {
      handshakeTimeout: options.timeoutMs ?? 3000,
      perMessageDeflate: false,
      localAddress: options.localAddress,
      headers: options.headers,
    });
    const client = new WtTestClient(ws);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
        ws.once('close', (code: number) => reject(new Error(`closed (code ${code}) before opening`)));
      }),
      options.timeoutMs ?? 3000,
      `a WebSocket to ${url}`,
    );
    return client;
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  get closed(): WtClose | undefined {
    return this.closeInfo;
  }

  /** The underlying TCP socket (for pausing reads). */
  get tcpSocket(): net.Socket {
    return (this.ws as unknown as { _socket: net.Socket })._socket;
  }

  /** Sends a frame (text unless `binary`) and resolves once it is written. */
  send(data: string | Buffer, binary = false): Promise<void> {
    return new Promise<void>((resolve, reject) => this.ws.send(data, { binary }, (error) => (error ? reject(error) : resolve())));
  }

  /** Sends without waiting (for bursts). Errors surface as a close. */
  sendNow(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary }, () => {});
  }

  /** Messages of one type received so far (taken or not). */
  all<T extends WtServerMessage['type']>(type: T): Array<Extract<WtServerMessage, { type: T }>> {
    return this.frames.filter((f) => f.message.type === type).map((f) => f.message as Extract<WtServerMessage, { type: T }>);
  }

  /** The first not-yet-taken message matching `match`, waiting at most `timeoutMs`. */
  async next<T extends WtServerMessage>(match: (m: WtServerMessage) => m is T, timeoutMs: number, what: string): Promise<T>;
  async next(match: (m: WtServerMessage) => boolean, timeoutMs: number, what: string): Promise<WtServerMessage>;
  async next(match: (m: WtServerMessage) => boolean, timeoutMs: number, what: string): Promise<WtServerMessage> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      while (this.scanFrom < this.frames.length && this.taken.has(this.scanFrom)) this.scanFrom++;
      for (let i = this.scanFrom; i < this.frames.length; i++) {
        if (this.taken.has(i)) continue;
        if (match(this.frames[i].message)) {
          this.taken.add(i);
          return this.frames[i].message;
        }
      }
      const left = until - Date.now();
      if (this.closeInfo || left <= 0) {
        const state = this.closeInfo ? `socket closed (code ${this.closeInfo.code} ${this.closeInfo.reason})` : `timed out after ${timeoutMs} ms`;
        const recent = this.frames.slice(-5).map((f) => f.text.slice(0, 160));
        throw new Error(`${state} waiting for ${what}${this.lastError ? ` (error: ${this.lastError.message})` : ''}; last frames: ${JSON.stringify(recent)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wakers.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends an announce and waits for its reply: the announce reply or a failure for that info_hash. */
  async announce(p: WtAnnounceRequestParams, timeoutMs = 3000): Promise<WtAnnounceReplyDecoded | WtFailureDecoded> {
    await this.send(encodeAnnounceRequest(p));
    return this.next(
      (m): m is WtAnnounceReplyDecoded | WtFailureDecoded =>
        (m.type === 'announce' || (m.type === 'failure' && m.action !== 'scrape')) && m.infoHash === p.infoHash,
      timeoutMs,
      'an announce reply',
    );
  }

  /** An announce that must succeed. */
  async announceOk(p: WtAnnounceRequestParams, timeoutMs = 3000): Promise<WtAnnounceReplyDecoded> {
    const reply = await this.announce(p, timeoutMs);
    if (reply.type !== 'announce') throw new Error(`announce failed: ${reply.reason}`);
    return reply;
  }

  /** Sends an answer (success is silent: nothing comes back to the answerer). */
  async sendAnswer(p: WtAnswerRequestParams): Promise<void> {
    await this.send(encodeAnswerRequest(p));
  }

  /** Any not-yet-taken failure (optionally for `infoHash`), waiting at most `timeoutMs`. */
  failure(timeoutMs = 3000, infoHash?: string): Promise<WtFailureDecoded> {
    return this.next(
      (m): m is WtFailureDecoded => m.type === 'failure' && (infoHash === undefined || m.infoHash === infoHash),
      timeoutMs,
      `a failure${infoHash ? ' for that info_hash' : ''}`,
    );
  }

  /**
   * Waits for a failure or for the socket to close (for input a server may
   * answer either way): 'failure' if one arrived, else 'closed'.
   */
  async failureOrClose(timeoutMs = 3000): Promise<'failure' | 'closed'> {
    try {
      await this.failure(timeoutMs);
      return 'failure';
    } catch (error) {
      if (this.closeInfo) return 'closed';
      throw error;
    }
  }

  /** Sends a scrape and waits for the scrape reply or a scrape failure. */
  async scrape(infoHashes: string | readonly string[], timeoutMs = 3000): Promise<WtScrapeReplyDecoded | WtFailureDecoded> {
    await this.send(encodeScrapeRequest(infoHashes));
    return this.next(
      (m): m is WtScrapeReplyDecoded | WtFailureDecoded => m.type === 'scrape' || (m.type === 'failure' && m.action === 'scrape'),
      timeoutMs,
      'a scrape reply',
    );
  }

  async scrapeOk(infoHashes: string | readonly string[], timeoutMs = 3000): Promise<Map<string, WtScrapeStats>> {
    const reply = await this.scrape(infoHashes, timeoutMs);
    if (reply.type !== 'scrape') throw new Error(`scrape failed: ${reply.reason}`);
    return reply.files;
  }

  /**
   * A round trip (a scrape of an unknown torrent): frames are ordered on a
   * socket, so anything the tracker sent this socket before it handled the
   * scrape has arrived when this resolves.
   */
  async sync(timeoutMs = 3000): Promise<void> {
    await this.scrapeOk(randomId20('sync'), timeoutMs);
  }

  /** Resolves with the close code once the socket is closed (by either side), within `ms`. */
  async waitClose(ms: number): Promise<WtClose> {
    return eventually(() => this.closeInfo, ms, 'the WebSocket to close', 10);
  }

  close(): void {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    try {
      this.ws.terminate();
    } catch {
      // already gone
    }
  }
}

/** The process's resident set size in KiB (Linux /proc), or NaN elsewhere. */
export function processRssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}
