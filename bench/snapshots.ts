/**
 * What Redis snapshots cost a swarm, measured side by side in one run:
 *
 * 1. Time to ready of a `tracker swarm` process restoring N peers (default
 *    1,000,000) from a local redis-server, against the same process
 *    starting with nothing to restore (another key prefix); rounds
 *    alternate. The snapshot is written first by this process, from a store
 *    filled in memory, with the scheduler's shutdown pass (its time and CPU
 *    are reported too: it is what a swarm spends on SIGTERM).
 * 2. The share of a loaded swarm's CPU that snapshots take. Under UDP load
 *    from the C generator (edge + swarm, as in a cluster; the tracker
 *    processes pinned to the last CPU, the generator and Redis on the
 *    others), over the measured window: the swarm's CPU, and its own count
 *    of event-loop time spent exporting (tracker_slot_chunk_seconds_total);
 *    a pass also spends CPU in the Redis client, so the export time is
 *    scaled by what a whole pass costs per second of export, measured in
 *    isolation in part 1 (CPU of the shutdown pass / its export time). The
 *    generator refreshes every peer far faster than real clients, so every
 *    slot is rewritten at every pass: a pessimistic case. The same runs
 *    without snapshots give the side-by-side CPU per reply too; on a shared
 *    machine it moves by more than the snapshots cost, so the share is the
 *    figure to read.
 *
 *   npm run bench:snapshots [-- --peers 1000000 --rounds 2 --duration 60 --warmup 10 --skip-load]
 *
 * Needs redis-server (scripts/install-test-deps.sh). Writes bench/results/snapshots.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../lib/runtime/config.js';
import { Failures } from '../lib/runtime/failures.js';
import { createLogger } from '../lib/runtime/logger.js';
import { AnnounceEvent } from '../lib/tracker/events.js';
import type { AnnounceRequest } from '../lib/tracker/announce.js';
import { RedisSnapshotBackend } from '../services/swarm/snapshot/redis-backend.js';
import { createRedisClient, redisClientPlan } from '../services/swarm/snapshot/redis-client.js';
import { SnapshotScheduler } from '../services/swarm/snapshot/scheduler.js';
import { EVERY_SLOT, SwarmSlotSource } from '../services/swarm/snapshot/swarm-slot-source.js';
import { Swarm } from '../services/swarm/swarm.js';
import { startRedisServer } from '../tests/support/redis-server.js';
import { parseRunArgs } from './loadtest/options.js';
import { runLoadtest } from './loadtest/runner.js';
import { benchHash, benchSwarm } from './swarm-fixture.js';

const MAIN = fileURLToPath(new URL('../services/tracker/main.js', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const CLOCK_TICKS = 100; // USER_HZ on Linux

/**
 * The generator is a few loopback addresses standing for many clients: the
 * per-address limits would measure it instead of the tracker.
 */
const LIFTED = ['--store.newTorrentsPerSecond=0', '--store.maxPeersPerAddressPerTorrent=1024', '--store.maxPeersPerAddressPerReply=1000', '--http.maxConnectionsPerAddress=1000000'];

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
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function metrics(port: number): Promise<string> {
  return fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
}

function metric(text: string, name: string, labels = ''): number {
  const m = new RegExp(`^${name}${labels ? `\\{${labels}\\}` : '(?:\\{[^}]*\\})?'} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Tracker processes on the last CPU, this process (the generator, Redis) on the others. */
const TRACKER_CPUS = ((): string => {
  const n = cpus().length;
  if (n < 2) return '';
  const others = Array.from({ length: n - 1 }, (_, i) => i).join(',');
  return spawnSync('taskset', ['-a', '-p', '-c', others, String(process.pid)], { stdio: 'ignore' }).status === 0 ? String(n - 1) : '';
})();

function start(args: string[]): ChildProcess {
  const command = [process.execPath, MAIN, ...args, '--log.level=warn', ...LIFTED];
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
          setTimeout(() => c.kill('SIGKILL'), 20_000).unref();
        }),
    ),
  );
}

/** Milliseconds from now until /readyz answers 200 (bounded). */
async function msUntilReady(metricsPort: number, child: ChildProcess, timeoutMs = 180_000): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (child.exitCode !== null) throw new Error(`the process exited (${child.exitCode}) before it was ready`);
    const ok = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then((r) => r.ok, () => false);
    if (ok) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`not ready within ${timeoutMs} ms`);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// ---------------------------------------------------------------- 1. restore

/** A swarm in this process holding `peers` IPv4 peers, ~12 per torrent, last seen now. */
function filledSwarm(peers: number): Swarm {
  const swarm = benchSwarm();
  const torrents = Math.max(1, Math.round(peers / 12));
  const hashes = Array.from({ length: torrents }, (_, k) => benchHash(k));
  const now = Date.now() / 1000;
  for (let i = 0; i < peers; i++) {
    const r: AnnounceRequest = {
      type: 'announce',
      infoHash: hashes[i % torrents],
      peerId: '-BN0001-000000000000',
      endpoint: Uint8Array.of(10, (i >>> 16) & 0xff, (i >>> 8) & 0xff, i & 0xff, 0x1a, 0xe1),
      event: i % 7 === 0 ? AnnounceEvent.Completed : AnnounceEvent.None,
      left: i % 3 === 0 ? 0 : 100,
      numwant: 1,
    };
    swarm.peers.announce(r, now);
  }
  return swarm;
}

interface RestoreRound {
  readyMs: number;
  baselineMs: number;
  restoredPeers: number;
  restoreSeconds: number;
  rssMb: number;
  /** CPU seconds of the process when it was ready. */
  cpu: number;
  baselineCpu: number;
}

/** CPU of a whole pass per second of its export, from the isolated shutdown pass (part 1). */
let passCpuPerExportSecond = NaN;

async function restoreBench(redisUrl: string, peers: number, rounds: number, out: string[]): Promise<void> {
  const fillStart = performance.now();
  const swarm = filledSwarm(peers);
  process.stderr.write(`filled ${peers} peers in ${Math.round(performance.now() - fillStart)} ms\n`);
  const logger = createLogger({ level: 'error' });
  const failures = new Failures(logger);
  const client = createRedisClient(redisClientPlan({ ...defaultConfig().snapshot, redisUrl }));
  const backend = new RedisSnapshotBackend(client, { keyPrefix: 'bench:', failures: failures.for('redis') });
  await backend.waitReady(10_000);
  const scheduler = new SnapshotScheduler(new SwarmSlotSource(swarm.slots, swarm.changes, EVERY_SLOT), backend, {
    intervalMs: 3_600_000,
    ttlSeconds: 3600,
    maxBytesInFlight: 8 * 1024 * 1024,
    budgetMs: 4,
    restoreDeadlineMs: 60_000,
    shutdownDeadlineMs: 120_000,
    failures: failures.for('snapshot'),
  });
  const cpu0 = process.cpuUsage();
  const export0 = swarm.slots.stats.exportSeconds;
  const wrote = await scheduler.stop();
  const cpu = process.cpuUsage(cpu0);
  const exportSeconds = swarm.slots.stats.exportSeconds - export0;
  await backend.close();
  if (!wrote?.complete) throw new Error(`the snapshot write did not complete: ${JSON.stringify(wrote)}`);
  const writeCpu = (cpu.user + cpu.system) / 1e6;
  passCpuPerExportSecond = writeCpu / exportSeconds;
  process.stderr.write(`wrote ${wrote.set} slots, ${wrote.bytes} bytes in ${wrote.seconds.toFixed(2)} s (${writeCpu.toFixed(2)} s CPU)\n`);

  const results: RestoreRound[] = [];
  for (let round = 0; round < rounds; round++) {
    const r: Partial<RestoreRound> = {};
    for (const prefix of ['empty:', 'bench:']) {
      const [grpc, metricsPort] = await Promise.all([freePort(), freePort()]);
      const child = start([
        'swarm',
        '--node.name=bench-swarm',
        '--swarm.grpcHost=127.0.0.1',
        `--swarm.grpcPort=${grpc}`,
        `--metrics.port=${metricsPort}`,
        `--snapshot.redisUrl=${redisUrl}`,
        `--snapshot.keyPrefix=${prefix}`,
        '--snapshot.restoreDeadlineSeconds=120',
      ]);
      try {
        const ms = await msUntilReady(metricsPort, child);
        if (prefix === 'empty:') {
          r.baselineMs = ms;
          r.baselineCpu = cpuSeconds(child.pid!);
        } else {
          r.cpu = cpuSeconds(child.pid!);
          const text = await metrics(metricsPort);
          r.readyMs = ms;
          r.restoredPeers = metric(text, 'tracker_snapshot_restored_peers_total');
          r.restoreSeconds = metric(text, 'tracker_snapshot_restore_seconds');
          r.rssMb = rssMb(child.pid!);
        }
      } finally {
        await stop([child]);
      }
    }
    results.push(r as RestoreRound);
    process.stderr.write(`restore round ${round + 1}: ready in ${Math.round(r.readyMs!)} ms (nothing to restore: ${Math.round(r.baselineMs!)} ms), ${r.restoredPeers} peers restored in ${r.restoreSeconds!.toFixed(2)} s\n`);
  }
  const ready = median(results.map((r) => r.readyMs)) / 1000;
  const base = median(results.map((r) => r.baselineMs)) / 1000;
  out.push(
    `## 1. Time to ready restoring ${peers.toLocaleString('en')} peers`,
    '',
    `Snapshot: ${wrote.set.toLocaleString('en')} slots, ${(wrote.bytes / 1024 / 1024).toFixed(1)} MiB (${(wrote.bytes / peers).toFixed(1)} bytes per peer), ` +
      `written by the shutdown pass (every slot) in ${wrote.seconds.toFixed(2)} s wall, ${writeCpu.toFixed(2)} s CPU of the writing process, of which ${exportSeconds.toFixed(2)} s exporting.`,
    '',
    '| swarm process | spawn to /readyz 200 (median) | its CPU by then (median) | restore (tracker_snapshot_restore_seconds) | peers restored | RSS when ready |',
    '|---|---:|---:|---:|---:|---:|',
    `| nothing to restore | ${base.toFixed(2)} s | ${median(results.map((r) => r.baselineCpu)).toFixed(2)} s | - | - | - |`,
    `| restoring | ${ready.toFixed(2)} s | ${median(results.map((r) => r.cpu)).toFixed(2)} s | ${median(results.map((r) => r.restoreSeconds)).toFixed(2)} s | ${results[0].restoredPeers.toLocaleString('en')} | ${median(results.map((r) => r.rssMb)).toFixed(0)} MB |`,
    '',
    `Time to ready: **${ready.toFixed(2)} s** (bar <= 5 s: ${ready <= 5 ? 'met' : 'not met'}), of which the restore adds ${(ready - base).toFixed(2)} s; ` +
      `per round: ${results.map((r) => `${(r.readyMs / 1000).toFixed(2)} s`).join(', ')}.`,
    '',
  );
}

// ---------------------------------------------------------------- 2. CPU under load

interface LoadRound {
  variant: string;
  repliesPerSecond: number;
  swarmCpuPerMillion: number;
  swarmCpu: number;
  exportSeconds: number;
  exportPeers: number;
  passes: number;
}

async function loadBench(redisUrl: string, rounds: number, duration: number, warmup: number, out: string[]): Promise<void> {
  const variants: Array<{ name: string; args: string[] }> = [
    { name: 'no snapshots', args: [] },
    { name: 'snapshots every 30 s (default)', args: [`--snapshot.redisUrl=${redisUrl}`, '--snapshot.keyPrefix=load:'] },
    { name: 'snapshots every 10 s', args: [`--snapshot.redisUrl=${redisUrl}`, '--snapshot.keyPrefix=load:', '--snapshot.intervalSeconds=10'] },
  ];
  const results: LoadRound[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const [i, v] of variants.entries()) {
      // A key prefix of its own, so no run restores what an earlier one wrote.
      const variant = { ...v, args: v.args.map((a) => (a.startsWith('--snapshot.keyPrefix=') ? `--snapshot.keyPrefix=load-${round}-${i}:` : a)) };
      const [port, edgeMetrics, swarmMetrics, grpc] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
      const swarm = start(['swarm', '--node.name=swarm-0', '--swarm.grpcHost=127.0.0.1', `--swarm.grpcPort=${grpc}`, `--metrics.port=${swarmMetrics}`, ...variant.args]);
      const edge = start(['edge', '--node.name=edge-0', '--host=127.0.0.1', `--port=${port}`, `--metrics.port=${edgeMetrics}`, `--cluster.members=swarm-0=127.0.0.1:${grpc}`]);
      try {
        await msUntilReady(swarmMetrics, swarm, 30_000);
        await msUntilReady(edgeMetrics, edge, 30_000);
        const { config } = parseRunArgs(['udp', '--target', `127.0.0.1:${port}`, '--engine', 'c', '--torrents', '100000', '--duration', String(duration), '--warmup', String(warmup), '--quiet']);
        let before = 0;
        let cpu = 0;
        let m0 = '';
        let m1 = '';
        const { summary } = await runLoadtest(config, {
          onMeasureStart: () => {
            before = cpuSeconds(swarm.pid!);
            void metrics(swarmMetrics).then((t) => (m0 = t));
          },
          onMeasureEnd: () => {
            cpu = cpuSeconds(swarm.pid!) - before;
            void metrics(swarmMetrics).then((t) => (m1 = t));
          },
        });
        await new Promise((r) => setTimeout(r, 200));
        if (summary.replies === 0) throw new Error('no replies');
        const delta = (name: string, labels = ''): number => (metric(m1, name, labels) || 0) - (metric(m0, name, labels) || 0);
        const r: LoadRound = {
          variant: variant.name,
          repliesPerSecond: summary.repliesPerSecond,
          swarmCpuPerMillion: (cpu / summary.replies) * 1e6,
          swarmCpu: cpu,
          exportSeconds: delta('tracker_slot_chunk_seconds_total', 'op="export"'),
          exportPeers: delta('tracker_slot_peers_total', 'op="export",result="exported"'),
          passes: delta('tracker_snapshot_passes_total', 'result="complete"') + delta('tracker_snapshot_passes_total', 'result="incomplete"'),
        };
        results.push(r);
        process.stderr.write(
          `load round ${round + 1} ${r.variant}: ${Math.round(r.repliesPerSecond)} replies/s, swarm ${r.swarmCpu.toFixed(2)} CPU s (${r.swarmCpuPerMillion.toFixed(2)} per 1M), ${r.passes} passes exporting ${r.exportPeers} peers in ${r.exportSeconds.toFixed(2)} s\n`,
        );
      } finally {
        await stop([edge, swarm]);
      }
    }
  }
  const base = median(results.filter((r) => r.variant === variants[0].name).map((r) => r.swarmCpuPerMillion));
  out.push(
    '## 2. Swarm CPU under load',
    '',
    `UDP announces from the C generator (64 sockets x 16 in flight, 100,000 torrents, Zipf), edge + swarm, ${warmup} s warm-up, ${duration} s measured, ${rounds} rounds; ` +
      'the swarm process\'s CPU over the measured window, and its own counters of export time and peers exported (tracker_slot_chunk_seconds_total, tracker_slot_peers_total). ' +
      `Snapshot share = export time x ${passCpuPerExportSecond.toFixed(2)} (a whole pass's CPU per second of its export, part 1) / the swarm's CPU.`,
    '',
    '| swarm | replies/s (median) | swarm CPU s per 1M replies (median) | vs no snapshots (noise: see above) | passes in the window | peers exported | export time | snapshot share of the swarm\'s CPU (median) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const v of variants) {
    const rs = results.filter((r) => r.variant === v.name);
    if (rs.length === 0) continue;
    const cpu = median(rs.map((r) => r.swarmCpuPerMillion));
    out.push(
      `| ${v.name} | ${Math.round(median(rs.map((r) => r.repliesPerSecond)))} | ${cpu.toFixed(2)} | ${v === variants[0] ? '-' : `${(((cpu - base) / base) * 100).toFixed(1)}%`} | ` +
        `${median(rs.map((r) => r.passes))} | ${Math.round(median(rs.map((r) => r.exportPeers))).toLocaleString('en')} | ${median(rs.map((r) => r.exportSeconds)).toFixed(2)} s | ` +
        `${v === variants[0] ? '-' : `${(median(rs.map((r) => (r.exportSeconds * passCpuPerExportSecond) / r.swarmCpu)) * 100).toFixed(1)}%`} |`,
    );
  }
  const exported = results.filter((r) => r.exportPeers > 0);
  const perMillion = exported.length > 0 ? median(exported.map((r) => (r.exportSeconds / r.exportPeers) * 1e6)) : NaN;
  out.push(
    '',
    `Export under load: ${perMillion.toFixed(2)} s of event-loop time per million peers exported; a whole pass costs ${passCpuPerExportSecond.toFixed(2)}x its export time in CPU.`,
    '',
  );
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const peers = Number(arg('peers', '1000000'));
  const rounds = Number(arg('rounds', '2'));
  // Long enough for two passes at the default interval.
  const duration = Number(arg('duration', '60'));
  const warmup = Number(arg('warmup', '10'));
  const cleanups: Array<() => unknown> = [];
  const redis = await startRedisServer({ after: (fn) => void cleanups.push(fn) }, { args: ['--maxmemory', '2gb'] });
  const out: string[] = [
    '# Redis snapshots: restore time and CPU cost',
    '',
    `${new Date().toISOString()}: ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), Node ${process.version}, 1-min load average ${loadavg()[0].toFixed(2)} at start; ` +
      `local redis-server; ${TRACKER_CPUS ? `tracker processes pinned to CPU ${TRACKER_CPUS}, this process, the generator and Redis to the others` : 'unpinned'}.`,
    '',
  ];
  try {
    await restoreBench(redis.url, peers, rounds, out);
    if (!process.argv.includes('--skip-load')) await loadBench(redis.url, rounds, duration, warmup, out);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
  process.stdout.write(out.join('\n') + '\n');
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'snapshots.md'), out.join('\n'));
  process.stderr.write(`wrote ${join(RESULTS, 'snapshots.md')}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
