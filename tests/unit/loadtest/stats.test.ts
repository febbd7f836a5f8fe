/**
 * Latency histogram, percentiles and summary math of the load generator.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  HISTOGRAM_BUCKETS,
  LatencyHistogram,
  addCounters,
  bucketOf,
  bucketUpperBound,
  formatSummary,
  summarize,
  zeroCounters,
} from '../../../bench/loadtest/stats.js';
import { split, progressLine } from '../../../bench/loadtest/runner.js';

describe('histogram buckets', () => {
  it('every value lands in a bucket whose upper bound is >= it and within ~3%', () => {
    let prev = -1;
    for (let v = 0; v < 5_000_000; v = v < 200 ? v + 1 : Math.ceil(v * 1.013)) {
      const b = bucketOf(v);
      assert.ok(b >= prev, `monotonic at ${v}`);
      prev = b;
      assert.ok(b >= 0 && b < HISTOGRAM_BUCKETS);
      const ub = bucketUpperBound(b);
      assert.ok(ub >= v, `upper bound ${ub} < ${v}`);
      if (v >= 64) assert.ok((ub - v) / v <= 1 / 32 + 1e-9, `bucket too wide at ${v}`);
      else assert.equal(ub, v);
    }
  });

  it('bucket upper bounds are contiguous (b+1 starts right after b)', () => {
    for (let b = 0; b < HISTOGRAM_BUCKETS - 1; b++) {
      assert.equal(bucketOf(bucketUpperBound(b)), b);
      assert.equal(bucketOf(bucketUpperBound(b) + 1), b + 1);
    }
  });

  it('clamps huge, negative and NaN values', () => {
    assert.equal(bucketOf(-5), 0);
    assert.equal(bucketOf(NaN), 0);
    assert.equal(bucketOf(1e15), HISTOGRAM_BUCKETS - 1);
    assert.equal(bucketOf(12.7), 12);
  });
});

describe('percentiles', () => {
  it('uniform 1..10000 us: p50/p90/p99 within one bucket, max exact', () => {
    const h = new LatencyHistogram();
    for (let v = 1; v <= 10_000; v++) h.record(v);
    const close = (got: number, want: number): void =>
      assert.ok(got >= want && got <= want * (1 + 1 / 32) + 1, `got ${got}, want ~${want}`);
    close(h.percentile(0.5), 5000);
    close(h.percentile(0.9), 9000);
    close(h.percentile(0.99), 9900);
    assert.equal(h.percentile(1), 10_000);
    assert.equal(h.max, 10_000);
    assert.equal(h.mean(), 5000.5);
  });

  it('empty histogram gives zeros; a single value is every percentile', () => {
    const h = new LatencyHistogram();
    assert.equal(h.percentile(0.5), 0);
    assert.equal(h.mean(), 0);
    h.record(777);
    assert.equal(h.percentile(0), 777);
    assert.equal(h.percentile(0.99), 777);
  });

  it('merge = recording everything in one', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    const all = new LatencyHistogram();
    for (let i = 0; i < 1000; i++) {
      const v = (i * 7919) % 3000;
      (i % 2 ? a : b).record(v);
      all.record(v);
    }
    a.merge(b.toJSON());
    assert.deepEqual(Array.from(a.counts), Array.from(all.counts));
    assert.equal(a.count, all.count);
    assert.equal(a.sum, all.sum);
    assert.equal(a.max, all.max);
    assert.equal(a.percentile(0.9), all.percentile(0.9));
  });
});

describe('summary', () => {
  it('replies/s, peers per announce, lost ratio, latency in ms', () => {
    const c = addCounters(zeroCounters(), { ...zeroCounters(), sent: 1000, announces: 900, scrapes: 9, lost: 10, errors: 3, peers: 45_000 });
    const h = new LatencyHistogram();
    for (let i = 0; i < 909; i++) h.record(1500);
    const s = summarize({
      protocol: 'udp',
      engine: 'node',
      target: '127.0.0.1:1',
      seed: 1,
      workers: 1,
      sockets: 4,
      window: 2,
      warmupSeconds: 1,
      durationSeconds: 2,
      measuredSeconds: 2,
      counters: c,
      histogram: h,
      truncated: false,
      model: {},
      generatorCpuSeconds: 0.5,
    });
    assert.equal(s.replies, 909);
    assert.equal(s.repliesPerSecond, 455);
    assert.equal(s.announcesPerSecond, 450);
    assert.equal(s.avgPeersPerAnnounce, 50);
    assert.equal(s.lostRatio, 0.01);
    assert.ok(s.latencyMs.p50 >= 1.5 && s.latencyMs.p50 <= 1.55);
    assert.equal(s.latencyMs.max, 1.5);
    assert.equal(s.latencyMs.mean, 1.5);
    const text = formatSummary(s);
    assert.match(text, /replies\/s\s+455/);
    assert.match(text, /peers\/announce 50/);
  });

  it('no time, no replies: zeros rather than NaN', () => {
    const s = summarize({
      protocol: 'http',
      engine: 'node',
      target: 't',
      seed: 1,
      workers: 1,
      sockets: 1,
      window: 1,
      warmupSeconds: 0,
      durationSeconds: 0,
      measuredSeconds: 0,
      counters: zeroCounters(),
      histogram: new LatencyHistogram(),
      truncated: true,
      model: {},
    });
    assert.equal(s.repliesPerSecond, 0);
    assert.equal(s.avgPeersPerAnnounce, 0);
    assert.equal(s.lostRatio, 0);
    assert.match(formatSummary(s), /HARD STOP/);
  });

  it('split spreads sockets over workers', () => {
    assert.deepEqual(split(10, 3), [
      [0, 4],
      [4, 3],
      [7, 3],
    ]);
    assert.deepEqual(split(2, 2), [
      [0, 1],
      [1, 1],
    ]);
  });

  it('progress line', () => {
    assert.equal(
      progressLine(3, 'measuring', { replies: 123456.4, sent: 2000, errors: 1, lost: 0, invalid: 0 }),
      '[  3s measuring]   123,456 replies/s  sent 2,000/s  errors 1  lost 0  invalid 0',
    );
  });
});
