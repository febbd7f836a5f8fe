/**
 * One behavioural suite every SnapshotBackend must pass (memory in the unit
 * suite, Redis against a real redis-server in the integration suite), in
 * the spirit of chihaya's storage conformance tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SLOT_COUNT, type SlotWrite, type SnapshotBackend } from '../../services/swarm/snapshot/backend.js';

export interface BackendUnderTest {
  backend: SnapshotBackend;
  /** Milliseconds the slot's snapshot has left (PTTL in Redis), or null when it has none. */
  ttlMs(slot: number): Promise<number | null>;
  cleanup(): Promise<void>;
}

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

/** Distinct, recognisable content for a slot: its number, then a pattern of `length` bytes. */
export function slotValue(slot: number, length = 64): Uint8Array {
  const out = new Uint8Array(length);
  out[0] = slot >> 8;
  out[1] = slot & 0xff;
  for (let i = 2; i < length; i++) out[i] = (slot * 31 + i * 7) & 0xff;
  return out;
}

/** Writes and insists every entry succeeded. */
async function write(backend: SnapshotBackend, entries: SlotWrite[], ttlSeconds = 600): Promise<void> {
  const results = await backend.writeMany(entries, ttlSeconds);
  assert.equal(results.length, entries.length, 'one result per entry');
  results.forEach((error, i) => assert.equal(error, null, `entry ${i} (slot ${entries[i].slot}): ${error?.message}`));
}

const set = (backend: SnapshotBackend, slot: number, value: Uint8Array, ttlSeconds = 600): Promise<void> => write(backend, [{ slot, value }], ttlSeconds);

function assertBytes(actual: Uint8Array | null | Error, expected: Uint8Array, what: string): void {
  assert.ok(actual instanceof Uint8Array, `${what}: expected bytes, got ${actual instanceof Error ? actual.message : String(actual)}`);
  assert.equal(actual.byteLength, expected.byteLength, `${what}: length`);
  assert.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(Buffer.from(expected)), `${what}: content differs`);
}

export { write as writeAll };

export function snapshotBackendConformance(name: string, make: () => Promise<BackendUnderTest>): void {
  const withBackend = (title: string, body: (b: BackendUnderTest) => Promise<void>): void => {
    test(`${name}: ${title}`, async () => {
      const b = await make();
      try {
        assert.equal(await b.backend.waitReady(5000), true, 'the backend becomes ready');
        assert.equal(b.backend.ready, true);
        await body(b);
      } finally {
        await b.cleanup();
      }
    });
  };

  withBackend('a written slot reads back; slots never written read as null; order follows the request', async ({ backend }) => {
    await set(backend, 0x1234, slotValue(0x1234), 600);
    await set(backend, 0xffff, slotValue(0xffff), 600);
    await set(backend, 0, slotValue(0), 600);
    const got = await backend.readMany([0xffff, 0x4321, 0x1234, 0, 0x0001]);
    assertBytes(got[0], slotValue(0xffff), 'slot 0xffff');
    assert.equal(got[1], null, 'slot 0x4321 was never written');
    assertBytes(got[2], slotValue(0x1234), 'slot 0x1234');
    assertBytes(got[3], slotValue(0), 'slot 0');
    assert.equal(got[4], null, 'slot 1 is not slot 0x0100 or 0x1000');
    assert.deepEqual(await backend.readMany([]), []);
  });

  withBackend('a second write replaces the first', async ({ backend }) => {
    await set(backend, 7, slotValue(7, 1000), 600);
    await set(backend, 7, bytes(1, 2, 3), 600);
    assertBytes((await backend.readMany([7]))[0], bytes(1, 2, 3), 'slot 7');
  });

  withBackend('every write sets the TTL, and a later write renews it', async ({ backend, ttlMs }) => {
    await set(backend, 42, slotValue(42), 120);
    const first = await ttlMs(42);
    assert.ok(first !== null && first > 110_000 && first <= 120_000, `TTL after a 120 s write: ${first} ms`);
    await set(backend, 42, slotValue(42), 3000);
    const renewed = await ttlMs(42);
    assert.ok(renewed !== null && renewed > 2_990_000 && renewed <= 3_000_000, `TTL after a 3000 s write: ${renewed} ms`);
    assert.equal(await ttlMs(43), null, 'a slot never written has no TTL');
  });

  withBackend('a null value deletes the snapshot; deleting a missing one is fine', async ({ backend, ttlMs }) => {
    await set(backend, 9, slotValue(9), 600);
    await set(backend, 10, slotValue(10), 600);
    await write(backend, [
      { slot: 9, value: null },
      { slot: 11, value: null },
    ]);
    const got = await backend.readMany([9, 10, 11]);
    assert.equal(got[0], null);
    assertBytes(got[1], slotValue(10), 'slot 10 is untouched');
    assert.equal(got[2], null);
    assert.equal(await ttlMs(9), null);
  });

  withBackend('values are binary-safe: all 256 byte values, CR LF, NUL, and an empty value', async ({ backend }) => {
    const all = new Uint8Array(512);
    for (let i = 0; i < all.length; i++) all[i] = i & 0xff;
    const protocolish = Buffer.from('$5\r\nhello\r\n*0\r\n\u0000+OK\r\n-ERR\r\n', 'latin1');
    await set(backend, 100, all, 600);
    await set(backend, 101, protocolish, 600);
    await set(backend, 102, new Uint8Array(0), 600);
    const got = await backend.readMany([100, 101, 102]);
    assertBytes(got[0], all, 'all byte values');
    assertBytes(got[1], protocolish, 'protocol-looking bytes');
    assertBytes(got[2], new Uint8Array(0), 'an empty value is not a missing one');
  });

  withBackend('a view into a larger buffer writes only its own bytes', async ({ backend }) => {
    const big = slotValue(5, 300);
    await set(backend, 5, big.subarray(100, 150), 600);
    assertBytes((await backend.readMany([5]))[0], big.subarray(100, 150), 'subarray');
  });

  withBackend('large values round-trip (8 MiB: one slot of a very popular torrent)', async ({ backend }) => {
    const large = slotValue(0xabcd, 8 * 1024 * 1024);
    await set(backend, 0xabcd, large, 600);
    assertBytes((await backend.readMany([0xabcd]))[0], large, '8 MiB slot');
  });

  withBackend('what was written is copied: later changes to the caller\'s bytes do not reach the store', async ({ backend }) => {
    const value = slotValue(3);
    await set(backend, 3, value, 600);
    value.fill(0);
    const first = (await backend.readMany([3]))[0] as Uint8Array;
    assertBytes(first, slotValue(3), 'after the caller reused its buffer');
    first.fill(0xee);
    assertBytes((await backend.readMany([3]))[0], slotValue(3), 'after the reader changed what it got');
  });

  withBackend('thousands of slots, sets and deletes mixed, go in one batch and read back in one call', async ({ backend }) => {
    const slots = Array.from({ length: 3000 }, (_, i) => (i * 21_845 + 7) % SLOT_COUNT);
    const value = (slot: number): Uint8Array => slotValue(slot, 100 + (slot % 50));
    await write(backend, slots.map((slot) => ({ slot, value: value(slot) })));
    const gone = (i: number): boolean => i % 7 === 3;
    await write(
      backend,
      slots.map((slot, i) => ({ slot, value: gone(i) ? null : value(slot) })),
    );
    const got = await backend.readMany(slots);
    assert.equal(got.length, slots.length);
    for (let i = 0; i < slots.length; i++) {
      if (gone(i)) assert.equal(got[i], null, `slot ${slots[i]} was deleted`);
      else assertBytes(got[i], value(slots[i]), `slot ${slots[i]}`);
    }
  });

  withBackend('slot numbers outside 0..65535 and a TTL that is not positive are refused per entry; the other entries go through', async ({ backend }) => {
    const results = await backend.writeMany(
      [
        { slot: -1, value: bytes(1) },
        { slot: 2, value: bytes(2) },
        { slot: SLOT_COUNT, value: bytes(1) },
        { slot: 1.5, value: null },
      ],
      600,
    );
    assert.ok(results[0] instanceof RangeError);
    assert.equal(results[1], null);
    assert.ok(results[2] instanceof RangeError);
    assert.ok(results[3] instanceof RangeError);
    assertBytes((await backend.readMany([2]))[0], bytes(2), 'slot 2');
    const badTtl = await backend.writeMany([{ slot: 3, value: bytes(3) }], 0);
    assert.ok(badTtl[0] instanceof RangeError, 'a TTL must be positive');
    assert.equal((await backend.readMany([3]))[0], null);
    assert.deepEqual(await backend.writeMany([], 600), []);
    await set(backend, 1, bytes(1), 600);
    const got = await backend.readMany([1, SLOT_COUNT, 1]);
    assertBytes(got[0], bytes(1), 'slot 1');
    assert.ok(got[1] instanceof RangeError, 'the bad slot gets its own error');
    assertBytes(got[2], bytes(1), 'slot 1 again');
  });

  test(`${name}: after close, calls fail instead of hanging`, async () => {
    const b = await make();
    try {
      assert.equal(await b.backend.waitReady(5000), true);
      await b.backend.close();
      assert.equal(b.backend.ready, false);
      const [writeError] = await b.backend.writeMany([{ slot: 1, value: bytes(1) }], 600);
      assert.ok(writeError instanceof Error, 'a write after close is an error');
      const got = await b.backend.readMany([1]);
      assert.ok(got[0] instanceof Error, 'a read after close is an error, not null');
      assert.equal(await b.backend.waitReady(50), false);
    } finally {
      await b.cleanup();
    }
  });
}
