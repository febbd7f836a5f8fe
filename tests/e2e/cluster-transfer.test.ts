/**
 * Real clients, real transfers, against the tracker as a cluster of separate
 * processes: 3 `tracker swarm` + 2 `tracker edge` (tests/support/cluster.ts).
 * In every pair the seeder knows only edge A's URL and the leecher only edge
 * B's, so the leecher can find the seeder only if B routes its announce to
 * the swarm that A routed the seeder's announce to.
 *
 *   (a) aria2c seeder -> aria2c leecher, http://
 *   (b) rtorrent seeder (127.0.0.2) -> rtorrent leecher, udp://
 *   (c) webtorrent (Node) seeder -> webtorrent (Node) leecher, ws://, WebRTC
 *
 * Downloaded bytes are compared with the original (SHA-256).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAria2 } from '../support/clients/aria2.js';
import { pollUntil } from '../support/clients/common.js';
import { httpAnnounce, udpAnnounce } from '../support/clients/raw-tracker.js';
import { startRtorrent } from '../support/clients/rtorrent.js';
import { magnetUri, startNodeLeecher, startNodeSeeder, wsScrape, type ScrapeStats } from '../support/clients/webtorrent-node.js';
import { metricIn, startCluster, type Cluster, type ClusterNode } from '../support/cluster.js';
import { createTorrent, makeTempDir, MiB, sha256File, writeTorrentVariant } from '../support/torrent.js';
import { cleanupScope } from '../support/tracker-process.js';

const httpUrl = (edge: ClusterNode): string => `http://127.0.0.1:${edge.port}/announce`;
const udpUrl = (edge: ClusterNode): string => `udp://127.0.0.1:${edge.port}/announce`;
const wsUrl = (edge: ClusterNode): string => `ws://127.0.0.1:${edge.port}/announce`;

async function announcesOk(edge: ClusterNode, protocol: string): Promise<number> {
  return metricIn(await edge.metrics(), 'tracker_requests_total', { protocol, action: 'announce', result: 'ok' }) ?? 0;
}

describe('real clients through a 2-edge, 3-swarm cluster (seeder on edge A, leecher on edge B)', { timeout: 58_000 }, () => {
  let cluster: Cluster;
  let A: ClusterNode;
  let B: ClusterNode;

  // Hooks run in the order they are registered: first SIGTERM every process (each must exit 0),
  // then the scope's cleanup (SIGKILL whatever is left, e.g. after a failure).
  after(async () => {
    if (cluster) await cluster.stop();
  });
  const suiteScope = cleanupScope({ after });

  before(async () => {
    cluster = await startCluster(suiteScope, { swarms: 3, edges: 2, logLevel: 'warn' });
    [A, B] = cluster.edges;
  });

  it('aria2c seeder (http:// edge A) -> aria2c leecher (http:// edge B)', { timeout: 45_000 }, async (t) => {
    const began = Date.now();
    const scope = cleanupScope(t);
    const seedDir = await makeTempDir(scope, 'cl-http-seed');
    const leechDir = await makeTempDir(scope, 'cl-http-leech');
    const workDir = await makeTempDir(scope, 'cl-http-work');
    const torrent = await createTorrent({ dir: seedDir, announce: httpUrl(A) });
    const leechTorrent = await writeTorrentVariant(torrent, join(workDir, 'via-b.torrent'), httpUrl(B));
    const owner = cluster.ownerOf(torrent.infoHash.toString('latin1'));
    const [okA, okB] = [await announcesOk(A, 'http'), await announcesOk(B, 'http')];

    const seeder = await startAria2(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, workDir, bindAddress: '127.0.0.1' });
    await seeder.waitForTrackerResponse(15_000);
    // Through edge B, the seeder (announced on A) is already listed.
    const probe = await httpAnnounce(httpUrl(B), { infoHash: torrent.infoHash, port: 9, left: 1, event: 'started' });
    assert.equal(probe.failure, undefined);
    assert.ok(probe.peers.includes(`127.0.0.1:${seeder.listenPort}`), cluster.describe(`edge B does not list the seeder: ${JSON.stringify(probe.peers)}`));
    await httpAnnounce(httpUrl(B), { infoHash: torrent.infoHash, port: 9, left: 1, event: 'stopped' });

    const leecher = await startAria2(scope, 'leech', { torrentPath: leechTorrent, dir: leechDir, workDir, bindAddress: '127.0.0.1' });
    await leecher.waitForDownload(35_000);
    assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');
    const leecherLog = await readFile(leecher.logFile, 'utf8');
    assert.ok(leecherLog.includes(`Connecting to 127.0.0.1:${seeder.listenPort}`), await leecher.proc.describe(`the leecher never dialled the seeder at 127.0.0.1:${seeder.listenPort}`));
    assert.ok(leecherLog.includes(`127.0.0.1:${B.port}`) && !leecherLog.includes(`127.0.0.1:${A.port}`), await leecher.proc.describe('the leecher talked to a tracker other than edge B'));
    // Each edge answered its client's announces.
    assert.ok((await announcesOk(A, 'http')) > okA, 'edge A answered the seeder');
    assert.ok((await announcesOk(B, 'http')) > okB, 'edge B answered the leecher');

    t.diagnostic(`${torrent.size} bytes, info-hash owned by ${owner}, total ${Date.now() - began} ms`);
    await seeder.stop();
  });

  it('rtorrent seeder (udp:// edge A, 127.0.0.2) -> rtorrent leecher (udp:// edge B)', { timeout: 45_000 }, async (t) => {
    const began = Date.now();
    const scope = cleanupScope(t);
    const seedDir = await makeTempDir(scope, 'cl-udp-seed');
    const leechDir = await makeTempDir(scope, 'cl-udp-leech');
    const workDir = await makeTempDir(scope, 'cl-udp-work');
    const torrent = await createTorrent({ dir: seedDir, announce: udpUrl(A) });
    const leechTorrent = await writeTorrentVariant(torrent, join(workDir, 'via-b.torrent'), udpUrl(B));
    const owner = cluster.ownerOf(torrent.infoHash.toString('latin1'));

    const seeder = await startRtorrent(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, workDir, bindAddress: '127.0.0.2' });
    await seeder.waitForTrackerResponse(15_000);

    const leecher = await startRtorrent(scope, 'leech', { torrentPath: leechTorrent, dir: leechDir, workDir, bindAddress: '127.0.0.1' });
    const reply = await leecher.waitForTrackerResponse(15_000);
    assert.match(reply, /received [1-9]\d* peers/, await leecher.proc.describe('edge B gave the leecher no peers'));
    await leecher.waitForDownload(30_000);
    assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');

    // Both edges list the seeder under its packet's source address (it announced only to A).
    for (const edge of [A, B]) {
      const probe = await udpAnnounce(udpUrl(edge), { infoHash: torrent.infoHash, port: 9, left: 1, event: 'started' });
      assert.equal(probe.failure, undefined);
      assert.ok(probe.peers.includes(`127.0.0.2:${seeder.listenPort}`), `${edge.name}: seeder 127.0.0.2:${seeder.listenPort} missing from ${JSON.stringify(probe.peers)}`);
    }
    t.diagnostic(`${torrent.size} bytes, info-hash owned by ${owner}, total ${Date.now() - began} ms`);
    await leecher.stop();
    await seeder.stop();
  });

  it('webtorrent Node seeder (ws:// edge A) -> webtorrent Node leecher (ws:// edge B) over WebRTC', { timeout: 45_000 }, async (t) => {
    const began = Date.now();
    const scope = cleanupScope(t);
    const seedDir = await makeTempDir(scope, 'cl-wt-seed');
    const leechDir = await makeTempDir(scope, 'cl-wt-leech');
    const torrent = await createTorrent({ dir: seedDir, announce: wsUrl(A), size: 4 * MiB + 12_345 });
    const owner = cluster.ownerOf(torrent.infoHash.toString('latin1'));

    const seeder = await startNodeSeeder(scope, { torrent, announce: wsUrl(A) });
    await seeder.waitForTrackerAnnounce(10_000);
    // Glare: the leecher starts only once the swarm counts the seeder, seen through edge B.
    const waitSeeders = async (count: number): Promise<ScrapeStats> => {
      let last: unknown = 'no reply yet';
      const found = await pollUntil(async () => {
        try {
          const stats = await wsScrape(wsUrl(B), torrent.infoHash, 2000);
          last = stats;
          return stats.complete >= count ? stats : undefined;
        } catch (error) {
          last = (error as Error).message;
          return undefined;
        }
      }, 10_000);
      if (!found) throw new Error(cluster.describe(`edge B did not count ${count} seeder(s) within 10 s (last scrape: ${JSON.stringify(last)})`));
      return found;
    };
    await waitSeeders(1);

    const leecher = await startNodeLeecher(scope, { magnet: magnetUri(torrent, wsUrl(B)), dir: leechDir, announce: wsUrl(B) });
    const result = await leecher.waitForDone(30_000).catch(async (error: Error) => {
      throw new Error(cluster.describe(await seeder.describe(error.message)));
    });
    assert.equal(result.bytes, torrent.size, 'downloaded size differs from the original');
    assert.equal(result.sha256, torrent.sha256, await leecher.describe('downloaded bytes differ from the original'));
    assert.ok(result.wires.length > 0 && result.wires.every((w) => w.startsWith('webrtc')), await leecher.describe(`expected WebRTC wires only, got ${JSON.stringify(result.wires)}`));
    // The leecher announced `completed` through B: the swarm counts two seeders.
    await waitSeeders(2);

    t.diagnostic(`${result.bytes} bytes, info-hash owned by ${owner}, download ${result.durationMs} ms, total ${Date.now() - began} ms, wires ${result.wires.join(',')}`);
    await leecher.stop();
    await seeder.stop();
  });
});
