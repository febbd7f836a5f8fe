/**
 * An edge's readiness at start, with real processes on loopback
 * (services/edge/startup-readiness.ts):
 *
 *  - an edge started before its swarm listens serves, but answers "swarm
 *    swarm-0 unavailable" and fails /readyz; once the swarm listens and
 *    the edge's stream to it opens, /readyz answers 200 and the very next
 *    announce is served (what `tracker cluster` and its test rely on: all
 *    its processes start at once);
 *  - a swarm that never comes up keeps an edge out only for
 *    cluster.edgeReadyWaitSeconds, counted once as that limit's hit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAnnounceQuery, parseAnnounceReply } from '../../lib/protocol/http/client.js';
import { ClusterNode, metricIn } from '../support/cluster.js';
import { AnnounceEvent, decodeCompactPeers, endpointKey, eventually, httpGet, randomId20 } from '../support/integration-helpers.js';
import { cleanupScope, findFreePort, httpStatus } from '../support/tracker-process.js';

async function httpAnnounce(port: number, p: { infoHash: string; port: number; left?: number }) {
  const query = buildAnnounceQuery({ peerId: randomId20(), left: p.left ?? 100, infoHash: p.infoHash, port: p.port, event: AnnounceEvent.Started });
  const res = await httpGet('127.0.0.1', port, `/announce?${query}`, {}, 5000);
  assert.equal(res.status, 200);
  const reply = parseAnnounceReply(res.body);
  if (reply.type !== 'announce') return { ok: false as const, why: reply.type === 'failure' ? reply.reason : reply.error, peers: [] as string[] };
  return { ok: true as const, why: '', peers: decodeCompactPeers(reply.peers, 6).map(endpointKey) };
}

const readyz = (node: ClusterNode): Promise<number> => httpStatus(`http://127.0.0.1:${node.metricsPort}/readyz`, 2000).catch(() => 0);

/** An edge (not started) of the single swarm `swarm-0` at `grpcPort`, waiting for it at most `waitSeconds`. */
async function edgeOf(grpcPort: number, waitSeconds: number): Promise<ClusterNode> {
  const port = await findFreePort({ host: '127.0.0.1', tcp: true, udp: true });
  const metricsPort = await findFreePort({ host: '127.0.0.1', tcp: true, udp: false });
  return new ClusterNode('edge-0', 'edge', port, metricsPort, [
    'edge',
    '--log.level=info',
    '--metrics.host=127.0.0.1',
    '--node.name=edge-0',
    '--host=127.0.0.1',
    `--port=${port}`,
    `--metrics.port=${metricsPort}`,
    `--cluster.members=swarm-0=127.0.0.1:${grpcPort}`,
    `--cluster.edgeReadyWaitSeconds=${waitSeconds}`,
  ]);
}

test('an edge started before its swarm is ready only once its stream is open, and then serves at once', { timeout: 120_000 }, async (t) => {
  const scope = cleanupScope(t);
  const grpcPort = await findFreePort({ host: '127.0.0.1', tcp: true, udp: false });
  const swarmMetricsPort = await findFreePort({ host: '127.0.0.1', tcp: true, udp: false });
  const edge = await edgeOf(grpcPort, 300);
  scope.after(() => edge.kill('SIGKILL'));
  edge.spawn();
  await eventually(() => (/"msg":"edge listening"/.test(edge.output()) ? true : undefined), 30_000, 'the edge to listen').catch((error: Error) => {
    throw new Error(edge.describe(error.message));
  });

  // The swarm's port is closed: the edge answers, but cannot serve, and says it is not ready.
  const before = await httpAnnounce(edge.port, { infoHash: randomId20(), port: 30_001 });
  assert.deepEqual([before.ok, before.why], [false, 'swarm swarm-0 unavailable']);
  assert.equal(await readyz(edge), 503, edge.describe('not ready while its only swarm is down'));

  const swarm = new ClusterNode('swarm-0', 'swarm', grpcPort, swarmMetricsPort, [
    'swarm',
    '--log.level=info',
    '--metrics.host=127.0.0.1',
    '--node.name=swarm-0',
    '--swarm.grpcHost=127.0.0.1',
    `--swarm.grpcPort=${grpcPort}`,
    `--metrics.port=${swarmMetricsPort}`,
    `--cluster.members=swarm-0=127.0.0.1:${grpcPort}`,
  ]);
  scope.after(() => swarm.kill('SIGKILL'));
  await swarm.start(60_000);
  await edge.waitReady(60_000);

  // No retry: ready means its stream is open.
  const hash = randomId20();
  assert.ok((await httpAnnounce(edge.port, { infoHash: hash, port: 30_002, left: 0 })).ok, edge.describe('the first announce after ready'));
  assert.deepEqual((await httpAnnounce(edge.port, { infoHash: hash, port: 30_003 })).peers, ['127.0.0.1|30002']);
  const said = /"msg":"edge ready: a stream is open to every swarm".*"swarms":\["swarm-0"\]/;
  await eventually(() => (said.test(edge.output()) ? true : undefined), 10_000, 'the ready line naming swarm-0').catch((error: Error) => {
    throw new Error(edge.describe(error.message));
  });
  assert.equal(metricIn(await edge.metrics(), 'tracker_limit_hits_total', { limit: 'cluster.edgeReadyWaitSeconds' }), 0);
});

test('a swarm that never comes up keeps an edge out only for cluster.edgeReadyWaitSeconds, counted once', { timeout: 60_000 }, async (t) => {
  const scope = cleanupScope(t);
  const deadPort = await findFreePort({ host: '127.0.0.1', tcp: true, udp: false });
  const edge = await edgeOf(deadPort, 1);
  scope.after(() => edge.kill('SIGKILL'));
  await edge.start(30_000);
  // The line is written when /readyz first answers 200; it reaches us through the child's stdout pipe a moment later.
  const warned = /"level":"warn","msg":"edge ready without a stream to every swarm \(cluster.edgeReadyWaitSeconds ran out\).*"down":\["swarm-0"\]/;
  await eventually(() => (warned.test(edge.output()) ? true : undefined), 10_000, 'the warning naming swarm-0').catch((error: Error) => {
    throw new Error(edge.describe(error.message));
  });
  // Ready, and what it can serve it serves; its clients learn the rest at once.
  const reply = await httpAnnounce(edge.port, { infoHash: randomId20(), port: 30_004 });
  assert.deepEqual([reply.ok, reply.why], [false, 'swarm swarm-0 unavailable']);
  assert.equal(await readyz(edge), 200, 'stays ready');
  assert.equal(metricIn(await edge.metrics(), 'tracker_limit_hits_total', { limit: 'cluster.edgeReadyWaitSeconds' }), 1);
});
