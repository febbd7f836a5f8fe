/**
 * Side-by-side benchmark: our all-in-one tracker vs opentracker (Debian,
 * whitelist build; UDP and HTTP) and bittorrent-tracker (the Node reference
 * tracker, npm; UDP, HTTP and WebTorrent over WebSocket). Same load, same
 * seed, alternating A B C E A B C E per mode, E being the generator's
 * ceiling against a trivial echo target, plus (cheap, ~3 s) the swarm
 * store's memory benchmark.
 *
 *   npm run build
 *   node dist/bench/compare.js --help
 *
 * Per run it records the replies/s seen by the generator, the CPU seconds
 * (utime + stime from /proc/<pid>/stat, summed over the tracker's process
 * tree) the tracker used inside the measured window, and the tracker's peak
 * RSS (VmHWM from /proc/<pid>/status; reset through /proc/<pid>/clear_refs
 * before each mode where the kernel allows, so each mode has its own peak).
 * It prints Markdown tables (medians over rounds, ratios against each peer)
 * and writes them to bench/results/latest.md, the raw data to latest.json
 * and a bar chart to latest.svg. Everything is bounded: each run by the
 * generator's hard stop, the whole script by a global deadline, and the
 * processes it starts are killed on exit.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { compileC, projectRoot } from './loadtest/cgen.js';
import { DEFAULT_MODEL, LoadModel, describePeerPool, type LoadModelOptions } from './loadtest/model.js';
import { parseArgv } from './loadtest/options.js';
import { LIFTED_CLIENT_LIMITS } from './loadtest/lifted-limits.js';
import { DEFAULT_REQUESTS_PER_CONNECTION, DEFAULT_WS, runLoadtest, type LoadtestConfig } from './loadtest/runner.js';
import { fmtInt, type LoadSummary } from './loadtest/stats.js';

export type Mode = 'udp' | 'http' | 'http-close' | 'ws';
export type TrackerName = 'ours' | 'opentracker' | 'bittorrent-tracker';

const ALL_MODES: Mode[] = ['udp', 'http', 'http-close', 'ws'];
const ALL_TRACKERS: TrackerName[] = ['ours', 'opentracker', 'bittorrent-tracker'];
export const MODE_LABEL: Record<Mode, string> = {
  udp: 'UDP',
  http: 'HTTP keep-alive',
  'http-close': 'HTTP connection per request',
  ws: 'WebTorrent (WebSocket)',
};
const SERVES: Record<TrackerName, readonly Mode[]> = {
  ours: ALL_MODES,
  opentracker: ['udp', 'http', 'http-close'],
  'bittorrent-tracker': ALL_MODES,
};
/** BENCHMARKS.md "The bar": ours / peer replies/s. */
const BARS: Record<Mode, { peer: TrackerName; ratio: number }> = {
  udp: { peer: 'opentracker', ratio: 1.3 },
  http: { peer: 'opentracker', ratio: 4 },
  'http-close': { peer: 'opentracker', ratio: 1 },
  ws: { peer: 'bittorrent-tracker', ratio: 5 },
};

export const USAGE = `usage: node dist/bench/compare.js [options]      (npm run bench:compare -- [options])

Runs ours, opentracker (/usr/bin/opentracker; UDP and HTTP only) and
bittorrent-tracker (npm; UDP, HTTP and WebTorrent) side by side on loopback,
A B C E A B C E per mode, E being the generator against a trivial echo target
(its ceiling, measured in every round). Default run: ~6 minutes. Writes
bench/results/latest.{md,json,svg}.

  --modes LIST          udp,http,http-close,ws (default: all four)
  --trackers LIST       ours,opentracker,bittorrent-tracker (default: all three)
  --rounds N            rounds per mode (default 2)
  --duration S          measured seconds per run (default 8)   --warmup S (default 2)
  --prime S             fill every swarm with UDP announces first, seconds (default 3; 0 = no)
  --seed N --torrents N load model (default 1, 10000)

  UDP / HTTP:  --udp-engine c|node (default c)   --http-engine c|node (default c)
               --sockets N (64)  --window N (16)  --connections N (64)  --workers N (1)
               --requests-per-connection N: HTTP keep-alive requests per connection before the slot
                 reconnects from its next client address (default 100)
               --close-workers N: generator threads for connection per request (default 2: one
                 thread's kernel work per connection caps it near the trackers' rate)
  WebTorrent:  --ws-engine c|node (default c)  --ws-echo c|uws: the ceiling's echo, C or uWebSockets.js (default c)
               --ws-connections N (200)  --ws-workers N (1)  --ws-window N (2)
               --ws-offers N (5)  --ws-torrents-per-connection N (10)  --ws-sdp-bytes MIN-MAX (500-1500)

  --ours-main FILE      (default dist/services/tracker/main.js)
  --ours-access-list allow|off   ours serves the same whitelist as opentracker (default allow)
  --all-ceilings        also measure the Node generator against the echo targets
  --skip-ceiling | --ceiling-only
  --no-memory           skip the store memory benchmark (node --expose-gc dist/bench/memory.js,
                        ~3 s; --memory-peers N (1000000) --memory-torrents N (100000))
  --out-dir DIR         where latest.md / latest.json / latest.svg go (default bench/results)
  --no-write            print only
  --json FILE           also write the raw results there
  --render-svg FILE     only redraw the chart from a latest.json (into --out-dir)
`;

interface CompareArgs {
  duration: number;
  warmup: number;
  rounds: number;
  modes: Mode[];
  trackers: TrackerName[];
  udpEngine: 'c' | 'node';
  httpEngine: 'c' | 'node';
  wsEngine: 'c' | 'node';
  wsEcho: 'c' | 'uws';
  sockets: number;
  window: number;
  connections: number;
  requestsPerConnection: number;
  workers: number;
  closeWorkers: number;
  wsConnections: number;
  wsWorkers: number;
  wsWindow: number;
  wsOffers: number;
  wsTorrentsPerConnection: number;
  wsSdpBytes: [number, number];
  seed: number;
  torrents: number;
  prime: number;
  oursMain: string;
  oursAccessList: 'allow' | 'off';
  skipCeiling: boolean;
  ceilingOnly: boolean;
  allCeilings: boolean;
  memory: boolean;
  memoryPeers: number;
  memoryTorrents: number;
  outDir: string;
  write: boolean;
  json?: string;
  renderSvg?: string;
}

const log = (s = ''): void => {
  process.stdout.write(s + '\n');
};
const note = (s: string): void => {
  process.stderr.write(`# ${s}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function parseCompareArgs(argv: string[]): CompareArgs | 'help' {
  const { opts } = parseArgv(argv, new Set(['skip-ceiling', 'ceiling-only', 'all-ceilings', 'no-memory', 'memory', 'no-write', 'help']));
  if (opts.get('help') === true || argv.includes('-h')) return 'help';
  const n = (k: string, d: number): number => {
    const v = opts.get(k);
    if (v === undefined) return d;
    const x = Number(v);
    if (!Number.isFinite(x) || x < 0) throw new Error(`invalid --${k}`);
    return x;
  };
  const s = (k: string, d: string): string => {
    const v = opts.get(k);
    return typeof v === 'string' ? v : d;
  };
  const list = <T extends string>(k: string, all: readonly T[]): T[] => {
    const items = s(k, all.join(',')).split(',').map((m) => m.trim()).filter((m) => m !== '');
    for (const m of items) if (!all.includes(m as T)) throw new Error(`unknown --${k} item ${m} (want ${all.join(', ')})`);
    return all.filter((m) => items.includes(m));
  };
  const known = new Set([
    'modes', 'trackers', 'rounds', 'duration', 'warmup', 'prime', 'seed', 'torrents', 'udp-engine', 'http-engine', 'sockets', 'window',
    'connections', 'requests-per-connection', 'workers', 'close-workers', 'ws-engine', 'ws-echo', 'ws-connections', 'ws-workers', 'ws-window', 'ws-offers', 'ws-torrents-per-connection', 'ws-sdp-bytes',
    'ours-main', 'ours-access-list', 'all-ceilings', 'skip-ceiling', 'ceiling-only', 'no-memory', 'memory', 'memory-peers',
    'memory-torrents', 'out-dir', 'no-write', 'json', 'help', 'render-svg',
  ]);
  for (const k of opts.keys()) if (!known.has(k)) throw new Error(`unknown option --${k}`);
  const sdp = /^(\d+)(?:-(\d+))?$/.exec(s('ws-sdp-bytes', `${DEFAULT_WS.sdpMinBytes}-${DEFAULT_WS.sdpMaxBytes}`));
  if (!sdp) throw new Error('invalid --ws-sdp-bytes (want MIN-MAX)');
  const root = projectRoot();
  const a: CompareArgs = {
    duration: n('duration', 8),
    warmup: n('warmup', 2),
    rounds: Math.max(1, Math.floor(n('rounds', 2))),
    modes: list('modes', ALL_MODES),
    trackers: list('trackers', ALL_TRACKERS),
    udpEngine: s('udp-engine', 'c') === 'node' ? 'node' : 'c',
    httpEngine: s('http-engine', 'c') === 'node' ? 'node' : 'c',
    wsEngine: s('ws-engine', 'c') === 'node' ? 'node' : 'c',
    wsEcho: s('ws-echo', 'c') === 'uws' ? 'uws' : 'c',
    sockets: n('sockets', 64),
    window: n('window', 16),
    connections: n('connections', 64),
    requestsPerConnection: Math.max(1, Math.floor(n('requests-per-connection', DEFAULT_REQUESTS_PER_CONNECTION))),
    workers: n('workers', 1),
    closeWorkers: Math.max(1, n('close-workers', 2)),
    wsConnections: n('ws-connections', 200),
    wsWorkers: Math.max(1, n('ws-workers', 1)),
    wsWindow: Math.max(1, n('ws-window', 2)),
    wsOffers: n('ws-offers', DEFAULT_WS.offers),
    wsTorrentsPerConnection: Math.max(1, n('ws-torrents-per-connection', DEFAULT_WS.torrentsPerConnection)),
    wsSdpBytes: [Number(sdp[1]), Number(sdp[2] ?? sdp[1])],
    seed: n('seed', 1),
    torrents: n('torrents', 10_000),
    prime: n('prime', 3),
    oursMain: path.resolve(root, s('ours-main', 'dist/services/tracker/main.js')),
    oursAccessList: s('ours-access-list', 'allow') === 'off' ? 'off' : 'allow',
    skipCeiling: opts.get('skip-ceiling') === true,
    ceilingOnly: opts.get('ceiling-only') === true,
    allCeilings: opts.get('all-ceilings') === true,
    memory: opts.get('no-memory') !== true,
    memoryPeers: n('memory-peers', 1_000_000),
    memoryTorrents: n('memory-torrents', 100_000),
    outDir: path.resolve(root, s('out-dir', 'bench/results')),
    write: opts.get('no-write') !== true,
  };
  const json = opts.get('json');
  if (typeof json === 'string') a.json = json;
  const render = opts.get('render-svg');
  if (typeof render === 'string') a.renderSvg = path.resolve(render);
  if (a.duration <= 0 || a.duration > 600) throw new Error('--duration must be 0..600');
  if (a.modes.length === 0) throw new Error('--modes is empty');
  if (!(a.wsSdpBytes[0] >= 10 && a.wsSdpBytes[1] >= a.wsSdpBytes[0] && a.wsSdpBytes[1] <= 60_000)) throw new Error('invalid --ws-sdp-bytes');
  return a;
}

// ---------------------------------------------------------------- processes

const CLK_TCK = ((): number => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const v = Number(r.stdout?.trim());
  return Number.isFinite(v) && v > 0 ? v : 100;
})();

/** utime + stime of one process (all its threads), in seconds; 0 if gone. */
function procCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    try {
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        const kids = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim();
        if (kids) for (const k of kids.split(/\s+/)) stack.push(Number(k));
      }
    } catch {
      // process gone
    }
  }
  return out;
}

/** CPU seconds of a process tree. */
function treeCpu(pid: number): number {
  return descendants(pid).reduce((s, p) => s + procCpu(p), 0);
}

/** Peak RSS (VmHWM) summed over a process tree, in bytes; 0 if unreadable. */
function treePeakRss(pid: number): number {
  let sum = 0;
  for (const p of descendants(pid)) {
    try {
      const m = /^VmHWM:\s+(\d+)\s*kB/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) sum += Number(m[1]) * 1024;
    } catch {
      // gone
    }
  }
  return sum;
}

/** Reset the peak RSS of a process tree to its current RSS (clear_refs 5); false if the kernel refused. */
function resetPeakRss(pid: number): boolean {
  let ok = true;
  for (const p of descendants(pid)) {
    try {
      writeFileSync(`/proc/${p}/clear_refs`, '5');
    } catch {
      ok = false;
    }
  }
  return ok;
}

const started: ChildProcess[] = [];
function killAll(): void {
  for (const c of started) if (c.exitCode === null && c.signalCode === null && c.pid) c.kill('SIGKILL');
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

interface Tracker {
  name: string;
  pid: number;
  port: number;
  child: ChildProcess;
  output: () => string;
}

function startProcess(name: string, cmd: string, args: string[], cwd: string, port: number): Tracker {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  // A missing binary is reported by the pid check below; without a listener
  // the same failure would also surface as an unhandled 'error' and crash the run.
  child.on('error', () => {});
  started.push(child);
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  if (!child.pid) throw new Error(`cannot start ${name}`);
  return { name, pid: child.pid, port, child, output: () => out };
}

async function stopProcess(t: Tracker): Promise<void> {
  if (t.child.exitCode !== null || t.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => t.child.once('exit', () => r()));
  t.child.kill('SIGTERM');
  await Promise.race([exited, sleep(3000)]);
  if (t.child.exitCode === null && t.child.signalCode === null) t.child.kill('SIGKILL');
}

/** A port free for both TCP and UDP on 127.0.0.1. */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const ok = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port');
}

/** Wait until a BEP 15 connect gets a reply (UDP, unless tcpOnly) and a TCP connect succeeds. */
async function waitReady(t: Tracker, timeoutMs: number, tcpOnly = false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const udpOk = async (): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4');
      const req = Buffer.alloc(16);
      req.writeUInt32BE(0x417, 0);
      req.writeUInt32BE(0x27101980, 4);
      req.writeUInt32BE(0, 8);
      req.writeUInt32BE(0x1234, 12);
      const done = (v: boolean): void => {
        clearTimeout(tm);
        s.close();
        resolve(v);
      };
      const tm = setTimeout(() => done(false), 250);
      s.on('message', (m) => done(m.length >= 16 && m.readUInt32BE(4) === 0x1234));
      s.on('error', () => done(false));
      s.send(req, t.port, '127.0.0.1');
    });
  const tcpOk = async (): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const c = net.connect({ host: '127.0.0.1', port: t.port });
      const tm = setTimeout(() => {
        c.destroy();
        resolve(false);
      }, 250);
      c.once('connect', () => {
        clearTimeout(tm);
        c.destroy();
        resolve(true);
      });
      c.once('error', () => {
        clearTimeout(tm);
        resolve(false);
      });
    });
  while (Date.now() < deadline) {
    if (t.child.exitCode !== null || t.child.signalCode !== null) {
      throw new Error(`${t.name} exited (${t.child.exitCode ?? t.child.signalCode}): ${t.output().trim()}`);
    }
    if ((tcpOnly || (await udpOk())) && (await tcpOk())) return;
    await sleep(100);
  }
  throw new Error(`${t.name} not ready on 127.0.0.1:${t.port} after ${timeoutMs} ms: ${t.output().trim()}`);
}

/**
 * bittorrent-tracker as its README runs it: UDP, HTTP and WebSocket on one
 * port, no stats page, no filter (it tracks any info-hash), warnings
 * (bad requests) ignored. Resolved from the project's node_modules (cwd).
 */
const BITTORRENT_TRACKER_SCRIPT = `
import Server from 'bittorrent-tracker/server';
const port = Number(process.argv[1]);
const server = new Server({ udp: true, http: true, ws: true, stats: false });
server.on('error', (e) => { console.error('bittorrent-tracker error: ' + e.message); process.exit(1); });
server.on('warning', () => {});
server.on('listening', () => console.log('listening on ' + port));
server.listen(port, { http: '127.0.0.1', udp: '127.0.0.1', udp6: '::1' });
process.on('SIGTERM', () => process.exit(0));
`;

// ---------------------------------------------------------------- runs


function loadConfig(a: CompareArgs, mode: Mode, port: number, durationSeconds = a.duration, warmupSeconds = a.warmup): LoadtestConfig {
  const model: LoadModelOptions = { ...DEFAULT_MODEL, seed: a.seed, torrents: a.torrents };
  if (mode === 'ws') {
    return {
      protocol: 'ws',
      engine: a.wsEngine,
      host: '127.0.0.1',
      port,
      durationSeconds,
      warmupSeconds,
      workers: a.wsWorkers,
      sockets: a.wsConnections,
      window: a.wsWindow,
      timeoutMs: 5000,
      reconnectAfterMs: 60_000,
      maxFailures: 3,
      connectionPerRequest: false,
      announcePath: '/',
      scrapePath: '/',
      model,
      progress: false,
      ws: {
        ...DEFAULT_WS,
        offers: a.wsOffers,
        torrentsPerConnection: a.wsTorrentsPerConnection,
        sdpMinBytes: a.wsSdpBytes[0],
        sdpMaxBytes: a.wsSdpBytes[1],
      },
    };
  }
  const udp = mode === 'udp';
  return {
    protocol: udp ? 'udp' : 'http',
    engine: udp ? a.udpEngine : a.httpEngine,
    host: '127.0.0.1',
    port,
    durationSeconds,
    warmupSeconds,
    workers: mode === 'http-close' ? a.closeWorkers : a.workers,
    sockets: udp ? a.sockets : a.connections,
    window: udp ? a.window : 1,
    timeoutMs: udp ? 1000 : 5000,
    reconnectAfterMs: 60_000,
    maxFailures: 3,
    connectionPerRequest: mode === 'http-close',
    requestsPerConnection: a.requestsPerConnection,
    announcePath: '/announce',
    scrapePath: '/scrape',
    model,
    progress: false,
  };
}

export interface RunRow {
  mode: Mode;
  round: number;
  tracker: string;
  summary: LoadSummary;
  trackerCpuSeconds: number;
  cpuPerMillion: number;
  /** VmHWM after the run: the peak since this mode's reset (or since start when the reset is refused). */
  peakRssBytes: number;
  errorMessages: Record<string, number>;
}

async function measure(a: CompareArgs, mode: Mode, t: Tracker, round: number): Promise<RunRow> {
  let cpu0 = 0;
  let cpu1 = 0;
  const { summary, errorMessages } = await runLoadtest(loadConfig(a, mode, t.port), {
    onMeasureStart: () => {
      cpu0 = treeCpu(t.pid);
    },
    onMeasureEnd: () => {
      cpu1 = treeCpu(t.pid);
    },
  });
  const cpu = Math.max(0, cpu1 - cpu0);
  const row: RunRow = {
    mode,
    round,
    tracker: t.name,
    summary,
    trackerCpuSeconds: cpu,
    cpuPerMillion: summary.replies > 0 ? (cpu / summary.replies) * 1e6 : NaN,
    peakRssBytes: treePeakRss(t.pid),
    errorMessages,
  };
  const w = summary.ws;
  note(
    `${mode} round ${round} ${t.name}: ${fmtInt(summary.repliesPerSecond)} replies/s` +
      (w ? ` (+ ${fmtInt(w.relayedPerSecond)} offers/answers relayed/s)` : '') +
      `, tracker CPU ${cpu.toFixed(2)} s (${row.cpuPerMillion.toFixed(2)} s/M), peak RSS ${mb(row.peakRssBytes)} MB, ` +
      `errors ${summary.counters.errors}, lost ${summary.counters.lost}` +
      (Object.keys(errorMessages).length ? `, messages ${JSON.stringify(errorMessages)}` : ''),
  );
  return row;
}

/** A result at this share of the echo ceiling or above is flagged as possibly generator-bound. */
const NEAR_CEILING = 0.75;

export const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
const ratio = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '-');
const mb = (bytes: number): string => (bytes > 0 ? (bytes / 2 ** 20).toFixed(0) : '-');
const int = (x: number): string => (Number.isFinite(x) ? fmtInt(x) : '-');

export interface Ceiling {
  mode: Mode;
  round: number;
  engine: 'c' | 'node';
  what: string;
  summary?: LoadSummary;
  /** CPU seconds the echo used per million replies (the target's share of the work). */
  echoCpuPerMillion?: number;
  /** Not the tracker runs' configuration (more generator threads): shown, never used as their ceiling. */
  reference?: boolean;
  error?: string;
}

/** The echo target for `mode`'s ceiling, started and ready (UDP: given 300 ms). */
async function startEcho(a: CompareArgs, mode: Mode): Promise<Tracker> {
  const root = projectRoot();
  const port = await freePort();
  const maxSeconds = String(3 * (a.duration + a.warmup) + 60);
  let echo: Tracker;
  if (mode === 'ws' && a.wsEcho === 'uws') {
    echo = startProcess('ws echo', process.execPath, [path.join(root, 'dist/bench/loadtest/cli.js'), 'echo', 'ws', '--port', String(port), '--max-seconds', maxSeconds], root, port);
  } else {
    const kind = mode === 'ws' ? 'ws' : mode === 'udp' ? 'udp' : 'http';
    const flags = kind === 'ws' ? ['--ws', '1'] : ['--http', kind === 'http' ? '1' : '0'];
    echo = startProcess(`C ${kind} echo`, compileC('echo-server'), ['--port', String(port), ...flags, '--peers', '50', '--max-seconds', maxSeconds], root, port);
  }
  try {
    await (mode === 'udp' ? sleep(300) : waitReady(echo, 10_000, true));
  } catch (e) {
    await stopProcess(echo);
    throw e;
  }
  return echo;
}

/**
 * The generator against a trivial echo, the same load as the trackers get:
 * run in every round right after them, so it shares their conditions (on
 * a box that other work shares too, a ceiling measured minutes apart says
 * little about a tracker's run).
 */
async function measureCeilings(a: CompareArgs, mode: Mode, round: number): Promise<Ceiling[]> {
  const out: Ceiling[] = [];
  const primary = engineOf(a, mode);
  const runs: { engine: 'c' | 'node'; workers?: number }[] = (primary === 'c' && a.allCeilings ? (['c', 'node'] as const) : [primary]).map(
    (engine) => ({ engine }),
  );
  // A new connection per request costs the generator more kernel CPU than the
  // target (loopback runs both ends of the handshake in the connecting
  // thread), so that mode runs --close-workers threads; one thread shows
  // how close a single one comes.
  if (mode === 'http-close' && primary === 'c' && a.closeWorkers > 1) runs.push({ engine: 'c', workers: 1 });
  const target =
    mode === 'ws'
      ? `${a.wsEcho === 'uws' ? 'uWebSockets.js' : 'C'} echo, bounces offers/answers`
      : mode === 'udp'
      ? 'C echo, recvmmsg/sendmmsg'
      : 'C echo, epoll';
  let echo: Tracker;
  try {
    echo = await startEcho(a, mode);
  } catch (e) {
    return [{ mode, round, engine: primary, what: `${MODE_LABEL[mode]} echo`, error: String(e) }];
  }
  for (const { engine, workers } of runs) {
    const reference = workers !== undefined;
    const threads = reference ? ` (${workers} thread${workers === 1 ? '' : 's'}, not the trackers' setup)` : '';
    const c: Ceiling = { mode, round, engine, what: `${MODE_LABEL[mode]}, ${engine} generator${threads} vs ${target}`, ...(reference ? { reference } : {}) };
    try {
      let cpu0 = 0;
      let cpu1 = 0;
      const { summary } = await runLoadtest(
        { ...loadConfig(a, mode, echo.port), engine, ...(reference ? { workers } : {}) },
        { onMeasureStart: () => (cpu0 = treeCpu(echo.pid)), onMeasureEnd: () => (cpu1 = treeCpu(echo.pid)) },
      );
      out.push({ ...c, summary, echoCpuPerMillion: summary.replies > 0 ? ((cpu1 - cpu0) / summary.replies) * 1e6 : NaN });
      note(`${mode} round ${round} ceiling, ${engine} generator${threads}: ${fmtInt(summary.repliesPerSecond)} replies/s`);
    } catch (e) {
      out.push({ ...c, error: String(e) });
    }
  }
  await stopProcess(echo);
  return out;
}

/** The generator engine the tracker runs of `mode` use. */
function engineOf(a: CompareArgs, mode: Mode): 'c' | 'node' {
  return mode === 'ws' ? a.wsEngine : mode === 'udp' ? a.udpEngine : a.httpEngine;
}

/** The median over rounds of the ceiling of the engine the tracker runs of `mode` used. */
function ceilingOf(ceil: Ceiling[], a: CompareArgs, mode: Mode): number | undefined {
  const xs = ceil.filter((c) => c.mode === mode && c.engine === engineOf(a, mode) && !c.reference && c.summary).map((c) => c.summary!.repliesPerSecond);
  return xs.length > 0 ? median(xs) : undefined;
}

function ceilingTable(ceil: Ceiling[]): string[] {
  if (ceil.length === 0) return [];
  const out = [
    '## Generator ceiling (trivial echo targets, same load; median over rounds, each measured right after the trackers)',
    '',
    '| target | rounds | replies/s | relayed/s (ws) | generator CPU s per 1M replies | echo CPU s per 1M replies | p99 ms | lost |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const what of [...new Set(ceil.map((c) => c.what))]) {
    const all = ceil.filter((c) => c.what === what);
    const ok = all.filter((c) => c.summary !== undefined).map((c) => ({ c, s: c.summary! }));
    if (ok.length === 0) {
      out.push(`| ${what} | ${all.length} | failed: ${String(all[0].error).replace(/\n/g, ' ')} | | | | | |`);
      continue;
    }
    const m = (f: (x: (typeof ok)[number]) => number): number => median(ok.map(f));
    const gen = m(({ s }) => (s.generatorCpuSeconds !== undefined && s.replies > 0 ? (s.generatorCpuSeconds / s.replies) * 1e6 : NaN));
    const failed = all.length - ok.length;
    out.push(
      `| ${what} | ${ok.length}${failed > 0 ? ` (+${failed} failed)` : ''} | ${fmtInt(m(({ s }) => s.repliesPerSecond))} | ` +
        `${ok[0].s.ws ? fmtInt(m(({ s }) => s.ws!.relayedPerSecond)) : ''} | ${f2(gen)} | ${f2(m(({ c }) => c.echoCpuPerMillion ?? NaN))} | ` +
        `${round3(m(({ s }) => s.latencyMs.p99))} | ${fmtInt(ok.reduce((n, { s }) => n + s.counters.lost, 0))} |`,
    );
  }
  out.push('');
  return out;
}

// ---------------------------------------------------------------- memory benchmark

export interface MemoryResult {
  rssBytesPerPeer: number;
  rssBytesPerPeerExclYoungGen: number;
  heapBytesPerPeer: number;
  peers: number;
  torrents: number;
  torrentsConfigured: number;
  fillMs: number;
  announcesPerSec: number;
  scanSweepMs: number;
  scanSweepMaxStepMs: number;
  expirySweepMs: number;
  expirySweepMaxStepMs: number;
  expirySweepMaxStepCpuMs: number;
  sweepBudgetMs: number;
  [k: string]: unknown;
}

function runMemory(a: CompareArgs): { result?: MemoryResult; error?: string; command: string } {
  const root = projectRoot();
  const args = ['--expose-gc', path.join(root, 'dist/bench/memory.js'), '--peers', String(a.memoryPeers), '--torrents', String(a.memoryTorrents)];
  const command = `node ${args.map((x) => (x.startsWith(root) ? path.relative(root, x) : x)).join(' ')}`;
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) return { command, error: `exit ${r.status ?? r.signal}: ${(r.stderr || r.error?.message || '').trim().slice(-500)}` };
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return { command, result: JSON.parse(line) as MemoryResult };
  } catch {
    return { command, error: `no JSON line in the output: ${line.slice(0, 200)}` };
  }
}

// ---------------------------------------------------------------- report

export interface ModeSummary {
  mode: Mode;
  trackers: {
    name: string;
    rounds: number;
    repliesPerSecond: number;
    cpuPerMillion: number;
    peakRssBytes: number;
    p50Ms: number;
    p99Ms: number;
    errors: number;
    lost: number;
    /** ws only (medians) */
    offersRelayedPerSecond?: number;
    answersRelayedPerSecond?: number;
    relayedPerSecond?: number;
    offerRelayRatio?: number;
    signallingP50Ms?: number;
    signallingP99Ms?: number;
  }[];
  ceiling?: number;
}

export function summarizeRows(rows: RunRow[], modes: Mode[], names: string[], ceil: (m: Mode) => number | undefined): ModeSummary[] {
  const out: ModeSummary[] = [];
  for (const mode of modes) {
    const trackers: ModeSummary['trackers'] = [];
    for (const name of names) {
      const rs = rows.filter((r) => r.mode === mode && r.tracker === name);
      if (rs.length === 0) continue;
      const med = (f: (r: RunRow) => number): number => median(rs.map(f));
      const t: ModeSummary['trackers'][number] = {
        name,
        rounds: rs.length,
        repliesPerSecond: med((r) => r.summary.repliesPerSecond),
        cpuPerMillion: med((r) => r.cpuPerMillion),
        peakRssBytes: Math.max(...rs.map((r) => r.peakRssBytes)),
        p50Ms: round3(med((r) => r.summary.latencyMs.p50)),
        p99Ms: round3(med((r) => r.summary.latencyMs.p99)),
        errors: rs.reduce((s, r) => s + r.summary.counters.errors, 0),
        lost: rs.reduce((s, r) => s + r.summary.counters.lost, 0),
      };
      if (mode === 'ws') {
        t.offersRelayedPerSecond = med((r) => r.summary.ws?.offersReceivedPerSecond ?? NaN);
        t.answersRelayedPerSecond = med((r) => r.summary.ws?.answersReceivedPerSecond ?? NaN);
        t.relayedPerSecond = med((r) => r.summary.ws?.relayedPerSecond ?? NaN);
        t.offerRelayRatio = med((r) => r.summary.ws?.offerRelayRatio ?? NaN);
        t.signallingP50Ms = round3(med((r) => r.summary.ws?.signallingMs.p50 ?? NaN));
        t.signallingP99Ms = round3(med((r) => r.summary.ws?.signallingMs.p99 ?? NaN));
      }
      trackers.push(t);
    }
    const c = ceil(mode);
    out.push(c === undefined ? { mode, trackers } : { mode, trackers, ceiling: c });
  }
  return out;
}

function reportTables(sums: ModeSummary[], names: string[]): string[] {
  const out: string[] = [];
  const others = names.filter((n) => n !== 'ours');
  const get = (s: ModeSummary, name: string) => s.trackers.find((t) => t.name === name);
  out.push('## Replies per second (median over rounds)', '');
  out.push(
    `| mode | ${names.join(' | ')} | ${others.map((o) => `ours ÷ ${o}`).join(' | ')} | the bar | generator ceiling (echo) |`,
    `|---|${names.map(() => '---:').join('|')}|${others.map(() => '---:').join('|')}|---|---:|`,
  );
  let nearCeiling = false;
  const rps = (s: ModeSummary, n: string): string => {
    const v = get(s, n)?.repliesPerSecond ?? NaN;
    if (s.ceiling !== undefined && v >= NEAR_CEILING * s.ceiling) {
      nearCeiling = true;
      return `${int(v)} ‡`;
    }
    return int(v);
  };
  for (const s of sums) {
    const ours = get(s, 'ours')?.repliesPerSecond ?? NaN;
    const bar = BARS[s.mode];
    const peer = get(s, bar.peer)?.repliesPerSecond ?? NaN;
    const r = ours / peer;
    const barText = `>= ${bar.ratio}x ${bar.peer}: ${Number.isFinite(r) ? (r >= bar.ratio ? `**met** (${ratio(r)})` : `not met (${ratio(r)})`) : '-'}`;
    out.push(
      `| ${MODE_LABEL[s.mode]} | ${names.map((n) => rps(s, n)).join(' | ')} | ` +
        `${others.map((o) => ratio(ours / (get(s, o)?.repliesPerSecond ?? NaN))).join(' | ')} | ${barText} | ${s.ceiling !== undefined ? fmtInt(s.ceiling) : '-'} |`,
    );
  }
  out.push('');
  if (nearCeiling) {
    out.push(
      `‡ at ${Math.round(NEAR_CEILING * 100)}% or more of the generator's ceiling measured in this run (the same load against a trivial echo target): ` +
        'there the generator and the box, not only the tracker, set the number (and an echo slower than a tracker makes a low ceiling). ' +
        'The CPU per reply below does not depend on that.',
      '',
    );
  }
  out.push('## Tracker CPU seconds per million replies (median; lower is better)', '');
  out.push(
    `| mode | ${names.join(' | ')} | ${others.map((o) => `ours ÷ ${o}`).join(' | ')} |`,
    `|---|${names.map(() => '---:').join('|')}|${others.map(() => '---:').join('|')}|`,
  );
  for (const s of sums) {
    const ours = get(s, 'ours')?.cpuPerMillion ?? NaN;
    out.push(
      `| ${MODE_LABEL[s.mode]} | ${names.map((n) => f2(get(s, n)?.cpuPerMillion ?? NaN)).join(' | ')} | ` +
        `${others.map((o) => ratio(ours / (get(s, o)?.cpuPerMillion ?? NaN))).join(' | ')} |`,
    );
  }
  out.push('');
  out.push('## Peak RSS per tracker process, MB (VmHWM during the mode)', '');
  out.push(`| mode | ${names.join(' | ')} |`, `|---|${names.map(() => '---:').join('|')}|`);
  for (const s of sums) out.push(`| ${MODE_LABEL[s.mode]} | ${names.map((n) => mb(get(s, n)?.peakRssBytes ?? 0)).join(' | ')} |`);
  out.push('');
  out.push('## Latency of replies, ms (median over rounds of p50 / p99; closed loop at full load)', '');
  out.push(`| mode | ${names.join(' | ')} |`, `|---|${names.map(() => '---:').join('|')}|`);
  for (const s of sums) {
    out.push(
      `| ${MODE_LABEL[s.mode]} | ${names
        .map((n) => {
          const t = get(s, n);
          return t ? `${t.p50Ms} / ${t.p99Ms}` : '-';
        })
        .join(' | ')} |`,
    );
  }
  out.push('');
  const ws = sums.find((s) => s.mode === 'ws');
  if (ws && ws.trackers.length > 0) {
    out.push('## WebTorrent signalling relay (median over rounds)', '');
    out.push(
      '| tracker | announce replies/s | offers relayed/s | answers relayed/s | relayed/s total | offers relayed / sent | signalling p50 / p99 ms | CPU s per 1M replies |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const t of ws.trackers) {
      out.push(
        `| ${t.name} | ${int(t.repliesPerSecond)} | ${int(t.offersRelayedPerSecond ?? NaN)} | ${int(t.answersRelayedPerSecond ?? NaN)} | ${int(t.relayedPerSecond ?? NaN)} | ` +
          `${Number.isFinite(t.offerRelayRatio ?? NaN) ? `${((t.offerRelayRatio ?? 0) * 100).toFixed(0)}%` : '-'} | ${t.signallingP50Ms ?? '-'} / ${t.signallingP99Ms ?? '-'} | ${f2(t.cpuPerMillion)} |`,
      );
    }
    const o = get(ws, 'ours');
    const b = get(ws, 'bittorrent-tracker');
    if (o && b) {
      out.push(
        '',
        `ours ÷ bittorrent-tracker: announce replies ${ratio(o.repliesPerSecond / b.repliesPerSecond)}, relayed messages ${ratio((o.relayedPerSecond ?? NaN) / (b.relayedPerSecond ?? NaN))}, ` +
          `CPU per reply ${ratio(o.cpuPerMillion / b.cpuPerMillion)}.`,
      );
    }
    out.push('');
  }
  return out;
}

function runsTable(rows: RunRow[]): string[] {
  const out = [
    '## All runs',
    '',
    '| mode | round | tracker | replies/s | relayed/s (ws) | tracker CPU s | CPU s per 1M replies | generator CPU s per 1M | peak RSS MB | peers/announce | p50 ms | p99 ms | errors | lost |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const s = r.summary;
    const g = s.generatorCpuSeconds !== undefined && s.replies > 0 ? (s.generatorCpuSeconds / s.replies) * 1e6 : NaN;
    out.push(
      `| ${r.mode} | ${r.round} | ${r.tracker} | ${fmtInt(s.repliesPerSecond)} | ${s.ws ? fmtInt(s.ws.relayedPerSecond) : ''} | ${f2(r.trackerCpuSeconds)} | ${f2(r.cpuPerMillion)} | ${f2(g)} | ` +
        `${mb(r.peakRssBytes)} | ${s.ws ? '' : s.avgPeersPerAnnounce} | ${s.latencyMs.p50} | ${s.latencyMs.p99} | ${fmtInt(s.counters.errors)} | ${fmtInt(s.counters.lost)} |`,
    );
  }
  out.push('');
  return out;
}

function memoryTable(m: { result?: MemoryResult; error?: string; command: string }): string[] {
  const out = ['## Memory of the swarm store (bench/memory.ts)', ''];
  if (!m.result) {
    out.push(`\`${m.command}\` failed: ${m.error ?? ''}`, '');
    return out;
  }
  const r = m.result;
  out.push(
    `\`${m.command}\`: ${fmtInt(r.peers)} peers over ${fmtInt(r.torrents)} torrents (Zipf over ${fmtInt(r.torrentsConfigured)}), one process, no sockets.`,
    '',
    '| figure | value | the bar |',
    '|---|---:|---|',
    `| RSS growth per peer | ${r.rssBytesPerPeer} B | <= 64 B: ${r.rssBytesPerPeer <= 64 ? '**met**' : 'not met'} |`,
    `| RSS growth per peer, without V8's young generation | ${r.rssBytesPerPeerExclYoungGen} B | |`,
    `| JS heap growth per peer | ${r.heapBytesPerPeer} B | |`,
    `| fill rate (store only) | ${fmtInt(r.announcesPerSec)} announces/s | |`,
    `| full sweep, nothing expired | ${r.scanSweepMs} ms (largest step ${r.scanSweepMaxStepMs} ms) | |`,
    `| full sweep, everything expired | ${r.expirySweepMs} ms (largest step ${r.expirySweepMaxStepMs} ms wall, ${r.expirySweepMaxStepCpuMs} ms CPU; budget ${r.sweepBudgetMs} ms) | |`,
    '',
  );
  return out;
}

// ---------------------------------------------------------------- chart

const COLORS: Record<string, string> = { ours: '#2563eb', opentracker: '#f59e0b', 'bittorrent-tracker': '#10b981' };
const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Axis for values up to `v`: a round step (1, 2, 2.5, 5 x 10^k) and at most 5 steps. */
export function niceAxis(v: number): { step: number; max: number } {
  if (!(v > 0)) return { step: 0.25, max: 1 };
  const raw = v / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  let step = 10 * p;
  for (const m of [1, 2, 2.5, 5]) {
    if (m * p >= raw) {
      step = m * p;
      break;
    }
  }
  return { step, max: step * Math.max(1, Math.ceil(v / step - 1e-9)) };
}

function compact(n: number): string {
  if (!Number.isFinite(n)) return '-';
  const trim = (x: number, d: number): string => x.toFixed(d).replace(/\.0+$|(\.\d*[1-9])0+$/, '$1');
  if (n >= 1e6) return `${trim(n / 1e6, 1)}M`;
  if (n >= 1e3) return `${trim(n / 1e3, n >= 1e5 ? 0 : 1)}k`;
  if (n >= 10) return String(Math.round(n));
  return trim(n, 2);
}

interface PanelRow {
  title: string;
  value: (t: ModeSummary['trackers'][number]) => number;
  ceiling: (s: ModeSummary) => number | undefined;
  footer: (s: ModeSummary) => { text: string; good: boolean } | undefined;
}

/**
 * Small multiples, one panel per mode with its own linear axis (the modes
 * differ by 20x and more), a bar per tracker with its value: row 1 replies/s
 * with the generator's echo ceiling as a dashed line and the bar's ratio
 * under each panel; row 2 the tracker's CPU seconds per million replies
 * (lower is better). Plain SVG 1.1, system fonts, no scripts.
 */
export function renderSvg(sums: ModeSummary[], names: string[], subtitle: string): string {
  const panelW = 250;
  const panelH = 250;
  const gap = 24;
  const left = 16;
  const plotTop = 40;
  const plotH = 160;
  const axisW = 44;
  const rows: PanelRow[] = [
    {
      title: 'Replies per second (higher is better)',
      value: (t) => t.repliesPerSecond,
      ceiling: (s) => s.ceiling,
      footer: (s) => {
        const bar = BARS[s.mode];
        const ours = s.trackers.find((t) => t.name === 'ours')?.repliesPerSecond ?? NaN;
        const peer = s.trackers.find((t) => t.name === bar.peer)?.repliesPerSecond ?? NaN;
        const r = ours / peer;
        return Number.isFinite(r) ? { text: `ours ÷ ${bar.peer} = ${r.toFixed(2)}x (bar ${bar.ratio}x)`, good: r >= bar.ratio } : undefined;
      },
    },
    {
      title: 'Tracker CPU seconds per million replies (lower is better)',
      value: (t) => t.cpuPerMillion,
      ceiling: () => undefined,
      footer: (s) => {
        const ours = s.trackers.find((t) => t.name === 'ours')?.cpuPerMillion ?? NaN;
        const peer = s.trackers.find((t) => t.name === BARS[s.mode].peer)?.cpuPerMillion ?? NaN;
        const r = ours / peer;
        return Number.isFinite(r) ? { text: `ours ÷ ${BARS[s.mode].peer} = ${r.toFixed(2)}x`, good: r <= 1 } : undefined;
      },
    },
  ];
  const width = left * 2 + sums.length * panelW + (sums.length - 1) * gap;
  const rowH = panelH + 40;
  const top = 92;
  const height = top + rows.length * rowH + 24;
  const p: string[] = [];
  p.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="30" font-size="20" font-weight="bold" fill="#111827">Trackers side by side: same load, same machine, alternating runs</text>`,
    `<text x="${left}" y="52" font-size="12" fill="#4b5563">${xmlEscape(subtitle)}</text>`,
  );
  let lx = left;
  for (const n of names) {
    p.push(`<rect x="${lx}" y="66" width="12" height="12" fill="${COLORS[n] ?? '#6b7280'}"/>`);
    p.push(`<text x="${lx + 17}" y="76.5" font-size="12" fill="#111827">${xmlEscape(n)}</text>`);
    lx += 30 + n.length * 7.2;
  }
  p.push(`<line x1="${lx}" y1="72" x2="${lx + 22}" y2="72" stroke="#6b7280" stroke-width="1.5" stroke-dasharray="5,3"/>`);
  p.push(`<text x="${lx + 27}" y="76.5" font-size="12" fill="#111827">generator ceiling (same load against a trivial echo target)</text>`);

  rows.forEach((row, ri) => {
    const ry = top + ri * rowH;
    p.push(`<text x="${left}" y="${ry + 18}" font-size="14" font-weight="bold" fill="#111827">${xmlEscape(row.title)}</text>`);
    sums.forEach((s, i) => {
      const x0 = left + i * (panelW + gap);
      const y0 = ry + 28;
      const values = s.trackers.map(row.value).filter((v) => Number.isFinite(v));
      const { step, max } = niceAxis(Math.max(...values, row.ceiling(s) ?? 0, 0));
      const plotX = x0 + axisW;
      const plotW = panelW - axisW - 10;
      const base = y0 + plotTop + plotH;
      const yOf = (v: number): number => base - (v / max) * plotH;
      p.push(`<rect x="${x0}" y="${y0}" width="${panelW}" height="${panelH}" fill="#f9fafb" stroke="#e5e7eb"/>`);
      p.push(`<text x="${x0 + panelW / 2}" y="${y0 + 22}" font-size="13" font-weight="bold" text-anchor="middle" fill="#111827">${xmlEscape(MODE_LABEL[s.mode])}</text>`);
      for (let v = 0; v <= max + step / 2; v += step) {
        const y = yOf(v);
        p.push(`<line x1="${plotX}" y1="${y.toFixed(1)}" x2="${plotX + plotW}" y2="${y.toFixed(1)}" stroke="${v === 0 ? '#9ca3af' : '#e5e7eb'}"/>`);
        p.push(`<text x="${plotX - 5}" y="${(y + 4).toFixed(1)}" font-size="10" text-anchor="end" fill="#6b7280">${compact(v)}</text>`);
      }
      const slots = names.filter((n) => SERVES[n as TrackerName]?.includes(s.mode) ?? true);
      const slotW = plotW / Math.max(1, slots.length);
      const barW = Math.min(46, slotW * 0.62);
      slots.forEach((n, j) => {
        const t = s.trackers.find((q) => q.name === n);
        const cx = plotX + slotW * (j + 0.5);
        const v = t ? row.value(t) : NaN;
        if (!Number.isFinite(v)) {
          p.push(`<text x="${cx}" y="${base - 6}" font-size="10" text-anchor="middle" fill="#9ca3af">n/a</text>`);
          return;
        }
        const y = yOf(v);
        p.push(`<rect x="${(cx - barW / 2).toFixed(1)}" y="${y.toFixed(1)}" width="${barW.toFixed(1)}" height="${(base - y).toFixed(1)}" fill="${COLORS[n] ?? '#6b7280'}"/>`);
        p.push(`<text x="${cx}" y="${(y - 5).toFixed(1)}" font-size="11" font-weight="bold" text-anchor="middle" fill="#111827">${compact(v)}</text>`);
      });
      const c = row.ceiling(s);
      if (c !== undefined) {
        const y = yOf(c);
        p.push(`<line x1="${plotX}" y1="${y.toFixed(1)}" x2="${plotX + plotW}" y2="${y.toFixed(1)}" stroke="#6b7280" stroke-width="1.5" stroke-dasharray="5,3"/>`);
        p.push(`<text x="${plotX + plotW}" y="${(y - 4).toFixed(1)}" font-size="10" text-anchor="end" fill="#4b5563">echo ${compact(c)}</text>`);
      }
      const f = row.footer(s);
      if (f) {
        p.push(`<text x="${x0 + panelW / 2}" y="${y0 + panelH - 14}" font-size="11.5" text-anchor="middle" fill="${f.good ? '#047857' : '#b91c1c'}">${xmlEscape(f.text)}</text>`);
      }
    });
  });
  p.push(
    `<text x="${left}" y="${height - 14}" font-size="11" fill="#6b7280">Each panel has its own scale. Medians over alternating rounds; the ratios are the result, absolute numbers depend on the machine and its other load. bench/compare.ts</text>`,
  );
  p.push('</svg>');
  return p.join('\n') + '\n';
}

// ---------------------------------------------------------------- main

class ArgError extends Error {}

export async function runCompare(argv: string[]): Promise<number> {
  let parsed: CompareArgs | 'help';
  try {
    parsed = parseCompareArgs(argv);
  } catch (e) {
    throw new ArgError(e instanceof Error ? e.message : String(e));
  }
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const a = parsed;
  if (a.renderSvg !== undefined) {
    const data = JSON.parse(readFileSync(a.renderSvg, 'utf8')) as { summary: ModeSummary[]; subtitle?: string; names?: string[] };
    const names = data.names ?? ALL_TRACKERS.filter((n) => data.summary.some((s) => s.trackers.some((t) => t.name === n)));
    mkdirSync(a.outDir, { recursive: true });
    const out = path.join(a.outDir, 'latest.svg');
    writeFileSync(out, renderSvg(data.summary, names, data.subtitle ?? ''));
    note(`wrote ${out}`);
    return 0;
  }
  const perRun = a.warmup + a.duration + 8;
  const runs = a.modes.reduce((s, m) => s + a.trackers.filter((t) => SERVES[t].includes(m)).length * a.rounds, 0);
  const ceilingRuns = a.skipCeiling ? 0 : a.rounds * (a.modes.length * (a.allCeilings ? 2 : 1) + (a.modes.includes('http-close') ? 1 : 0));
  const budget = ((runs + ceilingRuns) * perRun + a.trackers.length * a.prime + 240) * 1000;
  const guard = setTimeout(() => {
    process.stderr.write(`compare: global deadline (${Math.round(budget / 1000)} s) reached, stopping\n`);
    killAll();
    process.exit(1);
  }, budget);
  guard.unref();

  const t0 = Date.now();
  const loadAtStart = os.loadavg();
  const root = projectRoot();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'compare-'));
  chmodSync(dir, 0o755);
  const model = new LoadModel({ ...DEFAULT_MODEL, seed: a.seed, torrents: a.torrents });
  const whitelist = path.join(dir, 'access.whitelist');
  writeFileSync(whitelist, model.whitelist(), { mode: 0o644 });

  const ceil: Ceiling[] = [];
  if (a.ceilingOnly) {
    for (let r = 1; r <= a.rounds; r++) for (const mode of a.modes) ceil.push(...(await measureCeilings(a, mode, r)));
    for (const l of ceilingTable(ceil)) log(l);
    if (a.json) writeFileSync(a.json, JSON.stringify({ args: a, ceilings: ceil }, null, 2) + '\n');
    rmSync(dir, { recursive: true, force: true });
    clearTimeout(guard);
    return ceil.every((c) => c.summary !== undefined) ? 0 : 1;
  }

  const trackers: Tracker[] = [];
  const problems: string[] = [];
  const start = async (name: TrackerName, f: () => Promise<Tracker>): Promise<void> => {
    if (!a.trackers.includes(name)) return;
    try {
      trackers.push(await f());
    } catch (e) {
      problems.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  await start('ours', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const args = [a.oursMain, 'all-in-one', '--host=127.0.0.1', `--port=${port}`, '--metrics.host=127.0.0.1', `--metrics.port=${metricsPort}`, '--log.level=warn'];
    if (a.oursAccessList === 'allow') args.push('--accessList.mode=allow', `--accessList.file=${whitelist}`);
    args.push(...LIFTED_CLIENT_LIMITS); // only what a closed-loop generator cannot help breaking (see the file)
    args.push('--udp.batchedIo=required'); // ours is measured on its production UDP path, never the fallback
    const t = startProcess('ours', process.execPath, args, root, port);
    await waitReady(t, 15_000);
    return t;
  });
  await start('opentracker', async () => {
    // Whitelist build; it chroots into its rootdir (the list path is relative to it).
    const port = await freePort();
    writeFileSync(path.join(dir, 'opentracker.conf'), `listen.tcp_udp 127.0.0.1:${port}\naccess.whitelist ./access.whitelist\ntracker.rootdir ${dir}\n`);
    const t = startProcess('opentracker', '/usr/bin/opentracker', ['-f', path.join(dir, 'opentracker.conf')], dir, port);
    await waitReady(t, 10_000);
    return t;
  });
  await start('bittorrent-tracker', async () => {
    const port = await freePort();
    const t = startProcess('bittorrent-tracker', process.execPath, ['--input-type=module', '-e', BITTORRENT_TRACKER_SCRIPT, String(port)], root, port);
    await waitReady(t, 15_000);
    return t;
  });
  for (const p of problems) note(`NOT RUNNING ${p}`);
  const names = a.trackers.filter((n) => trackers.some((t) => t.name === n));

  // WebTorrent first, on empty trackers: bittorrent-tracker keeps UDP/HTTP and
  // WebSocket peers in the same swarms (up to 1000 per torrent, for 20 min)
  // and walks past the others to find WebSocket peers, which would charge it
  // for the other modes' leftovers. Closing the sockets removes every ws peer
  // from both trackers, so the UDP/HTTP modes start clean too. Then every
  // swarm is primed with the same UDP load (not measured).
  const order = [...a.modes.filter((m) => m === 'ws'), ...a.modes.filter((m) => m !== 'ws')];
  let primed = false;
  const rows: RunRow[] = [];
  const hwmReset = new Map<string, boolean>();
  for (const mode of order) {
    if (mode !== 'ws' && !primed) {
      primed = true;
      for (const t of a.prime > 0 ? trackers : []) {
        await runLoadtest(loadConfig(a, 'udp', t.port, a.prime, 0)).catch((e: unknown) => note(`prime ${t.name}: ${String(e)}`));
      }
    }
    const serving = trackers.filter((t) => SERVES[t.name as TrackerName].includes(mode));
    for (const t of serving) hwmReset.set(t.name, resetPeakRss(t.pid) && (hwmReset.get(t.name) ?? true));
    for (let r = 1; r <= a.rounds; r++) {
      for (const t of serving) {
        if (t.child.exitCode !== null || t.child.signalCode !== null) {
          problems.push(`${t.name} died before ${mode} round ${r}: ${t.output().trim()}`);
          continue;
        }
        try {
          rows.push(await measure(a, mode, t, r));
        } catch (e) {
          problems.push(`${t.name} ${mode} round ${r}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      if (!a.skipCeiling) ceil.push(...(await measureCeilings(a, mode, r)));
    }
  }
  // Peaks are reset per mode, so the whole run's peak is the largest per-run reading (and the one now).
  const overallPeak = new Map(
    trackers.map((t) => [t.name, Math.max(treePeakRss(t.pid), ...rows.filter((r) => r.tracker === t.name).map((r) => r.peakRssBytes))]),
  );
  for (const t of trackers) await stopProcess(t);

  const memory = a.memory ? runMemory(a) : undefined;
  if (memory?.error) problems.push(`memory benchmark: ${memory.error}`);

  // ---------------------------------------------------------------- report
  const sums = summarizeRows(rows, a.modes, names, (m) => ceilingOf(ceil, a, m));
  const when = new Date().toISOString();
  const md: string[] = [];
  md.push(`# Tracker comparison: ${names.join(' vs ')}`, '');
  md.push(
    `${when}, ${Math.round((Date.now() - t0) / 1000)} s. ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}; ` +
      `1-min load average ${loadAtStart[0].toFixed(2)} at start, ${os.loadavg()[0].toFixed(2)} at end (the generator and the tracker share the box: ` +
      `anything above ~2 means other work shared it too; that is why only same-run ratios mean anything).`,
    '',
    `Load: seed ${a.seed}, ${fmtInt(a.torrents)} torrents, Zipf(1.0) popularity, announce:scrape 100:1 (<= 10 hashes), 50% seeders, ` +
      `peers: ${describePeerPool(model.options)}. ` +
      `UDP: ${a.udpEngine} generator, ${a.sockets} sockets x ${a.window} in flight, each request from the socket's next address with that address's connection id, numwant 50. ` +
      `HTTP: ${a.httpEngine} generator, ${a.connections} connections x 1, numwant 50, each connection one client address announcing its own peers; ` +
      `keep-alive: ${a.requestsPerConnection} requests per connection, then a new connection from the slot's next address; ` +
      `connection per request: each from the next address, ${a.closeWorkers} generator threads. ` +
      `WebTorrent: ${a.wsEngine} generator, ${a.wsConnections} WebSockets (${a.wsWorkers} generator thread(s)) x ${a.wsWindow} announce(s) in flight, each one client (one peer_id) with ` +
      `${a.wsTorrentsPerConnection} torrents, ${a.wsOffers} offers of ${a.wsSdpBytes[0]}-${a.wsSdpBytes[1]} bytes per announce, every offer received answered. ` +
      `Warm-up ${a.warmup} s, measured ${a.duration} s, ${a.rounds} round(s) per mode, trackers alternating; ` +
      `WebTorrent runs first on fresh trackers, then ${a.prime} s of UDP announces fill every tracker's swarms before the UDP and HTTP modes. ` +
      `ours: all-in-one, access list ${a.oursAccessList === 'allow' ? 'allow (the same list as opentracker)' : 'off'}, production defaults except ${LIFTED_CLIENT_LIMITS.join(' ')} ` +
      `(closed-loop WebSocket clients); opentracker: Debian build with a whitelist ` +
      `(no WebTorrent); bittorrent-tracker: \`new Server({ udp, http, ws, stats: false })\`, no filter.`,
    '',
  );
  md.push('![replies per second and CPU per million replies, per mode and tracker](latest.svg)', '');
  md.push(...reportTables(sums, names));
  md.push(...ceilingTable(ceil));
  if (memory) md.push(...memoryTable(memory));
  md.push(...runsTable(rows));
  md.push(
    '## Peak RSS over the whole run, MB',
    '',
    `| ${names.join(' | ')} |`,
    `|${names.map(() => '---:').join('|')}|`,
    `| ${names.map((n) => mb(overallPeak.get(n) ?? 0)).join(' | ')} |`,
    '',
    [...hwmReset].some(([, ok]) => !ok)
      ? `Peak RSS could not be reset between modes for ${[...hwmReset].filter(([, ok]) => !ok).map(([n]) => n).join(', ')}: their per-mode figures are peaks since start.`
      : 'Per-mode peaks: VmHWM reset (clear_refs 5) before each mode.',
    '',
  );
  if (problems.length > 0) {
    md.push('## Problems', '');
    for (const p of problems) md.push(`- ${p.replace(/\n/g, ' | ')}`);
    md.push('');
  }
  md.push(
    '---',
    `Reproduce: \`npm run build && node dist/bench/compare.js${argv.length > 0 ? ' ' + argv.join(' ') : ''}\`` +
      (argv.length === 0 ? ' (= `npm run bench:compare`)' : '') +
      '. ' +
      'Generated by bench/compare.ts; raw data in latest.json, chart in latest.svg.',
  );
  const text = md.join('\n') + '\n';
  process.stdout.write('\n' + text);

  const subtitle =
    `${a.rounds} round(s) x ${a.duration} s per tracker and mode, ${os.cpus().length} CPUs shared by generator and tracker; ${when.slice(0, 10)}`;
  const svg = renderSvg(sums, names, subtitle);
  const data = { args: a, when, names, subtitle, ceilings: ceil, runs: rows, summary: sums, memory, overallPeakRssBytes: Object.fromEntries(overallPeak), problems };
  if (a.write) {
    mkdirSync(a.outDir, { recursive: true });
    writeFileSync(path.join(a.outDir, 'latest.md'), text);
    writeFileSync(path.join(a.outDir, 'latest.svg'), svg);
    writeFileSync(path.join(a.outDir, 'latest.json'), JSON.stringify(data, null, 2) + '\n');
    note(`wrote ${path.relative(process.cwd(), path.join(a.outDir, 'latest.md'))}, latest.svg, latest.json`);
  }
  if (a.json) writeFileSync(a.json, JSON.stringify(data, null, 2) + '\n');
  rmSync(dir, { recursive: true, force: true });
  clearTimeout(guard);
  return problems.length === 0 && rows.length > 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCompare(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      if (e instanceof ArgError) {
        process.stderr.write(`compare: ${e.message}\n(see --help)\n`);
        process.exit(2);
      }
      process.stderr.write(`compare: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      killAll();
      process.exit(1);
    },
  );
}
