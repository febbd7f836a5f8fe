/**
 * Deterministic randomness for the load generator.
 *
 * Everything here is 32-bit integer arithmetic (Math.imul, >>> 0) so the C
 * generator (bench/loadtest/udpgen.c) reproduces the same numbers from the
 * same seed: same torrent hashes, same peer ids, same popularity CDF.
 *
 * - `fmix32`: MurmurHash3's finaliser, a bijection on uint32; used as a
 *   counter-based hash (torrent i's hash is computable on its own).
 * - `Sfc32`: Chris Doty-Humphrey's Small Fast Counting PRNG (128-bit state,
 *   passes PractRand), seeded through fmix32. One instance per socket /
 *   connection so workers never share state.
 */

import { fmix32 } from '../../lib/crypto/murmur3.js';

export { fmix32 };

/** Hash of (a, b, c) as uint32; used to derive per-object streams and identifiers. */
export function mix3(a: number, b: number, c: number): number {
  return fmix32((fmix32((fmix32(a ^ 0x9e3779b9) + b) >>> 0) + c) >>> 0);
}

const TWO_POW_32 = 0x1_0000_0000;

/** sfc32 PRNG. `nextU32` gives uint32; `next` a double in [0, 1) with 32 bits of randomness. */
export class Sfc32 {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    this.a = mix3(seed, stream, 1);
    this.b = mix3(seed, stream, 2);
    this.c = mix3(seed, stream, 3);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = (this.b ^ (this.b >>> 9)) >>> 0;
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform double in [0, 1): nextU32() / 2^32. */
  next(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** Uniform integer in [0, n) for 1 <= n <= 2^32 (multiply-shift; bias < n / 2^32, irrelevant here). */
  below(n: number): number {
    return Math.floor((this.nextU32() / TWO_POW_32) * n);
  }

  /** Standard normal deviate (Box-Muller, one of the pair; not needed bit-exact across languages). */
  normal(): number {
    let u = this.next();
    while (u === 0) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /**
   * Gamma(shape, scale) deviate, Marsaglia-Tsang (2000); for shape < 1 uses
   * the boost Gamma(a) = Gamma(a + 1) * U^(1/a).
   */
  gamma(shape: number, scale: number): number {
    if (!(shape > 0) || !(scale > 0)) throw new RangeError('gamma shape and scale must be > 0');
    if (shape < 1) {
      let u = this.next();
      while (u === 0) u = this.next();
      return this.gamma(shape + 1, scale) * Math.pow(u, 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.next();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v * scale;
      if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v * scale;
    }
  }
}
