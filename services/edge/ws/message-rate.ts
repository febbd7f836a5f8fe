/**
 * A token bucket per WebSocket: `perSecond` messages on average, `burst` at
 * once. A socket that finds its bucket empty is over its budget (the caller
 * closes it). The bucket lives in two fields of the socket's own state, so
 * admitting a message is arithmetic, with no allocation and no timer.
 */

/** The bucket's fields, kept on each socket's state. */
export interface MessageBucket {
  tokens: number;
  /** Clock reading (ms) when `tokens` was last brought up to date. */
  refilledAt: number;
}

export class MessageRateLimit {
  private readonly perMs: number;

  constructor(
    readonly perSecond: number,
    readonly burst: number,
  ) {
    this.perMs = perSecond / 1000;
  }

  /** A new socket starts with a full bucket (a page opening many torrents announces them all at once). */
  fill(bucket: MessageBucket, now: number): void {
    bucket.tokens = this.burst;
    bucket.refilledAt = now;
  }

  /** Takes one message's token: false when the socket is over its budget. */
  take(bucket: MessageBucket, now: number): boolean {
    let tokens = bucket.tokens + (now - bucket.refilledAt) * this.perMs;
    if (tokens > this.burst) tokens = this.burst;
    bucket.refilledAt = now;
    if (tokens < 1) {
      bucket.tokens = tokens;
      return false;
    }
    bucket.tokens = tokens - 1;
    return true;
  }
}
