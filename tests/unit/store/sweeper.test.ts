/**
 * Expiry scheduling: one step per interval while expiry keeps up, chained
 * steps (up to the duty cap) while much is overdue, and failures reported,
 * not swallowed. Driven by hand-run timers and injected clocks, never by
 * wall time (except one smoke test of the real timers).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FailureSink } from '../../../lib/runtime/failures.js';
import type { LogFields } from '../../../lib/runtime/logger.js';
import { SWEEP_CHECK_EVERY, type SwarmStore, type SweepResult } from '../../../services/swarm/store/swarm-store.js';
import { WebTorrentSwarms } from '../../../services/swarm/store/webtorrent-swarms.js';
import { Swarm } from '../../../services/swarm/swarm.js';
import { Sweeper, type SweepTask, type SweepTimers } from '../../../services/swarm/sweeper.js';
import { announce, clock, hash, makeStore, v4, type TestClock } from '../../support/swarm-store.js';

class RecordingSink implements FailureSink {
  readonly reports: { error: unknown; fields?: LogFields }[] = [];
  get count(): number {
    return this.reports.length;
  }
  report(error: unknown, fields?: LogFields): void {
    this.reports.push({ error, fields });
  }
}

class Count {
  n = 0;
  inc(): void {
    this.n++;
  }
}

/** Timers run by hand: `runInterval` fires the interval, then every step the sweeper chains (I/O would run between them). */
class HandTimers implements SweepTimers {
  private tick: (() => void) | null = null;
  private queue: { fn: () => void; cancelled: boolean }[] = [];
  /** Chained rounds run by the last runInterval. */
  chained = 0;

  every(_ms: number, fn: () => void): () => void {
    this.tick = fn;
    return () => {
      this.tick = null;
    };
  }

  soon(fn: () => void): () => void {
    const entry = { fn, cancelled: false };
    this.queue.push(entry);
    return () => {
      entry.cancelled = true;
    };
  }

  runInterval(): void {
    assert.ok(this.tick, 'the sweeper is running');
    this.chained = 0;
    this.tick();
    while (this.queue.length > 0) {
      const entry = this.queue.shift()!;
      if (entry.cancelled) continue;
      this.chained++;
      entry.fn();
    }
  }
}

/** A monotonic milliseconds clock that moves `tickMs` every time it is read: work costs time. */
function workClock(tickMs: number): { ms: number; read: () => number } {
  const c = { ms: 0, read: () => (c.ms += tickMs) };
  return c;
}

const INTERVAL_MS = 1000;
const BUDGET_MS = 4;
const TICK_MS = 0.1;

interface Rig {
  c: TestClock;
  store: SwarmStore;
  sweeper: Sweeper;
  timers: HandTimers;
  ms: ReturnType<typeof workClock>;
  steps: SweepResult[];
  saturated: Count;
}

/** A swarm whose packed store holds `torrents` one-peer torrents, all expired, and a sweeper on hand-run timers. */
function flooded(torrents: number, maxDutyPercent: number, fresh = 0): Rig {
  const c = clock(1_000_000);
  const ms = workClock(TICK_MS);
  const store = makeStore({ peerTimeoutSeconds: 600 }, { now: c.now, monotonicMs: ms.read });
  for (let t = 0; t < torrents; t++) announce(store, hash(t), v4(t));
  c.t += 601;
  for (let t = 0; t < fresh; t++) announce(store, hash(t), v4(t));
  const steps: SweepResult[] = [];
  const step = store.sweepStep.bind(store);
  store.sweepStep = (budgetMs) => {
    const r = step(budgetMs);
    steps.push(r);
    return r;
  };
  const webtorrent = new WebTorrentSwarms({ intervalSeconds: 120, peerTimeoutSeconds: 300, offerTtlSeconds: 60, maxPendingOffers: 1000 });
  const swarm = new Swarm(store, webtorrent, { now: c.now, failures: new RecordingSink() });
  const timers = new HandTimers();
  const saturated = new Count();
  const sweeper = new Sweeper(swarm.sweepTasks(), {
    intervalMs: INTERVAL_MS,
    budgetMs: BUDGET_MS,
    maxDutyPercent,
    failures: new RecordingSink(),
    saturated,
    clockMs: ms.read,
    timers,
  });
  sweeper.start();
  return { c, store, sweeper, timers, ms, steps, saturated };
}

/** Runs intervals until the store is empty (or `max`); returns how many it took. */
function intervalsToEmpty(rig: Rig, max: number, keep = 0): number {
  let n = 0;
  while (rig.store.stats().torrents > keep && n < max) {
    const before = rig.ms.ms;
    rig.timers.runInterval();
    n++;
    const spent = rig.ms.ms - before;
    assert.ok(spent <= INTERVAL_MS * 0.5 + BUDGET_MS + 1, `interval ${n} swept for ${spent} ms`);
  }
  return n;
}

describe('Sweeper', () => {
  const TORRENTS = 200_000;
  /** Most a step can do before its clock reads past the budget: one check interval over. */
  const MAX_VISITS_PER_STEP = (BUDGET_MS / TICK_MS + 1) * SWEEP_CHECK_EVERY;

  it('frees a flood of expired torrents within an interval or two, where one step per interval needs dozens', { timeout: 120_000 }, (t) => {
    const slow = flooded(TORRENTS, 0);
    const slowIntervals = intervalsToEmpty(slow, 1000);
    assert.ok(slowIntervals >= 50, `one step per interval took ${slowIntervals} intervals`);

    const fast = flooded(TORRENTS, 50);
    const fastIntervals = intervalsToEmpty(fast, 1000);
    assert.ok(fastIntervals <= 2, `adaptive sweeping took ${fastIntervals} intervals`);
    assert.equal(fast.store.stats().peers.v4.leechers, 0);
    assert.ok(fast.steps.length >= slowIntervals - 1, 'the same number of steps, just sooner');
    for (const r of fast.steps) assert.ok(r.visited <= MAX_VISITS_PER_STEP, `a step did ${r.visited} units of work`);
    assert.equal(fast.saturated.n, 0);
    t.diagnostic(`${TORRENTS} expired torrents: ${slowIntervals} intervals at one step each, ${fastIntervals} adaptive (${fast.steps.length} steps)`);
  });

  it('stops at the duty cap, counts the interval, and goes on in the next', { timeout: 120_000 }, (t) => {
    const rig = flooded(TORRENTS, 10);
    const intervals = intervalsToEmpty(rig, 1000);
    // ~100 ms of sweeping per interval = ~24 steps of ~5k units; ~80 steps are needed.
    assert.ok(intervals >= 3 && intervals <= 6, `${intervals} intervals`);
    assert.equal(rig.saturated.n, intervals - 1, 'every interval but the last ended behind');
    t.diagnostic(`duty 10%: ${intervals} intervals, ${rig.steps.length} steps`);
    for (const r of rig.steps) assert.ok(r.visited <= MAX_VISITS_PER_STEP);
  });

  it('does not chain steps while expiry keeps up (a few peers expiring among many)', { timeout: 120_000 }, () => {
    // 100k torrents, 99% of them re-announced after the clock moved: 1% expired.
    const rig = flooded(100_000, 50, 99_000);
    const intervals = intervalsToEmpty(rig, 100, 99_000);
    assert.equal(rig.store.stats().torrents, 99_000);
    assert.ok(intervals >= 20, `${intervals} intervals: one step each`);
    assert.equal(rig.steps.length, intervals, 'one step per interval');
    // Control: the same sweeper chains when the same store is flooded (above), so this is the rule at work.
  });

  it('chains WebTorrent steps too while they find much expired (the WebTorrent store keeps its own clock for budgets)', () => {
    const run = (maxDutyPercent: number) => {
      const c = clock(1_000);
      const webtorrent = new WebTorrentSwarms({ intervalSeconds: 120, peerTimeoutSeconds: 300, offerTtlSeconds: 60, maxPendingOffers: 1000 });
      for (let i = 0; i < 100_000; i++) {
        const id = String(i).padStart(20, '0');
        webtorrent.announce(
          { type: 'wt-announce', infoHash: hash(i % 1000), peerId: id, from: { edge: 'e', socket: i }, event: 0, seeder: false, offers: [] },
          c.t,
        );
      }
      c.t += 301;
      let steps = 0;
      const step = webtorrent.sweepStep.bind(webtorrent);
      webtorrent.sweepStep = (budgetMs, now) => {
        steps++;
        return step(budgetMs, now);
      };
      const swarm = new Swarm(makeStore(), webtorrent, { now: c.now, failures: new RecordingSink() });
      const timers = new HandTimers();
      const sweeper = new Sweeper(swarm.sweepTasks(), {
        intervalMs: INTERVAL_MS,
        budgetMs: 1,
        maxDutyPercent,
        failures: new RecordingSink(),
        clockMs: workClock(TICK_MS).read,
        timers,
      });
      sweeper.start();
      timers.runInterval();
      return { steps, left: webtorrent.stats().leechers };
    };
    const one = run(0);
    assert.equal(one.steps, 1, 'control: one step per interval');
    const adaptive = run(50);
    assert.equal(adaptive.left, 0, 'every expired WebTorrent peer went in one interval');
    assert.ok(adaptive.steps > 1, `${adaptive.steps} steps`);
  });

  it('reports a task that throws, runs the other tasks, and retries at the next interval', () => {
    const timers = new HandTimers();
    const sink = new RecordingSink();
    let calls = 0;
    let others = 0;
    const boom: SweepTask = {
      name: 'boom',
      step: () => {
        calls++;
        throw new Error('sweep bug');
      },
    };
    const fine: SweepTask = {
      name: 'fine',
      step: () => {
        others++;
        return { behind: false };
      },
    };
    const sweeper = new Sweeper([boom, fine], { intervalMs: 10, budgetMs: 1, maxDutyPercent: 50, failures: sink, timers });
    sweeper.start();
    timers.runInterval();
    timers.runInterval();
    assert.equal(calls, 2);
    assert.equal(others, 2);
    assert.equal(sink.count, 2);
    assert.equal((sink.reports[0].error as Error).message, 'sweep bug');
    assert.deepEqual(sink.reports[0].fields, { task: 'boom' });
    sweeper.stop();
  });

  it('a chained step queued when the sweeper stops does not run', () => {
    const timers = new HandTimers();
    let steps = 0;
    const behind: SweepTask = {
      name: 'behind',
      step: () => {
        steps++;
        if (steps === 1) sweeper.stop();
        return { behind: true };
      },
    };
    const sweeper = new Sweeper([behind], { intervalMs: 1000, budgetMs: 1, maxDutyPercent: 100, failures: new RecordingSink(), timers, clockMs: workClock(1).read });
    sweeper.start();
    timers.runInterval();
    assert.equal(steps, 1);
    assert.equal(timers.chained, 0);
  });

  it('runs on the event loop\'s timers until stopped', async () => {
    const c = clock(1_000);
    const store = makeStore({ peerTimeoutSeconds: 10 }, { now: c.now });
    for (let i = 0; i < 100; i++) announce(store, hash(1), v4(i));
    c.t = 2_000;
    const swarm = new Swarm(store, new WebTorrentSwarms({ intervalSeconds: 120, peerTimeoutSeconds: 300, offerTtlSeconds: 60, maxPendingOffers: 1000 }), {
      now: c.now,
      failures: new RecordingSink(),
    });
    swarm.startSweeper({ intervalMs: 5, budgetMs: 1, maxDutyPercent: 50 });
    const deadline = Date.now() + 5000;
    while (store.stats().torrents > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    swarm.stopSweeper();
    assert.equal(store.stats().torrents, 0);
    // Stopped: new stale peers stay.
    announce(store, hash(2), v4(1));
    c.t = 3_000;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(store.stats().torrents, 1);
  });
});

describe('Swarm reports what it catches', () => {
  it('an announce that throws gets "internal error", is reported, and does not fail the rest of the batch', () => {
    const store = makeStore();
    const sink = new RecordingSink();
    const swarm = new Swarm(store, new WebTorrentSwarms({ intervalSeconds: 120, peerTimeoutSeconds: 300, offerTtlSeconds: 60, maxPendingOffers: 1000 }), { failures: sink });
    store.announce = () => {
      throw new Error('store bug');
    };
    const replies = swarm.handle([
      { type: 'announce', infoHash: hash(1), peerId: 'x'.repeat(20), endpoint: v4(1), event: 0, left: 0, numwant: 10 },
      { type: 'scrape', infoHashes: [hash(1)] },
    ]);
    assert.deepEqual(replies[0], { type: 'error', message: 'internal error' });
    assert.equal(replies[1].type, 'scrape');
    assert.equal(sink.count, 1);
    assert.equal((sink.reports[0].error as Error).message, 'store bug');
    assert.deepEqual(sink.reports[0].fields, { request: 'announce' });
    const one = swarm.handleOne({ type: 'announce', infoHash: hash(1), peerId: 'x'.repeat(20), endpoint: v4(1), event: 0, left: 0, numwant: 10 });
    assert.deepEqual(one, { type: 'error', message: 'internal error' });
    assert.equal(sink.count, 2);
  });
});
