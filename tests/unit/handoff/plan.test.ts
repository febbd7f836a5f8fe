/**
 * The pure parts of handoff: who pulls what from whom when a swarm joins
 * (or restarts in place), how slots group by their next owner, and the
 * pull records that let an old owner leave out what did not change since
 * the new owner's pull.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SLOT_COUNT, SlotTable } from '../../../lib/cluster/slot-table.js';
import { groupByOwner, pullPlan } from '../../../services/swarm/handoff/handoff-plan.js';
import { PullRecords } from '../../../services/swarm/handoff/pull-records.js';
import { SlotChanges } from '../../../services/swarm/store/slot-changes.js';

test('a joining swarm pulls each slot it will own from that slot\'s owner under the table without it', () => {
  const joining = SlotTable.build(['a', 'b', 'c', 'd']);
  const now = SlotTable.build(['a', 'b', 'c']);
  const plan = pullPlan('d', joining, ['a', 'b', 'c']);
  const pulled = [...plan.values()].flat().sort((x, y) => x - y);
  assert.deepEqual(pulled, joining.slotsOf('d'), 'every slot it will own, once');
  for (const [source, slots] of plan) for (const slot of slots) assert.equal(now.ownerOfSlot(slot), source);
  assert.deepEqual([...plan.keys()].sort(), ['a', 'b', 'c'], 'from every current member (HRW takes ~1/4 from each)');
});

test('a swarm restarting in place (still listed) pulls from where its slots went: the table without it', () => {
  const table = SlotTable.build(['a', 'b', 'c']);
  const plan = pullPlan('b', table, ['a', 'b', 'c']);
  const without = SlotTable.build(['a', 'c']);
  assert.deepEqual([...plan.values()].flat().sort((x, y) => x - y), table.slotsOf('b'));
  for (const [source, slots] of plan) {
    assert.notEqual(source, 'b');
    for (const slot of slots) assert.equal(without.ownerOfSlot(slot), source);
  }
});

test('nothing to pull for the first swarm of a cluster', () => {
  assert.equal(pullPlan('a', SlotTable.build(['a']), []).size, 0);
  assert.equal(pullPlan('a', SlotTable.build(['a']), ['a']).size, 0);
});

test('slots grouped by their owner, leaving out the ones the caller owns', () => {
  const table = SlotTable.build(['a', 'b', 'c']);
  const slots = Array.from({ length: 1000 }, (_, i) => (i * 65) % SLOT_COUNT);
  const groups = groupByOwner(slots, table, 'a');
  assert.ok(!groups.has('a'));
  const grouped = [...groups.values()].flat().sort((x, y) => x - y);
  assert.deepEqual(grouped, slots.filter((s) => table.ownerOfSlot(s) !== 'a').sort((x, y) => x - y));
  for (const [owner, group] of groups) for (const s of group) assert.equal(table.ownerOfSlot(s), owner);
  assert.equal(groupByOwner(slots, SlotTable.build([]), 'a').size, 0, 'no members: nobody to give them to');
});

test('a push after a pull leaves out the slots sent whole and unchanged since the pull began; changes before it do not count', () => {
  const changes = new SlotChanges();
  changes.mark(7); // before the pull
  const records = new PullRecords(changes);
  const record = records.begin('d', 'pull-1');
  for (const slot of [1, 2, 3, 7]) record.covered[slot] = 1;
  assert.equal(records.plan('d', [1, 2, 3]), undefined, 'no plan until the pull is complete');
  record.complete = true;
  changes.mark(2); // during or after the pull
  const plan = records.plan('d', [1, 2, 3, 4, 7])!;
  assert.equal(plan.pullId, 'pull-1');
  assert.deepEqual(plan.send, [2, 4], 'changed since, or never sent');
  assert.deepEqual(plan.skipped, [1, 3, 7]);
  changes.mark(3);
  assert.deepEqual(records.plan('d', [1, 3])!.send, [3], 'later changes are seen by later plans');
  assert.equal(records.plan('e', [1]), undefined, 'another swarm pulled nothing');
  records.forget('d');
  assert.equal(records.plan('d', [1]), undefined);
});

test('a new pull replaces the caller\'s record; old records are forgotten', () => {
  let now = 0;
  const records = new PullRecords(new SlotChanges(), 1000, () => now);
  const first = records.begin('d', 'one');
  first.complete = true;
  const second = records.begin('d', 'two');
  second.complete = true;
  assert.equal(records.plan('d', [1])!.pullId, 'two');
  assert.equal(records.size, 1);
  now = 1001;
  assert.equal(records.plan('d', [1]), undefined);
  assert.equal(records.size, 0);
});
