/**
 * SipHash-2-4 (Aumasson & Bernstein) over 32-bit halves, allocation-free.
 *
 * Node's crypto HMAC costs microseconds per call because of object creation
 * and the C++ boundary; UDP connection ids are checked on every packet, so a
 * keyed PRF in plain JS is the cheaper choice. 64-bit lanes are kept as
 * (hi, lo) uint32 pairs in a reusable Uint32Array.
 */

// Lane layout in `s`: v0 = s[0]:s[1] (hi:lo), v1 = s[2]:s[3], v2 = s[4]:s[5], v3 = s[6]:s[7].
const s = new Uint32Array(8);

function add(a: number, b: number): void {
  const lo = (s[a + 1] + s[b + 1]) >>> 0;
  s[a] = (s[a] + s[b] + (lo < s[a + 1] ? 1 : 0)) >>> 0;
  s[a + 1] = lo;
}

function rotl(a: number, n: number): void {
  let hi = s[a];
  let lo = s[a + 1];
  if (n >= 32) {
    const t = hi;
    hi = lo;
    lo = t;
    n -= 32;
  }
  if (n > 0) {
    const nhi = ((hi << n) | (lo >>> (32 - n))) >>> 0;
    lo = ((lo << n) | (hi >>> (32 - n))) >>> 0;
    hi = nhi;
  }
  s[a] = hi;
  s[a + 1] = lo;
}

function xor(a: number, b: number): void {
  s[a] ^= s[b];
  s[a + 1] ^= s[b + 1];
}

function round(): void {
  add(0, 2); rotl(2, 13); xor(2, 0); rotl(0, 32);
  add(4, 6); rotl(6, 16); xor(6, 4);
  add(0, 6); rotl(6, 21); xor(6, 0);
  add(4, 2); rotl(2, 17); xor(2, 4); rotl(4, 32);
}

/** A 128-bit SipHash key as four little-endian uint32 words (k0 lo, k0 hi, k1 lo, k1 hi). */
export type SipKey = Uint32Array;

export function sipKey(key: Uint8Array): SipKey {
  if (key.length !== 16) throw new RangeError(`SipHash key must be 16 bytes, got ${key.length}`);
  const view = new DataView(key.buffer, key.byteOffset, 16);
  return Uint32Array.of(view.getUint32(0, true), view.getUint32(4, true), view.getUint32(8, true), view.getUint32(12, true));
}

function readWordLE(data: Uint8Array, offset: number, length: number, into: Uint32Array): void {
  // into[0] = hi, into[1] = lo of the little-endian 64-bit word at offset (length bytes, <= 8).
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < length; i++) {
    const byte = data[offset + i];
    if (i < 4) lo |= byte << (8 * i);
    else hi |= byte << (8 * (i - 4));
  }
  into[0] = hi >>> 0;
  into[1] = lo >>> 0;
}

const m = new Uint32Array(2);
const out = new Uint32Array(2);

/**
 * SipHash-2-4 of `data[0, length)`. Returns the 64-bit tag as [hi, lo] in a
 * shared Uint32Array that the next call overwrites: copy what you keep.
 */
export function siphash24(key: SipKey, data: Uint8Array, length = data.length): Uint32Array {
  // k0 = key[1]:key[0], k1 = key[3]:key[2]
  s[0] = (key[1] ^ 0x736f6d65) >>> 0; s[1] = (key[0] ^ 0x70736575) >>> 0;
  s[2] = (key[3] ^ 0x646f7261) >>> 0; s[3] = (key[2] ^ 0x6e646f6d) >>> 0;
  s[4] = (key[1] ^ 0x6c796765) >>> 0; s[5] = (key[0] ^ 0x6e657261) >>> 0;
  s[6] = (key[3] ^ 0x74656462) >>> 0; s[7] = (key[2] ^ 0x79746573) >>> 0;

  const full = length - (length % 8);
  for (let offset = 0; offset < full; offset += 8) {
    readWordLE(data, offset, 8, m);
    s[6] ^= m[0]; s[7] ^= m[1];
    round(); round();
    s[0] ^= m[0]; s[1] ^= m[1];
  }
  readWordLE(data, full, length - full, m);
  m[0] = (m[0] | ((length & 0xff) << 24)) >>> 0;
  s[6] ^= m[0]; s[7] ^= m[1];
  round(); round();
  s[0] ^= m[0]; s[1] ^= m[1];

  s[5] ^= 0xff;
  round(); round(); round(); round();
  out[0] = (s[0] ^ s[2] ^ s[4] ^ s[6]) >>> 0;
  out[1] = (s[1] ^ s[3] ^ s[5] ^ s[7]) >>> 0;
  return out;
}
