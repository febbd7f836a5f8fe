/**
 * What the edge/swarm split costs: CPU seconds per million replies of
 * edge + swarm together against all-in-one, under the same load, alternating
 * A B A B (BENCHMARKS.md bar: <= 1.5x). Also reports the batch sizes and
 * round-trip times the edge saw, read from its /metrics.
 *
 *   npm run bench:cluster [-- --mode http|udp --rounds 2 --duration 8]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../services/tracker/main.js', import.meta.url));
const LOADTEST = fileURLToPath(new URL('./loadtest/cli.js', import.meta.url));
const CLOCK_TICKS = 100; // USER_HZ on Linux

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

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, [MAIN, ...args, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
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

async function measure(deployment: Deployment, mode: string, duration: number, dir: string): Promise<Result> {
  const json = join(dir, `${deployment.name.replace(/\W+/g, '-')}-${Date.now()}.json`);
  const before = deployment.pids.map(cpuSeconds);
  const run = spawnSync(
    process.execPath,
    [LOADTEST, mode, '--target', `127.0.0.1:${deployment.port}`, '--engine', 'c', '--duration', String(duration), '--warmup', '1', '--quiet', '--json', json],
    { stdio: ['ignore', 'ignore', 'inherit'], timeout: (duration + 30) * 1000 },
  );
  const cpu = deployment.pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - before[i], 0);
  if (run.status !== 0) throw new Error(`load generator failed against ${deployment.name} (exit ${run.status})`);
  const summary = JSON.parse(readFileSync(json, 'utf8')) as { replies?: number; repliesPerSecond?: number; measured?: { replies: number; repliesPerSecond: number } };
  const replies = summary.measured?.replies ?? summary.replies ?? 0;
  const rate = summary.measured?.repliesPerSecond ?? summary.repliesPerSecond ?? 0;
  // CPU was sampled over warm-up + window; scale replies to the same span.
  const totalReplies = rate * (duration + 1);
  const result: Result = { name: deployment.name, replies, repliesPerSecond: rate, cpuPerMillion: (cpu / Math.max(1, totalReplies)) * 1e6 };
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
  const mode = arg('mode', 'http');
  const rounds = Number(arg('rounds', '2'));
  const duration = Number(arg('duration', '8'));
  const dir = mkdtempSync(join(tmpdir(), 'cluster-overhead-'));
  const results: Result[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      for (const make of [allInOne, edgeAndSwarm]) {
        const deployment = await make();
        try {
          const result = await measure(deployment, mode, duration, dir);
          results.push(result);
          process.stderr.write(`round ${round + 1} ${result.name}: ${Math.round(result.repliesPerSecond)} replies/s, ${result.cpuPerMillion.toFixed(2)} CPU s per 1M\n`);
        } finally {
          await stop(deployment.children);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const of = (name: string) => results.filter((r) => r.name === name);
  const a = of('all-in-one');
  const b = of('edge + swarm');
  const cpuA = median(a.map((r) => r.cpuPerMillion));
  const cpuB = median(b.map((r) => r.cpuPerMillion));
  const lines = [
    `| ${mode} load, ${rounds} rounds A B A B, ${duration} s each | replies/s (median) | CPU s per 1M replies (all processes) | mean batch | mean round trip |`,
    '|---|---:|---:|---:|---:|',
    `| all-in-one | ${Math.round(median(a.map((r) => r.repliesPerSecond)))} | ${cpuA.toFixed(2)} | - | - |`,
    `| edge + swarm | ${Math.round(median(b.map((r) => r.repliesPerSecond)))} | ${cpuB.toFixed(2)} | ${median(b.map((r) => r.meanBatch ?? 0)).toFixed(1)} | ${median(b.map((r) => r.meanRoundTripMs ?? 0)).toFixed(2)} ms |`,
    '',
    `CPU per reply, edge + swarm / all-in-one: ${(cpuB / cpuA).toFixed(2)}x (bar <= 1.5x)`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
