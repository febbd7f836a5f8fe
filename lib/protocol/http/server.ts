/**
 * HTTP tracker codec (BEP 3, BEP 23 compact peers, BEP 7 IPv6 peers,
 * BEP 48 scrape), the tracker's half. No sockets, no module state observable
 * by callers.
 *
 * - `parseAnnounceQuery` / `parseScrapeQuery` take the raw query string
 *   exactly as received (the part after `?`; a leading `?` is tolerated),
 *   still percent-encoded. Each char of it is one byte of the request line;
 *   a char above 0xFF can only come from a broken upstream decoder and makes
 *   any parameter we read from it invalid. They never throw.
 * - `encodeAnnounceReply` / `encodeScrapeReply` / `encodeFailure` build the
 *   bencoded body, sized first and allocated once.
 *
 * The client's half (queries, reply parsers) is client.ts.
 *
 * Query parsing rules (documented decisions):
 * - Parameter names are matched as sent (not percent-decoded); unknown
 *   parameters are skipped without being validated.
 * - A repeated parameter: the first occurrence wins (announce). Scrape takes
 *   every `info_hash`.
 * - `+` is a literal byte 0x2B, not a space: these are RFC 3986 query
 *   components carrying binary data, not HTML form data.
 * - info_hash / peer_id: raw chars (<= 0xFF) and %XX (either hex case) mix
 *   freely and must decode to exactly 20 bytes. Never UTF-8 decoded.
 * - Numbers: decimal digits only (percent-encoded digits are accepted),
 *   values beyond Number.MAX_SAFE_INTEGER clamp to it. numwant may also be
 *   negative, which means 0 ("default").
 */
import { Buffer } from 'node:buffer';
import { AnnounceEvent } from '../../tracker/events.js';
import { PathOnly, type RequestParams } from '../../tracker/params.js';
import { formatIp, hexValue, latin1From20, readUint16BE, writeLatin1 } from '../binary.js';
import { ANNOUNCE_ONLY, ANNOUNCE_PATH, decodeText, percentDecodeInto, QueryParams } from '../query.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const C_PERCENT = 37;
const C_AMP = '&';
const C_EQ = '=';

/** Default cap on info-hashes per HTTP scrape (the same as one UDP scrape, so both frontends agree). */
export const DEFAULT_MAX_SCRAPE_HASHES = 74;

// ---------------------------------------------------------------- query parsing

export interface HttpAnnounceParams {
  /** 20-byte info-hash as a latin1 string. */
  readonly infoHash: string;
  /** 20-byte peer id as a latin1 string. */
  readonly peerId: string;
  /** 1..65535. */
  readonly port: number;
  readonly uploaded: number;
  readonly downloaded: number;
  readonly left: number;
  readonly event: AnnounceEvent;
  /** 0 means "the configured default" (missing or negative numwant). */
  readonly numwant: number;
  /** Default true; `compact=0` selects the dictionary model. */
  readonly compact: boolean;
  /** Informational: replies never carry peer ids anyway. */
  readonly noPeerId: boolean;
  /** `key` (percent-decoded, latin1), when sent. */
  readonly key?: string;
  /** `trackerid` (percent-decoded, latin1), when sent. */
  readonly trackerId?: string;
  /** The path, and the parameters not read above (ANNOUNCE_QUERY_KEYS), for the edge's hooks. */
  readonly params: RequestParams;
}

/** The announce parameters the tracker reads itself; hooks see the others. */
export const ANNOUNCE_QUERY_KEYS: ReadonlySet<string> = new Set([
  'info_hash', 'peer_id', 'port', 'uploaded', 'downloaded', 'left', 'event', 'numwant', 'num_want', 'compact', 'no_peer_id', 'key', 'trackerid',
]);

export type HttpAnnounceParseResult =
  | { readonly ok: true; readonly value: HttpAnnounceParams }
  | { readonly ok: false; readonly error: string };

export type HttpScrapeParseResult =
  | { readonly ok: true; readonly infoHashes: string[]; readonly truncated: boolean }
  | { readonly ok: false; readonly error: string };

/**
 * Scratch space for decoding a 20-byte id. Private, used synchronously and
 * never escapes (the result is copied into a string), so sharing it between
 * calls is unobservable; it saves an allocation per id on the hot path.
 */
const ID_SCRATCH = new Uint8Array(20);

/** Decode raw[s, e) to exactly 20 bytes as a fresh flat latin1 string, or null. */
function decodeBinary20(raw: string, s: number, e: number): string | null {
  // At most 60 chars can encode 20 bytes; anything longer is wrong without a look.
  if (e - s > 60 || e - s < 20) return null;
  return percentDecodeInto(raw, s, e, ID_SCRATCH, 20) === 20 ? latin1From20(ID_SCRATCH, 0) : null;
}

/** Non-negative decimal integer in raw[s, e), clamped to MAX_SAFE; -1 if empty or not all digits. */
function parseUint(raw: string, s: number, e: number, allowEscapes: boolean): number {
  if (s >= e) return -1;
  let n = 0;
  for (let i = s; i < e; i++) {
    const d = raw.charCodeAt(i) - 48;
    if (d < 0 || d > 9) {
      if (allowEscapes && raw.charCodeAt(i) === C_PERCENT) {
        const text = decodeText(raw, s, e);
        return text === null ? -1 : parseUint(text, 0, text.length, false);
      }
      return -1;
    }
    n = n * 10 + d;
    if (n > MAX_SAFE) n = MAX_SAFE;
  }
  return n;
}

/** True when raw[s, e), percent-decoded on the fly, equals the ASCII literal `lit`. No allocation. */
function fieldEquals(raw: string, s: number, e: number, lit: string): boolean {
  let j = 0;
  let i = s;
  while (i < e) {
    if (j >= lit.length) return false;
    let c = raw.charCodeAt(i);
    if (c === C_PERCENT) {
      if (i + 2 >= e) return false;
      const hi = hexValue(raw.charCodeAt(i + 1));
      const lo = hexValue(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return false;
      c = (hi << 4) | lo;
      i += 3;
    } else {
      i++;
    }
    if (c !== lit.charCodeAt(j++)) return false;
  }
  return j === lit.length;
}

/** raw[i, i + lit.length) === lit, for a caller that already checked the length. (Faster than startsWith here.) */
function keyIs(raw: string, i: number, lit: string): boolean {
  for (let j = 0; j < lit.length; j++) if (raw.charCodeAt(i + j) !== lit.charCodeAt(j)) return false;
  return true;
}

function fail(error: string): { readonly ok: false; readonly error: string } {
  return { ok: false, error };
}

/**
 * Parse an announce query. Never throws.
 *
 * Errors (client-facing): missing/invalid info_hash, peer_id, port (0 and
 * > 65535 are invalid), left (BEP 3 makes it required; defaulting it to 0
 * would turn a leecher into a seeder); invalid uploaded, downloaded, numwant,
 * event, key, trackerid. uploaded/downloaded default to 0. event accepts
 * started, completed, stopped; empty, missing and `paused` (BEP 21) mean none.
 * `path` is where the request was sent; `params` reports it with the
 * parameters not read here.
 */
export function parseAnnounceQuery(raw: string, path: string = ANNOUNCE_PATH): HttpAnnounceParseResult {
  if (typeof raw !== 'string') return fail('invalid query');
  // Set for a name this parser does not read (also for a repeated one, which
  // the view skips): only then does the announce get a view of its own.
  let extra = false;
  let ihS = -1, ihE = -1, pidS = -1, pidE = -1, portS = -1, portE = -1;
  let upS = -1, upE = -1, downS = -1, downE = -1, leftS = -1, leftE = -1;
  let evS = -1, evE = -1, nwS = -1, nwE = -1, cpS = -1, cpE = -1;
  let npS = -1, npE = -1, keyS = -1, keyE = -1, tidS = -1, tidE = -1;

  const len = raw.length;
  let i = len > 0 && raw.charCodeAt(0) === 63 /* ? */ ? 1 : 0;
  // Next '=' at or after i; -1 once there is none left. Cached so that a query
  // of many '='-less parameters stays linear instead of rescanning to the end.
  let nextEq = -2;
  while (i < len) {
    let amp = raw.indexOf(C_AMP, i);
    if (amp < 0) amp = len;
    if (nextEq !== -1 && nextEq < i) nextEq = raw.indexOf(C_EQ, i);
    const eq = nextEq >= 0 && nextEq < amp ? nextEq : amp;
    const kl = eq - i;
    const vs = eq < amp ? eq + 1 : amp;
    switch (kl) {
      case 3:
        if (keyS < 0 && keyIs(raw, i, 'key')) (keyS = vs), (keyE = amp);
        else extra = true;
        break;
      case 4:
        if (portS < 0 && keyIs(raw, i, 'port')) (portS = vs), (portE = amp);
        else if (leftS < 0 && keyIs(raw, i, 'left')) (leftS = vs), (leftE = amp);
        else extra = true;
        break;
      case 5:
        if (evS < 0 && keyIs(raw, i, 'event')) (evS = vs), (evE = amp);
        else extra = true;
        break;
      case 7:
        if (pidS < 0 && keyIs(raw, i, 'peer_id')) (pidS = vs), (pidE = amp);
        else if (nwS < 0 && keyIs(raw, i, 'numwant')) (nwS = vs), (nwE = amp);
        else if (cpS < 0 && keyIs(raw, i, 'compact')) (cpS = vs), (cpE = amp);
        else extra = true;
        break;
      case 8:
        if (upS < 0 && keyIs(raw, i, 'uploaded')) (upS = vs), (upE = amp);
        else if (nwS < 0 && keyIs(raw, i, 'num_want')) (nwS = vs), (nwE = amp);
        else extra = true;
        break;
      case 9:
        if (ihS < 0 && keyIs(raw, i, 'info_hash')) (ihS = vs), (ihE = amp);
        else if (tidS < 0 && keyIs(raw, i, 'trackerid')) (tidS = vs), (tidE = amp);
        else extra = true;
        break;
      case 10:
        if (downS < 0 && keyIs(raw, i, 'downloaded')) (downS = vs), (downE = amp);
        else if (npS < 0 && keyIs(raw, i, 'no_peer_id')) (npS = vs), (npE = amp);
        else extra = true;
        break;
      default:
        // An empty name ("&&", "&=x") is no parameter at all.
        if (kl > 0) extra = true;
    }
    i = amp + 1;
  }

  if (ihS < 0) return fail('missing info_hash');
  const infoHash = decodeBinary20(raw, ihS, ihE);
  if (infoHash === null) return fail('invalid info_hash');
  if (pidS < 0) return fail('missing peer_id');
  const peerId = decodeBinary20(raw, pidS, pidE);
  if (peerId === null) return fail('invalid peer_id');

  if (portS < 0) return fail('missing port');
  const port = parseUint(raw, portS, portE, true);
  if (port <= 0 || port > 65535) return fail('invalid port');

  if (leftS < 0) return fail('missing left');
  const left = parseUint(raw, leftS, leftE, true);
  if (left < 0) return fail('invalid left');
  let uploaded = 0;
  if (upS >= 0 && (uploaded = parseUint(raw, upS, upE, true)) < 0) return fail('invalid uploaded');
  let downloaded = 0;
  if (downS >= 0 && (downloaded = parseUint(raw, downS, downE, true)) < 0) return fail('invalid downloaded');

  let event: AnnounceEvent = AnnounceEvent.None;
  if (evS >= 0 && evE > evS) {
    if (fieldEquals(raw, evS, evE, 'started')) event = AnnounceEvent.Started;
    else if (fieldEquals(raw, evS, evE, 'completed')) event = AnnounceEvent.Completed;
    else if (fieldEquals(raw, evS, evE, 'stopped')) event = AnnounceEvent.Stopped;
    // `paused` is BEP 21's partial seed; `empty` is what some clients send for "none".
    else if (!fieldEquals(raw, evS, evE, 'paused') && !fieldEquals(raw, evS, evE, 'empty')) {
      return fail('invalid event');
    }
  }

  let numwant = 0;
  if (nwS >= 0) {
    const negative = nwE > nwS && raw.charCodeAt(nwS) === 45; /* - */
    const n = parseUint(raw, negative ? nwS + 1 : nwS, nwE, true);
    if (n < 0) return fail('invalid numwant');
    numwant = negative ? 0 : n;
  }

  const compact = cpS < 0 || !fieldEquals(raw, cpS, cpE, '0');
  const noPeerId = npS >= 0 && !fieldEquals(raw, npS, npE, '0');

  let key: string | undefined;
  if (keyS >= 0) {
    const k = decodeText(raw, keyS, keyE);
    if (k === null) return fail('invalid key');
    key = k;
  }
  let trackerId: string | undefined;
  if (tidS >= 0) {
    const t = decodeText(raw, tidS, tidE);
    if (t === null) return fail('invalid trackerid');
    trackerId = t;
  }

  const params = extra ? new QueryParams(path, raw, ANNOUNCE_QUERY_KEYS) : path === ANNOUNCE_PATH ? ANNOUNCE_ONLY : new PathOnly(path);
  return {
    ok: true,
    value: { infoHash, peerId, port, uploaded, downloaded, left, event, numwant, compact, noPeerId, key, trackerId, params },
  };
}

/**
 * Parse a scrape query: every `info_hash` parameter, each exactly 20 bytes
 * (one invalid hash fails the whole request). Duplicates are removed (first
 * occurrence order kept) so the reply's `files` dictionary has unique keys.
 * After `maxHashes` distinct hashes the remaining `info_hash` parameters are
 * ignored unread and `truncated` is true. Zero hashes is `ok` with an empty
 * list: refusing a full scrape is the server's policy. Never throws.
 */
export function parseScrapeQuery(raw: string, maxHashes: number = DEFAULT_MAX_SCRAPE_HASHES): HttpScrapeParseResult {
  if (typeof raw !== 'string') return fail('invalid query');
  const cap = maxHashes > 0 ? Math.floor(maxHashes) : 0;
  const infoHashes: string[] = [];
  let seen: Set<string> | null = null;
  let truncated = false;
  const len = raw.length;
  let i = len > 0 && raw.charCodeAt(0) === 63 /* ? */ ? 1 : 0;
  while (i < len) {
    let amp = raw.indexOf(C_AMP, i);
    if (amp < 0) amp = len;
    const kl = amp - i;
    if (kl === 9 && keyIs(raw, i, 'info_hash')) return fail('invalid info_hash'); // no value at all
    if (kl >= 10 && raw.charCodeAt(i + 9) === 61 /* = */ && keyIs(raw, i, 'info_hash')) {
      if (infoHashes.length >= cap) {
        truncated = true;
        break;
      }
      const h = decodeBinary20(raw, i + 10, amp);
      if (h === null) return fail('invalid info_hash');
      if (seen === null && infoHashes.length >= 16) seen = new Set(infoHashes);
      if (seen !== null ? !seen.has(h) : !infoHashes.includes(h)) {
        infoHashes.push(h);
        seen?.add(h);
      }
    }
    i = amp + 1;
  }
  return { ok: true, infoHashes, truncated };
}

// ---------------------------------------------------------------- reply encoding

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/** Integers for bencode: truncate, clamp to the safe range, NaN -> 0. */
function toInt(v: number): number {
  if (!(v === v)) return 0;
  if (v > MAX_SAFE) return MAX_SAFE;
  if (v < -MAX_SAFE) return -MAX_SAFE;
  return Math.trunc(v);
}

/** Decimal digits of a non-negative safe integer. */
function digitsOf(v: number): number {
  let n = 1;
  while (n < 16 && v >= POW10[n]) n++;
  return n;
}

/** Text length of an integer (with a leading '-' when negative). */
function intTextLength(v: number): number {
  return v < 0 ? 1 + digitsOf(-v) : digitsOf(v);
}

function putAscii(buf: Buffer, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[o + i] = s.charCodeAt(i);
  return o + s.length;
}

function putInt(buf: Buffer, o: number, v: number): number {
  if (v < 0) {
    buf[o++] = 45;
    v = -v;
  }
  const n = digitsOf(v);
  for (let p = o + n - 1; p >= o; p--) {
    const q = Math.floor(v / 10);
    buf[p] = 48 + (v - q * 10);
    v = q;
  }
  return o + n;
}

/** Writes `<key>i<v>e` where key is already bencoded (e.g. "8:complete"). */
function putIntField(buf: Buffer, o: number, key: string, v: number): number {
  o = putAscii(buf, o, key);
  buf[o++] = 0x69; // i
  o = putInt(buf, o, v);
  buf[o++] = 0x65; // e
  return o;
}

function putStringHeader(buf: Buffer, o: number, byteLength: number): number {
  o = putInt(buf, o, byteLength);
  buf[o++] = 0x3a; // :
  return o;
}

function intFieldLength(key: string, v: number): number {
  return key.length + 2 + intTextLength(v);
}

function stringLength(byteLength: number): number {
  return digitsOf(byteLength) + 1 + byteLength;
}

const K_COMPLETE = '8:complete';
const K_DOWNLOADED = '10:downloaded';
const K_INCOMPLETE = '10:incomplete';
const K_INTERVAL = '8:interval';
const K_MIN_INTERVAL = '12:min interval';
const K_PEERS = '5:peers';
const K_PEERS6 = '6:peers6';
const K_TRACKER_ID = '10:tracker id';
const K_WARNING = '15:warning message';
const K_FAILURE = '14:failure reason';

export interface HttpAnnounceReplyParams {
  readonly interval: number;
  readonly minInterval?: number;
  /** Seeders. */
  readonly complete: number;
  /** Leechers. */
  readonly incomplete: number;
  readonly downloaded?: number;
  /** Compact endpoints concatenated; a trailing partial entry is ignored. */
  readonly peers: Uint8Array;
  readonly peerLength: 6 | 18;
  readonly compact: boolean;
  /** UTF-8 text for `warning message`. */
  readonly warning?: string;
  /** `tracker id`, as a latin1 binary string (bytes echoed as given). */
  readonly trackerId?: string;
}

/**
 * Bencoded announce reply (keys in bencode order). Compact: IPv4 entries as
 * `peers`, IPv6 entries as `peers6` (BEP 7) with an empty `peers` alongside
 * for clients that insist on the key. Non-compact: `peers` is a list of
 * `{ip, port}` dictionaries (no `peer id`: we do not store peer ids, which
 * also honours no_peer_id), IPv6 addresses in RFC 5952 text.
 */
export function encodeAnnounceReply(p: HttpAnnounceReplyParams): Buffer {
  const pl = p.peerLength === 18 ? 18 : 6;
  const count = Math.floor(p.peers.length / pl);
  const peerBytes = count * pl;
  const complete = toInt(p.complete);
  const incomplete = toInt(p.incomplete);
  const interval = toInt(p.interval);
  const downloaded = p.downloaded === undefined ? 0 : toInt(p.downloaded);
  const minInterval = p.minInterval === undefined ? 0 : toInt(p.minInterval);
  const warning = p.warning;
  const warningBytes = warning === undefined ? 0 : Buffer.byteLength(warning, 'utf8');
  const trackerId = p.trackerId;

  let size = 2; // d ... e
  size += intFieldLength(K_COMPLETE, complete);
  if (p.downloaded !== undefined) size += intFieldLength(K_DOWNLOADED, downloaded);
  size += intFieldLength(K_INCOMPLETE, incomplete);
  size += intFieldLength(K_INTERVAL, interval);
  if (p.minInterval !== undefined) size += intFieldLength(K_MIN_INTERVAL, minInterval);

  let ips: string[] | null = null;
  if (p.compact) {
    if (pl === 6) size += K_PEERS.length + stringLength(peerBytes);
    else size += K_PEERS.length + 2 + K_PEERS6.length + stringLength(peerBytes);
  } else {
    ips = new Array<string>(count);
    size += K_PEERS.length + 2; // l ... e
    for (let i = 0, o = 0; i < count; i++, o += pl) {
      const ip = formatIp(p.peers, o, pl);
      ips[i] = ip;
      // d 2:ip <len>:<ip> 4:port i<port>e e
      size += 2 + 4 + stringLength(ip.length) + 6 + 2 + digitsOf(readUint16BE(p.peers, o + pl - 2));
    }
  }
  if (trackerId !== undefined) size += K_TRACKER_ID.length + stringLength(trackerId.length);
  if (warning !== undefined) size += K_WARNING.length + stringLength(warningBytes);

  const buf = Buffer.allocUnsafe(size);
  let o = 0;
  buf[o++] = 0x64; // d
  o = putIntField(buf, o, K_COMPLETE, complete);
  if (p.downloaded !== undefined) o = putIntField(buf, o, K_DOWNLOADED, downloaded);
  o = putIntField(buf, o, K_INCOMPLETE, incomplete);
  o = putIntField(buf, o, K_INTERVAL, interval);
  if (p.minInterval !== undefined) o = putIntField(buf, o, K_MIN_INTERVAL, minInterval);
  if (ips === null) {
    o = putAscii(buf, o, K_PEERS);
    if (pl === 6) {
      o = putStringHeader(buf, o, peerBytes);
    } else {
      buf[o++] = 0x30; // 0
      buf[o++] = 0x3a; // :
      o = putAscii(buf, o, K_PEERS6);
      o = putStringHeader(buf, o, peerBytes);
    }
    buf.set(peerBytes === p.peers.length ? p.peers : p.peers.subarray(0, peerBytes), o);
    o += peerBytes;
  } else {
    o = putAscii(buf, o, K_PEERS);
    buf[o++] = 0x6c; // l
    for (let i = 0, po = 0; i < count; i++, po += pl) {
      const ip = ips[i];
      buf[o++] = 0x64; // d
      o = putAscii(buf, o, '2:ip');
      o = putStringHeader(buf, o, ip.length);
      o = putAscii(buf, o, ip);
      o = putIntField(buf, o, '4:port', readUint16BE(p.peers, po + pl - 2));
      buf[o++] = 0x65; // e
    }
    buf[o++] = 0x65; // e
  }
  if (trackerId !== undefined) {
    o = putAscii(buf, o, K_TRACKER_ID);
    o = putStringHeader(buf, o, trackerId.length);
    o = writeLatin1(buf, o, trackerId);
  }
  if (warning !== undefined) {
    o = putAscii(buf, o, K_WARNING);
    o = putStringHeader(buf, o, warningBytes);
    o += buf.write(warning, o, 'utf8');
  }
  buf[o++] = 0x65; // e
  return buf;
}

export interface HttpScrapeStats {
  readonly complete: number;
  readonly incomplete: number;
  readonly downloaded: number;
}

/**
 * `d5:filesd<20-byte hash>d8:complete..10:downloaded..10:incomplete..e...ee`.
 * Hashes are latin1 binary strings written as raw bytes; entries are sorted
 * by hash bytes (as bencode requires) and duplicate hashes keep the first entry.
 */
export function encodeScrapeReply(entries: readonly (readonly [infoHash: string, stats: HttpScrapeStats])[]): Buffer {
  const sorted = entries.slice();
  // For strings of chars <= 0xFF, UTF-16 code unit order is byte order.
  sorted.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let size = 2 + 7 + 2; // d 5:files d ... e e
  let prev: string | null = null;
  for (const [hash, s] of sorted) {
    if (hash === prev) continue;
    prev = hash;
    size += stringLength(hash.length) + 2;
    size += intFieldLength(K_COMPLETE, toInt(s.complete));
    size += intFieldLength(K_DOWNLOADED, toInt(s.downloaded));
    size += intFieldLength(K_INCOMPLETE, toInt(s.incomplete));
  }
  const buf = Buffer.allocUnsafe(size);
  let o = putAscii(buf, 0, 'd5:filesd');
  prev = null;
  for (const [hash, s] of sorted) {
    if (hash === prev) continue;
    prev = hash;
    o = putStringHeader(buf, o, hash.length);
    o = writeLatin1(buf, o, hash);
    buf[o++] = 0x64; // d
    o = putIntField(buf, o, K_COMPLETE, toInt(s.complete));
    o = putIntField(buf, o, K_DOWNLOADED, toInt(s.downloaded));
    o = putIntField(buf, o, K_INCOMPLETE, toInt(s.incomplete));
    buf[o++] = 0x65; // e
  }
  buf[o++] = 0x65;
  buf[o++] = 0x65;
  return buf;
}

/** `d14:failure reason<len>:<reason>e`, len in UTF-8 bytes. Send with status 200. */
export function encodeFailure(reason: string): Buffer {
  const n = Buffer.byteLength(reason, 'utf8');
  const buf = Buffer.allocUnsafe(2 + K_FAILURE.length + stringLength(n));
  let o = 0;
  buf[o++] = 0x64;
  o = putAscii(buf, o, K_FAILURE);
  o = putStringHeader(buf, o, n);
  o += buf.write(reason, o, 'utf8');
  buf[o] = 0x65;
  return buf;
}
