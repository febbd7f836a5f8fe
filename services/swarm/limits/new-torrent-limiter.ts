/**
 * How fast one network may make the tracker hold torrents it did not hold
 * before: a token bucket per source prefix (an IPv4 /prefixV4, an IPv6
 * /prefixV6), refilled at `perSecond` up to `burst`.
 *
 * Only creating a torrent costs a token; announcing to a torrent that
 * exists never does. Refusing costs the client little: nobody else is in a
 * torrent the tracker does not know, so there were no peers to hand out.
 *
 * The prefix table is bounded too, since an attacker chooses how many
 * prefixes appear (IPv6 gives out /64s by the thousand). A prefix whose
 * bucket has refilled holds nothing a fresh bucket would not, so it can be
 * forgotten: the table is kept in least-recently-used order (a Map re-set on
 * every use), refilled prefixes are dropped from its old end as new ones
 * come and by `sweepStep`, and when `maxPrefixes` prefixes are all still
 * refilling, a new prefix is refused rather than evicting one (an eviction
 * would hand that prefix a full bucket again).
 *
 * In a cluster every swarm keeps its own table for the info-hashes it owns,
 * so a network's rate across the whole tracker is up to the number of
 * swarms times `perSecond`.
 */
import { fmix32, murmur3Round } from '../../../lib/crypto/murmur3.js';
import { COMPACT_V4_LENGTH, COMPACT_V6_LENGTH } from '../../../lib/tracker/peer.js';
import type { ErrorReply } from '../../../lib/tracker/swarm.js';
import { NOT_COUNTED, type LimitCounter } from './limit-counter.js';

export interface NewTorrentLimits {
  /** Tokens per second per prefix (> 0). */
  perSecond: number;
  /** Bucket size: new torrents a quiet prefix may create at once (>= 1). */
  burst: number;
  /** IPv4 prefix length, 0..32. */
  prefixV4: number;
  /** IPv6 prefix length, 0..64. */
  prefixV6: number;
  /** Prefixes held at most. */
  maxPrefixes: number;
}

export interface NewTorrentLimitCounters {
  /** A prefix had no token left. */
  rate: LimitCounter;
  /** The prefix table was full of prefixes still refilling. */
  prefixes: LimitCounter;
}

export const RATE_LIMITED_MESSAGE = 'too many new torrents from your network, try again later';
export const PREFIXES_FULL_MESSAGE = 'too many networks are creating torrents, try again later';
const RATE_LIMITED: ErrorReply = Object.freeze({ type: 'error', message: RATE_LIMITED_MESSAGE });
const PREFIXES_FULL: ErrorReply = Object.freeze({ type: 'error', message: PREFIXES_FULL_MESSAGE });

interface Bucket {
  tokens: number;
  /** Seconds (store clock) of the last refill. */
  at: number;
}

export class NewTorrentLimiter {
  private readonly buckets = new Map<number, Bucket>();
  private readonly limits: Readonly<NewTorrentLimits>;
  private readonly counters: NewTorrentLimitCounters;
  private readonly seed: number;

  constructor(limits: NewTorrentLimits, counters: Partial<NewTorrentLimitCounters> = {}, seed = (Math.random() * 0x100000000) | 0) {
    if (!(limits.perSecond > 0) || !(limits.burst >= 1)) throw new RangeError('perSecond must be > 0 and burst >= 1');
    if (!(limits.prefixV4 >= 0 && limits.prefixV4 <= 32) || !(limits.prefixV6 >= 0 && limits.prefixV6 <= 64)) {
      throw new RangeError('prefixV4 must be 0..32 and prefixV6 0..64');
    }
    this.limits = { ...limits };
    this.counters = { rate: counters.rate ?? NOT_COUNTED, prefixes: counters.prefixes ?? NOT_COUNTED };
    this.seed = seed | 0;
  }

  /** Prefixes held now. */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * Takes a token for creating one torrent from `endpoint` (a compact IPv4
   * or IPv6 endpoint) at `now` seconds. Returns null when allowed, else the
   * reply that tells the client why (the refusal is counted).
   */
  take(endpoint: Uint8Array, now: number): ErrorReply | null {
    const key = this.prefixKey(endpoint);
    const { perSecond, burst } = this.limits;
    const bucket = this.buckets.get(key);
    if (bucket === undefined) {
      this.dropRefilled(now, 2);
      if (this.buckets.size >= this.limits.maxPrefixes) {
        this.counters.prefixes.inc();
        return PREFIXES_FULL;
      }
      this.buckets.set(key, { tokens: burst - 1, at: now });
      return null;
    }
    // Most recently used goes last.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    const elapsed = now - bucket.at;
    if (elapsed > 0) {
      bucket.tokens = Math.min(burst, bucket.tokens + elapsed * perSecond);
      bucket.at = now;
    }
    if (bucket.tokens < 1) {
      this.counters.rate.inc();
      return RATE_LIMITED;
    }
    bucket.tokens -= 1;
    return null;
  }

  /**
   * Forgets refilled prefixes from the least recently used end, at most
   * `maxDrops` of them. Returns whether it stopped at a prefix still
   * refilling (or an empty table) rather than at `maxDrops`.
   */
  dropRefilled(now: number, maxDrops: number): boolean {
    const { perSecond, burst } = this.limits;
    for (const [key, bucket] of this.buckets) {
      if (maxDrops-- <= 0) return false;
      if (bucket.tokens + (now - bucket.at) * perSecond < burst) return true;
      this.buckets.delete(key);
    }
    return true;
  }

  /**
   * The prefix as a Map key: an IPv4 prefix is its value (< 2^32); an IPv6
   * prefix is a seeded 53-bit hash of its 8 bytes placed at or above 2^32
   * (two prefixes share a bucket with odds of 2^-53 per pair).
   */
  private prefixKey(endpoint: Uint8Array): number {
    const hi = ((endpoint[0] << 24) | (endpoint[1] << 16) | (endpoint[2] << 8) | endpoint[3]) >>> 0;
    if (endpoint.length === COMPACT_V4_LENGTH) {
      const p = this.limits.prefixV4;
      return p === 0 ? 0 : (hi >>> (32 - p)) >>> 0;
    }
    if (endpoint.length !== COMPACT_V6_LENGTH) throw new RangeError('endpoint must be 6 or 18 bytes');
    const p = this.limits.prefixV6;
    const lo = ((endpoint[4] << 24) | (endpoint[5] << 16) | (endpoint[6] << 8) | endpoint[7]) >>> 0;
    const maskHi = p >= 32 ? 0xffffffff : p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
    const maskLo = p <= 32 ? 0 : p >= 64 ? 0xffffffff : (0xffffffff << (64 - p)) >>> 0;
    const a = (hi & maskHi) | 0;
    const b = (lo & maskLo) | 0;
    const h1 = fmix32(murmur3Round(murmur3Round(this.seed, a), b) ^ 8);
    const h2 = fmix32(murmur3Round(murmur3Round(this.seed ^ 0x5bd1e995, b), a) ^ 8);
    return 0x100000000 * (1 + (h1 & 0x1fffff)) + h2;
  }
}
