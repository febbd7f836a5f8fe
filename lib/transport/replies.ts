import type { ErrorReply } from './messages.js';

/** One ErrorReply per request, for a batch that could not be served. */
export function errorReplies(count: number, message: string): ErrorReply[] {
  const reply: ErrorReply = { type: 'error', message };
  return new Array<ErrorReply>(count).fill(reply);
}
