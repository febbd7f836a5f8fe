/**
 * Who hands which slots to whom: pure functions of slot tables, for the
 * handoff coordinator (handoff.ts). I/O-free.
 */
import { SLOT_COUNT, SlotTable } from '../../../lib/cluster/slot-table.js';

/**
 * What a joining swarm `self` pulls, by source: every slot it owns under
 * `joining` (the table with it in it), from that slot's owner among the
 * other ready members (`others`: the table without it). When `self` is
 * already listed (it restarts in place) the holders are still the others:
 * the swarm that left pushed its slots to them.
 */
export function pullPlan(self: string, joining: SlotTable, others: readonly string[]): Map<string, number[]> {
  const plan = new Map<string, number[]>();
  const names = others.filter((n) => n !== self);
  if (names.length === 0) return plan;
  const me = joining.indexOf(self);
  if (me < 0) return plan;
  const sources = SlotTable.build(names);
  for (let slot = 0; slot < SLOT_COUNT; slot++) {
    if (joining.ownerIndex(slot) !== me) continue;
    const source = sources.ownerOfSlot(slot)!;
    let slots = plan.get(source);
    if (!slots) plan.set(source, (slots = []));
    slots.push(slot);
  }
  return plan;
}

/**
 * `slots` grouped by their owner under `table`, leaving out those `self`
 * owns there (nobody else to give them to).
 */
export function groupByOwner(slots: Iterable<number>, table: SlotTable, self: string): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (const slot of slots) {
    const owner = table.ownerOfSlot(slot);
    if (owner === undefined || owner === self) continue;
    let group = groups.get(owner);
    if (!group) groups.set(owner, (group = []));
    group.push(slot);
  }
  return groups;
}
