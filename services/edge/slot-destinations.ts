import { SlotTable, slotOf } from '../../lib/cluster/slot-table.js';
import type { Member, MembershipProvider, MembershipSnapshot } from '../../lib/cluster/membership/types.js';
import type { SwarmRequest } from '../../lib/transport/messages.js';
import type { BatchCallback, Transport } from '../../lib/transport/transport.js';
import { errorReplies } from '../../lib/transport/replies.js';
import type { Destinations } from './router.js';

/** Answers every request with a failure: used for slots while no swarm is known. */
class NoSwarm implements Transport {
  readonly inFlight = 0;
  send(batch: SwarmRequest[], done: BatchCallback): void {
    queueMicrotask(() => done(errorReplies(batch.length, 'no swarm is available for this torrent; try again later')));
  }
  async close(): Promise<void> {}
}

export interface SwarmConnection extends Transport {
  close(graceMs?: number): Promise<void>;
}

/**
 * Slot -> swarm routing for an edge. Keeps one transport per swarm member
 * (and per draining member, so replies and relayed messages still arrive
 * while it hands its slots over), and rebuilds the 65,536-slot HRW table on
 * every membership change. A lookup is one array index.
 */
export class SlotDestinations implements Destinations {
  private table = SlotTable.build([]);
  private owners: Transport[] = [];
  private readonly connections = new Map<string, { member: Member; transport: SwarmConnection }>();
  private readonly noSwarm = new NoSwarm();
  private epoch = 0;
  private readonly onChange = (snapshot: MembershipSnapshot): void => this.apply(snapshot);

  constructor(
    private readonly membership: MembershipProvider,
    private readonly connect: (member: Member) => SwarmConnection,
    /** How long a removed swarm's transport may finish in-flight requests. */
    private readonly closeGraceMs: number,
  ) {}

  start(): void {
    this.apply(this.membership.snapshot());
    this.membership.on('change', this.onChange);
  }

  transportFor(infoHash: string): Transport {
    const index = this.table.ownerIndex(slotOf(infoHash));
    return index < 0 ? this.noSwarm : this.owners[index];
  }

  /** Per-swarm transports, routable or draining. */
  get swarms(): readonly { name: string; transport: SwarmConnection }[] {
    return [...this.connections.values()].map(({ member, transport }) => ({ name: member.name, transport }));
  }

  get tableInfo(): { epoch: number; members: number } {
    return { epoch: this.epoch, members: this.table.size };
  }

  private apply(snapshot: MembershipSnapshot): void {
    const wanted = new Map<string, Member>();
    for (const m of snapshot.draining) wanted.set(m.name, m);
    for (const m of snapshot.members) wanted.set(m.name, m);
    for (const [name, { member, transport }] of this.connections) {
      const next = wanted.get(name);
      if (!next || next.address !== member.address) {
        this.connections.delete(name);
        void transport.close(this.closeGraceMs);
      }
    }
    for (const [name, member] of wanted) {
      if (!this.connections.has(name)) this.connections.set(name, { member, transport: this.connect(member) });
    }
    const table = SlotTable.build(snapshot.members.map((m) => m.name), ++this.epoch);
    this.owners = table.members.map((name) => this.connections.get(name)!.transport);
    this.table = table;
  }

  async close(): Promise<void> {
    this.membership.off('change', this.onChange);
    await Promise.all([...this.connections.values()].map(({ transport }) => transport.close(this.closeGraceMs)));
    this.connections.clear();
    this.owners = [];
    this.table = SlotTable.build([]);
  }
}
