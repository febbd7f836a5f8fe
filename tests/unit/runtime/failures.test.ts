import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../../lib/runtime/logger.js';
import { Failures } from '../../../lib/runtime/failures.js';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';

function setup(burst: number, intervalMs: number) {
  const raw: string[] = [];
  let now = 1_000;
  const logger = createLogger({ level: 'info', stream: { write: (chunk: string) => raw.push(chunk) } });
  const metrics = new TrackerMetrics({ defaultMetrics: false });
  const failures = new Failures(logger, (component) => metrics.internalErrorCounter(component), { burst, intervalMs, now: () => now });
  return {
    failures,
    metrics,
    lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>),
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('Failures: caught exceptions are counted and logged, rate-limited', () => {
  test('every failure is counted; only `burst` lines per window are written; the next line says how many were left out', async () => {
    const s = setup(2, 1_000);
    const sink = s.failures.for('grpc-server');
    for (let i = 0; i < 10; i++) sink.report(new Error(`boom ${i}`), { edge: 'edge-a' });
    assert.equal(sink.count, 10);
    assert.equal(s.lines().length, 2, 'two lines in the first window');
    assert.equal(s.lines()[0].level, 'error');
    assert.equal(s.lines()[0].component, 'grpc-server');
    assert.equal(s.lines()[0].edge, 'edge-a');
    assert.equal((s.lines()[0].error as { message: string }).message, 'boom 0');

    s.advance(999);
    sink.report(new Error('still the same window'));
    assert.equal(s.lines().length, 2, 'the window has not passed yet');

    s.advance(1);
    sink.report(new Error('next window'));
    assert.equal(s.lines().length, 3);
    assert.equal(s.lines()[2].suppressed, 9, 'the 9 failures left out are reported with the next line');

    const body = (await s.metrics.render()).body;
    assert.match(body, /tracker_internal_errors_total\{component="grpc-server"\} 12/);
  });

  test('components have their own windows and counters, and the same name gives the same sink', async () => {
    const s = setup(1, 1_000);
    const a = s.failures.for('swarm');
    const b = s.failures.for('ws');
    assert.equal(s.failures.for('swarm'), a);
    a.report(new Error('a1'));
    a.report(new Error('a2'));
    b.report(new Error('b1'));
    assert.deepEqual(
      s.lines().map((l) => (l.error as { message: string }).message),
      ['a1', 'b1'],
    );
    const body = (await s.metrics.render()).body;
    assert.match(body, /tracker_internal_errors_total\{component="swarm"\} 2/);
    assert.match(body, /tracker_internal_errors_total\{component="ws"\} 1/);
  });

  test('limit hits are counted under the config key of the limit', async () => {
    const metrics = new TrackerMetrics({ defaultMetrics: false });
    const hit = metrics.limitCounter('http.maxConnections');
    hit.inc();
    hit.inc(2);
    assert.match((await metrics.render()).body, /tracker_limit_hits_total\{limit="http.maxConnections"\} 3/);
  });
});
