import type { FailureSink } from '../runtime/failures.js';
import type { SwarmReply, SwarmRequest } from '../tracker/swarm.js';
import type { BatchCallback, SwarmService, Transport } from './transport.js';
import { errorReplies, INTERNAL_ERROR, unavailableReply } from './replies.js';

const NOTHING = (): void => {};

/**
 * The all-in-one transport: edge and swarm in one process. It keeps the
 * asynchronous contract of the gRPC transport (replies arrive after `send`
 * returns) so frontends behave the same in both deployments. It has no cap
 * on messages (always writable) and ignores table identities: the one swarm
 * owns every slot.
 *
 * The service must not throw; when it does, the clients still get an
 * answer ("internal error") and the exception goes to `failures` (counted
 * and logged, rate-limited), as does one thrown by a `done` callback.
 */
export class InProcessTransport implements Transport {
  readonly writable = true;
  private pending = 0;
  private closed = false;

  constructor(
    private readonly service: SwarmService,
    private readonly failures?: FailureSink,
    readonly name = 'local',
  ) {}

  get inFlight(): number {
    return this.pending;
  }

  onWritable(): () => void {
    return NOTHING;
  }

  send(batch: SwarmRequest[], done: BatchCallback): void {
    if (this.closed) {
      queueMicrotask(() => this.deliver(done, errorReplies(batch.length, 'tracker is shutting down')));
      return;
    }
    this.pending += batch.length;
    queueMicrotask(() => {
      let replies: SwarmReply[];
      try {
        replies = this.service.handle(batch);
      } catch (error) {
        replies = errorReplies(batch.length, 'internal error');
        this.failures?.report(error, { requests: batch.length });
      }
      this.pending -= batch.length;
      this.deliver(done, replies);
    });
  }

  handleNow(request: SwarmRequest): SwarmReply {
    if (this.closed) return unavailableReply('tracker is shutting down');
    try {
      return this.service.handleOne ? this.service.handleOne(request) : this.service.handle([request])[0];
    } catch (error) {
      this.failures?.report(error, { request: request.type });
      return INTERNAL_ERROR;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** A throwing callback must not escape into the microtask queue (an uncaught exception ends the process). */
  private deliver(done: BatchCallback, replies: SwarmReply[]): void {
    try {
      done(replies);
    } catch (error) {
      this.failures?.report(error, { callback: 'done' });
    }
  }
}
