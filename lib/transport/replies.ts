import type { FailureSink } from '../runtime/failures.js';
import type { ErrorReply, SwarmReply, SwarmRequest } from '../tracker/swarm.js';

/** One ErrorReply per request, for a batch no swarm could answer. */
export function errorReplies(count: number, message: string): ErrorReply[] {
  const reply: ErrorReply = unavailableReply(message);
  return new Array<ErrorReply>(count).fill(reply);
}

/** The reply for a request that no swarm answered (see ErrorReply.unavailable). */
export function unavailableReply(message: string): ErrorReply {
  return { type: 'error', message, unavailable: true };
}

/**
 * What a frontend tells the client, and how it counts it, when a reply is
 * not the kind it asked for: a request hook's refusal is `denied`; a
 * swarm's refusal is an `error`; no answer at all (or a reply of the wrong
 * kind) is `unavailable`.
 */
export function describeFailure(reply: SwarmReply): { message: string; result: 'error' | 'unavailable' | 'denied' } {
  if (reply.type === 'error') return { message: reply.message, result: reply.denied ? 'denied' : reply.unavailable ? 'unavailable' : 'error' };
  return { message: 'internal error', result: 'unavailable' };
}

/** The reply for a request whose handler threw. */
export const INTERNAL_ERROR: ErrorReply = Object.freeze({ type: 'error', message: 'internal error' });

/**
 * Answers a batch one request at a time: one reply per request, in order.
 * A request whose handler throws gets an "internal error" reply instead of
 * failing its whole batch (SwarmService.handle must never throw); the
 * exception goes to `failures` (counted, logged rate-limited) with the
 * request's type.
 */
export function answerEach(
  requests: readonly SwarmRequest[],
  answer: (request: SwarmRequest) => SwarmReply,
  failures?: FailureSink,
): SwarmReply[] {
  const replies = new Array<SwarmReply>(requests.length);
  for (let i = 0; i < requests.length; i++) {
    try {
      replies[i] = answer(requests[i]);
    } catch (error) {
      replies[i] = INTERNAL_ERROR;
      failures?.report(error, { request: requests[i].type });
    }
  }
  return replies;
}
