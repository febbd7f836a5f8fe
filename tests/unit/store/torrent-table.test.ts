import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TorrentTable } from '../../../services/swarm/store/torrent-table.js';
import { int, mulberry32, pick, randomBinary } from '../../support/seeded-random.js';

describe('TorrentTable', () => {
  it('agrees with a Map under a seeded random sequence of adds and deletes', () => {
    const rnd = mulberry32(99);
    const t = new TorrentTable(1234, 16);
    const model = new Map<string, number>();
    const byId = new Map<number, string>();
    const free: number[] = [];
    let high = 0;
    let cap = 16;
    const keys: string[] = [];
    for (let step = 0; step < 200_000; step++) {
      const x = rnd();
      // Grow to ~30k keys, then shrink back down (exercises rehash both ways).
      const addBias = step < 100_000 ? 0.7 : 0.2;
      if (x < addBias || model.size === 0) {
        const key = keys.length > 0 && rnd() < 0.2 ? pick(rnd, keys) : randomBinary(rnd, 20);
        keys.push(key);
        if (model.has(key)) {
          assert.equal(t.get(key), model.get(key));
          continue;
        }
        assert.equal(t.get(key), -1);
        const id = free.pop() ?? high++;
        if (id >= cap) {
          cap *= 2;
          t.setIdCapacity(cap);
        }
        t.add(key, id);
        model.set(key, id);
        byId.set(id, key);
      } else {
        const ids = [...byId.keys()];
        const id = ids[int(rnd, Math.min(ids.length, 64))];
        const key = byId.get(id)!;
        t.delete(id);
        model.delete(key);
        byId.delete(id);
        free.push(id);
        assert.equal(t.get(key), -1);
      }
      if (step % 20_000 === 0 || step === 199_999) {
        assert.equal(t.size, model.size);
        for (const [k, id] of model) {
          assert.equal(t.get(k), id);
          assert.equal(t.keyOf(id), k);
        }
      }
    }
  });

  it('rejects keys it cannot store and never finds them', () => {
    assert.equal(TorrentTable.valid('a'.repeat(20)), true);
    assert.equal(TorrentTable.valid('a'.repeat(19)), false);
    assert.equal(TorrentTable.valid('\u0100' + 'a'.repeat(19)), false);
    const t = new TorrentTable(1, 4);
    t.add('\u00ff'.repeat(20), 0);
    assert.equal(t.get('\u00ff'.repeat(20)), 0);
    assert.equal(t.get('\u01ff'.repeat(20)), -1);
    assert.equal(t.get(''), -1);
  });
});
