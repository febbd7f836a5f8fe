/**
 * HTTP tracker codec, the client's half, for tests and the load generator
 * (the tracker never sends announces): `buildAnnounceQuery`,
 * `buildScrapeQuery`, `parseAnnounceReply`, `parseScrapeReply`. The
 * tracker's half is server.ts.
 */
import { Buffer } from 'node:buffer';
import { AnnounceEvent } from '../../tracker/events.js';
import { asDict, decode, type BencodeDict, type BencodeValue } from '../bencode.js';
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

function num(v: BencodeValue | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function bytesOf(v: BencodeValue | undefined): Buffer | undefined {
  return Buffer.isBuffer(v) ? v : undefined;
}

type ReplyProblem = { readonly type: 'failure'; readonly reason: string } | { readonly type: 'invalid'; readonly error: string };

/** The top-level dictionary of a reply, or the failure / decoding problem to return instead. */
function decodeTop(body: Uint8Array): { readonly dict: BencodeDict } | { readonly problem: ReplyProblem } {
  const r = decode(body);
  if (!r.ok) return { problem: { type: 'invalid', error: `bencode: ${r.error} at ${r.offset}` } };
  const dict = asDict(r.value);
  if (dict === null) return { problem: { type: 'invalid', error: 'reply is not a dictionary' } };
  const failure = bytesOf(dict['failure reason']);
  if (failure !== undefined) return { problem: { type: 'failure', reason: failure.toString('utf8') } };
  return { dict };
}

/** Decode an announce reply body as a client. Never throws. */
export function parseAnnounceReply(body: Uint8Array): HttpAnnounceReplyParseResult {
  const top = decodeTop(body);
  if ('problem' in top) return top.problem;
  const d = top.dict;
  const interval = num(d['interval']);
  const complete = num(d['complete']) ?? 0;
  const incomplete = num(d['incomplete']) ?? 0;
  if (interval === undefined) return { type: 'invalid', error: 'missing interval' };
  const rawPeers = d['peers'];
  let peers: Uint8Array = EMPTY;
  let peerList: HttpPeerEntry[] | undefined;
  if (Buffer.isBuffer(rawPeers)) {
    if (rawPeers.length % 6 !== 0) return { type: 'invalid', error: 'partial compact peer' };
    peers = rawPeers;
  } else if (Array.isArray(rawPeers)) {
    peerList = [];
    for (const item of rawPeers) {
      const pd = asDict(item);
      const ip = pd === null ? undefined : bytesOf(pd['ip']);
      const port = pd === null ? undefined : num(pd['port']);
      if (ip === undefined || port === undefined) return { type: 'invalid', error: 'bad peer dictionary' };
      peerList.push({ ip: ip.toString('latin1'), port });
    }
  } else if (rawPeers !== undefined) {
    return { type: 'invalid', error: 'bad peers' };
  }
  const rawPeers6 = d['peers6'];
  let peers6: Uint8Array = EMPTY;
  if (Buffer.isBuffer(rawPeers6)) {
    if (rawPeers6.length % 18 !== 0) return { type: 'invalid', error: 'partial compact peer6' };
    peers6 = rawPeers6;
  } else if (rawPeers6 !== undefined) {
    return { type: 'invalid', error: 'bad peers6' };
  }
  const warning = bytesOf(d['warning message']);
  const trackerId = bytesOf(d['tracker id']);
  return {
    type: 'announce',
    interval,
    minInterval: num(d['min interval']),
    complete,
    incomplete,
    downloaded: num(d['downloaded']),
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
  const files = asDict(top.dict['files']);
  if (files === null) return { type: 'invalid', error: 'missing files' };
  const out = new Map<string, HttpScrapeStats>();
  for (const hash of Object.keys(files)) {
    const s = asDict(files[hash]);
    if (s === null) return { type: 'invalid', error: 'bad file entry' };
    out.set(hash, {
      complete: num(s['complete']) ?? 0,
      incomplete: num(s['incomplete']) ?? 0,
      downloaded: num(s['downloaded']) ?? 0,
    });
  }
  return { type: 'scrape', files: out };
}
