/**
 * The WebTorrent generator end to end on loopback, short bounded runs:
 * against the echo (everything relayed, so every count is exact), against
 * the reference tracker (bittorrent-tracker, in process) and against ours
 * (the built tracker as a child process).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startWsEcho } from '../../../bench/loadtest/ws-echo.js';
import type { EchoServer } from '../../../bench/loadtest/echo-server.js';
import { DEFAULT_WS, runLoadtest, type LoadtestConfig } from '../../../bench/loadtest/runner.js';
import { DEFAULT_MODEL } from '../../../bench/loadtest/model.js';
import { formatSummary, type LoadSummary } from '../../../bench/loadtest/stats.js';
import { startTracker } from '../../support/tracker-process.js';

const base: Omit<LoadtestConfig, 'port'> = {
  protocol: 'ws',
  engine: 'node',
  host: '127.0.0.1',
  durationSeconds: 1,
  warmupSeconds: 0.5,
  workers: 2,
  sockets: 12,
  window: 2,
  timeoutMs: 3000,
  reconnectAfterMs: 60_000,
  maxFailures: 3,
  connectionPerRequest: false,
  announcePath: '/',
  scrapePath: '/',
  // A few hot torrents, so swarms have several peers and offers get relayed.
  model: { ...DEFAULT_MODEL, torrents: 20, sources: 3, announcesPerScrape: 10 },
  progress: false,
  ws: { ...DEFAULT_WS, torrentsPerConnection: 4, offers: 3, sdpMinBytes: 500, sdpMaxBytes: 1500 },
};

interface ReferenceServer {
  listen(port: number, hostname: string, onListening?: () => void): void;
  close(cb?: () => void): void;
  on(event: string, listener: (...args: unknown[]) => void): void;
  ws: { address(): { port: number } };
  http: { closeAllConnections?: () => void } | null;
}
type ReferenceServerConstructor = new (options: Record<string, unknown>) => ReferenceServer;

function assertRelays(s: LoadSummary): void {
  const w = s.ws!;
  assert.ok(w, 'ws summary');
  assert.ok(s.counters.announces > 0, JSON.stringify(s.counters));
  assert.ok(s.counters.scrapes > 0, JSON.stringify(s.counters));
  assert.equal(s.counters.errors, 0);
  assert.equal(s.counters.invalid, 0);
  assert.equal(s.counters.socketErrors, 0);
  assert.equal(s.truncated, false);
  assert.ok(w.counters.offersSent >= 3 * s.counters.announces - 3 * 2 * 12, JSON.stringify(w.counters));
  assert.ok(w.counters.offersReceived > 0, JSON.stringify(w.counters));
  assert.ok(w.counters.answersSent > 0 && w.counters.answersReceived > 0, JSON.stringify(w.counters));
  assert.ok(w.counters.answersMatched > 0 && w.counters.answersMatched <= w.counters.answersReceived);
  assert.ok(w.signallingMs.p50 > 0);
  assert.ok(s.latencyMs.p50 > 0 && s.latencyMs.p50 <= s.latencyMs.max);
  assert.match(formatSummary(s), /offers\/s\s+sent/);
}

describe('ws load generator', () => {
  let echo: EchoServer;
  before(async () => {
    echo = await startWsEcho('127.0.0.1', 0);
  });
  after(async () => {
    await echo.close();
  });

  it('against the echo: every offer comes back, is answered, and every answer matches', async () => {
    const phases: string[] = [];
    const { summary } = await runLoadtest(
      { ...base, port: echo.port },
      { onMeasureStart: () => phases.push('start'), onMeasureEnd: () => phases.push('end') },
    );
    assert.deepEqual(phases, ['start', 'end']);
    assertRelays(summary);
    const w = summary.ws!.counters;
    // Counted inside the window only, so the edges may differ by what was in flight.
    const slack = 2 * 12 * 3 + 10;
    assert.ok(Math.abs(w.offersReceived - w.offersSent) <= slack, JSON.stringify(w));
    assert.ok(Math.abs(w.answersSent - w.offersReceived) <= slack, JSON.stringify(w));
    assert.ok(Math.abs(w.answersReceived - w.answersSent) <= slack, JSON.stringify(w));
    assert.ok(summary.ws!.offerRelayRatio > 0.9);
    assert.equal(summary.counters.lost, 0);
  });

  it('paced (--interval) and without answers', async () => {
    const { summary } = await runLoadtest({ ...base, port: echo.port, workers: 1, ws: { ...base.ws!, intervalMs: 100, answer: false } });
    const w = summary.ws!.counters;
    assert.ok(summary.counters.announces > 0);
    // 12 connections x 2 slots, one announce per slot per ~100 ms: at most ~24 x 10 per second.
    assert.ok(summary.repliesPerSecond < 24 * 10 * 1.3, String(summary.repliesPerSecond));
    assert.equal(w.answersSent, 0);
    assert.equal(w.answersReceived, 0);
    assert.ok(w.offersReceived > 0);
  });

  it('a dead target: nothing hangs, nothing counted as a reply', async () => {
    const dead = await startWsEcho('127.0.0.1', 0);
    const port = dead.port;
    await dead.close();
    const t0 = Date.now();
    const { summary } = await runLoadtest({ ...base, port, workers: 1, durationSeconds: 0.5, warmupSeconds: 0 });
    assert.ok(Date.now() - t0 < 10_000);
    assert.equal(summary.replies, 0);
  });

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
    const tracker = await startTracker(t);
    const { summary } = await runLoadtest({ ...base, port: tracker.port });
    assertRelays(summary);
    assert.equal(summary.ws!.counters.answerErrors, 0);
    await tracker.stop();
  });
});
