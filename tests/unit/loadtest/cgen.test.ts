/**
 * The C generator (bench/loadtest/udpgen.c) implements the same load model
 * as the TypeScript one: same hashes, peer ids and client addresses from the
 * same options (addresses.test.ts checks who sends from which), and it
 * runs a short UDP and HTTP load against the echo targets. Skipped when gcc
 * is not installed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { compileC } from '../../../bench/loadtest/cgen.js';
import { startHttpEcho, startUdpEcho, type EchoServer } from '../../../bench/loadtest/echo-server.js';
import { DEFAULT_MODEL, peerId, sourceAddress, torrentHashHex } from '../../../bench/loadtest/model.js';
import { runLoadtest, type LoadtestConfig } from '../../../bench/loadtest/runner.js';

const hasGcc = spawnSync('gcc', ['--version']).status === 0;

describe('C generator', { skip: !hasGcc && 'gcc not installed' }, () => {
  let bin = '';
  let udp: EchoServer;
  let http: EchoServer;
  before(async () => {
    bin = compileC('udpgen');
    udp = await startUdpEcho('127.0.0.1', 0, 5);
    http = await startHttpEcho('127.0.0.1', 0, 4);
  });
  after(async () => {
    await udp?.close();
    await http?.close();
  });

  it('derives the same torrent hashes and peer ids as model.ts', () => {
    for (const seed of [1, 42, 0xffffffff]) {
      const r = spawnSync(bin, [`--seed=${seed}`, '--print-hashes=50', '--print-peer-ids=20', '--ports-per-source=4096', '--sources=8'], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 70);
      for (let i = 0; i < 50; i++) assert.equal(lines[i], torrentHashHex(seed, i), `seed ${seed} hash ${i}`);
      for (let i = 0; i < 20; i++) assert.equal(lines[50 + i], peerId(seed, i % 8, Math.floor(i / 8), 4096), `peer ${i}`);
    }
  });

  it('derives the same client addresses as model.ts (the octets carry), and refuses a pool reaching 127.255.255.255', () => {
    const m = { ...DEFAULT_MODEL, sources: 600, firstAddress: '127.0.255.200' };
    const r = spawnSync(bin, ['--print-sources=600', `--sources=${m.sources}`, `--first-address=${m.firstAddress}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), Array.from({ length: 600 }, (_, s) => sourceAddress(m, s)));
    const bad = spawnSync(bin, ['--print-sources=1', '--sources=10', '--first-address=127.255.255.250'], { encoding: 'utf8' });
    assert.equal(bad.status, 2, bad.stdout);
  });

  const base: Omit<LoadtestConfig, 'protocol' | 'port'> = {
    engine: 'c',
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

  it('UDP run: replies, scrapes, peers counted, hooks called', async () => {
    const phases: string[] = [];
    const { summary } = await runLoadtest(
      { ...base, protocol: 'udp', port: udp.port },
      { onMeasureStart: () => phases.push('start'), onMeasureEnd: () => phases.push('end') },
    );
    assert.deepEqual(phases, ['start', 'end']);
    assert.equal(summary.engine, 'c');
    assert.ok(summary.counters.announces > 0 && summary.counters.scrapes > 0, JSON.stringify(summary.counters));
    assert.equal(summary.counters.errors + summary.counters.invalid + summary.counters.lost, 0);
    assert.equal(summary.avgPeersPerAnnounce, 5);
  });

  for (const connectionPerRequest of [false, true]) {
    it(`HTTP run (${connectionPerRequest ? 'connection per request' : 'keep-alive'})`, async () => {
      const { summary } = await runLoadtest({ ...base, protocol: 'http', port: http.port, connectionPerRequest, requestsPerConnection: 10 });
      assert.ok(summary.counters.announces > 0 && summary.counters.scrapes > 0, JSON.stringify(summary.counters));
      assert.equal(summary.counters.errors + summary.counters.invalid + summary.counters.lost, 0);
      assert.equal(summary.avgPeersPerAnnounce, 4);
      if (connectionPerRequest) assert.ok(summary.counters.reconnects >= summary.replies - 8);
      // Keep-alive: a new connection every 10 requests (within what each of the 4 slots had in flight at the window's edges).
      else assert.ok(Math.abs(summary.counters.reconnects - summary.replies / 10) <= 8, `reconnects ${summary.counters.reconnects}, replies ${summary.replies}`);
    });
  }
});
