import type { AnnounceEvent } from './events.js';

/** A UDP or HTTP announce, as the swarm that owns its torrent needs it. */
export interface AnnounceRequest {
  readonly type: 'announce';
  /** 20-byte info-hash as a latin1 string. */
  readonly infoHash: string;
  /** 20-byte peer id as a latin1 string (not stored for UDP/HTTP peers). */
  readonly peerId: string;
  /**
   * The announcing peer as a compact endpoint (see peer.ts): 6 bytes for
   * IPv4, 18 bytes for IPv6 (never an IPv4-mapped IPv6 address). Taken from
   * the packet source, never from a client-supplied `ip` field. The port is
   * never 0.
   */
  readonly endpoint: Uint8Array;
  readonly event: AnnounceEvent;
  /** Bytes left to download; 0 means seeder. */
  readonly left: number;
  /** Peers wanted; <= 0 means "the configured default". */
  readonly numwant: number;
}

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
