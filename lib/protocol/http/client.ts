/**
 * HTTP tracker codec, the client's half, for tests and the load generator
 * (the tracker never sends announces): `buildAnnounceQuery`,
 * `buildScrapeQuery`, `parseAnnounceReply`, `parseScrapeReply`. The
 * tracker's half is server.ts. Replies are decoded by the npm `bencode`
 * package (the tracker itself never decodes bencode, and writes its replies
 * with the much faster writers of server.ts).
 */
import { Buffer } from 'node:buffer';
import { AnnounceEvent } from '../../tracker/events.js';
import bencode from 'bencode';
import type { HttpScrapeStats } from './server.js';

// ---------------------------------------------------------------- queries

const HEX_UPPER = '0123456789ABCDEF';

function isUnreserved(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e // - . _ ~
  );
}

/**
 * Percent-encode a latin1 binary string byte by byte (RFC 3986 unreserved
 * chars stay raw, everything else becomes %XX). Throws RangeError on a char
 * above 0xFF: binary strings never contain one.
 */
export function percentEncodeBinary(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new RangeError('not a binary (latin1) string');
    out += isUnreserved(c) ? s[i] : '%' + HEX_UPPER[c >>> 4] + HEX_UPPER[c & 15];
  }
  return out;
}

export interface HttpAnnounceQueryParams {
  readonly infoHash: string;
  readonly peerId: string;
  readonly port: number;
  readonly uploaded?: number;
  readonly downloaded?: number;
  /** Default 0. */
  readonly left?: number;
  readonly event?: AnnounceEvent;
  readonly numwant?: number;
  /** Default true (sent as compact=1). */
  readonly compact?: boolean;
  readonly noPeerId?: boolean;
  readonly key?: string;
  readonly trackerId?: string;
}

const EVENT_NAMES: readonly string[] = ['', 'completed', 'started', 'stopped'];

/** Announce query string (without `?`), binary values percent-encoded. */
export function buildAnnounceQuery(p: HttpAnnounceQueryParams): string {
  let q =
    'info_hash=' + percentEncodeBinary(p.infoHash) +
    '&peer_id=' + percentEncodeBinary(p.peerId) +
    '&port=' + p.port +
    '&uploaded=' + (p.uploaded ?? 0) +
    '&downloaded=' + (p.downloaded ?? 0) +
    '&left=' + (p.left ?? 0);
  if (p.event !== undefined && p.event !== AnnounceEvent.None) q += '&event=' + EVENT_NAMES[p.event];
  if (p.numwant !== undefined) q += '&numwant=' + p.numwant;
  q += p.compact === false ? '&compact=0' : '&compact=1';
  if (p.noPeerId) q += '&no_peer_id=1';
  if (p.key !== undefined) q += '&key=' + percentEncodeBinary(p.key);
  if (p.trackerId !== undefined) q += '&trackerid=' + percentEncodeBinary(p.trackerId);
  return q;
}

/** Scrape query string (without `?`): one `info_hash` per hash. */
export function buildScrapeQuery(infoHashes: readonly string[]): string {
  let q = '';
  for (let i = 0; i < infoHashes.length; i++) {
    q += (i === 0 ? 'info_hash=' : '&info_hash=') + percentEncodeBinary(infoHashes[i]);
  }
  return q;
}

// ---------------------------------------------------------------- replies

export interface HttpPeerEntry {
  readonly ip: string;
  readonly port: number;
}

export interface HttpAnnounceReplyDecoded {
  readonly type: 'announce';
  readonly interval: number;
  readonly minInterval?: number;
  readonly complete: number;
  readonly incomplete: number;
  readonly downloaded?: number;
  /** Compact IPv4 peers (6-byte entries); empty when absent or in the dictionary model. */
  readonly peers: Uint8Array;
  /** Compact IPv6 peers (18-byte entries); empty when absent. */
  readonly peers6: Uint8Array;
  /** Dictionary-model peers, when `peers` was a list. */
  readonly peerList?: HttpPeerEntry[];
  readonly warning?: string;
  readonly trackerId?: string;
}

export type HttpAnnounceReplyParseResult =
  | HttpAnnounceReplyDecoded
  | { readonly type: 'failure'; readonly reason: string }
  | { readonly type: 'invalid'; readonly error: string };

export type HttpScrapeReplyParseResult =
  | { readonly type: 'scrape'; readonly files: Map<string, HttpScrapeStats> }
  | { readonly type: 'failure'; readonly reason: string }
  | { readonly type: 'invalid'; readonly error: string };

const EMPTY = new Uint8Array(0);

/**
 * Why the npm `bencode` decoder must not see `body`, or undefined when it may.
 * It loops forever on a negative string length ("l-3:e": it steps back and
 * reads the same bytes again) and recurses once per nesting level, so this
 * walks the body once, building nothing: one value, strings within the body,
 * integers of digits, at most MAX_DEPTH levels, no trailing bytes.
 */
function malformed(b: Uint8Array): string | undefined {
  const n = b.length;
  let i = 0;
  let depth = 0;
  do {
    if (i >= n) return 'truncated';
    const c = b[i];
    if (c === 0x64 || c === 0x6c) {
      // d, l
      if (++depth > MAX_DEPTH) return `nested deeper than ${MAX_DEPTH} at ${i}`;
      i++;
    } else if (c === 0x65) {
      // e
      if (depth === 0) return `unexpected "e" at ${i}`;
      depth--;
      i++;
    } else if (c === 0x69) {
      // i<digits>e, optionally negative
      let j = i + 1;
      if (b[j] === 0x2d) j++;
      const digits = j;
      while (j < n && b[j] >= 0x30 && b[j] <= 0x39) j++;
      if (j === digits || j >= n || b[j] !== 0x65) return `bad integer at ${i}`;
      i = j + 1;
    } else if (c >= 0x30 && c <= 0x39) {
      // <length>:<bytes>
      let length = 0;
      let j = i;
      while (j < n && b[j] >= 0x30 && b[j] <= 0x39 && length <= n) length = length * 10 + (b[j++] - 0x30);
      if (j >= n || b[j] !== 0x3a) return `bad string length at ${i}`;
      i = j + 1 + length;
      if (i > n) return `string at ${j} runs past the end`;
    } else {
      return `unexpected byte 0x${c.toString(16)} at ${i}`;
    }
  } while (depth > 0);
  return i === n ? undefined : `trailing bytes at ${i}`;
}

const MAX_DEPTH = 64;

type Dict = Record<string, unknown>;

function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** An own key only: a reply with a `__proto__` key must not reach the prototype chain. */
function get(d: Dict, key: string): unknown {
  return Object.hasOwn(d, key) ? d[key] : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function bytesOf(v: unknown): Buffer | undefined {
  return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : undefined;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * A dictionary key as the bytes it was: the npm decoder gives keys as UTF-8
 * text, or as hex when they are not valid UTF-8, and its TextDecoder drops
 * a leading byte-order mark. Exact for 20-byte keys (info-hashes): their
 * text is at most 20 chars, their hex 40, and only a dropped mark leaves 17
 * bytes.
 */
function keyBytes(key: string): string {
  if (key.length === 40 && /^[0-9a-f]+$/.test(key)) return Buffer.from(key, 'hex').toString('latin1');
  const bytes = Buffer.from(key, 'utf8');
  return (bytes.length === 17 ? Buffer.concat([BOM, bytes]) : bytes).toString('latin1');
}

type ReplyProblem = { readonly type: 'failure'; readonly reason: string } | { readonly type: 'invalid'; readonly error: string };

/** The top-level dictionary of a reply (decoded by the npm `bencode` package), or the failure / decoding problem to return instead. */
function decodeTop(body: Uint8Array): { readonly dict: Dict } | { readonly problem: ReplyProblem } {
  const problem = malformed(body);
  if (problem !== undefined) return { problem: { type: 'invalid', error: `bencode: ${problem}` } };
  let value: unknown;
  try {
    value = bencode.decode(body);
  } catch (error) {
    return { problem: { type: 'invalid', error: `bencode: ${(error as Error).message}` } };
  }
  if (!isDict(value)) return { problem: { type: 'invalid', error: 'reply is not a dictionary' } };
  const failure = bytesOf(get(value, 'failure reason'));
  if (failure !== undefined) return { problem: { type: 'failure', reason: failure.toString('utf8') } };
  return { dict: value };
}

/** Decode an announce reply body as a client. Never throws. */
export function parseAnnounceReply(body: Uint8Array): HttpAnnounceReplyParseResult {
  const top = decodeTop(body);
  if ('problem' in top) return top.problem;
  const d = top.dict;
  const interval = num(get(d, 'interval'));
  const complete = num(get(d, 'complete')) ?? 0;
  const incomplete = num(get(d, 'incomplete')) ?? 0;
  if (interval === undefined) return { type: 'invalid', error: 'missing interval' };
  const rawPeers = get(d, 'peers');
  let peers: Uint8Array = EMPTY;
  let peerList: HttpPeerEntry[] | undefined;
  if (rawPeers instanceof Uint8Array) {
    if (rawPeers.length % 6 !== 0) return { type: 'invalid', error: 'partial compact peer' };
    peers = rawPeers;
  } else if (Array.isArray(rawPeers)) {
    peerList = [];
    for (const item of rawPeers) {
      const ip = isDict(item) ? bytesOf(get(item, 'ip')) : undefined;
      const port = isDict(item) ? num(get(item, 'port')) : undefined;
      if (ip === undefined || port === undefined) return { type: 'invalid', error: 'bad peer dictionary' };
      peerList.push({ ip: ip.toString('latin1'), port });
    }
  } else if (rawPeers !== undefined) {
    return { type: 'invalid', error: 'bad peers' };
  }
  const rawPeers6 = get(d, 'peers6');
  let peers6: Uint8Array = EMPTY;
  if (rawPeers6 instanceof Uint8Array) {
    if (rawPeers6.length % 18 !== 0) return { type: 'invalid', error: 'partial compact peer6' };
    peers6 = rawPeers6;
  } else if (rawPeers6 !== undefined) {
    return { type: 'invalid', error: 'bad peers6' };
  }
  const warning = bytesOf(get(d, 'warning message'));
  const trackerId = bytesOf(get(d, 'tracker id'));
  return {
    type: 'announce',
    interval,
    minInterval: num(get(d, 'min interval')),
    complete,
    incomplete,
    downloaded: num(get(d, 'downloaded')),
    peers,
    peers6,
    peerList,
    warning: warning?.toString('utf8'),
    trackerId: trackerId?.toString('latin1'),
  };
}

/** Decode a scrape reply body as a client; `files` is keyed by latin1 info-hash. Never throws. */
export function parseScrapeReply(body: Uint8Array): HttpScrapeReplyParseResult {
  const top = decodeTop(body);
  if ('problem' in top) return top.problem;
  const files = get(top.dict, 'files');
  if (!isDict(files)) return { type: 'invalid', error: 'missing files' };
  const out = new Map<string, HttpScrapeStats>();
  for (const key of Object.keys(files)) {
    const s = files[key];
    if (!isDict(s)) return { type: 'invalid', error: 'bad file entry' };
    out.set(keyBytes(key), {
      complete: num(get(s, 'complete')) ?? 0,
      incomplete: num(get(s, 'incomplete')) ?? 0,
      downloaded: num(get(s, 'downloaded')) ?? 0,
    });
  }
  return { type: 'scrape', files: out };
}
