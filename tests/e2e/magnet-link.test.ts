/**
 * Leechers added by magnet link, over http:// and udp://, all-in-one and
 * across a cluster (seeder on edge A, leecher on edge B).
 *
 * Until a client has the info dictionary it cannot know how much is left, and
 * real clients then announce left=0: aria2c over http:// and udp://,
 * webtorrent (Node) over udp:// (over http:// it sends left=16384). The
 * tracker takes such a client for a seeder. A tracker that offers seeders
 * only leechers hands it nobody from a swarm of seeders: it never gets the
 * metadata and the download never starts. The seeder must be offered the
 * other seeders too (after the leechers), so every scenario below is a swarm
 * of one seeder that serves the metadata (BEP 9) plus one magnet-link leecher
 * that knows nothing but the tracker: no DHT entry point, no PEX, no LSD.
 *
 *   (a) aria2c seeder -> aria2c leecher by magnet link, http://
 *   (b) libtorrent seeder -> aria2c leecher by magnet link, udp://
 *   (c) libtorrent seeder -> webtorrent (Node) leecher by magnet link, udp://
 *   (d) the same over http://, the comparison: there webtorrent announces as
 *       a leecher, so it downloads whatever the tracker does with seeders
 *
 * Every download is checked byte for byte (SHA-256) and the leecher must have
 * dialled the seeder it could only have learnt from the tracker.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAria2 } from '../support/clients/aria2.js';
import { startLibtorrent } from '../support/clients/libtorrent.js';
import { startNodeLeecher } from '../support/clients/webtorrent-node.js';
import { metricIn, metricsText, startCluster } from '../support/cluster.js';
import { createTorrent, magnetUri, makeTempDir, sha256File } from '../support/torrent.js';
import { cleanupScope, startTracker } from '../support/tracker-process.js';

type Protocol = 'http' | 'udp';

/** One tracker endpoint as a client sees it: an all-in-one tracker, or one edge of a cluster. */
interface TrackerSide {
  readonly name: string;
  readonly port: number;
  url(protocol: Protocol): string;
  metrics(): Promise<string>;
}

/** Where the seeder announces and where the leecher announces (the same tracker, or two edges). */
interface Target {
  readonly seedSide: TrackerSide;
  readonly leechSide: TrackerSide;
  /** `message` plus the tracker processes' output. */
  describe(message: string): string;
}

function side(name: string, port: number, metricsPort: number): TrackerSide {
  return {
    name,
    port,
    url: (protocol) => `${protocol}://127.0.0.1:${port}/announce`,
    metrics: () => metricsText(metricsPort),
  };
}

/** One all-in-one tracker for the describe block's tests (each test has its own torrent). */
function allInOneTarget(): () => Target {
  let target: Target | undefined;
  const scope = cleanupScope({ after });
  before(async () => {
    const tracker = await startTracker(scope, { host: '127.0.0.1' });
    const one = side('tracker', tracker.port, tracker.metricsPort);
    target = { seedSide: one, leechSide: one, describe: (message) => `${message}\n--- tracker output ---\n${tracker.output() || '(nothing)'}` };
    scope.after(() => tracker.stop({ expectCleanExit: true }));
  });
  return () => target ?? assert.fail('the tracker did not start');
}

/** One 3-swarm, 2-edge cluster for the describe block's tests: seeders use edge A, leechers edge B. */
function clusterTarget(): () => Target {
  let target: Target | undefined;
  const scope = cleanupScope({ after });
  before(async () => {
    const cluster = await startCluster(scope, { swarms: 3, edges: 2, logLevel: 'warn' });
    const [A, B] = cluster.edges;
    target = { seedSide: side('edge A', A.port, A.metricsPort), leechSide: side('edge B', B.port, B.metricsPort), describe: (message) => cluster.describe(message) };
    scope.after(() => cluster.stop());
  });
  return () => target ?? assert.fail('the cluster did not start');
}

async function announcesOk(trackerSide: TrackerSide, protocol: Protocol): Promise<number> {
  return metricIn(await trackerSide.metrics(), 'tracker_requests_total', { protocol, action: 'announce', result: 'ok' }) ?? 0;
}

/** Does `log` mention `host:port` (and not merely a longer port starting with the same digits)? */
const mentions = (log: string, hostPort: string): boolean => new RegExp(`${hostPort.replace(/[.[\]]/g, '\\$&')}(?!\\d)`).test(log);

const DOWNLOAD_TIMEOUT_MS = 30_000;

function magnetScenarios(current: () => Target): void {
  it('aria2c seeder -> aria2c leecher added by magnet link, http://', { timeout: 50_000 }, async (t) => {
    const { seedSide, leechSide, describe: describeTracker } = current();
    const scope = cleanupScope(t);
    const seedDir = await makeTempDir(scope, 'magnet-http-seed');
    const leechDir = await makeTempDir(scope, 'magnet-http-leech');
    const workDir = await makeTempDir(scope, 'magnet-http-work');
    const torrent = await createTorrent({ dir: seedDir, announce: seedSide.url('http') });
    const okBefore = await announcesOk(leechSide, 'http');

    const seeder = await startAria2(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, workDir });
    await seeder.waitForTrackerResponse(15_000);

    const leecher = await startAria2(scope, 'leech', { magnet: magnetUri(torrent, leechSide.url('http')), dir: leechDir, workDir });
    // What makes this case: the leecher's first announce, before it has the metadata, says left=0.
    const firstAnnounce = await leecher.proc.waitForLine((line) => line.startsWith('GET /announce?'), 15_000, 'its first announce', { files: [leecher.logFile] });
    assert.match(firstAnnounce, /[?&]left=0&/, await leecher.proc.describe(`the magnet-link leecher's first announce did not say left=0: ${firstAnnounce}`));
    await leecher.waitForDownload(DOWNLOAD_TIMEOUT_MS, join(leechDir, torrent.name)).catch((error: Error) => {
      throw new Error(describeTracker(error.message));
    });
    assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');
    const leecherLog = await readFile(leecher.logFile, 'utf8');
    assert.ok(leecherLog.includes(`Connecting to 127.0.0.1:${seeder.listenPort}`), await leecher.proc.describe(`the leecher never dialled the seeder at 127.0.0.1:${seeder.listenPort}`));
    assert.ok((await announcesOk(leechSide, 'http')) > okBefore, `${leechSide.name} answered no HTTP announce of the leecher`);
    if (seedSide !== leechSide) assert.ok(!mentions(leecherLog, `127.0.0.1:${seedSide.port}`), await leecher.proc.describe(`the leecher talked to ${seedSide.name}`));
    await seeder.stop();
  });

  it('libtorrent seeder -> aria2c leecher added by magnet link, udp://', { timeout: 50_000 }, async (t) => {
    const { seedSide, leechSide, describe: describeTracker } = current();
    const scope = cleanupScope(t);
    const seedDir = await makeTempDir(scope, 'magnet-udp-seed');
    const leechDir = await makeTempDir(scope, 'magnet-udp-leech');
    const workDir = await makeTempDir(scope, 'magnet-udp-work');
    const torrent = await createTorrent({ dir: seedDir, announce: seedSide.url('udp') });

    const seeder = await startLibtorrent(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, serveMetadata: true });
    const seederReply = await seeder.waitForTrackerResponse(15_000);
    assert.equal(seederReply.url, seedSide.url('udp'));

    const leecher = await startAria2(scope, 'leech', { magnet: magnetUri(torrent, leechSide.url('udp')), dir: leechDir, workDir, udpTrackers: true });
    // The answer to its first announce, before it had the metadata: the tracker counted it as
    // a seeder (it announced left=0), so the swarm was two seeders, and it still got the seeder.
    const firstReplyFrom = new RegExp(`UDPT received ANNOUNCE reply from 127\\.0\\.0\\.1:${leechSide.port} `);
    const firstReply = await leecher.proc.waitForLine((line) => firstReplyFrom.test(line), 15_000, `a UDP announce reply from ${leechSide.name}`, { files: [leecher.logFile] });
    assert.match(firstReply, /leechers=0, seeders=2, num_peers=1\b/, describeTracker(await leecher.proc.describe(`${leechSide.name}'s first reply to the magnet-link leecher: ${firstReply}`)));
    await leecher.waitForDownload(DOWNLOAD_TIMEOUT_MS, join(leechDir, torrent.name)).catch(async (error: Error) => {
      throw new Error(describeTracker(await seeder.proc.describe(error.message)));
    });
    assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');
    const leecherLog = await readFile(leecher.logFile, 'utf8');
    assert.ok(leecherLog.includes(`Connecting to 127.0.0.1:${seeder.listenPort}`), await leecher.proc.describe(`the leecher never dialled the seeder at 127.0.0.1:${seeder.listenPort}`));
    if (seedSide !== leechSide) assert.ok(!mentions(leecherLog, `127.0.0.1:${seedSide.port}`), await leecher.proc.describe(`the leecher talked to ${seedSide.name}`));
    await seeder.stop();
  });

  for (const protocol of ['udp', 'http'] as const) {
    it(`libtorrent seeder -> webtorrent (Node) leecher added by magnet link, ${protocol}://`, { timeout: 50_000 }, async (t) => {
      const { seedSide, leechSide, describe: describeTracker } = current();
      const scope = cleanupScope(t);
      const seedDir = await makeTempDir(scope, `magnet-wt-${protocol}-seed`);
      const leechDir = await makeTempDir(scope, `magnet-wt-${protocol}-leech`);
      const torrent = await createTorrent({ dir: seedDir, announce: seedSide.url(protocol) });
      const okBefore = await announcesOk(leechSide, protocol);

      const seeder = await startLibtorrent(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, serveMetadata: true });
      await seeder.waitForTrackerResponse(15_000);

      // The magnet link and the client's options both name the leech side only.
      const announce = leechSide.url(protocol);
      const leecher = await startNodeLeecher(scope, { magnet: magnetUri(torrent, announce), dir: leechDir, announce });
      const result = await leecher.waitForDone(DOWNLOAD_TIMEOUT_MS).catch(async (error: Error) => {
        throw new Error(describeTracker(await seeder.proc.describe(error.message)));
      });
      assert.equal(result.bytes, torrent.size, 'downloaded size differs from the original');
      assert.equal(result.sha256, torrent.sha256, await leecher.describe('downloaded bytes differ from the original'));
      assert.ok(
        result.wires.some((wire) => mentions(wire, `127.0.0.1:${seeder.listenPort}`)),
        await leecher.describe(`the leecher never connected to the seeder at 127.0.0.1:${seeder.listenPort}: wires ${JSON.stringify(result.wires)}`),
      );
      assert.ok(leecher.trackerAnnounces() > 0, await leecher.describe('the tracker never answered the leecher'));
      assert.ok((await announcesOk(leechSide, protocol)) > okBefore, `${leechSide.name} answered no ${protocol} announce of the leecher`);
      t.diagnostic(`${result.bytes} bytes in ${result.durationMs} ms, wires ${result.wires.join(',')}`);
      await leecher.stop();
      await seeder.stop();
    });
  }
}

describe('magnet-link leechers through the all-in-one tracker', { timeout: 240_000 }, () => {
  magnetScenarios(allInOneTarget());
});

describe('magnet-link leechers through a 2-edge, 3-swarm cluster (seeder on edge A, leecher on edge B)', { timeout: 240_000 }, () => {
  magnetScenarios(clusterTarget());
});
