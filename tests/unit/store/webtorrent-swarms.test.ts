import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebTorrentSwarms, type WebTorrentConfig } from '../../../services/swarm/store/webtorrent-swarms.js';
import { AnnounceEvent, type SocketRef, type WtAnnounceRequest, type WtRelayMessage } from '../../../lib/transport/messages.js';

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

function setup(config = CONFIG) {
  const swarms = new WebTorrentSwarms(config);
  const inbox = new Inbox();
  swarms.setRelay(inbox);
  return { swarms, inbox };
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
  assert.equal(swarms.stats().pendingOffers, 5, 'oldest offers forgotten past the bound');
  swarms.announce(announce(1), 200);
  assert.equal(swarms.sweepStep(100, 200), true);
  assert.equal(swarms.stats().pendingOffers, 0, 'offers past their TTL are gone');
  assert.equal(swarms.stats().leechers, 8, 'nobody silent long enough yet');
  swarms.sweepStep(100, 301);
  assert.equal(swarms.stats().leechers, 1, 'only the peer that re-announced at 200 survives');
  swarms.sweepStep(100, 600);
  assert.deepEqual(swarms.stats(), { torrents: 0, seeders: 0, leechers: 0, pendingOffers: 0 });
});
