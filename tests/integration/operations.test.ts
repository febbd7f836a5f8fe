/**
 * Operating the tracker process: /metrics, /healthz, /readyz, SIGTERM,
 * configuration errors and --print-config.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import YAML from 'yaml';
import { buildAnnounceQuery, buildScrapeQuery } from '../../lib/protocol/http/client.js';
import { configKeys } from '../../lib/runtime/config-loader.js';
import {
  AnnounceEvent,
  RawHttpConnection,
  UdpTestClient,
  eventually,
  fetchOps,
  httpGet,
  launchTracker,
  metricValue,
  newTransactionId,
  randomId20,
  runTrackerCli,
  scrapeMetrics,
  withTimeout,
  type LaunchedTracker,
} from '../support/integration-helpers.js';

describe('metrics and probes', () => {
  let tracker: LaunchedTracker;

  before(async () => {
    tracker = await launchTracker();
  });

  after(async () => {
    await tracker?.stop();
  });

  it('/healthz and /readyz answer 200; other ops paths 404', async () => {
    const health = await fetchOps(tracker.metricsPort, '/healthz');
    assert.equal(health.status, 200);
    const ready = await fetchOps(tracker.metricsPort, '/readyz');
    assert.equal(ready.status, 200);
    assert.equal((await fetchOps(tracker.metricsPort, '/nope')).status, 404);
  });

  it('tracker_requests_total, tracker_torrents and tracker_peers match the requests made', async () => {
    const h1 = randomId20();
    const h2 = randomId20();
    const h3 = randomId20();
    const v4 = await UdpTestClient.open('127.0.0.1', tracker.udpPort);
    const v6 = await UdpTestClient.open('::1', tracker.udpPort);
    try {
      // UDP: 2 connects, 4 announces ok, 1 dropped, 1 scrape ok, 1 scrape error, 1 invalid with error.
      await v4.connect();
      await v6.connect();
      await v4.announceOk({ infoHash: h1, peerId: randomId20(), port: 1001, left: 10, event: AnnounceEvent.Started });
      await v4.announceOk({ infoHash: h1, peerId: randomId20(), port: 1002, left: 0, event: AnnounceEvent.Started });
      await v4.announceOk({ infoHash: h2, peerId: randomId20(), port: 1003, left: 10 });
      await v6.announceOk({ infoHash: h2, peerId: randomId20(), port: 1004, left: 10 });
      // The scrape that follows is the probe: answered, and nothing before it for the bad id.
      await v4.sendExpectingSilence(v4.announcePacket({ infoHash: h3, peerId: randomId20(), port: 1 }, { high: 1, low: 1 }, newTransactionId()), () => v4.scrapeOk([h1, h2]));
      assert.equal((await v4.scrape([])).type, 'error');
      const conn = await v4.connectionId();
      const unknown = Buffer.alloc(16);
      unknown.writeUInt32BE(conn.high, 0);
      unknown.writeUInt32BE(conn.low, 4);
      unknown.writeUInt32BE(9, 8);
      const tid = newTransactionId();
      unknown.writeUInt32BE(tid, 12);
      assert.equal(v4.parse(await v4.request(unknown, tid)).type, 'error');
    } finally {
      v4.close();
      v6.close();
    }

    // HTTP: 2 announces ok (one over IPv6), 1 announce error, 1 scrape ok, 1 scrape error.
    const announce = (host: '127.0.0.1' | '::1', infoHash: string, port: number): Promise<unknown> =>
      httpGet(host, tracker.httpPort, `/announce?${buildAnnounceQuery({ infoHash, peerId: randomId20(), port, left: 0 })}`);
    await announce('127.0.0.1', h2, 1005);
    await announce('::1', h3, 1006);
    await httpGet('127.0.0.1', tracker.httpPort, '/announce?info_hash=short');
    await httpGet('127.0.0.1', tracker.httpPort, `/scrape?${buildScrapeQuery([h1])}`);
    await httpGet('127.0.0.1', tracker.httpPort, '/scrape');

    const samples = await scrapeMetrics(tracker.metricsPort);
    const requests = (protocol: string, action: string, result: string): number | undefined =>
      metricValue(samples, 'tracker_requests_total', { protocol, action, result });
    assert.deepEqual(
      {
        udpConnectOk: requests('udp', 'connect', 'ok'),
        udpAnnounceOk: requests('udp', 'announce', 'ok'),
        udpAnnounceDropped: requests('udp', 'announce', 'dropped'),
        udpScrapeOk: requests('udp', 'scrape', 'ok'),
        udpScrapeError: requests('udp', 'scrape', 'error'),
        udpInvalidError: requests('udp', 'invalid', 'error'),
        httpAnnounceOk: requests('http', 'announce', 'ok'),
        httpAnnounceError: requests('http', 'announce', 'error'),
        httpScrapeOk: requests('http', 'scrape', 'ok'),
        httpScrapeError: requests('http', 'scrape', 'error'),
      },
      {
        udpConnectOk: 2,
        udpAnnounceOk: 4,
        udpAnnounceDropped: 1,
        udpScrapeOk: 1,
        udpScrapeError: 1,
        udpInvalidError: 1,
        httpAnnounceOk: 2,
        httpAnnounceError: 1,
        httpScrapeOk: 1,
        httpScrapeError: 1,
      },
    );
    assert.equal(metricValue(samples, 'tracker_torrents'), 3);
    assert.deepEqual(
      {
        v4seeders: metricValue(samples, 'tracker_peers', { family: 'ipv4', kind: 'seeder' }),
        v4leechers: metricValue(samples, 'tracker_peers', { family: 'ipv4', kind: 'leecher' }),
        v6seeders: metricValue(samples, 'tracker_peers', { family: 'ipv6', kind: 'seeder' }),
        v6leechers: metricValue(samples, 'tracker_peers', { family: 'ipv6', kind: 'leecher' }),
      },
      { v4seeders: 2, v4leechers: 2, v6seeders: 1, v6leechers: 1 },
    );
    assert.equal(metricValue(samples, 'tracker_request_duration_seconds_count', { protocol: 'udp', action: 'announce' }), 4);
  });
});

describe('SIGTERM', () => {
  it('stops gracefully with exit code 0 without waiting out the grace period, even with a keep-alive connection open', async () => {
    // A grace period far longer than the wait below: an idle keep-alive connection must not hold the exit until it ends.
    const tracker = await launchTracker(['--shutdown.graceSeconds=120']);
    const conn = await RawHttpConnection.open('127.0.0.1', tracker.httpPort);
    try {
      assert.equal((await conn.get(`/announce?${buildAnnounceQuery({ infoHash: randomId20(), peerId: randomId20(), port: 1 })}`)).status, 200);
      tracker.signal('SIGTERM');
      const result = await tracker.waitExit(30_000);
      assert.deepEqual(result, { code: 0, signal: null });
      assert.match(tracker.output(), /stopped/);
      // Nothing listens any more.
      const refused = await withTimeout(
        new Promise<boolean>((resolve) => {
          const socket = net.connect({ host: '127.0.0.1', port: tracker.httpPort });
          socket.once('connect', () => {
            socket.destroy();
            resolve(false);
          });
          socket.once('error', () => resolve(true));
        }),
        2000,
        'a TCP connect after exit',
      );
      assert.equal(refused, true, 'the tracker port no longer accepts connections');
    } finally {
      conn.close();
      await tracker.stop().catch(() => undefined);
    }
  });
});

describe('signals', () => {
  it('SIGHUP with the access list off is harmless; SIGINT stops with exit code 0', async () => {
    const tracker = await launchTracker();
    try {
      tracker.signal('SIGHUP');
      await eventually(() => tracker.output().includes('SIGHUP: reloading access list'), 10_000, 'the tracker to handle SIGHUP');
      const udp = await UdpTestClient.open('127.0.0.1', tracker.udpPort);
      try {
        await udp.announceOk({ infoHash: randomId20(), peerId: randomId20(), port: 1 });
      } finally {
        udp.close();
      }
      assert.equal(tracker.running(), true);
      assert.equal((await fetchOps(tracker.metricsPort, '/readyz')).status, 200);
      tracker.signal('SIGINT');
      assert.deepEqual(await tracker.waitExit(30_000), { code: 0, signal: null });
    } finally {
      await tracker.stop().catch(() => undefined);
    }
  });
});

describe('configuration errors', () => {
  const cases: Array<{ name: string; args: string[]; env?: Record<string, string>; mentions: RegExp[] }> = [
    { name: '--announce.numwantMax=abc', args: ['--announce.numwantMax=abc'], mentions: [/announce\.numwantMax/] },
    { name: '--port=70000', args: ['--port=70000'], mentions: [/"port"/, /70000/] },
    { name: 'unknown key --nope=1', args: ['--nope=1'], mentions: [/nope/] },
    { name: 'TRACKER_PORT=x', args: [], env: { TRACKER_PORT: 'x' }, mentions: [/"port"/, /TRACKER_PORT/] },
    { name: 'TRACKER_ANNOUNCE__NUMWANT_MAX=0', args: [], env: { TRACKER_ANNOUNCE__NUMWANT_MAX: '0' }, mentions: [/announce\.numwantMax/] },
    { name: 'min interval above interval', args: ['--announce.minIntervalSeconds=5000'], mentions: [/announce\.minIntervalSeconds/] },
    { name: 'bad connection id key', args: ['--udp.connectionIdKey=xyz'], mentions: [/udp\.connectionIdKey/] },
    { name: 'bad trusted proxy', args: ['--http.trustedProxies=not-a-cidr'], mentions: [/http\.trustedProxies/] },
    { name: 'bad access list mode', args: ['--accessList.mode=maybe'], mentions: [/accessList\.mode/] },
  ];

  it('each bad value exits non-zero with a message naming the key', async () => {
    const results = await Promise.all(
      cases.map(async (c) => ({ c, result: await runTrackerCli(['all-in-one', '--port=0', '--metrics.port=0', ...c.args], { env: c.env, timeoutMs: 30_000 }) })),
    );
    for (const { c, result } of results) {
      assert.equal(result.timedOut, false, `${c.name}: the process should exit by itself`);
      assert.notEqual(result.code, 0, `${c.name}: exit code`);
      assert.notEqual(result.code, null, `${c.name}: exited, not killed`);
      const output = result.stderr + result.stdout;
      for (const pattern of c.mentions) assert.match(output, pattern, `${c.name}: message ${JSON.stringify(output)}`);
    }
  });

  it('a port already in use exits non-zero', async () => {
    const tracker = await launchTracker();
    try {
      const result = await runTrackerCli(['all-in-one', `--port=${tracker.httpPort}`, '--metrics.port=0'], { timeoutMs: 30_000 });
      assert.equal(result.timedOut, false);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr + result.stdout, /EADDRINUSE|in use/);
    } finally {
      await tracker.stop();
    }
  });
});

describe('--print-config', () => {
  it('prints YAML with every section and every key, and exits 0', async () => {
    const result = await runTrackerCli(['--print-config']);
    assert.equal(result.code, 0);
    const doc = YAML.parse(result.stdout) as Record<string, unknown>;
    for (const section of ['udp', 'http', 'announce', 'store', 'accessList', 'metrics', 'log', 'shutdown']) {
      assert.equal(typeof doc[section], 'object', `section ${section}`);
    }
    for (const { key, defaultValue } of configKeys()) {
      let node: unknown = doc;
      for (const part of key.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
      assert.notEqual(node, undefined, `key ${key} is printed`);
      if (key !== 'udp.connectionIdKey') assert.deepEqual(node, defaultValue, `key ${key} shows its default`);
    }
  });
});
