/**
 * Characters of a token's end that key the cache: the end of its signature
 * (32 base64url characters, 192 bits), so a lookup hashes those instead of
 * the whole token (hundreds of characters, hashed anew for every request's
 * copy of it). An entry still matches only the very token it was made for:
 * it keeps the token and a lookup compares it whole.
 */
const KEY_LENGTH = 32;

const keyOf = (token: string): string => (token.length > KEY_LENGTH ? token.slice(token.length - KEY_LENGTH) : token);

/**
 * Tokens already checked, so that a client re-announcing with the same
 * token (every announce, until it expires) costs a Map lookup instead of a
 * signature verification (35-140 us of CPU, by algorithm). Bounded: past
 * `maxEntries` the oldest entry goes first; an entry whose token has
 * expired is dropped when it is next looked up.
 */
export class TokenCache<V> {
  private readonly entries = new Map<string, { readonly token: string; readonly value: V }>();

  /** `evicted` counts entries pushed out by the bound (hooks.jwt.cacheSize). */
  constructor(
    readonly maxEntries: number,
    private readonly evicted: { inc(): void } = { inc() {} },
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(token: string): V | undefined {
    const entry = this.entries.get(keyOf(token));
    return entry !== undefined && entry.token === token ? entry.value : undefined;
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
    this.entries.set(keyOf(token), { token, value });
  }

  delete(token: string): void {
    const key = keyOf(token);
    if (this.entries.get(key)?.token === token) this.entries.delete(key);
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
