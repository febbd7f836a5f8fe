/**
 * URL query components (RFC 3986) as trackers receive them: binary values
 * percent-encoded byte by byte, one char per byte once decoded (latin1), `+`
 * a literal byte, never UTF-8 decoded. The HTTP announce parser reads its
 * own fields with these; QueryParams is the lazy view of the rest, for HTTP
 * queries and UDP's BEP 41 URL data alike.
 */
import { Buffer } from 'node:buffer';
import { PathOnly, type RequestParams } from '../tracker/params.js';
import { hexValue } from './binary.js';

const C_PERCENT = 37;

/** The path of the usual announce URL (BEP 3's ".../announce"). */
export const ANNOUNCE_PATH = '/announce';
/** That path and nothing else: shared by every announce that carried no more. */
export const ANNOUNCE_ONLY: RequestParams = new PathOnly(ANNOUNCE_PATH);

/**
 * Percent-decode raw[s, e) into `out` (which has room for `max` bytes).
 * Returns the byte count, or -1 on a bad escape, a char > 0xFF, or more than
 * `max` bytes.
 */
export function percentDecodeInto(raw: string, s: number, e: number, out: Uint8Array, max: number): number {
  let n = 0;
  let i = s;
  while (i < e) {
    if (n === max) return -1;
    let c = raw.charCodeAt(i);
    if (c === C_PERCENT) {
      if (i + 2 >= e) return -1;
      const hi = hexValue(raw.charCodeAt(i + 1));
      const lo = hexValue(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return -1;
      c = (hi << 4) | lo;
      i += 3;
    } else {
      if (c > 0xff) return -1;
      i++;
    }
    out[n++] = c;
  }
  return n;
}

const NON_LATIN1 = /[^\x00-\xff]/;

/** Percent-decode raw[s, e) to a latin1 string, or null on a bad escape / char > 0xFF. */
export function decodeText(raw: string, s: number, e: number): string | null {
  const percent = raw.indexOf('%', s);
  if (percent < 0 || percent >= e) {
    // Nothing to decode (a token, a passkey): native scans instead of a loop per char.
    const plain = raw.slice(s, e);
    return NON_LATIN1.test(plain) ? null : plain;
  }
  for (let i = s; i < percent; i++) if (raw.charCodeAt(i) > 0xff) return null;
  const out = Buffer.allocUnsafe(e - s);
  const n = percentDecodeInto(raw, s, e, out, e - s);
  return n < 0 ? null : out.toString('latin1', 0, n);
}

/** A name or value for a hook: decoded, or as sent when it holds a bad escape. */
function decodeOrRaw(raw: string, s: number, e: number): string {
  return decodeText(raw, s, e) ?? raw.slice(s, e);
}

/**
 * The parameters of `query` (a leading `?` is skipped) whose names, as sent,
 * are not in `known` (names are matched as sent, as the announce parser
 * matches them), read only when asked. Holds the query string itself,
 * nothing parsed: a request pays for reading it only when a hook does.
 */
export class QueryParams implements RequestParams {
  constructor(
    readonly path: string,
    private readonly query: string,
    private readonly known: ReadonlySet<string> | null,
  ) {}

  get(name: string): string | undefined {
    let found: string | undefined;
    this.each((key, raw, vs, ve) => {
      if (key !== name) return false;
      found = decodeOrRaw(raw, vs, ve);
      return true;
    });
    return found;
  }

  entries(): [string, string][] {
    const out: [string, string][] = [];
    this.each((key, raw, vs, ve) => {
      out.push([key, decodeOrRaw(raw, vs, ve)]);
      return false;
    });
    return out;
  }

  /** Calls `visit` with each unknown parameter's decoded name and its value's bounds, until it returns true. */
  private each(visit: (name: string, raw: string, valueStart: number, valueEnd: number) => boolean): void {
    const raw = this.query;
    const len = raw.length;
    let i = len > 0 && raw.charCodeAt(0) === 63 /* ? */ ? 1 : 0;
    // Next '=' at or after i, -1 once there is none: cached, so that many
    // '='-less parameters stay linear instead of rescanning to the end.
    let nextEq = -2;
    while (i < len) {
      let amp = raw.indexOf('&', i);
      if (amp < 0) amp = len;
      if (nextEq !== -1 && nextEq < i) nextEq = raw.indexOf('=', i);
      const eq = nextEq >= 0 && nextEq < amp ? nextEq : amp;
      if (eq > i && !this.known?.has(raw.slice(i, eq)) && visit(decodeOrRaw(raw, i, eq), raw, eq < amp ? eq + 1 : amp, amp)) return;
      i = amp + 1;
    }
  }
}
