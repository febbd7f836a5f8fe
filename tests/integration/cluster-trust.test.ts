/**
 * Edge <-> swarm trust and failure counters with real tracker processes on
 * loopback (tests/support/cluster.ts, `tracker cluster`), certificates made
 * by openssl:
 *
 *  - a cluster over mutual TLS (2 swarms, 2 edges, a certificate per node,
 *    the swarms' files in Kubernetes-Secret-like volumes) serves HTTP and
 *    WebTorrent across edges;
 *  - streams without a certificate, with another CA's certificate, or with
 *    edge-1's valid certificate claiming edge-0's id are refused and counted
 *    on the swarms' /metrics, and edge-0's WebTorrent peers stay; edge-0
 *    itself restarting (new boot nonce) still drops them;
 *  - rotating a swarm's certificate files (atomic `..data` swap) is picked
 *    up without a signal: new connections get the new certificate, the
 *    edges' streams carry on;
 *  - a shared token from a file (cluster.authTokenFile) works the same way;
 *  - `tracker cluster` runs over mutual TLS with one certificate naming
 *    every node, and once every process is ready both edges reach both
 *    swarms;
 *  - an edge whose swarm stalls or is overloaded shows it on /metrics.
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { buildAnnounceQuery, parseAnnounceReply } from '../../lib/protocol/http/client.js';
import { SlotTable } from '../../lib/cluster/slot-table.js';
import { GrpcTransport, type GrpcTransportOptions } from '../../lib/transport/grpc/client.js';
import { TlsFiles } from '../../lib/transport/grpc/tls-files.js';
import { edgeChannelCredentials } from '../../lib/transport/grpc/credentials.js';
import { ClusterNode, metricIn, metricsText, startCluster, startClusterCommand, type Cluster } from '../support/cluster.js';
import { SecretVolume, TestCa, type IssuedCert } from '../support/cluster-certs.js';
import { startStallingSwarm } from '../support/stalling-swarm.js';
import { AnnounceEvent, WtTestClient, decodeCompactPeers, endpointKey, eventually, httpGet, randomId20 } from '../support/integration-helpers.js';
import { cleanupScope, findFreePort } from '../support/tracker-process.js';

let nextPeerPort = 20_000 + Math.floor(Math.random() * 20_000);
const peerPort = (): number => nextPeerPort++;

async function httpAnnounce(port: number, p: { infoHash: string; port: number; left?: number }, timeoutMs = 3000) {
  const query = buildAnnounceQuery({ peerId: randomId20(), left: p.left ?? 100, infoHash: p.infoHash, port: p.port, event: AnnounceEvent.Started });
  const res = await httpGet('127.0.0.1', port, `/announce?${query}`, {}, timeoutMs);
  assert.equal(res.status, 200);
  const reply = parseAnnounceReply(res.body);
  if (reply.type !== 'announce') return { ok: false as const, why: reply.type === 'failure' ? reply.reason : reply.error, peers: [] as string[] };
  return { ok: true as const, why: '', peers: decodeCompactPeers(reply.peers, 6).map(endpointKey) };
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** An in-test edge transport to one swarm process (an attacker, or a misconfigured edge). */
async function probe(swarm: ClusterNode, options: Partial<GrpcTransportOptions> & { edgeId: string }, files?: TlsFiles): Promise<GrpcTransport> {
  return new GrpcTransport({
    name: swarm.name,
    address: `127.0.0.1:${swarm.port}`,
    streamOpenTimeoutMs: 3000,
    ...(files ? { credentials: edgeChannelCredentials(files), tlsServerName: swarm.name } : {}),
    ...options,
  });
}

/** The reason of a probe's first refused stream. */
async function refusal(transport: GrpcTransport): Promise<string> {
  await until('the stream to be refused', () => transport.stats().streamFailures > 0, 10_000);
  return transport.stats().lastError;
}

describe('a cluster over mutual TLS: 2 swarms + 2 edges, a certificate per node', { timeout: 120_000 }, () => {
  const scope = cleanupScope({ after });
  let dir: string;
  let ca: TestCa;
  let rogueCa: TestCa;
  const certs: Record<string, IssuedCert> = {};
  const volumes: Record<string, SecretVolume> = {};
  let cluster: Cluster;
  const closers: Array<{ close(): unknown }> = [];
  const track = <T extends { close(): unknown }>(c: T): T => {
    closers.push(c);
    return c;
  };
  after(async () => {
    for (const c of closers.splice(0)) await c.close();
  });
  /** WebTorrent peers of edge-0, one per swarm's hash, announced in the first test. */
  const edge0Peers: { hash: string; client?: WtTestClient }[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cluster-trust-'));
    scope.after(() => rmSync(dir, { recursive: true, force: true }));
    ca = TestCa.create(dir, 'cluster');
    rogueCa = TestCa.create(dir, 'rogue');
    for (const name of ['swarm-0', 'swarm-1', 'edge-0', 'edge-1']) certs[name] = ca.issue(name, { dns: [name] });
    certs['swarm-0-rotated'] = ca.issue('swarm-0-rotated', { dns: ['swarm-0'] });
    certs['rogue-edge-0'] = rogueCa.issue('rogue-edge-0', { dns: ['edge-0'] });
    for (const name of ['swarm-0', 'swarm-1']) {
      volumes[name] = new SecretVolume(join(dir, `${name}-tls`));
      volumes[name].writeFrom(certs[name], ca);
    }
  });

  const tlsArgs = (name: string, role: 'edge' | 'swarm'): string[] =>
    role === 'swarm'
      ? [`--cluster.tls.certFile=${volumes[name].path('tls.crt')}`, `--cluster.tls.keyFile=${volumes[name].path('tls.key')}`, `--cluster.tls.caFile=${volumes[name].path('ca.crt')}`]
      : [`--cluster.tls.certFile=${certs[name].certFile}`, `--cluster.tls.keyFile=${certs[name].keyFile}`, `--cluster.tls.caFile=${ca.certFile}`];

  it('comes up over mutual TLS and serves HTTP and WebTorrent across edges; swarms log how each edge was proven', { timeout: 40_000 }, async () => {
    cluster = await startCluster(scope, { swarms: 2, edges: 2, nodeArgs: tlsArgs });
    const [e0, e1] = cluster.edges;
    for (const swarm of cluster.swarms) {
      await eventually(async () => (metricIn(await swarm.metrics(), 'tracker_edges_connected') === 2 ? true : undefined), 5000, `${swarm.name}: 2 edges connected`);
      assert.match(swarm.output(), /"msg":"edge connected".*"edgeId":"edge-0","proof":"certificate CN=edge-0; DNS:edge-0; serial /);
      assert.match(swarm.output(), /"msg":"swarm listening".*"edgeTransport":"mutual TLS"/);
    }
    assert.match(e0.output(), /"swarmTransport":"mutual TLS"/);
    for (const swarm of cluster.members) {
      const hash = cluster.hashOwnedBy(swarm);
      const port = peerPort();
      assert.ok((await httpAnnounce(e0.port, { infoHash: hash, port, left: 0 })).ok);
      const seen = await httpAnnounce(e1.port, { infoHash: hash, port: peerPort() });
      assert.deepEqual(seen.peers, [`127.0.0.1|${port}`], `${swarm}: edge-1 returns the peer announced on edge-0`);

      const wtHash = cluster.hashOwnedBy(swarm);
      const client = track(await WtTestClient.open(e0.port));
      await client.announceOk({ infoHash: wtHash, peerId: randomId20(), left: 100, event: AnnounceEvent.Started });
      edge0Peers.push({ hash: wtHash, client });
    }
    const observer = track(await WtTestClient.open(e1.port));
    const files = await observer.scrapeOk(edge0Peers.map((p) => p.hash));
    for (const { hash } of edge0Peers) assert.equal(files.get(hash)?.incomplete, 1, `edge-0's WebTorrent peer on ${cluster.ownerOf(hash)}`);
  });

  it('refuses a stream without a certificate, one with another CA\'s certificate, and edge-1\'s certificate claiming edge-0; edge-0 keeps its peers', { timeout: 40_000 }, async () => {
    const swarm = cluster.swarm('swarm-0');
    const noCert = track(await TlsFiles.load({ certFile: '', keyFile: '', caFile: ca.certFile, watch: false }));
    const rogue = track(await TlsFiles.load({ ...certs['rogue-edge-0'], caFile: ca.certFile, watch: false }));
    const edge1 = track(await TlsFiles.load({ ...certs['edge-1'], caFile: ca.certFile, watch: false }));

    const anonymous = track(await probe(swarm, { edgeId: 'edge-0', bootNonce: 'forged-1' }, noCert));
    assert.match(await refusal(anonymous), /^UNAUTHENTICATED: edge "edge-0" not proven: no client certificate/);
    const foreign = track(await probe(swarm, { edgeId: 'edge-0', bootNonce: 'forged-2' }, rogue));
    assert.match(await refusal(foreign), /^UNAUTHENTICATED: edge "edge-0" not proven: no client certificate .*certificate not trusted/);
    const impostor = track(await probe(swarm, { edgeId: 'edge-0', bootNonce: 'forged-3' }, edge1));
    assert.match(await refusal(impostor), /^PERMISSION_DENIED: edge "edge-0" not allowed: its client certificate \(CN=edge-1;/);
    const plain = track(await probe(swarm, { edgeId: 'edge-0', bootNonce: 'forged-4' }));
    assert.match(await refusal(plain), /^UNAVAILABLE/, 'a plain-text stream gets nowhere');

    const text = await swarm.metrics();
    assert.ok((metricIn(text, 'tracker_edge_streams_rejected_total', { reason: 'unauthenticated' }) ?? 0) >= 2, text);
    assert.ok((metricIn(text, 'tracker_edge_streams_rejected_total', { reason: 'permission-denied' }) ?? 0) >= 1);
    assert.equal(metricIn(text, 'tracker_edges_gone_total'), 0, 'no edge was dropped');
    assert.equal(metricIn(text, 'tracker_edges_connected'), 2);
    assert.match(swarm.output(), /"msg":"edge stream refused".*"reason":"unauthenticated"/);

    // edge-0's WebTorrent peers are all still there, and edge-0 still serves.
    const observer = track(await WtTestClient.open(cluster.edges[1].port));
    const files = await observer.scrapeOk(edge0Peers.map((p) => p.hash));
    for (const { hash } of edge0Peers) assert.equal(files.get(hash)?.incomplete, 1, `edge-0's peer on ${cluster.ownerOf(hash)} stays`);
    assert.ok((await httpAnnounce(cluster.edges[0].port, { infoHash: cluster.hashOwnedBy('swarm-0'), port: peerPort() })).ok);
  });

  it('positive control: edge-0 itself restarting (a new boot nonce, proven) drops its old WebTorrent peers', { timeout: 40_000 }, async () => {
    const e0 = cluster.edges[0];
    await e0.kill('SIGKILL');
    await e0.restart();
    await cluster.waitStreams(e0, { 'swarm-0': 1, 'swarm-1': 1 }, 10_000);
    const observer = track(await WtTestClient.open(cluster.edges[1].port));
    await eventually(
      async () => {
        const files = await observer.scrapeOk(edge0Peers.map((p) => p.hash), 2000);
        return edge0Peers.every(({ hash }) => files.get(hash)?.incomplete === 0) ? true : undefined;
      },
      8000,
      'the old edge-0 incarnation\'s WebTorrent peers to leave',
    ).catch((error: Error) => {
      throw new Error(cluster.describe(error.message));
    });
    for (const swarm of cluster.swarms) assert.ok((metricIn(await swarm.metrics(), 'tracker_edges_gone_total') ?? 0) >= 1, `${swarm.name} dropped edge-0`);
  });

  it('a swarm certificate rotated in its volume is picked up by itself: new connections get it, the edges\' streams carry on', { timeout: 40_000 }, async () => {
    const swarm = cluster.swarm('swarm-0');
    const serialOfNewConnection = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = tlsConnect({
          host: '127.0.0.1',
          port: swarm.port,
          servername: 'swarm-0',
          ca: readFileSync(ca.certFile),
          cert: readFileSync(certs['edge-1'].certFile),
          key: readFileSync(certs['edge-1'].keyFile),
          ALPNProtocols: ['h2'],
        });
        socket.once('secureConnect', () => {
          resolve(socket.getPeerCertificate().serialNumber);
          socket.destroy();
        });
        socket.once('error', reject);
      });
    assert.equal(await serialOfNewConnection(), certs['swarm-0'].serial);
    const failuresBefore = await Promise.all(cluster.edges.map(async (e) => metricIn(await e.metrics(), 'tracker_swarm_stream_failures_total', { swarm: 'swarm-0' })));

    volumes['swarm-0'].writeFrom(certs['swarm-0-rotated'], ca);
    // fs.watch on the volume's directory, else the periodic check (15 s).
    await eventually(async () => ((metricIn(await swarm.metrics(), 'tracker_cluster_tls_reloads_total', { result: 'ok' }) ?? 0) >= 1 ? true : undefined), 25_000, 'swarm-0 to reload its certificate', 100);
    assert.equal(await serialOfNewConnection(), certs['swarm-0-rotated'].serial);
    assert.match(swarm.output(), /"msg":"TLS files reloaded: new connections use them"/);

    for (const [i, e] of cluster.edges.entries()) {
      const text = await e.metrics();
      assert.equal(metricIn(text, 'tracker_swarm_stream_up', { swarm: 'swarm-0' }), 1);
      assert.equal(metricIn(text, 'tracker_swarm_stream_failures_total', { swarm: 'swarm-0' }), failuresBefore[i], `${e.name}: no stream to swarm-0 failed`);
    }
    const hash = cluster.hashOwnedBy('swarm-0');
    const port = peerPort();
    assert.ok((await httpAnnounce(cluster.edges[0].port, { infoHash: hash, port, left: 0 })).ok);
    assert.deepEqual((await httpAnnounce(cluster.edges[1].port, { infoHash: hash, port: peerPort() })).peers, [`127.0.0.1|${port}`]);
  });

  it('SIGTERM on every process exits 0', { timeout: 40_000 }, async () => {
    for (const c of closers.splice(0)) await c.close();
    const results = await cluster.stop();
    for (const r of results) assert.deepEqual(r.result, { code: 0, signal: null }, `${r.name} after SIGTERM`);
  });
});

test('a cluster with a shared token from a file: served; a stream with the wrong token or none is refused and cannot drop an edge\'s peers', { timeout: 60_000 }, async (t) => {
  const scope = cleanupScope(t);
  const dir = mkdtempSync(join(tmpdir(), 'cluster-token-'));
  scope.after(() => rmSync(dir, { recursive: true, force: true }));
  const token = `${'0123456789abcdef'.repeat(4)}\n`; // a Secret's file often ends in a newline
  writeFileSync(join(dir, 'token'), token);
  const cluster = await startCluster(scope, { swarms: 1, edges: 1, extraArgs: [`--cluster.authTokenFile=${join(dir, 'token')}`] });
  const [swarm] = cluster.swarms;
  const [edge] = cluster.edges;
  assert.match(swarm.output(), /"edgeId":"edge-0","proof":"token"/);

  const ws = await WtTestClient.open(edge.port);
  scope.after(() => ws.close());
  const hash = randomId20();
  await ws.announceOk({ infoHash: hash, peerId: randomId20(), left: 100, event: AnnounceEvent.Started });

  const probes = [await probe(swarm, { edgeId: 'edge-0', bootNonce: 'forged-1' }), await probe(swarm, { edgeId: 'edge-0', bootNonce: 'forged-2', authToken: 'f'.repeat(64) })];
  scope.after(() => Promise.all(probes.map((p) => p.close())));
  assert.match(await refusal(probes[0]), /^UNAUTHENTICATED: edge "edge-0" not proven: no tracker-edge-proof/);
  assert.match(await refusal(probes[1]), /^UNAUTHENTICATED: edge "edge-0" not proven: the token proof does not match/);
  const text = await swarm.metrics();
  assert.ok((metricIn(text, 'tracker_edge_streams_rejected_total', { reason: 'unauthenticated' }) ?? 0) >= 2);
  assert.equal(metricIn(text, 'tracker_edges_gone_total'), 0);
  const files = await ws.scrapeOk([hash]);
  assert.equal(files.get(hash)?.incomplete, 1, 'the edge\'s WebTorrent peer stays');

  // Positive control: the token itself (as the file holds it, trimmed) opens a stream.
  const proven = await probe(swarm, { edgeId: 'edge-9', authToken: token.trim() });
  scope.after(() => proven.close());
  assert.ok(await proven.whenOpen(5000), proven.stats().lastError);
});

test('tracker cluster over mutual TLS, one certificate naming every node: routes across edges as soon as every process is ready', { timeout: 120_000 }, async (t) => {
  const scope = cleanupScope(t);
  const dir = mkdtempSync(join(tmpdir(), 'cluster-cmd-tls-'));
  scope.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = TestCa.create(dir, 'cluster');
  const all = ca.issue('all-nodes', { dns: ['swarm-0', 'swarm-1', 'edge-0', 'edge-1'] });
  const cmd = await startClusterCommand(scope, {
    edges: 2,
    swarms: 2,
    extraArgs: [
      `--cluster.tls.certFile=${all.certFile}`,
      `--cluster.tls.keyFile=${all.keyFile}`,
      `--cluster.tls.caFile=${ca.certFile}`,
      // Every process starts at once, so the edges' first connects find the swarms' ports closed. An edge
      // is ready once its streams to both swarms are open: a wait no busy machine runs out of.
      '--cluster.edgeReadyWaitSeconds=90',
    ],
  });
  await cmd.waitAllReady(90_000);
  const table = SlotTable.build(['swarm-0', 'swarm-1']);
  const owned = (swarm: string): string => {
    for (;;) {
      const hash = randomId20();
      if (table.ownerOf(hash) === swarm) return hash;
    }
  };
  // No retries: once every process says ready, both edges reach both swarms.
  for (const swarm of ['swarm-0', 'swarm-1']) {
    const hash = owned(swarm);
    const port = peerPort();
    const seeder = await httpAnnounce(cmd.edgePort(0), { infoHash: hash, port, left: 0 });
    assert.ok(seeder.ok, cmd.describe(`${swarm} through edge-0: ${seeder.why}`, 400));
    const seen = await httpAnnounce(cmd.edgePort(1), { infoHash: hash, port: peerPort() });
    assert.ok(seen.ok, cmd.describe(`${swarm} through edge-1: ${seen.why}`, 400));
    assert.deepEqual(seen.peers, [`127.0.0.1|${port}`], cmd.describe(`${swarm}: edge-1 returns edge-0's peer`, 400));
  }
  for (let i = 0; i < 2; i++) {
    const text = await metricsText(cmd.swarmMetricsPort(i));
    assert.equal(metricIn(text, 'tracker_edges_connected'), 2);
    assert.equal(metricIn(text, 'tracker_edge_streams_rejected_total', { reason: 'permission-denied' }), 0);
  }
  assert.deepEqual(await cmd.stop(20_000), { code: 0, signal: null });
});

test('an edge whose swarm stalls or is overloaded shows timeouts, overload and unavailability on /metrics', { timeout: 60_000 }, async (t) => {
  const scope = cleanupScope(t);
  const stall = await startStallingSwarm();
  scope.after(() => stall.stop());
  const deadPort = await findFreePort({ host: '127.0.0.1', tcp: true, udp: false });
  const port = await findFreePort({ host: '127.0.0.1', tcp: true, udp: true });
  const metricsPort = await findFreePort({ host: '127.0.0.1', tcp: true, udp: false });
  const edge = new ClusterNode('edge-0', 'edge', port, metricsPort, [
    'edge',
    '--log.level=warn',
    '--metrics.host=127.0.0.1',
    '--node.name=edge-0',
    '--host=127.0.0.1',
    `--port=${port}`,
    `--metrics.port=${metricsPort}`,
    `--cluster.members=swarm-0=127.0.0.1:${stall.port},swarm-1=127.0.0.1:${deadPort}`,
    '--cluster.requestTimeoutMs=1500',
    '--cluster.maxMessagesInFlight=1',
    '--cluster.maxQueuedRequests=1',
    // swarm-1 never comes up: serve (and be ready) with what there is from the start.
    '--cluster.edgeReadyWaitSeconds=0',
  ]);
  scope.after(() => edge.kill('SIGKILL'));
  await edge.start();
  const table = SlotTable.build(['swarm-0', 'swarm-1']);
  const owned = (swarm: string): string => {
    for (;;) {
      const hash = randomId20();
      if (table.ownerOf(hash) === swarm) return hash;
    }
  };
  const stalled = owned('swarm-0');
  // One request on the wire (the in-flight cap), one waiting behind it, and a third that finds the queue full.
  const first = httpAnnounce(port, { infoHash: stalled, port: peerPort() }, 5000);
  await until('the stalling swarm to receive the first request', () => stall.requests() === 1, 5000);
  const second = httpAnnounce(port, { infoHash: stalled, port: peerPort() }, 5000);
  await eventually(async () => (metricIn(await edge.metrics(), 'tracker_swarm_inflight_requests', { swarm: 'swarm-0' }) === 2 ? true : undefined), 3000, 'the second request to wait');
  const third = await httpAnnounce(port, { infoHash: stalled, port: peerPort() }, 5000);
  assert.deepEqual([third.ok, third.why], [false, 'swarm swarm-0 overloaded']);
  assert.deepEqual([(await first).why, (await second).why], ['swarm swarm-0 timed out', 'swarm swarm-0 timed out']);
  const down = await httpAnnounce(port, { infoHash: owned('swarm-1'), port: peerPort() });
  assert.equal(down.ok, false);

  const text = await edge.metrics();
  assert.equal(metricIn(text, 'tracker_swarm_requests_failed_total', { swarm: 'swarm-0', reason: 'timeout' }), 2, text);
  assert.equal(metricIn(text, 'tracker_swarm_requests_failed_total', { swarm: 'swarm-0', reason: 'overloaded' }), 1);
  assert.equal(metricIn(text, 'tracker_limit_hits_total', { limit: 'cluster.maxQueuedRequests' }), 1);
  assert.ok((metricIn(text, 'tracker_swarm_requests_failed_total', { swarm: 'swarm-1', reason: 'unavailable' }) ?? 0) >= 1);
  assert.ok((metricIn(text, 'tracker_swarm_stream_failures_total', { swarm: 'swarm-1' }) ?? 0) >= 1);
  assert.equal(metricIn(text, 'tracker_swarm_stream_failures_total', { swarm: 'swarm-0' }), 0);
  assert.match(edge.output(), /"msg":"swarm stream down; retrying".*"swarm":"swarm-1".*"reason":"UNAVAILABLE/);
});
