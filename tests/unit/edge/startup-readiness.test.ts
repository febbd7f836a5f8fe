/**
 * An edge's start-up readiness (services/edge/startup-readiness.ts), with an
 * injected clock and streams: not ready while a swarm of its table has no
 * open stream; ready once every one has, or when cluster.edgeReadyWaitSeconds
 * runs out (counted once); latched either way.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../../lib/runtime/logger.js';
import { StartupReadiness, type SwarmStream } from '../../../services/edge/startup-readiness.js';

function setup(waitMs: number, swarms: SwarmStream[]) {
  let text = '';
  const logger = createLogger({ level: 'info', stream: { write: (line: string) => (text += line) } });
  let now = 1_000_000;
  let hits = 0;
  const streams = { list: swarms };
  const readiness = new StartupReadiness({
    swarms: () => streams.list,
    waitMs,
    logger,
    waitRanOut: { inc: () => void hits++ },
    now: () => now,
  });
  return {
    readiness,
    streams,
    advance: (ms: number) => void (now += ms),
    hits: () => hits,
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('StartupReadiness', () => {
  test('not ready while one swarm of the table has no open stream; ready once every one has (nothing counted)', () => {
    const t = setup(10_000, [
      { name: 'swarm-0', open: true },
      { name: 'swarm-1', open: false },
    ]);
    assert.equal(t.readiness.ready(), false, 'swarm-1 has no stream yet');
    t.advance(9_999);
    assert.equal(t.readiness.ready(), false, 'just before the wait runs out');
    t.streams.list = [
      { name: 'swarm-0', open: true },
      { name: 'swarm-1', open: true },
    ];
    assert.equal(t.readiness.ready(), true);
    assert.equal(t.hits(), 0);
    const line = t.lines().find((l) => l.msg === 'edge ready: a stream is open to every swarm');
    assert.deepEqual(line?.swarms, ['swarm-0', 'swarm-1']);
  });

  test('latched: a stream going down later does not make the edge unready', () => {
    const t = setup(10_000, [{ name: 'swarm-0', open: true }]);
    assert.equal(t.readiness.ready(), true);
    t.streams.list = [{ name: 'swarm-0', open: false }];
    t.advance(60_000);
    assert.equal(t.readiness.ready(), true);
    assert.equal(t.hits(), 0);
    assert.equal(t.lines().length, 1, 'logged once');
  });

  test('a swarm that never comes up keeps the edge out only until the wait runs out, counted once', () => {
    const t = setup(10_000, [
      { name: 'swarm-0', open: true },
      { name: 'swarm-1', open: false },
    ]);
    assert.equal(t.readiness.ready(), false);
    t.advance(10_000);
    assert.equal(t.readiness.ready(), true);
    assert.equal(t.readiness.ready(), true);
    assert.equal(t.hits(), 1);
    const warning = t.lines().filter((l) => l.level === 'warn');
    assert.equal(warning.length, 1);
    assert.deepEqual(warning[0].down, ['swarm-1']);
  });

  test('an edge that knows no swarm yet is not ready before the wait runs out', () => {
    const t = setup(5_000, []);
    assert.equal(t.readiness.ready(), false);
    t.advance(5_000);
    assert.equal(t.readiness.ready(), true);
    assert.equal(t.hits(), 1);
    assert.equal(t.lines()[0].down, 'no swarm is known yet');
  });

  test('a wait of 0: ready at once, whatever the streams', () => {
    const t = setup(0, [{ name: 'swarm-0', open: false }]);
    assert.equal(t.readiness.ready(), true);
    assert.equal(t.hits(), 0);
  });
});
