/**
 * The in-memory swarm store: torrents and their UDP/HTTP peers, protocol
 * agnostic, packed into typed arrays.
 *
 * Layout (see peer-table.ts and slab.ts for the details):
 * - TorrentTable: info-hash -> small integer torrent id, keys kept as bytes
 *   in a typed array (no JS string or object per torrent).
 * - Per torrent id: `live[id]`, `downloaded[id]` (typed arrays) and one row
 *   in each family's PeerTable meta array.
 * - Per torrent and family: one block of fixed-size records carved from a
 *   slab of shared 64 KiB pages; big blocks get a hash index.
 *
 * Peers are keyed by endpoint (address + port); peer ids are not stored.
 * A leecher gets a random window over everybody; a seeder gets leechers
 * first, then seeders up to numwant (records are partitioned leechers
 * first, so each part is one random window; see PeerTable.sample). The announcer is inserted/refreshed first and skipped by the
 * window, so it never gets itself back. An announce may ask for the peers
 * of the announcer's subnet first (`sameSubnetBits`, PeerTable.sampleNear)
 * and carry an announce-rate floor (`minAnnounceSeconds`): a regular
 * announce from a peer held and seen more recently than that is refused
 * before anything changes.
 *
 * Time is in whole seconds from `options.now` (default: wall clock), read
 * once per `handle` batch and once per `sweepStep`.
 *
 * Limits (each refusal is an error reply the client sees, and is counted):
 * at most `maxTorrents` torrents and `maxPeers` peers are held, and a peer
 * already held is always served, so a full tracker keeps serving the swarms
 * it has and never evicts anybody; an address holds at most
 * `maxPeersPerAddressPerTorrent` peers of one torrent and gets at most
 * `maxPeersPerAddressPerReply` places in one reply (see PeerTable); and
 * creating a torrent takes a token from `options.newTorrents` (one bucket per
 * source prefix, see limits/new-torrent-limiter.ts).
 *
 * Slots (first two bytes of the info-hash): each slot's torrents are linked
 * in a list (slot-lists.ts), so one slot can be exported, imported or
 * dropped without visiting the others (slot-state.ts does that), and every
 * change to a slot's peers is stamped in `options.changes`
 * (slot-changes.ts) for snapshots and handoffs. Imports merge by the rules
 * of merge.ts, cost no new-torrent token and stamp nothing: what was just
 * read is what the other side holds.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { SwarmService } from '../../../lib/transport/transport.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { COMPACT_V4_LENGTH, COMPACT_V6_LENGTH } from '../../../lib/tracker/peer.js';
import type { AnnounceReply, AnnounceRequest } from '../../../lib/tracker/announce.js';
import type { ScrapeReply, ScrapeRequest, TorrentStats } from '../../../lib/tracker/scrape.js';
import type { ErrorReply, SwarmReply, SwarmRequest } from '../../../lib/tracker/swarm.js';
import { answerEach } from '../../../lib/transport/replies.js';
import { NOT_COUNTED, type LimitCounter } from '../limits/limit-counter.js';
import { Merge } from './merge.js';
import { FLAG_COMPLETED, FLAG_SEEDER, PeerTable } from './peer-table.js';
import { PRIVATE_FLAG_COMPLETED, PrivatePeerTable } from './private-peer-table.js';
import type { ChunkWriter } from './slot-codec.js';
import type { SlotChanges } from './slot-changes.js';
import { SlotLists, type SlotListCursor } from './slot-lists.js';
import { TorrentTable } from './torrent-table.js';

export interface StoreConfig {
  intervalSeconds: number;
  minIntervalSeconds: number;
  intervalJitterSeconds: number;
  numwantDefault: number;
  numwantMax: number;
  peerTimeoutSeconds: number;
  /** Torrents held at most. */
  maxTorrents: number;
  /** Peers (both families) held at most. */
  maxPeers: number;
  /** Peers one address (IPv4 address, IPv6 /64) may have in one torrent. */
  maxPeersPerAddressPerTorrent: number;
  /** Places one address may take in one reply. */
  maxPeersPerAddressPerReply: number;
}

/** Decides whether `endpoint` may create a torrent now: null = yes, else the reply saying why (see NewTorrentLimiter). */
export interface NewTorrentGate {
  take(endpoint: Uint8Array, now: number): ErrorReply | null;
}

/** What each store limit increments when it refuses or cuts something, named by its config key. */
export interface StoreLimitCounters {
  maxTorrents: LimitCounter;
  maxPeers: LimitCounter;
  maxPeersPerAddressPerTorrent: LimitCounter;
  maxPeersPerAddressPerReply: LimitCounter;
  /** Announces refused by the floor the request carried (AnnounceRequest.minAnnounceSeconds, from hooks.announceRate.minSeconds). */
  minAnnounceSeconds: LimitCounter;
}

export interface StoreOptions {
  /** Current time in seconds (may be fractional); injectable for tests. */
  now?: () => number;
  /** Milliseconds of a monotonic clock, for sweep budgets; injectable for tests. */
  monotonicMs?: () => number;
  /** Uniform [0, 1); injectable for tests. */
  random?: () => number;
  /** Rate of new torrents per source; default: none. */
  newTorrents?: NewTorrentGate;
  limitCounters?: Partial<StoreLimitCounters>;
  /** Where changes to each slot's peers are stamped; default: a private one nobody reads. */
  changes?: SlotChanges;
}


export const TORRENTS_FULL_MESSAGE = 'tracker is full: not accepting new torrents';
export const PEERS_FULL_MESSAGE = 'tracker is full: not accepting new peers';
export const ADDRESS_FULL_MESSAGE = 'too many peers from your address in this torrent';

export interface FamilyStats {
  seeders: number;
  leechers: number;
}

export interface StoreStats {
  torrents: number;
  peers: { v4: FamilyStats; v6: FamilyStats };
}

export interface SweepResult {
  /** True when this call finished a full pass over all torrents. */
  done: boolean;
  /** Peers removed by this call. */
  removed: number;
  /** Torrents deleted by this call (left without peers). */
  deleted: number;
  /** Units of work done: records and torrents examined. */
  visited: number;
}

/** The sweep looks at the clock after this many units of work (records or torrents). */
export const SWEEP_CHECK_EVERY = 128;

const INFO_HASH_LENGTH = 20;
const NOT_STARTED = 0x7fffffff;
const EMPTY = new Uint8Array(0);
const ZERO_STATS: TorrentStats = Object.freeze({ complete: 0, incomplete: 0, downloaded: 0 });

function systemSeconds(): number {
  return Date.now() / 1000;
}

export class SwarmStore implements SwarmService {
  readonly config: Readonly<StoreConfig>;
  private readonly now: () => number;
  private readonly monotonicMs: () => number;
  private readonly random: () => number;
  private readonly newTorrents: NewTorrentGate | null;
  private readonly hits: StoreLimitCounters;
  private readonly changes: SlotChanges | null;
  private readonly slots: SlotLists;

  private readonly ids: TorrentTable;
  /** 1 for ids in use. */
  private live: Uint8Array;
  private downloaded: Uint32Array;
  private readonly freeIds: number[] = [];
  /** Ids in [0, idHigh) have been handed out at least once. */
  private idHigh = 0;
  private idCapacity: number;
  private torrentCount = 0;

  readonly v4: PeerTable;
  readonly v6: PeerTable;
  /** Private-mode peers (announces with a userId), keyed by (userId, peer_id). */
  readonly pv4: PrivatePeerTable;
  readonly pv6: PrivatePeerTable;

  private readonly tooSoonReplies = new Map<number, ErrorReply>();

  private sweepTid = 0;
  private sweepFamily = 0;
  private sweepPos = NOT_STARTED;

  constructor(config: StoreConfig, options: StoreOptions = {}) {
    this.config = { ...config };
    this.now = options.now ?? systemSeconds;
    this.monotonicMs = options.monotonicMs ?? performance.now.bind(performance);
    this.random = options.random ?? Math.random;
    this.newTorrents = options.newTorrents ?? null;
    this.changes = options.changes ?? null;
    const c = options.limitCounters ?? {};
    this.hits = {
      maxTorrents: c.maxTorrents ?? NOT_COUNTED,
      maxPeers: c.maxPeers ?? NOT_COUNTED,
      maxPeersPerAddressPerTorrent: c.maxPeersPerAddressPerTorrent ?? NOT_COUNTED,
      maxPeersPerAddressPerReply: c.maxPeersPerAddressPerReply ?? NOT_COUNTED,
      minAnnounceSeconds: c.minAnnounceSeconds ?? NOT_COUNTED,
    };
    // A reply can hold more of one address than the torrent does only if the rule is tighter.
    const replyRule = {
      maxPeersPerAddress: config.maxPeersPerAddressPerReply < config.maxPeersPerAddressPerTorrent ? config.maxPeersPerAddressPerReply : 0,
      cut: this.hits.maxPeersPerAddressPerReply,
    };
    const seeds = randomBytes(12);
    this.idCapacity = 1024;
    this.ids = new TorrentTable(seeds.readInt32LE(8), this.idCapacity);
    this.slots = new SlotLists(this.idCapacity);
    this.live = new Uint8Array(this.idCapacity);
    this.downloaded = new Uint32Array(this.idCapacity);
    this.v4 = new PeerTable(COMPACT_V4_LENGTH, this.random, seeds.readInt32LE(0), this.idCapacity, replyRule);
    this.v6 = new PeerTable(COMPACT_V6_LENGTH, this.random, seeds.readInt32LE(4), this.idCapacity, replyRule);
    this.pv4 = new PrivatePeerTable(COMPACT_V4_LENGTH, this.random, this.idCapacity);
    this.pv6 = new PrivatePeerTable(COMPACT_V6_LENGTH, this.random, this.idCapacity);
  }

  // ------------------------------------------------------------------ requests

  handle(requests: readonly SwarmRequest[]): SwarmReply[] {
    const now = this.clock();
    return answerEach(requests, (r) => {
      if (r.type === 'announce') return this.announce(r, now);
      if (r.type === 'scrape') return this.scrape(r);
      return errorReply('unknown request type');
    });
  }

  /** Announces one peer at time `now` (seconds). */
  announce(r: AnnounceRequest, now: number = this.clock()): AnnounceReply | ErrorReply {
    const ep = r.endpoint;
    if (typeof r.infoHash !== 'string' || r.infoHash.length !== INFO_HASH_LENGTH) {
      return errorReply('invalid info_hash');
    }
    if (!(ep instanceof Uint8Array)) return errorReply('invalid peer address');
    let table: PeerTable;
    if (ep.length === COMPACT_V4_LENGTH) table = this.v4;
    else if (ep.length === COMPACT_V6_LENGTH) table = this.v6;
    else return errorReply('invalid peer address');
    const userId = r.userId;
    if (userId !== undefined && userId > 0) return this.announcePrivate(r, userId, ep.length === COMPACT_V4_LENGTH ? this.pv4 : this.pv6, now);
    const c = this.config;

    let tid = this.ids.get(r.infoHash);
    if (r.event === AnnounceEvent.Stopped) {
      if (tid < 0) return this.announceReply(0, 0, 0, EMPTY);
      const pos = table.find(tid, ep);
      if (pos >= 0) {
        table.remove(tid, pos);
        this.changes?.markHash(r.infoHash);
      }
      return this.announceReply(this.seeders(tid), this.leechers(tid), this.downloaded[tid], EMPTY);
    }

    const seeder = r.left === 0;
    let pos: number;
    if (tid < 0) {
      if (!TorrentTable.valid(r.infoHash)) return errorReply('invalid info_hash');
      const refused = this.refuseNewTorrent(ep, now);
      if (refused !== null) return refused;
      tid = this.createTorrent(r.infoHash);
      pos = table.insert(tid, ep, seeder, now, 0);
    } else {
      pos = table.find(tid, ep);
      if (pos >= 0) {
        const floor = r.minAnnounceSeconds;
        if (floor !== undefined && floor > 0 && r.event === AnnounceEvent.None && now - table.lastSeen(tid, pos) < floor) {
          // Too soon after its last announce: refused, and its last-seen time stays (so is its place in the swarm).
          this.hits.minAnnounceSeconds.inc();
          return this.tooSoon(floor);
        }
        pos = table.touch(tid, pos, seeder, now);
      } else {
        const sameAddress = -1 - pos;
        const refused = this.refuseNewPeer(sameAddress);
        if (refused !== null) return refused;
        pos = table.insert(tid, ep, seeder, now, 0, sameAddress);
      }
    }
    this.changes?.markHash(r.infoHash);
    if (r.event === AnnounceEvent.Completed) {
      const flags = table.flags(tid, pos);
      if ((flags & FLAG_COMPLETED) === 0) {
        table.setFlags(tid, pos, flags | FLAG_COMPLETED);
        this.downloaded[tid] = this.downloaded[tid] + 1;
      }
    }

    let numwant = Math.floor(r.numwant);
    if (!(numwant > 0)) numwant = c.numwantDefault;
    if (numwant > c.numwantMax) numwant = c.numwantMax;
    const bits = r.sameSubnetBits;
    const peers = bits !== undefined && bits > 0 ? table.sampleNear(tid, pos, seeder, numwant, ep, bits) : table.sample(tid, pos, seeder, numwant);
    return this.announceReply(this.seeders(tid), this.leechers(tid), this.downloaded[tid], peers);
  }

  /**
   * A private-mode announce: the peer is (userId, peer_id), so a new address
   * updates it and users sharing an address stay apart; the reply never holds
   * the user's own peers (kuroneko's rules, see private-peer-table.ts). The
   * per-address cap of public swarms applies per user here.
   */
  private announcePrivate(r: AnnounceRequest, userId: number, table: PrivatePeerTable, now: number): AnnounceReply | ErrorReply {
    const ep = r.endpoint;
    let tid = this.ids.get(r.infoHash);
    if (r.event === AnnounceEvent.Stopped) {
      if (tid < 0) return this.announceReply(0, 0, 0, EMPTY);
      const pos = table.find(tid, userId, r.peerId);
      if (pos >= 0) {
        table.remove(tid, pos);
        this.changes?.markHash(r.infoHash);
      }
      return this.announceReply(this.seeders(tid), this.leechers(tid), this.downloaded[tid], EMPTY);
    }
    const seeder = r.left === 0;
    let pos: number;
    if (tid < 0) {
      if (!TorrentTable.valid(r.infoHash)) return errorReply('invalid info_hash');
      const refused = this.refuseNewTorrent(ep, now);
      if (refused !== null) return refused;
      tid = this.createTorrent(r.infoHash);
      pos = table.insert(tid, userId, r.peerId, ep, seeder, now, 0);
    } else {
      pos = table.find(tid, userId, r.peerId);
      if (pos >= 0) {
        const floor = r.minAnnounceSeconds;
        if (floor !== undefined && floor > 0 && r.event === AnnounceEvent.None && now - table.lastSeen(tid, pos) < floor) {
          this.hits.minAnnounceSeconds.inc();
          return this.tooSoon(floor);
        }
        pos = table.touch(tid, pos, ep, seeder, now);
      } else {
        const refused = this.refuseNewPeer(-1 - pos);
        if (refused !== null) return refused;
        pos = table.insert(tid, userId, r.peerId, ep, seeder, now, 0);
      }
    }
    this.changes?.markHash(r.infoHash);
    if (r.event === AnnounceEvent.Completed) {
      const flags = table.flags(tid, pos);
      if ((flags & PRIVATE_FLAG_COMPLETED) === 0) {
        table.setFlags(tid, pos, flags | PRIVATE_FLAG_COMPLETED);
        this.downloaded[tid] = this.downloaded[tid] + 1;
      }
    }
    const c = this.config;
    let numwant = Math.floor(r.numwant);
    if (!(numwant > 0)) numwant = c.numwantDefault;
    if (numwant > c.numwantMax) numwant = c.numwantMax;
    const peers = table.select(tid, userId, seeder, numwant);
    return this.announceReply(this.seeders(tid), this.leechers(tid), this.downloaded[tid], peers);
  }

  /** Seeders of a torrent, public and private, both families. */
  private seeders(tid: number): number {
    return this.v4.seeders(tid) + this.v6.seeders(tid) + this.pv4.seeders(tid) + this.pv6.seeders(tid);
  }

  private leechers(tid: number): number {
    return this.v4.leechers(tid) + this.v6.leechers(tid) + this.pv4.leechers(tid) + this.pv6.leechers(tid);
  }

  private peerCount(tid: number): number {
    return this.v4.count(tid) + this.v6.count(tid) + this.pv4.count(tid) + this.pv6.count(tid);
  }

  private totalPeers(): number {
    return this.v4.totalPeers + this.v6.totalPeers + this.pv4.totalPeers + this.pv6.totalPeers;
  }

  scrape(r: ScrapeRequest): ScrapeReply {
    const hashes = r.infoHashes;
    const files = new Array<TorrentStats>(hashes.length);
    for (let i = 0; i < hashes.length; i++) files[i] = this.torrentStats(hashes[i]);
    return { type: 'scrape', files };
  }

  /** Counts of one torrent; zeros when unknown. */
  torrentStats(infoHash: string): TorrentStats {
    const tid = typeof infoHash === 'string' ? this.ids.get(infoHash) : -1;
    if (tid < 0) return ZERO_STATS;
    return {
      complete: this.seeders(tid),
      incomplete: this.leechers(tid),
      downloaded: this.downloaded[tid],
    };
  }

  /** O(1): everything is counted incrementally. */
  stats(): StoreStats {
    const a = this.v4;
    const b = this.v6;
    const pa = this.pv4;
    const pb = this.pv6;
    return {
      torrents: this.torrentCount,
      peers: {
        v4: { seeders: a.totalPeers - a.totalLeechers + pa.totalPeers - pa.totalLeechers, leechers: a.totalLeechers + pa.totalLeechers },
        v6: { seeders: b.totalPeers - b.totalLeechers + pb.totalPeers - pb.totalLeechers, leechers: b.totalLeechers + pb.totalLeechers },
      },
    };
  }

  /** Bytes held in typed arrays, by purpose. */
  storageBytes(): { records: number; recordsReserved: number; indexes: number; torrents: number } {
    return {
      records: this.v4.slab.usedBytes + this.v6.slab.usedBytes,
      recordsReserved: this.v4.slab.reservedBytes + this.v6.slab.reservedBytes,
      indexes: this.v4.indexBytes + this.v6.indexBytes,
      torrents:
        this.ids.byteLength +
        this.slots.byteLength +
        this.live.byteLength +
        this.downloaded.byteLength +
        this.v4.metaBytes +
        this.v6.metaBytes,
    };
  }

  /** Endpoints of one torrent and family, in storage order (diagnostics and tests). */
  endpoints(infoHash: string, family: 4 | 6): Uint8Array[] {
    const tid = this.ids.get(infoHash);
    if (tid < 0) return [];
    const table = family === 4 ? this.v4 : this.v6;
    const n = table.count(tid);
    const out: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const ep = new Uint8Array(table.endpointLength);
      table.endpointAt(tid, i, ep, 0);
      out.push(ep);
    }
    return out;
  }

  /** Peers of one torrent and family with what is kept of each, in storage order (diagnostics and tests). */
  peersOf(infoHash: string, family: 4 | 6): Array<{ endpoint: Uint8Array; lastSeen: number; seeder: boolean; completed: boolean }> {
    const tid = this.ids.get(infoHash);
    if (tid < 0) return [];
    const table = family === 4 ? this.v4 : this.v6;
    return this.endpoints(infoHash, family).map((endpoint, i) => {
      const flags = table.flags(tid, i);
      return { endpoint, lastSeen: table.lastSeen(tid, i), seeder: (flags & FLAG_SEEDER) !== 0, completed: (flags & FLAG_COMPLETED) !== 0 };
    });
  }

  /** Peers of one torrent with the address of `endpoint`, any port (diagnostics and tests). */
  peersOfAddress(infoHash: string, endpoint: Uint8Array): number {
    const tid = this.ids.get(infoHash);
    if (tid < 0) return 0;
    return (endpoint.length === COMPACT_V4_LENGTH ? this.v4 : this.v6).addressCount(tid, endpoint);
  }

  /** Consistency check of one torrent's tables (tests); null when sound or unknown. */
  validate(infoHash: string): string | null {
    const tid = this.ids.get(infoHash);
    if (tid < 0) return null;
    return this.v4.validate(tid) ?? this.v6.validate(tid);
  }

  /** Why a torrent cannot be created for `ep` now, or null. Global caps first: they cost no token. */
  private refuseNewTorrent(ep: Uint8Array, now: number): ErrorReply | null {
    if (this.torrentCount >= this.config.maxTorrents) {
      this.hits.maxTorrents.inc();
      return TORRENTS_FULL;
    }
    if (this.totalPeers() >= this.config.maxPeers) {
      this.hits.maxPeers.inc();
      return PEERS_FULL;
    }
    return this.newTorrents === null ? null : this.newTorrents.take(ep, now);
  }

  /** Why a new peer cannot join a torrent where its address has `sameAddress` peers, or null. */
  private refuseNewPeer(sameAddress: number): ErrorReply | null {
    if (this.totalPeers() >= this.config.maxPeers) {
      this.hits.maxPeers.inc();
      return PEERS_FULL;
    }
    if (sameAddress >= this.config.maxPeersPerAddressPerTorrent) {
      this.hits.maxPeersPerAddressPerTorrent.inc();
      return ADDRESS_FULL;
    }
    return null;
  }

  // ------------------------------------------------------------------ expiry

  /**
   * Removes peers not seen for `peerTimeoutSeconds`, resuming where the last
   * call stopped, and deletes torrents left without peers. Stops once
   * `budgetMs` has passed (checked every SWEEP_CHECK_EVERY records/torrents).
   * Peers moved around by announces between two calls may be skipped in this
   * pass; the next pass catches them. Scheduling (how often, how many steps
   * in a row) is the Sweeper's job.
   */
  sweepStep(budgetMs: number): SweepResult {
    const deadline = this.monotonicMs() + (budgetMs > 0 ? budgetMs : 0);
    const cutoff = Math.floor(this.now()) - this.config.peerTimeoutSeconds;
    let removed = 0;
    let visited = 0;
    const torrentsBefore = this.torrentCount;
    let credit = SWEEP_CHECK_EVERY;
    while (this.sweepTid < this.idHigh) {
      const tid = this.sweepTid;
      if (this.live[tid] !== 0) {
        while (this.sweepFamily < 4) {
          const f = this.sweepFamily;
          const table = f === 0 ? this.v4 : f === 1 ? this.v6 : f === 2 ? this.pv4 : this.pv6;
          let pos = Math.min(this.sweepPos, table.count(tid) - 1);
          while (pos >= 0) {
            const n = pos + 1 < credit ? pos + 1 : credit;
            const gone = table.expireRange(tid, pos, pos - n + 1, cutoff);
            if (gone > 0) {
              removed += gone;
              this.changes?.mark(this.ids.slotOf(tid));
            }
            pos -= n;
            credit -= n;
            visited += n;
            if (credit === 0) {
              credit = SWEEP_CHECK_EVERY;
              if (this.monotonicMs() >= deadline) {
                this.sweepPos = pos;
                return { done: false, removed, deleted: torrentsBefore - this.torrentCount, visited };
              }
            }
          }
          this.sweepFamily++;
          this.sweepPos = NOT_STARTED;
        }
        if (this.peerCount(tid) === 0) this.deleteTorrent(tid);
      }
      this.sweepTid++;
      this.sweepFamily = 0;
      this.sweepPos = NOT_STARTED;
      visited++;
      if (--credit === 0) {
        credit = SWEEP_CHECK_EVERY;
        if (this.monotonicMs() >= deadline) return { done: this.sweepTid >= this.idHigh ? this.endPass() : false, removed, deleted: torrentsBefore - this.torrentCount, visited };
      }
    }
    return { done: this.endPass(), removed, deleted: torrentsBefore - this.torrentCount, visited };
  }

  // ------------------------------------------------------------------ slots (driven by slot-state.ts)

  /** A cursor over the torrent ids of `slot` that stays valid across turns (see SlotLists); close it with `closeSlot`. */
  openSlot(slot: number): SlotListCursor {
    return this.slots.open(slot);
  }

  closeSlot(cursor: SlotListCursor): void {
    this.slots.close(cursor);
  }

  /** The torrent after `tid` in its slot's list, or -1. */
  nextInSlot(tid: number): number {
    return this.slots.after(tid);
  }

  /** UDP/HTTP peers held in `slot` (visits its torrents). */
  slotPeerCount(slot: number): number {
    let n = 0;
    for (let tid = this.slots.first(slot); tid >= 0; tid = this.slots.after(tid)) n += this.peerCount(tid);
    return n;
  }

  /** Writes torrent `tid` as one chunk section: its IPv4 peers [from4, from4 + n4) and IPv6 peers [from6, from6 + n6). */
  exportTorrent(tid: number, writer: ChunkWriter, from4: number, n4: number, from6: number, n6: number): void {
    writer.packedTorrent(this.ids.keyBytes, tid * INFO_HASH_LENGTH, this.downloaded[tid], n4, n6);
    this.v4.exportRecords(tid, from4, n4, writer);
    this.v6.exportRecords(tid, from6, n6, writer);
  }

  /** As exportTorrent, for the torrent's private-mode peers. */
  exportPrivateTorrent(tid: number, writer: ChunkWriter, from4: number, n4: number, from6: number, n6: number): void {
    writer.privateTorrent(this.ids.keyBytes, tid * INFO_HASH_LENGTH, this.downloaded[tid], n4, n6);
    this.pv4.exportRecords(tid, from4, n4, writer);
    this.pv6.exportRecords(tid, from6, n6, writer);
  }

  /** Deletes up to `maxTorrents` torrents of `slot` with their peers; returns how many torrents and peers went. */
  dropFromSlot(slot: number, maxTorrents: number): { torrents: number; peers: number } {
    let torrents = 0;
    let peers = 0;
    for (let tid = this.slots.first(slot); tid >= 0 && torrents < maxTorrents; tid = this.slots.first(slot)) {
      peers += this.peerCount(tid);
      this.deleteTorrent(tid);
      torrents++;
    }
    return { torrents, peers };
  }

  /** Whole seconds now, as announces see it. */
  nowSeconds(): number {
    return this.clock();
  }

  /**
   * The torrent imported peers of `infoHash` merge into: the one held, or a
   * new one when the caps allow (counted when they do not: -1). Creating it
   * takes no new-torrent token: the torrent was created by a client
   * elsewhere, and an import must not use up a network's tokens.
   */
  importTarget(infoHash: string): number {
    const tid = this.ids.get(infoHash);
    if (tid >= 0) return tid;
    if (!TorrentTable.valid(infoHash)) return -1;
    if (this.torrentCount >= this.config.maxTorrents) {
      this.hits.maxTorrents.inc();
      return -1;
    }
    if (this.totalPeers() >= this.config.maxPeers) {
      this.hits.maxPeers.inc();
      return -1;
    }
    return this.createTorrent(infoHash);
  }

  /** Completed count of an imported torrent: the larger of the two, never their sum (both may have counted the same peers). */
  mergeDownloaded(tid: number, downloaded: number): void {
    if (downloaded > this.downloaded[tid]) this.downloaded[tid] = downloaded;
  }

  /**
   * Merges one imported peer (`ep`: 6 or 18 bytes) into torrent `tid`. Held
   * already: the later last-seen wins, with its seeder state (equal times:
   * seeder wins), and "completed" is kept if either side has it, so the
   * result does not depend on the order of imports. New: added if the
   * peer and per-address caps allow (counted when they do not). The caller
   * has dropped expired peers and clamped `lastSeen` to now.
   */
  mergePeer(tid: number, ep: Uint8Array, lastSeen: number, seeder: boolean, completed: boolean): Merge {
    const table = ep.length === COMPACT_V4_LENGTH ? this.v4 : this.v6;
    let pos = table.find(tid, ep);
    if (pos >= 0) {
      const seen = table.lastSeen(tid, pos);
      if (lastSeen > seen || (lastSeen === seen && seeder && (table.flags(tid, pos) & FLAG_SEEDER) === 0)) {
        pos = table.touch(tid, pos, seeder, lastSeen);
      }
      const flags = table.flags(tid, pos);
      if (completed && (flags & FLAG_COMPLETED) === 0) table.setFlags(tid, pos, flags | FLAG_COMPLETED);
      return Merge.Merged;
    }
    const sameAddress = -1 - pos;
    if (this.refuseNewPeer(sameAddress) !== null) return Merge.Refused;
    table.insert(tid, ep, seeder, lastSeen, completed ? FLAG_COMPLETED : 0, sameAddress);
    return Merge.Added;
  }

  /** As mergePeer, for a private-mode peer keyed by (userId, peerId); the per-address cap applies per user. */
  mergePrivatePeer(tid: number, userId: number, peerId: string, ep: Uint8Array, lastSeen: number, seeder: boolean, completed: boolean): Merge {
    const table = ep.length === COMPACT_V4_LENGTH ? this.pv4 : this.pv6;
    let pos = table.find(tid, userId, peerId);
    if (pos >= 0) {
      const seen = table.lastSeen(tid, pos);
      if (lastSeen > seen || (lastSeen === seen && seeder && (table.flags(tid, pos) & FLAG_SEEDER) === 0)) {
        pos = table.touch(tid, pos, ep, seeder, lastSeen);
      }
      const flags = table.flags(tid, pos);
      if (completed && (flags & PRIVATE_FLAG_COMPLETED) === 0) table.setFlags(tid, pos, flags | PRIVATE_FLAG_COMPLETED);
      return Merge.Merged;
    }
    if (this.refuseNewPeer(-1 - pos) !== null) return Merge.Refused;
    table.insert(tid, userId, peerId, ep, seeder, lastSeen, completed ? PRIVATE_FLAG_COMPLETED : 0);
    return Merge.Added;
  }

  /** Deletes torrent `tid` if it holds no peer (an import created it and every peer was refused). */
  dropIfEmpty(tid: number): void {
    if (this.peerCount(tid) === 0) this.deleteTorrent(tid);
  }

  // ------------------------------------------------------------------ internals

  private endPass(): true {
    this.sweepTid = 0;
    this.sweepFamily = 0;
    this.sweepPos = NOT_STARTED;
    return true;
  }

  private clock(): number {
    const t = Math.floor(this.now());
    return t > 0 ? t >>> 0 : 0;
  }

  private announceReply(complete: number, incomplete: number, downloaded: number, peers: Uint8Array): AnnounceReply {
    const c = this.config;
    const jitter = c.intervalJitterSeconds > 0 ? Math.min(c.intervalJitterSeconds, Math.floor(this.random() * (c.intervalJitterSeconds + 1))) : 0;
    return {
      type: 'announce',
      interval: c.intervalSeconds + jitter,
      minInterval: c.minIntervalSeconds,
      complete,
      incomplete,
      downloaded,
      peers,
    };
  }

  /** The refusal of an announce that came sooner than `floor` seconds after the peer's last one (one object per floor in use). */
  private tooSoon(floor: number): ErrorReply {
    let reply = this.tooSoonReplies.get(floor);
    if (reply === undefined) {
      reply = Object.freeze(errorReply(`announced too soon: this tracker takes one announce per torrent every ${floor} seconds; wait and announce again`));
      // Floors come from edge configs: a handful of values, but never let a hostile edge grow this.
      if (this.tooSoonReplies.size >= 16) this.tooSoonReplies.clear();
      this.tooSoonReplies.set(floor, reply);
    }
    return reply;
  }

  private createTorrent(infoHash: string): number {
    let tid = this.freeIds.pop();
    if (tid === undefined) {
      tid = this.idHigh++;
      if (tid >= this.idCapacity) this.growIds(tid + 1);
    }
    this.ids.add(infoHash, tid);
    this.slots.link(tid, this.ids.slotOf(tid));
    this.live[tid] = 1;
    this.downloaded[tid] = 0;
    this.torrentCount++;
    return tid;
  }

  private deleteTorrent(tid: number): void {
    if (this.live[tid] === 0) return;
    this.slots.unlink(tid, this.ids.slotOf(tid));
    this.ids.delete(tid);
    this.live[tid] = 0;
    this.downloaded[tid] = 0;
    this.v4.clear(tid);
    this.v6.clear(tid);
    this.pv4.clear(tid);
    this.pv6.clear(tid);
    this.freeIds.push(tid);
    this.torrentCount--;
  }

  private growIds(n: number): void {
    let cap = this.idCapacity;
    while (cap < n) cap = Math.ceil(cap * 1.5);
    const d = new Uint32Array(cap);
    d.set(this.downloaded);
    this.downloaded = d;
    const l = new Uint8Array(cap);
    l.set(this.live);
    this.live = l;
    this.ids.setIdCapacity(cap);
    this.slots.setIdCapacity(cap);
    this.v4.ensureTorrents(cap);
    this.v6.ensureTorrents(cap);
    this.pv4.ensureTorrents(cap);
    this.pv6.ensureTorrents(cap);
    this.idCapacity = cap;
  }
}

function errorReply(message: string): ErrorReply {
  return { type: 'error', message };
}

const TORRENTS_FULL: ErrorReply = Object.freeze(errorReply(TORRENTS_FULL_MESSAGE));
const PEERS_FULL: ErrorReply = Object.freeze(errorReply(PEERS_FULL_MESSAGE));
const ADDRESS_FULL: ErrorReply = Object.freeze(errorReply(ADDRESS_FULL_MESSAGE));
