/**
 * Packed peer lists of one address family, for every torrent of a store.
 *
 * A torrent is a small integer id (assigned by the store). For each id this
 * table keeps, in one Int32Array row of `META_STRIDE` entries:
 *
 *   [ block handle | size class (-1 = no block) | peer count | leecher count ]
 *
 * The peers themselves are fixed-size records in one slab block (see slab.ts)
 * of CLASS_CAPACITY[class] records, dense (no holes: removal moves another
 * record into the gap) and partitioned: leechers occupy [0, leechers),
 * seeders [leechers, count). One record is
 *
 *   [ endpoint (6 or 18 bytes) | lastSeen uint32 BE (seconds) | flags uint8 ]
 *
 * so 11 bytes for IPv4 and 23 for IPv6. Peer ids are not stored.
 *
 * Lookup by endpoint is a linear scan for small blocks; blocks of
 * INDEX_MIN_CAPACITY records or more also get an open-addressing index
 * (Uint16Array, or Int32Array from 65536 records; linear probing, load <= 1/2,
 * value = position + 1, backward-shift deletion) keyed by a seeded hash of the
 * peer's *address* (see `addressLength`), not of the whole endpoint: every
 * peer of one address starts probing at the same slot, so they all sit in one
 * run and `addressCount` counts them exactly by walking that run, with no
 * memory beyond the index. The price is that a lookup among one address's
 * peers walks up to as many slots as that address has peers, which the
 * store's per-address cap bounds. Seeding keeps a client from aiming at
 * collisions it can predict.
 *
 * `sample` can hold each address to a number of peers per reply: dense
 * storage puts the peers one address added in a row next to each other, so
 * a random window could otherwise be a run of one address. It can also list
 * first the peers whose address shares a prefix with the announcer's (the
 * same-subnet preference), by looking at the records themselves: nothing is
 * kept per subnet.
 *
 * Blocks grow one size class at a time (x1.33 / x1.5) and shrink to the
 * tightest class once only a quarter is used; an empty torrent holds no block.
 */
import { fmix32, murmur3MixKey, murmur3Round } from '../../../lib/crypto/murmur3.js';
import { NOT_COUNTED, type LimitCounter } from '../limits/limit-counter.js';
import { ReplyAddressTally } from './reply-address-tally.js';
import { FLAG_PEER_COMPLETED, FLAG_PEER_SEEDER, type ChunkWriter } from './slot-codec.js';
import { CLASS_CAPACITY, SlabAllocator, classFor, readU32 } from './slab.js';

export const FLAG_SEEDER = 1;
/** The peer already sent event=completed while present. */
export const FLAG_COMPLETED = 2;
/**
 * The peer's address has (or had: the mark stays) more peers in the torrent
 * than one reply may hold, so sampling tallies it. Peers of other addresses
 * cannot exceed the reply rule and are copied without a look.
 */
export const FLAG_CROWDED = 4;

/** Blocks of at least this many records get a hash index (smaller ones: linear scan). */
export const INDEX_MIN_CAPACITY = 48;

/** Index slots hold position + 1; 16 bits suffice below 65536 records. */
type PeerIndex = Uint16Array | Int32Array;

const META_STRIDE = 4;
const M_HANDLE = 0;
const M_CLASS = 1;
const M_COUNT = 2;
const M_LEECHERS = 3;

const EMPTY = new Uint8Array(0);

/**
 * A sampling window visits at most this many records per peer it returns
 * (plus a few), so skipping one address's surplus never turns into a scan of
 * a whole swarm; with the default caps (32 per address per torrent, 8 per
 * reply) at most 4 visits per returned peer are ever needed.
 */
const MAX_VISITS_PER_PEER = 8;

/**
 * Records a same-subnet sample looks at in each part it samples (all
 * records for a leecher; leechers, then seeders, for a seeder) for a reply
 * of `n` peers: 2 per peer asked for, at least 128 and at most 512. Parts
 * this small are searched whole, so every peer of the announcer's subnet
 * that fits comes first; in bigger ones the search is a random window of
 * this many records, so the cost per reply stays bounded whatever the
 * swarm's size: a 50-peer reply looks at 128 records where a plain sample
 * copies 50 (bench/hooks.ts measures what that costs).
 */
export function nearScanWindow(n: number): number {
  const w = 2 * n;
  return w < 128 ? 128 : w > 512 ? 512 : w;
}

export interface ReplyRule {
  /** Most peers of one address in one reply; 0 = no rule. */
  maxPeersPerAddress: number;
  /** Counted once per reply the rule cut short. */
  cut: LimitCounter;
}

const NO_REPLY_RULE: ReplyRule = { maxPeersPerAddress: 0, cut: NOT_COUNTED };

export class PeerTable {
  /** 6 (IPv4) or 18 (IPv6). */
  readonly endpointLength: number;
  /**
   * Bytes that identify an address: the 4 bytes of an IPv4 address, the
   * first 8 (the /64) of an IPv6 one, since an IPv6 host can pick any address
   * of its /64 and per-address rules would mean nothing otherwise.
   */
  readonly addressLength: number;
  /** endpointLength + 5. */
  readonly recordSize: number;
  readonly slab: SlabAllocator;

  private meta: Int32Array;
  private indexes: (PeerIndex | null)[] = [];
  private readonly seed: number;
  private readonly random: () => number;
  private readonly replyRule: ReplyRule;
  /** Null when there is no reply rule. */
  private readonly tally: ReplyAddressTally | null;

  /** Peers of this family across all torrents. */
  totalPeers = 0;
  /** Leechers of this family across all torrents. */
  totalLeechers = 0;
  /** Bytes held by hash indexes. */
  indexBytes = 0;

  constructor(endpointLength: number, random: () => number, seed: number, initialTorrents = 1024, replyRule: ReplyRule = NO_REPLY_RULE) {
    if (endpointLength !== 6 && endpointLength !== 18) throw new RangeError('endpoint length must be 6 or 18');
    this.endpointLength = endpointLength;
    this.addressLength = endpointLength === 6 ? 4 : 8;
    this.replyRule = replyRule;
    this.tally = replyRule.maxPeersPerAddress > 0 ? new ReplyAddressTally(replyRule.maxPeersPerAddress) : null;
    this.recordSize = endpointLength + 5;
    this.slab = new SlabAllocator(this.recordSize);
    this.random = random;
    this.seed = seed | 0;
    this.meta = new Int32Array(Math.max(1, initialTorrents) * META_STRIDE);
    this.initMeta(0, Math.max(1, initialTorrents));
  }

  /** Makes room for torrent ids < n. */
  ensureTorrents(n: number): void {
    const have = this.meta.length / META_STRIDE;
    if (n <= have) return;
    let cap = have;
    while (cap < n) cap = Math.ceil(cap * 1.5);
    const meta = new Int32Array(cap * META_STRIDE);
    meta.set(this.meta);
    this.meta = meta;
    this.initMeta(have, cap);
  }

  private initMeta(from: number, to: number): void {
    const meta = this.meta;
    for (let t = from; t < to; t++) meta[t * META_STRIDE + M_CLASS] = -1;
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

  /** Capacity in records of the torrent's block (0 if none). */
  capacity(tid: number): number {
    const k = this.meta[tid * META_STRIDE + M_CLASS];
    return k < 0 ? 0 : CLASS_CAPACITY[k];
  }

  /** Bytes of the per-torrent rows. */
  get metaBytes(): number {
    return this.meta.byteLength;
  }

  hasIndex(tid: number): boolean {
    return (this.indexes[tid] ?? null) !== null;
  }

  // ---------------------------------------------------------------- lookup

  /**
   * Position of the peer with this endpoint (`ep` holds exactly one). When
   * it is absent: -1 - the number of the torrent's peers with the same
   * address, which the per-address limits need and the same look gathers
   * for free (one address's peers share a run of the index).
   */
  find(tid: number, ep: Uint8Array): number {
    const m = tid * META_STRIDE;
    const count = this.meta[m + M_COUNT];
    if (count === 0) return -1;
    const h = this.meta[m + M_HANDLE];
    const page = this.slab.pages[h >>> 16]!;
    const base = h & 0xffff;
    const R = this.recordSize;
    const E = this.endpointLength;
    const A = this.addressLength;
    let same = 0;
    const idx = this.indexes[tid] ?? null;
    if (idx !== null) {
      const mask = idx.length - 1;
      for (let s = hashBytes(ep, 0, A, this.seed) & mask; ; s = (s + 1) & mask) {
        const v = idx[s];
        if (v === 0) return -1 - same;
        const o = base + (v - 1) * R;
        if (sameBytes(page, o, ep, 0, A)) {
          if (sameBytes(page, o, ep, A, E)) return v - 1;
          same++;
        }
      }
    }
    const e0 = ep[0];
    const e1 = ep[1];
    for (let i = 0, o = base; i < count; i++, o += R) {
      if (page[o] === e0 && page[o + 1] === e1 && sameBytes(page, o, ep, 2, A)) {
        if (sameBytes(page, o, ep, A, E)) return i;
        same++;
      }
    }
    return -1 - same;
  }

  /** Peers of the torrent with the address of `ep`, any port (tests and diagnostics: announces learn it from `find`). */
  addressCount(tid: number, ep: Uint8Array): number {
    let n = 0;
    this.forEachOfAddress(tid, ep, () => n++);
    return n;
  }

  /** Calls `fn` with the byte offset (in `page`) of each record of the torrent with the address of `ep`. */
  private forEachOfAddress(tid: number, ep: Uint8Array, fn: (page: Uint8Array, o: number) => void): void {
    const m = tid * META_STRIDE;
    const count = this.meta[m + M_COUNT];
    if (count === 0) return;
    const h = this.meta[m + M_HANDLE];
    const page = this.slab.pages[h >>> 16]!;
    const base = h & 0xffff;
    const R = this.recordSize;
    const A = this.addressLength;
    const idx = this.indexes[tid] ?? null;
    if (idx !== null) {
      const mask = idx.length - 1;
      for (let s = hashBytes(ep, 0, A, this.seed) & mask; idx[s] !== 0; s = (s + 1) & mask) {
        const o = base + (idx[s] - 1) * R;
        if (sameBytes(page, o, ep, 0, A)) fn(page, o);
      }
      return;
    }
    for (let i = 0, o = base; i < count; i++, o += R) if (sameBytes(page, o, ep, 0, A)) fn(page, o);
  }

  lastSeen(tid: number, pos: number): number {
    const h = this.meta[tid * META_STRIDE + M_HANDLE];
    return readU32(this.slab.pages[h >>> 16]!, (h & 0xffff) + pos * this.recordSize + this.endpointLength);
  }

  flags(tid: number, pos: number): number {
    const h = this.meta[tid * META_STRIDE + M_HANDLE];
    return this.slab.pages[h >>> 16]![(h & 0xffff) + pos * this.recordSize + this.endpointLength + 4];
  }

  setFlags(tid: number, pos: number, flags: number): void {
    const h = this.meta[tid * META_STRIDE + M_HANDLE];
    this.slab.pages[h >>> 16]![(h & 0xffff) + pos * this.recordSize + this.endpointLength + 4] = flags;
  }

  /** Copies the endpoint of the record at `pos` into `out` at `outOff`. */
  endpointAt(tid: number, pos: number, out: Uint8Array, outOff: number): void {
    const h = this.meta[tid * META_STRIDE + M_HANDLE];
    const page = this.slab.pages[h >>> 16]!;
    const o = (h & 0xffff) + pos * this.recordSize;
    for (let j = 0; j < this.endpointLength; j++) out[outOff + j] = page[o + j];
  }

  /** Writes records [from, from + n) of the torrent to a slot chunk (see slot-codec.ts). */
  exportRecords(tid: number, from: number, n: number, writer: ChunkWriter): void {
    if (n <= 0) return;
    const h = this.meta[tid * META_STRIDE + M_HANDLE];
    const page = this.slab.pages[h >>> 16]!;
    const R = this.recordSize;
    const E = this.endpointLength;
    for (let i = 0, o = (h & 0xffff) + from * R; i < n; i++, o += R) {
      const f = page[o + E + 4];
      writer.packedPeer(page, o, E, readU32(page, o + E), ((f & FLAG_SEEDER) !== 0 ? FLAG_PEER_SEEDER : 0) | ((f & FLAG_COMPLETED) !== 0 ? FLAG_PEER_COMPLETED : 0));
    }
  }

  // ---------------------------------------------------------------- updates

  /**
   * Adds a peer that `find` did not find. Returns its position. FLAG_SEEDER
   * in the stored flags is set from `seeder`. `sameAddress` is what `find`
   * said about the address (its peers in this torrent): with a reply rule,
   * an address that gets more peers than a reply may hold has all of them
   * marked FLAG_CROWDED, and only marked records are tallied when sampling.
   */
  insert(tid: number, ep: Uint8Array, seeder: boolean, now: number, flags: number, sameAddress = 0): number {
    flags = seeder ? flags | FLAG_SEEDER : flags & ~FLAG_SEEDER;
    const replyLimit = this.replyRule.maxPeersPerAddress;
    if (replyLimit > 0 && sameAddress >= replyLimit) {
      flags |= FLAG_CROWDED;
      if (sameAddress === replyLimit) {
        const at = this.endpointLength + 4;
        this.forEachOfAddress(tid, ep, (page, o) => (page[o + at] |= FLAG_CROWDED));
      }
    }
    const m = tid * META_STRIDE;
    const meta = this.meta;
    const count = meta[m + M_COUNT];
    const k = meta[m + M_CLASS];
    if (k < 0 || count >= CLASS_CAPACITY[k]) this.resize(tid, k < 0 ? 0 : k + 1);
    const h = meta[m + M_HANDLE];
    const page = this.slab.pages[h >>> 16]!;
    const base = h & 0xffff;
    const R = this.recordSize;
    const idx = this.indexes[tid] ?? null;
    let pos: number;
    if (seeder) {
      pos = count;
    } else {
      pos = meta[m + M_LEECHERS];
      // Make room at the end of the leecher run: the first seeder moves to the end.
      if (pos < count) this.move(page, base, idx, pos, count);
      meta[m + M_LEECHERS] = pos + 1;
      this.totalLeechers++;
    }
    const o = base + pos * R;
    const E = this.endpointLength;
    for (let j = 0; j < E; j++) page[o + j] = ep[j];
    page[o + E] = now >>> 24;
    page[o + E + 1] = now >>> 16;
    page[o + E + 2] = now >>> 8;
    page[o + E + 3] = now;
    page[o + E + 4] = flags;
    if (idx !== null) this.indexAdd(idx, page, o, pos);
    meta[m + M_COUNT] = count + 1;
    this.totalPeers++;
    return pos;
  }

  /**
   * Refreshes an existing peer: lastSeen, and its place in the partition when
   * it changed between leecher and seeder. Returns its (possibly new) position.
   */
  touch(tid: number, pos: number, seeder: boolean, now: number): number {
    const m = tid * META_STRIDE;
    const meta = this.meta;
    const h = meta[m + M_HANDLE];
    const page = this.slab.pages[h >>> 16]!;
    const base = h & 0xffff;
    const R = this.recordSize;
    const E = this.endpointLength;
    let o = base + pos * R + E;
    page[o] = now >>> 24;
    page[o + 1] = now >>> 16;
    page[o + 2] = now >>> 8;
    page[o + 3] = now;
    const L = meta[m + M_LEECHERS];
    const wasSeeder = pos >= L;
    if (wasSeeder === seeder) return pos;
    const idx = this.indexes[tid] ?? null;
    let to: number;
    if (seeder) {
      // Leecher -> seeder: swap with the last leecher, the boundary moves down.
      to = L - 1;
      meta[m + M_LEECHERS] = L - 1;
      this.totalLeechers--;
    } else {
      // Seeder -> leecher: swap with the first seeder, the boundary moves up.
      to = L;
      meta[m + M_LEECHERS] = L + 1;
      this.totalLeechers++;
    }
    if (to !== pos) this.swap(page, base, idx, pos, to);
    o = base + to * R + E + 4;
    page[o] = seeder ? page[o] | FLAG_SEEDER : page[o] & ~FLAG_SEEDER;
    return to;
  }

  /** Removes the peer at `pos`. Positions >= pos may be refilled from above. */
  remove(tid: number, pos: number): void {
    const m = tid * META_STRIDE;
    const meta = this.meta;
    const h = meta[m + M_HANDLE];
    const page = this.slab.pages[h >>> 16]!;
    const base = h & 0xffff;
    const idx = this.indexes[tid] ?? null;
    const count = meta[m + M_COUNT];
    const L = meta[m + M_LEECHERS];
    if (idx !== null) this.indexDelete(idx, page, base, pos);
    const last = count - 1;
    if (pos < L) {
      // Leecher: the last leecher fills the gap, the last seeder fills the leecher's old slot.
      const lastLeecher = L - 1;
      if (pos !== lastLeecher) this.move(page, base, idx, lastLeecher, pos);
      if (last !== lastLeecher) this.move(page, base, idx, last, lastLeecher);
      meta[m + M_LEECHERS] = L - 1;
      this.totalLeechers--;
    } else if (pos !== last) {
      this.move(page, base, idx, last, pos);
    }
    meta[m + M_COUNT] = last;
    this.totalPeers--;
    const k = meta[m + M_CLASS];
    if (last === 0) {
      this.resize(tid, -1);
    } else if (k > 0 && last * 4 <= CLASS_CAPACITY[k]) {
      // Shrink to the tightest class: the next insert may grow it again, but it
      // shrinks again only after three quarters are removed (no thrashing).
      this.resize(tid, classFor(last));
    }
  }

  /**
   * Examines positions `from` down to `to` (inclusive, from < count) and
   * removes the peers last seen at or before `cutoff`. Going downwards keeps
   * it exact: a removal only refills `pos` from positions already examined.
   * Returns the number removed.
   */
  expireRange(tid: number, from: number, to: number, cutoff: number): number {
    const m = tid * META_STRIDE;
    const meta = this.meta;
    const R = this.recordSize;
    const E = this.endpointLength;
    let h = meta[m + M_HANDLE];
    let page = this.slab.pages[h >>> 16]!;
    let base = (h & 0xffff) + E;
    let removed = 0;
    for (let pos = from; pos >= to; pos--) {
      const o = base + pos * R;
      const seen = ((page[o] << 24) | (page[o + 1] << 16) | (page[o + 2] << 8) | page[o + 3]) >>> 0;
      if (seen <= cutoff) {
        this.remove(tid, pos);
        removed++;
        if (meta[m + M_COUNT] === 0) break;
        h = meta[m + M_HANDLE];
        page = this.slab.pages[h >>> 16]!;
        base = (h & 0xffff) + E;
      }
    }
    return removed;
  }

  /** Removes every peer (used when a torrent is dropped). */
  clear(tid: number): void {
    const m = tid * META_STRIDE;
    this.totalPeers -= this.meta[m + M_COUNT];
    this.totalLeechers -= this.meta[m + M_LEECHERS];
    this.meta[m + M_COUNT] = 0;
    this.meta[m + M_LEECHERS] = 0;
    this.resize(tid, -1);
  }

  // ---------------------------------------------------------------- sampling

  /**
   * Up to `numwant` endpoints, concatenated, never the record at `selfPos`.
   * A leecher gets one random window (wrapping) over every record. A seeder
   * gets the leechers first (a random window over [0, leechers)), then, when
   * numwant is not reached, seeders from a random window over [leechers,
   * count): two seeders have nothing to trade, but a client added by magnet
   * link announces left=0 before it has the metadata, and a swarm of seeders
   * must still hand it somebody to fetch the metadata from.
   *
   * With a reply rule, a window skips the peers of an address that already
   * has its share of the reply, so the reply may come out shorter than
   * numwant when one address holds much of the swarm.
   */
  sample(tid: number, selfPos: number, forSeeder: boolean, numwant: number): Uint8Array {
    const m = tid * META_STRIDE;
    const meta = this.meta;
    const count = meta[m + M_COUNT];
    const avail = selfPos >= 0 && selfPos < count ? count - 1 : count;
    const n = numwant < avail ? numwant : avail;
    if (n <= 0) return EMPTY;
    const E = this.endpointLength;
    const out = Buffer.allocUnsafe(n * E);
    const tally = this.tally;
    if (tally !== null) tally.begin(n);
    let w: number;
    if (!forSeeder) {
      w = this.copyWindow(m, 0, count, selfPos, out, 0, n, tally);
    } else {
      const leechers = meta[m + M_LEECHERS];
      // The announcing seeder sits among the seeders, never in [0, leechers).
      w = this.copyWindow(m, 0, leechers, -1, out, 0, n < leechers ? n : leechers, tally);
      if (w < out.length) w = this.copyWindow(m, leechers, count, selfPos, out, w, n - w / E, tally);
    }
    if (w === out.length) return out;
    this.replyRule.cut.inc();
    return out.subarray(0, w);
  }

  /**
   * As `sample`, with the peers whose address shares its first `bits` bits
   * with the address of `near` (the announcer's endpoint) listed first,
   * then the others, within each part the seeder rule samples: a leecher
   * gets same-subnet peers, then the rest; a seeder gets same-subnet
   * leechers, other leechers, then same-subnet seeders, other seeders. Each
   * part is searched from a random start, whole when it has at most
   * nearScanWindow(numwant) records (so every same-subnet peer that fits is
   * listed), else over that many. The reply rule holds as in `sample`.
   */
  sampleNear(tid: number, selfPos: number, forSeeder: boolean, numwant: number, near: Uint8Array, bits: number): Uint8Array {
    const maxBits = this.endpointLength === 6 ? 32 : 128;
    if (bits > maxBits) bits = maxBits;
    if (!(bits > 0)) return this.sample(tid, selfPos, forSeeder, numwant);
    const m = tid * META_STRIDE;
    const meta = this.meta;
    const count = meta[m + M_COUNT];
    const avail = selfPos >= 0 && selfPos < count ? count - 1 : count;
    const n = numwant < avail ? numwant : avail;
    if (n <= 0) return EMPTY;
    const E = this.endpointLength;
    const out = Buffer.allocUnsafe(n * E);
    const tally = this.tally;
    if (tally !== null) tally.begin(n);
    let w: number;
    if (!forSeeder) {
      w = this.copyNear(m, 0, count, selfPos, out, 0, n, tally, near, bits);
    } else {
      const leechers = meta[m + M_LEECHERS];
      w = this.copyNear(m, 0, leechers, -1, out, 0, n < leechers ? n : leechers, tally, near, bits);
      if (w < out.length) w = this.copyNear(m, leechers, count, selfPos, out, w, n - w / E, tally, near, bits);
    }
    if (w === out.length) return out;
    // Each part is searched over at least as many records as it is asked for, so only the reply rule leaves a reply short.
    this.replyRule.cut.inc();
    return out.subarray(0, w);
  }

  /**
   * Copies up to `n` endpoints from records [from, to), skipping `skip`,
   * into `out` at byte `at`, those in `near`'s subnet first; returns the
   * byte offset after the last one. One pass from a random start over at
   * most nearScanWindow(n) records: same-subnet peers fill the output from the
   * front, others from the back while there is room; a same-subnet peer
   * found when it is full takes the place of the latest other one. At the
   * end the others are moved up behind the same-subnet ones. No memory
   * besides `out`.
   */
  private copyNear(
    m: number,
    from: number,
    to: number,
    skip: number,
    out: Uint8Array,
    at: number,
    n: number,
    tally: ReplyAddressTally | null,
    near: Uint8Array,
    bits: number,
  ): number {
    const size = to - from;
    if (n <= 0 || size <= 0) return at;
    const E = this.endpointLength;
    const R = this.recordSize;
    const A = this.addressLength;
    const h = this.meta[m + M_HANDLE];
    const page = this.slab.pages[h >>> 16]!;
    const base = h & 0xffff;
    const whole = bits >>> 3;
    const partMask = (0xff00 >>> (bits & 7)) & 0xff;
    // IPv4: one masked 32-bit compare per record instead of a byte loop.
    const v4 = E === 6;
    const mask32 = bits >= 32 ? -1 : ~(-1 >>> bits);
    const want32 = v4 ? ((near[0] << 24) | (near[1] << 16) | (near[2] << 8) | near[3]) & mask32 : 0;
    const seed = this.seed;
    let i = from + Math.floor(this.random() * size);
    if (!(i >= from && i < to)) i = from;
    const end = at + n * E;
    // Same-subnet peers in [at, front), the others in [back, end).
    let front = at;
    let back = end;
    const window = nearScanWindow(n);
    let visits = size < window ? size : window;
    while (visits-- > 0 && front < end) {
      if (i !== skip) {
        const o = base + i * R;
        let same: boolean;
        if (v4) {
          same = (((page[o] << 24) | (page[o + 1] << 16) | (page[o + 2] << 8) | page[o + 3]) & mask32) === want32;
        } else {
          same = true;
          for (let j = 0; j < whole; j++) {
            if (page[o + j] !== near[j]) {
              same = false;
              break;
            }
          }
          if (same && partMask !== 0 && ((page[o + whole] ^ near[whole]) & partMask) !== 0) same = false;
        }
        // The reply rule, as in copyWindow; a peer pushed out below keeps its address's count (only stricter).
        if ((same || front < back) && ((page[o + E + 4] & FLAG_CROWDED) === 0 || tally === null || tally.admit(hashBytes(page, o, A, seed)))) {
          let d: number;
          if (same) {
            if (front === back) back += E;
            d = front;
            front += E;
          } else {
            back -= E;
            d = back;
          }
          for (let j = 0; j < E; j++) out[d + j] = page[o + j];
        }
      }
      if (++i === to) i = from;
    }
    if (back > front && back < end) out.copyWithin(front, back, end);
    return front + (end - back);
  }

  /**
   * Copies up to `n` endpoints from a random window (wrapping) over records
   * [from, to), skipping `skip`, into `out` at byte `at`; returns the byte
   * offset after the last one. The caller guarantees the range holds at
   * least `n` records besides `skip`, so without a tally exactly `n` are
   * copied; with one, records whose address had its share are passed over,
   * at most one lap and MAX_VISITS_PER_PEER visits per wanted peer.
   */
  private copyWindow(
    m: number,
    from: number,
    to: number,
    skip: number,
    out: Uint8Array,
    at: number,
    n: number,
    tally: ReplyAddressTally | null,
  ): number {
    const size = to - from;
    if (n <= 0 || size <= 0) return at;
    const E = this.endpointLength;
    const R = this.recordSize;
    const h = this.meta[m + M_HANDLE];
    const page = this.slab.pages[h >>> 16]!;
    const base = h & 0xffff;
    let i = from + Math.floor(this.random() * size);
    if (!(i >= from && i < to)) i = from;
    let w = at;
    const end = at + n * E;
    if (tally === null) {
      while (w < end) {
        if (i !== skip) {
          const o = base + i * R;
          for (let j = 0; j < E; j++) out[w + j] = page[o + j];
          w += E;
        }
        if (++i === to) i = from;
      }
      return w;
    }
    const A = this.addressLength;
    const seed = this.seed;
    let visits = size < n * MAX_VISITS_PER_PEER + 16 ? size : n * MAX_VISITS_PER_PEER + 16;
    while (w < end && visits-- > 0) {
      if (i !== skip) {
        const o = base + i * R;
        if ((page[o + E + 4] & FLAG_CROWDED) === 0 || tally.admit(hashBytes(page, o, A, seed))) {
          for (let j = 0; j < E; j++) out[w + j] = page[o + j];
          w += E;
        }
      }
      if (++i === to) i = from;
    }
    return w;
  }

  // ---------------------------------------------------------------- internals

  /** Moves the torrent's records into a block of class `k` (-1: drop the block). */
  private resize(tid: number, k: number): void {
    const m = tid * META_STRIDE;
    const meta = this.meta;
    const oldK = meta[m + M_CLASS];
    const oldH = meta[m + M_HANDLE];
    const count = meta[m + M_COUNT];
    const old = this.indexes[tid] ?? null;
    if (old !== null) {
      this.indexBytes -= old.byteLength;
      this.indexes[tid] = null;
    }
    if (k < 0) {
      if (oldK >= 0) this.slab.free(oldH, oldK);
      meta[m + M_CLASS] = -1;
      meta[m + M_HANDLE] = 0;
      return;
    }
    const h = this.slab.alloc(k);
    const page = this.slab.pages[h >>> 16]!;
    const base = h & 0xffff;
    if (oldK >= 0) {
      const oldPage = this.slab.pages[oldH >>> 16]!;
      const ob = oldH & 0xffff;
      const bytes = count * this.recordSize;
      if (bytes <= 64) {
        for (let j = 0; j < bytes; j++) page[base + j] = oldPage[ob + j];
      } else {
        page.set(oldPage.subarray(ob, ob + bytes), base);
      }
      this.slab.free(oldH, oldK);
    }
    meta[m + M_CLASS] = k;
    meta[m + M_HANDLE] = h;
    const cap = CLASS_CAPACITY[k];
    if (cap >= INDEX_MIN_CAPACITY) {
      // Load factor <= 1/2 at full capacity.
      const slots = 2 ** (ceilLog2(cap) + 1);
      const idx: PeerIndex = cap < 65536 ? new Uint16Array(slots) : new Int32Array(slots);
      const R = this.recordSize;
      for (let i = 0, o = base; i < count; i++, o += R) this.indexAdd(idx, page, o, i);
      this.ensureIndexSlot(tid);
      this.indexes[tid] = idx;
      this.indexBytes += idx.byteLength;
    }
  }

  private ensureIndexSlot(tid: number): void {
    while (this.indexes.length <= tid) this.indexes.push(null);
  }

  /** Copies record `from` over record `to` and repoints the index. */
  private move(page: Uint8Array, base: number, idx: PeerIndex | null, from: number, to: number): void {
    const R = this.recordSize;
    const fo = base + from * R;
    if (idx !== null) idx[this.indexSlotOf(idx, page, fo, from)] = to + 1;
    const to0 = base + to * R;
    for (let j = 0; j < R; j++) page[to0 + j] = page[fo + j];
  }

  private swap(page: Uint8Array, base: number, idx: PeerIndex | null, a: number, b: number): void {
    const R = this.recordSize;
    const ao = base + a * R;
    const bo = base + b * R;
    if (idx !== null) {
      const sa = this.indexSlotOf(idx, page, ao, a);
      const sb = this.indexSlotOf(idx, page, bo, b);
      idx[sa] = b + 1;
      idx[sb] = a + 1;
    }
    for (let j = 0; j < R; j++) {
      const t = page[ao + j];
      page[ao + j] = page[bo + j];
      page[bo + j] = t;
    }
  }

  private indexAdd(idx: PeerIndex, page: Uint8Array, o: number, pos: number): void {
    const mask = idx.length - 1;
    let s = hashBytes(page, o, this.addressLength, this.seed) & mask;
    while (idx[s] !== 0) s = (s + 1) & mask;
    idx[s] = pos + 1;
  }

  /** Slot of the index that points at record `pos` (whose bytes start at `o`). */
  private indexSlotOf(idx: PeerIndex, page: Uint8Array, o: number, pos: number): number {
    const mask = idx.length - 1;
    let s = hashBytes(page, o, this.addressLength, this.seed) & mask;
    const want = pos + 1;
    while (idx[s] !== want) {
      if (idx[s] === 0) throw new Error('peer index corrupt');
      s = (s + 1) & mask;
    }
    return s;
  }

  /** Deletes the entry for `pos` with backward-shift deletion (no tombstones). */
  private indexDelete(idx: PeerIndex, page: Uint8Array, base: number, pos: number): void {
    const R = this.recordSize;
    const A = this.addressLength;
    const mask = idx.length - 1;
    let i = this.indexSlotOf(idx, page, base + pos * R, pos);
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const v = idx[j];
      if (v === 0) break;
      const home = hashBytes(page, base + (v - 1) * R, A, this.seed) & mask;
      // Can the entry at j move to the gap at i? Only if its home is not in (i, j] (cyclically).
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!inRange) {
        idx[i] = v;
        i = j;
      }
    }
    idx[i] = 0;
  }

  // ---------------------------------------------------------------- checks (tests)

  /** Full consistency check of one torrent's records and index; returns a problem or null. */
  validate(tid: number): string | null {
    const m = tid * META_STRIDE;
    const meta = this.meta;
    const k = meta[m + M_CLASS];
    const count = meta[m + M_COUNT];
    const L = meta[m + M_LEECHERS];
    if (L < 0 || L > count) return `leechers ${L} out of [0, ${count}]`;
    if (k < 0) return count === 0 ? null : `count ${count} without a block`;
    if (count > CLASS_CAPACITY[k]) return `count ${count} > capacity ${CLASS_CAPACITY[k]}`;
    if (count === 0) return 'empty torrent holds a block';
    const h = meta[m + M_HANDLE];
    const page = this.slab.pages[h >>> 16];
    if (!page) return 'block on a released page';
    const base = h & 0xffff;
    const R = this.recordSize;
    const E = this.endpointLength;
    const idx = this.indexes[tid] ?? null;
    if ((idx !== null) !== CLASS_CAPACITY[k] >= INDEX_MIN_CAPACITY) return `index presence wrong for class ${k}`;
    const seen = new Set<string>();
    for (let i = 0; i < count; i++) {
      const o = base + i * R;
      const key = Buffer.from(page.subarray(o, o + E)).toString('hex');
      if (seen.has(key)) return `duplicate endpoint ${key}`;
      seen.add(key);
      const seederFlag = (page[o + E + 4] & FLAG_SEEDER) !== 0;
      if (seederFlag !== i >= L) return `record ${i} seeder flag ${seederFlag} but leechers=${L}`;
      const ep = page.slice(o, o + E);
      if (this.find(tid, ep) !== i) return `record ${i} not found at its position`;
      const limit = this.replyRule.maxPeersPerAddress;
      if (limit > 0 && (page[o + E + 4] & FLAG_CROWDED) === 0 && this.addressCount(tid, ep) > limit) {
        return `record ${i} is not marked crowded but its address has ${this.addressCount(tid, ep)} peers`;
      }
    }
    if (idx !== null) {
      let used = 0;
      for (let s = 0; s < idx.length; s++) {
        const v = idx[s];
        if (v === 0) continue;
        used++;
        if (v < 1 || v > count) return `index slot ${s} points at ${v - 1} >= count ${count}`;
      }
      if (used !== count) return `index holds ${used} entries for ${count} records`;
    }
    return null;
  }
}

/** Whether bytes [from, to) of the record at `o` equal those of `ep`. */
function sameBytes(page: Uint8Array, o: number, ep: Uint8Array, from: number, to: number): boolean {
  for (let j = from; j < to; j++) if (page[o + j] !== ep[j]) return false;
  return true;
}

/** Seeded murmur3-style hash of `len` bytes (whole words, then up to 3 tail bytes). */
export function hashBytes(b: Uint8Array, o: number, len: number, seed: number): number {
  let h = seed;
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    h = murmur3Round(h, (b[o + i] << 24) | (b[o + i + 1] << 16) | (b[o + i + 2] << 8) | b[o + i + 3]);
  }
  let tail = 0;
  for (; i < len; i++) tail = (tail << 8) | b[o + i];
  return fmix32(h ^ murmur3MixKey(tail) ^ len);
}

function ceilLog2(n: number): number {
  return n <= 1 ? 0 : 32 - Math.clz32(n - 1);
}
