/**
 * What the ws load tests share (not a test file itself): a short bounded
 * run's configuration and the checks of its summary, for both engines.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DEFAULT_MODEL } from '../../../bench/loadtest/model.js';
import { DEFAULT_WS, type LoadtestConfig } from '../../../bench/loadtest/runner.js';
import { formatSummary, type LoadSummary } from '../../../bench/loadtest/stats.js';

export const hasGcc = spawnSync('gcc', ['--version']).status === 0;

/** 2 workers x 12 connections x 2 announces in flight, 3 offers each, ~1.5 s. */
export const WS_BASE: Omit<LoadtestConfig, 'port'> = {
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

/** Replies, relayed offers and answers, matched answers, no errors. */
export function assertRelays(s: LoadSummary): void {
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

/** Against an echo everything is relayed: every offer comes back, is answered, and every answer matches. */
export function assertEchoed(s: LoadSummary): void {
  assertRelays(s);
  const w = s.ws!.counters;
  // Counted inside the window only, so the edges may differ by what was in flight.
  const slack = 2 * 12 * 3 + 10;
  assert.ok(Math.abs(w.offersReceived - w.offersSent) <= slack, JSON.stringify(w));
  assert.ok(Math.abs(w.answersSent - w.offersReceived) <= slack, JSON.stringify(w));
  assert.ok(Math.abs(w.answersReceived - w.answersSent) <= slack, JSON.stringify(w));
  assert.ok(s.ws!.offerRelayRatio > 0.9);
  assert.equal(s.counters.lost, 0);
  assert.equal(w.answerErrors + w.reopened, 0);
}
