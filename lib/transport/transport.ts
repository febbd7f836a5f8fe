import type { SwarmReply, SwarmRequest } from '../tracker/swarm.js';

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
 * How an edge reaches one swarm: a carrier of messages. Frontends never see
 * this directly; they go through the edge router, which holds the one queue
 * per swarm and decides what goes into each message. A transport carries
 * each batch it is given as one message, as it is: it never splits, merges
 * or queues batches.
 *
 * Contract (checked by the transport conformance suite):
 * - `send` never throws; `done` is called exactly once, asynchronously, with
 *   one reply per request in request order.
 * - When the swarm cannot be reached every reply is an ErrorReply, promptly.
 * - After `close()` resolves, further sends answer with ErrorReply.
 * - `writable` is false while one more message would go beyond the
 *   transport's cap of unanswered messages (or the connection pushes back);
 *   `onWritable` listeners run each time it turns true again. A batch sent
 *   while it is false is still carried, beyond the cap: the caller keeps
 *   the cap by waiting.
 */
export interface Transport {
  /** The swarm's member name, for error messages and stats. */
  readonly name: string;
  /**
   * Sends `batch` as one message. `tableIdentity`: the SlotTable.identity the
   * requests were routed with (0: not routed by one table, the swarm checks
   * each). `queuedAt` (performance.now() ms): when the oldest request of the
   * batch was queued; the request timeout counts from it (default: now).
   */
  send(batch: SwarmRequest[], done: BatchCallback, tableIdentity?: number, queuedAt?: number): void;
  /** Whether another message fits now (see the contract above). */
  readonly writable: boolean;
  /** Runs `listener` each time `writable` turns true again. Returns an unsubscribe function. */
  onWritable(listener: () => void): () => void;
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
