/**
 * The WebTorrent generator end to end on loopback, short bounded runs:
 * against the echo (everything relayed, so every count is exact; both
 * engines), against
 * the reference tracker (bittorrent-tracker, in process) and against ours
 * (the built tracker as a child process).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startWsEcho } from '../../../bench/loadtest/ws-echo.js';
import type { EchoServer } from '../../../bench/loadtest/echo-server.js';
import { runLoadtest } from '../../../bench/loadtest/runner.js';
import { startTracker } from '../../support/tracker-process.js';
import { LIFTED_CLIENT_LIMITS } from '../../../bench/loadtest/lifted-limits.js';
import { WS_BASE, assertEchoed, assertRelays, hasGcc } from './ws-fixtures.js';

const base = WS_BASE;

interface ReferenceServer {
  listen(port: number, hostname: string, onListening?: () => void): void;
  close(cb?: () => void): void;
  on(event: string, listener: (...args: unknown[]) => void): void;
  ws: { address(): { port: number } };
  http: { closeAllConnections?: () => void } | null;
}
type ReferenceServerConstructor = new (options: Record<string, unknown>) => ReferenceServer;

describe('ws load generator', () => {
  let echo: EchoServer;
  before(async () => {
    echo = await startWsEcho('127.0.0.1', 0);
  });
  after(async () => {
    await echo.close();
  });

  // The same runs for both engines (the C one when gcc is there: udpgen.c's ws mode).
  for (const engine of hasGcc ? (['node', 'c'] as const) : (['node'] as const)) {
    it(`${engine} engine against the echo: every offer comes back, is answered, and every answer matches`, async () => {
      const phases: string[] = [];
      const { summary } = await runLoadtest(
        { ...base, engine, port: echo.port },
        { onMeasureStart: () => phases.push('start'), onMeasureEnd: () => phases.push('end') },
      );
      assert.deepEqual(phases, ['start', 'end']);
      assert.equal(summary.engine, engine);
      assertEchoed(summary);
    });

    it(`${engine} engine, paced (--interval) and without answers`, async () => {
      const { summary } = await runLoadtest({ ...base, engine, port: echo.port, workers: 1, ws: { ...base.ws!, intervalMs: 100, answer: false } });
      const w = summary.ws!.counters;
      assert.ok(summary.counters.announces > 0);
      // 12 connections x 2 slots, one announce per slot per ~100 ms: at most ~24 x 10 per second.
      assert.ok(summary.repliesPerSecond < 24 * 10 * 1.3, String(summary.repliesPerSecond));
      assert.equal(w.answersSent, 0);
      assert.equal(w.answersReceived, 0);
      assert.ok(w.offersReceived > 0);
    });

    it(`${engine} engine, a dead target: nothing hangs, nothing counted as a reply`, async () => {
      const dead = await startWsEcho('127.0.0.1', 0);
      const port = dead.port;
      await dead.close();
      // A 0.5 s run: the bound only tells a hang from a slow machine.
      const t0 = Date.now();
      const { summary } = await runLoadtest({ ...base, engine, port, workers: 1, durationSeconds: 0.5, warmupSeconds: 0 });
      assert.ok(Date.now() - t0 < 60_000, `took ${Date.now() - t0} ms`);
      assert.equal(summary.replies, 0);
    });
  }

  it('against bittorrent-tracker (the reference tracker)', async () => {
    const specifier = 'bittorrent-tracker/server';
    const { default: Server } = (await import(specifier)) as { default: ReferenceServerConstructor };
    const server = new Server({ udp: false, http: false, ws: true, stats: false });
    server.on('warning', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const { summary } = await runLoadtest({ ...base, port: server.ws.address().port });
      assertRelays(summary);
    } finally {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.http?.closeAllConnections?.();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))]);
    }
  });

  it('against ours (all-in-one)', async (t) => {
    const tracker = await startTracker(t, { extraArgs: [...LIFTED_CLIENT_LIMITS] });
    const { summary } = await runLoadtest({ ...base, port: tracker.port });
    assertRelays(summary);
    assert.equal(summary.ws!.counters.answerErrors, 0);
    await tracker.stop();
  });
});
