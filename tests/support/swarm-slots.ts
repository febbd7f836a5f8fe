/**
 * Test support for slot export/import: swarms on an injected clock, random
 * swarm state from a seeded PRNG, and a dump of everything a swarm holds
 * for a set of info-hashes, read through the stores' diagnostics (not
 * through the export being tested).
 */
import { AnnounceEvent } from '../../lib/tracker/events.js';
import type { SocketRef } from '../../lib/tracker/webtorrent.js';
import type { PrivateAccounting } from '../../services/swarm/accounting/private-announce.js';
import type { SnapshotBackend } from '../../services/swarm/snapshot/backend.js';
import { SnapshotScheduler } from '../../services/swarm/snapshot/scheduler.js';
import { EVERY_SLOT, SwarmSlotSource, type SlotOwnership } from '../../services/swarm/snapshot/swarm-slot-source.js';
import { SlotChanges } from '../../services/swarm/store/slot-changes.js';
import { SwarmStore, type StoreConfig, type StoreOptions } from '../../services/swarm/store/swarm-store.js';
import { WebTorrentSwarms, type WebTorrentConfig, type WebTorrentLimitHits } from '../../services/swarm/store/webtorrent-swarms.js';
import { Swarm } from '../../services/swarm/swarm.js';
import { int } from './seeded-random.js';
import { FakeClock, RecordingSink } from './snapshot-fakes.js';
import { CONFIG, clock, req, type TestClock } from './swarm-store.js';

export const WT_CONFIG: WebTorrentConfig = { intervalSeconds: 120, peerTimeoutSeconds: 3600, offerTtlSeconds: 60, maxPendingOffers: 1000, maxTorrents: 1e9, maxPeers: 1e9 };

/** Counts of each limit counter a test swarm was given. */
export class LimitCounts {
  readonly counts: Record<string, number> = {};
  counter(name: string): { inc(by?: number): void } {
    this.counts[name] = 0;
    return { inc: (by = 1) => void (this.counts[name] += by) };
  }
}

export interface TestSwarm {
  swarm: Swarm;
  clock: TestClock;
  limits: LimitCounts;
}

export interface TestSwarmOptions {
  clock?: TestClock;
  store?: Partial<StoreConfig>;
  storeOptions?: StoreOptions;
  webtorrent?: Partial<WebTorrentConfig>;
  /** Private mode: the accounting the swarm credits private announces into (and carries with its slots). */
  accounting?: PrivateAccounting;
}

/** A swarm whose stores and SlotState share one injected clock (whole seconds) and one SlotChanges. */
export function makeSwarm(options: TestSwarmOptions = {}): TestSwarm {
  const c = options.clock ?? clock();
  const limits = new LimitCounts();
  const changes = new SlotChanges();
  const store = new SwarmStore(
    { ...CONFIG, ...options.store },
    {
      now: c.now,
      random: () => 0.5,
      changes,
      limitCounters: {
        maxTorrents: limits.counter('store.maxTorrents'),
        maxPeers: limits.counter('store.maxPeers'),
        maxPeersPerAddressPerTorrent: limits.counter('store.maxPeersPerAddressPerTorrent'),
      },
      ...options.storeOptions,
    },
  );
  const hits: WebTorrentLimitHits = {
    maxTorrents: limits.counter('webtorrent.maxTorrents'),
    maxPeers: limits.counter('webtorrent.maxPeers'),
    maxPendingOffers: limits.counter('webtorrent.maxPendingOffers'),
    maxPendingOffersPerSocket: limits.counter('webtorrent.maxPendingOffersPerSocket'),
  };
  const webtorrent = new WebTorrentSwarms({ ...WT_CONFIG, ...options.webtorrent }, { changes, limitHits: hits, random: () => 0.5 });
  const swarm = new Swarm(store, webtorrent, { now: c.now, changes, accounting: options.accounting });
  return { swarm, clock: c, limits };
}

/** A 20-byte info-hash (latin1) in `slot`, distinct per `n`. */
export function hashInSlot(slot: number, n: number): string {
  let s = String.fromCharCode(slot >>> 8, slot & 0xff);
  for (let i = 2; i < 20; i++) s += String.fromCharCode((n * 131 + i * 7 + (n >>> (i % 8))) & 0xff);
  return s;
}

export const EDGES: ReadonlyArray<{ edge: string; nonce: string }> = [
  { edge: 'edge-0', nonce: 'nonce-0' },
  { edge: 'edge-1', nonce: 'nonce-1' },
];

/** The edges of EDGES connected to `swarm` (as their streams would be). */
export function connectEdges(swarm: Swarm): void {
  for (const { edge, nonce } of EDGES) swarm.edgeConnected(edge, nonce);
}

export function peerIdOf(n: number): string {
  return `-WT0001-${String(n).padStart(12, '0')}`;
}

export interface RandomFill {
  /** Info-hashes to use (several per slot make slot lists longer than one). */
  hashes: readonly string[];
  /** Announces to make. */
  ops: number;
  /** Distinct addresses per family and ports per address (overlap between swarms comes from small pools). */
  addresses?: number;
  ports?: number;
  /** WebTorrent peer ids to draw from. */
  wtPeers?: number;
}

/**
 * Announces from a seeded PRNG: IPv4, IPv6 and WebTorrent peers, leechers
 * and seeders, completed and stopped events, the clock moving forward a
 * few seconds at a time.
 */
export function fillRandom(t: TestSwarm, r: () => number, fill: RandomFill): void {
  const addresses = fill.addresses ?? 30;
  const ports = fill.ports ?? 3;
  const wtPeers = fill.wtPeers ?? 40;
  for (let i = 0; i < fill.ops; i++) {
    t.clock.t += int(r, 4);
    const hash = fill.hashes[int(r, fill.hashes.length)];
    const x = r();
    const event = x < 0.15 ? AnnounceEvent.Completed : x < 0.22 ? AnnounceEvent.Stopped : AnnounceEvent.None;
    const left = r() < 0.4 ? 0 : 100;
    const kind = int(r, 3);
    if (kind < 2) {
      const a = int(r, addresses);
      const port = 6881 + int(r, ports);
      const endpoint = kind === 0 ? Uint8Array.of(10, 0, a >> 8, a & 0xff, port >> 8, port & 0xff) : v6Endpoint(a, port);
      t.swarm.handle([req(hash, endpoint, { left, event })]);
    } else {
      const n = int(r, wtPeers);
      // A peer_id always uses the same socket here: another socket would be refused (it is not this peer's).
      const { edge } = EDGES[n % EDGES.length];
      const from: SocketRef = { edge, socket: 100 + n };
      t.swarm.handle([{ type: 'wt-announce', infoHash: hash, peerId: peerIdOf(n), from, event, seeder: left === 0, offers: [] }]);
    }
  }
}

function v6Endpoint(a: number, port: number): Uint8Array {
  const b = new Uint8Array(18);
  b.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, a >> 8, a & 0xff]);
  b[15] = 1;
  b[16] = port >> 8;
  b[17] = port & 0xff;
  return b;
}

export interface PeerState {
  lastSeen: number;
  seeder: boolean;
  completed: boolean;
  /** WebTorrent only. */
  edge?: string;
  socket?: number;
}

/** What a swarm holds for `hashes`: per torrent its completed counts, per peer its state. Torrents without peers are left out. */
export interface Dump {
  downloaded: Map<string, number>;
  peers: Map<string, PeerState>;
}

const hex = (s: string | Uint8Array): string => (typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s)).toString('hex');

export function dump(swarm: Swarm, hashes: Iterable<string>): Dump {
  const out: Dump = { downloaded: new Map(), peers: new Map() };
  for (const hash of hashes) {
    const h = hex(hash);
    let packed = 0;
    for (const family of [4, 6] as const) {
      for (const p of swarm.peers.peersOf(hash, family)) {
        out.peers.set(`${h} v${family} ${hex(p.endpoint)}`, { lastSeen: p.lastSeen, seeder: p.seeder, completed: p.completed });
        packed++;
      }
    }
    if (packed > 0) out.downloaded.set(`${h} packed`, swarm.peers.torrentStats(hash).downloaded);
    const wt = swarm.webtorrent.peersOf(hash);
    for (const p of wt) {
      out.peers.set(`${h} wt ${hex(p.peerId)}`, { lastSeen: Math.floor(p.lastSeen), seeder: p.seeder, completed: p.completed, edge: p.edge, socket: p.socket });
    }
    if (wt.length > 0) out.downloaded.set(`${h} wt`, swarm.webtorrent.torrentStats(hash).downloaded);
  }
  return out;
}

/** A dump as sorted lines, for deepEqual with readable diffs. */
export function lines(d: Dump): string[] {
  const out: string[] = [];
  for (const [k, v] of d.downloaded) out.push(`${k} downloaded=${v}`);
  for (const [k, p] of d.peers) out.push(`${k} seen=${p.lastSeen} seeder=${p.seeder} completed=${p.completed}${p.edge === undefined ? '' : ` at=${p.edge}/${p.socket}`}`);
  return out.sort();
}

/** The merge rules (services/swarm/store/merge.ts) applied to two dumps: what importing both must give. */
export function mergeDumps(a: Dump, b: Dump): Dump {
  const out: Dump = { downloaded: new Map(a.downloaded), peers: new Map(a.peers) };
  for (const [k, v] of b.downloaded) out.downloaded.set(k, Math.max(v, out.downloaded.get(k) ?? 0));
  for (const [k, q] of b.peers) {
    const p = out.peers.get(k);
    if (!p) {
      out.peers.set(k, { ...q });
      continue;
    }
    const qWins = q.lastSeen > p.lastSeen || (q.lastSeen === p.lastSeen && tieWins(q, p));
    const w = qWins ? q : p;
    out.peers.set(k, { ...w, completed: p.completed || q.completed });
  }
  return out;
}

function tieWins(q: PeerState, p: PeerState): boolean {
  if (q.seeder !== p.seeder) return q.seeder;
  if (q.edge === undefined || p.edge === undefined) return false;
  if (q.edge !== p.edge) return q.edge > p.edge;
  return (q.socket ?? 0) > (p.socket ?? 0);
}

/** Every chunk of every given slot, exported synchronously. */
export function exportAll(swarm: Swarm, slots: Iterable<number>): Uint8Array[] {
  const writer = swarm.slots.newWriter();
  const out: Uint8Array[] = [];
  for (const slot of slots) for (const chunk of swarm.slots.exportSlot(slot, writer)) out.push(chunk);
  return out;
}

/** The distinct slots of `hashes`. */
export function slotsOf(hashes: Iterable<string>): number[] {
  const set = new Set<number>();
  for (const h of hashes) set.add((h.charCodeAt(0) << 8) | h.charCodeAt(1));
  return [...set].sort((x, y) => x - y);
}

/**
 * A snapshot scheduler over a test swarm's slots, on a fake clock that only
 * moves when the test says, with the failures it reports kept for asserts.
 */
export function scheduledSwarm(t: TestSwarm, backend: SnapshotBackend, ownership: SlotOwnership = EVERY_SLOT): { scheduler: SnapshotScheduler; failures: RecordingSink } {
  const failures = new RecordingSink();
  const scheduler = new SnapshotScheduler(new SwarmSlotSource(t.swarm.slots, t.swarm.changes, ownership), backend, {
    intervalMs: 30_000,
    ttlSeconds: 3660,
    maxBytesInFlight: 1 << 20,
    budgetMs: 4,
    restoreDeadlineMs: 10_000,
    shutdownDeadlineMs: 5_000,
    failures,
    clock: new FakeClock(),
  });
  return { scheduler, failures };
}
