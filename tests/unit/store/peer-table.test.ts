import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { INDEX_MIN_CAPACITY } from '../../../services/swarm/store/peer-table.js';
import { SlabAllocator } from '../../../services/swarm/store/slab.js';
import { announce, hash, hex, makeStore, v4, v6 } from '../../support/swarm-store.js';
import { int, mulberry32 } from '../../support/seeded-random.js';

describe('SlabAllocator', () => {
  it('hands out disjoint blocks and releases empty pages', () => {
    const slab = new SlabAllocator(11);
    const rnd = mulberry32(3);
    const live: { h: number; k: number; tag: number }[] = [];
    const fill = (h: number, k: number, tag: number) => {
      const page = slab.pages[h >>> 16]!;
      const o = h & 0xffff;
      const n = slab.blockBytes(k);
      assert.ok(o + n <= page.length, 'block inside its page');
      page.fill(tag, o, o + n);
    };
    const check = (h: number, k: number, tag: number) => {
      const page = slab.pages[h >>> 16]!;
      const o = h & 0xffff;
      for (let j = 0; j < slab.blockBytes(k); j++) if (page[o + j] !== tag) return false;
      return true;
    };
    for (let step = 0; step < 20_000; step++) {
      if (live.length > 0 && rnd() < 0.45) {
        const i = int(rnd, live.length);
        const b = live[i];
        assert.ok(check(b.h, b.k, b.tag), 'block contents intact until freed');
        slab.free(b.h, b.k);
        live[i] = live[live.length - 1];
        live.pop();
      } else {
        const k = Math.floor(rnd() * rnd() * 14); // mostly small classes, some dedicated
        const tag = 1 + int(rnd, 255);
        const h = slab.alloc(k);
        fill(h, k, tag);
        live.push({ h, k, tag });
      }
    }
    for (const b of live) assert.ok(check(b.h, b.k, b.tag));
    const used = live.reduce((a, b) => a + slab.blockBytes(b.k), 0);
    assert.equal(slab.usedBytes, used);
    for (const b of live) slab.free(b.h, b.k);
    assert.equal(slab.usedBytes, 0);
    // At most one (empty) page kept per shared class.
    assert.ok(slab.pageCount <= slab.maxSharedClass + 1, `pages left: ${slab.pageCount}`);
  });
});

/**
 * Model-based property test: one torrent driven to 100k peers and back by a
 * seeded random sequence of announces (insert, refresh, leecher<->seeder,
 * completed, stopped), compared after every step with a plain Map model, with
 * full structural validation (records, partition, hash index) at checkpoints.
 */
describe('PeerTable against a Map model', () => {
  interface ModelPeer {
    seeder: boolean;
    completed: boolean;
  }

  function run(family: 4 | 6, target: number, ops: number, seed: number) {
    const rnd = mulberry32(seed);
    const s = makeStore({ numwantMax: 10 }, { random: mulberry32(seed + 1) });
    const H = hash(seed);
    const mk = family === 4 ? v4 : v6;
    const pool = Math.ceil(target * 1.3);
    const model = new Map<number, ModelPeer>();
    let downloaded = 0;
    let seeders = 0;
    const apply = (id: number, kind: 'up' | 'seed' | 'leech' | 'complete' | 'stop') => {
      const ep = mk(id, 1000 + (id % 50_000));
      if (kind === 'stop') {
        const r = announce(s, H, ep, { event: AnnounceEvent.Stopped });
        const p = model.get(id);
        if (p) {
          if (p.seeder) seeders--;
          model.delete(id);
        }
        assert.equal(r.peers.length, 0);
        return r;
      }
      let p = model.get(id);
      const left = kind === 'seed' || kind === 'complete' ? 0 : kind === 'leech' ? 7 : p?.seeder ? 0 : 7;
      const r = announce(s, H, ep, {
        left,
        event: kind === 'complete' ? AnnounceEvent.Completed : AnnounceEvent.None,
        numwant: 3,
      });
      if (!p) {
        p = { seeder: false, completed: false };
        model.set(id, p);
      }
      if (p.seeder !== (left === 0)) seeders += left === 0 ? 1 : -1;
      p.seeder = left === 0;
      if (kind === 'complete' && !p.completed) {
        p.completed = true;
        downloaded++;
      }
      const w = family === 4 ? 6 : 18;
      const self = hex(ep);
      for (let o = 0; o < r.peers.length; o += w) assert.notEqual(hex(r.peers.subarray(o, o + w)), self);
      return r;
    };
    const check = (r: { complete: number; incomplete: number; downloaded: number }, where: string) => {
      assert.equal(r.complete, seeders, `${where}: seeders`);
      assert.equal(r.incomplete, model.size - seeders, `${where}: leechers`);
      assert.equal(r.downloaded, downloaded, `${where}: downloaded`);
    };
    const deep = (where: string) => {
      assert.equal(s.validate(H), null, where);
      const stored = s.endpoints(H, family).map(hex).sort();
      const want = [...model.keys()].map((id) => hex(mk(id, 1000 + (id % 50_000)))).sort();
      assert.deepEqual(stored, want, `${where}: peer set`);
      const st = s.stats().peers[family === 4 ? 'v4' : 'v6'];
      assert.equal(st.seeders, seeders);
      assert.equal(st.leechers, model.size - seeders);
    };

    // Phase 1: grow to `target` with some churn.
    let step = 0;
    while (model.size < target) {
      const id = int(rnd, pool);
      const x = rnd();
      const r = apply(id, x < 0.05 ? 'stop' : x < 0.5 ? 'seed' : x < 0.55 ? 'complete' : 'leech');
      check(r, `grow ${step}`);
      if (++step % 25_000 === 0) deep(`grow ${step}`);
    }
    deep('after growth');
    assert.ok(s.v4.hasIndex(0) || s.v6.hasIndex(0), 'a big torrent has a hash index');
    // Phase 2: mixed steady state.
    for (let i = 0; i < ops; i++) {
      const id = int(rnd, pool);
      const x = rnd();
      const kind = x < 0.3 ? 'stop' : x < 0.5 ? 'seed' : x < 0.6 ? 'complete' : x < 0.8 ? 'leech' : 'up';
      check(apply(id, kind), `mixed ${i}`);
      if (i % 50_000 === 0) deep(`mixed ${i}`);
    }
    deep('after mixed');
    // Phase 3: shrink to a handful (through every size class, dropping the index).
    const ids = [...model.keys()];
    for (let i = 0; i < ids.length - 5; i++) {
      check(apply(ids[i], 'stop'), `shrink ${i}`);
      if (i % 20_000 === 0) deep(`shrink ${i}`);
    }
    deep('after shrink');
    assert.equal(model.size, 5);
    const tableCap = family === 4 ? s.v4.capacity(0) : s.v6.capacity(0);
    assert.ok(tableCap <= 8 && tableCap < INDEX_MIN_CAPACITY, `capacity ${tableCap} after shrinking`);
    for (const id of [...model.keys()]) apply(id, 'stop');
    assert.equal(s.stats().peers.v4.seeders + s.stats().peers.v4.leechers + s.stats().peers.v6.leechers + s.stats().peers.v6.seeders, 0);
    assert.equal(s.v4.slab.usedBytes + s.v6.slab.usedBytes, 0);
  }

  it('IPv4: 100k peers, index stays consistent under many inserts and removes', { timeout: 120_000 }, () => {
    run(4, 100_000, 300_000, 11);
  });

  it('IPv6: 20k peers', { timeout: 120_000 }, () => {
    run(6, 20_000, 60_000, 12);
  });

  it('many small torrents share slab pages correctly', () => {
    const s = makeStore({ numwantMax: 100 }, { random: mulberry32(5) });
    const rnd = mulberry32(6);
    const model = new Map<number, Set<number>>();
    for (let i = 0; i < 60_000; i++) {
      const t = int(rnd, 500);
      const p = int(rnd, 40);
      const stop = rnd() < 0.35;
      announce(s, hash(t), v4(p), { event: stop ? AnnounceEvent.Stopped : AnnounceEvent.None });
      let set = model.get(t);
      if (!set) model.set(t, (set = new Set()));
      if (stop) set.delete(p);
      else set.add(p);
    }
    for (const [t, set] of model) {
      assert.equal(s.validate(hash(t)), null);
      assert.deepEqual(s.endpoints(hash(t), 4).map(hex).sort(), [...set].map((p) => hex(v4(p))).sort());
    }
  });
});
