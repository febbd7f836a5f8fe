/**
 * The torrents of each slot, for the store's torrent ids: a head per slot
 * and a doubly linked list through two Int32Arrays indexed by torrent id
 * (8 bytes per torrent id). Exporting or dropping one slot then visits its
 * torrents only, not every torrent of the store.
 *
 * Doubly linked, because unlinking happens on every torrent deletion
 * (expiry) and must not cost the length of the slot's list: info-hashes
 * are uniform, but anyone can make up hashes that share a slot.
 *
 * Readers that pause in the middle of a list (an export stepping across
 * event-loop turns) hold a SlotListCursor: unlinking the torrent a cursor
 * points at moves the cursor on, so it never follows a torrent id that was
 * freed and handed to a torrent of another slot. Torrents linked while a
 * cursor is open go to the head, behind it; they were changes, and the slot
 * is marked changed for them (see slot-changes.ts).
 */
import { SLOT_COUNT } from '../../../lib/cluster/slot-table.js';

const NONE = -1;

export class SlotListCursor {
  /** Torrent id the reader takes next, or -1 at the end. */
  tid: number;

  constructor(
    readonly slot: number,
    first: number,
  ) {
    this.tid = first;
  }
}

export class SlotLists {
  private readonly heads = new Int32Array(SLOT_COUNT).fill(NONE);
  private next: Int32Array;
  private prev: Int32Array;
  private readonly cursors = new Set<SlotListCursor>();

  constructor(idCapacity: number) {
    this.next = new Int32Array(idCapacity);
    this.prev = new Int32Array(idCapacity);
  }

  /** Makes room for ids < n (copies). */
  setIdCapacity(n: number): void {
    if (n <= this.next.length) return;
    const next = new Int32Array(n);
    next.set(this.next);
    this.next = next;
    const prev = new Int32Array(n);
    prev.set(this.prev);
    this.prev = prev;
  }

  get byteLength(): number {
    return this.heads.byteLength + this.next.byteLength + this.prev.byteLength;
  }

  first(slot: number): number {
    return this.heads[slot];
  }

  /** The torrent after `tid` in its slot's list, or -1. */
  after(tid: number): number {
    return this.next[tid];
  }

  link(tid: number, slot: number): void {
    const head = this.heads[slot];
    this.next[tid] = head;
    this.prev[tid] = NONE;
    if (head !== NONE) this.prev[head] = tid;
    this.heads[slot] = tid;
  }

  unlink(tid: number, slot: number): void {
    const n = this.next[tid];
    const p = this.prev[tid];
    if (p === NONE) this.heads[slot] = n;
    else this.next[p] = n;
    if (n !== NONE) this.prev[n] = p;
    if (this.cursors.size > 0) for (const c of this.cursors) if (c.tid === tid) c.tid = n;
  }

  /** A cursor at the head of `slot`'s list; close it when done, or it is fixed up forever. */
  open(slot: number): SlotListCursor {
    const cursor = new SlotListCursor(slot, this.heads[slot]);
    this.cursors.add(cursor);
    return cursor;
  }

  close(cursor: SlotListCursor): void {
    this.cursors.delete(cursor);
  }

  /** Cursors open now (tests: a reader that forgot to close one). */
  get openCursors(): number {
    return this.cursors.size;
  }
}
