import type { SwarmReply, SwarmRequest } from './messages.js';
import type { BatchCallback, SwarmService, Transport } from './transport.js';
import { errorReplies, INTERNAL_ERROR, unavailableReply } from './replies.js';

/**
 * The all-in-one transport: edge and swarm in one process. It keeps the
 * asynchronous contract of the gRPC transport (replies arrive after `send`
 * returns) so frontends behave the same in both deployments.
 */
export class InProcessTransport implements Transport {
  private pending = 0;
  private closed = false;

  constructor(private readonly service: SwarmService) {}

  get inFlight(): number {
    return this.pending;
  }

  send(batch: SwarmRequest[], done: BatchCallback): void {
    if (this.closed) {
      queueMicrotask(() => done(errorReplies(batch.length, 'tracker is shutting down')));
      return;
    }
    this.pending += batch.length;
    queueMicrotask(() => {
      let replies: SwarmReply[];
      try {
        replies = this.service.handle(batch);
      } catch {
        // The store must not throw; if it does, the clients get an answer anyway.
        replies = errorReplies(batch.length, 'internal error');
      }
      this.pending -= batch.length;
      done(replies);
    });
  }

  handleNow(request: SwarmRequest): SwarmReply {
    if (this.closed) return unavailableReply('tracker is shutting down');
    try {
      return this.service.handleOne ? this.service.handleOne(request) : this.service.handle([request])[0];
    } catch {
      return INTERNAL_ERROR;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
