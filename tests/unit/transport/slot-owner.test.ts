/**
 * A swarm's ownership check on the wire: batches stamped with its own table
 * identity are served as they are; others are checked request by request
 * and what it does not own is answered "moved" (with the owner its table
 * names), never reaching the swarm's store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlotTable } from '../../../lib/cluster/slot-table.js';
import { movedReply, mustCheck, type SlotOwner } from '../../../lib/transport/slot-owner.js';
import { GrpcTransport } from '../../../lib/transport/grpc/client.js';
import { GrpcSwarmServer } from '../../../lib/transport/grpc/server.js';
import type { SwarmReply, SwarmRequest } from '../../../lib/tracker/swarm.js';
import { EchoSwarm } from '../../support/transport-conformance.js';

const TABLE = SlotTable.build(['swarm-a', 'swarm-b', 'swarm-c']);

/** swarm-a's view of TABLE. */
const A: SlotOwner = {
  identity: TABLE.identity,
  owns: (slot) => TABLE.ownerOfSlot(slot) === 'swarm-a',
  ownerOfSlot: (slot) => TABLE.ownerOfSlot(slot),
};

function hashOf(owner: string, salt = 0): string {
  for (let s = salt; ; s++) {
    const h = String.fromCharCode(s >> 8, s & 0xff) + 'x'.repeat(18);
    if (TABLE.ownerOf(h) === owner) return h;
  }
}

const announce = (infoHash: string, n = 0): SwarmRequest => ({ type: 'announce', infoHash, peerId: 'p'.repeat(20), endpoint: Uint8Array.of(10, 0, 0, 1, 0, 1), event: 0, left: 1, numwant: n });
const ref = { edge: 'edge-0', socket: 1 };

test('movedReply: single-hash requests are moved to the owner the table names', () => {
  const mine = hashOf('swarm-a');
  const theirs = hashOf('swarm-b');
  assert.equal(movedReply(announce(mine), A), undefined);
  assert.deepEqual(movedReply(announce(theirs), A), { type: 'moved', owner: 'swarm-b' });
  const wt: SwarmRequest = { type: 'wt-announce', infoHash: theirs, peerId: 'q'.repeat(20), from: ref, event: 0, seeder: false, offers: [] };
  assert.deepEqual(movedReply(wt, A), { type: 'moved', owner: 'swarm-b' });
  const answer: SwarmRequest = { type: 'wt-answer', infoHash: mine, peerId: 'q'.repeat(20), from: ref, toPeerId: 'r'.repeat(20), offerId: 'o'.repeat(20), answer: { type: 'answer', sdp: '' } };
  assert.equal(movedReply(answer, A), undefined);
});

test('movedReply: a request over several hashes is moved whole when any is not owned; an owner only when one swarm has them all', () => {
  const [a1, a2, b1, b2, c1] = [hashOf('swarm-a'), hashOf('swarm-a', 300), hashOf('swarm-b'), hashOf('swarm-b', 300), hashOf('swarm-c')];
  assert.equal(movedReply({ type: 'scrape', infoHashes: [a1, a2] }, A), undefined);
  assert.deepEqual(movedReply({ type: 'scrape', infoHashes: [b1, b2] }, A), { type: 'moved', owner: 'swarm-b' });
  assert.deepEqual(movedReply({ type: 'wt-scrape', infoHashes: [a1, b1] }, A), { type: 'moved' }, 'partly ours: moved whole, no single owner');
  assert.deepEqual(movedReply({ type: 'scrape', infoHashes: [b1, c1] }, A), { type: 'moved' });
  const disconnect = (hashes: string[]): SwarmRequest => ({ type: 'wt-disconnect', from: ref, peers: hashes.map((infoHash) => ({ infoHash, peerId: 'q'.repeat(20) })) });
  assert.equal(movedReply(disconnect([a1, a2]), A), undefined);
  assert.deepEqual(movedReply(disconnect([c1]), A), { type: 'moved', owner: 'swarm-c' });
  assert.deepEqual(movedReply(disconnect([a1, c1]), A), { type: 'moved' });
});

test('mustCheck: only a batch stamped with the swarm\'s own identity skips the check; 0 never does', () => {
  assert.equal(mustCheck(A, TABLE.identity), false);
  assert.equal(mustCheck(A, TABLE.identity + 1), true);
  assert.equal(mustCheck(A, 0), true);
  assert.equal(mustCheck({ ...A, identity: 0 }, 0), true, 'an empty table (identity 0) never matches');
});

test('the gRPC server answers "moved" for what it does not own, serves the rest in order, and counts them', async () => {
  const swarm = new EchoSwarm();
  const server = new GrpcSwarmServer(swarm, { host: '127.0.0.1', port: 0, edgeGoneGraceMs: 0, slotOwner: A });
  const port = await server.listen();
  const transport = new GrpcTransport({ name: 'swarm-a', address: `127.0.0.1:${port}`, edgeId: 'edge-t' });
  const send = (batch: SwarmRequest[], identity: number): Promise<SwarmReply[]> => new Promise((resolve) => transport.send(batch, resolve, identity));
  try {
    assert.ok(await transport.whenOpen(5000));
    const mine = hashOf('swarm-a');
    const theirs = hashOf('swarm-c');
    const batch = [announce(mine, 1), announce(theirs, 2), announce(mine, 3)];

    // Stamped with another table: checked.
    const checked = await send(batch, TABLE.identity + 1);
    assert.equal(checked[0].type === 'announce' && checked[0].downloaded, 1);
    assert.deepEqual(checked[1], { type: 'moved', owner: 'swarm-c' });
    assert.equal(checked[2].type === 'announce' && checked[2].downloaded, 3);
    assert.equal(swarm.handled, 2, 'the moved request never reached the swarm');
    assert.equal(server.stats().moved, 1);

    // Stamped 0 (sent to an owner another swarm named): checked too.
    assert.deepEqual((await send([announce(theirs)], 0))[0], { type: 'moved', owner: 'swarm-c' });
    assert.equal(server.stats().moved, 2);

    // Stamped with the swarm's own identity: the edge routed by the same table, so it is served unchecked.
    const trusted = await send(batch, TABLE.identity);
    assert.deepEqual(trusted.map((r) => r.type), ['announce', 'announce', 'announce']);
    assert.equal(server.stats().moved, 2);
  } finally {
    await transport.close();
    server.forceShutdown();
  }
});

