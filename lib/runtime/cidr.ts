/**
 * CIDR lists, e.g. the trusted proxies whose client-address header we believe.
 *
 * Every rule and every address is compared in the IPv6 space: an IPv4 rule
 * a.b.c.d/n is the IPv4-mapped rule ::ffff:a.b.c.d/(96+n), and a 4-byte address
 * is looked up as ::ffff:a.b.c.d. So a client seen as ::ffff:10.1.2.3 on a
 * dual-stack socket matches 10.0.0.0/8, and 10.1.2.3 matches
 * ::ffff:10.0.0.0/104. (Consequently ::/0 matches every address, IPv4 too.)
 */
import { parseIp } from '../net/ip.js';

export interface CidrMatcher {
  /** `address` is 4 bytes (IPv4) or 16 bytes (IPv6, possibly IPv4-mapped); any other length never matches. */
  contains(address: Uint8Array): boolean;
  /** Number of rules. */
  readonly size: number;
}

export interface Cidr {
  /** Network address in the IPv6 space (IPv4 rules are IPv4-mapped), host bits cleared. */
  readonly network: Uint8Array;
  /** Prefix length in the IPv6 space, 0..128 (an IPv4 /n is 96+n). */
  readonly prefix: number;
  /** The rule as written (trimmed). */
  readonly text: string;
}

export class CidrError extends Error {
  override readonly name = 'CidrError';
  constructor(
    readonly entry: string,
    reason: string,
  ) {
    super(`${JSON.stringify(entry)}: ${reason}`);
  }
}

const MAPPED_PREFIX = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

function toV6Space(address: Uint8Array): Uint8Array | null {
  if (address.length === 16) return address;
  if (address.length !== 4) return null;
  const out = new Uint8Array(16);
  out.set(MAPPED_PREFIX, 0);
  out.set(address, 12);
  return out;
}

/** Parses one rule: "10.0.0.0/8", "2001:db8::/32", or a single address (a /32 or /128). Throws CidrError. */
export function parseCidr(entry: string): Cidr {
  const text = entry.trim();
  if (text === '') throw new CidrError(entry, 'empty entry');
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const isV6 = addressText.includes(':');
  if (addressText.includes('%')) throw new CidrError(entry, 'zone ids (%...) are not allowed');
  const parsed = parseIp(addressText);
  if (parsed === null) throw new CidrError(entry, `"${addressText}" is not an IPv4 or IPv6 address`);
  const network = toV6Space(parsed);
  if (network === null) throw new CidrError(entry, `"${addressText}" is not an IPv4 or IPv6 address`);
  const max = isV6 ? 128 : 32;
  let length = max;
  if (slash !== -1) {
    const prefixText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
      throw new CidrError(entry, `prefix length must be a whole number between 0 and ${max}, got "${prefixText}"`);
    }
    length = Number(prefixText);
  }
  const prefix = isV6 ? length : 96 + length;
  const masked = new Uint8Array(network);
  for (let bit = prefix; bit < 128; bit++) masked[bit >> 3] &= ~(0x80 >> (bit & 7));
  return { network: masked, prefix, text };
}

function matches(rule: Cidr, address: Uint8Array): boolean {
  const full = rule.prefix >> 3;
  const network = rule.network;
  for (let i = 0; i < full; i++) if (address[i] !== network[i]) return false;
  const rest = rule.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (address[full] & mask) === network[full];
}

class ListMatcher implements CidrMatcher {
  private readonly scratch = new Uint8Array(16);
  constructor(private readonly rules: readonly Cidr[]) {
    this.scratch.set(MAPPED_PREFIX, 0);
  }

  get size(): number {
    return this.rules.length;
  }

  contains(address: Uint8Array): boolean {
    const rules = this.rules;
    if (rules.length === 0) return false;
    let v6: Uint8Array;
    if (address.length === 16) v6 = address;
    else if (address.length === 4) {
      this.scratch.set(address, 12);
      v6 = this.scratch;
    } else return false;
    for (let i = 0; i < rules.length; i++) if (matches(rules[i], v6)) return true;
    return false;
  }
}

/** Builds a matcher; throws CidrError naming the first bad entry. An empty list matches nothing. */
export function parseCidrList(list: readonly string[]): CidrMatcher {
  return new ListMatcher(list.map(parseCidr));
}
