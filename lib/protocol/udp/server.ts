/**
 * BEP 15 (UDP tracker protocol) codec, the tracker's half: `parseUdpRequest`
 * (never throws) and reply writers that fill a caller-provided buffer and
 * return the number of bytes written. No sockets, no module state. The
 * client's half (request writers, reply parser) is client.ts.
 *
 * All multi-byte fields are big-endian. Connection ids are carried as two
 * uint32 halves (`connectionIdHigh`, `connectionIdLow`) so that neither side
 * allocates a BigInt or a Buffer per packet.
 */
import {
  asBuffer,
  clampUint32,
  latin1From20,
  latin1FromBytes,
  needBytes,
  readInt32BE,
  readUint16BE,
  readUint32BE,
  readUint64BEClamped,
  writeUint32BE,
} from '../binary.js';
import type { AnnounceEvent } from '../../tracker/events.js';
import { NO_PARAMS, PathOnly, type RequestParams } from '../../tracker/params.js';
import { ANNOUNCE_ONLY, ANNOUNCE_PATH, QueryParams } from '../query.js';

// ---------------------------------------------------------------- constants

/** High 32 bits of the BEP 15 protocol id 0x41727101980. */
export const UDP_PROTOCOL_ID_HIGH = 0x417;
/** Low 32 bits of the BEP 15 protocol id 0x41727101980. */
export const UDP_PROTOCOL_ID_LOW = 0x27101980;

export const UDP_ACTION_CONNECT = 0;
export const UDP_ACTION_ANNOUNCE = 1;
export const UDP_ACTION_SCRAPE = 2;
export const UDP_ACTION_ERROR = 3;

/** BEP 21 partial seed ("paused"); served as a regular announce (event none). */
export const UDP_EVENT_PAUSED = 4;

/** Size of a connect request and of a connect reply. */
export const UDP_CONNECT_LENGTH = 16;
/** Size of an announce request without BEP 41 options. */
export const UDP_ANNOUNCE_REQUEST_LENGTH = 98;
/** Size of an announce reply header (peers follow). */
export const UDP_ANNOUNCE_REPLY_HEADER_LENGTH = 20;
/** Size of a scrape request header (20-byte hashes follow). */
export const UDP_SCRAPE_REQUEST_HEADER_LENGTH = 16;
/** Size of a scrape reply header (12 bytes per hash follow). */
export const UDP_SCRAPE_REPLY_HEADER_LENGTH = 8;
/** Size of an error reply header (the message text follows). */
export const UDP_ERROR_REPLY_HEADER_LENGTH = 8;

/**
 * Largest UDP payload that fits one unfragmented datagram on a 1500-byte MTU
 * path for both address families (1500 - 40 IPv6 - 8 UDP).
 */
export const UDP_SAFE_PAYLOAD = 1452;

/**
 * Hashes per scrape, as BEP 15 puts it ("up to about 74 torrents can be
 * scraped at once"): the request (16 + 20 * 74 = 1496 bytes) fits a 1500-byte
 * datagram, and the reply (8 + 12 * 74 = 896 bytes) fits easily.
 */
export const UDP_MAX_SCRAPE_HASHES = 74;

/** How many scrape entries a reply of at most `limitBytes` can carry (never negative). */
export function maxScrapeHashesForDatagram(limitBytes: number): number {
  const n = Math.floor((limitBytes - UDP_SCRAPE_REPLY_HEADER_LENGTH) / 12);
  return n > 0 ? n : 0;
}

/** How many compact peers of `peerLength` bytes an announce reply of at most `limitBytes` can carry. */
export function maxPeersForDatagram(limitBytes: number, peerLength: 6 | 18): number {
  const n = Math.floor((limitBytes - UDP_ANNOUNCE_REPLY_HEADER_LENGTH) / peerLength);
  return n > 0 ? n : 0;
}

// ---------------------------------------------------------------- requests

export interface UdpConnectRequest {
  readonly type: 'connect';
  readonly transactionId: number;
}

export interface UdpAnnounceRequest {
  readonly type: 'announce';
  readonly connectionIdHigh: number;
  readonly connectionIdLow: number;
  readonly transactionId: number;
  /** 20-byte info-hash as a latin1 string. */
  readonly infoHash: string;
  /** 20-byte peer id as a latin1 string. */
  readonly peerId: string;
  /** 64-bit counters; values above Number.MAX_SAFE_INTEGER are clamped to it. */
  readonly downloaded: number;
  readonly left: number;
  readonly uploaded: number;
  readonly event: AnnounceEvent;
  /**
   * The client-supplied IPv4 address as a uint32 (0 = "use the source").
   * Parsed for completeness only: servers ignore it and use the packet source.
   */
  readonly ip: number;
  readonly key: number;
  /** Signed; <= 0 means "the default" (-1 is what most clients send). */
  readonly numwant: number;
  /** 1..65535 (a packet with port 0 parses as invalid). */
  readonly port: number;
  /** The BEP 41 URL data as path and query, for the edge's hooks; NO_PARAMS when the packet had none. */
  readonly params: RequestParams;
}

export interface UdpScrapeRequest {
  readonly type: 'scrape';
  readonly connectionIdHigh: number;
  readonly connectionIdLow: number;
  readonly transactionId: number;
  /** 20-byte info-hashes as latin1 strings, in packet order, at most maxScrapeHashes; may be empty. */
  readonly infoHashes: string[];
  /** True when the packet held more hashes than maxScrapeHashes (the extra ones were dropped). */
  readonly truncated: boolean;
}

export interface UdpInvalidRequest {
  readonly type: 'invalid';
  /** Short, client-safe reason, suitable for an error reply. */
  readonly reason: string;
  /** Present whenever the packet had at least 16 bytes. */
  readonly connectionIdHigh?: number;
  readonly connectionIdLow?: number;
  readonly transactionId?: number;
  readonly action?: number;
}

export type UdpRequest = UdpConnectRequest | UdpAnnounceRequest | UdpScrapeRequest | UdpInvalidRequest;

const TOO_SHORT: UdpInvalidRequest = Object.freeze({ type: 'invalid', reason: 'packet too short' });

function invalid(msg: Uint8Array, action: number, reason: string): UdpInvalidRequest {
  return {
    type: 'invalid',
    reason,
    connectionIdHigh: readUint32BE(msg, 0),
    connectionIdLow: readUint32BE(msg, 4),
    transactionId: readUint32BE(msg, 12),
    action,
  };
}

/**
 * Parse one request datagram. Never throws.
 *
 * - connect: >= 16 bytes with the protocol id (extra bytes ignored).
 * - announce: >= 98 bytes; trailing bytes are BEP 41 options, of which the
 *   URL data becomes `params` (see readUrlData); malformed options never
 *   fail a request. event must be 0..3, or 4 (BEP 21 partial seed, read as
 *   none); port must be non-zero.
 * - scrape: floor((len - 16) / 20) hashes (a partial trailing hash is
 *   ignored); hashes beyond `maxScrapeHashes` are dropped with
 *   `truncated: true`. Zero hashes is returned as-is: refusing a "full
 *   scrape" is the server's policy.
 * - anything else is `invalid`; it carries the connection id and transaction
 *   id when 16 bytes were present, so the server may answer with an error if
 *   (and only if) the connection id is valid.
 */
export function parseUdpRequest(msg: Uint8Array, maxScrapeHashes: number): UdpRequest {
  const len = msg.length;
  if (len < 16) return TOO_SHORT;
  const action = readUint32BE(msg, 8);
  switch (action) {
    case UDP_ACTION_CONNECT:
      if (readUint32BE(msg, 0) !== UDP_PROTOCOL_ID_HIGH || readUint32BE(msg, 4) !== UDP_PROTOCOL_ID_LOW) {
        return invalid(msg, action, 'bad protocol id');
      }
      return { type: 'connect', transactionId: readUint32BE(msg, 12) };

    case UDP_ACTION_ANNOUNCE: {
      if (len < UDP_ANNOUNCE_REQUEST_LENGTH) return invalid(msg, action, 'announce too short');
      let event = readUint32BE(msg, 80);
      // 4 is BEP 21's "paused" (a partial seed: libtorrent, so qBittorrent,
      // sends it once the files it selected are done): an ordinary announce.
      if (event === UDP_EVENT_PAUSED) event = 0;
      else if (event > 3) return invalid(msg, action, 'invalid event');
      const port = readUint16BE(msg, 96);
      if (port === 0) return invalid(msg, action, 'invalid port');
      return {
        type: 'announce',
        connectionIdHigh: readUint32BE(msg, 0),
        connectionIdLow: readUint32BE(msg, 4),
        transactionId: readUint32BE(msg, 12),
        infoHash: latin1From20(msg, 16),
        peerId: latin1From20(msg, 36),
        downloaded: readUint64BEClamped(msg, 56),
        left: readUint64BEClamped(msg, 64),
        uploaded: readUint64BEClamped(msg, 72),
        event: event as AnnounceEvent,
        ip: readUint32BE(msg, 84),
        key: readUint32BE(msg, 88),
        numwant: readInt32BE(msg, 92),
        port,
        params: len > UDP_ANNOUNCE_REQUEST_LENGTH ? readUrlData(msg, UDP_ANNOUNCE_REQUEST_LENGTH) : NO_PARAMS,
      };
    }

    case UDP_ACTION_SCRAPE: {
      const available = Math.floor((len - UDP_SCRAPE_REQUEST_HEADER_LENGTH) / 20);
      const cap = maxScrapeHashes > 0 ? Math.floor(maxScrapeHashes) : 0;
      const count = available < cap ? available : cap;
      const infoHashes = new Array<string>(count);
      for (let i = 0, o = UDP_SCRAPE_REQUEST_HEADER_LENGTH; i < count; i++, o += 20) {
        infoHashes[i] = latin1From20(msg, o);
      }
      return {
        type: 'scrape',
        connectionIdHigh: readUint32BE(msg, 0),
        connectionIdLow: readUint32BE(msg, 4),
        transactionId: readUint32BE(msg, 12),
        infoHashes,
        truncated: available > count,
      };
    }

    default:
      return invalid(msg, action, 'unknown action');
  }
}

/** Where readUrlData gathers URL data: any datagram the frontend reads fits (a bigger one gets its own). */
const URL_SCRATCH = Buffer.allocUnsafeSlow(4096);

/** BEP 41 option types. Every other type has a length byte and that many data bytes. */
const OPTION_END = 0;
const OPTION_NOP = 1;
const OPTION_URL_DATA = 2;

/**
 * BEP 41 options from `start`: the URL data (option 2, concatenated when a
 * client splits it), e.g. "/announce?passkey=...", as a path and a lazily
 * read query. A malformed or cut option ends the options where it starts,
 * keeping what came before it. The datagram's memory is reused: the URL
 * data is copied into a string.
 */
function readUrlData(msg: Uint8Array, start: number): RequestParams {
  const len = msg.length;
  if (isAnnounceOnly(msg, start)) return ANNOUNCE_ONLY;
  // The chunks are gathered in one scratch buffer and made a string once: a
  // token split over several options then costs one string, not a string
  // and a Buffer view per chunk plus their concatenation.
  const scratch = len - start <= URL_SCRATCH.length ? URL_SCRATCH : Buffer.allocUnsafe(len - start);
  let n = 0;
  let o = start;
  while (o < len) {
    const type = msg[o];
    if (type === OPTION_END) break;
    if (type === OPTION_NOP) {
      o++;
      continue;
    }
    if (o + 1 >= len) break;
    const end = o + 2 + msg[o + 1];
    if (end > len) break;
    if (type === OPTION_URL_DATA) {
      scratch.set(msg.subarray(o + 2, end), n);
      n += end - o - 2;
    }
    o = end;
  }
  if (n === 0) return NO_PARAMS;
  const url = scratch.toString('latin1', 0, n);
  const q = url.indexOf('?');
  return q < 0 ? new PathOnly(url) : new QueryParams(url.slice(0, q), url.slice(q + 1), null);
}

/** "/announce", the URL data libtorrent sends for the usual tracker URL. */
const ANNOUNCE_URL_DATA = Uint8Array.from(ANNOUNCE_PATH, (c) => c.charCodeAt(0));

/**
 * Whether the options at `start` are one URL data option "/announce", then
 * the end of the options or of the datagram: most announces that carry
 * options, answered with a shared view instead of a string and an object.
 */
function isAnnounceOnly(msg: Uint8Array, start: number): boolean {
  const n = ANNOUNCE_URL_DATA.length;
  const end = start + 2 + n;
  if (msg.length < end || msg[start] !== OPTION_URL_DATA || msg[start + 1] !== n) return false;
  if (msg.length > end && msg[end] !== OPTION_END) return false;
  for (let i = 0; i < n; i++) if (msg[start + 2 + i] !== ANNOUNCE_URL_DATA[i]) return false;
  return true;
}

// ---------------------------------------------------------------- replies

/**
 * Writers below fill `buf` from offset 0 and return the reply length. The
 * buffer must be large enough (a programming error otherwise: RangeError).
 * Ids are written bit-exact (low 32 bits); counts are clamped to 0..2^32-1.
 */
export function writeConnectReply(
  buf: Uint8Array,
  transactionId: number,
  connectionIdHigh: number,
  connectionIdLow: number,
): number {
  needBytes(buf, UDP_CONNECT_LENGTH);
  writeUint32BE(buf, 0, UDP_ACTION_CONNECT);
  writeUint32BE(buf, 4, transactionId);
  writeUint32BE(buf, 8, connectionIdHigh);
  writeUint32BE(buf, 12, connectionIdLow);
  return UDP_CONNECT_LENGTH;
}

/** Announce reply length for `peersLength` bytes of compact peers. */
export function announceReplyLength(peersLength: number): number {
  return UDP_ANNOUNCE_REPLY_HEADER_LENGTH + peersLength;
}

/**
 * `peers` is compact endpoints concatenated: 6-byte IPv4 entries for IPv4
 * clients, 18-byte IPv6 entries for IPv6 clients (BEP 15 / BEP 7 style).
 * Bytes are copied verbatim.
 */
export function writeAnnounceReply(
  buf: Uint8Array,
  transactionId: number,
  interval: number,
  leechers: number,
  seeders: number,
  peers: Uint8Array,
): number {
  const total = UDP_ANNOUNCE_REPLY_HEADER_LENGTH + peers.length;
  needBytes(buf, total);
  writeUint32BE(buf, 0, UDP_ACTION_ANNOUNCE);
  writeUint32BE(buf, 4, transactionId);
  writeUint32BE(buf, 8, clampUint32(interval));
  writeUint32BE(buf, 12, clampUint32(leechers));
  writeUint32BE(buf, 16, clampUint32(seeders));
  buf.set(peers, UDP_ANNOUNCE_REPLY_HEADER_LENGTH);
  return total;
}

export interface UdpScrapeStats {
  readonly complete: number;
  readonly incomplete: number;
  readonly downloaded: number;
}

/** Scrape reply length for `count` hashes. */
export function scrapeReplyLength(count: number): number {
  return UDP_SCRAPE_REPLY_HEADER_LENGTH + 12 * count;
}

/** One entry per requested hash, in request order: seeders, completed, leechers (BEP 15 order). */
export function writeScrapeReply(buf: Uint8Array, transactionId: number, stats: readonly UdpScrapeStats[]): number {
  const total = scrapeReplyLength(stats.length);
  needBytes(buf, total);
  writeUint32BE(buf, 0, UDP_ACTION_SCRAPE);
  writeUint32BE(buf, 4, transactionId);
  for (let i = 0, o = UDP_SCRAPE_REPLY_HEADER_LENGTH; i < stats.length; i++, o += 12) {
    const s = stats[i];
    writeUint32BE(buf, o, clampUint32(s.complete));
    writeUint32BE(buf, o + 4, clampUint32(s.downloaded));
    writeUint32BE(buf, o + 8, clampUint32(s.incomplete));
  }
  return total;
}

/**
 * Error reply with `message` as UTF-8 text. If the buffer is too small for
 * the whole message it is cut (at a UTF-8 character boundary); the 8-byte
 * header must fit.
 */
export function writeErrorReply(buf: Uint8Array, transactionId: number, message: string): number {
  needBytes(buf, UDP_ERROR_REPLY_HEADER_LENGTH);
  writeUint32BE(buf, 0, UDP_ACTION_ERROR);
  writeUint32BE(buf, 4, transactionId);
  const written = asBuffer(buf).write(message, UDP_ERROR_REPLY_HEADER_LENGTH, 'utf8');
  return UDP_ERROR_REPLY_HEADER_LENGTH + written;
}
