/**
 * Slot handoff with Redis snapshots, real processes and a real
 * redis-server: once a swarm has handed its slots off, their snapshots are
 * the new owners' to write. The leaving swarm's final write must neither
 * delete nor overwrite them, and the new owners must write what they
 * received even if it does not change again. Checked the hard way: after
 * a swarm is removed (it never wrote a snapshot itself: its interval is an
 * hour), every other swarm is killed and started again, and every peer is
 * back from Redis alone.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { metricIn, metricSum, startCluster, type ClusterNode } from '../support/cluster.js';
import { eventually } from '../support/integration-helpers.js';
import { announcePeers, assertPeersServed, scrapeCounts } from '../support/peer-load.js';
import { startRedisServer } from '../support/redis-server.js';
import { cleanupScope } from '../support/tracker-process.js';

const LIFTED_CLIENT_LIMITS = ['--store.newTorrentsPerSecond=0', '--store.maxPeersPerAddressPerTorrent=1024', '--store.maxPeersPerAddressPerReply=1000', '--http.maxConnectionsPerAddress=100000'];
const GENEROUS_DEADLINES = ['--snapshot.restoreDeadlineSeconds=60', '--snapshot.shutdownDeadlineSeconds=60'];

/** Waits (bounded) for two complete snapshot passes of `swarm` from now, with nothing pending. */
async function snapshotsSettled(swarm: ClusterNode): Promise<void> {
  const complete = (text: string): number => metricIn(text, 'tracker_snapshot_passes_total', { result: 'complete' }) ?? 0;
  const start = complete(await swarm.metrics());
  await eventually(
    async () => {
      const text = await swarm.metrics();
      return complete(text) >= start + 2 && metricIn(text, 'tracker_snapshot_pending_slots') === 0;
    },
    30_000,
    `${swarm.name}: every change written`,
  );
}

describe('handoff and Redis snapshots', { timeout: 240_000 }, () => {
  const scope = cleanupScope({ after });

  test('slots handed off are written by their new owners and never deleted by the swarm that left: a full restart after a removal loses nothing', async (t) => {
    const redis = await startRedisServer(scope);
    const cluster = await startCluster(scope, {
      swarms: 3,
      edges: 1,
      extraArgs: LIFTED_CLIENT_LIMITS,
      swarmArgs: [`--snapshot.redisUrl=${redis.url}`, '--snapshot.intervalSeconds=1', ...GENEROUS_DEADLINES],
      // swarm-1 writes nothing before it leaves: every slot it holds is changed and unwritten then.
      nodeArgs: (name) => (name === 'swarm-1' ? ['--snapshot.intervalSeconds=3600'] : []),
    });
    const edge = cluster.edges[0];
    const peers = await announcePeers(edge.port, cluster.spreadHashes(150), { httpV4: 5, udpSockets: 3 });
    const counts = await scrapeCounts(edge.port, peers.hashes);
    assert.deepEqual(counts, peers.counts);
    assert.equal(metricIn(await cluster.swarm('swarm-1').metrics(), 'tracker_snapshot_slots_written_total', { op: 'set' }), 0, 'swarm-1 wrote nothing');

    await cluster.removeSwarm('swarm-1');
    await cluster.waitHandoffs();
    for (const s of cluster.swarms) await snapshotsSettled(s);

    // Only Redis holds the peers now.
    for (const s of cluster.swarms) await s.kill('SIGKILL');
    for (const s of cluster.swarms) s.spawn();
    for (const s of cluster.swarms) await s.waitReady(60_000);
    await cluster.waitStreams(edge, { 'swarm-0': 1, 'swarm-2': 1 });
    let restored = 0;
    for (const s of cluster.swarms) restored += metricIn(await s.metrics(), 'tracker_snapshot_restored_peers_total') ?? 0;
    t.diagnostic(`${restored} peers restored of ${peers.total}`);
    assert.deepEqual(await scrapeCounts(edge.port, peers.hashes), counts, 'scrape counts after a full restart');
    await assertPeersServed(edge.port, peers);
    assert.equal(restored, peers.total, 'every peer came back from Redis');
    let held = 0;
    for (const s of cluster.swarms) held += metricSum(await s.metrics(), 'tracker_peers');
    assert.equal(held, peers.total + peers.hashes.length, 'nothing twice (plus one checker per torrent)');
    await cluster.stop();
  });
});
