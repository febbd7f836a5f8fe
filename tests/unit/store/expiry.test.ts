import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { SWEEP_CHECK_EVERY, type SwarmStore } from '../../../services/swarm/store/swarm-store.js';
import { announce, clock, hash, hex, makeStore, split, v4, v6 } from '../../support/swarm-store.js';

/** One sweep step's outcome without its work count. */
function step(s: SwarmStore, budgetMs: number): { done: boolean; removed: number } {
  const r = s.sweepStep(budgetMs);
  return { done: r.done, removed: r.removed };
}

describe('SwarmStore expiry', () => {
  it('removes peers not seen for peerTimeoutSeconds and deletes empty torrents', () => {
    const c = clock(10_000);
    const s = makeStore({ peerTimeoutSeconds: 100 }, { now: c.now });
    announce(s, hash(1), v4(1), { left: 0, event: AnnounceEvent.Completed });
    announce(s, hash(1), v4(2));
    announce(s, hash(2), v6(1));
    c.t = 10_050;
    announce(s, hash(1), v4(2)); // refreshed
    c.t = 10_099;
    let r = step(s, 1000);
    assert.deepEqual(r, { done: true, removed: 0 });
    c.t = 10_100;
    r = step(s, 1000);
    assert.deepEqual(r, { done: true, removed: 2 });
    assert.deepEqual(s.stats(), { torrents: 1, peers: { v4: { seeders: 0, leechers: 1 }, v6: { seeders: 0, leechers: 0 } } });
    const sc = s.handle([{ type: 'scrape', infoHashes: [hash(1), hash(2)] }])[0];
    assert.deepEqual(sc, {
      type: 'scrape',
      files: [
        { complete: 0, incomplete: 1, downloaded: 1 },
        { complete: 0, incomplete: 0, downloaded: 0 },
      ],
    });
    c.t = 10_150;
    assert.deepEqual(step(s, 1000), { done: true, removed: 1 });
    assert.equal(s.stats().torrents, 0);
    // Torrent ids are reused cleanly after deletion.
    const a = announce(s, hash(3), v4(9));
    assert.equal(a.incomplete, 1);
    assert.equal(a.downloaded, 0);
    assert.equal(s.stats().torrents, 1);
  });

  it('sweeps incrementally: bounded work per step, resuming across calls', () => {
    const c = clock(1_000);
    const s = makeStore({ peerTimeoutSeconds: 60 }, { now: c.now });
    const torrents = 50;
    const perTorrent = 400; // big enough to need several steps inside one torrent
    let total = 0;
    for (let t = 0; t < torrents; t++) {
      for (let i = 0; i < perTorrent; i++) {
        announce(s, hash(t), v4(i), { left: i % 2 });
        total++;
      }
    }
    // Half of the peers of every torrent stay fresh.
    c.t = 1_030;
    for (let t = 0; t < torrents; t++) for (let i = 0; i < perTorrent; i += 2) announce(s, hash(t), v4(i), { left: 0 });
    c.t = 1_070;
    let removed = 0;
    let steps = 0;
    for (;;) {
      const r = s.sweepStep(0); // zero budget: one unit of work per step
      steps++;
      assert.ok(r.removed <= SWEEP_CHECK_EVERY, `step removed ${r.removed}`);
      removed += r.removed;
      if (r.done) break;
      assert.ok(steps < 10_000, 'sweep must finish');
    }
    assert.equal(removed, total / 2);
    assert.ok(steps >= Math.floor(total / SWEEP_CHECK_EVERY), `only ${steps} steps`);
    assert.deepEqual(s.stats().peers.v4, { seeders: total / 2, leechers: 0 });
    for (let t = 0; t < torrents; t++) assert.equal(s.validate(hash(t)), null);
    // The next pass starts over and finds nothing more to do.
    let r;
    do r = s.sweepStep(1000);
    while (!r.done);
    assert.equal(s.stats().peers.v4.seeders, total / 2);
  });

  it('stays correct when announces modify a torrent between sweep steps', () => {
    const c = clock(1_000);
    const s = makeStore({ peerTimeoutSeconds: 60, numwantMax: 5000 }, { now: c.now });
    const H = hash(5);
    for (let i = 0; i < 3000; i++) announce(s, H, v4(i), { left: i % 3 });
    c.t = 1_100;
    let keep = 3000;
    let step = 0;
    for (;;) {
      const r = s.sweepStep(0);
      // Mutate in the middle of the sweep: new peers, status changes, stops.
      announce(s, H, v4(keep++), { left: step % 2 });
      announce(s, H, v4(100_000 + step), { left: 0 });
      announce(s, H, v4(100_000 + step), { event: AnnounceEvent.Stopped });
      step++;
      assert.equal(s.validate(H), null);
      if (r.done) break;
    }
    // Every fresh peer survived; the old ones may need one more pass.
    let r;
    do r = s.sweepStep(1000);
    while (!r.done);
    const left = new Set(s.endpoints(H, 4).map(hex));
    assert.equal(left.size, keep - 3000);
    for (let i = 3000; i < keep; i++) assert.ok(left.has(hex(v4(i))));
    const st = s.stats().peers.v4;
    assert.equal(st.seeders + st.leechers, keep - 3000);
    assert.equal(split(announce(s, H, v4(3000), { numwant: 5000 }).peers, 6).length, keep - 3000 - 1);
  });

  it('finishes a pass in one step when the budget allows it', () => {
    // Wall-clock bounds are measured by bench/memory.ts, not asserted here.
    const c = clock(1_000);
    const s = makeStore({ peerTimeoutSeconds: 10 }, { now: c.now });
    for (let t = 0; t < 2000; t++) for (let i = 0; i < 20; i++) announce(s, hash(t), v4(i));
    c.t = 2_000;
    assert.deepEqual(s.sweepStep(60_000), { done: true, removed: 40_000, deleted: 2000, visited: 42_000 });
    assert.equal(s.stats().torrents, 0);
    assert.deepEqual(step(s, 60_000), { done: true, removed: 0 });
  });
});
