/**
 * The load model: seeded torrent set, popularity sampling, request mix, peer pool.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Sfc32, fmix32, mix3 } from '../../../bench/loadtest/rng.js';
import {
  DEFAULT_MODEL,
  GammaSampler,
  LoadModel,
  MAX_SOURCES,
  flowSources,
  parseLoopbackV4,
  ZipfSampler,
  newPlannedRequest,
  peerId,
  sourceAddress,
  torrentHash,
  torrentHashHex,
  validateModel,
  type LoadModelOptions,
} from '../../../bench/loadtest/model.js';

const model = (o: Partial<LoadModelOptions> = {}): LoadModel => new LoadModel({ ...DEFAULT_MODEL, ...o });

describe('rng', () => {
  it('fmix32 is the MurmurHash3 finaliser (uint32 out)', () => {
    assert.equal(fmix32(0), 0);
    assert.equal(fmix32(1), 0x514e28b7);
    for (const x of [1, 0xffffffff, 0x80000000, 12345]) {
      const y = fmix32(x);
      assert.ok(Number.isInteger(y) && y >= 0 && y <= 0xffffffff);
    }
    assert.notEqual(mix3(1, 2, 3), mix3(1, 3, 2));
  });

  it('sfc32 is deterministic per (seed, stream) and streams differ', () => {
    const a = new Sfc32(7, 1);
    const b = new Sfc32(7, 1);
    const c = new Sfc32(7, 2);
    const sa = Array.from({ length: 5 }, () => a.nextU32());
    const sb = Array.from({ length: 5 }, () => b.nextU32());
    const sc = Array.from({ length: 5 }, () => c.nextU32());
    assert.deepEqual(sa, sb);
    assert.notDeepEqual(sa, sc);
    for (const v of sa) assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffffffff);
  });

  it('next() is uniform-looking in [0, 1) and below(n) stays in range', () => {
    const r = new Sfc32(1, 0);
    let sum = 0;
    const N = 100_000;
    for (let i = 0; i < N; i++) {
      const x = r.next();
      assert.ok(x >= 0 && x < 1);
      sum += x;
      const k = r.below(10);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 10);
    }
    assert.ok(Math.abs(sum / N - 0.5) < 0.01);
  });

  it('gamma has mean shape * scale', () => {
    const r = new Sfc32(3, 0);
    for (const [shape, scale] of [
      [2, 3],
      [0.2, 100],
    ]) {
      let sum = 0;
      const N = 200_000;
      for (let i = 0; i < N; i++) sum += r.gamma(shape, scale);
      const mean = sum / N;
      assert.ok(Math.abs(mean - shape * scale) / (shape * scale) < 0.05, `mean ${mean} for Gamma(${shape}, ${scale})`);
    }
  });
});

describe('torrent set and peer pool', () => {
  it('hashes are pinned (the C generator produces the same ones)', () => {
    assert.equal(torrentHashHex(1, 0), 'd5aad29276ded2c4fb829da8c1120c9ae92a8983');
    assert.equal(torrentHashHex(1, 1), '0b2df74fa59b4cdba45b23e2343a68beb92837e5');
    assert.equal(Buffer.from(torrentHash(1, 0), 'latin1').toString('hex'), torrentHashHex(1, 0));
    assert.equal(peerId(1, 0, 0, 4096), '-LG0001-cbcf01bb7b69');
  });

  it('a 10,000-torrent set has distinct 20-byte hashes, and the seed changes them', () => {
    const m = model();
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const h = m.hash(i);
      assert.equal(h.length, 20);
      seen.add(h);
    }
    assert.equal(seen.size, 10_000);
    assert.notEqual(torrentHash(2, 0), torrentHash(1, 0));
    assert.equal(m.hash(5), torrentHash(1, 5)); // cached = computed
  });

  it('the whitelist is one lower-case hex hash per line', () => {
    const lines = model({ torrents: 3 }).whitelist().trimEnd().split('\n');
    assert.equal(lines.length, 3);
    for (const l of lines) assert.match(l, /^[0-9a-f]{40}$/);
  });

  it('peers: printable 20-char ids, stable per (source, port), distinct across the pool', () => {
    const m = model({ sources: 4, portsPerSource: 100 });
    const ids = new Set<string>();
    for (let s = 0; s < 4; s++) {
      for (let p = 0; p < 100; p++) {
        const id = m.peerId(s, p);
        assert.match(id, /^-LG0001-[0-9a-f]{12}$/);
        assert.equal(id, peerId(1, s, p, 100));
        ids.add(id);
      }
    }
    assert.equal(ids.size, 400);
    assert.equal(m.port(0), 10_000);
    assert.equal(m.port(99), 10_099);
  });

  it('source addresses: consecutive from the first address, carrying into the next octets, all in 127.0.0.0/8', () => {
    const m: LoadModelOptions = { ...DEFAULT_MODEL, sources: 8, firstAddress: '127.0.0.254' };
    assert.deepEqual(
      Array.from({ length: 4 }, (_, i) => sourceAddress(m, i)),
      ['127.0.0.254', '127.0.0.255', '127.0.1.0', '127.0.1.1'],
    );
    assert.equal(sourceAddress(DEFAULT_MODEL, 0), '127.1.0.1');
    assert.equal(sourceAddress(DEFAULT_MODEL, DEFAULT_MODEL.sources - 1), '127.1.64.0');
    assert.equal(parseLoopbackV4('127.1.2.3'), 0x7f010203);
    for (const bad of ['10.0.0.1', '127.0.0.256', '127.0.0', 'localhost', '127.0.0.1 ']) assert.equal(parseLoopbackV4(bad), null, bad);
  });

  it('the default pool looks like the Internet: 16,384 addresses x 2 ports (one or two peers per address)', () => {
    assert.equal(DEFAULT_MODEL.sources, 16_384);
    assert.equal(DEFAULT_MODEL.portsPerSource, 2);
    const m = model();
    const ids = new Set<string>();
    for (let s = 0; s < m.options.sources; s += 97) for (let p = 0; p < 2; p++) ids.add(m.peerId(s, p));
    assert.equal(ids.size, 2 * Math.ceil(m.options.sources / 97));
  });

  it('flowSources: every address belongs to exactly one flow, shares differ by at most one', () => {
    for (const [sources, flows] of [
      [16_384, 64],
      [1000, 64],
      [65, 64],
      [64, 64],
    ]) {
      const owner = new Int32Array(sources).fill(-1);
      const counts: number[] = [];
      for (let k = 0; k < flows; k++) {
        const f = flowSources(sources, flows, k);
        counts.push(f.count);
        for (let i = 0; i < f.count; i++) {
          const s = f.first + i * f.step;
          assert.ok(s >= 0 && s < sources, `${sources}/${flows} flow ${k}: source ${s}`);
          assert.equal(owner[s], -1, `${sources}/${flows}: source ${s} owned twice`);
          owner[s] = k;
        }
      }
      assert.ok(owner.every((o) => o >= 0), `${sources}/${flows}: an address without a flow`);
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${sources}/${flows}: ${counts}`);
    }
    assert.deepEqual(flowSources(16_384, 64, 3), { first: 3, step: 64, count: 256 });
  });

  it('flowSources: with fewer addresses than flows, flows share them (flow k uses k mod sources)', () => {
    assert.deepEqual(flowSources(2, 4, 0), { first: 0, step: 4, count: 1 });
    assert.deepEqual(flowSources(2, 4, 3), { first: 1, step: 4, count: 1 });
  });

  it('validateModel rejects bad settings', () => {
    assert.equal(validateModel(DEFAULT_MODEL), null);
    assert.ok(validateModel({ ...DEFAULT_MODEL, torrents: 0 }));
    assert.ok(validateModel({ ...DEFAULT_MODEL, firstAddress: '10.0.0.1' }));
    assert.ok(validateModel({ ...DEFAULT_MODEL, firstAddress: '127.255.255.250', sources: 10 }), 'reaches the broadcast address');
    assert.equal(validateModel({ ...DEFAULT_MODEL, firstAddress: '127.255.255.245', sources: 10 }), null);
    assert.ok(validateModel({ ...DEFAULT_MODEL, sources: MAX_SOURCES + 1 }));
    assert.ok(validateModel({ ...DEFAULT_MODEL, sources: 1 << 16, portsPerSource: 1 << 9 }), 'pool over 2^24 peers');
    assert.ok(validateModel({ ...DEFAULT_MODEL, firstPort: 65000, portsPerSource: 1000 }));
    assert.ok(validateModel({ ...DEFAULT_MODEL, seederShare: 1.5 }));
    assert.ok(validateModel({ ...DEFAULT_MODEL, scrapeMaxHashes: 75 }));
    assert.throws(() => model({ torrents: -1 }), RangeError);
  });
});

describe('popularity', () => {
  it('Zipf(1) over 10,000: exact probabilities, inverse CDF at the edges', () => {
    const z = new ZipfSampler(10_000, 1);
    let h = 0;
    for (let k = 1; k <= 10_000; k++) h += 1 / k;
    assert.ok(Math.abs(z.probability(0) - 1 / h) < 1e-12);
    assert.ok(Math.abs(z.probability(9) - 1 / (10 * h)) < 1e-12);
    assert.equal(z.indexFor(0), 0);
    assert.equal(z.indexFor(0.999999999), 9_999);
    assert.equal(z.indexFor(0.5 / h), 0);
    assert.equal(z.indexFor(1.01 / h), 1);
  });

  it('Zipf(1) samples follow the distribution (top torrent ~10%, top 100 ~53%)', () => {
    const z = new ZipfSampler(10_000, 1);
    const r = new Sfc32(1, 0);
    const N = 200_000;
    let top = 0;
    let top100 = 0;
    for (let i = 0; i < N; i++) {
      const k = z.sample(r);
      assert.ok(k >= 0 && k < 10_000);
      if (k === 0) top++;
      if (k < 100) top100++;
    }
    assert.ok(Math.abs(top / N - z.probability(0)) < 0.005, `top ${top / N}`);
    assert.ok(Math.abs(top100 / N - 0.53) < 0.01, `top100 ${top100 / N}`);
  });

  it('Zipf(0) is uniform', () => {
    const z = new ZipfSampler(4, 0);
    for (let k = 0; k < 4; k++) assert.ok(Math.abs(z.probability(k) - 0.25) < 1e-12);
  });

  it('Gamma(0.2, 100) mapping: very hot head, indices in range', () => {
    const g = new GammaSampler(10_000, 0.2, 100);
    assert.equal(g.indexFor(0), 0);
    assert.equal(g.indexFor(1), 0);
    assert.equal(g.indexFor(101), 9_999);
    assert.equal(g.indexFor(1e9), 9_999);
    assert.equal(g.indexFor(51), Math.floor(0.5 * 9_999));
    const r = new Sfc32(1, 0);
    let zero = 0;
    const N = 100_000;
    for (let i = 0; i < N; i++) {
      const k = g.sample(r);
      assert.ok(k >= 0 && k < 10_000);
      if (k === 0) zero++;
    }
    assert.ok(zero / N > 0.38 && zero / N < 0.48, `P(index 0) = ${zero / N}`);
  });
});

describe('request mix', () => {
  it('announce:scrape 100:1, 1..10 distinct hashes per scrape, half seeders, ports from the pool', () => {
    const m = model();
    const r = new Sfc32(1, 0x1000);
    const p = newPlannedRequest();
    const N = 303_000;
    let scrapes = 0;
    let seeders = 0;
    let announces = 0;
    const counts = new Array<number>(11).fill(0);
    for (let i = 0; i < N; i++) {
      m.plan(r, p);
      if (p.kind === 'scrape') {
        scrapes++;
        assert.ok(p.scrapeCount >= 1 && p.scrapeCount <= 10);
        counts[p.scrapeCount]++;
        for (let j = 0; j < p.scrapeCount; j++) assert.ok(p.scrapeTorrents[j] >= 0 && p.scrapeTorrents[j] < 10_000);
        assert.equal(new Set(p.scrapeTorrents.subarray(0, p.scrapeCount)).size, p.scrapeCount, 'distinct hashes');
      } else {
        announces++;
        if (p.seeder) seeders++;
        assert.ok(p.portIndex >= 0 && p.portIndex < m.options.portsPerSource);
        assert.ok(p.torrent >= 0 && p.torrent < 10_000);
      }
    }
    assert.ok(Math.abs(scrapes / N - 1 / 101) < 0.001, `scrape share ${scrapes / N}`);
    assert.ok(Math.abs(seeders / announces - 0.5) < 0.01);
    for (let c = 1; c <= 10; c++) assert.ok(counts[c] > 0, `scrapes with ${c} hashes`);
  });

  it('is reproducible from the seed and stream', () => {
    const m = model();
    const seq = (seed: number): string[] => {
      const r = new Sfc32(seed, 0x1000);
      const p = newPlannedRequest();
      return Array.from({ length: 50 }, () => {
        m.plan(r, p);
        return p.kind === 'announce' ? `a${p.torrent}/${p.portIndex}/${p.seeder}` : `s${p.scrapeCount}`;
      });
    };
    assert.deepEqual(seq(1), seq(1));
    assert.notDeepEqual(seq(1), seq(2));
  });

  it('scrape ratio 0 disables scrapes; seeders 0 and 1 are exact', () => {
    const p = newPlannedRequest();
    for (const [share, expectSeeder] of [
      [0, false],
      [1, true],
    ] as const) {
      const m = model({ announcesPerScrape: 0, seederShare: share });
      const r = new Sfc32(9, 0);
      for (let i = 0; i < 5000; i++) {
        m.plan(r, p);
        assert.equal(p.kind, 'announce');
        assert.equal(p.seeder, expectSeeder);
      }
    }
  });
});
