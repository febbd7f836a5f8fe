/**
 * What slot handoff costs and whether it keeps every peer, with real
 * processes (tests/support/cluster.ts: swarms and an edge on a members file):
 *
 * 1. Handoff time for a quarter of N peers (default 1,000,000): three
 *    swarms hold N peers (restored from a local redis-server, written once
 *    by this process, so loading is quick); a fourth swarm starts and pulls
 *    the slots it will own (~N/4 peers) before it reports ready: its time
 *    to ready against a swarm started the same way with handoff off
 *    (cluster.handoffDeadlineSeconds=0, nothing to pull), rounds
 *    alternating; then it is listed (the old owners push what changed since
 *    its pull, nothing here, and drop the slots), and then it is marked
 *    draining (it pushes its ~N/4 peers back: 4 -> 3). The swarms' own
 *    timings (tracker_handoff_last_seconds) and CPU are reported.
 * 2. 3 -> 4 -> 3 under load: HTTP announces from the C generator
 *    (keep-alive, closed loop) through the edge while a swarm is added and
 *    another removed inside the measured window: requests failed (error
 *    replies, timeouts, socket errors; bar 0), then every one of the N
 *    peers checked by a fresh announce of each torrent (bar 100% kept).
 *
 *   npm run bench:handoff [-- --peers 1000000 --rounds 2 --duration 60]
 *
 * Needs redis-server (scripts/install-test-deps.sh). Writes bench/results/handoff.md.
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../lib/runtime/config.js';
import { Failures } from '../lib/runtime/failures.js';
import { createLogger } from '../lib/runtime/logger.js';
import { type AnnounceRequest } from '../lib/tracker/announce.js';
import { AnnounceEvent } from '../lib/tracker/events.js';
import { buildAnnounceQuery, parseAnnounceReply } from '../lib/protocol/http/client.js';
import { RedisSnapshotBackend } from '../services/swarm/snapshot/redis-backend.js';
import { createRedisClient, redisClientPlan } from '../services/swarm/snapshot/redis-client.js';
import { SnapshotScheduler } from '../services/swarm/snapshot/scheduler.js';
import { EVERY_SLOT, SwarmSlotSource } from '../services/swarm/snapshot/swarm-slot-source.js';
import { metricIn, metricSum, startCluster, type Cluster, type ClusterNode } from '../tests/support/cluster.js';
import { RawHttpConnection, decodeCompactPeers, endpointKey } from '../tests/support/integration-helpers.js';
import { startRedisServer } from '../tests/support/redis-server.js';
import { DEFAULT_MODEL, describePeerPool } from './loadtest/model.js';
import { parseRunArgs } from './loadtest/options.js';
import { runLoadtest } from './loadtest/runner.js';
import { benchHash, benchSwarm } from './swarm-fixture.js';

const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const CLOCK_TICKS = 100; // USER_HZ on Linux
const KEY_PREFIX = 'handoff-bench:';
const PEERS_PER_TORRENT = 12;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

// ---------------------------------------------------------------- the peers

/** Peer i: 10.a.b.c:6881, in torrent i % torrents. */
const peerKey = (i: number): string => `10.${(i >>> 16) & 0xff}.${(i >>> 8) & 0xff}.${i & 0xff}|6881`;

/** Writes N peers (torrents of PEERS_PER_TORRENT) to Redis as slot snapshots, as a swarm's shutdown pass would. */
async function writeSnapshot(redisUrl: string, peers: number): Promise<void> {
  const swarm = benchSwarm();
  const torrents = Math.ceil(peers / PEERS_PER_TORRENT);
  const hashes = Array.from({ length: torrents }, (_, k) => benchHash(k));
  const now = Date.now() / 1000;
  for (let i = 0; i < peers; i++) {
    const r: AnnounceRequest = {
      type: 'announce',
      infoHash: hashes[i % torrents],
      peerId: '-BH0001-000000000000',
      endpoint: Uint8Array.of(10, (i >>> 16) & 0xff, (i >>> 8) & 0xff, i & 0xff, 0x1a, 0xe1),
      event: i % 7 === 0 ? AnnounceEvent.Completed : AnnounceEvent.None,
      left: i % 3 === 0 ? 0 : 100,
      numwant: 1,
    };
    swarm.peers.announce(r, now);
  }
  const failures = new Failures(createLogger({ level: 'error' }));
  const client = createRedisClient(redisClientPlan({ ...defaultConfig().snapshot, redisUrl }));
  const backend = new RedisSnapshotBackend(client, { keyPrefix: KEY_PREFIX, failures: failures.for('redis') });
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
  const wrote = await scheduler.stop();
  await backend.close();
  if (!wrote?.complete) throw new Error(`the snapshot write did not complete: ${JSON.stringify(wrote)}`);
}

/**
 * Announces once in every torrent of the set through the edge (keep-alive
 * connections) and counts the set's peers each reply misses. The checker
 * (127.0.0.1:9) stays in each torrent, as any announcer does.
 */
async function missingPeers(port: number, peers: number, connections = 16): Promise<{ checked: number; missing: number; failed: number }> {
  const torrents = Math.ceil(peers / PEERS_PER_TORRENT);
  let next = 0;
  const out = { checked: 0, missing: 0, failed: 0 };
  const worker = async (): Promise<void> => {
    const conn = await RawHttpConnection.open('127.0.0.1', port, 10_000);
    try {
      for (let k = next++; k < torrents; k = next++) {
        const query = buildAnnounceQuery({ peerId: '-CK0001-000000000000', infoHash: benchHash(k), port: 9, left: 1, numwant: 200 });
        const res = await conn.get(`/announce?${query}`, {}, 10_000);
        const reply = parseAnnounceReply(res.body);
        if (reply.type !== 'announce') {
          out.failed++;
          continue;
        }
        const got = new Set(decodeCompactPeers(reply.peers, 6).map(endpointKey));
        for (let i = k; i < peers; i += torrents) {
          out.checked++;
          if (!got.has(peerKey(i))) out.missing++;
        }
      }
    } finally {
      conn.close();
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  return out;
}

async function totalPeers(cluster: Cluster): Promise<number> {
  let n = 0;
  for (const s of cluster.swarms.filter((x) => x.running())) n += metricSum(await s.metrics(), 'tracker_peers');
  return n;
}

const metric = async (node: ClusterNode, name: string, labels: Record<string, string> = {}): Promise<number> => metricIn(await node.metrics(), name, labels) ?? 0;

/** Spawns `name` (not listed) and returns ms from spawn to /readyz 200 and its CPU seconds by then. */
async function launchTimed(cluster: Cluster, name: string): Promise<{ node: ClusterNode; readyMs: number; cpu: number }> {
  const started = performance.now();
  const node = await cluster.launchSwarm(name);
  return { node, readyMs: performance.now() - started, cpu: cpuSeconds(node.pid) };
}

// ---------------------------------------------------------------- 1. handoff time

interface Round {
  baselineMs: number;
  baselineCpu: number;
  joinMs: number;
  joinCpu: number;
  joinSeconds: number;
  pulledPeers: number;
  switchSeconds: number;
  unchangedSlots: number;
  pushedSlots: number;
  leaveWallMs: number;
  leaveSeconds: number;
  leaveCpu: number;
  pushedPeers: number;
}

async function handoffRounds(cluster: Cluster, peers: number, rounds: number, out: string[]): Promise<void> {
  const results: Round[] = [];
  const ready = [...cluster.members];
  for (let r = 0; r < rounds; r++) {
    const base = await launchTimed(cluster, `base-${r}`);
    await cluster.removeSwarm(base.node.name);

    // The old owners' counters are cumulative: each round reports its own part.
    const slotCounts = async (op: string): Promise<number[]> => Promise.all(ready.map((name) => metric(cluster.swarm(name), 'tracker_handoff_slots_total', { op })));
    const [unchangedBefore, pushedBefore] = [await slotCounts('unchanged'), await slotCounts('pushed')];
    const join = await launchTimed(cluster, `join-${r}`);
    const j = join.node;
    const round: Partial<Round> = { baselineMs: base.readyMs, baselineCpu: base.cpu, joinMs: join.readyMs, joinCpu: join.cpu };
    round.joinSeconds = await metric(j, 'tracker_handoff_last_seconds', { kind: 'join' });
    round.pulledPeers = await metric(j, 'tracker_handoff_peers_total', { op: 'pulled' });

    // Listed: the old owners push what changed since the pull (nothing) and drop the slots.
    cluster.setMembers([...ready, j.name]);
    await cluster.waitTable();
    await cluster.waitHandoffs(120_000);
    const olds = ready.map((name) => cluster.swarm(name));
    round.switchSeconds = Math.max(...(await Promise.all(olds.map((o) => metric(o, 'tracker_handoff_last_seconds', { kind: 'rebalance' })))));
    const sumSince = (now: number[], before: number[]): number => now.reduce((n, x, i) => n + x - before[i], 0);
    round.unchangedSlots = sumSince(await slotCounts('unchanged'), unchangedBefore);
    round.pushedSlots = sumSince(await slotCounts('pushed'), pushedBefore);
    const afterJoin = await totalPeers(cluster);
    if (afterJoin !== peers) throw new Error(`after the join the swarms hold ${afterJoin} peers, not ${peers}`);

    // 4 -> 3: it pushes its quarter back.
    const cpu0 = cpuSeconds(j.pid);
    const t0 = performance.now();
    cluster.setMembers(ready, [j.name]);
    await cluster.waitTable();
    await cluster.waitHandoffs(120_000);
    round.leaveWallMs = performance.now() - t0;
    round.leaveCpu = cpuSeconds(j.pid) - cpu0;
    round.leaveSeconds = await metric(j, 'tracker_handoff_last_seconds', { kind: 'rebalance' });
    round.pushedPeers = await metric(j, 'tracker_handoff_peers_total', { op: 'pushed' });
    await cluster.removeSwarm(j.name);
    const afterLeave = await totalPeers(cluster);
    if (afterLeave !== peers) throw new Error(`after the leave the swarms hold ${afterLeave} peers, not ${peers}`);
    results.push(round as Round);
    process.stderr.write(`round ${r + 1}: ready in ${Math.round(round.joinMs!)} ms pulling ${round.pulledPeers} peers (no handoff: ${Math.round(round.baselineMs!)} ms); leave pushed ${round.pushedPeers} in ${round.leaveSeconds!.toFixed(2)} s\n`);
  }
  const m = (f: (r: Round) => number): number => median(results.map(f));
  out.push(
    `## 1. Handoff time for a quarter of ${peers.toLocaleString('en')} peers (3 -> 4 -> 3 swarms)`,
    '',
    `Three swarms hold ${peers.toLocaleString('en')} peers (${PEERS_PER_TORRENT} per torrent, restored from Redis). A fourth starts unlisted and pulls the slots it will own before it reports ready; ` +
      'the baseline is the same start with handoff off (nothing to pull). Then it is listed (its old owners push what changed since its pull and drop the slots), then marked draining (it pushes everything back). ' +
      `${rounds} rounds, medians; CPU is the process's own (user + system).`,
    '',
    '| step | wall | swarm-measured | CPU | peers |',
    '|---|---:|---:|---:|---:|',
    `| start to ready, handoff off (baseline) | ${(m((r) => r.baselineMs) / 1000).toFixed(2)} s | - | ${m((r) => r.baselineCpu).toFixed(2)} s | 0 |`,
    `| start to ready, pulling its slots (3 -> 4) | ${(m((r) => r.joinMs) / 1000).toFixed(2)} s | ${m((r) => r.joinSeconds).toFixed(2)} s (join) | ${m((r) => r.joinCpu).toFixed(2)} s | ${Math.round(m((r) => r.pulledPeers)).toLocaleString('en')} pulled |`,
    `| listed: old owners push what changed since the pull, drop the rest | - | ${m((r) => r.switchSeconds).toFixed(2)} s (slowest owner) | - | ${Math.round(m((r) => r.pushedSlots))} slots pushed, ${Math.round(m((r) => r.unchangedSlots)).toLocaleString('en')} left out (unchanged) |`,
    `| marked draining: it pushes everything back (4 -> 3) | ${(m((r) => r.leaveWallMs) / 1000).toFixed(2)} s | ${m((r) => r.leaveSeconds).toFixed(2)} s (rebalance) | ${m((r) => r.leaveCpu).toFixed(2)} s | ${Math.round(m((r) => r.pushedPeers)).toLocaleString('en')} pushed |`,
    '',
    `The pull adds ${((m((r) => r.joinMs) - m((r) => r.baselineMs)) / 1000).toFixed(2)} s to a swarm's start for ${Math.round(m((r) => r.pulledPeers)).toLocaleString('en')} peers; ` +
      `per round: ${results.map((r) => `${(r.joinMs / 1000).toFixed(2)} s vs ${(r.baselineMs / 1000).toFixed(2)} s`).join(', ')}. After every step the swarms held exactly ${peers.toLocaleString('en')} peers (none lost, none twice).`,
    '',
  );
}

// ---------------------------------------------------------------- 2. under load

async function underLoad(cluster: Cluster, peers: number, duration: number, out: string[]): Promise<void> {
  const edge = cluster.edges[0];
  const { config } = parseRunArgs([
    'http', '--target', `127.0.0.1:${edge.port}`, '--engine', 'c', '--connections', '32', '--torrents', '100000',
    '--duration', String(duration), '--warmup', '5', '--timeout', '5000', '--quiet',
  ]);
  const steps: string[] = [];
  let rescale: Promise<void> = Promise.resolve();
  const started = performance.now();
  const at = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  const { summary, errorMessages } = await runLoadtest(config, {
    onMeasureStart: () => {
      rescale = (async () => {
        await sleep(3000);
        steps.push(`${at()}: adding swarm-3`);
        await cluster.addSwarm('swarm-3');
        await cluster.waitHandoffs(120_000);
        steps.push(`${at()}: swarm-3 added and handed its slots`);
        await sleep(3000);
        steps.push(`${at()}: removing swarm-0`);
        await cluster.removeSwarm('swarm-0');
        await cluster.waitHandoffs(120_000);
        steps.push(`${at()}: swarm-0 removed, its slots handed off`);
      })();
    },
  });
  await rescale;
  const c = summary.counters;
  const failed = c.errors + c.lost + c.socketErrors + c.invalid;
  const check = await missingPeers(edge.port, peers);
  const kept = ((check.checked - check.missing) / check.checked) * 100;
  process.stderr.write(`under load: ${failed} failed of ${c.sent}; kept ${kept.toFixed(4)}% (${check.missing} missing)\n`);
  out.push(
    '## 2. 3 -> 4 -> 3 swarms under load',
    '',
    `HTTP announces and scrapes from the C generator (32 keep-alive connections, closed loop, 100,000 torrents, Zipf; peers: ${describePeerPool(DEFAULT_MODEL)}) through one edge running with its production limits, ${duration} s measured after 5 s of warm-up; ` +
      `inside the window a swarm is added (it pulls its slots, then is listed) and another removed (marked draining: it pushes its slots; then SIGTERM). ` +
      `Then every torrent of the ${peers.toLocaleString('en')}-peer set is announced to once through the edge and its reply checked for each of its peers.`,
    '',
    `Steps: ${steps.join('; ')}.`,
    '',
    '| requests sent | replies/s | failed (error replies + timeouts + socket errors + invalid) | p99 latency | peers checked | peers missing | live peers kept |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    `| ${c.sent.toLocaleString('en')} | ${Math.round(summary.repliesPerSecond).toLocaleString('en')} | **${failed}** (bar 0: ${failed === 0 ? 'met' : 'not met'}) | ${summary.latencyMs.p99} ms | ${check.checked.toLocaleString('en')} | ${check.missing} | **${kept.toFixed(kept === 100 ? 0 : 4)}%** (bar 100%: ${check.missing === 0 && check.failed === 0 ? 'met' : 'not met'}) |`,
    '',
    ...(Object.keys(errorMessages).length > 0 ? [`Error replies: ${JSON.stringify(errorMessages)}`, ''] : []),
  );
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const peers = Number(arg('peers', '1000000'));
  const rounds = Number(arg('rounds', '2'));
  const duration = Number(arg('duration', '60'));
  const cleanups: Array<() => unknown> = [];
  const scope = { after: (fn: () => unknown) => void cleanups.push(fn) };
  const out: string[] = [
    '# Slot handoff: time and peers kept',
    '',
    `${new Date().toISOString()}: ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), Node ${process.version}, 1-min load average ${loadavg()[0].toFixed(2)} at start; ` +
      'swarms and the edge are separate processes on loopback (tests/support/cluster.ts), no CPU pinning; no Redis in the handoffs (it only loads the first three swarms).',
    '',
  ];
  try {
    const redis = await startRedisServer(scope, { args: ['--maxmemory', '2gb'] });
    const fill = performance.now();
    await writeSnapshot(redis.url, peers);
    process.stderr.write(`wrote ${peers} peers to Redis in ${Math.round(performance.now() - fill)} ms\n`);
    const cluster = await startCluster(scope, {
      swarms: 3,
      edges: 1,
      logLevel: 'warn',
      readyTimeoutMs: 180_000,
      // The first three restore the set; swarms added later start empty and get their slots by handoff only.
      nodeArgs: (name, role) =>
        role === 'swarm' && /^swarm-[012]$/.test(name)
          ? [`--snapshot.redisUrl=${redis.url}`, `--snapshot.keyPrefix=${KEY_PREFIX}`, '--snapshot.intervalSeconds=3600', '--snapshot.restoreDeadlineSeconds=120', '--snapshot.shutdownDeadlineSeconds=60']
          : name.startsWith('base-')
            ? ['--cluster.handoffDeadlineSeconds=0']
            : [],
    });
    const held = await totalPeers(cluster);
    if (held !== peers) throw new Error(`the swarms restored ${held} peers, not ${peers}`);
    await handoffRounds(cluster, peers, rounds, out);
    if (!process.argv.includes('--skip-load')) await underLoad(cluster, peers, duration, out);
    await cluster.stop();
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
  process.stdout.write(out.join('\n') + '\n');
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'handoff.md'), out.join('\n'));
  process.stderr.write(`wrote ${join(RESULTS, 'handoff.md')}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
