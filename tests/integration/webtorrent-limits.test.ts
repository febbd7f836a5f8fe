/**
 * The WebTorrent attacks of issue 9 rerun against the real tracker process:
 * one address opening thousands of sockets and announcing peers through
 * them, a socket flooding frames, a socket flooding offers, and sockets that
 * answer pings but never send a tracker message. Each time the tracker must
 * keep serving normal clients, hold no more than its caps, and count what it
 * refused in tracker_limit_hits_total{limit="<config key>"}.
 *
 * Different client addresses are different loopback source addresses
 * (127.0.0.2, 127.0.0.3, ...: all of 127.0.0.0/8 is local on Linux).
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  WtTestClient,
  eventually,
  fakeSdp,
  launchTracker,
  makeOffers,
  metricValue,
  randomId20,
  scrapeMetrics,
  withTimeout,
  type LaunchedTracker,
  type WtOfferDecoded,
  type WtServerMessage,
} from '../support/integration-helpers.js';
import { encodeAnnounceRequest } from '../../lib/protocol/webtorrent/client.js';
import { AnnounceEvent } from '../../lib/tracker/events.js';

const clients: WtTestClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

async function open(on: LaunchedTracker, localAddress = '127.0.0.1'): Promise<WtTestClient> {
  const c = await WtTestClient.open(on.httpPort, { localAddress });
  clients.push(c);
  return c;
}

async function metric(on: LaunchedTracker, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await scrapeMetrics(on.metricsPort), name, labels) ?? 0;
}

const limitHits = (on: LaunchedTracker, key: string) => metric(on, 'tracker_limit_hits_total', { limit: `webtorrent.${key}` });
const isOffer = (m: WtServerMessage): m is WtOfferDecoded => m.type === 'offer';

describe('WebTorrent: per-address caps (maxSocketsPerAddress, maxPeersPerAddress)', () => {
  const SOCKETS = 5;
  const PEERS = 8;
  let tracker: LaunchedTracker;
  before(async () => {
    tracker = await launchTracker([`--webtorrent.maxSocketsPerAddress=${SOCKETS}`, `--webtorrent.maxPeersPerAddress=${PEERS}`]);
  });
  after(() => tracker?.stop());

  it('one address opening 100 sockets gets 5, the rest are refused with HTTP 429 and counted; another address connects meanwhile', async () => {
    const socketsBefore = await metric(tracker, 'tracker_ws_sockets');
    const attempts = await Promise.allSettled(Array.from({ length: 100 }, () => open(tracker, '127.0.0.2')));
    const opened = attempts.filter((a) => a.status === 'fulfilled').length;
    const refused = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
    assert.equal(opened, SOCKETS);
    assert.equal(refused.length, 100 - SOCKETS);
    for (const r of refused) assert.match(String(r.reason), /Unexpected server response: 429/);
    assert.equal(await limitHits(tracker, 'maxSocketsPerAddress'), 100 - SOCKETS);
    assert.equal(await metric(tracker, 'tracker_ws_sockets'), socketsBefore + SOCKETS);

    // Another address is served normally.
    const other = await open(tracker, '127.0.0.3');
    await other.announceOk({ infoHash: randomId20(), peerId: randomId20(), left: 1 });
    // The capped address gets a slot back when one of its sockets closes.
    const mine = clients.find((c) => c !== other)!;
    mine.ws.close(1000);
    await mine.waitClose(3000);
    await eventually(async () => ((await open(tracker, '127.0.0.2').catch(() => undefined)) ? true : undefined), 3000, 'the freed slot');
  });

  it(`peers announced through all of one address's sockets stop at ${PEERS}: every further announce gets a failure, counted`, async () => {
    // The previous test's peer leaves with its socket first.
    const peersBefore = await eventually(
      async () => ((await metric(tracker, 'tracker_webtorrent_peers', { kind: 'leecher' })) === 0 ? 0 : undefined),
      3000,
      'no WebTorrent peers left from the previous test',
    );
    const hitsBefore = await limitHits(tracker, 'maxPeersPerAddress');
    // The attack: every socket the address may open announces 20 peers (distinct torrents).
    const sockets = await Promise.all(Array.from({ length: SOCKETS }, () => open(tracker, '127.0.0.4')));
    const replies = await Promise.all(
      sockets.map(async (c) => {
        const out: string[] = [];
        for (let i = 0; i < 20; i++) {
          const r = await c.announce({ infoHash: randomId20(), peerId: randomId20(), left: 1, event: AnnounceEvent.Started });
          out.push(r.type === 'failure' ? r.reason : r.type);
        }
        return out;
      }),
    );
    const all = replies.flat();
    assert.equal(all.filter((r) => r === 'announce').length, PEERS);
    const failures = all.filter((r) => r !== 'announce');
    assert.equal(failures.length, SOCKETS * 20 - PEERS);
    for (const f of failures) assert.match(f, /too many peers announced from your address \(limit 8\)/);
    assert.equal((await limitHits(tracker, 'maxPeersPerAddress')) - hitsBefore, SOCKETS * 20 - PEERS);
    assert.equal((await metric(tracker, 'tracker_webtorrent_peers', { kind: 'leecher' })) - peersBefore, PEERS, 'the tracker holds 8 peers for that address');

    // Another address announces normally meanwhile.
    const other = await open(tracker, '127.0.0.5');
    await other.announceOk({ infoHash: randomId20(), peerId: randomId20(), left: 1 });
    // Closing the address's sockets frees its peers (on the swarm and in its count).
    for (const c of sockets) c.ws.close(1000);
    await eventually(
      async () => ((await metric(tracker, 'tracker_webtorrent_peers', { kind: 'leecher' })) === peersBefore + 1 ? true : undefined),
      3000,
      'the closed sockets\' peers to leave',
    );
    const again = await open(tracker, '127.0.0.4');
    await again.announceOk({ infoHash: randomId20(), peerId: randomId20(), left: 1 });
  });
});

describe('WebTorrent: a socket flooding frames (maxMessagesPerSecond, messageBurst at their defaults)', () => {
  let tracker: LaunchedTracker;
  before(async () => {
    tracker = await launchTracker();
  });
  after(() => tracker?.stop());

  it('is closed with 1008 and counted; a normal socket\'s announce is answered meanwhile; a burst under the limit is fine', async () => {
    const infoHash = randomId20();
    const receiver = await open(tracker);
    await receiver.announceOk({ infoHash, peerId: randomId20(), left: 1 });
    const normal = await open(tracker, '127.0.0.6');
    const normalId = randomId20();
    await normal.announceOk({ infoHash, peerId: normalId, left: 1 });

    // Positive control: a page opening 250 torrents at once (under the default burst of 300) stays open.
    const page = await open(tracker, '127.0.0.7');
    const pageId = randomId20();
    const torrents = Array.from({ length: 250 }, () => randomId20());
    for (const h of torrents) page.sendNow(encodeAnnounceRequest({ infoHash: h, peerId: pageId, left: 1, offers: makeOffers(5, 300) }));
    await eventually(() => (page.all('announce').length === torrents.length || page.closed ? true : undefined), 15_000, 'the page\'s 250 replies');
    assert.equal(page.closed, undefined, 'a burst under messageBurst is not closed');
    assert.equal(page.all('failure').length, 0);

    // The flood: 3,000 announces with 10 offers each, as fast as the socket takes them.
    const flood = await open(tracker, '127.0.0.8');
    const floodId = randomId20();
    const frame = encodeAnnounceRequest({ infoHash, peerId: floodId, left: 1, offers: makeOffers(10, 200) });
    const started = Date.now(); // the tracker reads the flood while it is being written
    for (let i = 0; i < 3000; i++) flood.sendNow(frame);
    const reply = await withTimeout(normal.announceOk({ infoHash, peerId: normalId, left: 1 }, 5000), 5000, 'the normal announce during the flood');
    assert.equal(reply.type, 'announce');
    const closed = await flood.waitClose(15_000);
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /too many messages/);
    // The burst, plus what the budget refilled (20/s) while the tracker read it.
    const allowed = 300 + Math.ceil((20 * (Date.now() - started)) / 1000) + 1;
    assert.ok(flood.all('announce').length <= allowed, `the flood got ${flood.all('announce').length} replies before it was closed (at most ${allowed})`);
    assert.equal(await limitHits(tracker, 'maxMessagesPerSecond'), 1);
    assert.equal(page.isOpen, true);
    // After it: normal clients are served, the tracker is up.
    await normal.announceOk({ infoHash, peerId: normalId, left: 1 });
    await receiver.scrapeOk(infoHash);
    assert.equal(tracker.running(), true);
  });
});

describe('WebTorrent: a socket flooding offers (maxPendingOffers, maxPendingOffersPerSocket)', () => {
  let tracker: LaunchedTracker;
  before(async () => {
    // A small pool (the flood below offers 6x its size); the flooder's message budget lifted so
    // it is the offer quota, not the rate limit, that is tested.
    tracker = await launchTracker(['--webtorrent.maxPendingOffers=5000', '--webtorrent.maxMessagesPerSecond=1000000', '--webtorrent.messageBurst=1000000']);
  });
  after(() => tracker?.stop());

  it('cannot wipe out another peer\'s pending offer: its answer is still relayed after 20,000 flooded offers (4x the pool)', async () => {
    const infoHash = randomId20();
    const receivers = await Promise.all(['127.0.0.10', '127.0.0.11', '127.0.0.12'].map((a) => open(tracker, a)));
    const receiverIds = receivers.map(() => randomId20());
    for (let i = 0; i < receivers.length; i++) await receivers[i].announceOk({ infoHash, peerId: receiverIds[i], left: 1 });
    // B offers once; its offer waits at one receiver.
    const b = await open(tracker, '127.0.0.13');
    const bId = randomId20();
    const bOffers = makeOffers(1);
    await b.announceOk({ infoHash, peerId: bId, left: 1, offers: bOffers });
    await Promise.all(receivers.map((r) => r.sync()));
    const i = receivers.findIndex((r) => r.all('offer').length === 1);
    assert.ok(i >= 0, 'one receiver holds B\'s offer');
    const holder = { r: receivers[i], i, offer: await receivers[i].next(isOffer, 3000, 'B\'s offer') };

    // A floods: 5,000 announces, each offering to all four other peers.
    const a = await open(tracker, '127.0.0.14');
    const aId = randomId20();
    await a.announceOk({ infoHash, peerId: aId, left: 1 });
    const FLOOD = 5000;
    const first = makeOffers(10, 40);
    a.sendNow(encodeAnnounceRequest({ infoHash, peerId: aId, left: 1, offers: first }));
    for (let i = 1; i < FLOOD; i++) a.sendNow(encodeAnnounceRequest({ infoHash, peerId: aId, left: 1, offers: makeOffers(10, 40) }));
    await eventually(() => (a.all('announce').length >= FLOOD + 1 ? true : undefined), 60_000, 'the flood\'s replies', 100);
    const pending = await metric(tracker, 'tracker_webtorrent_pending_offers');
    assert.ok(pending <= 5000, `pending offers ${pending} within maxPendingOffers`);

    // B's offer is answered and the answer reaches B.
    const answer = fakeSdp('answer');
    await holder.r.sendAnswer({ infoHash, peerId: receiverIds[holder.i], toPeerId: bId, offerId: holder.offer.offerId, answer });
    const back = await b.next((m) => m.type === 'answer', 5000, 'the answer to B\'s offer');
    assert.deepEqual(back, { type: 'answer', infoHash, peerId: receiverIds[holder.i], offerId: bOffers[0].offerId, answer });
    // Positive control: the flood was big enough to evict, and it evicted its own first offers.
    await receivers[0].sync();
    const toFirst = receivers[0].all('offer').find((o) => o.peerId === aId && first.some((f) => f.offerId === o.offerId));
    assert.ok(toFirst, 'receiver 0 got one of A\'s first offers');
    await receivers[0].sendAnswer({ infoHash, peerId: receiverIds[0], toPeerId: aId, offerId: toFirst.offerId, answer });
    const f = await receivers[0].failure(3000, infoHash);
    assert.match(f.reason, /does not match an unexpired offer/);
  });
});

describe('WebTorrent: sockets that answer pings but send no tracker message (idleTimeoutSeconds)', () => {
  const IDLE_S = 11; // the smallest allowed with the smallest interval (10 s)
  let tracker: LaunchedTracker;
  before(async () => {
    tracker = await launchTracker(['--webtorrent.intervalSeconds=10', `--webtorrent.idleTimeoutSeconds=${IDLE_S}`]);
  });
  after(() => tracker?.stop());

  it(`are closed after ${IDLE_S} s; a socket that keeps sending tracker messages stays open`, async () => {
    const silent = await open(tracker);
    const active = await open(tracker);
    const openedAt = Date.now();
    // The silent one pings (the tracker's WebSocket answers), the active one scrapes, every second.
    const timer = setInterval(() => {
      if (silent.isOpen) silent.ws.ping();
      if (active.isOpen) active.sendNow(JSON.stringify({ action: 'scrape', info_hash: randomId20() }));
    }, 1000);
    try {
      const closed = await silent.waitClose(IDLE_S * 1000 + 15_000);
      const after = (Date.now() - openedAt) / 1000;
      assert.equal(closed.code, 1000);
      assert.match(closed.reason, /idle/);
      assert.ok(after >= IDLE_S - 1, `closed after ${after.toFixed(1)} s, not before the timeout`);
      assert.equal(active.isOpen, true, 'the active socket stays open');
      await active.scrapeOk(randomId20());
      assert.equal(await limitHits(tracker, 'idleTimeoutSeconds'), 1);
    } finally {
      clearInterval(timer);
    }
  });
});
