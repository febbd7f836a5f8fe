/**
 * Tokens already checked, so that a client re-announcing with the same
 * token (every announce, until it expires) costs a Map lookup instead of a
 * signature verification (35-140 us of CPU, by algorithm). Bounded: past
 * `maxEntries` the oldest entry goes first; an entry whose token has
 * expired is dropped when it is next looked up.
 */
export class TokenCache<V> {
  private readonly entries = new Map<string, V>();

  /** `evicted` counts entries pushed out by the bound (hooks.jwt.cacheSize). */
  constructor(
    readonly maxEntries: number,
    private readonly evicted: { inc(): void } = { inc() {} },
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(token: string): V | undefined {
    return this.entries.get(token);
  }

  set(token: string, value: V): void {
    if (this.maxEntries <= 0) return;
    if (this.entries.size >= this.maxEntries) {
      // Map iterates in insertion order: the first key is the oldest.
      const oldest = this.entries.keys().next();
      if (!oldest.done) {
        this.entries.delete(oldest.value);
        this.evicted.inc();
      }
    }
    this.entries.set(token, value);
  }

  delete(token: string): void {
    this.entries.delete(token);
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * A token bucket: `perSecond` tokens a second, at most `perSecond` saved up.
 * Bounds the signature verifications a flood of new (or forged) tokens can
 * make an edge run.
 */
export class VerificationBudget {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly perSecond: number,
    private readonly nowMs: () => number,
  ) {
    this.tokens = perSecond;
    this.refilledAt = nowMs();
  }

  take(): boolean {
    const now = this.nowMs();
    const elapsed = now - this.refilledAt;
    if (elapsed > 0) {
      this.tokens = Math.min(this.perSecond, this.tokens + (elapsed * this.perSecond) / 1000);
      this.refilledAt = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
