/**
 * Info-hash -> entry number for the catalog's torrents, without a string per
 * torrent: the 20-byte keys are packed in one Uint8Array and found through
 * an open-addressing table (linear probing, seeded murmur3) of entry
 * numbers. About 20 bytes of key plus 6-12 bytes of table per torrent,
 * against ~75 for a Map of 20-character strings; a lookup reads the
 * request's latin1 string in place and allocates nothing.
 *
 * Built once (add, then freeze), read many times; adding after freeze()
 * throws, so a Catalog holding it never changes.
 */
import { fmix32, murmur3Round } from '../../crypto/murmur3.js';

export const INFO_HASH_BYTES = 20;
const EMPTY = -1;

export class InfoHashIndex {
  private keys = new Uint8Array(1024 * INFO_HASH_BYTES);
  private table = new Int32Array(2048).fill(EMPTY);
  private count = 0;
  private readonly seed = (Math.random() * 0x100000000) | 0;
  private frozen = false;

  get size(): number {
    return this.count;
  }

  /** Adds a 20-byte key (latin1 string) as entry number `size`; returns it, or -1 for a duplicate or a key of another length. */
  add(key: string): number {
    if (this.frozen) throw new Error('InfoHashIndex: add() after freeze()');
    if (key.length !== INFO_HASH_BYTES || this.get(key) !== EMPTY) return EMPTY;
    if ((this.count + 1) * INFO_HASH_BYTES > this.keys.length) {
      const bigger = new Uint8Array(Math.max(1024 * INFO_HASH_BYTES, this.keys.length * 2));
      bigger.set(this.keys);
      this.keys = bigger;
    }
    if ((this.count + 1) * 10 > this.table.length * 7) this.rehash(this.table.length * 2);
    const entry = this.count++;
    const base = entry * INFO_HASH_BYTES;
    for (let i = 0; i < INFO_HASH_BYTES; i++) this.keys[base + i] = key.charCodeAt(i);
    this.place(entry);
    return entry;
  }

  /** The entry number of a 20-byte key (latin1 string), or -1. */
  get(key: string): number {
    if (key.length !== INFO_HASH_BYTES) return EMPTY;
    const mask = this.table.length - 1;
    let h = this.seed;
    for (let i = 0; i < INFO_HASH_BYTES; i += 4) h = murmur3Round(h, key.charCodeAt(i) | (key.charCodeAt(i + 1) << 8) | (key.charCodeAt(i + 2) << 16) | (key.charCodeAt(i + 3) << 24));
    for (let slot = fmix32(h ^ INFO_HASH_BYTES) & mask; ; slot = (slot + 1) & mask) {
      const entry = this.table[slot];
      if (entry === EMPTY) return EMPTY;
      const base = entry * INFO_HASH_BYTES;
      let i = 0;
      while (i < INFO_HASH_BYTES && this.keys[base + i] === key.charCodeAt(i)) i++;
      if (i === INFO_HASH_BYTES) return entry;
    }
  }

  /** Trims the key array and sizes the table for the final count (at most 70% full). */
  freeze(): this {
    if (this.frozen) return this;
    this.frozen = true;
    this.keys = this.keys.slice(0, this.count * INFO_HASH_BYTES);
    let size = 16;
    while (size * 7 < this.count * 10) size *= 2;
    this.rehash(size);
    return this;
  }

  /** Bytes held: keys and table. */
  bytes(): number {
    return this.keys.byteLength + this.table.byteLength;
  }

  private hashEntry(entry: number): number {
    let h = this.seed;
    const k = this.keys;
    for (let i = entry * INFO_HASH_BYTES, end = i + INFO_HASH_BYTES; i < end; i += 4) h = murmur3Round(h, k[i] | (k[i + 1] << 8) | (k[i + 2] << 16) | (k[i + 3] << 24));
    return fmix32(h ^ INFO_HASH_BYTES);
  }

  private place(entry: number): void {
    const mask = this.table.length - 1;
    let slot = this.hashEntry(entry) & mask;
    while (this.table[slot] !== EMPTY) slot = (slot + 1) & mask;
    this.table[slot] = entry;
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size).fill(EMPTY);
    for (let entry = 0; entry < this.count; entry++) this.place(entry);
  }
}
