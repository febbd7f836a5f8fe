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

export type SwarmRequest = AnnounceRequest | ScrapeRequest | WtRequest;

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

/** The request was refused by the swarm, or could not be served at all. */
export interface ErrorReply {
  readonly type: 'error';
  /** Safe to show to a client. */
  readonly message: string;
  /**
   * True when no swarm answered (unreachable, timed out, overloaded, shutting
   * down), as opposed to a swarm refusing the request. Metrics count these as
   * `unavailable`, which is what outage alerts watch.
   */
  readonly unavailable?: boolean;
}

/**
 * The swarm does not own the request's slot under its slot table (edge and
 * swarm saw different members). Only the edge's router ever sees it: it
 * sends the request again, to `owner` or by its newest table; frontends and
 * clients never do.
 */
export interface MovedReply {
  readonly type: 'moved';
  /**
   * The owner under the swarm's table, when one swarm owns every hash of the
   * request there; a hint the edge may follow while its own table still
   * names the swarm that answered.
   */
  readonly owner?: string;
}

export type SwarmReply = AnnounceReply | ScrapeReply | ErrorReply | MovedReply | WtReply;

// ---------------------------------------------------------------- WebTorrent

/**
 * A WebTorrent socket: the edge that holds it (stable edge id) and the
 * socket's number on that edge. Swarms keep it with each WebTorrent peer so
 * relayed offers and answers reach the right browser.
 */
export interface SocketRef {
  readonly edge: string;
  readonly socket: number;
}

/** An SDP offer or answer, relayed verbatim. */
export interface SessionDescription {
  readonly type: string;
  readonly sdp: string;
}

export interface WtOffer {
  /** 20-char latin1 string chosen by the offerer. */
  readonly offerId: string;
  readonly offer: SessionDescription;
}

export interface WtAnnounceRequest {
  readonly type: 'wt-announce';
  readonly infoHash: string;
  readonly peerId: string;
  readonly from: SocketRef;
  readonly event: AnnounceEvent;
  /** left === 0 (a seeder); unknown `left` counts as leecher. */
  readonly seeder: boolean;
  /** Offers to hand to distinct random peers of the swarm. */
  readonly offers: readonly WtOffer[];
}

/** An answer to an offer this peer received, for the offerer `toPeerId`. */
export interface WtAnswerRequest {
  readonly type: 'wt-answer';
  readonly infoHash: string;
  /** The answerer. */
  readonly peerId: string;
  readonly from: SocketRef;
  readonly toPeerId: string;
  readonly offerId: string;
  readonly answer: SessionDescription;
}

/** A socket closed: remove the peers it announced (one entry per torrent). */
export interface WtDisconnectRequest {
  readonly type: 'wt-disconnect';
  readonly from: SocketRef;
  readonly peers: readonly { readonly infoHash: string; readonly peerId: string }[];
}

export interface WtScrapeRequest {
  readonly type: 'wt-scrape';
  readonly infoHashes: readonly string[];
}

export type WtRequest = WtAnnounceRequest | WtAnswerRequest | WtDisconnectRequest | WtScrapeRequest;

export interface WtAnnounceReply {
  readonly type: 'wt-announce';
  readonly interval: number;
  readonly complete: number;
  readonly incomplete: number;
  /** Offers actually handed to peers (fewer when the swarm is small). */
  readonly offersRelayed: number;
}

export interface WtAnswerReply {
  readonly type: 'wt-answer';
}

export interface WtDisconnectReply {
  readonly type: 'wt-disconnect';
  readonly removed: number;
}

export interface WtScrapeReply {
  readonly type: 'wt-scrape';
  readonly files: readonly TorrentStats[];
}

export type WtReply = WtAnnounceReply | WtAnswerReply | WtDisconnectReply | WtScrapeReply;

/** Pushed by a swarm to the edge holding `to`: an offer or an answer to deliver. */
export type WtRelayMessage =
  | { readonly kind: 'offer'; readonly infoHash: string; readonly fromPeerId: string; readonly offerId: string; readonly offer: SessionDescription }
  | { readonly kind: 'answer'; readonly infoHash: string; readonly fromPeerId: string; readonly offerId: string; readonly answer: SessionDescription };

/** Where a swarm sends relayed WebTorrent messages. */
export interface RelaySink {
  deliver(to: SocketRef, message: WtRelayMessage): void;
}
