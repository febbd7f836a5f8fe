/** Option defaults and argument checks shared by both socket implementations, so both refuse the same things. */
import { isIPv4Mapped } from '../ip.js';
import type { UdpEndpoint } from './types.js';

export const DEFAULTS = {
  maxDatagramSize: 65_536,
  batchSize: 64,
  sendQueueBytes: 1 << 20,
  sendQueueLength: 1024,
  maxReplyLength: 2048,
};

export function intOption(value: number | undefined, fallback: number, min: number, max: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer in ${min}..${max}`);
  return v;
}

export function checkIndex(i: number, count: number): void {
  if (!(i >= 0 && i < count && (i | 0) === i)) throw new RangeError(`datagram index ${i} outside 0..${count - 1} (views are valid only during the batch handler)`);
}

export function checkEndpoint(to: UdpEndpoint): Uint8Array {
  let a = to.address;
  if (a.length === 16 && isIPv4Mapped(a)) a = a.subarray(12);
  if (a.length !== 4 && a.length !== 16) throw new RangeError('endpoint address must be 4 or 16 bytes');
  if (!Number.isInteger(to.port) || to.port < 1 || to.port > 65535) throw new RangeError(`bad destination port ${to.port}`);
  return a;
}

export function checkWritten(n: number, maxLength: number): number {
  if (n < 0) return -1;
  if (!Number.isInteger(n) || n > maxLength) throw new RangeError(`writer returned ${n}, must be an integer <= ${maxLength}`);
  return n;
}
