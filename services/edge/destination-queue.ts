import type { SwarmReply, SwarmRequest } from '../../lib/tracker/swarm.js';
import type { Transport } from '../../lib/transport/transport.js';
import { estimateRequestBytes } from '../../lib/transport/grpc/codec.js';

export type ReplyCallback = (reply: SwarmReply) => void;

/** Requests taken from a queue to travel as one message. */
export interface Chunk {
  readonly requests: SwarmRequest[];
  readonly callbacks: ReplyCallback[];
  /** Moved replies each request has had; undefined when none has. */
  readonly hops: number[] | undefined;
}

/**
 * The requests waiting for one swarm, oldest first: the one queue on the
 * path from an edge to a swarm (the router fills and drains it; transports
 * hold none). Parallel arrays, so a queued request costs no object of its
 * own; hop counts are kept only while a re-sent request is in the queue.
 */
export class DestinationQueue {
  private requests: SwarmRequest[] = [];
  private callbacks: ReplyCallback[] = [];
  /** When each request was queued (performance.now() ms); never decreasing. */
  private stamps: number[] = [];
  private hops: number[] | undefined;
  private head = 0;
  /**
   * Holds a request sent to the owner another swarm named rather than the
   * one the table names: messages are stamped with identity 0 (the swarm
   * checks every request) until the queue has been empty once.
   */
  hinted = false;
  /** Holds WebTorrent requests (SDP: possibly large); messages are then also cut by estimated size. */
  private large = false;

  constructor(readonly transport: Transport) {}

  get length(): number {
    return this.requests.length - this.head;
  }

  /** When the oldest request was queued (performance.now() ms); Infinity when empty. */
  get oldest(): number {
    return this.head < this.stamps.length ? this.stamps[this.head] : Infinity;
  }

  push(request: SwarmRequest, callback: ReplyCallback, stamp: number, hops: number): void {
    if (hops > 0 && this.hops === undefined) this.hops = new Array<number>(this.requests.length).fill(0);
    this.requests.push(request);
    this.callbacks.push(callback);
    this.stamps.push(stamp);
    this.hops?.push(hops);
    if (!this.large && (request.type === 'wt-announce' || request.type === 'wt-answer')) this.large = true;
  }

  /** The oldest requests, at most `max` of them and (with large requests) about `maxBytes`, at least one. */
  take(max: number, maxBytes: number): Chunk {
    let n = Math.min(max, this.length);
    if (this.large && n > 1) {
      let bytes = 0;
      for (let i = 0; i < n; i++) {
        bytes += estimateRequestBytes(this.requests[this.head + i]);
        if (bytes > maxBytes && i > 0) {
          n = i;
          break;
        }
      }
    }
    return this.takeFirst(n);
  }

  /** Everything queued. */
  takeAll(): Chunk {
    return this.takeFirst(this.length);
  }

  /** The oldest requests queued at or before `stamp`. */
  takeQueuedBy(stamp: number): Chunk {
    let n = 0;
    while (n < this.length && this.stamps[this.head + n] <= stamp) n++;
    return this.takeFirst(n);
  }

  private takeFirst(n: number): Chunk {
    const head = this.head;
    let chunk: Chunk;
    if (head === 0 && n === this.requests.length) {
      // The common case (everything, from the start): hand the arrays over.
      chunk = { requests: this.requests, callbacks: this.callbacks, hops: this.hops };
      this.requests = [];
      this.callbacks = [];
      this.stamps = [];
      this.hops = undefined;
    } else {
      const end = head + n;
      chunk = { requests: this.requests.slice(head, end), callbacks: this.callbacks.slice(head, end), hops: this.hops?.slice(head, end) };
      this.head = end;
      if (end === this.requests.length) {
        this.requests.length = this.callbacks.length = this.stamps.length = 0;
        this.hops = undefined;
        this.head = 0;
      } else if (end > 4096 && end * 2 > this.requests.length) {
        this.requests.splice(0, end);
        this.callbacks.splice(0, end);
        this.stamps.splice(0, end);
        this.hops?.splice(0, end);
        this.head = 0;
      }
    }
    if (this.length === 0) this.hinted = this.large = false;
    return chunk;
  }
}
