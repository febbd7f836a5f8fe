/**
 * What one client address holds on this edge through WebSockets: open
 * sockets and the peers (torrent + peer_id) they announced. Without these
 * caps one address opened 2,000 sockets holding 512,000 peers.
 *
 * An address is an IPv4 address or an IPv6 /64: one IPv6 subscriber is
 * usually given a whole /64 (or more), so counting single IPv6 addresses
 * would cap nothing. Behind a reverse proxy the address is the client's
 * (http.trustedProxies), not the proxy's.
 *
 * Each socket keeps its address's record, so counting a peer is a field
 * update, not a lookup. A record lives while its address has a socket open:
 * the table never holds more entries than there are open sockets.
 */

/** One address's open sockets and announced peers. */
export interface AddressUsage {
  readonly key: string;
  sockets: number;
  peers: number;
}

/** The table key of an address: 4 bytes for IPv4, the first 8 bytes (the /64) for IPv6. */
export function addressKey(address: Uint8Array): string {
  const n = address.length === 4 ? 4 : 8;
  let key = '';
  for (let i = 0; i < n; i++) key += String.fromCharCode(address[i]);
  return key;
}

export class AddressLimits {
  private readonly byAddress = new Map<string, AddressUsage>();

  constructor(
    readonly maxSockets: number,
    readonly maxPeers: number,
  ) {}

  /** Addresses with at least one open socket. */
  get addresses(): number {
    return this.byAddress.size;
  }

  /** Whether one more socket from `key` is allowed. */
  canOpen(key: string): boolean {
    return (this.byAddress.get(key)?.sockets ?? 0) < this.maxSockets;
  }

  /** Counts an opened socket; keep the returned record on the socket. */
  opened(key: string): AddressUsage {
    let usage = this.byAddress.get(key);
    if (!usage) {
      usage = { key, sockets: 0, peers: 0 };
      this.byAddress.set(key, usage);
    }
    usage.sockets++;
    return usage;
  }

  /** A socket closed, taking `peers` peers with it. */
  closed(usage: AddressUsage, peers: number): void {
    usage.peers -= peers;
    if (--usage.sockets === 0) this.byAddress.delete(usage.key);
  }

  /** Counts one more peer for the address, unless it is at maxPeers. */
  tryAddPeer(usage: AddressUsage): boolean {
    if (usage.peers >= this.maxPeers) return false;
    usage.peers++;
    return true;
  }

  removePeer(usage: AddressUsage): void {
    usage.peers--;
  }
}
