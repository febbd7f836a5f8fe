import type { SwarmReply, SwarmRequest } from './messages.js';

/**
 * The logic a swarm exposes, whatever carries requests to it.
 * `handle` answers a batch synchronously: one reply per request, same order.
 * It must never throw for any well-typed request.
 */
export interface SwarmService {
  handle(requests: readonly SwarmRequest[]): SwarmReply[];
  /** One request without the batch arrays; the in-process transport's synchronous path uses it when present. */
  handleOne?(request: SwarmRequest): SwarmReply;
}

export type BatchCallback = (replies: SwarmReply[]) => void;

/**
 * How an edge reaches one swarm. Frontends never see this directly; they go
 * through the edge router, which batches per destination.
 *
 * Contract (checked by the transport conformance suite):
 * - `send` never throws; `done` is called exactly once, asynchronously, with
 *   one reply per request in request order.
 * - When the swarm cannot be reached every reply is an ErrorReply, promptly.
 * - After `close()` resolves, further sends answer with ErrorReply.
 */
export interface Transport {
  send(batch: SwarmRequest[], done: BatchCallback): void;
  /** Requests sent whose replies have not been delivered yet. */
  readonly inFlight: number;
  close(): Promise<void>;
  /**
   * Answers one request synchronously. Only transports that need no I/O
   * (in-process) offer it. Frontends prefer it when present: it skips the
   * batching round trip, and uWebSockets.js can only keep pipelined HTTP
   * requests in order when the reply is written before the handler returns.
   */
  handleNow?(request: SwarmRequest): SwarmReply;
}
