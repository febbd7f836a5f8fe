import type { AnnounceEvent } from './events.js';
import type { RequestParams } from './params.js';

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
  /**
   * Same-subnet preference: the reply lists first the peers whose address
   * shares this many leading bits with the announcer's (at most 32 for IPv4,
   * 128 for IPv6), then the others. Absent or 0: no preference. The edge's
   * pipeline sets it from its hooks (hooks.sameSubnet) before the request
   * leaves the edge.
   */
  sameSubnetBits?: number;
  /**
   * Announce-rate floor: a regular announce (no event) from a peer the swarm
   * holds and saw less than this many seconds ago is refused; `started`,
   * `stopped` and `completed` always pass. Absent or 0: no floor. Set by the
   * edge's pipeline (hooks.announceRate); enforced by the swarm, which keeps
   * each peer's last announce.
   */
  minAnnounceSeconds?: number;
  /**
   * Private mode: the announcing user (users_main.ID), from the passkey; 0
   * or absent = a public announce, and none of the fields below is sent. Set
   * by the edge's pipeline (the passkey hook), like the fields below.
   */
  userId?: number;
  /** Bytes uploaded since the client's `started`, as it reports them. */
  uploaded?: number;
  /** Bytes downloaded since the client's `started`, as it reports them. */
  downloaded?: number;
  /** The user's upload credit multiplier (users_main.UpMultiplier). */
  userUpMultiplier?: number;
  /** The user's download credit multiplier (users_main.DownMultiplier). */
  userDownMultiplier?: number;
  /** approved_clients.id of the peer_id's client, for transfer_ips. */
  clientId?: number;
  /** The user hides their address (TrackerHide): written and recorded as 127.0.0.1. */
  hideAddress?: boolean;
}

/**
 * A UDP or HTTP announce as the edge's frontend parsed it: what the swarm
 * needs, and what only the edge's hooks read. The extra fields stay on the
 * edge (proto/tracker.proto carries AnnounceRequest's fields only): hooks
 * run there, and no swarm logic uses them yet. Transfer accounting, when it
 * comes, runs on the swarm and will add uploaded/downloaded to the wire.
 * Frontends set `sameSubnetBits` and `minAnnounceSeconds` to 0 (so every
 * announce has the same shape); the pipeline fills them in.
 */
export interface ClientAnnounce extends AnnounceRequest {
  /** Bytes uploaded since the client's `started`, as it reports them (clamped to 2^53 - 1). */
  readonly uploaded: number;
  /** Bytes downloaded since the client's `started`, as it reports them (clamped to 2^53 - 1). */
  readonly downloaded: number;
  readonly params: RequestParams;
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
