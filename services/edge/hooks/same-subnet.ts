/**
 * Same-subnet preference (what Facebook configured chihaya's subnet-aware
 * store for): an announce reply lists first the peers in the announcer's
 * IPv4 /prefixV4 or IPv6 /prefixV6, then the others, so clients in one
 * rack, data centre or office fetch from each other first. The hook only
 * asks: the swarm does the sampling, in its packed store, without keeping
 * anything per subnet (services/swarm/store/peer-table.ts sampleNear), and
 * the usual rules still hold (a seeder gets leechers first; one address
 * takes at most store.maxPeersPerAddressPerReply places).
 *
 * WebTorrent replies carry no peer list (offers go to random peers of the
 * swarm, whose addresses a swarm does not keep), so WebTorrent announces
 * are let through unchanged.
 */
import type { AnnounceContext, HookAnnounce, PreHook } from '../pipeline/hook.js';

export class SameSubnet implements PreHook {
  readonly name = 'sameSubnet';

  constructor(
    private readonly prefixV4: number,
    private readonly prefixV6: number,
  ) {}

  announce(announce: HookAnnounce, context: AnnounceContext): undefined {
    if (announce.type === 'announce') context.sameSubnetBits = announce.endpoint.length === 6 ? this.prefixV4 : this.prefixV6;
    return undefined;
  }
}
