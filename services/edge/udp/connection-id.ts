import { createHash, randomBytes } from 'node:crypto';
import { sipKey, siphash24, type SipKey } from '../../../lib/crypto/siphash.js';

export interface ConnectionIdOptions {
  /** Secret shared by every edge; any length >= 16 bytes. */
  key: Uint8Array;
  ttlSeconds: number;
  /** Extra validity for clients that reuse an id a little too long. */
  slackSeconds: number;
  /** Clock difference tolerated between edges for ids stamped "in the future". */
  futureSkewSeconds: number;
  now?: () => number;
}

/**
 * Stateless BEP 15 connection ids: high 32 bits = issue time (unix seconds),
 * low 32 bits = SipHash-2-4(key, time || client IP) truncated. Any edge with
 * the same key can verify an id another edge issued, so a load balancer may
 * send a client's connect and announce to different replicas. The client's
 * port is left out on purpose: NATs may remap it between two packets.
 */
export class ConnectionIds {
  private readonly key: SipKey;
  private readonly scratch = new Uint8Array(20);
  private readonly scratchView = new DataView(this.scratch.buffer);
  private readonly maxAge: number;
  private readonly now: () => number;

  constructor(private readonly options: ConnectionIdOptions) {
    if (options.key.length < 16) throw new RangeError('connection id key must be at least 16 bytes');
    const key16 = options.key.length === 16 ? options.key : createHash('sha256').update(options.key).digest().subarray(0, 16);
    this.key = sipKey(key16);
    this.maxAge = options.ttlSeconds + options.slackSeconds;
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  static randomKey(): Uint8Array {
    return randomBytes(32);
  }

  /** Writes the id for `address` (4 or 16 bytes) into `target[0..1]` as [high, low]. */
  issue(address: Uint8Array, target: Uint32Array): void {
    const stamp = this.now() >>> 0;
    target[0] = stamp;
    target[1] = this.mac(stamp, address);
  }

  verify(address: Uint8Array, high: number, low: number): boolean {
    const age = this.now() - high;
    if (age > this.maxAge || age < -this.options.futureSkewSeconds) return false;
    return this.mac(high, address) === low;
  }

  private mac(stamp: number, address: Uint8Array): number {
    this.scratchView.setUint32(0, stamp);
    this.scratch.set(address, 4);
    return siphash24(this.key, this.scratch, 4 + address.length)[1];
  }
}
