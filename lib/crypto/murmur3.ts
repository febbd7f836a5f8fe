/**
 * MurmurHash3 (x86, 32-bit) building blocks, shared by slot ownership
 * (lib/cluster/slot-table.ts, where every process must compute the same
 * owners) and the swarm store's open-addressing tables (seeded per process).
 * Each caller reads its own words (byte order, tail) and composes the steps:
 *
 *   h = seed; for each 32-bit word k: h = murmur3Round(h, k);
 *   tail (if any): h ^= murmur3MixKey(tail);  return fmix32(h ^ length).
 *
 * The constants are literals, not module constants, and the functions are
 * small, so that V8 inlines them into the callers' loops.
 */

/** The per-word key mix (k *= c1; k = rotl(k, 15); k *= c2). */
export function murmur3MixKey(k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  return Math.imul((k << 15) | (k >>> 17), 0x1b873593);
}

/** One body round: mixes word `k` into state `h`. Returns an int32. */
export function murmur3Round(h: number, k: number): number {
  h ^= murmur3MixKey(k);
  return (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
}

/** The finalizer (full avalanche on 32 bits). Returns an unsigned value. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
