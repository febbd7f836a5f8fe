import { normalizeIp, parseIp } from '../../../lib/net/ip.js';
import type { CidrMatcher } from '../../../lib/runtime/cidr.js';

/**
 * Where an HTTP request really came from. Behind a reverse proxy the socket
 * peer is the proxy, so the configured header (X-Forwarded-For style: a
 * comma-separated list the proxies append to) is believed only when the
 * socket peer is a trusted proxy. The list is read right to left, skipping
 * trusted proxies, so a client cannot forge its address by sending the
 * header itself. A missing or unparsable header means the socket address.
 */
export class ClientAddressResolver {
  constructor(
    private readonly trustedProxies: CidrMatcher,
    /** Lower-case header name; uWebSockets.js looks headers up in lower case. */
    readonly headerName: string,
    private readonly hasTrustedProxies = true,
  ) {}

  resolve(socketAddress: Uint8Array, headerValue: string): Uint8Array {
    const peer = normalizeIp(socketAddress);
    if (!this.hasTrustedProxies || headerValue === '' || !this.trustedProxies.contains(peer)) return peer;
    const hops = headerValue.split(',');
    let leftmost: Uint8Array | null = null;
    for (let i = hops.length - 1; i >= 0; i--) {
      const address = parseHop(hops[i]);
      if (!address) return peer;
      leftmost = address;
      if (!this.trustedProxies.contains(address)) return address;
    }
    return leftmost ?? peer;
  }
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
