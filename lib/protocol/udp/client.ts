/**
 * BEP 15 (UDP tracker protocol) codec, the client's half, for tests and the
 * load generator (the tracker never sends requests): request writers that
 * fill a caller-provided buffer, and `parseUdpReply` (never throws). The
 * constants and the wire layout are the tracker's half, server.ts.
 */
import {
  asBuffer,
  clampInt32,
  needBytes,
  readUint32BE,
  writeLatin1,
  writeUint16BE,
  writeUint32BE,
  writeUint64BE,
} from '../binary.js';
import type { AnnounceEvent } from '../../tracker/events.js';
import {
  UDP_ACTION_ANNOUNCE,
  UDP_ACTION_CONNECT,
  UDP_ACTION_ERROR,
  UDP_ACTION_SCRAPE,
  UDP_ANNOUNCE_REPLY_HEADER_LENGTH,
  UDP_ANNOUNCE_REQUEST_LENGTH,
  UDP_CONNECT_LENGTH,
  UDP_ERROR_REPLY_HEADER_LENGTH,
  UDP_PROTOCOL_ID_HIGH,
  UDP_PROTOCOL_ID_LOW,
  UDP_SCRAPE_REPLY_HEADER_LENGTH,
  UDP_SCRAPE_REQUEST_HEADER_LENGTH,
  type UdpScrapeStats,
} from './server.js';

// ---------------------------------------------------------------- requests

/** Connect request (16 bytes). */
export function writeConnectRequest(buf: Uint8Array, transactionId: number): number {
  needBytes(buf, UDP_CONNECT_LENGTH);
  writeUint32BE(buf, 0, UDP_PROTOCOL_ID_HIGH);
  writeUint32BE(buf, 4, UDP_PROTOCOL_ID_LOW);
  writeUint32BE(buf, 8, UDP_ACTION_CONNECT);
  writeUint32BE(buf, 12, transactionId);
  return UDP_CONNECT_LENGTH;
}

export interface UdpAnnounceRequestParams {
  readonly connectionIdHigh: number;
  readonly connectionIdLow: number;
  readonly transactionId: number;
  /** 20-char latin1 string. */
  readonly infoHash: string;
  /** 20-char latin1 string. */
  readonly peerId: string;
  readonly downloaded: number;
  readonly left: number;
  readonly uploaded: number;
  readonly event: AnnounceEvent;
  /** IPv4 as uint32; default 0 ("use the source address"). */
  readonly ip?: number;
  readonly key: number;
  /** Signed; default -1 ("tracker default"). */
  readonly numwant?: number;
  readonly port: number;
  /** Raw BEP 41 option bytes appended after the 98-byte body. */
  readonly options?: Uint8Array;
}

/** Announce request: 98 bytes plus any option bytes. Throws RangeError if a hash or peer id is not 20 chars. */
export function writeAnnounceRequest(buf: Uint8Array, p: UdpAnnounceRequestParams): number {
  if (p.infoHash.length !== 20) throw new RangeError('infoHash must be 20 chars');
  if (p.peerId.length !== 20) throw new RangeError('peerId must be 20 chars');
  const options = p.options;
  const total = UDP_ANNOUNCE_REQUEST_LENGTH + (options ? options.length : 0);
  needBytes(buf, total);
  writeUint32BE(buf, 0, p.connectionIdHigh);
  writeUint32BE(buf, 4, p.connectionIdLow);
  writeUint32BE(buf, 8, UDP_ACTION_ANNOUNCE);
  writeUint32BE(buf, 12, p.transactionId);
  writeLatin1(buf, 16, p.infoHash);
  writeLatin1(buf, 36, p.peerId);
  writeUint64BE(buf, 56, p.downloaded);
  writeUint64BE(buf, 64, p.left);
  writeUint64BE(buf, 72, p.uploaded);
  writeUint32BE(buf, 80, p.event);
  writeUint32BE(buf, 84, p.ip ?? 0);
  writeUint32BE(buf, 88, p.key);
  writeUint32BE(buf, 92, clampInt32(p.numwant ?? -1));
  writeUint16BE(buf, 96, p.port);
  if (options) buf.set(options, UDP_ANNOUNCE_REQUEST_LENGTH);
  return total;
}

/** Scrape request: 16 + 20 * hashes bytes. Throws RangeError if a hash is not 20 chars. */
export function writeScrapeRequest(
  buf: Uint8Array,
  connectionIdHigh: number,
  connectionIdLow: number,
  transactionId: number,
  infoHashes: readonly string[],
): number {
  const total = UDP_SCRAPE_REQUEST_HEADER_LENGTH + 20 * infoHashes.length;
  needBytes(buf, total);
  writeUint32BE(buf, 0, connectionIdHigh);
  writeUint32BE(buf, 4, connectionIdLow);
  writeUint32BE(buf, 8, UDP_ACTION_SCRAPE);
  writeUint32BE(buf, 12, transactionId);
  for (let i = 0, o = UDP_SCRAPE_REQUEST_HEADER_LENGTH; i < infoHashes.length; i++, o += 20) {
    const h = infoHashes[i];
    if (h.length !== 20) throw new RangeError('info hashes must be 20 chars');
    writeLatin1(buf, o, h);
  }
  return total;
}

// ---------------------------------------------------------------- replies

export interface UdpConnectReply {
  readonly type: 'connect';
  readonly transactionId: number;
  readonly connectionIdHigh: number;
  readonly connectionIdLow: number;
}

export interface UdpAnnounceReply {
  readonly type: 'announce';
  readonly transactionId: number;
  readonly interval: number;
  readonly leechers: number;
  readonly seeders: number;
  /** View into the datagram (no copy): `peerCount` entries of `peerLength` bytes. */
  readonly peers: Uint8Array;
  readonly peerCount: number;
}

export interface UdpScrapeReply {
  readonly type: 'scrape';
  readonly transactionId: number;
  readonly stats: UdpScrapeStats[];
}

export interface UdpErrorReply {
  readonly type: 'error';
  readonly transactionId: number;
  readonly message: string;
}

export interface UdpInvalidReply {
  readonly type: 'invalid';
  readonly reason: string;
  /** Present whenever the datagram had at least 8 bytes. */
  readonly transactionId?: number;
}

export type UdpReply = UdpConnectReply | UdpAnnounceReply | UdpScrapeReply | UdpErrorReply | UdpInvalidReply;

/**
 * Parse a reply datagram as a client. Never throws. Strict about sizes: an
 * announce reply whose peer bytes are not a multiple of `peerLength`, or a
 * scrape reply whose body is not a multiple of 12 bytes, is invalid.
 * Error text is decoded as UTF-8 (malformed sequences become U+FFFD).
 */
export function parseUdpReply(msg: Uint8Array, peerLength: 6 | 18): UdpReply {
  const len = msg.length;
  if (len < 8) return { type: 'invalid', reason: 'packet too short' };
  const action = readUint32BE(msg, 0);
  const transactionId = readUint32BE(msg, 4);
  switch (action) {
    case UDP_ACTION_CONNECT:
      if (len < UDP_CONNECT_LENGTH) return { type: 'invalid', reason: 'connect reply too short', transactionId };
      return {
        type: 'connect',
        transactionId,
        connectionIdHigh: readUint32BE(msg, 8),
        connectionIdLow: readUint32BE(msg, 12),
      };
    case UDP_ACTION_ANNOUNCE: {
      if (len < UDP_ANNOUNCE_REPLY_HEADER_LENGTH) {
        return { type: 'invalid', reason: 'announce reply too short', transactionId };
      }
      const peerBytes = len - UDP_ANNOUNCE_REPLY_HEADER_LENGTH;
      if (peerLength !== 6 && peerLength !== 18) return { type: 'invalid', reason: 'bad peer length', transactionId };
      if (peerBytes % peerLength !== 0) return { type: 'invalid', reason: 'partial peer entry', transactionId };
      return {
        type: 'announce',
        transactionId,
        interval: readUint32BE(msg, 8),
        leechers: readUint32BE(msg, 12),
        seeders: readUint32BE(msg, 16),
        peers: msg.subarray(UDP_ANNOUNCE_REPLY_HEADER_LENGTH, len),
        peerCount: peerBytes / peerLength,
      };
    }
    case UDP_ACTION_SCRAPE: {
      const body = len - UDP_SCRAPE_REPLY_HEADER_LENGTH;
      if (body % 12 !== 0) return { type: 'invalid', reason: 'partial scrape entry', transactionId };
      const count = body / 12;
      const stats = new Array<UdpScrapeStats>(count);
      for (let i = 0, o = UDP_SCRAPE_REPLY_HEADER_LENGTH; i < count; i++, o += 12) {
        stats[i] = {
          complete: readUint32BE(msg, o),
          downloaded: readUint32BE(msg, o + 4),
          incomplete: readUint32BE(msg, o + 8),
        };
      }
      return { type: 'scrape', transactionId, stats };
    }
    case UDP_ACTION_ERROR:
      return {
        type: 'error',
        transactionId,
        message: asBuffer(msg).toString('utf8', UDP_ERROR_REPLY_HEADER_LENGTH, len),
      };
    default:
      return { type: 'invalid', reason: 'unknown action', transactionId };
  }
}

/**
 * BEP 41 options carrying `url` (path and query, e.g. "/announce?jwt=..."),
 * as libtorrent sends them: URLData options of at most 255 bytes each, then
 * EndOfOptions. Append after the announce body (UdpAnnounceRequestParams.options).
 */
export function urlDataOptions(url: string): Uint8Array {
  const bytes = Buffer.from(url, 'latin1');
  const chunks = Math.ceil(bytes.length / 255);
  const out = new Uint8Array(bytes.length + 2 * chunks + 1);
  let o = 0;
  for (let i = 0; i < bytes.length; i += 255) {
    const part = bytes.subarray(i, i + 255);
    out[o++] = 2;
    out[o++] = part.length;
    out.set(part, o);
    o += part.length;
  }
  out[o] = 0;
  return out;
}
