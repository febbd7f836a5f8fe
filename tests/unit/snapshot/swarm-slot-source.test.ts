/**
 * Snapshots of a real swarm (SwarmSlotSource over its SlotState) through
 * the scheduler and the in-memory backend: what one swarm writes another
 * restores; a restore does not make the next pass write it all back;
 * ownership decides what is written and read; and the slot metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import { MemorySnapshotBackend } from '../../../services/swarm/snapshot/memory-backend.js';
import { EVERY_SLOT, type SlotOwnership } from '../../../services/swarm/snapshot/swarm-slot-source.js';
import { metricIn } from '../../support/cluster.js';
import { rngFor } from '../../support/seeded-random.js';
import { req } from '../../support/swarm-store.js';
import { connectEdges, dump, fillRandom, hashInSlot, lines, makeSwarm, scheduledSwarm, slotsOf, type TestSwarm } from '../../support/swarm-slots.js';

const HASHES = [0, 1, 2, 0x4242, 0xfffe].flatMap((slot) => [hashInSlot(slot, 0), hashInSlot(slot, 1)]);

function filled(seed: string): TestSwarm {
  const t = makeSwarm();
  t.clock.t = 1_000_000;
  connectEdges(t.swarm);
  fillRandom(t, rngFor(seed), { hashes: HASHES, ops: 600 });
  return t;
}

test('what a swarm writes, a new swarm restores: every peer, and the restored count says so', async () => {
  const backend = new MemorySnapshotBackend();
  const a = filled('write-restore');
  // The source sees changes from its creation on: these announces come after it.
  const { scheduler: writer } = scheduledSwarm(a, backend);
  fillRandom(a, rngFor('write-restore-more'), { hashes: HASHES, ops: 200 });
  await writer.runPass();
  const b = makeSwarm({ clock: a.clock });
  connectEdges(b.swarm);
  const { scheduler: reader, failures } = scheduledSwarm(b, backend);
  const restored = await reader.restore();
  assert.equal(restored.complete, true);
  assert.equal(failures.count, 0);
  const expected = dump(a.swarm, HASHES);
  assert.deepEqual(lines(dump(b.swarm, HASHES)), lines(expected));
  assert.equal(restored.peers, expected.peers.size);
  assert.equal(reader.restoredPeers, expected.peers.size);
  assert.equal(restored.slots, slotsOf(HASHES).length);
});

test('a restored swarm does not write back what it just read; a change after it is written', async () => {
  const backend = new MemorySnapshotBackend();
  const a = filled('no-write-back');
  const { scheduler: writer } = scheduledSwarm(a, backend);
  a.swarm.handle([req(HASHES[0], Uint8Array.of(10, 9, 9, 9, 0, 80))]);
  fillRandom(a, rngFor('no-write-back-more'), { hashes: HASHES, ops: 200 });
  await writer.runPass();
  const b = makeSwarm({ clock: a.clock });
  const { scheduler: reader } = scheduledSwarm(b, backend);
  await reader.restore();
  assert.equal((await reader.runPass()).set, 0);
  b.swarm.handle([req(HASHES[4], Uint8Array.of(10, 9, 9, 8, 0, 80))]);
  const pass = await reader.runPass();
  assert.equal(pass.set, 1);
});

test('only owned slots are written and restored', async () => {
  const backend = new MemorySnapshotBackend();
  const a = filled('owned');
  const even: SlotOwnership = { owns: (slot) => slot % 2 === 0 };
  const { scheduler: writer } = scheduledSwarm(a, backend, even);
  fillRandom(a, rngFor('owned-more'), { hashes: HASHES, ops: 300 });
  await writer.stop();
  assert.equal(backend.size, slotsOf(HASHES).filter((s) => s % 2 === 0).length);
  const b = makeSwarm({ clock: a.clock });
  connectEdges(b.swarm);
  await scheduledSwarm(b, backend, EVERY_SLOT).scheduler.restore();
  const evenHashes = HASHES.filter((h) => slotsOf([h])[0] % 2 === 0);
  assert.deepEqual(lines(dump(b.swarm, evenHashes)), lines(dump(a.swarm, evenHashes)));
  assert.equal(dump(b.swarm, HASHES.filter((h) => !evenHashes.includes(h))).peers.size, 0);
});

test('a snapshot written by another release is counted as unreadable, and the rest is restored', async () => {
  const backend = new MemorySnapshotBackend();
  const a = filled('version');
  const { scheduler: writer } = scheduledSwarm(a, backend);
  await writer.stop();
  const [value] = (await backend.readMany([0])) as Uint8Array[];
  const future = Uint8Array.from(value);
  future[4] = 2;
  await backend.writeMany([{ slot: 0, value: future }], 3660);
  const b = makeSwarm({ clock: a.clock });
  connectEdges(b.swarm);
  const metrics = new TrackerMetrics({ defaultMetrics: false });
  metrics.observeSlotTransfers(b.swarm.slots.stats);
  const { scheduler: reader, failures } = scheduledSwarm(b, backend);
  const restored = await reader.restore();
  assert.equal(restored.corrupt, 1);
  assert.match(String((failures.reports[0].error as Error).message), /version 2/);
  const slot0 = HASHES.filter((h) => slotsOf([h])[0] === 0);
  assert.equal(dump(b.swarm, slot0).peers.size, 0);
  const others = HASHES.filter((h) => !slot0.includes(h));
  assert.deepEqual(lines(dump(b.swarm, others)), lines(dump(a.swarm, others)));
  const text = (await metrics.render()).body;
  assert.equal(metricIn(text, 'tracker_slot_chunks_refused_total', { reason: 'version' }), 1);
  assert.equal(metricIn(text, 'tracker_slot_peers_total', { op: 'import', result: 'imported' }), restored.peers);
  assert.ok(metricIn(text, 'tracker_slot_chunks_total', { op: 'import' })! >= restored.slots);
  assert.ok(metricIn(text, 'tracker_slot_chunk_bytes_total', { op: 'import' })! > 0);
});
