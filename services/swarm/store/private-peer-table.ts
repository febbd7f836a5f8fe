/**
 * Packed peer lists of one address family for private-mode torrents, where a
 * peer is keyed by (userId, peer_id) and its endpoint is a stored field.
 *
 * The public PeerTable keys a peer by its endpoint, which in private mode
 * makes a user whose address changes a second peer and makes two users behind
 * one NAT address+port one peer. Here a user's new address updates the same
 * record. Same layout idea as PeerTable: per torrent id one Int32Array row
 *
 *   [ block handle | size class (-1 = no block) | peer count | leecher count ]
 *
 * and dense records in one slab block, leechers in [0, leechers), seeders in
 * [leechers, count). One record is
 *
 *   [ userId uint32 BE | peer_id 20 bytes | endpoint (6/18) | lastSeen uint32 BE | flags uint8 ]
 *
 * so 35 bytes for IPv4 and 47 for IPv6, with no JS object per peer.
 *
 * Lookup is a linear scan of the torrent's block: private swarms are small
 * (tens of peers) and this is not yet the hash index PeerTable has for big
 * blocks; see docs/private-mode-wiring.md.
 *
 * Selection follows kuroneko: a leecher is offered seeders of other users
 * first, one per user before a second of any user, then leechers of other
 * users; a seeder is offered leechers of other users. The announcing user's
 * own peers are never returned.
 */
import type { ChunkWriter } from './slot-codec.js';
import { CLASS_CAPACITY, SlabAllocator, classFor, readU32, writeU32 } from './slab.js';

export const PRIVATE_FLAG_SEEDER = 1;
export const PRIVATE_FLAG_COMPLETED = 2;

export const PEER_ID_LENGTH = 20;

const META_STRIDE = 4;
const M_HANDLE = 0;
const M_CLASS = 1;
const M_COUNT = 2;
const M_LEECHERS = 3;

const O_USER = 0;
const O_PEER_ID = 4;
const O_ENDPOINT = 24;

const EMPTY = new Uint8Array(0);

export class PrivatePeerTable {
  /** 6 (IPv4) or 18 (IPv6). */
  readonly endpointLength: number;
  /** 24 + endpointLength + 5. */
  readonly recordSize: number;
  readonly slab: SlabAllocator;
  private readonly oLastSeen: number;
  private readonly oFlags: number;
  private meta: Int32Array;
  private readonly random: () => number;
  /** Users already in the current reply (one per user first); reused across replies. */
  private picked: Uint32Array = new Uint32Array(64);
  /** Set by `locate`. */
  private page: Uint8Array = EMPTY;
  private base = 0;

  constructor(endpointLength: number, random: () => number, capacity: number) {
    this.endpointLength = endpointLength;
    this.oLastSeen = O_ENDPOINT + endpointLength;
    this.oFlags = this.oLastSeen + 4;
    this.recordSize = this.oFlags + 1;
    this.slab = new SlabAllocator(this.recordSize);
    this.random = random;
    this.meta = new Int32Array(capacity * META_STRIDE);
    for (let t = 0; t < capacity; t++) this.meta[t * META_STRIDE + M_CLASS] = -1;
  }

  /** Peers and leechers of every torrent. */
  totalPeers = 0;
  totalLeechers = 0;

  /** Makes room for torrent ids below `capacity`. */
  ensureTorrents(capacity: number): void {
    const old = this.meta;
    if (capacity * META_STRIDE <= old.length) return;
    this.meta = new Int32Array(capacity * META_STRIDE);
    this.meta.set(old);
    for (let t = old.length / META_STRIDE; t < capacity; t++) this.meta[t * META_STRIDE + M_CLASS] = -1;
  }

  count(tid: number): number {
    return this.meta[tid * META_STRIDE + M_COUNT];
  }

  leechers(tid: number): number {
    return this.meta[tid * META_STRIDE + M_LEECHERS];
  }

  seeders(tid: number): number {
    const m = tid * META_STRIDE;
    return this.meta[m + M_COUNT] - this.meta[m + M_LEECHERS];
  }

  /**
   * Position of (userId, peerId) in the torrent, or `-1 - n` where n is how
   * many peers that user already has in it (the store caps that, as it caps
   * peers per address in public swarms). `peerId` is 20 bytes (latin1).
   */
  find(tid: number, userId: number, peerId: string): number {
    const m = tid * META_STRIDE;
    const count = this.meta[m + M_COUNT];
    if (count === 0) return -1;
    this.locate(tid);
    const page = this.page;
    const base = this.base;
    const R = this.recordSize;
    const u = userId >>> 0;
    let same = 0;
    for (let i = 0, o = base; i < count; i++, o += R) {
      if (readU32(page, o + O_USER) !== u) continue;
      let j = 0;
      while (j < PEER_ID_LENGTH && page[o + O_PEER_ID + j] === (peerId.charCodeAt(j) & 0xff)) j++;
      if (j === PEER_ID_LENGTH) return i;
      same++;
    }
    return -1 - same;
  }

  userId(tid: number, pos: number): number {
    this.locate(tid);
    const page = this.page;
    const base = this.base;
    return readU32(page, base + pos * this.recordSize + O_USER);
  }

  endpoint(tid: number, pos: number): Uint8Array {
    this.locate(tid);
    const page = this.page;
    const base = this.base;
    const o = base + pos * this.recordSize + O_ENDPOINT;
    return page.slice(o, o + this.endpointLength);
  }

  lastSeen(tid: number, pos: number): number {
    this.locate(tid);
    const page = this.page;
    const base = this.base;
    return readU32(page, base + pos * this.recordSize + this.oLastSeen);
  }

  flags(tid: number, pos: number): number {
    this.locate(tid);
    const page = this.page;
    const base = this.base;
    return page[base + pos * this.recordSize + this.oFlags];
  }

  setFlags(tid: number, pos: number, flags: number): void {
    this.locate(tid);
    const page = this.page;
    const base = this.base;
    page[base + pos * this.recordSize + this.oFlags] = flags;
  }

  /** Adds a peer (the caller checked `find` is -1); returns its position. */
  insert(tid: number, userId: number, peerId: string, ep: Uint8Array, seeder: boolean, now: number, flags: number): number {
    const m = tid * META_STRIDE;
    const meta = this.meta;
    const count = meta[m + M_COUNT];
    this.ensureCapacity(tid, count + 1);
    this.locate(tid);
    const page = this.page;
    const base = this.base;
    const R = this.recordSize;
    const leechers = meta[m + M_LEECHERS];
    let pos: number;
    if (seeder) {
      pos = count;
    } else {
      // Leechers come first: the first seeder moves to the end to make room.
      if (leechers < count) page.copyWithin(base + count * R, base + leechers * R, base + (leechers + 1) * R);
      pos = leechers;
      meta[m + M_LEECHERS] = leechers + 1;
    }
    meta[m + M_COUNT] = count + 1;
    this.totalPeers++;
    if (!seeder) this.totalLeechers++;
    const o = base + pos * R;
    writeU32(page, o + O_USER, userId >>> 0);
    for (let j = 0; j < PEER_ID_LENGTH; j++) page[o + O_PEER_ID + j] = peerId.charCodeAt(j) & 0xff;
    page.set(ep, o + O_ENDPOINT);
    writeU32(page, o + this.oLastSeen, now >>> 0);
    page[o + this.oFlags] = (flags & ~PRIVATE_FLAG_SEEDER) | (seeder ? PRIVATE_FLAG_SEEDER : 0);
    return pos;
  }

  /**
   * Records a re-announce of the peer at `pos`: its (possibly new) endpoint,
   * seeder state and time. Returns its position, which moves when it turns
   * from leecher to seeder or back.
   */
  touch(tid: number, pos: number, ep: Uint8Array, seeder: boolean, now: number): number {
    this.locate(tid);
    const page = this.page;
    const base = this.base;
    const o = base + pos * this.recordSize;
    const wasSeeder = (page[o + this.oFlags] & PRIVATE_FLAG_SEEDER) !== 0;
    if (wasSeeder === seeder) {
      page.set(ep, o + O_ENDPOINT);
      writeU32(page, o + this.oLastSeen, now >>> 0);
      return pos;
    }
    const userId = readU32(page, o + O_USER);
    let peerId = '';
    for (let j = 0; j < PEER_ID_LENGTH; j++) peerId += String.fromCharCode(page[o + O_PEER_ID + j]);
    const flags = page[o + this.oFlags];
    this.remove(tid, pos);
    return this.insert(tid, userId, peerId, ep, seeder, now, flags);
  }

  /** Removes the peer at `pos`, keeping the block dense and partitioned. */
  remove(tid: number, pos: number): void {
    const m = tid * META_STRIDE;
    const meta = this.meta;
    const count = meta[m + M_COUNT];
    const leechers = meta[m + M_LEECHERS];
    this.locate(tid);
    const page = this.page;
    const base = this.base;
    const R = this.recordSize;
    if (pos < leechers) {
      // Last leecher fills the gap, last seeder fills the last leecher's place.
      page.copyWithin(base + pos * R, base + (leechers - 1) * R, base + leechers * R);
      if (leechers < count) page.copyWithin(base + (leechers - 1) * R, base + (count - 1) * R, base + count * R);
      meta[m + M_LEECHERS] = leechers - 1;
      this.totalLeechers--;
    } else {
      page.copyWithin(base + pos * R, base + (count - 1) * R, base + count * R);
    }
    meta[m + M_COUNT] = count - 1;
    this.totalPeers--;
    if (count - 1 === 0) {
      this.slab.free(meta[m + M_HANDLE], meta[m + M_CLASS]);
      meta[m + M_CLASS] = -1;
    }
  }

  /**
   * Removes peers last seen at or before `cutoff` among positions `from`
   * down to `to` (the sweeper walks a block downwards in budgeted steps, as
   * with PeerTable.expireRange); returns how many.
   */
  expireRange(tid: number, from: number, to: number, cutoff: number): number {
    const m = tid * META_STRIDE;
    let removed = 0;
    for (let pos = from; pos >= to; pos--) {
      if (this.lastSeen(tid, pos) <= cutoff) {
        this.remove(tid, pos);
        removed++;
        if (this.meta[m + M_COUNT] === 0) break;
      }
    }
    return removed;
  }

  /** Writes peers [from, from + n) of the torrent as privatePeer records (slot export). */
  exportRecords(tid: number, from: number, n: number, writer: ChunkWriter): void {
    if (n <= 0) return;
    this.locate(tid);
    const page = this.page;
    const R = this.recordSize;
    const E = this.endpointLength;
    for (let i = 0, o = this.base + from * R; i < n; i++, o += R) {
      writer.privatePeer(readU32(page, o + O_USER), page, o + O_PEER_ID, o + O_ENDPOINT, E, readU32(page, o + this.oLastSeen), page[o + this.oFlags]);
    }
  }

  /** Removes every peer (used when a torrent is dropped). */
  clear(tid: number): void {
    const m = tid * META_STRIDE;
    const meta = this.meta;
    if (meta[m + M_COUNT] === 0) return;
    this.totalPeers -= meta[m + M_COUNT];
    this.totalLeechers -= meta[m + M_LEECHERS];
    meta[m + M_COUNT] = 0;
    meta[m + M_LEECHERS] = 0;
    this.slab.free(meta[m + M_HANDLE], meta[m + M_CLASS]);
    meta[m + M_CLASS] = -1;
  }

  /**
   * Up to `numwant` compact endpoints for a peer of user `userId`, never one
   * of that user's. Leecher: seeders of other users, one per user first, then
   * other users' leechers. Seeder: other users' leechers. Each part starts at
   * a random position so replies spread over the swarm. Visits each record at
   * most twice.
   */
  select(tid: number, userId: number, forSeeder: boolean, numwant: number): Uint8Array {
    const m = tid * META_STRIDE;
    const count = this.meta[m + M_COUNT];
    if (count === 0 || numwant <= 0) return EMPTY;
    const leechers = this.meta[m + M_LEECHERS];
    const E = this.endpointLength;
    const n = numwant < count ? numwant : count;
    const out = new Uint8Array(n * E);
    this.locate(tid);
    const page = this.page;
    const base = this.base;
    const me = userId >>> 0;
    let w = 0;
    if (!forSeeder && leechers < count) {
      if (this.picked.length < n) this.picked = new Uint32Array(n);
      const picked = this.picked;
      let users = 0;
      const seeders = count - leechers;
      const start = Math.floor(this.random() * seeders);
      // First pass: one seeder per other user.
      for (let i = 0; i < seeders && w < n; i++) {
        const o = base + (leechers + ((start + i) % seeders)) * this.recordSize;
        const u = readU32(page, o + O_USER);
        if (u === me) continue;
        let seen = false;
        for (let k = 0; k < users; k++) if (picked[k] === u) { seen = true; break; }
        if (seen) continue;
        picked[users++] = u;
        out.set(page.subarray(o + O_ENDPOINT, o + O_ENDPOINT + E), w * E);
        w++;
      }
      // Second pass, same order: a user's first seeder met is the one the
      // first pass offered (skip it and forget the user), later ones are new.
      for (let i = 0; i < seeders && w < n; i++) {
        const o = base + (leechers + ((start + i) % seeders)) * this.recordSize;
        const u = readU32(page, o + O_USER);
        if (u === me) continue;
        let first = -1;
        for (let k = 0; k < users; k++) if (picked[k] === u) { first = k; break; }
        if (first >= 0) {
          picked[first] = picked[--users];
          continue;
        }
        out.set(page.subarray(o + O_ENDPOINT, o + O_ENDPOINT + E), w * E);
        w++;
      }
    }
    if (leechers > 0 && w < n) {
      const start = Math.floor(this.random() * leechers);
      for (let i = 0; i < leechers && w < n; i++) {
        const o = base + ((start + i) % leechers) * this.recordSize;
        if (readU32(page, o + O_USER) === me) continue;
        out.set(page.subarray(o + O_ENDPOINT, o + O_ENDPOINT + E), w * E);
        w++;
      }
    }
    return w === n ? out : out.subarray(0, w * E);
  }

  /** Points `page` and `base` at the torrent's block (fields, so a lookup allocates nothing). */
  private locate(tid: number): void {
    const h = this.meta[tid * META_STRIDE + M_HANDLE];
    this.page = this.slab.pages[h >>> 16] as Uint8Array;
    this.base = h & 0xffff;
  }

  private ensureCapacity(tid: number, need: number): void {
    const m = tid * META_STRIDE;
    const meta = this.meta;
    const k = meta[m + M_CLASS];
    if (k >= 0 && CLASS_CAPACITY[k] >= need) return;
    const nk = classFor(need);
    const h = this.slab.alloc(nk);
    if (k >= 0) {
      this.locate(tid);
      const np = this.slab.pages[h >>> 16] as Uint8Array;
      np.set(this.page.subarray(this.base, this.base + meta[m + M_COUNT] * this.recordSize), h & 0xffff);
      this.slab.free(meta[m + M_HANDLE], k);
    }
    meta[m + M_HANDLE] = h;
    meta[m + M_CLASS] = nk;
  }
}
