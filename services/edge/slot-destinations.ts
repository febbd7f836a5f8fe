import { SlotTable, slotOf } from '../../lib/cluster/slot-table.js';
import type { Member, MembershipProvider, MembershipSnapshot } from '../../lib/cluster/membership/types.js';
import type { Logger } from '../../lib/runtime/logger.js';
import type { SwarmRequest } from '../../lib/tracker/swarm.js';
import type { BatchCallback, Transport } from '../../lib/transport/transport.js';
import { errorReplies } from '../../lib/transport/replies.js';
import type { Destinations } from './router.js';

const NOTHING = (): void => {};

/** Answers every request with a failure: used for slots while no swarm is known. */
class NoSwarm implements Transport {
  readonly name = 'none';
  readonly inFlight = 0;
  readonly writable = true;
  send(batch: SwarmRequest[], done: BatchCallback): void {
    queueMicrotask(() => done(errorReplies(batch.length, 'no swarm is available for this torrent; try again later')));
  }
  onWritable(): () => void {
    return NOTHING;
  }
  async close(): Promise<void> {}
}

export interface SwarmConnection extends Transport {
  close(graceMs?: number): Promise<void>;
}

/** What an edge's slot table looks like now (for gauges and logs). */
export interface TableInfo {
  /** +1 per membership change seen by this process. */
  epoch: number;
  /** Members that own slots. */
  members: number;
  /** SlotTable.identity: the same on every process with the same members. */
  identity: number;
}

/**
 * Slot -> swarm routing for an edge. Keeps one transport per swarm member
 * (and per draining member, so replies and relayed messages still arrive,
 * and moved requests can be sent there, while it hands its slots over),
 * and rebuilds the 65,536-slot HRW table on every membership change. A
 * lookup is one array index. A member whose address changes gets a new
 * transport; the old one finishes what it has in flight (closeGraceMs).
 * Listeners (the router) hear of every change after the new table is in
 * force; each change is logged once, with the slots each member owns.
 */
export class SlotDestinations implements Destinations {
  private table = SlotTable.build([]);
  private owners: Transport[] = [];
  private readonly connections = new Map<string, { member: Member; transport: SwarmConnection }>();
  private readonly noSwarm = new NoSwarm();
  private readonly listeners = new Set<() => void>();
  private epoch = 0;
  private readonly onMembership = (snapshot: MembershipSnapshot): void => this.apply(snapshot);

  constructor(
    private readonly membership: MembershipProvider,
    private readonly connect: (member: Member) => SwarmConnection,
    /** How long a removed swarm's transport may finish in-flight requests. */
    private readonly closeGraceMs: number,
    private readonly logger?: Logger,
  ) {}

  start(): void {
    this.apply(this.membership.snapshot());
    this.membership.on('change', this.onMembership);
  }

  transportFor(infoHash: string): Transport {
    const index = this.table.ownerIndex(slotOf(infoHash));
    return index < 0 ? this.noSwarm : this.owners[index];
  }

  get identity(): number {
    return this.table.identity;
  }

  /** The table in force. */
  get slotTable(): SlotTable {
    return this.table;
  }

  transportNamed(name: string): Transport | undefined {
    return this.connections.get(name)?.transport;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Per-swarm transports, routable or draining. */
  get swarms(): readonly { name: string; transport: SwarmConnection }[] {
    return [...this.connections.values()].map(({ member, transport }) => ({ name: member.name, transport }));
  }

  get tableInfo(): TableInfo {
    return { epoch: this.epoch, members: this.table.size, identity: this.table.identity };
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
    const previous = this.table;
    const table = SlotTable.build(snapshot.members.map((m) => m.name), ++this.epoch);
    this.owners = table.members.map((name) => this.connections.get(name)!.transport);
    this.table = table;
    if (this.logger) {
      const counts = table.counts();
      this.logger.info('slot table', {
        identity: table.identity,
        previousIdentity: previous.identity,
        epoch: this.epoch,
        slots: Object.fromEntries(table.members.map((name, i) => [name, counts[i]])),
        draining: snapshot.draining.map((m) => m.name),
        moved: table.movedSlots(previous).length,
      });
    }
    for (const listener of [...this.listeners]) listener();
  }

  async close(): Promise<void> {
    this.membership.off('change', this.onMembership);
    await Promise.all([...this.connections.values()].map(({ transport }) => transport.close(this.closeGraceMs)));
    this.connections.clear();
    this.owners = [];
    this.table = SlotTable.build([]);
  }
}
