import { isUsableUnicast, normalizeIp, parseIp } from '../../../lib/net/ip.js';
import type { CidrMatcher } from '../../../lib/runtime/cidr.js';

/** What the resolver reads of a request: every header line (uWebSockets.js HttpRequest has this shape). */
export interface RequestHeaders {
  /** Calls `cb` once per header line, names in lower case, in the order received. */
  forEach(cb: (name: string, value: string) => void): void;
}

/**
 * Where an HTTP request really came from. Behind a reverse proxy the socket
 * peer is the proxy, so the configured header (X-Forwarded-For style: a
 * comma-separated list the proxies append to) is believed only when the
 * socket peer is a trusted proxy.
 *
 * Every line of the header counts, combined in order into one list as RFC
 * 9110 (5.3) says: a proxy that adds its own line (HAProxy `option
 * forwardfor`) instead of appending to the client's would otherwise leave
 * the client's forged first line as the only one read. The list is read
 * right to left, skipping trusted proxies, so a client cannot forge its
 * address by sending the header itself.
 *
 * A missing header, or one whose first untrusted hop is not a usable
 * unicast address (garbage, 0.0.0.0, ::, broadcast, multicast), means the
 * socket address: nothing unusable is ever stored and handed to peers.
 */
export class ClientAddressResolver {
  constructor(
    private readonly trustedProxies: CidrMatcher,
    /** Lower-case header name; uWebSockets.js reports names in lower case. */
    readonly headerName: string,
    private readonly hasTrustedProxies = true,
  ) {}

  resolve(socketAddress: Uint8Array, headers: RequestHeaders): Uint8Array {
    const peer = normalizeIp(socketAddress);
    if (!this.hasTrustedProxies || !this.trustedProxies.contains(peer)) return peer;
    const value = combinedHeader(headers, this.headerName);
    if (value === '') return peer;
    const hops = value.split(',');
    let leftmost: Uint8Array | null = null;
    for (let i = hops.length - 1; i >= 0; i--) {
      const address = parseHop(hops[i]);
      if (!address || !isUsableUnicast(address)) return peer;
      leftmost = address;
      if (!this.trustedProxies.contains(address)) return address;
    }
    return leftmost ?? peer;
  }
}

/** Every line of header `name`, joined with "," in order (RFC 9110 field-line combination). */
export function combinedHeader(headers: RequestHeaders, name: string): string {
  let value = '';
  let lines = 0;
  headers.forEach((key, line) => {
    if (key !== name) return;
    value = lines++ === 0 ? line : `${value},${line}`;
  });
  return value;
}

/** One hop: "1.2.3.4", "1.2.3.4:5678", "2001:db8::1", "[2001:db8::1]:443". */
function parseHop(text: string): Uint8Array | null {
  let hop = text.trim();
  if (hop.startsWith('[')) {
    const end = hop.indexOf(']');
    if (end === -1) return null;
    hop = hop.slice(1, end);
  } else if (hop.indexOf(':') !== -1 && hop.indexOf(':') === hop.lastIndexOf(':')) {
    hop = hop.slice(0, hop.indexOf(':')); // IPv4 with a port
  }
  return parseIp(hop);
}
