/**
 * The attacks of issue 9 item 2, rerun against the real tracker process:
 * one address flooding distinct info-hashes, one address announcing many
 * ports into one torrent, and a tracker at its global caps. Other addresses
 * are HTTP clients behind a trusted proxy (X-Forwarded-For from 127.0.0.1),
 * so one test machine can be many networks; the attacker is a UDP client on
 * 127.0.0.1 (the UDP announce's port field is the client's to choose).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildAnnounceQuery } from '../../lib/protocol/http/client.js';
import {
  bdecodeDict,
  bytesToText,
  decodeCompactPeers,
  asBytes,
  httpGet,
  launchTracker,
  metricValue,
  randomId20,
  scrapeMetrics,
  UdpTestClient,
  type LaunchedTracker,
} from '../support/integration-helpers.js';

interface HttpOutcome {
  failure?: string;
  peers: string[];
  complete?: number;
  incomplete?: number;
}

/** An HTTP announce as if from `address` (forwarded by the trusted proxy on 127.0.0.1). */
async function httpAnnounceFrom(tracker: LaunchedTracker, address: string, infoHash: string, port: number, numwant = 50): Promise<HttpOutcome> {
  const target = `/announce?${buildAnnounceQuery({ infoHash, peerId: randomId20(), port, left: 100, numwant })}`;
  const res = await httpGet('127.0.0.1', tracker.httpPort, target, { 'X-Forwarded-For': address });
  assert.equal(res.status, 200);
  const dict = bdecodeDict(res.body);
  if (dict['failure reason'] !== undefined) return { failure: bytesToText(dict['failure reason']), peers: [] };
  const peers = dict.peers === undefined ? [] : decodeCompactPeers(asBytes(dict.peers), 6).map((p) => `${p.ip}:${p.port}`);
  return { peers, complete: dict.complete as number, incomplete: dict.incomplete as number };
}

async function limitHits(tracker: LaunchedTracker, limit: string): Promise<number> {
  return metricValue(await scrapeMetrics(tracker.metricsPort), 'tracker_limit_hits_total', { limit }) ?? 0;
}

describe('one address against the store (real tracker process)', () => {
  let tracker: LaunchedTracker;
  let attacker: UdpTestClient;

  before(async () => {
    tracker = await launchTracker([
      '--http.trustedProxies=127.0.0.1/32',
      '--store.newTorrentsPerSecond=1',
      '--store.newTorrentsBurst=20',
      '--store.maxPeersPerAddressPerTorrent=16',
      '--store.maxPeersPerAddressPerReply=4',
      '--log.level=warn',
    ]);
    attacker = await UdpTestClient.open('127.0.0.1', tracker.udpPort);
  });

  after(async () => {
    attacker?.close();
    await tracker?.stop();
  });

  it('flooding distinct info-hashes is rate-limited and counted; another address still creates torrents', async () => {
    const started = Date.now();
    let created = 0;
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const reply = await attacker.announce({ infoHash: randomId20(), peerId: randomId20(), port: 40000 });
      if (reply.type === 'announce') created++;
      else {
        assert.equal(reply.type, 'error');
        assert.equal(reply.type === 'error' && reply.message, 'too many new torrents from your network, try again later');
        refused++;
      }
    }
    const seconds = (Date.now() - started) / 1000;
    assert.ok(created >= 20 && created <= 20 + Math.ceil(seconds) + 1, `${created} torrents created in ${seconds} s (burst 20, then 1/s)`);
    assert.equal(await limitHits(tracker, 'store.newTorrentsPerSecond'), refused);
    const torrents = metricValue(await scrapeMetrics(tracker.metricsPort), 'tracker_torrents');
    assert.equal(torrents, created, 'the tracker holds only what it accepted');

    // Another network is not affected, over HTTP as well.
    for (let i = 0; i < 5; i++) {
      const other = await httpAnnounceFrom(tracker, '192.0.2.10', randomId20(), 6881);
      assert.equal(other.failure, undefined);
    }
    // And HTTP clients hear the same reason when they flood.
    const outcomes: (string | undefined)[] = [];
    for (let i = 0; i < 30; i++) outcomes.push((await httpAnnounceFrom(tracker, '198.51.100.7', randomId20(), 6881)).failure);
    assert.ok(outcomes.slice(0, 20).every((f) => f === undefined), 'the burst is granted');
    assert.ok(outcomes.includes('too many new torrents from your network, try again later'), JSON.stringify(outcomes));
  });

  it('many ports from one address into one torrent are capped, and a real peer still gets the real peers', async () => {
    const infoHash = randomId20();
    // Real peers: ten networks.
    for (let i = 1; i <= 10; i++) assert.equal((await httpAnnounceFrom(tracker, `203.0.113.${i}`, infoHash, 6881)).failure, undefined);
    const capHitsBefore = await limitHits(tracker, 'store.maxPeersPerAddressPerTorrent');
    let accepted = 0;
    for (let port = 20000; port < 20200; port++) {
      const reply = await attacker.announce({ infoHash, peerId: randomId20(), port });
      if (reply.type === 'announce') accepted++;
      else assert.equal(reply.type === 'error' && reply.message, 'too many peers from your address in this torrent');
    }
    assert.equal(accepted, 16);
    assert.equal((await limitHits(tracker, 'store.maxPeersPerAddressPerTorrent')) - capHitsBefore, 184);
    // A peer already held keeps being served at the cap.
    assert.equal((await attacker.announce({ infoHash, peerId: randomId20(), port: 20000 })).type, 'announce');

    const real = await httpAnnounceFrom(tracker, '203.0.113.1', infoHash, 6881, 50);
    assert.equal(real.failure, undefined);
    assert.equal(real.complete! + real.incomplete!, 26);
    const fromAttacker = real.peers.filter((p) => p.startsWith('127.0.0.1:'));
    const others = real.peers.filter((p) => p.startsWith('203.0.113.'));
    assert.equal(fromAttacker.length, 4, `the attacker's share of the reply: ${JSON.stringify(real.peers)}`);
    assert.equal(others.length, 9, 'every other real peer');
    assert.ok((await limitHits(tracker, 'store.maxPeersPerAddressPerReply')) >= 1);
  });
});

describe('a tracker at its global caps (real tracker process)', () => {
  let tracker: LaunchedTracker;
  let udp: UdpTestClient;

  before(async () => {
    tracker = await launchTracker(['--http.trustedProxies=127.0.0.1/32', '--store.maxTorrents=3', '--store.maxPeers=5', '--log.level=warn']);
    udp = await UdpTestClient.open('127.0.0.1', tracker.udpPort);
  });

  after(async () => {
    udp?.close();
    await tracker?.stop();
  });

  it('refuses new torrents and new peers with a clear error, keeps serving what it holds, and counts', async () => {
    const hashes = [randomId20(), randomId20(), randomId20()];
    for (let i = 0; i < 3; i++) assert.equal((await httpAnnounceFrom(tracker, `192.0.2.${i + 1}`, hashes[i], 6881)).failure, undefined);
    assert.equal((await httpAnnounceFrom(tracker, '192.0.2.50', randomId20(), 6881)).failure, 'tracker is full: not accepting new torrents');
    const udpFull = await udp.announce({ infoHash: randomId20(), peerId: randomId20(), port: 6881 });
    assert.equal(udpFull.type === 'error' && udpFull.message, 'tracker is full: not accepting new torrents');
    assert.equal(await limitHits(tracker, 'store.maxTorrents'), 2);

    // Peers: 3 held, room for 2 more.
    assert.equal((await httpAnnounceFrom(tracker, '192.0.2.60', hashes[0], 6881)).failure, undefined);
    assert.equal((await udp.announce({ infoHash: hashes[0], peerId: randomId20(), port: 6881 })).type, 'announce');
    assert.equal((await httpAnnounceFrom(tracker, '192.0.2.61', hashes[0], 6881)).failure, 'tracker is full: not accepting new peers');
    const udpPeersFull = await udp.announce({ infoHash: hashes[1], peerId: randomId20(), port: 6881 });
    assert.equal(udpPeersFull.type === 'error' && udpPeersFull.message, 'tracker is full: not accepting new peers');
    assert.equal(await limitHits(tracker, 'store.maxPeers'), 2);

    // Held peers are served, with the peers there are.
    const again = await httpAnnounceFrom(tracker, '192.0.2.1', hashes[0], 6881);
    assert.equal(again.failure, undefined);
    assert.deepEqual(again.peers.sort(), ['127.0.0.1:6881', '192.0.2.60:6881']);
    const samples = await scrapeMetrics(tracker.metricsPort);
    assert.equal(metricValue(samples, 'tracker_torrents'), 3);
    const peers = samples.filter((s) => s.name === 'tracker_peers').reduce((sum, s) => sum + s.value, 0);
    assert.equal(peers, 5);
  });
});
