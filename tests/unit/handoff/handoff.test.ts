/**
 * Slot handoff between swarms (services/swarm/handoff/), with real Swarm
 * stores talking over real gRPC on 127.0.0.1 (tests/support/handoff-lab.ts),
 * membership changes made by the test:
 *
 * - a joining swarm pulls exactly the slots it will own; after the table
 *   change the old owners push only the slots changed since, then drop them;
 *   announces that reached the new owner first are kept (the push merges);
 * - a draining swarm hands everything to the owners under the table
 *   without it; a swarm stopped in place hands everything too, and gets it
 *   back by pulling when it comes back (a rolling restart without Redis);
 * - a successor that is leaving too is passed over, an unreachable one after
 *   bounded tries; with nobody left the peers not handed off are counted and
 *   left to the final snapshot; one that never answers holds a stopping swarm
 *   only until the deadline, which is counted as a limit hit; a joining
 *   swarm whose holder never answers is ready at the deadline with the rest;
 * - a push of what changed since a pull is refused by a swarm that restarted
 *   since, and everything is pushed instead;
 * - only a swarm that proves the cluster token may pull or push;
 * - chunks are imported whole or not at all: a push cut off midway leaves
 *   whole slots, a chunk of another format version is refused alone;
 * - with a deadline of 0 nothing is handed off.
 *
 * Every wait is bounded and polls for what must happen.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { SlotTable, slotOf } from '../../../lib/cluster/slot-table.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { HandoffClient } from '../../../lib/transport/grpc/handoff-client.js';
import { signEdgeProof, EdgeProofVerifier, SWARM_PROOF_LABEL } from '../../../lib/transport/grpc/edge-token.js';
import { CHUNK_VERSION } from '../../../services/swarm/store/slot-codec.js';
import { HandoffLab, type LabNode } from '../../support/handoff-lab.js';
import { dump, exportAll, hashInSlot, lines, mergeDumps, peerIdOf, type Dump } from '../../support/swarm-slots.js';
import { req } from '../../support/swarm-store.js';
import { mulberry32, SEED } from '../../support/seeded-random.js';
import { eventually } from '../../support/waiting.js';

const labs: HandoffLab[] = [];
after(async () => {
  for (const lab of labs.splice(0)) await lab.close();
});

function newLab(): HandoffLab {
  const lab = new HandoffLab();
  labs.push(lab);
  return lab;
}

/** `n` info-hashes in distinct random slots. */
function hashes(n: number, r: () => number): string[] {
  const slots = new Set<number>();
  while (slots.size < n) slots.add(Math.floor(r() * 65536));
  return [...slots].map((slot, i) => hashInSlot(slot, i));
}

/**
 * Announces from a seeded PRNG, each to the owner of its torrent under
 * `table`: IPv4 and IPv6 peers, seeders with completed events, WebTorrent
 * peers; the shared clock moves a second every ten announces.
 */
function fill(lab: HandoffLab, table: SlotTable, torrents: readonly string[], ops: number, r: () => number): void {
  for (let i = 0; i < ops; i++) {
    if (i % 10 === 0) lab.clock.t += 1;
    const hash = torrents[Math.floor(r() * torrents.length)];
    const swarm = lab.node(table.ownerOf(hash)!).t.swarm;
    const a = Math.floor(r() * 200);
    const kind = Math.floor(r() * 4);
    const left = r() < 0.4 ? 0 : 100;
    const event = left === 0 && r() < 0.5 ? AnnounceEvent.Completed : AnnounceEvent.None;
    if (kind === 0) {
      swarm.handle([req(hash, Uint8Array.of(10, 1, a >> 8, a & 0xff, 0x1a, 0xe1 + (i % 3)), { left, event })]);
    } else if (kind === 1) {
      const v6 = new Uint8Array(18);
      v6.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, a]);
      v6[15] = 1;
      v6[16] = 0x1a;
      v6[17] = 0xe1;
      swarm.handle([req(hash, v6, { left, event })]);
    } else if (kind === 2) {
      swarm.handle([req(hash, Uint8Array.of(10, 2, 0, a, 0x1b, 0x58), { left, event })]);
    } else {
      const n = Math.floor(r() * 50);
      swarm.handle([{ type: 'wt-announce', infoHash: hash, peerId: peerIdOf(n), from: { edge: n % 2 === 0 ? 'edge-0' : 'edge-1', socket: 100 + n }, event, seeder: left === 0, offers: [] }]);
    }
  }
}

/** Everything `nodes` hold for `torrents`, as one dump (they hold disjoint slots or the same peers). */
function union(nodes: readonly LabNode[], torrents: readonly string[]): Dump {
  return nodes.map((n) => dump(n.t.swarm, torrents)).reduce(mergeDumps);
}

function slotsHeld(node: LabNode, torrents: readonly string[]): number[] {
  return [...new Set(torrents.map(slotOf))].filter((s) => node.t.swarm.slots.slotPeerCount(s) > 0).sort((a, b) => a - b);
}

/** Waits (bounded) until `nodes` run no handoff and hold nothing that belongs elsewhere. */
async function settled(nodes: readonly LabNode[], what: string): Promise<void> {
  await eventually(() => nodes.every((n) => n.stats.inProgress === 0 && n.handoff.pendingSlots === 0), 20_000, what, 20);
}

const where = `PROTOCOL_TEST_SEED=${SEED}`;

/**
 * `node` frozen, as a SIGSTOPped process looks to callers: it stops serving,
 * and its address now takes connections and never speaks. Returns the
 * connections taken.
 */
async function freeze(lab: HandoffLab, node: LabNode, t: { after(fn: () => void): void }): Promise<Socket[]> {
  const taken: Socket[] = [];
  const hole = createServer((socket) => void taken.push(socket));
  await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of taken) socket.destroy();
    hole.close();
  });
  node.crash();
  node.address = `127.0.0.1:${(hole.address() as AddressInfo).port}`;
  const { members, draining } = node.membership.snapshot();
  lab.setMembers(members.map((m) => m.name), draining.map((m) => m.name));
  return taken;
}


describe('handoff between swarms', () => {
  test('a joining swarm pulls exactly the slots it will own; after the table change the old owners push only what changed since, then drop them', async () => {
    const lab = newLab();
    const r = mulberry32(SEED ^ 0x1001);
    const [a, b] = await lab.nodes(['swarm-a', 'swarm-b']);
    const torrents = hashes(300, r);
    fill(lab, SlotTable.build(['swarm-a', 'swarm-b']), torrents, 3000, r);
    const before = union([a, b], torrents);
    assert.ok(before.peers.size > 500, `${before.peers.size} peers`);

    const [c] = await lab.nodes(['swarm-c'], {}, ['swarm-a', 'swarm-b']);
    assert.equal(c.ownership.isMember, false);
    await c.handoff.join();
    const next = SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']);
    const moving = torrents.filter((h) => next.ownerOf(h) === 'swarm-c');
    const staying = torrents.filter((h) => next.ownerOf(h) !== 'swarm-c');
    assert.ok(moving.length > 50, `${moving.length} torrents move`);
    assert.deepEqual(lines(dump(c.t.swarm, moving)), lines(union([a, b], moving)), `the pull brought every peer of the slots it will own (${where})`);
    assert.deepEqual(lines(dump(c.t.swarm, staying)), [], 'and nothing else');
    assert.equal(c.stats.peersPulled, before.peers.size - union([a, b], staying).peers.size);
    assert.equal(c.deadlineHits.value, 0, 'a pull that completes hits no limit');

    // One torrent that moves gets a new peer on its old owner between the pull and the switch.
    const changed = moving[0];
    lab.clock.t += 1;
    lab.node(SlotTable.build(['swarm-a', 'swarm-b']).ownerOf(changed)!).t.swarm.handle([req(changed, Uint8Array.of(10, 9, 9, 9, 0x1a, 0xe1), { left: 0 })]);
    const expected = union([a, b], torrents);

    lab.setMembers(['swarm-a', 'swarm-b', 'swarm-c']);
    await settled([a, b, c], 'the old owners to hand over');
    assert.deepEqual(lines(union([a, b, c], torrents)), lines(expected), 'nothing lost, nothing counted twice');
    assert.deepEqual(lines(dump(c.t.swarm, moving)), lines(expectedOf(expected, moving)), 'the new owner holds every peer of its slots');
    for (const old of [a, b]) assert.deepEqual(slotsHeld(old, moving), [], `${old.name} dropped the slots it handed off`);
    assert.deepEqual(lines(union([a, b], staying)), lines(expectedOf(expected, staying)), 'the old owners keep their own slots');
    const pushed = a.stats.slotsPushed + b.stats.slotsPushed;
    const unchanged = a.stats.slotsUnchanged + b.stats.slotsUnchanged;
    assert.equal(pushed, 1, 'only the slot changed since the pull was pushed');
    assert.equal(unchanged, slotsHeld(c, moving).length - 1, 'every other slot was left out: the new owner had it');
    assert.deepEqual([...a.released, ...b.released].sort((x, y) => x - y), slotsHeld(c, moving), 'the old owners no longer snapshot them');
    assert.deepEqual([a, b, c].flatMap((n) => n.failures), []);
  });

  test('announces that reach the new owner before the old owner\'s push are kept: the push merges under them (latest announce wins)', async () => {
    const lab = newLab();
    const r = mulberry32(SEED ^ 0x1009);
    const [a, b] = await lab.nodes(['swarm-a', 'swarm-b']);
    const torrents = hashes(200, r);
    const before = SlotTable.build(['swarm-a', 'swarm-b']);
    fill(lab, before, torrents, 1500, r);
    const [c] = await lab.nodes(['swarm-c'], {}, ['swarm-a', 'swarm-b']);
    await c.handoff.join();
    const next = SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']);
    const hash = torrents.find((h) => next.ownerOf(h) === 'swarm-c')!;
    const old = lab.node(before.ownerOf(hash)!);

    // After the pull, the old owner still serves the torrent: peer P arrives as a leecher, so the slot is pushed.
    const p = Uint8Array.of(10, 7, 7, 7, 0x1a, 0xe1);
    lab.clock.t += 1;
    old.t.swarm.handle([req(hash, p, { left: 100 })]);
    // Edges on the new table reach swarm-c before the old owner has pushed: P completes there, Y and a WebTorrent peer are new.
    const y = Uint8Array.of(10, 8, 8, 8, 0x1a, 0xe1);
    lab.clock.t += 1;
    c.t.swarm.handle([req(hash, p, { left: 0, event: AnnounceEvent.Completed }), req(hash, y, { left: 100 })]);
    c.t.swarm.handle([{ type: 'wt-announce', infoHash: hash, peerId: peerIdOf(77), from: { edge: 'edge-1', socket: 977 }, event: AnnounceEvent.None, seeder: false, offers: [] }]);
    const expected = mergeDumps(dump(old.t.swarm, [hash]), dump(c.t.swarm, [hash]));

    lab.setMembers(['swarm-a', 'swarm-b', 'swarm-c']);
    await settled([a, b, c], 'the old owners to hand over');
    assert.ok(old.stats.slotsPushed >= 1, 'the old owner pushed the changed slot');
    const held = dump(c.t.swarm, [hash]);
    assert.deepEqual(lines(held), lines(expected), 'the new owner holds both sides, merged by the snapshot rules');
    const hex = (s: string | Uint8Array): string => Buffer.from(typeof s === 'string' ? Buffer.from(s, 'latin1') : s).toString('hex');
    assert.equal(held.peers.get(`${hex(hash)} v4 ${hex(y)}`)?.seeder, false, 'Y, announced to the new owner only, is kept');
    assert.deepEqual(held.peers.get(`${hex(hash)} v4 ${hex(p)}`), { lastSeen: lab.clock.t, seeder: true, completed: true }, 'P keeps its later announce (a seeder), not the pushed older one');
    assert.equal(held.peers.get(`${hex(hash)} wt ${hex(peerIdOf(77))}`)?.socket, 977, 'the WebTorrent peer announced to the new owner is kept, with its socket');
    assert.deepEqual(slotsHeld(old, [hash]), [], 'the old owner dropped the slot');
  });

  test('a swarm marked draining hands every slot to its owner under the table without it, then holds nothing', async () => {
    const lab = newLab();
    const r = mulberry32(SEED ^ 0x1002);
    const [a, b, c] = await lab.nodes(['swarm-a', 'swarm-b', 'swarm-c']);
    const torrents = hashes(300, r);
    fill(lab, SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']), torrents, 3000, r);
    const expected = union([a, b, c], torrents);
    const held = slotsHeld(c, torrents);

    lab.setMembers(['swarm-a', 'swarm-b'], ['swarm-c']);
    await settled([a, b, c], 'the draining swarm to hand over');
    assert.deepEqual(slotsHeld(c, torrents), [], 'it holds nothing any more');
    assert.deepEqual(lines(union([a, b], torrents)), lines(expected), 'its successors hold every peer');
    assert.equal(c.stats.slotsPushed, held.length);
    const table = SlotTable.build(['swarm-a', 'swarm-b']);
    for (const n of [a, b]) {
      const theirs = torrents.filter((h) => table.ownerOf(h) === n.name);
      assert.deepEqual(lines(dump(n.t.swarm, theirs)), lines(expectedOf(expected, theirs)), `${n.name} holds its slots whole`);
    }
    assert.equal(c.stats.complete.rebalance, 1);
  });

  test('a swarm stopped in place hands everything over, and pulls it back when it comes back (a rolling restart without Redis)', async () => {
    const lab = newLab();
    const r = mulberry32(SEED ^ 0x1003);
    const [a, b, c] = await lab.nodes(['swarm-a', 'swarm-b', 'swarm-c']);
    const torrents = hashes(300, r);
    const table = SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']);
    fill(lab, table, torrents, 3000, r);
    const expected = union([a, b, c], torrents);
    const mine = torrents.filter((h) => table.ownerOf(h) === 'swarm-b');

    // Stopped while still listed (its table never changed): everything goes to the table without it.
    await b.handoff.stop();
    assert.equal(b.stats.complete.stop, 1);
    assert.equal(b.stats.unsentPeers, 0);
    assert.deepEqual(lines(union([a, c], torrents)), lines(expected), 'the others hold every peer');
    for (const slot of new Set(mine.map(slotOf))) assert.equal(b.handoff.snapshotOwns(slot), false, 'handed off: its snapshot is no longer written by the stopping swarm');

    // Back as a new process: it pulls its slots from where they went.
    const b2 = await lab.restart('swarm-b');
    await b2.handoff.join();
    assert.deepEqual(lines(dump(b2.t.swarm, mine)), lines(expectedOf(expected, mine)), 'the restarted swarm has every peer of its slots again');
    // The others hand on, and drop, what they held for it.
    await settled([a, b2, c], 'the others to settle');
    assert.deepEqual(lines(union([a, b2, c], torrents)), lines(expected));
    for (const n of [a, c]) assert.deepEqual(slotsHeld(n, mine), [], `${n.name} no longer holds swarm-b's slots`);
  });

  test('a successor that is leaving too is passed over: the slots go to the next owner', async () => {
    const lab = newLab();
    const r = mulberry32(SEED ^ 0x1004);
    const [a, b, c] = await lab.nodes(['swarm-a', 'swarm-b', 'swarm-c']);
    const torrents = hashes(200, r);
    const table = SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']);
    fill(lab, table, torrents.filter((h) => table.ownerOf(h) === 'swarm-a'), 1000, r);
    const expected = union([a, b, c], torrents);
    // b alone has seen that it is draining; a still takes it for a member.
    lab.setMembers(['swarm-a', 'swarm-c'], ['swarm-b'], [b]);
    await a.handoff.stop();
    assert.ok(a.stats.failures.leaving >= 1, 'swarm-b refused: it is leaving');
    assert.ok(b.stats.rejected.leaving >= 1);
    assert.deepEqual(lines(dump(c.t.swarm, torrents)), lines(expected), 'swarm-c took every slot');
    assert.equal(a.stats.unsentPeers, 0);
  });

  test('an unreachable successor is tried a bounded number of times, then passed over; with nobody left, the peers not handed off are counted and left to the snapshot', async () => {
    const lab = newLab();
    const r = mulberry32(SEED ^ 0x1005);
    const [a, b, c] = await lab.nodes(['swarm-a', 'swarm-b', 'swarm-c']);
    const torrents = hashes(200, r);
    const table = SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']);
    fill(lab, table, torrents.filter((h) => table.ownerOf(h) === 'swarm-a'), 1000, r);
    const expected = union([a, b, c], torrents);
    c.crash();
    await a.handoff.stop();
    assert.equal(a.stats.failures.unreachable, 3, 'three tries of swarm-c');
    assert.deepEqual(lines(dump(b.t.swarm, torrents)), lines(expected), 'then swarm-b took every slot');

    const lab2 = newLab();
    const [x, y] = await lab2.nodes(['swarm-x', 'swarm-y']);
    const alone = hashes(50, r);
    fill(lab2, SlotTable.build(['swarm-x']), alone, 300, r);
    const held = alone.reduce((n, h) => n + x.t.swarm.peers.peersOf(h, 4).length + x.t.swarm.peers.peersOf(h, 6).length + x.t.swarm.webtorrent.peersOf(h).length, 0);
    assert.ok(held > 0);
    y.crash();
    await x.handoff.stop();
    assert.equal(x.stats.failures['no-successor'], 1);
    assert.equal(x.stats.unsentPeers, held, 'every peer not handed off is counted');
    assert.equal(x.stats.incomplete.stop, 1);
    for (const slot of new Set(alone.map(slotOf))) assert.equal(x.handoff.snapshotOwns(slot), true, 'the final snapshot writes what could not be handed off');
  });

  test('a successor that takes the connection and never answers holds a stopping swarm only until cluster.handoffDeadlineSeconds: the cut is a limit hit, and every peer not handed off is counted', async (t) => {
    const options = { handoff: { deadlineMs: 1500, attempts: 1000 } };
    /** swarm-x holds peers of its own slots only, and stops in place. */
    const setup = async (lab: HandoffLab, seed: number): Promise<{ x: LabNode; y: LabNode; torrents: string[]; held: number }> => {
      const r = mulberry32(SEED ^ seed);
      const [x, y] = await lab.nodes(['swarm-x', 'swarm-y'], options);
      const table = SlotTable.build(['swarm-x', 'swarm-y']);
      const torrents = hashes(100, r).filter((h) => table.ownerOf(h) === 'swarm-x');
      fill(lab, table, torrents, 400, r);
      const held = torrents.reduce((n, h) => n + x.t.swarm.peers.peersOf(h, 4).length + x.t.swarm.peers.peersOf(h, 6).length + x.t.swarm.webtorrent.peersOf(h).length, 0);
      assert.ok(held > 0);
      return { x, y, torrents, held };
    };

    // Control: with swarm-y answering, the same stop hands everything over and hits no limit.
    const control = await setup(newLab(), 0x100a);
    await control.x.handoff.stop();
    assert.equal(control.x.stats.unsentPeers, 0);
    assert.equal(control.x.deadlineHits.value, 0);
    assert.equal(control.y.t.swarm.slots.slotPeerCount(slotOf(control.torrents[0])) > 0, true, 'swarm-y took the slots');

    const lab = newLab();
    const { x, y, torrents, held: peers } = await setup(lab, 0x100a);
    const taken = await freeze(lab, y, t);
    const started = Date.now();
    await x.handoff.stop();
    const took = Date.now() - started;
    assert.ok(took < 1500 + 15_000, `stop returned ${took} ms after it began (deadline 1500 ms)`);
    assert.ok(taken.length > 0, 'swarm-x did call the frozen swarm');
    assert.equal(x.deadlineHits.value, 1, 'counted once as tracker_limit_hits_total{limit="cluster.handoffDeadlineSeconds"}');
    assert.equal(x.stats.failures.deadline, 1);
    assert.equal(x.stats.incomplete.stop, 1);
    assert.equal(x.stats.unsentPeers, peers, 'every peer not handed off is counted');
    for (const slot of new Set(torrents.map(slotOf))) assert.equal(x.handoff.snapshotOwns(slot), true, 'the final snapshot writes what could not be handed off');
  });

  test('a joining swarm whose holder never answers is ready at cluster.handoffDeadlineSeconds with what the others gave: the cut is a limit hit', async (t) => {
    const lab = newLab();
    const r = mulberry32(SEED ^ 0x100b);
    const options = { handoff: { deadlineMs: 1500, attempts: 1000 } };
    const [a, b] = await lab.nodes(['swarm-a', 'swarm-b'], options);
    const torrents = hashes(200, r);
    const before = SlotTable.build(['swarm-a', 'swarm-b']);
    fill(lab, before, torrents, 1500, r);
    const next = SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']);
    const fromA = torrents.filter((h) => next.ownerOf(h) === 'swarm-c' && before.ownerOf(h) === 'swarm-a');
    const fromB = torrents.filter((h) => next.ownerOf(h) === 'swarm-c' && before.ownerOf(h) === 'swarm-b');
    assert.ok(fromA.length > 5 && fromB.length > 5, `${fromA.length} and ${fromB.length} torrents move`);
    const expectedFromA = dump(a.t.swarm, fromA);
    const taken = await freeze(lab, b, t);

    const [c] = await lab.nodes(['swarm-c'], options, ['swarm-a', 'swarm-b']);
    const started = Date.now();
    await c.handoff.join();
    const took = Date.now() - started;
    assert.ok(took < 1500 + 15_000, `join returned ${took} ms after it began (deadline 1500 ms)`);
    assert.ok(taken.length > 0, 'swarm-c did call the frozen swarm');
    assert.deepEqual(lines(dump(c.t.swarm, fromA)), lines(expectedFromA), 'what swarm-a held for it was pulled');
    assert.deepEqual(lines(dump(c.t.swarm, fromB)), [], 'nothing came from the frozen swarm');
    assert.equal(c.deadlineHits.value, 1, 'counted once as tracker_limit_hits_total{limit="cluster.handoffDeadlineSeconds"}');
    assert.equal(c.stats.incomplete.join, 1);
    assert.equal(a.deadlineHits.value, 0);
  });

  test('a push of what changed since a pull is refused by a swarm that restarted since; everything is pushed instead', async () => {
    const lab = newLab();
    const r = mulberry32(SEED ^ 0x1006);
    const [a, b] = await lab.nodes(['swarm-a', 'swarm-b']);
    const torrents = hashes(200, r);
    fill(lab, SlotTable.build(['swarm-a', 'swarm-b']), torrents, 1500, r);
    const expected = union([a, b], torrents);
    const [c] = await lab.nodes(['swarm-c'], {}, ['swarm-a', 'swarm-b']);
    await c.handoff.join();
    assert.ok(c.stats.peersPulled > 0);
    // It comes back empty, and joins without pulling (as if its pull had failed).
    const c2 = await lab.restart('swarm-c');
    lab.setMembers(['swarm-a', 'swarm-b', 'swarm-c']);
    await settled([a, b, c2], 'the old owners to hand over');
    assert.ok(c2.stats.rejected['unknown-pull'] >= 1, 'the restarted swarm refused the delta');
    assert.equal(a.stats.slotsUnchanged + b.stats.slotsUnchanged, 0);
    const moving = torrents.filter((h) => SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']).ownerOf(h) === 'swarm-c');
    assert.deepEqual(lines(dump(c2.t.swarm, moving)), lines(expectedOf(expected, moving)), 'it got every slot whole');
  });

  test('only a swarm that proves the cluster token may pull or push; an edge stream proof does not pass for a swarm', async () => {
    const token = 't'.repeat(40);
    const lab = newLab();
    const r = mulberry32(SEED ^ 0x1007);
    const [a, b] = await lab.nodes(['swarm-a', 'swarm-b'], { token });
    const torrents = hashes(100, r);
    fill(lab, SlotTable.build(['swarm-a', 'swarm-b']), torrents, 800, r);
    const expected = union([a, b], torrents);

    const [rogue] = await lab.nodes(['swarm-r'], { token: 'w'.repeat(40) }, ['swarm-a', 'swarm-b']);
    await rogue.handoff.join();
    assert.deepEqual(lines(dump(rogue.t.swarm, torrents)), [], 'a swarm without the token pulls nothing');
    assert.ok(a.stats.rejected.unauthenticated + b.stats.rejected.unauthenticated >= 2);
    assert.ok(rogue.stats.failures.refused >= 2);
    // Nor can it push: its peers are refused and counted as not handed off.
    const fake = hashes(5, r);
    fill(lab, SlotTable.build(['swarm-r']), fake, 50, r);
    await rogue.handoff.stop();
    assert.ok(rogue.stats.unsentPeers > 0);
    assert.deepEqual(lines(union([a, b], fake)), [], 'nothing it pushed was taken');

    // Positive control: the same join with the token brings the slots.
    const [c] = await lab.nodes(['swarm-c'], { token }, ['swarm-a', 'swarm-b']);
    await c.handoff.join();
    const moving = torrents.filter((h) => SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']).ownerOf(h) === 'swarm-c');
    assert.deepEqual(lines(dump(c.t.swarm, moving)), lines(expectedOf(expected, moving)));

    // Proofs are bound to what they are for.
    const claim = { swarm: 'swarm-a', edgeId: 'swarm-c', bootNonce: 'n' };
    const swarmVerifier = new EdgeProofVerifier(token, 'swarm-a', { label: SWARM_PROOF_LABEL });
    const edgeVerifier = new EdgeProofVerifier(token, 'swarm-a');
    assert.equal(swarmVerifier.verify(signEdgeProof(token, claim), 'swarm-c', 'n').ok, false, 'an edge proof is no swarm proof');
    assert.equal(edgeVerifier.verify(signEdgeProof(token, claim, Date.now(), SWARM_PROOF_LABEL), 'swarm-c', 'n').ok, false, 'a swarm proof is no edge proof');
    assert.equal(swarmVerifier.verify(signEdgeProof(token, claim, Date.now(), SWARM_PROOF_LABEL), 'swarm-c', 'n').ok, true);
  });

  test('chunks are imported whole or not at all: a push cut off midway leaves whole slots; a chunk of another format version is refused alone', async () => {
    const lab = newLab();
    const r = mulberry32(SEED ^ 0x1008);
    const [a, b] = await lab.nodes(['swarm-a', 'swarm-b']);
    const torrents = hashes(3, r);
    fill(lab, SlotTable.build(['swarm-a']), torrents, 600, r);
    const [x, y, z] = torrents.map((h) => exportAll(a.t.swarm, [slotOf(h)]));
    assert.ok(x.length > 0 && y.length > 0 && z.length > 0);
    const client = new HandoffClient({ self: 'swarm-a', bootNonce: 'n', target: 'swarm-b', address: b.address });
    try {
      // The sender fails after its first message: the callee keeps that message's slot, whole.
      const broken = async function* () {
        yield { chunks: x };
        await eventually(() => b.stats.slotsReceived === 1, 10_000, 'the first message imported');
        throw new Error('the sender crashed');
      };
      await assert.rejects(client.push(broken(), Date.now() + 10_000), /the sender crashed/);
      assert.deepEqual(lines(dump(b.t.swarm, torrents)), lines(dump(a.t.swarm, [torrents[0]])), 'exactly the first slot, as the sender had it');

      // Another version's chunk is refused alone; the others are imported.
      const other = Uint8Array.from(y[0]);
      other[4] = CHUNK_VERSION + 1;
      const refusedBefore = b.t.swarm.slots.stats.refusedVersion;
      const reply = await client.push((async function* () {
        yield { chunks: [other, ...z] };
      })(), Date.now() + 10_000);
      assert.deepEqual(reply, { chunks: z.length, peers: reply.peers, refusedChunks: 1 });
      assert.equal(b.t.swarm.slots.stats.refusedVersion, refusedBefore + 1);
      assert.deepEqual(lines(dump(b.t.swarm, torrents)), lines(dump(a.t.swarm, [torrents[0], torrents[2]])), 'the refused slot left nothing behind');
    } finally {
      client.close();
    }
  });

  test('with a deadline of 0 nothing is pulled or pushed', async () => {
    const lab = newLab();
    const r = mulberry32(SEED ^ 0x1009);
    const [a, b] = await lab.nodes(['swarm-a', 'swarm-b'], { handoff: { deadlineMs: 0 } });
    const torrents = hashes(100, r);
    fill(lab, SlotTable.build(['swarm-a', 'swarm-b']), torrents, 800, r);
    const [c] = await lab.nodes(['swarm-c'], { handoff: { deadlineMs: 0 } }, ['swarm-a', 'swarm-b']);
    await c.handoff.join();
    await b.handoff.stop();
    assert.equal(c.stats.peersPulled + b.stats.peersPushed + a.stats.peersReceived, 0);
    assert.deepEqual(lines(dump(c.t.swarm, torrents)), []);
  });
});

/** The part of `d` about `torrents`. */
function expectedOf(d: Dump, torrents: readonly string[]): Dump {
  const keys = new Set(torrents.map((h) => Buffer.from(h, 'latin1').toString('hex')));
  const pick = <V>(m: Map<string, V>): Map<string, V> => new Map([...m].filter(([k]) => keys.has(k.split(' ')[0])));
  return { downloaded: pick(d.downloaded), peers: pick(d.peers) };
}
