/**
 * What the edge/swarm split costs: CPU seconds per million replies of
 * edge + swarm together against all-in-one, under the same load, alternating
 * A B A B (BENCHMARKS.md bar: <= 1.25x). Also reports the batch sizes and
 * round-trip times the edge saw, read from its /metrics.
 *
 *   npm run bench:cluster [-- --modes udp,http --rounds 3 --duration 8 --warmup 10 --connections 64]
 *
 * CPU is read from /proc when the generator's measured window starts and
 * ends, so start-up and JIT warm-up (which a long-running pod pays once) are
 * left out, for every deployment alike. Writes bench/results/cluster.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseRunArgs } from './loadtest/options.js';
import { DEFAULT_REQUESTS_PER_CONNECTION, runLoadtest } from './loadtest/runner.js';
import { DEFAULT_MODEL, describePeerPool } from './loadtest/model.js';
import { LIFTED_CLIENT_LIMITS } from './loadtest/lifted-limits.js';

const MAIN = fileURLToPath(new URL('../services/tracker/main.js', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const CLOCK_TICKS = 100; // USER_HZ on Linux
/** BENCHMARKS.md "The bar": edge + swarm CPU per reply over all-in-one's (raised from 1.5x once that was met). */
const BAR = 1.25;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime + stime
}

async function waitReady(metricsPort: number): Promise<void> {
  const until = Date.now() + 15_000;
  while (Date.now() < until) {
    const ok = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`process with metrics port ${metricsPort} not ready within 15 s`);
}

/**
 * The tracker processes (all-in-one, or edge + swarm) run pinned to the last
 * CPU and this process and the generator to the others (taskset), so both
 * deployments get the same core. Unpinned, where the scheduler happens to
 * put edge and swarm (one CPU or two, next to the generator or not) moved
 * edge + swarm's CPU per reply by +-25% between rounds here.
 * `--tracker-cpus none` turns that off; `--tracker-cpus LIST` picks others.
 */
const TRACKER_CPUS = ((): string => {
  const n = cpus().length;
  const chosen = arg('tracker-cpus', n >= 2 ? String(n - 1) : 'none');
  if (chosen === 'none') return '';
  const others = Array.from({ length: n }, (_, i) => i).filter((i) => !chosen.split(',').includes(String(i)));
  const self = spawnSync('taskset', ['-a', '-p', '-c', others.join(','), String(process.pid)], { stdio: 'ignore' });
  if (self.status !== 0 || others.length === 0) {
    process.stderr.write(`cannot pin with taskset (CPUs ${chosen} for the trackers): running unpinned\n`);
    return '';
  }
  return chosen;
})();

function start(args: string[]): ChildProcess {
  // Production limits but what a closed-loop generator cannot help breaking (see
  // lifted-limits.ts); the native UDP path is the one measured.
  const command = [process.execPath, MAIN, ...args, '--log.level=warn', '--udp.batchedIo=required', ...LIFTED_CLIENT_LIMITS];
  if (TRACKER_CPUS) command.unshift('taskset', '-c', TRACKER_CPUS);
  return spawn(command[0], command.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function stop(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
        }),
    ),
  );
}

interface Deployment {
  name: string;
  port: number;
  pids: number[];
  edgeMetricsPort?: number;
  children: ChildProcess[];
}

async function allInOne(): Promise<Deployment> {
  const port = await freePort();
  const metrics = await freePort();
  const child = start(['all-in-one', '--host=127.0.0.1', `--port=${port}`, `--metrics.port=${metrics}`]);
  await waitReady(metrics);
  return { name: 'all-in-one', port, pids: [child.pid!], children: [child] };
}

async function edgeAndSwarm(): Promise<Deployment> {
  const [port, edgeMetrics, swarmMetrics, grpc] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const swarm = start(['swarm', '--node.name=swarm-0', '--swarm.grpcHost=127.0.0.1', `--swarm.grpcPort=${grpc}`, `--metrics.port=${swarmMetrics}`]);
  await waitReady(swarmMetrics);
  const edge = start([
    'edge',
    '--node.name=edge-0',
    '--host=127.0.0.1',
    `--port=${port}`,
    `--metrics.port=${edgeMetrics}`,
    `--cluster.members=swarm-0=127.0.0.1:${grpc}`,
  ]);
  await waitReady(edgeMetrics);
  return { name: 'edge + swarm', port, pids: [edge.pid!, swarm.pid!], edgeMetricsPort: edgeMetrics, children: [edge, swarm] };
}

interface Result {
  name: string;
  replies: number;
  repliesPerSecond: number;
  cpuPerMillion: number;
  meanBatch?: number;
  meanRoundTripMs?: number;
}

function histogramMean(metrics: string, name: string): number | undefined {
  const sum = metrics.match(new RegExp(`^${name}_sum\\{[^}]*\\} ([0-9.e+-]+)$`, 'm'));
  const count = metrics.match(new RegExp(`^${name}_count\\{[^}]*\\} ([0-9.e+-]+)$`, 'm'));
  if (!sum || !count || Number(count[1]) === 0) return undefined;
  return Number(sum[1]) / Number(count[1]);
}

async function measure(deployment: Deployment, mode: string, duration: number, warmup: number, httpConnections: number): Promise<Result> {
  const { config } = parseRunArgs([
    mode,
    ...['--target', `127.0.0.1:${deployment.port}`, '--engine', 'c', '--duration', String(duration), '--warmup', String(warmup), '--quiet'],
    ...(mode === 'http' ? ['--connections', String(httpConnections)] : []),
  ]);
  let before: number[] = [];
  let cpu = 0;
  const { summary } = await runLoadtest(config, {
    onMeasureStart: () => {
      before = deployment.pids.map(cpuSeconds);
    },
    onMeasureEnd: () => {
      cpu = deployment.pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - before[i], 0);
    },
  });
  if (summary.replies === 0) throw new Error(`no replies from ${deployment.name}`);
  const result: Result = { name: deployment.name, replies: summary.replies, repliesPerSecond: summary.repliesPerSecond, cpuPerMillion: (cpu / summary.replies) * 1e6 };
  if (deployment.edgeMetricsPort) {
    const text = await fetch(`http://127.0.0.1:${deployment.edgeMetricsPort}/metrics`).then((r) => r.text());
    result.meanBatch = histogramMean(text, 'tracker_swarm_batch_requests');
    const rtt = histogramMean(text, 'tracker_swarm_round_trip_seconds');
    result.meanRoundTripMs = rtt === undefined ? undefined : rtt * 1000;
  }
  return result;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const modes = arg('modes', arg('mode', 'udp,http')).split(',');
  const rounds = Number(arg('rounds', '3'));
  const duration = Number(arg('duration', '8'));
  // Long enough for V8 to have optimised the per-message paths (grpc-js,
  // http2), which run ~1,000 times a second rather than per request.
  const warmup = Number(arg('warmup', '10'));
  const httpConnections = Number(arg('connections', '64'));
  const startedAt = new Date();
  const load = loadavg()[0];
  const out: string[] = [
    '# Edge + swarm over gRPC against all-in-one',
    '',
    `${startedAt.toISOString()}: ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), Node ${process.version}, 1-min load average ${load.toFixed(2)} at start. ` +
      `C generator (64 UDP sockets x 16 in flight, or ${httpConnections} HTTP keep-alive connections x 1, ${DEFAULT_REQUESTS_PER_CONNECTION} requests each), ${warmup} s warm-up, ${duration} s measured, ${rounds} rounds A B A B; ` +
      'one edge and one swarm process against one all-in-one process; CPU of every tracker process over the measured window only. ' +
      (TRACKER_CPUS ? `Tracker processes pinned to CPU ${TRACKER_CPUS}, the generator to the others. ` : 'Unpinned. ') +
      `Peers: ${describePeerPool(DEFAULT_MODEL)}; the trackers run with their production limits (see bench/loadtest/lifted-limits.ts).`,
    '',
  ];
  for (const mode of modes) {
    const results: Result[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const make of [allInOne, edgeAndSwarm]) {
        const deployment = await make();
        try {
          const result = await measure(deployment, mode, duration, warmup, httpConnections);
          results.push(result);
          process.stderr.write(`${mode} round ${round + 1} ${result.name}: ${Math.round(result.repliesPerSecond)} replies/s, ${result.cpuPerMillion.toFixed(2)} CPU s per 1M\n`);
        } finally {
          await stop(deployment.children);
        }
      }
    }
    const of = (name: string) => results.filter((r) => r.name === name);
    const a = of('all-in-one');
    const b = of('edge + swarm');
    const cpuA = median(a.map((r) => r.cpuPerMillion));
    const cpuB = median(b.map((r) => r.cpuPerMillion));
    const ratio = cpuB / cpuA;
    out.push(
      `| ${mode} load | replies/s (median) | CPU s per 1M replies (all processes, median) | mean batch (requests per message) | mean round trip |`,
      '|---|---:|---:|---:|---:|',
      `| all-in-one | ${Math.round(median(a.map((r) => r.repliesPerSecond)))} | ${cpuA.toFixed(2)} | - | - |`,
      `| edge + swarm | ${Math.round(median(b.map((r) => r.repliesPerSecond)))} | ${cpuB.toFixed(2)} | ${median(b.map((r) => r.meanBatch ?? 0)).toFixed(1)} | ${median(b.map((r) => r.meanRoundTripMs ?? 0)).toFixed(2)} ms |`,
      '',
      `CPU per reply, edge + swarm / all-in-one: **${ratio.toFixed(2)}x** (bar <= ${BAR}x: ${ratio <= BAR ? 'met' : 'not met'}); ` +
        `per round: ${a.map((r, i) => (b[i] ? (b[i].cpuPerMillion / r.cpuPerMillion).toFixed(2) + 'x' : '-')).join(', ')}`,
      '',
    );
    process.stdout.write(out.slice(-7).join('\n') + '\n');
  }
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'cluster.md'), out.join('\n'));
  process.stderr.write(`wrote ${join(RESULTS, 'cluster.md')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
