/**
 * Smoke test of the whole generator (worker threads, sockets, summary)
 * against the in-process echo targets on loopback: short, bounded runs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHttpEcho, startUdpEcho, type EchoServer } from '../../../bench/loadtest/echo-server.js';
import { runLoadtest, type LoadtestConfig } from '../../../bench/loadtest/runner.js';
import { DEFAULT_MODEL } from '../../../bench/loadtest/model.js';

const base: Omit<LoadtestConfig, 'protocol' | 'port'> = {
  engine: 'node',
  host: '127.0.0.1',
  durationSeconds: 1,
  warmupSeconds: 0.3,
  workers: 1,
  sockets: 4,
  window: 4,
  timeoutMs: 1000,
  reconnectAfterMs: 60_000,
  maxFailures: 3,
  connectionPerRequest: false,
  announcePath: '/announce',
  scrapePath: '/scrape',
  model: { ...DEFAULT_MODEL, torrents: 100, sources: 2, announcesPerScrape: 5 },
  progress: false,
};

describe('load generator against echo targets', () => {
  let udp: EchoServer;
  let http: EchoServer;
  before(async () => {
    udp = await startUdpEcho('127.0.0.1', 0, 3);
    http = await startHttpEcho('127.0.0.1', 0, 2);
  });
  after(async () => {
    await udp.close();
    await http.close();
  });

  it('UDP: connects, announces and scrapes, counts peers, calls the hooks', async () => {
    const phases: string[] = [];
    const { summary } = await runLoadtest(
      { ...base, protocol: 'udp', port: udp.port },
      { onMeasureStart: () => phases.push('start'), onMeasureEnd: () => phases.push('end') },
    );
    assert.deepEqual(phases, ['start', 'end']);
    assert.ok(summary.counters.announces > 0, JSON.stringify(summary.counters));
    assert.ok(summary.counters.scrapes > 0);
    assert.equal(summary.counters.errors, 0);
    assert.equal(summary.counters.invalid, 0);
    assert.equal(summary.avgPeersPerAnnounce, 3);
    assert.equal(summary.truncated, false);
    assert.ok(summary.latencyMs.p50 > 0 && summary.latencyMs.p50 <= summary.latencyMs.max);
  });

  for (const connectionPerRequest of [false, true]) {
    it(`HTTP ${connectionPerRequest ? 'connection per request' : 'keep-alive'}`, async () => {
      const { summary } = await runLoadtest({ ...base, protocol: 'http', port: http.port, connectionPerRequest, requestsPerConnection: 10 });
      assert.ok(summary.counters.announces > 0, JSON.stringify(summary.counters));
      assert.equal(summary.counters.errors, 0);
      assert.equal(summary.counters.invalid, 0);
      assert.equal(summary.avgPeersPerAnnounce, 2);
      // Keep-alive: a new connection every 10 requests (within what each of the 4 slots had in flight at the window's edges).
      if (!connectionPerRequest) assert.ok(Math.abs(summary.counters.reconnects - summary.replies / 10) <= 8, `reconnects ${summary.counters.reconnects}, replies ${summary.replies}`);
      else assert.ok(summary.counters.reconnects >= summary.counters.announces - 8);
    });
  }

  it('a dead target: everything lost, nothing hangs', async () => {
    const dead = await startUdpEcho('127.0.0.1', 0);
    const port = dead.port;
    await dead.close();
    // A 0.5 s run: the bound only tells a hang from a slow machine.
    const t0 = Date.now();
    const { summary } = await runLoadtest({ ...base, protocol: 'udp', port, timeoutMs: 100, durationSeconds: 0.5 });
    assert.ok(Date.now() - t0 < 60_000, `took ${Date.now() - t0} ms`);
    assert.equal(summary.replies, 0);
    assert.ok(summary.counters.lost > 0);
  });
});
