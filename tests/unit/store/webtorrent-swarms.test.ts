import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebTorrentSwarms, webTorrentLimitHits, type WebTorrentConfig, type WebTorrentLimitHits } from '../../../services/swarm/store/webtorrent-swarms.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import type { SocketRef, WtAnnounceRequest, WtAnswerRequest, WtRelayMessage } from '../../../lib/tracker/webtorrent.js';
import { Swarm } from '../../../services/swarm/swarm.js';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import { makeStore } from '../../support/swarm-store.js';

const CONFIG: WebTorrentConfig = { intervalSeconds: 120, peerTimeoutSeconds: 300, offerTtlSeconds: 60, maxPendingOffers: 1000 };
const HASH = 'h'.repeat(20);
const id = (n: number): string => `peer-${String(n).padStart(15, '0')}`;
const sock = (n: number, edge = 'e1'): SocketRef => ({ edge, socket: n });
const offerId = (n: number): string => `offer-${String(n).padStart(14, '0')}`;

class Inbox {
  readonly messages: { to: SocketRef; message: WtRelayMessage }[] = [];
  deliver(to: SocketRef, message: WtRelayMessage): void {
    this.messages.push({ to: { edge: to.edge, socket: to.socket }, message });
  }
}

class Hits implements WebTorrentLimitHits {
  readonly counts = { maxTorrents: 0, maxPeers: 0, maxPendingOffers: 0, maxPendingOffersPerSocket: 0 };
  readonly maxTorrents = { inc: (by = 1) => void (this.counts.maxTorrents += by) };
  readonly maxPeers = { inc: (by = 1) => void (this.counts.maxPeers += by) };
  readonly maxPendingOffers = { inc: (by = 1) => void (this.counts.maxPendingOffers += by) };
  readonly maxPendingOffersPerSocket = { inc: (by = 1) => void (this.counts.maxPendingOffersPerSocket += by) };
}

function setup(config: WebTorrentConfig = CONFIG, random?: () => number) {
  const hits = new Hits();
  const swarms = new WebTorrentSwarms(config, { limitHits: hits, random });
  const inbox = new Inbox();
  swarms.setRelay(inbox);
  return { swarms, inbox, hits: hits.counts };
}

function announce(n: number, extra: Partial<WtAnnounceRequest> = {}): WtAnnounceRequest {
  return { type: 'wt-announce', infoHash: HASH, peerId: id(n), from: sock(n), event: AnnounceEvent.None, seeder: false, offers: [], ...extra };
}

const offers = (count: number, base = 0) =>
  Array.from({ length: count }, (_, i) => ({ offerId: offerId(base + i), offer: { type: 'offer', sdp: `sdp-${base + i}` } }));

test('announces are counted; seeder changes and completions are tracked once', () => {
  const { swarms } = setup();
  assert.deepEqual(swarms.announce(announce(1), 0), { type: 'wt-announce', interval: 120, complete: 0, incomplete: 1, offersRelayed: 0 });
  swarms.announce(announce(2, { seeder: true }), 0);
  const reply = swarms.announce(announce(1, { seeder: true, event: AnnounceEvent.Completed }), 1);
  assert.equal(reply.type === 'wt-announce' && reply.complete, 2);
  swarms.announce(announce(1, { seeder: true, event: AnnounceEvent.Completed }), 2);
  assert.deepEqual(swarms.torrentStats(HASH), { complete: 2, incomplete: 0, downloaded: 1 });
  assert.deepEqual(swarms.stats(), { torrents: 1, seeders: 2, leechers: 0, pendingOffers: 0 });
});

test('each offer goes to a different peer, never back to the offerer', () => {
  const { swarms, inbox } = setup();
  for (let n = 1; n <= 6; n++) swarms.announce(announce(n), 0);
  for (let round = 0; round < 50; round++) {
    inbox.messages.length = 0;
    const reply = swarms.announce(announce(1, { offers: offers(4, round * 4) }), 1);
    assert.equal(reply.type === 'wt-announce' && reply.offersRelayed, 4);
    const targets = inbox.messages.map((m) => m.to.socket);
    assert.equal(new Set(targets).size, 4, 'distinct targets');
    assert.ok(!targets.includes(1), 'never the offerer');
    for (const m of inbox.messages) assert.equal(m.message.kind === 'offer' && m.message.fromPeerId, id(1));
  }
});

test('more offers than peers: each peer gets one, the rest are not relayed', () => {
  const { swarms, inbox } = setup();
  swarms.announce(announce(1), 0);
  swarms.announce(announce(2), 0);
  const reply = swarms.announce(announce(3, { offers: offers(10) }), 0);
  assert.equal(reply.type === 'wt-announce' && reply.offersRelayed, 2);
  assert.deepEqual(inbox.messages.map((m) => m.to.socket).sort(), [1, 2]);
});

test('a seeder\'s offers go to leechers only', () => {
  const { swarms, inbox } = setup();
  swarms.announce(announce(1, { seeder: true }), 0);
  swarms.announce(announce(2, { seeder: true }), 0);
  swarms.announce(announce(3), 0);
  swarms.announce(announce(4, { seeder: true, offers: offers(3) }), 0);
  assert.deepEqual(inbox.messages.map((m) => m.to.socket), [3]);
});

test('an answer reaches the offerer only for an offer handed to the answerer, once, before it expires', () => {
  const { swarms, inbox } = setup();
  swarms.announce(announce(1), 0);
  swarms.announce(announce(2, { offers: offers(1) }), 0); // offer 0 from peer 2 to peer 1
  inbox.messages.length = 0;
  const answer = (from: number, to: number, offer: number, now: number) =>
    swarms.answer({ type: 'wt-answer', infoHash: HASH, peerId: id(from), from: sock(from), toPeerId: id(to), offerId: offerId(offer), answer: { type: 'answer', sdp: 'a' } }, now);

  assert.equal(answer(1, 3, 0, 1).type, 'error', 'wrong offerer');
  assert.equal(answer(1, 2, 9, 1).type, 'error', 'unknown offer id');
  assert.equal(answer(3, 2, 0, 1).type, 'error', 'a peer that never announced');
  swarms.announce(announce(3), 0);
  assert.equal(answer(3, 2, 0, 1).type, 'error', 'the offer was not handed to this peer');
  assert.equal(inbox.messages.length, 0);

  assert.deepEqual(answer(1, 2, 0, 1), { type: 'wt-answer' });
  assert.equal(inbox.messages.length, 1);
  assert.deepEqual(inbox.messages[0].to, sock(2));
  assert.equal(inbox.messages[0].message.kind === 'answer' && inbox.messages[0].message.fromPeerId, id(1));
  assert.equal(answer(1, 2, 0, 2).type, 'error', 'each offer is answered at most once');

  swarms.announce(announce(2, { offers: offers(1, 5) }), 10); // a fresh offer 5 to peer 1 or 3
  const target = inbox.messages.at(-1)!.to.socket;
  assert.equal(answer(target, 2, 5, 10 + 61).type, 'error', 'expired after offerTtlSeconds');
});

test('an answer sent from another socket than the answerer\'s is refused', () => {
  const { swarms } = setup();
  swarms.announce(announce(1), 0);
  swarms.announce(announce(2, { offers: offers(1) }), 0);
  const forged = swarms.answer(
    { type: 'wt-answer', infoHash: HASH, peerId: id(1), from: sock(99), toPeerId: id(2), offerId: offerId(0), answer: { type: 'answer', sdp: 'x' } },
    1,
  );
  assert.equal(forged.type, 'error');
});

test('a peer_id belongs to its socket: others cannot announce, stop or disconnect it', () => {
  const { swarms } = setup();
  swarms.announce(announce(1), 0);
  const impostor = swarms.announce({ ...announce(1), from: sock(7) }, 1);
  assert.deepEqual(impostor, { type: 'error', message: 'peer_id is in use by another connection' });
  const stop = swarms.announce({ ...announce(1, { event: AnnounceEvent.Stopped }), from: sock(7) }, 1);
  assert.equal(stop.type, 'error');
  assert.deepEqual(swarms.disconnect({ type: 'wt-disconnect', from: sock(7), peers: [{ infoHash: HASH, peerId: id(1) }] }), { type: 'wt-disconnect', removed: 0 });
  assert.equal(swarms.torrentStats(HASH).incomplete, 1, 'the real peer is still there');
  assert.deepEqual(swarms.disconnect({ type: 'wt-disconnect', from: sock(1), peers: [{ infoHash: HASH, peerId: id(1) }] }), { type: 'wt-disconnect', removed: 1 });
  assert.equal(swarms.torrentStats(HASH).incomplete, 0);
});

test('stopped removes the peer; dropEdge removes every peer of that edge', () => {
  const { swarms } = setup();
  swarms.announce(announce(1), 0);
  swarms.announce({ ...announce(2), from: sock(2, 'e2') }, 0);
  swarms.announce({ ...announce(3), from: sock(3, 'e2') }, 0);
  swarms.announce(announce(1, { event: AnnounceEvent.Stopped }), 1);
  assert.equal(swarms.torrentStats(HASH).incomplete, 2);
  assert.equal(swarms.dropEdge('e2'), 2);
  assert.equal(swarms.stats().leechers, 0);
});

test('sweeps expire silent peers, stale offers and empty torrents; pending offers are bounded', () => {
  const { swarms } = setup({ ...CONFIG, maxPendingOffers: 5 });
  swarms.announce(announce(1), 0);
  for (let n = 2; n <= 8; n++) swarms.announce(announce(n, { offers: offers(1, n) }), 0);
  assert.equal(swarms.stats().pendingOffers, 5, 'offers past the bound are not kept');
  swarms.announce(announce(1), 200);
  assert.equal(swarms.sweepStep(100, 200), true);
  assert.equal(swarms.stats().pendingOffers, 0, 'offers past their TTL are gone');
  assert.equal(swarms.stats().leechers, 8, 'nobody silent long enough yet');
  swarms.sweepStep(100, 301);
  assert.equal(swarms.stats().leechers, 1, 'only the peer that re-announced at 200 survives');
  swarms.sweepStep(100, 600);
  assert.deepEqual(swarms.stats(), { torrents: 0, seeders: 0, leechers: 0, pendingOffers: 0 });
});

// ---------------------------------------------------------------- limits

function answerOf(from: number, to: number, offer: number, extra: Partial<WtAnswerRequest> = {}): WtAnswerRequest {
  return { type: 'wt-answer', infoHash: HASH, peerId: id(from), from: sock(from), toPeerId: id(to), offerId: offerId(offer), answer: { type: 'answer', sdp: `answer-${offer}` }, ...extra };
}

/** The offers delivered to `socket`, by offer id. */
function offersAt(inbox: Inbox, socket: number): string[] {
  return inbox.messages.filter((m) => m.to.socket === socket && m.message.kind === 'offer').map((m) => (m.message.kind === 'offer' ? m.message.offerId : ''));
}

test('a socket flooding offers loses only its own oldest ones: another socket\'s pending offer is still answered and relayed', () => {
  const PER_SOCKET = 20;
  const { swarms, inbox, hits } = setup({ ...CONFIG, maxPendingOffers: 1000, maxPendingOffersPerSocket: PER_SOCKET });
  swarms.announce(announce(3), 0); // C: the only other peer, so every offer goes to C
  swarms.announce(announce(2, { offers: offers(1, 5000) }), 0); // B offers once to C
  assert.deepEqual(offersAt(inbox, 3), [offerId(5000)]);
  // A floods: 500 announces with 1 offer each, all to C or B (never itself); far past its quota.
  swarms.announce(announce(1), 1);
  for (let i = 0; i < 500; i++) swarms.announce(announce(1, { offers: offers(1, i) }), 1);
  assert.equal(swarms.stats().pendingOffers, PER_SOCKET + 1, 'A holds its quota; B keeps its one offer');
  assert.equal(hits.maxPendingOffersPerSocket, 500 - PER_SOCKET, 'each eviction of A\'s own offers is counted');
  assert.equal(hits.maxPendingOffers, 0);

  inbox.messages.length = 0;
  assert.deepEqual(swarms.answer(answerOf(3, 2, 5000), 2), { type: 'wt-answer' }, 'B\'s offer survived A\'s flood');
  assert.deepEqual(inbox.messages.map((m) => [m.to.socket, m.message.kind]), [[2, 'answer']], 'and its answer reached B');
  // Positive control: A's own early offers were forgotten, its latest are answerable.
  const first = swarms.answer(answerOf(3, 1, 0), 2);
  const firstAtB = swarms.answer(answerOf(2, 1, 0), 2);
  assert.ok(first.type === 'error' && firstAtB.type === 'error', 'A\'s first offer is gone');
  const last = [swarms.answer(answerOf(3, 1, 499), 2), swarms.answer(answerOf(2, 1, 499), 2)];
  assert.equal(last.filter((r) => r.type === 'wt-answer').length, 1, 'A\'s last offer is still answerable by its receiver');
});

test('a full pool refuses new offers (not relayed, counted) and evicts nobody; expiry makes room again', () => {
  const { swarms, inbox, hits } = setup({ ...CONFIG, maxPendingOffers: 100, maxPendingOffersPerSocket: 60 });
  swarms.announce(announce(9), 0); // the receiver of every offer below (no other peers but the offerer)
  // Two sockets fill the pool: 60 + 40 offers.
  swarms.announce(announce(1), 0);
  for (let i = 0; i < 60; i++) swarms.announce(announce(1, { offers: offers(1, i) }), 0);
  swarms.announce(announce(2, { offers: offers(1, 100) }), 0);
  swarms.announce(announce(9), 0);
  // Socket 2 only reaches peers 9 and 1; keep it at 40 offers in total.
  for (let i = 1; i < 40; i++) swarms.announce(announce(2, { offers: offers(1, 100 + i) }), 0);
  assert.equal(swarms.stats().pendingOffers, 100);
  assert.equal(hits.maxPendingOffers, 0);

  // A third socket: its offer is refused, not relayed.
  inbox.messages.length = 0;
  const reply = swarms.announce(announce(3, { offers: offers(1, 900) }), 1);
  assert.equal(reply.type === 'wt-announce' && reply.offersRelayed, 0, 'the announce itself is answered, with no offer relayed');
  assert.deepEqual(inbox.messages, [], 'nobody received the refused offer');
  assert.equal(hits.maxPendingOffers, 1);
  assert.equal(swarms.stats().pendingOffers, 100, 'nothing was evicted for it');
  // Every earlier offer is still answerable: the oldest of socket 1 and of socket 2.
  const receiverOf = (offer: number, offerer: number) =>
    [9, 1, 2].find((s) => s !== offerer && swarms.answer(answerOf(s, offerer, offer), 1).type === 'wt-answer');
  assert.ok(receiverOf(0, 1) !== undefined, 'socket 1\'s oldest offer survived');
  assert.ok(receiverOf(100, 2) !== undefined, 'socket 2\'s oldest offer survived');

  // Positive control: once the pool's offers expire there is room, and the same announce relays.
  const later = CONFIG.offerTtlSeconds + 1;
  const again = swarms.announce(announce(3, { offers: offers(1, 901) }), later);
  assert.equal(again.type === 'wt-announce' && again.offersRelayed, 1);
  assert.equal(hits.maxPendingOffers, 1);
});

test('an offer id pending at a peer from one offerer is never displaced by another offerer', () => {
  // random() = 0: every offer goes to the first peer of the swarm that is not the offerer: C.
  const { swarms, inbox } = setup(CONFIG, () => 0);
  swarms.announce(announce(3), 0); // C
  swarms.announce(announce(1, { offers: offers(1, 7) }), 0); // A offers #7 to C
  const replyB = swarms.announce(announce(2, { offers: offers(1, 7) }), 0); // B tries the same id at C
  assert.equal(replyB.type === 'wt-announce' && replyB.offersRelayed, 0);
  assert.deepEqual(offersAt(inbox, 3), [offerId(7)], 'C received A\'s offer only');
  assert.equal(swarms.answer(answerOf(3, 2, 7), 1).type, 'error', 'B cannot have C\'s answer');
  assert.deepEqual(swarms.answer(answerOf(3, 1, 7), 1), { type: 'wt-answer' }, 'A\'s offer is intact');
  // The same offerer re-offering its own id refreshes it (it moves to the back with a new expiry).
  swarms.announce(announce(1, { offers: offers(1, 8) }), 0);
  swarms.announce(announce(1, { offers: offers(1, 8) }), 50);
  assert.deepEqual(swarms.answer(answerOf(3, 1, 8), 50 + CONFIG.offerTtlSeconds - 1), { type: 'wt-answer' });
});

test('a closed socket\'s offers and their per-socket bookkeeping go at once; so do an edge\'s', () => {
  const { swarms } = setup();
  swarms.announce(announce(9), 0);
  for (let n = 1; n <= 3; n++) swarms.announce(announce(n), 0);
  swarms.announce({ ...announce(4), from: sock(4, 'e2') }, 0);
  // Each of sockets 1-3 (edge e1) and 4 (edge e2) offers twice, to two of the four other peers.
  for (let n = 1; n <= 3; n++) swarms.announce(announce(n, { offers: offers(2, n * 10) }), 0);
  swarms.announce({ ...announce(4, { offers: offers(2, 40) }), from: sock(4, 'e2') }, 0);
  assert.equal(swarms.stats().pendingOffers, 8);
  assert.equal(swarms.offeringSockets, 4);
  swarms.disconnect({ type: 'wt-disconnect', from: sock(1), peers: [{ infoHash: HASH, peerId: id(1) }] });
  assert.deepEqual([swarms.stats().pendingOffers, swarms.offeringSockets], [6, 3]);
  // A disconnect from a socket that owns nothing frees nothing of the others'.
  swarms.disconnect({ type: 'wt-disconnect', from: sock(77), peers: [] });
  assert.deepEqual([swarms.stats().pendingOffers, swarms.offeringSockets], [6, 3]);
  swarms.dropEdge('e2');
  assert.deepEqual([swarms.stats().pendingOffers, swarms.offeringSockets], [4, 2]);
  swarms.dropEdge('e1');
  assert.deepEqual([swarms.stats().pendingOffers, swarms.offeringSockets], [0, 0]);
  assert.deepEqual(swarms.stats(), { torrents: 0, seeders: 0, leechers: 0, pendingOffers: 0 });
});

test('maxPeers and maxTorrents: new peers and torrents get a clear failure, counted; peers already here are served; room comes back', () => {
  const { swarms, hits } = setup({ ...CONFIG, maxTorrents: 2, maxPeers: 3 });
  const other = 'o'.repeat(20);
  const third = 't'.repeat(20);
  swarms.announce(announce(1), 0);
  swarms.announce({ ...announce(2), infoHash: other }, 0);
  const newTorrent = swarms.announce({ ...announce(3), infoHash: third }, 0);
  assert.deepEqual(newTorrent, { type: 'error', message: 'tracker is full: not accepting new WebTorrent torrents, try again later' });
  assert.equal(hits.maxTorrents, 1);
  swarms.announce(announce(3), 0); // a third peer in an existing torrent is fine
  const newPeer = swarms.announce(announce(4), 0);
  assert.deepEqual(newPeer, { type: 'error', message: 'tracker is full: not accepting new WebTorrent peers, try again later' });
  assert.equal(hits.maxPeers, 1);
  assert.deepEqual(swarms.stats(), { torrents: 2, seeders: 0, leechers: 3, pendingOffers: 0 }, 'nobody was evicted');
  // Peers already here re-announce, complete and stop normally.
  assert.equal(swarms.announce(announce(1, { seeder: true, event: AnnounceEvent.Completed }), 1).type, 'wt-announce');
  assert.equal(swarms.announce({ ...announce(2, { event: AnnounceEvent.Stopped }), infoHash: other }, 1).type, 'wt-announce');
  assert.equal(hits.maxPeers + hits.maxTorrents, 2, 'served peers are not counted as refusals');
  // The stop freed a peer and (its torrent now empty) a torrent: both are available again at once.
  assert.equal(swarms.stats().torrents, 1, 'the empty torrent went at once');
  assert.equal(swarms.announce({ ...announce(4), infoHash: third }, 2).type, 'wt-announce');
  assert.deepEqual(swarms.stats(), { torrents: 2, seeders: 1, leechers: 2, pendingOffers: 0 });
});

test('webTorrentLimitHits binds each limit to tracker_limit_hits_total under its config key', async () => {
  const metrics = new TrackerMetrics({ defaultMetrics: false });
  const swarms = new WebTorrentSwarms({ ...CONFIG, maxPeers: 1 }, { limitHits: webTorrentLimitHits(metrics) });
  swarms.announce(announce(1), 0);
  swarms.announce(announce(2), 0);
  const text = (await metrics.render()).body;
  assert.match(text, /tracker_limit_hits_total\{limit="webtorrent\.maxPeers"\} 1/);
  for (const key of ['maxTorrents', 'maxPendingOffers', 'maxPendingOffersPerSocket']) {
    assert.match(text, new RegExp(`tracker_limit_hits_total\\{limit="webtorrent\\.${key}"\\} 0`));
  }
});

test('offer expiry follows the swarm\'s injected clock: answered before offerTtlSeconds, refused after (no waiting)', () => {
  const t = { now: 1000 };
  const webtorrent = new WebTorrentSwarms(CONFIG, { random: () => 0 });
  const swarm = new Swarm(makeStore(), webtorrent, { now: () => t.now });
  const inbox = new Inbox();
  webtorrent.setRelay(inbox);
  swarm.handleOne(announce(3));
  swarm.handleOne(announce(1, { offers: offers(2, 1) })); // #1 to peer 3 only (the one other peer), #2 not relayed
  swarm.handleOne(announce(2, { offers: offers(1, 2) })); // #2 from peer 2 to peer 3
  assert.deepEqual(offersAt(inbox, 3), [offerId(1), offerId(2)]);
  t.now += CONFIG.offerTtlSeconds; // the last second an offer can be answered
  assert.deepEqual(swarm.handleOne(answerOf(3, 1, 1)), { type: 'wt-answer' }, 'answered at offerTtlSeconds');
  t.now += 1;
  assert.deepEqual(swarm.handleOne(answerOf(3, 2, 2)), { type: 'error', message: 'answer does not match an unexpired offer sent to this peer' });
  assert.deepEqual(inbox.messages.filter((m) => m.message.kind === 'answer').map((m) => m.to.socket), [1], 'only the answer in time was relayed');
});
