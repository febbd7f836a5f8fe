/**
 * A swarm's Ownership: the same table as the edges from the same
 * membership, what it owns as a member / not yet a member / draining, the
 * table it will have once it joins, and its change notifications.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SLOT_COUNT, SlotTable } from '../../../lib/cluster/slot-table.js';
import { StaticMembership } from '../../../lib/cluster/membership/static.js';
import { Ownership } from '../../../services/swarm/ownership.js';
import { m } from '../../support/membership-conformance.js';

const A = m('swarm-a', '127.0.0.1:7001');
const B = m('swarm-b', '127.0.0.1:7002');
const C = m('swarm-c', '127.0.0.1:7003');

async function started(members: ReturnType<typeof m>[], draining: ReturnType<typeof m>[] = []): Promise<StaticMembership> {
  const membership = new StaticMembership(members, draining);
  await membership.start();
  return membership;
}

test('a member owns exactly its slots of the table every process builds from the same members', async () => {
  const membership = await started([A, B, C]);
  const ownership = Ownership.follow(membership, 'swarm-b');
  const table = SlotTable.build(['swarm-c', 'swarm-a', 'swarm-b']);
  assert.equal(ownership.identity, table.identity);
  assert.equal(ownership.isMember, true);
  const mine = table.slotsOf('swarm-b');
  assert.deepEqual(ownership.ownedSlots(), mine);
  assert.equal(ownership.ownedCount, mine.length);
  for (let slot = 0; slot < SLOT_COUNT; slot += 97) {
    assert.equal(ownership.owns(slot), table.ownerOfSlot(slot) === 'swarm-b');
    assert.equal(ownership.ownerOfSlot(slot), table.ownerOfSlot(slot));
  }
  ownership.close();
});

test('not a ready member (starting, or draining): owns nothing, but knows the owners and the table it will join', async () => {
  const membership = await started([A, C], [B]);
  const ownership = Ownership.follow(membership, 'swarm-b');
  assert.equal(ownership.isMember, false);
  assert.equal(ownership.ownedCount, 0);
  assert.deepEqual(ownership.ownedSlots(), []);
  assert.ok(!ownership.owns(0) && !ownership.owns(65535));
  const now = SlotTable.build(['swarm-a', 'swarm-c']);
  assert.equal(ownership.identity, now.identity);
  assert.equal(ownership.ownerOfSlot(123), now.ownerOfSlot(123));
  const joining = ownership.joiningTable();
  assert.equal(joining.identity, SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']).identity);
  assert.ok(joining.slotsOf('swarm-b').length > 0);
  ownership.close();
});

test('an empty membership owns nothing (identity 0), even slot 0', async () => {
  const membership = await started([]);
  const ownership = Ownership.follow(membership, 'swarm-a');
  assert.equal(ownership.identity, 0);
  assert.equal(ownership.owns(0), false, 'ownerIndex -1 of an empty table is not "our index"');
  assert.equal(ownership.ownerOfSlot(0), undefined);
  ownership.close();
});

test('membership changes: onChange(previous, next) once per table change; the owned slots follow; not for draining-only changes', async () => {
  const membership = await started([A, B]);
  const ownership = Ownership.follow(membership, 'swarm-a');
  const seen: Array<[number, number]> = [];
  ownership.onChange((previous, next) => seen.push([previous.identity, next.identity]));
  const before = ownership.ownedCount;
  const id2 = ownership.identity;

  membership.update([A, B, C]);
  const id3 = SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']).identity;
  assert.deepEqual(seen, [[id2, id3]]);
  assert.ok(ownership.ownedCount < before, 'a new member takes some of our slots');
  assert.deepEqual(ownership.ownedSlots(), SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']).slotsOf('swarm-a'));

  membership.update([A, B], [C]); // C drains: its slots come back
  assert.equal(seen.length, 2);
  assert.equal(ownership.identity, id2);
  assert.equal(ownership.ownedCount, before);

  membership.update([A, B], []); // C gone: same members, same table
  assert.equal(seen.length, 2, 'no table change, no event');

  membership.update([B], [A]); // we drain
  assert.equal(seen.length, 3);
  assert.equal(ownership.ownedCount, 0);
  assert.equal(ownership.isMember, false);

  ownership.close();
  membership.update([A, B]);
  assert.equal(seen.length, 3, 'nothing after close');
});

test('Ownership.everything: every slot, for good (all-in-one; a swarm without a member list)', () => {
  const ownership = Ownership.everything('local');
  assert.equal(ownership.follows, false);
  assert.equal(ownership.ownedCount, SLOT_COUNT);
  assert.equal(ownership.ownedSlots().length, SLOT_COUNT);
  assert.ok(ownership.owns(0) && ownership.owns(65535));
  assert.equal(ownership.ownerOfSlot(42), 'local');
  assert.equal(ownership.joiningTable(), ownership.table);
});
