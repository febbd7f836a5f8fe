/**
 * No peer lost when swarms come and go, without Redis: real tracker
 * processes (tests/support/cluster.ts) on a members file, thousands of UDP
 * and HTTP peers (IPv4 and IPv6) and WebTorrent peers announced through the
 * edges, then:
 *
 *  - 3 -> 4 -> 3 swarms while a load loop of UDP and HTTP announces runs:
 *    no announce fails, and after each step every peer is served (a fresh
 *    announcer of each torrent gets exactly the peers announced) and every
 *    scrape count is unchanged; the load's own peers are all there at the end;
 *  - a rolling restart of every swarm, one by one, under load: the same;
 *  - a swarm removed hands its peers over before it exits, WebTorrent peers
 *    included (a newcomer's offers reach them on their old sockets); the
 *    same removal with cluster.handoffDeadlineSeconds=0 loses them (the
 *    positive control: it is the handoff that kept them);
 *  - a swarm that a handoff is being pushed to is frozen, killed and
 *    started again in the middle of it: the handoff goes to the next owner
 *    and on to it, and every peer that was handed off is served whole, with
 *    the same counts;
 *  - over mutual TLS (a certificate per node) swarms hand slots to each
 *    other, and a caller without a certificate, or with a valid edge
 *    certificate claiming a swarm's name, pulls nothing.
 *
 * Load loops are bounded in time; every wait is bounded.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { SlotTable } from '../../lib/cluster/slot-table.js';
import { edgeChannelCredentials } from '../../lib/transport/grpc/credentials.js';
import { HandoffCallError, HandoffClient } from '../../lib/transport/grpc/handoff-client.js';
import { TlsFiles } from '../../lib/transport/grpc/tls-files.js';
import { TestCa } from '../support/cluster-certs.js';
import { startAnnounceLoad } from '../support/announce-load.js';
import { metricIn, metricSum, startCluster, type Cluster } from '../support/cluster.js';
import { AnnounceEvent, WtTestClient, eventually, makeOffers, randomId20, sleep, type WtOfferDecoded, type WtServerMessage } from '../support/integration-helpers.js';
import { announcePeers, assertPeersServed, httpAnnounce, scrapeCounts, type LoadedPeers, type TorrentCounts } from '../support/peer-load.js';
import { cleanupScope } from '../support/tracker-process.js';

/** Every peer comes from loopback: the per-address limits would cut the swarms the tests compare. */
const LIFTED_CLIENT_LIMITS = [
  '--store.newTorrentsPerSecond=0',
  '--store.maxPeersPerAddressPerTorrent=1024',
  '--store.maxPeersPerAddressPerReply=1000',
  '--webtorrent.maxSocketsPerAddress=1000',
  '--webtorrent.maxPeersPerAddress=100000',
  '--http.maxConnectionsPerAddress=100000',
];

const isOffer = (m: WtServerMessage): m is WtOfferDecoded => m.type === 'offer';

/**
 * What a scrape must say after `assertPeersServed` ran `checks` times: the
 * first check adds one leecher per family present (the fresh announcer
 * stays; later checks announce the same endpoint again).
 */
function countsAfterChecks(peers: LoadedPeers, checks: number): Map<string, TorrentCounts> {
  const out = new Map<string, TorrentCounts>();
  for (const [hash, c] of peers.counts) {
    const families = (peers.v4.get(hash)!.size > 0 ? 1 : 0) + (peers.v6.get(hash)!.size > 0 ? 1 : 0);
    out.set(hash, { ...c, incomplete: c.incomplete + (checks > 0 ? families : 0) });
  }
  return out;
}

/** Peers of `peers` not served any more, counted (not asserted): for the control that must lose some. */
async function missingPeers(port: number, peers: LoadedPeers): Promise<number> {
  let missing = 0;
  for (const hash of peers.hashes) {
    const want = peers.v4.get(hash)!;
    if (want.size === 0) continue;
    const reply = await httpAnnounce('127.0.0.1', port, { infoHash: hash, port: 9, left: 1000, numwant: 200 }, 5000);
    const got = new Set(reply.v4);
    for (const key of want) if (!got.has(key)) missing++;
  }
  return missing;
}

async function handoffPeers(cluster: Cluster, op: string): Promise<number> {
  let n = 0;
  for (const s of cluster.swarms) n += metricIn(await s.metrics(), 'tracker_handoff_peers_total', { op }) ?? 0;
  return n;
}

/** Peers held by `swarm` (UDP/HTTP and WebTorrent), from its gauges. */
async function peersHeld(cluster: Cluster, swarm: string): Promise<number> {
  const text = await cluster.swarm(swarm).metrics();
  return metricSum(text, 'tracker_peers') + metricSum(text, 'tracker_webtorrent_peers');
}

describe('swarms added and removed under load, without Redis', { timeout: 300_000 }, () => {
  const scope = cleanupScope({ after });

  test('3 -> 4 -> 3: no announce fails, and after each step every peer is served with unchanged scrape counts', async (t) => {
    const cluster = await startCluster(scope, { swarms: 3, edges: 2, edgeHost: '::', extraArgs: LIFTED_CLIENT_LIMITS, edgeArgs: ['--cluster.movedWaitMs=2000'] });
    const [edge0, edge1] = cluster.edges;
    const peers = await announcePeers(edge0.port, cluster.spreadHashes(150), { httpV4: 6, httpV6: 2, udpSockets: 4 });
    assert.deepEqual(await scrapeCounts(edge1.port, peers.hashes), peers.counts, 'sanity: the cluster holds what was announced');
    const load = await startAnnounceLoad([edge0.port, edge1.port], cluster.spreadHashes(30), { maxMs: 200_000 });
    let checks = 0;
    const check = async (step: string): Promise<void> => {
      await cluster.waitHandoffs();
      assert.deepEqual(await scrapeCounts(edge1.port, peers.hashes), countsAfterChecks(peers, checks), `${step}: scrape counts unchanged`);
      await assertPeersServed(edge0.port, peers);
      checks++;
      t.diagnostic(`${step}: all ${peers.total} peers served; load: ${load.ok} announces answered, ${load.failures.length} failed`);
    };
    try {
      await sleep(500);
      const added = await cluster.addSwarm();
      await check(`3 -> 4 (${added.name} added)`);
      const pulled = metricIn(await added.metrics(), 'tracker_handoff_peers_total', { op: 'pulled' }) ?? 0;
      assert.ok(pulled > 0, `${added.name} pulled its slots before it was ready (${pulled} peers)`);

      const leaving = await peersHeld(cluster, 'swarm-0');
      const receivedBefore = await handoffPeers(cluster, 'received');
      await cluster.removeSwarm('swarm-0');
      await check('4 -> 3 (swarm-0 removed)');
      assert.ok((await handoffPeers(cluster, 'received')) - receivedBefore >= leaving, `the others received the ${leaving} peers swarm-0 held`);
      await sleep(500);
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.failures.slice(0, 5), [], `${load.failures.length} of ${load.ok + load.failures.length} announces failed`);
    assert.ok(load.ok > 100, `the load ran (${load.ok} announces answered)`);
    await assertPeersServed(edge1.port, load.peers());
    await cluster.stop();
  });

  test('a rolling restart of every swarm, one by one, under load: no announce fails and every peer is kept', async (t) => {
    const cluster = await startCluster(scope, { swarms: 3, edges: 1, edgeHost: '::', extraArgs: LIFTED_CLIENT_LIMITS, edgeArgs: ['--cluster.movedWaitMs=2000'] });
    const edge = cluster.edges[0];
    const peers = await announcePeers(edge.port, cluster.spreadHashes(120), { httpV4: 5, httpV6: 2, udpSockets: 3 });
    const load = await startAnnounceLoad([edge.port], cluster.spreadHashes(20), { maxMs: 200_000 });
    let checks = 0;
    try {
      for (const name of ['swarm-0', 'swarm-1', 'swarm-2']) {
        await cluster.restartSwarm(name);
        await cluster.waitHandoffs();
        assert.deepEqual(await scrapeCounts(edge.port, peers.hashes), countsAfterChecks(peers, checks), `after restarting ${name}: scrape counts unchanged`);
        await assertPeersServed(edge.port, peers);
        checks++;
        assert.equal(cluster.swarm(name).starts, 2);
        t.diagnostic(`${name} restarted: all ${peers.total} peers served`);
      }
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.failures.slice(0, 5), [], `${load.failures.length} of ${load.ok + load.failures.length} announces failed`);
    assert.ok(load.ok > 100, `the load ran (${load.ok} announces answered)`);
    await assertPeersServed(edge.port, load.peers());
    await cluster.stop();
  });
});

describe('a swarm removed without Redis', { timeout: 300_000 }, () => {
  const scope = cleanupScope({ after });
  const clients: WtTestClient[] = [];
  after(() => {
    for (const c of clients) c.close();
  });

  /** A cluster with UDP/HTTP peers everywhere and WebTorrent peers in torrents of swarm-1; then swarm-1 is removed. */
  async function removeOne(handoffArgs: string[]): Promise<{ cluster: Cluster; peers: LoadedPeers; held: number; wtHashes: string[]; wtClients: WtTestClient[] }> {
    const cluster = await startCluster(scope, { swarms: 3, edges: 1, extraArgs: LIFTED_CLIENT_LIMITS, swarmArgs: handoffArgs });
    const edge = cluster.edges[0];
    const peers = await announcePeers(edge.port, cluster.spreadHashes(90), { httpV4: 6, udpSockets: 3 });
    const wtHashes = Array.from({ length: 3 }, () => cluster.hashOwnedBy('swarm-1'));
    const wtClients: WtTestClient[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await WtTestClient.open(edge.port);
      clients.push(c);
      wtClients.push(c);
      for (const infoHash of wtHashes) await c.announceOk({ infoHash, peerId: randomId20('-WH0001-'), left: i % 2 === 0 ? 0 : 100, event: AnnounceEvent.Started });
    }
    const held = await peersHeld(cluster, 'swarm-1');
    await cluster.removeSwarm('swarm-1');
    return { cluster, peers, held, wtHashes, wtClients };
  }

  test('hands its peers to their new owners before it exits, WebTorrent peers included; with cluster.handoffDeadlineSeconds=0 they are lost', async (t) => {
    const { cluster, peers, held, wtHashes, wtClients } = await removeOne([]);
    const edge = cluster.edges[0];
    await cluster.waitHandoffs();
    await assertPeersServed(edge.port, peers);
    assert.deepEqual(await scrapeCounts(edge.port, peers.hashes), countsAfterChecks(peers, 1));
    for (const [hash, stats] of await wtClients[0].scrapeOk(wtHashes)) assert.deepEqual(stats, { complete: 2, incomplete: 2, downloaded: 0 }, `WebTorrent torrent ${hash}`);
    // A newcomer's offers reach every WebTorrent peer, on the socket it announced from, through the new owner.
    const newcomer = await WtTestClient.open(edge.port);
    clients.push(newcomer);
    await newcomer.announceOk({ infoHash: wtHashes[0], peerId: randomId20('-WN0001-'), left: 100, offers: makeOffers(wtClients.length) });
    for (const c of wtClients) await c.next((m): m is WtOfferDecoded => isOffer(m) && m.infoHash === wtHashes[0], 5000, 'an offer from the newcomer');
    t.diagnostic(`swarm-1 held ${held} peers; all served by the others after it left`);
    await cluster.stop();

    // The control: the same removal without handoff loses what swarm-1 held.
    const control = await removeOne(['--cluster.handoffDeadlineSeconds=0']);
    const lost = await missingPeers(control.cluster.edges[0].port, control.peers);
    const heldPacked = control.held - 4 * 3;
    assert.equal(lost, heldPacked, `without handoff, the ${heldPacked} UDP/HTTP peers of swarm-1 are gone until they re-announce`);
    for (const [, stats] of await control.wtClients[0].scrapeOk(control.wtHashes)) assert.deepEqual(stats, { complete: 0, incomplete: 0, downloaded: 0 });
    await control.cluster.stop();
  });

  test('the swarm a handoff goes to is frozen, killed and started again in the middle of it: every peer handed off is served whole', async (t) => {
    const cluster = await startCluster(scope, { swarms: 3, edges: 1, extraArgs: LIFTED_CLIENT_LIMITS });
    const edge = cluster.edges[0];
    // swarm-0's torrents: they move to swarm-1 and swarm-2 when swarm-0 leaves.
    const hashes = Array.from({ length: 120 }, () => cluster.hashOwnedBy('swarm-0'));
    const peers = await announcePeers(edge.port, hashes, { httpV4: 6, udpSockets: 4 });
    const after0 = SlotTable.build(['swarm-1', 'swarm-2']);
    assert.ok(hashes.some((h) => after0.ownerOf(h) === 'swarm-1') && hashes.some((h) => after0.ownerOf(h) === 'swarm-2'));

    const frozen = cluster.swarm('swarm-1');
    process.kill(frozen.pid, 'SIGSTOP');
    const receivedBy2 = async (): Promise<number> => metricIn(await cluster.swarm('swarm-2').metrics(), 'tracker_handoff_slots_total', { op: 'received' }) ?? 0;
    cluster.setMembers(['swarm-1', 'swarm-2'], ['swarm-0'], 'all');
    // swarm-0 has pushed to swarm-2 and is stuck pushing to the frozen swarm-1: the middle of the handoff.
    await eventually(async () => (await receivedBy2()) > 0 && metricIn(await cluster.swarm('swarm-0').metrics(), 'tracker_handoff_in_progress') === 1, 20_000, 'swarm-0 in the middle of its handoff');
    await frozen.kill('SIGKILL');
    await frozen.restart();
    await cluster.waitTable(after0.identity, 'all');
    await cluster.waitHandoffs(60_000);
    assert.deepEqual(await scrapeCounts(edge.port, hashes), peers.counts, 'scrape counts of everything swarm-0 handed off');
    await assertPeersServed(edge.port, peers);
    const s0 = await cluster.swarm('swarm-0').metrics();
    t.diagnostic(`swarm-0 handoff failures: ${JSON.stringify(['unreachable', 'leaving', 'deadline', 'no-successor'].map((r) => [r, metricIn(s0, 'tracker_handoff_failures_total', { reason: r })]))}`);
    await cluster.removeSwarm('swarm-0');
    await cluster.stop();
  });
});

describe('handoff over mutual TLS', { timeout: 200_000 }, () => {
  const scope = cleanupScope({ after });

  test('swarms prove their names to each other with their certificates; a caller without one, or with an edge\'s, pulls nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-tls-'));
    scope.after(() => rmSync(dir, { recursive: true, force: true }));
    const ca = TestCa.create(dir, 'cluster');
    const certs = Object.fromEntries(['swarm-0', 'swarm-1', 'swarm-2', 'edge-0'].map((name) => [name, ca.issue(name, { dns: [name] })]));
    const tlsArgs = (name: string): string[] => [`--cluster.tls.certFile=${certs[name].certFile}`, `--cluster.tls.keyFile=${certs[name].keyFile}`, `--cluster.tls.caFile=${ca.certFile}`];
    const cluster = await startCluster(scope, { swarms: 3, edges: 1, extraArgs: LIFTED_CLIENT_LIMITS, nodeArgs: tlsArgs });
    const edge = cluster.edges[0];
    const peers = await announcePeers(edge.port, cluster.spreadHashes(60), { httpV4: 5, udpSockets: 2 });
    const held = await peersHeld(cluster, 'swarm-2');
    await cluster.removeSwarm('swarm-2');
    await cluster.waitHandoffs();
    await assertPeersServed(edge.port, peers);
    assert.ok((await handoffPeers(cluster, 'received')) >= held, `swarm-2's ${held} peers were received over TLS`);

    // Strangers: no certificate, and edge-0's (valid, same CA) claiming to be swarm-1.
    const target = cluster.swarm('swarm-0');
    const slots = SlotTable.build(['swarm-0', 'swarm-1']).slotsOf('swarm-0');
    const attempts: Array<{ what: string; files: TlsFiles; code: grpc.status }> = [
      { what: 'no certificate', files: await TlsFiles.load({ caFile: ca.certFile, certFile: '', keyFile: '' }), code: grpc.status.UNAUTHENTICATED },
      { what: 'an edge certificate', files: await TlsFiles.load({ caFile: ca.certFile, certFile: certs['edge-0'].certFile, keyFile: certs['edge-0'].keyFile }), code: grpc.status.PERMISSION_DENIED },
    ];
    for (const { what, files, code } of attempts) {
      const client = new HandoffClient({ self: 'swarm-1', bootNonce: 'x', target: 'swarm-0', address: `127.0.0.1:${target.port}`, credentials: edgeChannelCredentials(files), tlsServerName: 'swarm-0' });
      let chunks = 0;
      const error = await client.pull({ slots, pullId: 'p' }, Date.now() + 10_000, (c) => void (chunks += c.length)).then(() => undefined, (e: unknown) => e);
      client.close();
      files.close();
      assert.ok(error instanceof HandoffCallError && error.code === code, `${what}: ${String(error)}`);
      assert.equal(chunks, 0, `${what}: nothing pulled`);
    }
    const text = await target.metrics();
    assert.equal(metricIn(text, 'tracker_handoff_calls_rejected_total', { reason: 'unauthenticated' }), 1);
    assert.equal(metricIn(text, 'tracker_handoff_calls_rejected_total', { reason: 'permission-denied' }), 1);
    await cluster.stop();
  });
});
