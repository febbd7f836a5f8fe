/**
 * Seeded randomness for tests and benchmarks, so that a failing property test
 * can be replayed exactly.
 *
 * `SEED` is PROTOCOL_TEST_SEED when set, else drawn at random once per
 * process. Tests that use it print it (`printSeed`) and name it in assertion
 * messages (`where`), so a failure says which value reproduces it. Each test
 * draws from its own stream (`rngFor(name)`): adding draws to one test does
 * not shift the numbers another test sees under the same seed.
 */
import { Buffer } from 'node:buffer';

export const SEED =
  process.env.PROTOCOL_TEST_SEED !== undefined
    ? Number(process.env.PROTOCOL_TEST_SEED) >>> 0
    : (Math.random() * 0x1_0000_0000) >>> 0;

/** Deterministic PRNG (mulberry32), uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

/** The stream of the test called `name` under SEED. */
export function rngFor(name: string): () => number {
  let a = SEED;
  for (let i = 0; i < name.length; i++) a = Math.imul(a ^ name.charCodeAt(i), 0x9e3779b1) >>> 0;
  return mulberry32(a);
}

/** Uniform integer in [0, n). */
export const int = (r: () => number, n: number): number => Math.floor(r() * n);

export const pick = <T>(r: () => number, xs: readonly T[]): T => xs[int(r, xs.length)];

export const randomBytes = (r: () => number, n: number): Buffer => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = int(r, 256);
  return b;
};

/** `n` random bytes as a latin1 ("binary") string, one char per byte. */
export const randomBinary = (r: () => number, n: number): string => randomBytes(r, n).toString('latin1');

/** An assertion message that names the case and the seed that reproduces it. */
export const where = (what: string, i: number | string): string => `${what} #${i} (PROTOCOL_TEST_SEED=${SEED})`;

/** Prints the seed in the test's output, failing or not. */
export function printSeed(t: { diagnostic(message: string): void }): void {
  t.diagnostic(`PROTOCOL_TEST_SEED=${SEED}`);
}
