/**
 * Bencode (BEP 3) encoder and a decoder that never throws.
 *
 * Encoding: Uint8Array/Buffer -> byte string; string -> UTF-8 byte string;
 * integer number or bigint -> integer; arrays -> lists; plain objects and
 * Maps -> dictionaries with keys sorted by their raw bytes (object keys and
 * string Map keys are UTF-8; use Uint8Array Map keys for binary keys).
 * Dictionary entries whose value is `undefined` are skipped, which makes
 * optional fields convenient. Unsupported values (non-integer numbers,
 * booleans, null, duplicate keys after encoding...) are programming errors:
 * `encode` throws a TypeError for them.
 *
 * Decoding returns `{ ok: false, error, offset }` for any malformed or
 * truncated input (bounded nesting depth, bounded integer size, trailing
 * bytes rejected unless allowed). Byte strings come back as Buffers that are
 * views into the input (no copy); dictionaries come back as null-prototype
 * objects whose keys are latin1 strings (one char per key byte, so ASCII keys
 * read naturally and binary keys, e.g. scrape info-hashes, are exact).
 * Integers are numbers, or bigints outside the safe-integer range.
 */
import { Buffer } from 'node:buffer';
import { GrowableBuffer, asBuffer } from './binary.js';

export type BencodeInput =
  | Uint8Array
  | string
  | number
  | bigint
  | readonly BencodeInput[]
  | ReadonlyMap<string | Uint8Array, BencodeInput | undefined>
  | BencodeInputObject;

export interface BencodeInputObject {
  readonly [key: string]: BencodeInput | undefined;
}

export type BencodeValue = Buffer | number | bigint | BencodeValue[] | BencodeDict;

export interface BencodeDict {
  [key: string]: BencodeValue;
}

export type BencodeDecodeResult =
  | { readonly ok: true; readonly value: BencodeValue }
  | { readonly ok: false; readonly error: string; readonly offset: number };

export interface BencodeDecodeOptions {
  /** Maximum nesting of lists/dicts; default DEFAULT_MAX_DEPTH. */
  readonly maxDepth?: number;
  /** Accept bytes after the first complete value (default false: they are an error). */
  readonly allowTrailing?: boolean;
}

export const DEFAULT_MAX_DEPTH = 64;
/** Longest integer accepted by the decoder, in digits (beyond it: error, to bound BigInt work). */
export const MAX_INTEGER_DIGITS = 64;

// ---------------------------------------------------------------- encoder

const C_I = 0x69; // i
const C_L = 0x6c; // l
const C_D = 0x64; // d
const C_E = 0x65; // e
const C_COLON = 0x3a;
const C_MINUS = 0x2d;
const C_0 = 0x30;

class Writer extends GrowableBuffer {
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  ascii(s: string): void {
    this.ensure(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.pos++] = s.charCodeAt(i);
  }
  bytes(b: Uint8Array): void {
    this.ascii(String(b.length));
    this.byte(C_COLON);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function encodeInto(w: Writer, v: unknown, depth: number): void {
  if (depth > 1000) throw new TypeError('bencode: value nested too deeply (cycle?)');
  if (typeof v === 'string') {
    w.bytes(Buffer.from(v, 'utf8'));
  } else if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new TypeError(`bencode: cannot encode non-integer number ${v}`);
    w.byte(C_I);
    w.ascii(Number.isSafeInteger(v) ? String(v === 0 ? 0 : v) : BigInt(v).toString());
    w.byte(C_E);
  } else if (typeof v === 'bigint') {
    w.byte(C_I);
    w.ascii(v.toString());
    w.byte(C_E);
  } else if (v instanceof Uint8Array) {
    w.bytes(v);
  } else if (Array.isArray(v)) {
    w.byte(C_L);
    for (const item of v) encodeInto(w, item, depth + 1);
    w.byte(C_E);
  } else if (v instanceof Map) {
    const entries: [Buffer, unknown][] = [];
    for (const [k, val] of v) {
      if (val === undefined) continue;
      if (typeof k === 'string') entries.push([Buffer.from(k, 'utf8'), val]);
      else if (k instanceof Uint8Array) entries.push([asBuffer(k), val]);
      else throw new TypeError('bencode: Map keys must be strings or Uint8Arrays');
    }
    encodeDict(w, entries, depth);
  } else if (typeof v === 'object' && v !== null && isPlainObject(v)) {
    const entries: [Buffer, unknown][] = [];
    for (const k of Object.keys(v)) {
      const val = (v as Record<string, unknown>)[k];
      if (val !== undefined) entries.push([Buffer.from(k, 'utf8'), val]);
    }
    encodeDict(w, entries, depth);
  } else {
    throw new TypeError(`bencode: cannot encode ${v === null ? 'null' : typeof v}`);
  }
}

function encodeDict(w: Writer, entries: [Buffer, unknown][], depth: number): void {
  entries.sort((a, b) => Buffer.compare(a[0], b[0]));
  w.byte(C_D);
  for (let i = 0; i < entries.length; i++) {
    const [k, val] = entries[i];
    if (i > 0 && Buffer.compare(entries[i - 1][0], k) === 0) {
      throw new TypeError('bencode: duplicate dictionary key');
    }
    w.bytes(k);
    encodeInto(w, val, depth + 1);
  }
  w.byte(C_E);
}

/** Encode a value (see the module comment for the mapping). Throws TypeError on unsupported values. */
export function encode(value: BencodeInput): Buffer {
  const w = new Writer(256);
  encodeInto(w, value, 0);
  return w.buf.subarray(0, w.pos);
}

// ---------------------------------------------------------------- decoder

class DecodeError {
  constructor(
    readonly message: string,
    readonly offset: number,
  ) {}
}

class Decoder {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly maxDepth: number,
  ) {}

  fail(message: string, offset = this.pos): never {
    throw new DecodeError(message, offset);
  }

  value(depth: number): BencodeValue {
    const buf = this.buf;
    if (this.pos >= buf.length) this.fail('unexpected end of input');
    const c = buf[this.pos];
    if (c === C_I) return this.integer();
    if (c >= C_0 && c <= C_0 + 9) return this.bytes();
    if (c === C_L) {
      if (depth >= this.maxDepth) this.fail('nesting too deep');
      this.pos++;
      const list: BencodeValue[] = [];
      for (;;) {
        if (this.pos >= buf.length) this.fail('unterminated list');
        if (buf[this.pos] === C_E) break;
        list.push(this.value(depth + 1));
      }
      this.pos++;
      return list;
    }
    if (c === C_D) {
      if (depth >= this.maxDepth) this.fail('nesting too deep');
      this.pos++;
      const dict = Object.create(null) as BencodeDict;
      for (;;) {
        if (this.pos >= buf.length) this.fail('unterminated dictionary');
        const k = buf[this.pos];
        if (k === C_E) break;
        if (k < C_0 || k > C_0 + 9) this.fail('dictionary key is not a byte string');
        const keyStart = this.pos;
        const keyBytes = this.bytes();
        const key = keyBytes.toString('latin1');
        if (Object.prototype.hasOwnProperty.call(dict, key)) this.fail('duplicate dictionary key', keyStart);
        dict[key] = this.value(depth + 1);
      }
      this.pos++;
      return dict;
    }
    return this.fail('unexpected byte');
  }

  integer(): number | bigint {
    const buf = this.buf;
    const start = this.pos;
    let p = start + 1; // skip 'i'
    const negative = p < buf.length && buf[p] === C_MINUS;
    if (negative) p++;
    const digitsStart = p;
    let n = 0;
    while (p < buf.length) {
      const c = buf[p];
      if (c === C_E) break;
      if (c < C_0 || c > C_0 + 9) this.fail('invalid integer', p);
      if (p - digitsStart >= MAX_INTEGER_DIGITS) this.fail('integer too long', start);
      n = n * 10 + (c - C_0);
      p++;
    }
    if (p >= buf.length) this.fail('unterminated integer', start);
    const digits = p - digitsStart;
    if (digits === 0) this.fail('empty integer', start);
    if (buf[digitsStart] === C_0 && (digits > 1 || negative)) this.fail('invalid integer (leading zero or -0)', start);
    this.pos = p + 1;
    if (digits <= 15) return negative ? -n : n;
    const big = BigInt(buf.toString('latin1', digitsStart, p));
    const signed = negative ? -big : big;
    return signed >= BigInt(Number.MIN_SAFE_INTEGER) && signed <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(signed)
      : signed;
  }

  bytes(): Buffer {
    const buf = this.buf;
    const start = this.pos;
    let p = start;
    let n = 0;
    while (p < buf.length) {
      const c = buf[p];
      if (c === C_COLON) break;
      if (c < C_0 || c > C_0 + 9) this.fail('invalid string length', p);
      if (p - start >= 16) this.fail('string length too long', start);
      n = n * 10 + (c - C_0);
      p++;
    }
    if (p >= buf.length) this.fail('unterminated string length', start);
    if (buf[start] === C_0 && p - start > 1) this.fail('invalid string length (leading zero)', start);
    p++; // ':'
    if (n > buf.length - p) this.fail('string runs past end of input', start);
    this.pos = p + n;
    return buf.subarray(p, p + n);
  }
}

/**
 * Decode one bencoded value. Never throws: malformed input of any kind gives
 * `{ ok: false, error, offset }`. Duplicate dictionary keys are rejected;
 * key order is not enforced (some encoders in the wild do not sort).
 */
export function decode(input: Uint8Array, options?: BencodeDecodeOptions): BencodeDecodeResult {
  try {
    const maxDepth = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
    const d = new Decoder(asBuffer(input), maxDepth);
    const value = d.value(0);
    if (d.pos !== d.buf.length && !options?.allowTrailing) {
      return { ok: false, error: 'trailing data after value', offset: d.pos };
    }
    return { ok: true, value };
  } catch (e) {
    if (e instanceof DecodeError) return { ok: false, error: e.message, offset: e.offset };
    // Not expected to happen; kept so the "never throws" contract holds even for a bug.
    return { ok: false, error: `internal decoder error: ${String(e)}`, offset: 0 };
  }
}

/** Convenience for reading decoded values: the dictionary, or null if `v` is not one. */
export function asDict(v: BencodeValue | undefined): BencodeDict | null {
  return v !== undefined && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) ? v : null;
}
