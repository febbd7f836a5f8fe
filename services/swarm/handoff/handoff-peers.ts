/**
 * Clients to the other swarms for handoff calls, one per member name and
 * address, made on first use and closed when the swarm stops. The trust
 * settings are the cluster's (cluster.tls.*, cluster.authToken), as for
 * edges: TLS verified against the CA and the member's name, the swarm's
 * own certificate presented, a token proof bound to the callee.
 */
import type { ChannelCredentials } from '@grpc/grpc-js';
import type { Member } from '../../../lib/cluster/membership/types.js';
import { HandoffClient } from '../../../lib/transport/grpc/handoff-client.js';
import type { HandoffDialer, HandoffPeer } from './handoff.js';

export interface HandoffPeerTrust {
  credentials?: ChannelCredentials;
  /** The name member `name`'s certificate must carry (undefined: the address's host, or no TLS). */
  serverNameFor(name: string): string | undefined;
  /** '' = none. */
  authToken: string;
}

export class HandoffPeers implements HandoffDialer {
  private readonly clients = new Map<string, HandoffClient>();

  constructor(
    private readonly self: string,
    private readonly bootNonce: string,
    private readonly trust: HandoffPeerTrust,
  ) {}

  peer(member: Member): HandoffPeer {
    const key = `${member.name}@${member.address}`;
    let client = this.clients.get(key);
    if (!client) {
      client = new HandoffClient({
        self: this.self,
        bootNonce: this.bootNonce,
        target: member.name,
        address: member.address,
        credentials: this.trust.credentials,
        tlsServerName: this.trust.serverNameFor(member.name),
        authToken: this.trust.authToken,
      });
      this.clients.set(key, client);
    }
    return client;
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
