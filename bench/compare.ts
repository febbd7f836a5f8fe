/**
 * First side-by-side run: our all-in-one tracker vs opentracker (Debian,
 * whitelist build), same load, same seed, alternating A B A B, plus the
 * generator's ceiling against trivial echo targets.
 *
 *   npm run build
 *   node dist/bench/compare.js [--duration 10] [--warmup 2] [--rounds 2]
 *        [--modes udp,http,http-close] [--udp-engine c|node] [--http-engine c|node]
 *        [--sockets 64] [--window 16]
 *        [--connections 64] [--workers 1] [--seed 1] [--torrents 10000] [--prime 3]
 *        [--ours-main dist/services/tracker/main.js] [--ours-access-list allow|off]
 *        [--skip-ceiling | --ceiling-only] [--json results.json]
 *
 * Measures, per run, the replies/s seen by the generator and the CPU seconds
 * (utime + stime from /proc/<pid>/stat, summed over the tracker's process
 * tree) the tracker used inside the measured window, and prints Markdown
 * tables with ours / opentracker ratios. Everything is bounded: each run by
 * the generator's hard stop, the whole script by a global deadline, and the
 * trackers it starts are killed on exit.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { compileC, projectRoot } from './loadtest/cgen.js';
import { DEFAULT_MODEL, LoadModel, type LoadModelOptions } from './loadtest/model.js';
import { parseArgv } from './loadtest/options.js';
import { runLoadtest, type LoadtestConfig } from './loadtest/runner.js';
import { fmtInt, type LoadSummary } from './loadtest/stats.js';

type Mode = 'udp' | 'http' | 'http-close';

interface CompareArgs {
  duration: number;
  warmup: number;
  rounds: number;
  modes: Mode[];
  udpEngine: 'c' | 'node';
  httpEngine: 'c' | 'node';
  sockets: number;
  window: number;
  connections: number;
  workers: number;
  seed: number;
  torrents: number;
  prime: number;
  oursMain: string;
  oursAccessList: 'allow' | 'off';
  skipCeiling: boolean;
  ceilingOnly: boolean;
  json?: string;
}

const log = (s = ''): void => {
  process.stdout.write(s + '\n');
};
const note = (s: string): void => {
  process.stderr.write(`# ${s}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function parseCompareArgs(argv: string[]): CompareArgs {
  const { opts } = parseArgv(argv, new Set(['skip-ceiling', 'ceiling-only']));
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
  const modes = s('modes', 'udp,http,http-close').split(',').map((m) => m.trim()) as Mode[];
  for (const m of modes) if (!['udp', 'http', 'http-close'].includes(m)) throw new Error(`unknown mode ${m}`);
  const root = projectRoot();
  const a: CompareArgs = {
    duration: n('duration', 10),
    warmup: n('warmup', 2),
    rounds: Math.max(1, Math.floor(n('rounds', 2))),
    modes,
    udpEngine: s('udp-engine', 'c') === 'node' ? 'node' : 'c',
    httpEngine: s('http-engine', 'c') === 'node' ? 'node' : 'c',
    sockets: n('sockets', 64),
    window: n('window', 16),
    connections: n('connections', 64),
    workers: n('workers', 1),
    seed: n('seed', 1),
    torrents: n('torrents', 10_000),
    prime: n('prime', 3),
    oursMain: path.resolve(root, s('ours-main', 'dist/services/tracker/main.js')),
    oursAccessList: s('ours-access-list', 'allow') === 'off' ? 'off' : 'allow',
    skipCeiling: opts.get('skip-ceiling') === true,
    ceilingOnly: opts.get('ceiling-only') === true,
  };
  const json = opts.get('json');
  if (typeof json === 'string') a.json = json;
  if (a.duration <= 0 || a.duration > 600) throw new Error('--duration must be 0..600');
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

/** Wait until a BEP 15 connect gets a reply (UDP) and a TCP connect succeeds. */
async function waitReady(t: Tracker, timeoutMs: number): Promise<void> {
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
    if ((await udpOk()) && (await tcpOk())) return;
    await sleep(100);
  }
  throw new Error(`${t.name} not ready on 127.0.0.1:${t.port} after ${timeoutMs} ms: ${t.output().trim()}`);
}

// ---------------------------------------------------------------- runs

function loadConfig(a: CompareArgs, mode: Mode, port: number, durationSeconds = a.duration, warmupSeconds = a.warmup): LoadtestConfig {
  const model: LoadModelOptions = { ...DEFAULT_MODEL, seed: a.seed, torrents: a.torrents };
  const udp = mode === 'udp';
  return {
    protocol: udp ? 'udp' : 'http',
    engine: udp ? a.udpEngine : a.httpEngine,
    host: '127.0.0.1',
    port,
    durationSeconds,
    warmupSeconds,
    workers: a.workers,
    sockets: udp ? a.sockets : a.connections,
    window: udp ? a.window : 1,
    timeoutMs: udp ? 1000 : 5000,
    reconnectAfterMs: 60_000,
    maxFailures: 3,
    connectionPerRequest: mode === 'http-close',
    announcePath: '/announce',
    scrapePath: '/scrape',
    model,
    progress: false,
  };
}

interface RunRow {
  mode: Mode;
  round: number;
  tracker: string;
  summary: LoadSummary;
  trackerCpuSeconds: number;
  cpuPerMillion: number;
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
    errorMessages,
  };
  note(
    `${mode} round ${round} ${t.name}: ${fmtInt(summary.repliesPerSecond)} replies/s, tracker CPU ${cpu.toFixed(2)} s ` +
      `(${row.cpuPerMillion.toFixed(2)} s/M), errors ${summary.counters.errors}, lost ${summary.counters.lost}` +
      (Object.keys(errorMessages).length ? `, messages ${JSON.stringify(errorMessages)}` : ''),
  );
  return row;
}

const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');

interface Ceiling {
  what: string;
  summary?: LoadSummary;
  error?: string;
}

async function ceilings(a: CompareArgs): Promise<Ceiling[]> {
  const out: Ceiling[] = [];
  const root = projectRoot();
  let echoBin: string;
  try {
    echoBin = compileC('echo-server');
  } catch (e) {
    return [{ what: 'C echo', error: String(e) }];
  }
  const groups: { http: boolean; modes: Mode[] }[] = [
    { http: false, modes: a.modes.filter((m) => m === 'udp') },
    { http: true, modes: a.modes.filter((m) => m !== 'udp') },
  ];
  for (const g of groups) {
    if (g.modes.length === 0) continue;
    const port = await freePort();
    const echo = startProcess(
      g.http ? 'C HTTP echo' : 'C UDP echo',
      echoBin,
      ['--port', String(port), '--http', g.http ? '1' : '0', '--peers', '50', '--max-seconds', String(6 * (a.duration + a.warmup) + 60)],
      root,
      port,
    );
    await sleep(300);
    for (const mode of g.modes) {
      const primary = mode === 'udp' ? a.udpEngine : a.httpEngine;
      const engines: ('c' | 'node')[] = primary === 'c' ? ['c', 'node'] : ['node'];
      for (const engine of engines) {
        const what =
          (mode === 'udp' ? 'UDP' : mode === 'http' ? 'HTTP keep-alive' : 'HTTP connection per request') +
          `, ${engine} generator vs C echo (${mode === 'udp' ? 'recvmmsg/sendmmsg' : 'epoll'})`;
        try {
          const { summary } = await runLoadtest({ ...loadConfig(a, mode, port), engine });
          out.push({ what, summary });
          note(`ceiling ${mode} ${engine}: ${fmtInt(summary.repliesPerSecond)} replies/s`);
        } catch (e) {
          out.push({ what, error: String(e) });
        }
      }
    }
    await stopProcess(echo);
  }
  return out;
}

function printCeilings(ceil: Ceiling[]): void {
  if (ceil.length === 0) return;
  log('## Generator ceiling (trivial echo targets)');
  log();
  log('| target | replies/s | generator CPU s per 1M replies | p99 ms | lost |');
  log('|---|---:|---:|---:|---:|');
  for (const c of ceil) {
    if (!c.summary) {
      log(`| ${c.what} | failed: ${c.error} | | | |`);
      continue;
    }
    const s = c.summary;
    const g = s.generatorCpuSeconds !== undefined && s.replies > 0 ? (s.generatorCpuSeconds / s.replies) * 1e6 : NaN;
    log(`| ${c.what} | ${fmtInt(s.repliesPerSecond)} | ${f2(g)} | ${s.latencyMs.p99} | ${fmtInt(s.counters.lost)} |`);
  }
  log();
}

export async function runCompare(argv: string[]): Promise<number> {
  const a = parseCompareArgs(argv);
  const perRun = a.warmup + a.duration + 15;
  const budget = (a.modes.length * (2 * a.rounds + 4) * perRun + 2 * a.prime + 120) * 1000;
  const guard = setTimeout(() => {
    process.stderr.write(`compare: global deadline (${Math.round(budget / 1000)} s) reached, stopping\n`);
    killAll();
    process.exit(1);
  }, budget);
  guard.unref();

  const loadAtStart = os.loadavg();
  const root = projectRoot();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'compare-'));
  chmodSync(dir, 0o755);
  const model = new LoadModel({ ...DEFAULT_MODEL, seed: a.seed, torrents: a.torrents });
  const whitelist = path.join(dir, 'access.whitelist');
  writeFileSync(whitelist, model.whitelist(), { mode: 0o644 });

  const ceil = a.skipCeiling ? [] : await ceilings(a);
  if (a.ceilingOnly) {
    printCeilings(ceil);
    if (a.json) writeFileSync(a.json, JSON.stringify({ args: a, ceilings: ceil }, null, 2) + '\n');
    rmSync(dir, { recursive: true, force: true });
    clearTimeout(guard);
    return ceil.every((c) => c.summary !== undefined) ? 0 : 1;
  }

  // opentracker: whitelist build, chroots into its rootdir (the list path is relative to it).
  const otPort = await freePort();
  writeFileSync(
    path.join(dir, 'opentracker.conf'),
    `listen.tcp_udp 127.0.0.1:${otPort}\naccess.whitelist ./access.whitelist\ntracker.rootdir ${dir}\n`,
  );
  const trackers: Tracker[] = [];
  const problems: string[] = [];
  try {
    const ot = startProcess('opentracker', '/usr/bin/opentracker', ['-f', path.join(dir, 'opentracker.conf')], dir, otPort);
    await waitReady(ot, 10_000);
    trackers.push(ot);
  } catch (e) {
    problems.push(`opentracker: ${e instanceof Error ? e.message : String(e)}`);
  }
  const oursPort = await freePort();
  const metricsPort = await freePort();
  try {
    const args = [
      a.oursMain,
      'all-in-one',
      '--host=127.0.0.1',
      `--port=${oursPort}`,
      '--metrics.host=127.0.0.1',
      `--metrics.port=${metricsPort}`,
      '--log.level=warn',
    ];
    if (a.oursAccessList === 'allow') args.push('--accessList.mode=allow', `--accessList.file=${whitelist}`);
    const ours = startProcess('ours', process.execPath, args, root, oursPort);
    await waitReady(ours, 15_000);
    trackers.unshift(ours);
  } catch (e) {
    problems.push(`ours: ${e instanceof Error ? e.message : String(e)}`);
  }
  for (const p of problems) note(`NOT RUNNING ${p}`);

  // Prime both swarms with the same load (not measured).
  if (a.prime > 0) {
    for (const t of trackers) {
      await runLoadtest(loadConfig(a, a.modes[0], t.port, a.prime, 0)).catch((e: unknown) => note(`prime ${t.name}: ${String(e)}`));
    }
  }

  const rows: RunRow[] = [];
  for (const mode of a.modes) {
    for (let r = 1; r <= a.rounds; r++) {
      for (const t of trackers) {
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
    }
  }
  for (const t of trackers) await stopProcess(t);

  // ---------------------------------------------------------------- report
  log(`# ours vs opentracker, ${new Date().toISOString()}`);
  log();
  log(
    `Load: seed ${a.seed}, ${fmtInt(a.torrents)} torrents, Zipf(1.0) popularity, announce:scrape 100:1 (<= 10 hashes), ` +
      `50% seeders, numwant 50, peers from 8 x 4096 (127.0.0.1-8, ports 10000+). ` +
      `UDP: ${a.udpEngine} generator, ${a.sockets} sockets x ${a.window} in flight; HTTP: ${a.httpEngine} generator, ${a.connections} connections x 1. ` +
      `Warm-up ${a.warmup} s, measured ${a.duration} s, ${a.rounds} round(s) A B A B, ${a.workers} generator thread(s). ` +
      `ours: access list ${a.oursAccessList === 'allow' ? 'allow (same list as opentracker)' : 'off'}. ${os.cpus().length} CPUs; 1-min load average ${loadAtStart[0].toFixed(2)} at start, ${os.loadavg()[0].toFixed(2)} at end ` +
      `(anything above ~2 means other work shared the box with both trackers).`,
  );
  log();
  printCeilings(ceil);
  log('## Runs');
  log();
  log('| mode | round | tracker | replies/s | tracker CPU s | CPU s per 1M replies | generator CPU s per 1M | peers/announce | p50 ms | p99 ms | errors | lost |');
  log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const s = r.summary;
    const g = s.generatorCpuSeconds !== undefined && s.replies > 0 ? (s.generatorCpuSeconds / s.replies) * 1e6 : NaN;
    log(
      `| ${r.mode} | ${r.round} | ${r.tracker} | ${fmtInt(s.repliesPerSecond)} | ${f2(r.trackerCpuSeconds)} | ${f2(r.cpuPerMillion)} | ${f2(g)} | ` +
        `${s.avgPeersPerAnnounce} | ${s.latencyMs.p50} | ${s.latencyMs.p99} | ${fmtInt(s.counters.errors)} | ${fmtInt(s.counters.lost)} |`,
    );
  }
  log();
  log('## Summary (median over rounds; ratio = ours / opentracker)');
  log();
  log('| mode | ours replies/s | opentracker replies/s | ratio | ours CPU s/1M | opentracker CPU s/1M | CPU ratio | bar |');
  log('|---|---:|---:|---:|---:|---:|---:|---|');
  const bars: Record<Mode, string> = { udp: '>= 1.3x replies/s', http: '>= 4x replies/s', 'http-close': '>= 1x replies/s' };
  const summary: Record<string, unknown>[] = [];
  for (const mode of a.modes) {
    const pick = (name: string, f: (r: RunRow) => number): number => median(rows.filter((r) => r.mode === mode && r.tracker === name).map(f));
    const oursRps = pick('ours', (r) => r.summary.repliesPerSecond);
    const otRps = pick('opentracker', (r) => r.summary.repliesPerSecond);
    const oursCpu = pick('ours', (r) => r.cpuPerMillion);
    const otCpu = pick('opentracker', (r) => r.cpuPerMillion);
    log(
      `| ${mode} | ${Number.isFinite(oursRps) ? fmtInt(oursRps) : '-'} | ${Number.isFinite(otRps) ? fmtInt(otRps) : '-'} | ${f2(oursRps / otRps)}x | ` +
        `${f2(oursCpu)} | ${f2(otCpu)} | ${f2(oursCpu / otCpu)}x | ${bars[mode]} |`,
    );
    summary.push({ mode, oursRps, otRps, ratio: oursRps / otRps, oursCpuPerMillion: oursCpu, otCpuPerMillion: otCpu, cpuRatio: oursCpu / otCpu });
  }
  if (problems.length > 0) {
    log();
    log('## Problems');
    for (const p of problems) log(`- ${p.replace(/\n/g, ' | ')}`);
  }
  if (a.json) {
    writeFileSync(a.json, JSON.stringify({ args: a, ceilings: ceil, runs: rows, summary, problems }, null, 2) + '\n');
  }
  rmSync(dir, { recursive: true, force: true });
  clearTimeout(guard);
  return problems.length === 0 && rows.length > 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCompare(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`compare: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      killAll();
      process.exit(1);
    },
  );
}
