import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemorySnapshotBackend } from '../../../services/swarm/snapshot/memory-backend.js';
import { slotValue, snapshotBackendConformance, writeAll } from '../../support/snapshot-backend-conformance.js';

describe('memory snapshot backend', () => {
  snapshotBackendConformance('memory', async () => {
    const backend = new MemorySnapshotBackend();
    return { backend, ttlMs: async (slot) => backend.ttlMs(slot), cleanup: () => backend.close() };
  });

  test('a snapshot expires when its TTL runs out, as a Redis key does', async () => {
    let now = 1_000_000;
    const backend = new MemorySnapshotBackend({ now: () => now });
    await writeAll(backend, [{ slot: 1, value: slotValue(1) }], 10);
    await writeAll(backend, [{ slot: 2, value: slotValue(2) }], 20);
    now += 9_999;
    assert.ok((await backend.readMany([1]))[0] instanceof Uint8Array, 'still there 1 ms before its TTL ends');
    assert.equal(backend.ttlMs(1), 1);
    now += 1;
    assert.deepEqual((await backend.readMany([1])).map((v) => v === null), [true]);
    assert.equal(backend.ttlMs(1), null);
    assert.equal(backend.size, 1, 'slot 2 lives on');
  });
});
