/**
 * Info-hash -> torrent id, without a JS object or string per torrent.
 *
 * A `Map<string, number>` costs ~100 bytes per torrent (the 20-char key
 * string, the entry, the table slack), which at 1M peers over ~80k torrents is
 * ~9 bytes per peer. Here the 20 key bytes live in one Uint8Array indexed by
 * torrent id, and an open-addressing Int32Array (linear probing, load <= 1/2,
 * value = id + 1, backward-shift deletion) maps a seeded hash of the key to
 * the id: ~30-45 bytes per torrent.
 *
 * Keys arrive as 20-character latin1 strings (one char per byte); lookups hash
 * and compare the string's char codes directly, so nothing is allocated.
 */
import { fmix32, murmur3Round } from '../../../lib/crypto/murmur3.js';

export const KEY_LENGTH = 20;
const MIN_SLOTS = 1024;

export class TorrentTable {
  private keys: Uint8Array;
  private slots: Int32Array;
  private mask: number;
  private readonly seed: number;
  /** Number of keys held. */
  size = 0;

  constructor(seed: number, idCapacity: number) {
    this.seed = seed | 0;
    this.keys = new Uint8Array(idCapacity * KEY_LENGTH);
    this.slots = new Int32Array(MIN_SLOTS);
    this.mask = MIN_SLOTS - 1;
  }

  /** Makes room for ids < n (the caller grows its own per-id arrays alike). */
  setIdCapacity(n: number): void {
    if (n * KEY_LENGTH <= this.keys.length) return;
    const keys = new Uint8Array(n * KEY_LENGTH);
    keys.set(this.keys);
    this.keys = keys;
  }

  /** Whether `key` can be stored: 20 chars, each 0..255. */
  static valid(key: string): boolean {
    if (key.length !== KEY_LENGTH) return false;
    for (let i = 0; i < KEY_LENGTH; i++) if (key.charCodeAt(i) > 255) return false;
    return true;
  }

  /** Torrent id for `key`, or -1. Any string is accepted (invalid ones are never found). */
  get(key: string): number {
    if (key.length !== KEY_LENGTH) return -1;
    const slots = this.slots;
    const mask = this.mask;
    const keys = this.keys;
    let s = hashString(key, this.seed) & mask;
    for (;;) {
      const v = slots[s];
      if (v === 0) return -1;
      const o = (v - 1) * KEY_LENGTH;
      let i = 0;
      while (i < KEY_LENGTH && keys[o + i] === key.charCodeAt(i)) i++;
      if (i === KEY_LENGTH) return v - 1;
      s = (s + 1) & mask;
    }
  }

  /** Adds a key that `get` did not find, for id `tid`. `key` must be `valid`. */
  add(key: string, tid: number): void {
    const o = tid * KEY_LENGTH;
    for (let i = 0; i < KEY_LENGTH; i++) this.keys[o + i] = key.charCodeAt(i);
    this.size++;
    if (this.size * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    this.insertSlot(tid);
  }

  /** Removes the key of id `tid` (which must be present). */
  delete(tid: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = hashBytes(this.keys, tid * KEY_LENGTH, this.seed) & mask;
    while (slots[i] !== tid + 1) {
      if (slots[i] === 0) throw new Error('torrent table corrupt');
      i = (i + 1) & mask;
    }
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const v = slots[j];
      if (v === 0) break;
      const home = hashBytes(this.keys, (v - 1) * KEY_LENGTH, this.seed) & mask;
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!inRange) {
        slots[i] = v;
        i = j;
      }
    }
    slots[i] = 0;
    this.keys.fill(0, tid * KEY_LENGTH, (tid + 1) * KEY_LENGTH);
    this.size--;
    if (this.slots.length > MIN_SLOTS && this.size * 8 < this.slots.length) this.rehash(this.slots.length / 2);
  }

  /** The slot of id `tid`: the first two bytes of its key. */
  slotOf(tid: number): number {
    const o = tid * KEY_LENGTH;
    return (this.keys[o] << 8) | this.keys[o + 1];
  }

  /** Key bytes of every id, id `tid`'s at [tid * KEY_LENGTH, (tid + 1) * KEY_LENGTH); replaced when ids grow. */
  get keyBytes(): Uint8Array {
    return this.keys;
  }

  /** The key of id `tid` as a latin1 string. */
  keyOf(tid: number): string {
    const o = tid * KEY_LENGTH;
    return String.fromCharCode(...this.keys.subarray(o, o + KEY_LENGTH));
  }

  /** Bytes held by the key bytes and the slot table. */
  get byteLength(): number {
    return this.keys.byteLength + this.slots.byteLength;
  }

  private insertSlot(tid: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let s = hashBytes(this.keys, tid * KEY_LENGTH, this.seed) & mask;
    while (slots[s] !== 0) s = (s + 1) & mask;
    slots[s] = tid + 1;
  }

  private rehash(n: number): void {
    const old = this.slots;
    this.slots = new Int32Array(n);
    this.mask = n - 1;
    for (let s = 0; s < old.length; s++) if (old[s] !== 0) this.insertSlot(old[s] - 1);
  }
}

/** Seeded murmur3-style hash of a 20-char key (char codes as bytes, big-endian words). */
export function hashString(k: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < KEY_LENGTH; i += 4) {
    h = murmur3Round(h, (k.charCodeAt(i) << 24) | (k.charCodeAt(i + 1) << 16) | (k.charCodeAt(i + 2) << 8) | k.charCodeAt(i + 3));
  }
  return fmix32(h ^ KEY_LENGTH);
}

/** The same hash over 20 bytes of `b` at `o`. */
export function hashBytes(b: Uint8Array, o: number, seed: number): number {
  let h = seed;
  for (let i = 0; i < KEY_LENGTH; i += 4) {
    h = murmur3Round(h, (b[o + i] << 24) | (b[o + i + 1] << 16) | (b[o + i + 2] << 8) | b[o + i + 3]);
  }
  return fmix32(h ^ KEY_LENGTH);
}
