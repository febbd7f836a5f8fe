/**
 * A WebTorrent transfer after its torrent's slot moved to another swarm:
 * a 3-swarm, 2-edge cluster of separate processes (tests/support/cluster.ts,
 * no Redis); a webtorrent seeder in Node announces through edge A; the
 * swarm owning its torrent is removed (draining, then SIGTERM), so the slot
 * moves; then a webtorrent leecher announcing through edge B finds the
 * seeder and downloads the file over WebRTC, the bytes checked.
 *
 * The seeder does not announce again meanwhile (its interval is 120 s): the
 * new owner knows it only from the handoff (its counters say so), and
 * relays the leecher's offers to the seeder's socket on edge A.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil } from '../support/clients/common.js';
import { magnetUri, startNodeLeecher, startNodeSeeder, waitForWsSeeders, type ScrapeStats } from '../support/clients/webtorrent-node.js';
import { metricIn, startCluster, type Cluster, type ClusterNode } from '../support/cluster.js';
import { createTorrent, makeTempDir, MiB } from '../support/torrent.js';
import { cleanupScope } from '../support/tracker-process.js';

const wsUrl = (edge: ClusterNode): string => `ws://127.0.0.1:${edge.port}/announce`;

/** Polls a WebSocket scrape through `edge` until `count` seeders are counted (bounded). */
function waitSeeders(cluster: Cluster, edge: ClusterNode, infoHash: Uint8Array, count: number, timeoutMs = 10_000): Promise<ScrapeStats> {
  return waitForWsSeeders(wsUrl(edge), infoHash, count, timeoutMs, (what) => cluster.describe(`${edge.name} ${what}`));
}

describe('WebTorrent across edges after the torrent\'s slot moved to another swarm', { timeout: 150_000 }, () => {
  const scope = cleanupScope({ after });

  it('webtorrent Node seeder (edge A) -> its swarm removed -> webtorrent Node leecher (edge B) downloads over WebRTC', { timeout: 120_000 }, async (t) => {
    const cluster = await startCluster(scope, { swarms: 3, edges: 2, logLevel: 'warn' });
    const [A, B] = cluster.edges;
    const seedDir = await makeTempDir(scope, 'handoff-wt-seed');
    const leechDir = await makeTempDir(scope, 'handoff-wt-leech');
    const torrent = await createTorrent({ dir: seedDir, announce: wsUrl(A), size: 2 * MiB + 4321 });
    const owner = cluster.ownerOf(torrent.infoHash.toString('latin1'));

    const seeder = await startNodeSeeder(scope, { torrent, announce: wsUrl(A) });
    await seeder.waitForTrackerAnnounce(10_000);
    await waitSeeders(cluster, B, torrent.infoHash, 1);
    // webtorrent announces a few times as it starts; then not before its interval (120 s).
    let announcesBefore = -1;
    await pollUntil(async () => {
      const now = seeder.trackerAnnounces();
      if (now === announcesBefore) return true;
      announcesBefore = now;
      await new Promise((resolve) => setTimeout(resolve, 3000));
      return undefined;
    }, 30_000);

    await cluster.removeSwarm(owner);
    await cluster.waitHandoffs();
    const next = cluster.ownerOf(torrent.infoHash.toString('latin1'));
    assert.notEqual(next, owner, 'the slot moved');
    // Counted through B by the new owner, which heard of the seeder only from the handoff.
    await waitSeeders(cluster, B, torrent.infoHash, 1, 5000);
    assert.equal(seeder.trackerAnnounces(), announcesBefore, 'the seeder did not announce again meanwhile');
    assert.ok((metricIn(await cluster.swarm(next).metrics(), 'tracker_handoff_peers_total', { op: 'received' }) ?? 0) >= 1, `${next} received peers from ${owner}`);

    const leecher = await startNodeLeecher(scope, { magnet: magnetUri(torrent, wsUrl(B)), dir: leechDir, announce: wsUrl(B) });
    const result = await leecher.waitForDone(45_000).catch(async (error: Error) => {
      throw new Error(cluster.describe(await seeder.describe(error.message)));
    });
    assert.equal(result.bytes, torrent.size);
    assert.equal(result.sha256, torrent.sha256, await leecher.describe('downloaded bytes differ from the original'));
    assert.ok(result.wires.length > 0 && result.wires.every((w) => w.startsWith('webrtc')), await leecher.describe(`expected WebRTC wires only, got ${JSON.stringify(result.wires)}`));
    t.diagnostic(`torrent moved ${owner} -> ${next}; ${result.bytes} bytes in ${result.durationMs} ms`);
    await leecher.stop();
    await seeder.stop();
    await cluster.stop();
  });
});
