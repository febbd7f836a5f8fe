import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import { MemorySnapshotBackend } from '../../../services/swarm/snapshot/memory-backend.js';
import { READ_CHUNK_SLOTS, SnapshotScheduler, type SchedulerOptions } from '../../../services/swarm/snapshot/scheduler.js';
import { corruptValue, FakeClock, FakeSlotSource, FaultyBackend, RecordingSink, drain } from '../../support/snapshot-fakes.js';
import { slotValue } from '../../support/snapshot-backend-conformance.js';
import { metricIn } from '../../support/cluster.js';

const TTL = 2760;

function setup(options: Partial<SchedulerOptions> = {}) {
  const clock = new FakeClock();
  const counter = () => ({
    value: 0,
    inc() {
      this.value++;
    },
  });
  const deadlineHits = { restore: counter(), shutdown: counter() };
  const source = new FakeSlotSource();
  const memory = new MemorySnapshotBackend({ now: () => clock.now() });
  const backend = new FaultyBackend(memory);
  const failures = new RecordingSink();
  const scheduler = new SnapshotScheduler(source, backend, {
    intervalMs: 30_000,
    ttlSeconds: TTL,
    maxBytesInFlight: 1 << 20,
    budgetMs: 4,
    restoreDeadlineMs: 10_000,
    shutdownDeadlineMs: 5_000,
    failures,
    deadlineHits,
    clock,
    ...options,
  });
  const stored = async (slot: number): Promise<Uint8Array | null> => {
    const value = (await memory.readMany([slot]))[0];
    if (value instanceof Error) throw value;
    return value;
  };
  return { clock, source, memory, backend, failures, scheduler, stored, deadlineHits };
}

/** Runs `work` while a setImmediate probe records how far the fake clock moved within each event-loop turn. */
async function longestTurn(clock: FakeClock, work: () => Promise<unknown>): Promise<number> {
  let last = clock.now();
  let longest = 0;
  let done = false;
  const probe = (): void => {
    longest = Math.max(longest, clock.now() - last);
    last = clock.now();
    if (!done) setImmediate(probe);
  };
  setImmediate(probe);
  try {
    await work();
  } finally {
    done = true;
  }
  longest = Math.max(longest, clock.now() - last);
  return longest;
}

describe('SnapshotScheduler: periodic passes', () => {
  test('a pass writes the changed owned slots with the TTL, deletes the ones that became empty, and nothing else', async () => {
    const { source, backend, memory, scheduler, stored } = setup();
    source.own(1, 2, 3, 0x8000);
    source.change(1, slotValue(1));
    source.change(2, slotValue(2, 300));
    source.change(0x9000, slotValue(0x9000)); // not ours: its owner writes it
    source.state.set(3, slotValue(3)); // owned, but unchanged
    const first = await scheduler.runPass();
    assert.deepEqual(
      backend.writes().map((c) => [c.op, c.slot]),
      [
        ['set', 1],
        ['set', 2],
      ],
    );
    assert.deepEqual(first, { complete: true, set: 2, deleted: 0, bytes: 364, failed: 0, pending: 0, seconds: 0 });
    assert.deepEqual(await stored(2), slotValue(2, 300));
    assert.equal(memory.ttlMs(1), TTL * 1000);
    assert.equal(await stored(0x9000), null);

    source.change(2, null);
    const second = await scheduler.runPass();
    assert.deepEqual(backend.writes().slice(2).map((c) => [c.op, c.slot]), [['delete', 2]]);
    assert.equal(second.deleted, 1);
    assert.equal(await stored(2), null);
    assert.deepEqual(await stored(1), slotValue(1), 'an unchanged slot is left as written');
    assert.equal(scheduler.slotsSet, 2);
    assert.equal(scheduler.slotsDeleted, 1);
    assert.equal(scheduler.bytesWritten, 364);
    assert.equal(scheduler.passesComplete, 2);
  });

  test('nothing changed: nothing is exported or written, and the snapshot counts as fresh', async () => {
    const { clock, source, backend, scheduler } = setup();
    source.own(1).state.set(1, slotValue(1));
    clock.advance(7_000);
    assert.equal(scheduler.ageSeconds(), 7, 'age counts from creation until a pass completes');
    const result = await scheduler.runPass();
    assert.equal(result.complete, true);
    assert.equal(source.exports, 0);
    assert.equal(backend.calls.length, 0);
    assert.equal(scheduler.ageSeconds(), 0);
  });

  test('while the backend is down, nothing is exported, every changed slot counts as a failed write and stays pending; the next pass after it returns writes them', async () => {
    const { clock, source, backend, failures, scheduler, stored } = setup();
    source.own(1, 2, 3);
    await scheduler.runPass();
    backend.down = true;
    source.change(1, slotValue(1));
    source.change(2, slotValue(2));
    clock.advance(30_000);
    const failed = await scheduler.runPass();
    assert.equal(failed.complete, false);
    assert.equal(failed.failed, 2);
    assert.equal(failed.pending, 2);
    assert.equal(source.exports, 0, 'no CPU spent exporting what cannot be written');
    assert.equal(scheduler.writeFailures, 2);
    assert.equal(scheduler.pendingSlots, 2);
    assert.ok(failures.count >= 1, 'the failure is reported');
    assert.equal(scheduler.ageSeconds(), 30, 'the snapshot is getting old');

    source.change(3, slotValue(3));
    backend.down = false;
    clock.advance(30_000);
    const recovered = await scheduler.runPass();
    assert.equal(recovered.complete, true);
    assert.equal(recovered.set, 3, 'the slots that failed and the one changed since');
    assert.deepEqual(await stored(1), slotValue(1));
    assert.deepEqual(await stored(2), slotValue(2));
    assert.equal(scheduler.pendingSlots, 0);
    assert.equal(scheduler.ageSeconds(), 0);
  });

  test('a write error stops the pass (the backend is likely failing); the failed and unreached slots stay pending and go at the next pass', async () => {
    const { source, backend, scheduler, stored } = setup({ maxBytesInFlight: 4 * 100 });
    for (let slot = 1; slot <= 20; slot++) {
      source.own(slot);
      source.change(slot, slotValue(slot, 100));
    }
    backend.failWrites.add(6);
    const result = await scheduler.runPass();
    assert.equal(result.complete, false);
    assert.equal(result.failed, 1);
    assert.equal(result.set, 7, 'the windows of four slots up to the failure: 1-4 and 5-8 except 6');
    assert.equal(result.pending, 13);
    assert.ok(backend.writes().length < 20, 'the pass stopped issuing writes after the failure');
    assert.equal(await stored(6), null);

    backend.failWrites.clear();
    const retry = await scheduler.runPass();
    assert.equal(retry.complete, true);
    assert.equal(retry.set, 13);
    for (let slot = 1; slot <= 20; slot++) assert.deepEqual(await stored(slot), slotValue(slot, 100), `slot ${slot}`);
  });

  test('a slot whose export throws is reported and stays pending; the others are written', async () => {
    const { source, failures, scheduler, stored } = setup();
    source.own(1, 2, 3);
    for (const slot of [1, 2, 3]) source.change(slot, slotValue(slot));
    source.brokenExports.add(2);
    const result = await scheduler.runPass();
    assert.equal(result.complete, false);
    assert.equal(result.set, 2);
    assert.equal(result.pending, 1);
    assert.deepEqual(await stored(3), slotValue(3));
    assert.ok(failures.reports.some((r) => r.fields?.slot === 2 && r.fields?.during === 'snapshot export'));
    source.brokenExports.clear();
    assert.equal((await scheduler.runPass()).set, 1);
  });

  test('bytes handed to the backend and not yet acknowledged stay within maxBytesInFlight; a bigger slot goes alone', async () => {
    const run = async (maxBytesInFlight: number, bigSlot: boolean) => {
      const { source, backend, scheduler, stored } = setup({ maxBytesInFlight });
      for (let slot = 0; slot < 100; slot++) {
        source.own(slot);
        source.change(slot, slotValue(slot, 1000));
      }
      if (bigSlot) {
        source.own(500);
        source.change(500, slotValue(500, 10_000));
      }
      const result = await scheduler.runPass();
      assert.equal(result.complete, true);
      assert.equal(result.set, bigSlot ? 101 : 100);
      if (bigSlot) assert.deepEqual(await stored(500), slotValue(500, 10_000));
      return backend.maxInFlightBytes;
    };
    assert.equal(await run(4096, false), 4000, 'four 1000-byte slots at a time');
    assert.equal(await run(4096, true), 10_000, 'the 10,000-byte slot alone');
    // Positive control: with no effective bound the same pass hands everything over at once.
    assert.equal(await run(1 << 30, false), 100_000);
  });

  test('slots that are no longer owned are not written, even if they were pending', async () => {
    const { source, backend, scheduler } = setup();
    source.own(1, 2);
    source.change(1, slotValue(1));
    source.change(2, slotValue(2));
    backend.down = true;
    await scheduler.runPass();
    assert.equal(scheduler.pendingSlots, 2);
    source.owned.delete(2); // handed to another swarm
    backend.down = false;
    const result = await scheduler.runPass();
    assert.deepEqual(backend.writes().map((c) => c.slot), [1]);
    assert.equal(result.complete, true);
    assert.equal(scheduler.pendingSlots, 0);
  });

  test('export work never holds the event loop longer than the budget (plus one slot) in one turn', async () => {
    const slots = 400;
    const costMs = 1.5;
    const run = async (budgetMs: number) => {
      // Small batches: a write acknowledged at once (no I/O) must not count as a new turn.
      const { clock, source, scheduler } = setup({ budgetMs, maxBytesInFlight: 120 });
      for (let slot = 0; slot < slots; slot++) {
        source.own(slot);
        source.change(slot, slotValue(slot, 50));
      }
      source.onExport = () => {
        clock.t += costMs; // each export "takes" 1.5 ms on the scheduler's clock
      };
      let result;
      const longest = await longestTurn(clock, async () => {
        result = await scheduler.runPass();
      });
      return { longest, result: result!, yields: clock.yields };
    };
    const bounded = await run(4);
    assert.equal(bounded.result.complete, true);
    assert.equal(bounded.result.set, slots);
    assert.ok(bounded.longest <= 4 + costMs, `longest turn ${bounded.longest} ms with a 4 ms budget`);
    assert.ok(bounded.yields >= (slots * costMs) / (4 + costMs) - 1, `it yielded ${bounded.yields} times`);
    // Positive control: the probe does see a pass that keeps the loop (a budget larger than the whole pass).
    const unbounded = await run(10_000);
    assert.equal(unbounded.longest, slots * costMs);
  });

  test('the timer runs a pass every interval after the previous one ends; passes never overlap', async () => {
    const { clock, source, backend, scheduler, stored } = setup({ intervalMs: 30_000 });
    source.own(1, 2);
    scheduler.start();
    source.change(1, slotValue(1));
    clock.advance(29_999);
    await drain();
    assert.equal(backend.calls.length, 0, 'not before the interval');
    clock.advance(1);
    await drain();
    assert.deepEqual(await stored(1), slotValue(1));

    backend.hang = true;
    source.change(2, slotValue(2));
    clock.advance(30_000);
    await drain();
    assert.equal(backend.writes().length, 2, 'the second pass is waiting on its write');
    source.change(1, slotValue(1, 99));
    clock.advance(90_000);
    await drain();
    assert.equal(backend.writes().length, 2, 'no pass starts while one is running');
    backend.hang = false;
    backend.release();
    await drain();
    clock.advance(30_000);
    await drain();
    assert.deepEqual(await stored(1), slotValue(1, 99), 'the next pass came one interval after the slow one ended');
    await scheduler.stop();
    const before = backend.calls.length;
    source.change(2, slotValue(2, 7));
    clock.advance(300_000);
    await drain();
    assert.equal(backend.calls.length, before, 'no pass after stop');
    assert.equal(clock.pendingTimers, 0);
  });
});

describe('SnapshotScheduler: a broken source', () => {
  test('a pass whose source throws is counted and reported, never rejects, and the timer goes on', async () => {
    const { clock, source, failures, scheduler, stored } = setup();
    source.own(1);
    source.change(1, slotValue(1));
    const takeDirty = source.takeDirty.bind(source);
    source.takeDirty = () => {
      throw new Error('bug in the store');
    };
    scheduler.start();
    clock.advance(30_000);
    await drain();
    assert.equal(scheduler.passesIncomplete, 1);
    assert.ok(failures.reports.some((r) => r.fields?.during === 'snapshot pass' && (r.error as Error).message === 'bug in the store'));
    source.takeDirty = takeDirty;
    clock.advance(30_000);
    await drain();
    assert.deepEqual(await stored(1), slotValue(1), 'the next pass ran');
    await scheduler.stop();
  });

  test('a restore whose source throws still resolves, so the swarm can start', async () => {
    const { source, failures, scheduler } = setup();
    source.ownedSlots = () => {
      throw new Error('ownership unknown');
    };
    const result = await scheduler.restore();
    assert.equal(result.complete, false);
    assert.equal(failures.count, 1);
  });
});

describe('SnapshotScheduler: shutdown', () => {
  test('writes every non-empty owned slot (also unchanged ones, in case Redis lost them) and deletes changed empty ones', async () => {
    const { source, backend, memory, scheduler, stored, deadlineHits } = setup();
    source.own(1, 2, 3, 4, 5);
    for (const slot of [1, 2, 3]) source.change(slot, slotValue(slot));
    source.change(4, slotValue(4));
    await scheduler.runPass();
    await memory.writeMany([{ slot: 1, value: null }], 1); // e.g. Redis restarted without persistence
    source.change(4, null); // emptied since
    // slot 5: empty and unchanged: nothing to write or delete
    const callsBefore = backend.writes().length;
    const result = await scheduler.stop();
    assert.ok(result !== null);
    assert.equal(result.complete, true);
    assert.deepEqual(
      backend
        .writes()
        .slice(callsBefore)
        .map((c) => [c.op, c.slot]),
      [
        ['set', 1],
        ['set', 2],
        ['set', 3],
        ['delete', 4],
      ],
    );
    assert.deepEqual(await stored(1), slotValue(1));
    assert.equal(await stored(4), null);
    assert.equal(await scheduler.stop(), result, 'stop twice gives the same result');
    assert.equal(deadlineHits.shutdown.value, 0, 'no limit hit when it finished in time');
  });

  test('slots released to another swarm (handoff) are neither written nor deleted by the shutdown pass, though owned at the last pass and changed since', async () => {
    const run = async (release: boolean): Promise<Array<[string, number]>> => {
      const { source, backend, scheduler } = setup();
      source.own(1, 2, 3);
      for (const slot of [1, 2, 3]) source.change(slot, slotValue(slot));
      await scheduler.runPass();
      // Changed after the last pass, then handed to their new owner (which writes them from now on).
      source.change(2, slotValue(20));
      source.change(3, null);
      source.owned.delete(2);
      source.owned.delete(3);
      if (release) scheduler.release([2, 3]);
      const callsBefore = backend.writes().length;
      assert.equal((await scheduler.stop())?.complete, true);
      return backend
        .writes()
        .slice(callsBefore)
        .map((c) => [c.op, c.slot] as [string, number]);
    };
    assert.deepEqual(await run(true), [['set', 1]]);
    // The control: without release, a stopping swarm keeps the slots it owned at its last pass, and would clobber the new owner's.
    assert.deepEqual(await run(false), [['set', 1], ['set', 2], ['delete', 3]]);
  });

  test('gives up at the deadline when the backend hangs, says the pass was incomplete, and counts the limit hit', async () => {
    const { clock, source, backend, scheduler, deadlineHits } = setup({ shutdownDeadlineMs: 5_000 });
    source.own(1, 2);
    source.change(1, slotValue(1));
    source.change(2, slotValue(2));
    backend.hang = true;
    const stopping = scheduler.stop();
    await drain();
    clock.advance(4_999);
    await drain();
    let settled = false;
    void stopping.then(() => (settled = true));
    await drain();
    assert.equal(settled, false, 'still within the deadline');
    clock.advance(1);
    const result = await stopping;
    assert.ok(result !== null);
    assert.equal(result.complete, false);
    assert.equal(scheduler.passesIncomplete, 1);
    assert.equal(deadlineHits.shutdown.value, 1);
    assert.equal(deadlineHits.restore.value, 0);
    backend.release();
  });

  test('a periodic pass still running when the deadline ends means no final pass (null)', async () => {
    const { clock, source, backend, scheduler, deadlineHits } = setup({ shutdownDeadlineMs: 5_000 });
    source.own(1);
    source.change(1, slotValue(1));
    backend.hang = true;
    void scheduler.runPass();
    await drain();
    const stopping = scheduler.stop();
    await drain();
    clock.advance(5_000);
    assert.equal(await stopping, null);
    assert.equal(deadlineHits.shutdown.value, 1);
    backend.release();
  });
});

describe('SnapshotScheduler: restore', () => {
  async function seeded(slots: number, owned: (slot: number) => boolean, options: Partial<SchedulerOptions> = {}) {
    const s = setup(options);
    for (let slot = 0; slot < slots; slot++) {
      await s.memory.writeMany([{ slot, value: slotValue(slot, 60) }], 600);
      if (owned(slot)) s.source.own(slot);
    }
    return s;
  }

  test('imports every owned slot that has a snapshot, in chunks, and counts slots, bytes and peers', async () => {
    const { source, backend, scheduler } = await seeded(3000, (slot) => slot % 3 !== 0);
    source.own(60_000); // owned, never written
    const result = await scheduler.restore();
    assert.equal(result.complete, true);
    assert.equal(result.slots, 2000);
    assert.equal(result.bytes, 2000 * 60);
    assert.equal(result.peers, 2000 * 10);
    assert.equal(result.unread, 0);
    assert.equal(source.imported.size, 2000);
    assert.deepEqual(source.imported.get(1), slotValue(1, 60));
    assert.equal(source.imported.has(3), false, 'not owned, not imported');
    const reads = backend.calls.filter((c) => c.op === 'read').length;
    assert.equal(reads, 2001, 'each owned slot read once');
    assert.equal(scheduler.restoredSlots, 2000);
    assert.equal(scheduler.restoredPeers, 20_000);
    assert.ok(READ_CHUNK_SLOTS < 2001, 'more than one chunk was needed');
  });

  test('a corrupt snapshot is skipped and counted; a failed read is counted; the rest is imported', async () => {
    const { source, backend, memory, failures, scheduler } = await seeded(50, () => true);
    await memory.writeMany([{ slot: 7, value: corruptValue(60) }], 600);
    backend.failReads.add(9);
    const result = await scheduler.restore();
    assert.equal(result.complete, true);
    assert.equal(result.slots, 48);
    assert.equal(result.corrupt, 1);
    assert.equal(result.failed, 1);
    assert.equal(source.imported.has(7), false);
    assert.equal(scheduler.corruptSlots, 1);
    assert.equal(scheduler.readFailures, 1);
    assert.ok(failures.reports.some((r) => r.fields?.slot === 7 && r.fields?.during === 'snapshot import'));
  });

  test('an unreachable backend: starts without a restore, everything unread, reported', async () => {
    const { source, backend, failures, scheduler } = await seeded(10, () => true);
    backend.down = true;
    const result = await scheduler.restore();
    assert.equal(result.complete, false);
    assert.equal(result.unread, 10);
    assert.equal(source.imported.size, 0);
    assert.equal(failures.count, 1);
  });

  test('a hung backend: restore returns at the deadline with what it has, and counts the limit hit', async () => {
    const { clock, source, backend, scheduler, deadlineHits } = await seeded(10, () => true, { restoreDeadlineMs: 10_000 });
    backend.hang = true;
    const restoring = scheduler.restore();
    await drain();
    clock.advance(10_000);
    const result = await restoring;
    assert.equal(result.complete, false);
    assert.equal(result.unread, 10);
    assert.equal(source.imported.size, 0);
    assert.equal(deadlineHits.restore.value, 1);
    backend.release();
  });

  test('import work never holds the event loop longer than the budget (plus one slot) in one turn', async () => {
    const { clock, source, scheduler } = await seeded(600, () => true, { budgetMs: 4 });
    source.onImport = () => {
      clock.t += 1;
    };
    const longest = await longestTurn(clock, () => scheduler.restore());
    assert.equal(source.imported.size, 600);
    assert.ok(longest <= 5, `longest turn ${longest} ms with a 4 ms budget`);
  });
});

describe('snapshot metrics', () => {
  test('are read from the scheduler when scraped', async () => {
    const { clock, source, backend, scheduler } = setup();
    const metrics = new TrackerMetrics({ defaultMetrics: false });
    metrics.observeSnapshots(scheduler);
    source.own(1, 2);
    source.change(1, slotValue(1, 100));
    await scheduler.runPass();
    backend.down = true;
    source.change(2, slotValue(2));
    clock.advance(12_000);
    await scheduler.runPass();
    const text = (await metrics.render()).body;
    assert.equal(metricIn(text, 'tracker_snapshot_age_seconds'), 12);
    assert.equal(metricIn(text, 'tracker_snapshot_pending_slots'), 1);
    assert.equal(metricIn(text, 'tracker_snapshot_passes_total', { result: 'complete' }), 1);
    assert.equal(metricIn(text, 'tracker_snapshot_passes_total', { result: 'incomplete' }), 1);
    assert.equal(metricIn(text, 'tracker_snapshot_slots_written_total', { op: 'set' }), 1);
    assert.equal(metricIn(text, 'tracker_snapshot_slots_written_total', { op: 'delete' }), 0);
    assert.equal(metricIn(text, 'tracker_snapshot_bytes_written_total'), 100);
    assert.equal(metricIn(text, 'tracker_snapshot_failures_total', { op: 'write' }), 1);
    assert.equal(metricIn(text, 'tracker_snapshot_failures_total', { op: 'corrupt' }), 0);
    assert.equal(metricIn(text, 'tracker_snapshot_restored_slots_total'), 0);
    assert.notEqual(metricIn(text, 'tracker_snapshot_last_pass_seconds'), undefined);
    assert.notEqual(metricIn(text, 'tracker_snapshot_restore_seconds'), undefined);
  });
});

describe('SnapshotScheduler: after the backend reconnects', () => {
  test('the next pass writes every owned slot, changed or not (a Redis restarted empty lost them); later passes only changed ones', async () => {
    const { source, memory, backend, scheduler, stored } = setup();
    source.own(1, 2, 3);
    for (const slot of [1, 2]) source.change(slot, slotValue(slot));
    await scheduler.runPass();
    // Redis restarts without persistence: the connection drops, and it comes back empty.
    backend.down = true;
    await memory.writeMany([1, 2].map((slot) => ({ slot, value: null })), TTL);
    const during = await scheduler.runPass();
    assert.equal(during.complete, true, 'nothing had changed, so nothing was due');
    backend.reconnect();
    const after = await scheduler.runPass();
    assert.equal(after.complete, true);
    assert.equal(after.set, 2, 'both non-empty slots, though neither changed');
    assert.deepEqual(await stored(1), slotValue(1));
    assert.deepEqual(await stored(2), slotValue(2));
    const next = await scheduler.runPass();
    assert.equal(next.set, 0, 'owed once');
  });

  test('positive control: without a reconnect, an unchanged slot lost from the store is not written again', async () => {
    const { source, memory, scheduler, stored } = setup();
    source.own(1);
    source.change(1, slotValue(1));
    await scheduler.runPass();
    await memory.writeMany([{ slot: 1, value: null }], TTL);
    assert.equal((await scheduler.runPass()).set, 0);
    assert.equal(await stored(1), null);
  });

  test('a full pass cut short stays owed until one completes', async () => {
    const { source, backend, scheduler, stored } = setup();
    source.own(1, 2, 3);
    for (const slot of [1, 2, 3]) source.state.set(slot, slotValue(slot));
    backend.reconnect();
    backend.failWrites.add(2);
    assert.equal((await scheduler.runPass()).complete, false);
    backend.failWrites.clear();
    await backend.inner.writeMany([{ slot: 1, value: null }], TTL);
    const retry = await scheduler.runPass();
    assert.equal(retry.complete, true);
    assert.equal(retry.set, 3);
    assert.deepEqual(await stored(1), slotValue(1));
  });

  test('a swarm that started while the store was unreachable writes everything once it is reachable', async () => {
    const { source, backend, scheduler, stored } = setup({ restoreDeadlineMs: 0 });
    source.own(1, 2);
    backend.down = true;
    const restored = await scheduler.restore();
    assert.equal(restored.complete, false);
    source.state.set(1, slotValue(1)); // peers that announced since, say; no change mark needed
    backend.reconnect();
    assert.equal((await scheduler.runPass()).set, 1);
    assert.deepEqual(await stored(1), slotValue(1));
  });

  test('a restore that read the store owes no full pass', async () => {
    const { source, scheduler } = setup();
    source.own(1);
    source.state.set(1, slotValue(1));
    await scheduler.restore();
    assert.equal((await scheduler.runPass()).set, 0);
  });
});

describe('SnapshotScheduler: slots exported in parts', () => {
  test('the parts of a slot are stored one after the other, and the event loop gets a turn between parts once the budget is spent', async () => {
    const { clock, source, scheduler, stored } = setup({ budgetMs: 4 });
    const parts = [Uint8Array.of(1, 1), Uint8Array.of(2, 2, 2), Uint8Array.of(3)];
    source.own(9);
    source.change(9, Uint8Array.of(0));
    source.exportSlot = function* () {
      for (const part of parts) {
        clock.t += 3; // each part costs 3 ms of work
        yield part;
      }
    } as unknown as typeof source.exportSlot;
    const longest = await longestTurn(clock, () => scheduler.runPass());
    assert.deepEqual(await stored(9), Uint8Array.of(1, 1, 2, 2, 2, 3));
    assert.ok(longest <= 7, `longest turn ${longest} ms with a 4 ms budget and 3 ms parts`);
    assert.ok(clock.yields >= 1);
  });
});

describe('SnapshotScheduler: ownership while starting and stopping', () => {
  test('restore reads the slots the source is about to own (slotsToRestore), not the none it owns before it is a ready member', async () => {
    const { source, memory, scheduler } = setup();
    await memory.writeMany([1, 2, 3].map((slot) => ({ slot, value: slotValue(slot) })), TTL);
    (source as unknown as { slotsToRestore(): number[] }).slotsToRestore = () => [2, 3];
    const restored = await scheduler.restore();
    assert.equal(restored.slots, 2);
    assert.deepEqual([...source.imported.keys()].sort(), [2, 3]);
  });

  test('on shutdown the slots owned at the previous pass are written even when the table already gave them away (draining)', async () => {
    const { source, scheduler, stored } = setup();
    source.own(1, 2);
    source.state.set(1, slotValue(1));
    source.state.set(2, slotValue(2));
    await scheduler.runPass();
    source.owned.clear(); // terminating: not a ready member any more
    const last = await scheduler.stop();
    assert.equal(last?.set, 2);
    assert.deepEqual(await stored(1), slotValue(1));
    assert.deepEqual(await stored(2), slotValue(2));
  });

  test('positive control: a periodic pass after the slots moved away does not write them', async () => {
    const { source, scheduler, stored } = setup();
    source.own(1);
    await scheduler.runPass();
    source.owned.clear();
    source.change(1, slotValue(1));
    assert.equal((await scheduler.runPass()).set, 0);
    assert.equal(await stored(1), null);
  });
});
