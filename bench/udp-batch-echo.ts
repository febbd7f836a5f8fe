/**
 * Echo throughput of the batched UDP socket (lib/net/udp/):
 * the native addon (recvmmsg / sendmmsg) against its dgram fallback, with a
 * plain node:dgram echo (bench/loadtest/echo-server.ts) and the C
 * recvmmsg/sendmmsg echo (bench/loadtest/echo-server.c, the box's ceiling)
 * alongside, all loaded by the C generator (bench/loadtest/udpgen.c, BEP 15
 * requests, sockets x window in flight) in the same run, alternating the
 * order every round.
 *
 * Every server answers each BEP 15 request with the stateless echo reply
 * (echoUdpReply), so the generator counts valid replies. Each server runs
 * in its own process; its CPU over the generator's measured window is read
 * from /proc/<pid>/stat. Loopback only; every run is bounded in time.
 *
 * Other sessions may load this 2-core box: before each run it waits (up to
 * --quiet-wait s) for the box to go idle, measures the CPU that neither the
 * server nor the generator used during the window ("other CPUs"), and takes
 * medians over the runs where that stayed under --max-other-cpus when any did.
 *
 *   node dist/bench/udp-batch-echo.js [--rounds 3] [--duration 5] [--warmup 2]
 *        [--sockets 64] [--window 16] [--servers native,dgram,dgram-plain,c-echo]
 *        [--quiet-wait 60] [--max-other-cpus 0.25] [--json]
 *   node dist/bench/udp-batch-echo.js serve native|dgram|dgram-plain [--max-seconds 120]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createBatchUdpSocket, nativeUdpStatus } from '../lib/net/udp/index.js';
import { echoUdpReply, startUdpEcho } from './loadtest/echo-server.js';
import { compileC } from './loadtest/cgen.js';

type ServerKind = 'native' | 'dgram' | 'dgram-plain' | 'c-echo';
const ALL: ServerKind[] = ['native', 'dgram', 'dgram-plain', 'c-echo'];
const HOST = '127.0.0.1';
const CLK_TCK = 100; // Linux USER_HZ

function argValue(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < argv.length) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : fallback;
}

function numberArg(argv: string[], name: string, fallback: number, min: number, max: number): number {
  const v = Number(argValue(argv, name, String(fallback)));
  if (!Number.isFinite(v) || v < min || v > max) throw new Error(`--${name} must be in ${min}..${max}`);
  return v;
}

// ---------------------------------------------------------------- server child

async function serve(kind: ServerKind, maxSeconds: number): Promise<void> {
  const peers = new Uint8Array(0);
  let close: () => Promise<void>;
  let stats: () => unknown = () => ({});
  let port: number;
  if (kind === 'dgram-plain') {
    const server = await startUdpEcho(HOST, 0, 0);
    port = server.port;
    close = () => server.close();
  } else {
    const sock = createBatchUdpSocket({
      implementation: kind === 'native' ? 'native' : 'dgram',
      recvBufferSize: 1 << 22,
      sendBufferSize: 1 << 22,
      maxDatagramSize: 2048,
    });
    await sock.bind(HOST, 0);
    // One writer for every reply: `current` is the request being answered.
    let current: Uint8Array = peers;
    const write = (out: Uint8Array): number => echoUdpReply(current, peers, out as Buffer);
    sock.onBatch((b) => {
      for (let i = 0; i < b.count; i++) {
        current = b.data(i);
        b.reply(i, write, 1024);
      }
    });
    port = sock.port;
    close = () => sock.close();
    stats = () => sock.stats();
  }
  process.stdout.write(`listening ${port}\n`);
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, maxSeconds * 1000);
    const stop = (): void => {
      clearTimeout(timer);
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  const s = stats();
  await close();
  process.stdout.write(`stats ${JSON.stringify(s)}\n`);
}

// ---------------------------------------------------------------- driver

interface Started {
  child: ChildProcess;
  port: number;
  output: () => string;
}

function startServer(kind: ServerKind, maxSeconds: number): Promise<Started> {
  const child =
    kind === 'c-echo'
      ? spawn(compileC('echo-server'), ['--port', String(40000 + Math.floor(Math.random() * 20000)), '--host', HOST, '--max-seconds', String(maxSeconds)], {
          stdio: ['ignore', 'pipe', 'inherit'],
        })
      : spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve', kind, '--max-seconds', String(maxSeconds)], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
  let out = '';
  child.stdout!.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${kind} server did not start`));
    }, 10_000);
    child.stdout!.on('data', (d: string) => {
      out += d;
      const m = /listening (?:[\d.]+:)?(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), output: () => out });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${kind} server exited with ${code}: ${out}`));
    });
  });
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15)
}

/** Busy jiffies of the whole box (all CPUs): user + nice + system + irq + softirq + steal. */
function boxBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  return f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0);
}

/**
 * Waits (at most `maxMs`) until the box is nearly idle, so that another
 * process's load does not skew a run: other sessions may share this machine.
 * Returns the busy CPUs seen last.
 */
async function waitForQuiet(maxMs: number, threshold = 0.25): Promise<number> {
  const until = Date.now() + maxMs;
  let busy = 0;
  do {
    const a = boxBusyTicks();
    await new Promise((r) => setTimeout(r, 1000));
    busy = (boxBusyTicks() - a) / CLK_TCK;
    if (busy <= threshold) return busy;
  } while (Date.now() < until);
  return busy;
}

interface GenResult {
  measuredSeconds: number;
  cpuSeconds: number;
  counters: { sent: number; announces: number; scrapes: number; connects: number; errors: number; lost: number; invalid: number };
}

interface RunResult {
  kind: ServerKind;
  round: number;
  repliesPerSecond: number;
  lost: number;
  invalid: number;
  serverCpuSeconds: number;
  generatorCpuSeconds: number;
  serverCpuPerMillion: number;
  /** CPUs busy on the whole box during the window (2 = both cores), and what neither server nor generator used. */
  boxBusyCpus: number;
  otherCpus: number;
  measuredSeconds: number;
  serverStats?: unknown;
}

async function runOne(kind: ServerKind, round: number, o: { duration: number; warmup: number; sockets: number; window: number }): Promise<RunResult> {
  const server = await startServer(kind, o.warmup + o.duration + 30);
  const pid = server.child.pid!;
  const gen = spawn(
    compileC('udpgen'),
    [
      `--target=${HOST}:${server.port}`,
      `--duration=${o.duration}`,
      `--warmup=${o.warmup}`,
      `--sockets=${o.sockets}`,
      `--window=${o.window}`,
      '--threads=1',
      '--progress=0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  let ticksStart = 0;
  let ticksEnd = 0;
  let boxStart = 0;
  let boxEnd = 0;
  gen.stdout.setEncoding('utf8');
  gen.stdout.on('data', (d: string) => (stdout += d));
  gen.stderr.setEncoding('utf8');
  gen.stderr.on('data', (d: string) => {
    stderr += d;
    if (ticksStart === 0 && stderr.includes('#measure-start')) {
      ticksStart = cpuTicks(pid) || 1;
      boxStart = boxBusyTicks();
    }
    if (ticksEnd === 0 && stderr.includes('#measure-end')) {
      ticksEnd = cpuTicks(pid);
      boxEnd = boxBusyTicks();
    }
  });
  const code = await new Promise<number | null>((resolve) => {
    const kill = setTimeout(() => gen.kill('SIGKILL'), (o.warmup + o.duration + 20) * 1000);
    gen.on('exit', (c) => {
      clearTimeout(kill);
      resolve(c);
    });
  });
  const exited = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
  server.child.kill('SIGTERM');
  const hard = setTimeout(() => server.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(hard);
  if (code !== 0) throw new Error(`udpgen exited with ${code}: ${stderr.slice(-500)}`);
  const r = JSON.parse(stdout) as GenResult;
  const c = r.counters;
  const replies = c.announces + c.scrapes + c.connects + c.errors;
  const serverCpu = (ticksEnd - ticksStart) / CLK_TCK;
  const statsLine = /stats (.*)/.exec(server.output());
  return {
    kind,
    round,
    repliesPerSecond: replies / r.measuredSeconds,
    lost: c.lost,
    invalid: c.invalid,
    serverCpuSeconds: serverCpu,
    generatorCpuSeconds: r.cpuSeconds,
    serverCpuPerMillion: replies > 0 ? (serverCpu / replies) * 1e6 : NaN,
    boxBusyCpus: (boxEnd - boxStart) / CLK_TCK / r.measuredSeconds,
    otherCpus: ((boxEnd - boxStart) / CLK_TCK - serverCpu - r.cpuSeconds) / r.measuredSeconds,
    measuredSeconds: r.measuredSeconds,
    ...(statsLine ? { serverStats: JSON.parse(statsLine[1]) as unknown } : {}),
  };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'serve') {
    const kind = argv[1] as ServerKind;
    if (!['native', 'dgram', 'dgram-plain'].includes(kind)) throw new Error('serve native|dgram|dgram-plain');
    await serve(kind, numberArg(argv, 'max-seconds', 120, 1, 3600));
    return;
  }
  const o = {
    rounds: numberArg(argv, 'rounds', 3, 1, 20),
    duration: numberArg(argv, 'duration', 5, 1, 120),
    warmup: numberArg(argv, 'warmup', 2, 0, 60),
    sockets: numberArg(argv, 'sockets', 64, 1, 4096),
    window: numberArg(argv, 'window', 16, 1, 256),
    /** Before each run, wait up to this long for the box to be idle (0: don't). */
    quietWaitSeconds: numberArg(argv, 'quiet-wait', 60, 0, 600),
    /** Runs where other processes used more than this many CPUs are left out of the medians when clean runs exist. */
    maxOtherCpus: numberArg(argv, 'max-other-cpus', 0.25, 0, 2),
  };
  const json = argv.includes('--json');
  let kinds = argValue(argv, 'servers', ALL.join(',')).split(',') as ServerKind[];
  for (const k of kinds) if (!ALL.includes(k)) throw new Error(`unknown server ${k}`);
  const status = nativeUdpStatus();
  if (!status.available) {
    process.stderr.write(`native addon unavailable (${status.error}): measuring the others only\n`);
    kinds = kinds.filter((k) => k !== 'native');
  }
  const results: RunResult[] = [];
  for (let round = 0; round < o.rounds; round++) {
    // Rotate the order each round so no server always runs first or last.
    const order = kinds.map((_, i) => kinds[(i + round) % kinds.length]);
    for (const kind of order) {
      if (o.quietWaitSeconds > 0) await waitForQuiet(o.quietWaitSeconds * 1000);
      const r = await runOne(kind, round, o);
      results.push(r);
      process.stderr.write(
        `round ${round + 1} ${kind.padEnd(11)} ${Math.round(r.repliesPerSecond).toString().padStart(8)} replies/s  server cpu ${r.serverCpuSeconds.toFixed(2)} s (${r.serverCpuPerMillion.toFixed(2)} s/M)  gen cpu ${r.generatorCpuSeconds.toFixed(2)} s  box busy ${r.boxBusyCpus.toFixed(2)} CPUs (other ${r.otherCpus.toFixed(2)})  lost ${r.lost}${r.serverStats ? `  ${JSON.stringify(r.serverStats)}` : ''}\n`,
      );
    }
  }
  const summary = kinds.map((kind) => {
    const all = results.filter((r) => r.kind === kind);
    const clean = all.filter((r) => r.otherCpus <= o.maxOtherCpus);
    const mine = clean.length > 0 ? clean : all;
    return {
      cleanRuns: clean.length,
      kind,
      repliesPerSecond: Math.round(median(mine.map((r) => r.repliesPerSecond))),
      runs: mine.map((r) => Math.round(r.repliesPerSecond)),
      serverCpuPerMillion: Number(median(mine.map((r) => r.serverCpuPerMillion)).toFixed(3)),
      serverCpuShare: Number(median(mine.map((r) => r.serverCpuSeconds / r.measuredSeconds)).toFixed(2)),
      otherCpus: Number(median(mine.map((r) => r.otherCpus)).toFixed(2)),
      lost: mine.reduce((a, r) => a + r.lost, 0),
    };
  });
  const by = (k: ServerKind) => summary.find((s) => s.kind === k);
  const native = by('native');
  const dgramFallback = by('dgram');
  const plain = by('dgram-plain');
  const ratios = {
    nativeOverDgramFallback: native && dgramFallback ? Number((native.repliesPerSecond / dgramFallback.repliesPerSecond).toFixed(2)) : undefined,
    nativeOverPlainDgram: native && plain ? Number((native.repliesPerSecond / plain.repliesPerSecond).toFixed(2)) : undefined,
    cpuPerMillionDgramFallbackOverNative:
      native && dgramFallback ? Number((dgramFallback.serverCpuPerMillion / native.serverCpuPerMillion).toFixed(2)) : undefined,
  };
  if (json) {
    process.stdout.write(`${JSON.stringify({ options: o, summary, ratios, results }, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    `\nUDP echo, udpgen ${o.sockets} sockets x ${o.window} in flight, ${o.rounds} rounds of ${o.warmup}+${o.duration} s (median):\n`,
  );
  process.stdout.write('server        replies/s   server CPU s/M   server CPU share   other CPUs   clean/all   runs used\n');
  for (const s of summary) {
    process.stdout.write(
      `${s.kind.padEnd(12)} ${String(s.repliesPerSecond).padStart(10)}   ${s.serverCpuPerMillion.toFixed(2).padStart(14)}   ${s.serverCpuShare.toFixed(2).padStart(16)}   ${s.otherCpus.toFixed(2).padStart(10)}   ${`${s.cleanRuns}/${o.rounds}`.padStart(9)}   ${s.runs.join(' ')}\n`,
    );
  }
  process.stdout.write(`${JSON.stringify(ratios)}\n`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
