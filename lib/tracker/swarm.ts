/**
 * What an edge asks a swarm and what the swarm answers, whatever client
 * protocol the request came in by: a swarm never learns which one it was.
 *
 * These are plain data, so the same shapes travel through the in-process
 * transport (all-in-one) and through the gRPC transport, whose wire format
 * is proto/tracker.proto (lib/transport/grpc/codec.ts converts).
 *
 * Binary identifiers (info-hash, peer id, offer id) are 20-character latin1
 * strings: one char per byte. They are cheap Map keys and the WebTorrent
 * wire format uses the same representation.
 */
import type { AnnounceReply, AnnounceRequest } from './announce.js';
import type { ScrapeReply, ScrapeRequest } from './scrape.js';
import type { WtReply, WtRequest } from './webtorrent.js';

export type SwarmRequest = AnnounceRequest | ScrapeRequest | WtRequest;

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
  /**
   * True when one of the edge's request hooks refused the request (an access
   * list, client approval, a token...): metrics count these as `denied`.
   * Only an edge sets it; it never crosses the wire.
   */
  readonly denied?: boolean;
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
