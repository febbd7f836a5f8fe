/**
 * WebTorrent requests and replies between edge and swarm. A WebTorrent peer
 * has no endpoint: the swarm keeps the socket it announced on, and relays
 * WebRTC offers and answers to it through the edge that holds it.
 */
import type { AnnounceEvent } from './events.js';
import type { RequestParams } from './params.js';
import type { TorrentStats } from './scrape.js';

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

/**
 * A WebTorrent announce as the edge's frontend parsed it: what the swarm
 * needs, and what only the edge's hooks read (these stay on the edge).
 */
export interface ClientWtAnnounce extends WtAnnounceRequest {
  /** Bytes left; null when the client does not know yet (a magnet link without metadata). */
  readonly left: number | null;
  readonly uploaded: number;
  readonly downloaded: number;
  /**
   * The client's address, 4 bytes (IPv4) or 16 (IPv6), as the socket's
   * upgrade request showed it (the socket peer, or a trusted proxy's header).
   */
  readonly address: Uint8Array;
  readonly params: RequestParams;
  /**
   * Seconds since this socket last announced this peer (info-hash and
   * peer_id) successfully; Infinity for its first announce. A WebTorrent
   * peer lives on the socket that announced it, so the edge holding the
   * socket knows its previous announce (the announce-rate floor reads it).
   */
  readonly sinceLastAnnounce: number;
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
