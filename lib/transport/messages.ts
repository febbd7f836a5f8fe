/**
 * Protocol-neutral requests and replies exchanged between edge and swarm.
 *
 * These are plain data so the same shapes travel through the in-process
 * transport (all-in-one) and, later, the gRPC transport. A swarm never learns
 * which client protocol a request came from.
 *
 * Binary identifiers (info-hash, peer id) are 20-character latin1 strings:
 * one char per byte. They are cheap Map keys and the WebTorrent wire format
 * uses the same representation.
 */

/** BEP 15 numbering; HTTP frontends map their `event=` strings onto it. */
export const AnnounceEvent = {
  None: 0,
  Completed: 1,
  Started: 2,
  Stopped: 3,
} as const;
export type AnnounceEvent = (typeof AnnounceEvent)[keyof typeof AnnounceEvent];

/** Length of a compact IPv4 endpoint (4 address bytes + 2 port bytes, big-endian). */
export const COMPACT_V4_LENGTH = 6;
/** Length of a compact IPv6 endpoint (16 address bytes + 2 port bytes, big-endian). */
export const COMPACT_V6_LENGTH = 18;

export interface AnnounceRequest {
  readonly type: 'announce';
  /** 20-byte info-hash as a latin1 string. */
  readonly infoHash: string;
  /** 20-byte peer id as a latin1 string (not stored for UDP/HTTP peers). */
  readonly peerId: string;
  /**
   * The announcing peer as a compact endpoint: 6 bytes for IPv4, 18 bytes for
   * IPv6 (never an IPv4-mapped IPv6 address). Taken from the packet source,
   * never from a client-supplied `ip` field. The port is never 0.
   */
  readonly endpoint: Uint8Array;
  readonly event: AnnounceEvent;
  /** Bytes left to download; 0 means seeder. */
  readonly left: number;
  /** Peers wanted; <= 0 means "the configured default". */
  readonly numwant: number;
}

export interface ScrapeRequest {
  readonly type: 'scrape';
  /** 20-byte info-hashes as latin1 strings; never empty. */
  readonly infoHashes: readonly string[];
}

export type SwarmRequest = AnnounceRequest | ScrapeRequest;

export interface AnnounceReply {
  readonly type: 'announce';
  /** Seconds until the next regular announce (already varied a little). */
  readonly interval: number;
  readonly minInterval: number;
  /** Seeders. */
  readonly complete: number;
  /** Leechers. */
  readonly incomplete: number;
  /** Completed downloads seen for this torrent. */
  readonly downloaded: number;
  /**
   * Compact endpoints of the announcer's own address family, concatenated:
   * 6 bytes each for IPv4 announcers, 18 bytes each for IPv6 announcers.
   */
  readonly peers: Uint8Array;
}

export interface TorrentStats {
  readonly complete: number;
  readonly incomplete: number;
  readonly downloaded: number;
}

export interface ScrapeReply {
  readonly type: 'scrape';
  /** One entry per requested hash, in request order; zeros for unknown torrents. */
  readonly files: readonly TorrentStats[];
}

/** The request could not be served (e.g. the owning swarm is unreachable). */
export interface ErrorReply {
  readonly type: 'error';
  /** Safe to show to a client. */
  readonly message: string;
}

export type SwarmReply = AnnounceReply | ScrapeReply | ErrorReply;
