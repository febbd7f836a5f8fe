/**
 * Which slots this swarm owns: the same slot table the edges build, from the
 * same membership provider, over the same ready members (never the draining
 * ones). Edges stamp each message with their table's identity; when it
 * differs from ours, the gRPC server checks each request against `owns`
 * and answers "moved" for the slots that are not ours (slot-owner.ts).
 *
 * A swarm that is not a ready member owns nothing by the table. In
 * Kubernetes that is a swarm starting up (not ready yet: edges route
 * nothing to it either), one that is terminating (its slots have gone to
 * their successors), or one whose membership has not caught up: it answers
 * "moved" and the edges send those requests to the owner it names. Handoff
 * uses `joiningTable()`, the table as it will be once this swarm is a ready
 * member, to pull its future slots before it reports ready.
 *
 * `Ownership.everything(name)`: all-in-one, and a swarm run without a
 * member list: one member, every slot, no checks.
 */
import { SLOT_COUNT, SlotTable } from '../../lib/cluster/slot-table.js';
import type { MembershipProvider, MembershipSnapshot } from '../../lib/cluster/membership/types.js';
import type { SlotOwner } from '../../lib/transport/slot-owner.js';

export type OwnershipListener = (previous: SlotTable, next: SlotTable) => void;

export class Ownership implements SlotOwner {
  private current: SlotTable;
  /** Our index in the current table's members, -1 when we are not a ready member. */
  private self: number;
  private owned: number;
  private snapshotNow: MembershipSnapshot | undefined;
  private readonly listeners = new Set<OwnershipListener>();
  private readonly onMembership = (snapshot: MembershipSnapshot): void => this.apply(snapshot);

  private constructor(
    /** This swarm's member name (node.name). */
    readonly name: string,
    private readonly membership: MembershipProvider | undefined,
  ) {
    this.current = membership ? SlotTable.build([]) : SlotTable.build([name]);
    this.self = membership ? -1 : 0;
    this.owned = membership ? 0 : SLOT_COUNT;
  }

  /** Owns every slot, for good (all-in-one; a swarm without membership). */
  static everything(name: string): Ownership {
    return new Ownership(name, undefined);
  }

  /**
   * Follows `membership` (already started): the table is built now from its
   * current snapshot and again on every change, until `close()`.
   */
  static follow(membership: MembershipProvider, name: string): Ownership {
    const ownership = new Ownership(name, membership);
    ownership.apply(membership.snapshot());
    membership.on('change', ownership.onMembership);
    return ownership;
  }

  /** Whether this swarm checks ownership at all (false: it owns everything by definition). */
  get follows(): boolean {
    return this.membership !== undefined;
  }

  get table(): SlotTable {
    return this.current;
  }

  /** SlotTable.identity of the current table (0: empty). */
  get identity(): number {
    return this.current.identity;
  }

  /** Whether this swarm is a ready member of the current table. */
  get isMember(): boolean {
    return this.self >= 0;
  }

  owns(slot: number): boolean {
    const self = this.self;
    return self >= 0 && this.current.ownerIndex(slot) === self;
  }

  ownerOfSlot(slot: number): string | undefined {
    return this.current.ownerOfSlot(slot);
  }

  /** The slots owned now, ascending. */
  ownedSlots(): number[] {
    if (this.self < 0) return [];
    if (!this.membership) return Array.from({ length: SLOT_COUNT }, (_, s) => s);
    return this.current.slotsOf(this.name);
  }

  /** How many slots are owned now. */
  get ownedCount(): number {
    return this.owned;
  }

  /**
   * The table as it will be once this swarm is a ready member: the ready
   * members now, plus this swarm. What a starting swarm pulls before it
   * reports ready (handoff). The current table when we already are one.
   */
  joiningTable(): SlotTable {
    if (this.self >= 0) return this.current;
    const names = (this.snapshotNow?.members ?? []).map((m) => m.name);
    return SlotTable.build([...names, this.name]);
  }

  /** Runs `listener(previous, next)` after every change of the table. Returns an unsubscribe function. */
  onChange(listener: OwnershipListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops following the membership (the table stays as it is). */
  close(): void {
    this.membership?.off('change', this.onMembership);
  }

  private apply(snapshot: MembershipSnapshot): void {
    this.snapshotNow = snapshot;
    const previous = this.current;
    const next = SlotTable.build(snapshot.members.map((m) => m.name), snapshot.version);
    if (next.identity === previous.identity && previous.size === next.size && previous.members.every((m, i) => m === next.members[i])) return;
    this.current = next;
    this.self = next.indexOf(this.name);
    this.owned = this.self < 0 ? 0 : next.counts()[this.self];
    for (const listener of [...this.listeners]) listener(previous, next);
  }
}
