/**
 * What survives with Redis snapshots, with real processes and a real
 * redis-server started by the test:
 *
 *  - a swarm of an edge + 2 swarm cluster, SIGKILLed while holding
 *    thousands of UDP/HTTP peers in hundreds of slots and WebTorrent peers,
 *    and started again under the same name: every peer is served again,
 *    scrape counts are the same, offers reach the WebTorrent peers on their
 *    old sockets, and it reported ready only once its restore was done;
 *  - the all-in-one tracker, SIGKILLed and started again: its UDP/HTTP
 *    peers are back (its WebTorrent peers are not: their sockets closed with
 *    it); stopped with SIGTERM, the final write keeps what changed since the
 *    last pass;
 *  - Redis stopped and started again (empty) under load: no request fails,
 *    snapshots fail meanwhile and then catch up, rewriting even slots that
 *    did not change, so a crash after it loses nothing.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { slotOf } from '../../lib/cluster/slot-table.js';
import { metricIn, metricSum, startCluster } from '../support/cluster.js';
import { AnnounceEvent, WtTestClient, eventually, makeOffers, randomId20, sleep, type WtOfferDecoded, type WtServerMessage } from '../support/integration-helpers.js';
import { announcePeers, assertPeersServed, httpAnnounce, scrapeCounts } from '../support/peer-load.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { cleanupScope, httpStatus, startTracker, type TrackerProcess } from '../support/tracker-process.js';

const isOffer = (m: WtServerMessage): m is WtOfferDecoded => m.type === 'offer';

/** Every peer here comes from loopback: the per-address limits would cut the swarms the tests compare. */
const LIFTED_CLIENT_LIMITS = [
  '--store.newTorrentsPerSecond=0',
  '--store.maxPeersPerAddressPerTorrent=1024',
  '--store.maxPeersPerAddressPerReply=1000',
  '--webtorrent.maxSocketsPerAddress=1000',
  '--webtorrent.maxPeersPerAddress=100000',
  '--http.maxConnectionsPerAddress=100000',
];

/** What is tested is that restores and final writes happen, not how fast: deadlines no busy machine reaches. */
const GENEROUS_DEADLINES = ['--snapshot.restoreDeadlineSeconds=60', '--snapshot.shutdownDeadlineSeconds=60'];

function randomHashes(n: number): string[] {
  return Array.from({ length: n }, () => randomBytes(20).toString('latin1'));
}

function slotsOf(hashes: Iterable<string>): Set<number> {
  return new Set([...hashes].map(slotOf));
}

async function metricsOf(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3000) });
  return res.text();
}

/**
 * Waits (bounded) until everything changed so far is written: two complete
 * passes after now (one running now may have started before the last
 * change), nothing pending, and at least `slots` slots written in all.
 */
async function snapshotSettled(metricsPort: number, slots: number, what: string, timeoutMs = 20_000): Promise<void> {
  const complete = (text: string): number => metricIn(text, 'tracker_snapshot_passes_total', { result: 'complete' }) ?? 0;
  const start = complete(await metricsOf(metricsPort));
  await eventually(
    async () => {
      const text = await metricsOf(metricsPort);
      return (
        complete(text) >= start + 2 &&
        metricIn(text, 'tracker_snapshot_pending_slots') === 0 &&
        (metricIn(text, 'tracker_snapshot_slots_written_total', { op: 'set' }) ?? 0) >= slots
      );
    },
    timeoutMs,
    `${what}: every change written (two complete passes, ${slots} slots)`,
  );
}

/** WebTorrent clients, each a peer in every one of `hashes`. */
async function webTorrentPeers(port: number, hashes: readonly string[], clients: number): Promise<WtTestClient[]> {
  const out: WtTestClient[] = [];
  for (let i = 0; i < clients; i++) {
    const c = await WtTestClient.open(port);
    out.push(c);
    for (const infoHash of hashes) await c.announceOk({ infoHash, peerId: randomId20('-WW0001-'), left: i % 2 === 0 ? 0 : 100, event: AnnounceEvent.Started });
  }
  return out;
}

describe('a swarm killed and started again, with Redis', { timeout: 240_000 }, () => {
  const scope = cleanupScope({ after });
  const clients: WtTestClient[] = [];
  after(() => {
    for (const c of clients) c.close();
  });

  test('every peer it held is served again, scrape counts are the same, offers reach its WebTorrent peers, and it was ready only after the restore', async (t) => {
    const redis = await startRedisServer(scope);
    const cluster = await startCluster(scope, {
      swarms: 2,
      edges: 1,
      edgeHost: '::',
      extraArgs: [...LIFTED_CLIENT_LIMITS],
      // Swarms take their share of the slots for snapshots from the edges' member list; only the names count.
      swarmArgs: [`--snapshot.redisUrl=${redis.url}`, '--snapshot.intervalSeconds=1', ...GENEROUS_DEADLINES],
    });
    const edge = cluster.edges[0];
    const victim = cluster.swarm('swarm-1');

    // Thousands of UDP/HTTP peers in 300 torrents (each swarm owns half), and WebTorrent peers in 4 torrents of swarm-1.
    const hashes = cluster.spreadHashes(300);
    const peers = await announcePeers(edge.port, hashes, { httpV4: 6, httpV6: 2, udpSockets: 6 });
    assert.ok(peers.total >= 4000, `${peers.total} peers`);
    const wtHashes = Array.from({ length: 4 }, () => cluster.hashOwnedBy('swarm-1'));
    clients.push(...(await webTorrentPeers(edge.port, wtHashes, 6)));
    const counts = await scrapeCounts(edge.port, hashes);
    assert.deepEqual(counts, peers.counts, 'sanity: the tracker holds what was announced');
    const wtCounts = await clients[0].scrapeOk(wtHashes);

    const victimSlots = slotsOf([...hashes.filter((h) => cluster.ownerOf(h) === 'swarm-1'), ...wtHashes]);
    await snapshotSettled(victim.metricsPort, victimSlots.size, 'swarm-1');
    const held = await victim.metrics();
    const heldPeers = metricSum(held, 'tracker_peers') + metricSum(held, 'tracker_webtorrent_peers');
    assert.ok(heldPeers > 2000, `swarm-1 holds ${heldPeers} peers`);

    await victim.kill('SIGKILL');
    victim.spawn();
    // The first /readyz 200, and what the metrics say right after it.
    let restoredWhenReady: number | undefined;
    await eventually(
      async () => {
        if (!victim.running()) throw new Error(victim.describe('swarm-1 exited while starting'));
        const status = await httpStatus(`http://127.0.0.1:${victim.metricsPort}/readyz`, 1000).catch(() => 0);
        if (status !== 200) return false;
        restoredWhenReady = metricIn(await victim.metrics(), 'tracker_snapshot_restored_peers_total');
        return true;
      },
      30_000,
      'swarm-1 ready again',
      10,
    );
    assert.equal(restoredWhenReady, heldPeers, 'when it first said ready, every peer was restored');
    const output = victim.output();
    const restart = output.lastIndexOf('start #2');
    const restoredAt = output.indexOf('snapshot restored', restart);
    const listeningAt = output.indexOf('swarm listening', restart);
    assert.ok(restoredAt > restart && restoredAt < listeningAt, victim.describe('the restore finished before the swarm listened'));
    t.diagnostic(`swarm-1 restored ${restoredWhenReady} peers`);

    await cluster.waitStreams(edge, { 'swarm-0': 1, 'swarm-1': 1 });
    assert.deepEqual(await scrapeCounts(edge.port, hashes), counts, 'scrape counts after the restart');
    assert.deepEqual(await clients[0].scrapeOk(wtHashes), wtCounts, 'WebTorrent scrape counts after the restart');
    await assertPeersServed(edge.port, peers);

    // A new WebTorrent peer's offers reach the peers on their old sockets: one offer for each of them.
    const newcomer = await WtTestClient.open(edge.port);
    clients.push(newcomer);
    await newcomer.announceOk({ infoHash: wtHashes[0], peerId: randomId20('-WN0001-'), left: 100, offers: makeOffers(clients.length - 1) });
    for (const c of clients.slice(0, -1)) await c.next((m): m is WtOfferDecoded => isOffer(m) && m.infoHash === wtHashes[0], 5000, 'an offer from the newcomer');

    await cluster.stop();
  });
});

describe('the all-in-one tracker with Redis', { timeout: 240_000 }, () => {
  const scope = cleanupScope({ after });
  const clients: WtTestClient[] = [];
  after(() => {
    for (const c of clients) c.close();
  });
  let redis: RedisServer;
  const args = (): string[] => [`--snapshot.redisUrl=${redis.url}`, ...GENEROUS_DEADLINES, ...LIFTED_CLIENT_LIMITS];

  test('killed and started again: its UDP/HTTP peers are served again with the same counts; its WebTorrent peers are not (their sockets are gone)', async () => {
    redis = await startRedisServer(scope);
    const first = await startTracker(scope, { host: '::', extraArgs: [...args(), '--snapshot.intervalSeconds=1'] });
    const hashes = randomHashes(200);
    const peers = await announcePeers(first.port, hashes, { httpV4: 6, httpV6: 2, udpSockets: 4 });
    const wtHashes = randomHashes(2);
    clients.push(...(await webTorrentPeers(first.port, wtHashes, 3)));
    const counts = await scrapeCounts(first.port, hashes);
    assert.deepEqual(counts, peers.counts);
    await snapshotSettled(first.metricsPort, slotsOf([...hashes, ...wtHashes]).size, 'all-in-one');

    first.kill();
    await eventually(() => first.exited(), 5000, 'the tracker to exit');
    const second = await startTracker(scope, { host: '::', readyTimeoutMs: 90_000, extraArgs: args() });
    const text = await metricsOf(second.metricsPort);
    assert.equal(metricIn(text, 'tracker_snapshot_restored_peers_total'), peers.total);
    assert.equal(metricIn(text, 'tracker_slot_peers_total', { op: 'import', result: 'stale' }), 6, 'the WebTorrent peers of the process that died');
    assert.deepEqual(await scrapeCounts(second.port, hashes), counts);
    await assertPeersServed(second.port, peers);
    const wt = await WtTestClient.open(second.port);
    clients.push(wt);
    for (const [, stats] of await wt.scrapeOk(wtHashes)) assert.deepEqual(stats, { complete: 0, incomplete: 0, downloaded: 0 });
    await second.stop();
  });

  test('stopped with SIGTERM: the final write keeps what changed since the last pass', async () => {
    redis ??= await startRedisServer(scope);
    await redis.command('FLUSHALL');
    // No periodic pass within the test: only the write on shutdown can keep these peers.
    const first = await startTracker(scope, { host: '::', extraArgs: [...args(), '--snapshot.intervalSeconds=3600'] });
    const hashes = randomHashes(100);
    const peers = await announcePeers(first.port, hashes, { httpV4: 5, udpSockets: 2 });
    assert.equal(metricIn(await metricsOf(first.metricsPort), 'tracker_snapshot_slots_written_total', { op: 'set' }), 0, 'no pass ran before the stop');
    await first.stop({ timeoutMs: 90_000 });
    const second = await startTracker(scope, { host: '::', readyTimeoutMs: 90_000, extraArgs: args() });
    assert.deepEqual(await scrapeCounts(second.port, hashes), peers.counts);
    await assertPeersServed(second.port, peers);
    await second.stop();
  });
});

describe('Redis stopped and started again under load', { timeout: 240_000 }, () => {
  const scope = cleanupScope({ after });

  test('no request fails; snapshots fail meanwhile, then catch up and rewrite every slot, so a crash after it loses nothing', async (t) => {
    const redis = await startRedisServer(scope);
    const tracker = await startTracker(scope, {
      host: '::',
      extraArgs: [`--snapshot.redisUrl=${redis.url}`, '--snapshot.intervalSeconds=1', '--snapshot.commandTimeoutMs=500', ...GENEROUS_DEADLINES, ...LIFTED_CLIENT_LIMITS],
    });
    // Peers that announce once, before the outage, and never change again.
    const early = await announcePeers(tracker.port, randomHashes(150), { httpV4: 6, udpSockets: 2 });
    const earlySlots = slotsOf(early.hashes);
    await snapshotSettled(tracker.metricsPort, earlySlots.size, 'before the outage');

    // A load loop, bounded in time, over other torrents, for the whole outage.
    const loopHashes = randomHashes(50);
    const outcome = { ok: 0, failed: [] as string[] };
    let running = true;
    const loop = (async () => {
      const until = Date.now() + 120_000;
      for (let i = 0; running && Date.now() < until; i++) {
        try {
          const r = await httpAnnounce('127.0.0.1', tracker.port, { infoHash: loopHashes[i % loopHashes.length], port: 30_000 + (i % 200), left: 100 }, 3000);
          if (r.ok) outcome.ok++;
          else outcome.failed.push(r.failure ?? 'failure');
        } catch (error) {
          outcome.failed.push((error as Error).message);
        }
      }
    })();
    try {
      await sleep(500);
      await redis.stop();
      const failuresBefore = metricIn(await metricsOf(tracker.metricsPort), 'tracker_snapshot_failures_total', { op: 'write' }) ?? 0;
      await eventually(
        async () => (metricIn(await metricsOf(tracker.metricsPort), 'tracker_snapshot_failures_total', { op: 'write' }) ?? 0) > failuresBefore,
        15_000,
        'snapshot writes failing while Redis is down',
      );
      const okDuringOutage = outcome.ok;
      await sleep(1000);
      assert.ok(outcome.ok > okDuringOutage, 'requests are answered while Redis is down');

      await redis.start(); // empty: it keeps nothing across a restart
      // Every slot is written again, also the early ones that did not change.
      await eventually(
        async () => {
          const keys = [...earlySlots].map((s) => `tracker:slot:${s.toString(16).padStart(4, '0')}`);
          const reply = await redis.command('EXISTS', ...keys);
          return reply.trim() === `:${keys.length}`;
        },
        20_000,
        'the early slots written again after Redis came back empty',
      );
      await eventually(async () => (metricIn(await metricsOf(tracker.metricsPort), 'tracker_snapshot_age_seconds') ?? 99) < 5, 15_000, 'the snapshot age back to fresh');
    } finally {
      running = false;
      await loop;
    }
    t.diagnostic(`load loop: ${outcome.ok} announces answered, ${outcome.failed.length} failed`);
    assert.deepEqual(outcome.failed, [], 'no request failed');
    assert.ok(outcome.ok > 100, `the loop ran (${outcome.ok} announces)`);

    tracker.kill();
    await eventually(() => tracker.exited(), 5000, 'the tracker to exit');
    const restarted: TrackerProcess = await startTracker(scope, { host: '::', readyTimeoutMs: 90_000, extraArgs: [`--snapshot.redisUrl=${redis.url}`, ...GENEROUS_DEADLINES, ...LIFTED_CLIENT_LIMITS] });
    assert.deepEqual(await scrapeCounts(restarted.port, early.hashes), early.counts);
    await assertPeersServed(restarted.port, early);
    await restarted.stop();
  });
});
