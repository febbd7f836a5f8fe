/**
 * Transfer accounting state of private peers, on the swarm that owns their
 * torrent's slot: per (torrent id, user id, peer_id), the last reported
 * uploaded / downloaded / left, first and last seen, and the seed and active
 * time accumulated since first seen.
 *
 * Storage is packed: one row per peer across typed arrays (no object per
 * peer), found through an open-addressing table (linear probing, seeded
 * murmur3, backward-shift deletion) so that a lookup allocates nothing. Bytes
 * per peer are measured in tests/unit/accounting/peer-accounts.test.ts
 * (`bytesPerPeer()`); the columns alone are ROW_BYTES.
 *
 * `announce()` applies one announce and leaves what it credits in `credit`
 * (one reused object). Rules, as kuroneko applies them:
 *  - a peer's first announce sets the baseline and credits nothing: after a
 *    tracker restart without the state, or a peer moving in without it, the
 *    client's session totals must not be credited a second time;
 *  - a counter lower than the last report (the client restarted its session)
 *    credits 0 and becomes the new baseline;
 *  - seed time grows by the time since the last announce when the peer was a
 *    seeder then, active time always; both capped at the inactivity limit;
 *  - `completed` records a snatch once per peer;
 *  - `stopped` credits the last deltas and forgets the peer.
 *
 * Rows of one slot are linked (SLOT_INDEX_BYTES more per peer, 512 KiB of
 * heads and counts), so a snapshot or handoff of a slot reads that slot's
 * peers only, not every row.
 */
import { SLOT_COUNT } from '../../../lib/cluster/slot-table.js';
import { fmix32, murmur3Round } from '../../../lib/crypto/murmur3.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';

/** 4 torrent + 4 user + 20 peer_id + 2 slot + 3 x 8 counters + 4 x 4 times + 1 flags. */
export const ROW_BYTES = 71;
/** The per-slot list links of a row (previous and next row of the same slot). */
export const SLOT_INDEX_BYTES = 8;
export const PEER_ID_BYTES = 20;

export const FLAG_SNATCHED = 1;
export const FLAG_SEEDING = 2;

/** One announce of a private peer, as the swarm sees it. */
export interface AccountedAnnounce {
  torrentId: number;
  userId: number;
  /** 20 bytes as a latin1 string. */
  peerId: string;
  /** The torrent's slot (first two bytes of its info-hash), for export by slot. */
  slot: number;
  uploaded: number;
  downloaded: number;
  left: number;
  event: AnnounceEvent;
  /** Seconds since the epoch. */
  now: number;
}

/** What one announce credits (raw bytes as reported; multipliers are applied by credit.ts). */
export class AnnounceDelta {
  /** The peer was not known: its report became the baseline. */
  first = false;
  rawUp = 0;
  rawDown = 0;
  /** Seconds to add to seed time and active time. */
  seedTime = 0;
  activeTime = 0;
  /** This announce completed the download for the first time for this peer. */
  snatch = false;
  /** The peer is a seeder now (left = 0). */
  seeding = false;
  /** `stopped`: the peer was forgotten after this announce. */
  removed = false;
  /** When the peer was first seen (seconds), for starttime columns. */
  firstSeen = 0;
}

/** One peer's state, as exported (chunk.ts) and merged. */
export interface PeerAccount {
  torrentId: number;
  userId: number;
  peerId: string;
  slot: number;
  uploaded: number;
  downloaded: number;
  left: number;
  firstSeen: number;
  lastSeen: number;
  seedTime: number;
  activeTime: number;
  flags: number;
}

const EMPTY = -1;
const INITIAL_ROWS = 1024;

export class PeerAccounts {
  /** The result of the last announce(). */
  readonly credit = new AnnounceDelta();
  private readonly seed = (Math.random() * 0x100000000) | 0;
  private rows = 0;
  private capacity = INITIAL_ROWS;
  private torrent = new Uint32Array(INITIAL_ROWS);
  private user = new Uint32Array(INITIAL_ROWS);
  private peerIds = new Uint8Array(INITIAL_ROWS * PEER_ID_BYTES);
  private slots = new Uint16Array(INITIAL_ROWS);
  private uploaded = new Float64Array(INITIAL_ROWS);
  private downloaded = new Float64Array(INITIAL_ROWS);
  private left = new Float64Array(INITIAL_ROWS);
  private firstSeen = new Uint32Array(INITIAL_ROWS);
  private lastSeen = new Uint32Array(INITIAL_ROWS);
  private seedTime = new Uint32Array(INITIAL_ROWS);
  private activeTime = new Uint32Array(INITIAL_ROWS);
  private flags = new Uint8Array(INITIAL_ROWS);
  /** Per-slot doubly linked lists of rows: heads, sizes, and each row's neighbours (EMPTY = none). */
  private readonly slotHead = new Int32Array(SLOT_COUNT).fill(EMPTY);
  private readonly slotSize = new Uint32Array(SLOT_COUNT);
  private slotPrev = new Int32Array(INITIAL_ROWS);
  private slotNext = new Int32Array(INITIAL_ROWS);
  /** Hash table of row numbers; EMPTY = free. Kept at most half full. */
  private table = new Int32Array(INITIAL_ROWS * 2).fill(EMPTY);
  /** Where purgeInactive() resumes. */
  private cursor = 0;

  /** @param inactivitySeconds cap on the time one announce adds to seed and active time (private.peerInactivitySeconds). */
  constructor(private readonly inactivitySeconds: number) {}

  get size(): number {
    return this.rows;
  }

  /** Bytes held per peer (columns plus hash table), at the current size. */
  bytesPerPeer(): number {
    return this.rows === 0 ? 0 : (this.capacity * (ROW_BYTES + SLOT_INDEX_BYTES) + this.table.length * 4) / this.rows;
  }

  /** Applies one announce; what it credits is in `this.credit` until the next call. */
  announce(a: AccountedAnnounce): AnnounceDelta {
    const c = this.credit;
    const seeding = a.left === 0;
    c.seeding = seeding;
    c.snatch = false;
    c.removed = false;
    let row = this.find(a.torrentId, a.userId, a.peerId);
    if (row === EMPTY) {
      c.first = true;
      c.rawUp = 0;
      c.rawDown = 0;
      c.seedTime = 0;
      c.activeTime = 0;
      c.firstSeen = a.now;
      if (a.event === AnnounceEvent.Stopped) {
        c.removed = true;
        return c;
      }
      row = this.insert(a.torrentId, a.userId, a.peerId);
      this.link(row, a.slot);
      this.firstSeen[row] = a.now;
      this.lastSeen[row] = a.now;
      this.seedTime[row] = 0;
      this.activeTime[row] = 0;
      this.flags[row] = seeding ? FLAG_SEEDING : 0;
    } else {
      c.first = false;
      c.rawUp = a.uploaded > this.uploaded[row] ? a.uploaded - this.uploaded[row] : 0;
      c.rawDown = a.downloaded > this.downloaded[row] ? a.downloaded - this.downloaded[row] : 0;
      const elapsed = a.now > this.lastSeen[row] ? Math.min(a.now - this.lastSeen[row], this.inactivitySeconds) : 0;
      c.activeTime = elapsed;
      c.seedTime = (this.flags[row] & FLAG_SEEDING) !== 0 ? elapsed : 0;
      c.firstSeen = this.firstSeen[row];
      this.activeTime[row] += elapsed;
      this.seedTime[row] += c.seedTime;
      if (a.now > this.lastSeen[row]) this.lastSeen[row] = a.now;
      this.flags[row] = (this.flags[row] & ~FLAG_SEEDING) | (seeding ? FLAG_SEEDING : 0);
    }
    this.uploaded[row] = a.uploaded;
    this.downloaded[row] = a.downloaded;
    this.left[row] = a.left;
    if (a.event === AnnounceEvent.Completed && (this.flags[row] & FLAG_SNATCHED) === 0) {
      this.flags[row] |= FLAG_SNATCHED;
      c.snatch = true;
    }
    if (a.event === AnnounceEvent.Stopped) {
      this.removeRow(row);
      c.removed = true;
    }
    return c;
  }

  /** The peer's state, or undefined. Allocates; for tests and tools, not the request path. */
  get(torrentId: number, userId: number, peerId: string): PeerAccount | undefined {
    const row = this.find(torrentId, userId, peerId);
    return row === EMPTY ? undefined : this.account(row);
  }

  /**
   * Forgets peers last seen before `cutoff` (seconds), calling `onPurged`
   * for each (to mark its transfer_history row inactive); looks at most
   * `budget` rows per call, resuming where the previous call stopped.
   * Returns true when the sweep reached the end of the rows.
   */
  purgeInactive(cutoff: number, budget: number, onPurged: (torrentId: number, userId: number) => void): boolean {
    let examined = 0;
    while (this.cursor < this.rows && examined < budget) {
      examined++;
      const row = this.cursor;
      if (this.lastSeen[row] < cutoff) {
        onPurged(this.torrent[row], this.user[row]);
        this.removeRow(row); // the last row moved into `row`: look at it next
      } else {
        this.cursor++;
      }
    }
    if (this.cursor < this.rows) return false;
    this.cursor = 0;
    return true;
  }

  /** Peers held in `slot`. */
  slotPeerCount(slot: number): number {
    return this.slotSize[slot];
  }

  /** Calls `visit` with every peer of `slot` (that slot's rows only). */
  forEachInSlot(slot: number, visit: (account: PeerAccount) => void): void {
    for (let row = this.slotHead[slot]; row !== EMPTY; row = this.slotNext[row]) visit(this.account(row));
  }

  /** Forgets every peer of `slot`. Returns how many. */
  dropSlot(slot: number): number {
    let dropped = 0;
    while (this.slotHead[slot] !== EMPTY) {
      this.removeRow(this.slotHead[slot]);
      dropped++;
    }
    return dropped;
  }

  /** Calls `visit` with every peer whose slot `wanted` accepts (one pass over all rows). */
  forEachInSlots(wanted: (slot: number) => boolean, visit: (account: PeerAccount) => void): void {
    for (let row = 0; row < this.rows; row++) if (wanted(this.slots[row])) visit(this.account(row));
  }

  /** Forgets every peer whose slot `wanted` accepts (after handing the slots off). Returns how many. */
  dropSlots(wanted: (slot: number) => boolean): number {
    let dropped = 0;
    for (let row = 0; row < this.rows; ) {
      if (wanted(this.slots[row])) {
        this.removeRow(row);
        dropped++;
      } else {
        row++;
      }
    }
    return dropped;
  }

  /** Adds an imported peer, merged with the one held (mergeAccounts in chunk.ts decides). */
  put(account: PeerAccount, merge: (held: PeerAccount, incoming: PeerAccount) => PeerAccount): void {
    let row = this.find(account.torrentId, account.userId, account.peerId);
    const value = row === EMPTY ? account : merge(this.account(row), account);
    if (row === EMPTY) {
      row = this.insert(account.torrentId, account.userId, account.peerId);
      this.link(row, value.slot);
    } else if (this.slots[row] !== value.slot) {
      this.unlink(row);
      this.link(row, value.slot);
    }
    this.uploaded[row] = value.uploaded;
    this.downloaded[row] = value.downloaded;
    this.left[row] = value.left;
    this.firstSeen[row] = value.firstSeen;
    this.lastSeen[row] = value.lastSeen;
    this.seedTime[row] = value.seedTime;
    this.activeTime[row] = value.activeTime;
    this.flags[row] = value.flags;
  }

  private account(row: number): PeerAccount {
    let peerId = '';
    const base = row * PEER_ID_BYTES;
    for (let i = 0; i < PEER_ID_BYTES; i++) peerId += String.fromCharCode(this.peerIds[base + i]);
    return {
      torrentId: this.torrent[row],
      userId: this.user[row],
      peerId,
      slot: this.slots[row],
      uploaded: this.uploaded[row],
      downloaded: this.downloaded[row],
      left: this.left[row],
      firstSeen: this.firstSeen[row],
      lastSeen: this.lastSeen[row],
      seedTime: this.seedTime[row],
      activeTime: this.activeTime[row],
      flags: this.flags[row],
    };
  }

  // ---------------------------------------------------------------- hash table

  private hash(torrentId: number, userId: number, peerId: string): number {
    let h = murmur3Round(this.seed, torrentId);
    h = murmur3Round(h, userId);
    for (let i = 0; i + 3 < PEER_ID_BYTES; i += 4) {
      h = murmur3Round(h, peerId.charCodeAt(i) | (peerId.charCodeAt(i + 1) << 8) | (peerId.charCodeAt(i + 2) << 16) | (peerId.charCodeAt(i + 3) << 24));
    }
    return fmix32(h ^ 28);
  }

  private matches(row: number, torrentId: number, userId: number, peerId: string): boolean {
    if (this.torrent[row] !== torrentId || this.user[row] !== userId) return false;
    const base = row * PEER_ID_BYTES;
    for (let i = 0; i < PEER_ID_BYTES; i++) if (this.peerIds[base + i] !== (peerId.charCodeAt(i) & 0xff)) return false;
    return true;
  }

  private find(torrentId: number, userId: number, peerId: string): number {
    const mask = this.table.length - 1;
    for (let i = this.hash(torrentId, userId, peerId) & mask; ; i = (i + 1) & mask) {
      const row = this.table[i];
      if (row === EMPTY) return EMPTY;
      if (this.matches(row, torrentId, userId, peerId)) return row;
    }
  }

  private insert(torrentId: number, userId: number, peerId: string): number {
    if (this.rows === this.capacity) this.growRows();
    if ((this.rows + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
    const row = this.rows++;
    this.torrent[row] = torrentId;
    this.user[row] = userId;
    const base = row * PEER_ID_BYTES;
    for (let i = 0; i < PEER_ID_BYTES; i++) this.peerIds[base + i] = peerId.charCodeAt(i) & 0xff;
    this.place(row);
    return row;
  }

  private place(row: number): void {
    const mask = this.table.length - 1;
    let i = this.hashRow(row) & mask;
    while (this.table[i] !== EMPTY) i = (i + 1) & mask;
    this.table[i] = row;
  }

  private hashRow(row: number): number {
    let h = murmur3Round(this.seed, this.torrent[row]);
    h = murmur3Round(h, this.user[row]);
    const p = this.peerIds;
    for (let i = row * PEER_ID_BYTES, end = i + PEER_ID_BYTES; i < end; i += 4) h = murmur3Round(h, p[i] | (p[i + 1] << 8) | (p[i + 2] << 16) | (p[i + 3] << 24));
    return fmix32(h ^ 28);
  }

  /** Table position holding `row`. */
  private position(row: number): number {
    const mask = this.table.length - 1;
    let i = this.hashRow(row) & mask;
    while (this.table[i] !== row) i = (i + 1) & mask;
    return i;
  }

  private link(row: number, slot: number): void {
    const next = this.slotHead[slot];
    this.slots[row] = slot;
    this.slotPrev[row] = EMPTY;
    this.slotNext[row] = next;
    if (next !== EMPTY) this.slotPrev[next] = row;
    this.slotHead[slot] = row;
    this.slotSize[slot]++;
  }

  private unlink(row: number): void {
    const slot = this.slots[row];
    const prev = this.slotPrev[row];
    const next = this.slotNext[row];
    if (prev !== EMPTY) this.slotNext[prev] = next;
    else this.slotHead[slot] = next;
    if (next !== EMPTY) this.slotPrev[next] = prev;
    this.slotSize[slot]--;
  }

  /** Removes `row`: backward-shift deletion in the table, then the last row moves into its place (rows stay dense). */
  private removeRow(row: number): void {
    this.unlink(row);
    const mask = this.table.length - 1;
    let hole = this.position(row);
    this.table[hole] = EMPTY;
    for (let i = (hole + 1) & mask; this.table[i] !== EMPTY; i = (i + 1) & mask) {
      const moved = this.table[i];
      const home = this.hashRow(moved) & mask;
      // Move it into the hole unless its home lies cyclically in (hole, i].
      if (hole <= i ? home <= hole || home > i : home <= hole && home > i) {
        this.table[hole] = moved;
        this.table[i] = EMPTY;
        hole = i;
      }
    }
    const last = --this.rows;
    if (row !== last) {
      this.table[this.position(last)] = row;
      this.unlink(last);
      this.copyRow(last, row);
      this.link(row, this.slots[row]);
    }
  }

  private copyRow(from: number, to: number): void {
    this.torrent[to] = this.torrent[from];
    this.user[to] = this.user[from];
    this.peerIds.copyWithin(to * PEER_ID_BYTES, from * PEER_ID_BYTES, (from + 1) * PEER_ID_BYTES);
    this.slots[to] = this.slots[from];
    this.uploaded[to] = this.uploaded[from];
    this.downloaded[to] = this.downloaded[from];
    this.left[to] = this.left[from];
    this.firstSeen[to] = this.firstSeen[from];
    this.lastSeen[to] = this.lastSeen[from];
    this.seedTime[to] = this.seedTime[from];
    this.activeTime[to] = this.activeTime[from];
    this.flags[to] = this.flags[from];
  }

  private growRows(): void {
    const capacity = this.capacity * 2;
    const grow = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(a: T, per = 1): T => {
      const b = new (a.constructor as new (n: number) => T)(capacity * per);
      b.set(a);
      return b;
    };
    this.torrent = grow(this.torrent);
    this.user = grow(this.user);
    this.peerIds = grow(this.peerIds, PEER_ID_BYTES);
    this.slots = grow(this.slots);
    this.uploaded = grow(this.uploaded);
    this.downloaded = grow(this.downloaded);
    this.left = grow(this.left);
    this.firstSeen = grow(this.firstSeen);
    this.lastSeen = grow(this.lastSeen);
    this.seedTime = grow(this.seedTime);
    this.activeTime = grow(this.activeTime);
    this.flags = grow(this.flags);
    this.slotPrev = grow(this.slotPrev);
    this.slotNext = grow(this.slotNext);
    this.capacity = capacity;
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size).fill(EMPTY);
    for (let row = 0; row < this.rows; row++) this.place(row);
  }
}
