/**
 * Memory benchmark of the swarm store.
 *
 *   node --expose-gc dist/bench/memory.js [--peers 1000000] [--torrents 100000]
 *        [--seed 1] [--batch 100] [--budget 5] [--numwant 50] [--flood 1000000]
 *
 * Fills a store with N announces (random IPv4 endpoints, half seeders) over T
 * torrents whose popularity is Zipf(1.0) over the torrent index, from a seeded
 * PRNG; forces GC and reports the RSS and heap growth per stored peer. Then it
 * times one full sweep that finds nothing to expire, and one full expiry sweep
 * (the injected clock jumps past the peer timeout) in steps of `--budget` ms,
 * with the largest single step. Last, a flood: `--flood` one-peer torrents
 * expire at once and the swarm's sweeper, on the event loop's real timers
 * with the default schedule (store.sweepIntervalMs, store.sweepBudgetMs), frees them: once
 * with one step per interval (for FLOOD_WINDOW_MS at most) and once adaptive
 * (steps chained up to 50% of each interval); torrents freed per second,
 * counted from the sweeper's start. `--flood 0` skips it. Prints a table and
 * one JSON line.
 */
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { defaultConfig } from '../lib/runtime/config.js';
import { Failures } from '../lib/runtime/failures.js';
import { createLogger } from '../lib/runtime/logger.js';
import { AnnounceEvent } from '../lib/tracker/events.js';
import type { AnnounceRequest } from '../lib/tracker/announce.js';
import { SwarmStore, type StoreConfig } from '../services/swarm/store/swarm-store.js';
import { WebTorrentSwarms } from '../services/swarm/store/webtorrent-swarms.js';
import { Swarm } from '../services/swarm/swarm.js';
import { mulberry32 as prng } from '../tests/support/seeded-random.js';
import { benchHash } from './swarm-fixture.js';

interface Args {
  peers: number;
  torrents: number;
  seed: number;
  batch: number;
  budget: number;
  numwant: number;
  flood: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { peers: 1_000_000, torrents: 100_000, seed: 1, batch: 100, budget: 5, numwant: 50, flood: 1_000_000 };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(peers|torrents|seed|batch|budget|numwant|flood)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unknown argument ${argv[i]}`);
    const v = Number(m[2] ?? argv[++i]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`bad value for --${m[1]}`);
    a[m[1] as keyof Args] = v;
  }
  return a;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with: node --expose-gc bench/memory.js');
  process.exit(2);
}

interface Snapshot {
  mem: NodeJS.MemoryUsage;
  /** Committed size of V8's young generation (new space). */
  youngGen: number;
}

function settle(): Snapshot {
  for (let i = 0; i < 4; i++) gc!();
  const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  return { mem: process.memoryUsage(), youngGen: young ? young.space_size : 0 };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rnd = prng(args.seed);
  const T = Math.max(1, Math.floor(args.torrents));
  const N = Math.floor(args.peers);

  // Zipf(1.0) CDF over the torrent index (allocated before the baseline).
  const cdf = new Float64Array(T);
  let acc = 0;
  for (let k = 0; k < T; k++) cdf[k] = acc += 1 / (k + 1);
  for (let k = 0; k < T; k++) cdf[k] /= acc;
  const pick = (): number => {
    const u = rnd();
    let lo = 0;
    let hi = T - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const config: StoreConfig = {
    intervalSeconds: 1800,
    minIntervalSeconds: 900,
    intervalJitterSeconds: 60,
    numwantDefault: 50,
    numwantMax: 200,
    peerTimeoutSeconds: 3600,
    // Limits at their defaults (random addresses never reach the per-address ones).
    maxTorrents: 10_000_000,
    maxPeers: 50_000_000,
    maxPeersPerAddressPerTorrent: 32,
    maxPeersPerAddressPerReply: 8,
  };
  const clock = { t: 1_700_000_000 };
  const batch: AnnounceRequest[] = [];

  const before = settle();
  const store = new SwarmStore(config, { now: () => clock.t, random: prng(args.seed + 1) });

  const t0 = performance.now();
  let returned = 0;
  for (let i = 0; i < N; i++) {
    const ep = new Uint8Array(6);
    const a = (rnd() * 4294967296) >>> 0;
    ep[0] = a >>> 24;
    ep[1] = a >>> 16;
    ep[2] = a >>> 8;
    ep[3] = a;
    const port = 1024 + Math.floor(rnd() * 64000);
    ep[4] = port >>> 8;
    ep[5] = port;
    batch.push({
      type: 'announce',
      infoHash: benchHash(pick()),
      peerId: '-BM0001-000000000000',
      endpoint: ep,
      event: AnnounceEvent.Started,
      left: rnd() < 0.5 ? 0 : 1000,
      numwant: args.numwant,
    });
    if (batch.length >= args.batch || i === N - 1) {
      const replies = store.handle(batch);
      for (const r of replies) if (r.type === 'announce') returned += r.peers.length / 6;
      batch.length = 0;
    }
  }
  const fillMs = performance.now() - t0;

  const after = settle();
  const st = store.stats();
  const peers = st.peers.v4.seeders + st.peers.v4.leechers + st.peers.v6.seeders + st.peers.v6.leechers;
  const per = (x: number): number => (peers > 0 ? x / peers : 0);
  const rssDelta = after.mem.rss - before.mem.rss;
  const heapDelta = after.mem.heapUsed - before.mem.heapUsed;
  const bufDelta = after.mem.arrayBuffers - before.mem.arrayBuffers;
  const youngDelta = after.youngGen - before.youngGen;
  const storage = store.storageBytes();

  // A full pass with nothing expired: the steady-state cost of scanning.
  const scan = sweepAll(store, args.budget);
  // Every peer expired.
  clock.t += config.peerTimeoutSeconds + 1;
  const expiry = sweepAll(store, args.budget);
  const leftAfter = store.stats();

  const result = {
    bench: 'store-memory',
    node: process.version,
    peersRequested: N,
    peers,
    torrents: st.torrents,
    torrentsConfigured: T,
    fillMs: round(fillMs),
    announcesPerSec: Math.round(N / (fillMs / 1000)),
    avgPeersReturned: round(returned / Math.max(1, N)),
    rssBytesPerPeer: round(per(rssDelta)),
    youngGenGrowthMB: round(youngDelta / 2 ** 20),
    rssBytesPerPeerExclYoungGen: round(per(rssDelta - youngDelta)),
    heapBytesPerPeer: round(per(heapDelta)),
    arrayBufferBytesPerPeer: round(per(bufDelta)),
    recordBytesPerPeer: round(per(storage.records)),
    recordReservedBytesPerPeer: round(per(storage.recordsReserved)),
    indexBytesPerPeer: round(per(storage.indexes)),
    torrentRowBytesPerPeer: round(per(storage.torrents)),
    rssDeltaMB: round(rssDelta / 2 ** 20),
    scanSweepMs: round(scan.totalMs),
    scanSweepSteps: scan.steps,
    scanSweepMaxStepMs: round(scan.maxStepMs),
    scanSweepMaxStepCpuMs: round(scan.maxStepCpuMs),
    expirySweepMs: round(expiry.totalMs),
    expirySweepSteps: expiry.steps,
    expirySweepMaxStepMs: round(expiry.maxStepMs),
    expirySweepMaxStepCpuMs: round(expiry.maxStepCpuMs),
    expiryRemoved: expiry.removed,
    sweepBudgetMs: args.budget,
    torrentsAfterExpiry: leftAfter.torrents,
    floodTorrents: 0,
    floodFreedPerSecOneStep: 0,
    floodFreedPerSecAdaptive: 0,
    floodAdaptiveSeconds: 0,
    floodAdaptiveFreed: 0,
  };
  if (args.flood > 0) {
    const one = await floodExpiry(config, args.flood, 0);
    const adaptive = await floodExpiry(config, args.flood, 50);
    result.floodTorrents = args.flood;
    result.floodFreedPerSecOneStep = Math.round(one.freed / one.seconds);
    result.floodFreedPerSecAdaptive = Math.round(adaptive.freed / adaptive.seconds);
    result.floodAdaptiveSeconds = round(adaptive.seconds);
    result.floodAdaptiveFreed = adaptive.freed;
  }

  const rows: [string, string][] = [
    ['peers stored / torrents', `${peers} / ${st.torrents} (of ${T})`],
    ['fill', `${result.fillMs} ms, ${result.announcesPerSec} announces/s, ${result.avgPeersReturned} peers/reply`],
    ['RSS delta', `${result.rssDeltaMB} MB = ${result.rssBytesPerPeer} B/peer`],
    ['  of which V8 young gen', `${result.youngGenGrowthMB} MB (fixed cost of allocation churn, not per peer)`],
    ['RSS delta excl. young gen', `${result.rssBytesPerPeerExclYoungGen} B/peer`],
    ['heap delta', `${result.heapBytesPerPeer} B/peer`],
    ['ArrayBuffer delta', `${result.arrayBufferBytesPerPeer} B/peer`],
    ['records (live / reserved)', `${result.recordBytesPerPeer} / ${result.recordReservedBytesPerPeer} B/peer`],
    ['hash indexes', `${result.indexBytesPerPeer} B/peer`],
    ['torrent table + rows', `${result.torrentRowBytesPerPeer} B/peer`],
    ['sweep, nothing expired', `${result.scanSweepMs} ms in ${scan.steps} steps, max step ${result.scanSweepMaxStepMs} ms wall / ${result.scanSweepMaxStepCpuMs} ms CPU`],
    ['sweep, all expired', `${result.expirySweepMs} ms in ${expiry.steps} steps, max step ${result.expirySweepMaxStepMs} ms wall / ${result.expirySweepMaxStepCpuMs} ms CPU (budget ${args.budget} ms)`],
    ['left after expiry', `${leftAfter.torrents} torrents`],
  ];
  if (args.flood > 0) {
    rows.push(
      ['flood expiry, one step/interval', `${result.floodFreedPerSecOneStep} torrents freed/s`],
      ['flood expiry, adaptive', `${result.floodFreedPerSecAdaptive} torrents freed/s (${result.floodAdaptiveFreed} of ${args.flood} in ${result.floodAdaptiveSeconds} s)`],
    );
  }
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
  console.log(JSON.stringify(result));
}

interface SweepTiming {
  totalMs: number;
  steps: number;
  /** Largest wall-clock time of one step (includes preemption by other processes). */
  maxStepMs: number;
  /** Largest process CPU time of one step (unaffected by preemption). */
  maxStepCpuMs: number;
  removed: number;
}

function sweepAll(store: SwarmStore, budget: number): SweepTiming {
  let steps = 0;
  let maxStepMs = 0;
  let maxStepCpuMs = 0;
  let totalMs = 0;
  let removed = 0;
  for (;;) {
    const c = process.cpuUsage();
    const t = performance.now();
    const r = store.sweepStep(budget);
    const d = performance.now() - t;
    const cu = process.cpuUsage(c);
    const cpu = (cu.user + cu.system) / 1000;
    if (cpu > maxStepCpuMs) maxStepCpuMs = cpu;
    totalMs += d;
    if (d > maxStepMs) maxStepMs = d;
    steps++;
    removed += r.removed;
    if (r.done) break;
  }
  return { totalMs, steps, maxStepMs, maxStepCpuMs, removed };
}

/** How long the one-step-per-interval flood run may take; its rate is what it freed by then. */
const FLOOD_WINDOW_MS = 10_000;

/**
 * `torrents` one-peer torrents expire together; the swarm's sweeper frees
 * them on real timers with the default interval and budget. Returns what it
 * freed and the seconds since the sweeper started (all freed, or the window).
 */
async function floodExpiry(config: StoreConfig, torrents: number, maxDutyPercent: number): Promise<{ freed: number; seconds: number }> {
  const clock = { t: 1_700_000_000 };
  const store = new SwarmStore(config, { now: () => clock.t });
  const ep = new Uint8Array(6);
  for (let i = 0; i < torrents; i++) {
    ep[0] = 10;
    ep[1] = i >>> 16;
    ep[2] = i >>> 8;
    ep[3] = i;
    ep[4] = 0x1a;
    ep[5] = 0xe1;
    store.announce({ type: 'announce', infoHash: benchHash(i), peerId: '-BM0001-000000000000', endpoint: ep, event: AnnounceEvent.Started, left: 1, numwant: 0 }, clock.t);
  }
  clock.t += config.peerTimeoutSeconds + 1;
  const webtorrent = new WebTorrentSwarms({ intervalSeconds: 120, peerTimeoutSeconds: 300, offerTtlSeconds: 60, maxPendingOffers: 1000 });
  const failures = new Failures(createLogger({ level: 'error' })).for('bench');
  const swarm = new Swarm(store, webtorrent, { now: () => clock.t, failures });
  const start = performance.now();
  const defaults = defaultConfig().store;
  swarm.startSweeper({ intervalMs: defaults.sweepIntervalMs, budgetMs: defaults.sweepBudgetMs, maxDutyPercent });
  while (store.stats().torrents > 0 && performance.now() - start < FLOOD_WINDOW_MS) await new Promise((r) => setTimeout(r, 20));
  const seconds = (performance.now() - start) / 1000;
  swarm.stopSweeper();
  return { freed: torrents - store.stats().torrents, seconds };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

await main();
