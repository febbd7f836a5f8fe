/**
 * SlotDestinations, an edge's slot -> swarm routing: it follows live
 * membership changes, keeps channels to draining members until they leave,
 * reconnects a member whose address changes, publishes the table identity,
 * and tells its listeners (the router) after each change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlotTable } from '../../../lib/cluster/slot-table.js';
import { StaticMembership } from '../../../lib/cluster/membership/static.js';
import type { Member } from '../../../lib/cluster/membership/types.js';
import type { SwarmReply, SwarmRequest } from '../../../lib/tracker/swarm.js';
import type { BatchCallback } from '../../../lib/transport/transport.js';
import { SlotDestinations, type SwarmConnection } from '../../../services/edge/slot-destinations.js';
import { m } from '../../support/membership-conformance.js';

class FakeConnection implements SwarmConnection {
  readonly inFlight = 0;
  readonly writable = true;
  closedWith: number | undefined;
  constructor(readonly member: Member) {}
  get name(): string {
    return this.member.name;
  }
  send(batch: SwarmRequest[], done: BatchCallback): void {
    queueMicrotask(() => done(batch.map(() => ({ type: 'error', message: `from ${this.member.name}` }))));
  }
  onWritable(): () => void {
    return () => {};
  }
  async close(graceMs = 0): Promise<void> {
    this.closedWith = graceMs;
  }
}

const A = m('swarm-a', '127.0.0.1:7001');
const B = m('swarm-b', '127.0.0.1:7002');
const C = m('swarm-c', '127.0.0.1:7003');

/** An info-hash whose slot `owner` has in `table`. */
function hashOwnedBy(table: SlotTable, owner: string): string {
  for (let s = 0; ; s++) {
    const h = String.fromCharCode(s >> 8, s & 0xff) + 'x'.repeat(18);
    if (table.ownerOf(h) === owner) return h;
  }
}

async function setUp(members: Member[], draining: Member[] = []) {
  const membership = new StaticMembership(members, draining);
  await membership.start();
  const connections: FakeConnection[] = [];
  const destinations = new SlotDestinations(
    membership,
    (member) => {
      const c = new FakeConnection(member);
      connections.push(c);
      return c;
    },
    1234,
  );
  let changes = 0;
  destinations.onChange(() => changes++);
  destinations.start();
  const live = (name: string): FakeConnection | undefined => connections.find((c) => c.member.name === name && c.closedWith === undefined);
  return { membership, destinations, connections, live, changes: () => changes };
}

test('routes every slot to its owner under the HRW table and publishes the table identity', async () => {
  const { destinations, live, changes } = await setUp([A, B, C]);
  const table = SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']);
  assert.equal(destinations.identity, table.identity);
  assert.deepEqual(destinations.tableInfo, { epoch: 1, members: 3, identity: table.identity });
  for (const name of ['swarm-a', 'swarm-b', 'swarm-c']) assert.equal(destinations.transportFor(hashOwnedBy(table, name)), live(name));
  assert.equal(changes(), 1, 'the initial table counts as a change');
  await destinations.close();
});

test('live membership changes: a new member gets a channel and its slots; a removed one is closed with the grace period', async () => {
  const { membership, destinations, connections, live, changes } = await setUp([A, B]);
  const two = SlotTable.build(['swarm-a', 'swarm-b']);
  const three = SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']);
  const toC = hashOwnedBy(three, 'swarm-c');
  assert.notEqual(destinations.transportFor(toC).name, 'swarm-c', 'no such swarm yet');

  membership.update([A, B, C]);
  assert.equal(changes(), 2);
  assert.equal(destinations.identity, three.identity);
  assert.equal(destinations.transportFor(toC), live('swarm-c'));
  assert.equal(connections.length, 3, 'A and B keep their channels');

  membership.update([A, C]);
  const b = connections.find((c) => c.member.name === 'swarm-b')!;
  assert.equal(b.closedWith, 1234, 'closed, with time to finish what it has in flight');
  assert.equal(destinations.transportNamed('swarm-b'), undefined);
  assert.equal(destinations.identity, SlotTable.build(['swarm-a', 'swarm-c']).identity);
  assert.notEqual(destinations.transportFor(hashOwnedBy(two, 'swarm-b')).name, 'swarm-b', "swarm-b's former slots went elsewhere");
  assert.equal(changes(), 3);
  await destinations.close();
});

test('a draining member keeps its channel (and can be named) but owns no slots, until it leaves', async () => {
  const { membership, destinations, live } = await setUp([A, B, C]);
  const c = live('swarm-c')!;
  membership.update([A, B], [C]);
  assert.equal(c.closedWith, undefined, 'not closed while draining');
  assert.equal(destinations.transportNamed('swarm-c'), c, 'a moved reply may still name it');
  const two = SlotTable.build(['swarm-a', 'swarm-b']);
  assert.equal(destinations.identity, two.identity);
  for (let s = 0; s < 65536; s += 251) {
    const h = String.fromCharCode(s >> 8, s & 0xff) + 'x'.repeat(18);
    assert.notEqual(destinations.transportFor(h), c, `slot ${s} routed to the draining member`);
  }
  assert.equal(destinations.swarms.length, 3);
  membership.update([A, B]);
  assert.equal(c.closedWith, 1234);
  assert.equal(destinations.swarms.length, 2);
  await destinations.close();
});

test('an address change reconnects that member (old channel closed with grace); the table is the same', async () => {
  const { membership, destinations, connections, live, changes } = await setUp([A, B]);
  const identity = destinations.identity;
  const oldA = live('swarm-a')!;
  membership.update([m('swarm-a', '127.0.0.1:7101'), B]);
  assert.equal(oldA.closedWith, 1234);
  const newA = live('swarm-a')!;
  assert.equal(newA.member.address, '127.0.0.1:7101');
  assert.equal(destinations.identity, identity, 'names, not addresses, make the table');
  assert.equal(destinations.transportFor(hashOwnedBy(SlotTable.build(['swarm-a', 'swarm-b']), 'swarm-a')), newA);
  assert.equal(connections.length, 3);
  assert.equal(changes(), 2, 'listeners hear of it: queued requests must leave the closed channel');
  await destinations.close();
});

test('no members: every request gets "no swarm is available" (identity 0); close() closes every channel', async () => {
  const { membership, destinations, connections } = await setUp([A]);
  membership.update([]);
  assert.equal(destinations.identity, 0);
  const reply = await new Promise<SwarmReply[]>((resolve) => destinations.transportFor('x'.repeat(20)).send([{ type: 'scrape', infoHashes: ['x'.repeat(20)] }], resolve));
  assert.deepEqual(reply, [{ type: 'error', message: 'no swarm is available for this torrent; try again later', unavailable: true }]);
  membership.update([A, B]);
  await destinations.close();
  assert.ok(connections.every((c) => c.closedWith !== undefined));
});
