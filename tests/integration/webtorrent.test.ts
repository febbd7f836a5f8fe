/**
 * WebTorrent tracking over WebSocket against a real tracker process: announce
 * replies and counts, offer/answer relay rules, socket-owned peers, scrapes,
 * limits, hostile input, a slow reader, the access list and metrics.
 *
 * Clients are `ws` sockets on loopback (tests/support/integration-helpers.ts
 * WtTestClient). Ids are random 20-byte binary strings (chars 0..255) unless
 * a test needs otherwise. "Nobody received X" is checked after a round trip
 * on every socket involved (frames on one socket are ordered, so whatever the
 * tracker sent before handling that round trip has arrived by then).
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  WtTestClient,
  eventually,
  fakeSdp,
  launchTracker,
  makeOffers,
  metricValue,
  processRssKb,
  randomId20,
  scrapeMetrics,
  sleep,
  toHex,
  withTimeout,
  type LaunchedTracker,
  type MetricSample,
  type WtOfferDecoded,
  type WtServerMessage,
} from '../support/integration-helpers.js';
import { AnnounceEvent } from '../../lib/tracker/events.js';
import { encodeAnnounceRequest } from '../../lib/protocol/webtorrent/client.js';

// Limits of the main tracker (small, so tests can cross them cheaply). Offer expiry
// is proven on the swarm's injected clock (tests/unit/store/webtorrent-swarms.test.ts).
const MAX_OFFERS = 3;
const MAX_TORRENTS = 5;
const MAX_MESSAGE = 16 * 1024;
const INTERVAL_S = 100;
// The slow-reader tracker.
const MAX_BACKPRESSURE = 16 * 1024;

const dir = mkdtempSync(join(tmpdir(), 'tracker-webtorrent-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const DENIED = randomId20();

let tracker: LaunchedTracker;
let slowTracker: LaunchedTracker;

/** Every client a test opens; afterEach closes them. */
const clients: WtTestClient[] = [];

async function open(options: { path?: string; on?: LaunchedTracker } = {}): Promise<WtTestClient> {
  const c = await WtTestClient.open((options.on ?? tracker).httpPort, { path: options.path });
  clients.push(c);
  return c;
}

/** Opens `n` clients and announces a fresh peer id on `infoHash` from each (leechers unless `left` says otherwise). */
async function peers(n: number, infoHash: string, left: number | null = 100, on?: LaunchedTracker): Promise<Array<{ c: WtTestClient; id: string }>> {
  const out: Array<{ c: WtTestClient; id: string }> = [];
  for (let i = 0; i < n; i++) {
    const c = await open({ on });
    const id = randomId20();
    await c.announceOk({ infoHash, peerId: id, left, event: AnnounceEvent.Started });
    out.push({ c, id });
  }
  return out;
}

const isOffer = (m: WtServerMessage): m is WtOfferDecoded => m.type === 'offer';

/** Round trip on every client so that anything already sent to them has arrived. */
async function syncAll(cs: readonly WtTestClient[]): Promise<void> {
  await Promise.all(cs.map((c) => c.sync()));
}

function answersOn(cs: readonly WtTestClient[]): number {
  return cs.reduce((n, c) => n + c.all('answer').length, 0);
}

function assertFailure(m: WtServerMessage, reason: RegExp, what: string): void {
  assert.equal(m.type, 'failure', `${what}: expected a failure, got ${JSON.stringify(m)}`);
  if (m.type === 'failure') assert.match(m.reason, reason, what);
}

async function metrics(on: LaunchedTracker = tracker): Promise<MetricSample[]> {
  return scrapeMetrics(on.metricsPort);
}

function m(samples: readonly MetricSample[], name: string, labels: Record<string, string> = {}): number {
  return metricValue(samples, name, labels) ?? 0;
}

/** A fresh pair still trades an offer and an answer (the tracker works and its state is sane). */
async function assertPairWorks(on: LaunchedTracker): Promise<void> {
  const infoHash = randomId20();
  const [a] = await peers(1, infoHash, 100, on);
  const b = await open({ on });
  const bId = randomId20();
  const offers = makeOffers(1);
  const reply = await b.announceOk({ infoHash, peerId: bId, left: 100, offers });
  assert.deepEqual([reply.complete, reply.incomplete], [0, 2]);
  const got = await a.c.next(isOffer, 3000, 'the fresh pair\'s offer');
  assert.deepEqual([got.peerId, got.offerId, got.offer], [bId, offers[0].offerId, offers[0].offer]);
  const answer = fakeSdp('answer');
  await a.c.sendAnswer({ infoHash, peerId: a.id, toPeerId: bId, offerId: got.offerId, answer });
  const back = await b.next((x) => x.type === 'answer', 3000, 'the fresh pair\'s answer');
  assert.deepEqual(back, { type: 'answer', infoHash, peerId: a.id, offerId: offers[0].offerId, answer });
}

before(async () => {
  const denyFile = join(dir, 'deny.txt');
  writeFileSync(denyFile, `${toHex(DENIED)}\n`);
  [tracker, slowTracker] = await Promise.all([
    launchTracker([
      `--webtorrent.maxOffersPerAnnounce=${MAX_OFFERS}`,
      `--webtorrent.maxTorrentsPerSocket=${MAX_TORRENTS}`,
      `--webtorrent.maxMessageBytes=${MAX_MESSAGE}`,
      `--webtorrent.intervalSeconds=${INTERVAL_S}`,
      '--accessList.mode=deny',
      `--accessList.file=${denyFile}`,
    ]),
    // Its tests send thousands of announces from one socket as fast as they are answered: the
    // message budget (tested in webtorrent-limits.test.ts) is lifted so it does not close them first.
    launchTracker([`--webtorrent.maxBackpressureBytes=${MAX_BACKPRESSURE}`, '--webtorrent.maxMessagesPerSecond=1000000', '--webtorrent.messageBurst=1000000']),
  ]);
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

after(async () => {
  for (const c of clients.splice(0)) c.close();
  const results = await Promise.allSettled([tracker?.stop(), slowTracker?.stop()]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
});

describe('WebTorrent: announce', () => {
  it('replies {action, info_hash, interval, complete, incomplete} on / and /announce; counts seeders (left=0) and leechers (left>0, null, missing)', async () => {
    const infoHash = randomId20();
    const seeder = await open({ path: '/' });
    const reply = await seeder.announceOk({ infoHash, peerId: randomId20(), left: 0, event: AnnounceEvent.Started });
    const raw = JSON.parse(seeder.frames.at(-1)!.text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(raw).sort(), ['action', 'complete', 'incomplete', 'info_hash', 'interval']);
    assert.deepEqual(raw, { action: 'announce', info_hash: infoHash, interval: INTERVAL_S, complete: 1, incomplete: 0 });
    assert.equal(reply.infoHash, infoHash);

    const leecher = await open({ path: '/announce' });
    const leecherId = randomId20();
    let r = await leecher.announceOk({ infoHash, peerId: leecherId, left: 12345, event: AnnounceEvent.Started });
    assert.deepEqual([r.complete, r.incomplete], [1, 1], 'left > 0 is a leecher');
    const magnet = await open();
    const magnetId = randomId20();
    r = await magnet.announceOk({ infoHash, peerId: magnetId, left: null, event: AnnounceEvent.Started });
    assert.deepEqual([r.complete, r.incomplete], [1, 2], 'left null is a leecher');
    const noLeft = await open();
    r = await noLeft.announceOk({ infoHash, peerId: randomId20() });
    assert.deepEqual([r.complete, r.incomplete], [1, 3], 'left missing is a leecher');

    // Re-announcing is not double counted; completing turns a leecher into a seeder.
    r = await leecher.announceOk({ infoHash, peerId: leecherId, left: 12345 });
    assert.deepEqual([r.complete, r.incomplete], [1, 3]);
    r = await leecher.announceOk({ infoHash, peerId: leecherId, left: 0, event: AnnounceEvent.Completed });
    assert.deepEqual([r.complete, r.incomplete], [2, 2]);
    // stopped removes the peer.
    r = await magnet.announceOk({ infoHash, peerId: magnetId, left: null, event: AnnounceEvent.Stopped });
    assert.deepEqual([r.complete, r.incomplete], [2, 1]);
    const files = await noLeft.scrapeOk(infoHash);
    assert.deepEqual(files.get(infoHash), { complete: 2, incomplete: 1, downloaded: 1 });
  });
});

describe('WebTorrent: offers and answers', () => {
  it('each offer goes to a different peer, never the offerer, as {action, info_hash, peer_id, offer, offer_id}; the answer reaches the offerer', async () => {
    const infoHash = randomId20();
    const others = await peers(3, infoHash); // A, C, D
    const b = await open();
    const bId = randomId20();
    const offers = makeOffers(3);
    const reply = await b.announceOk({ infoHash, peerId: bId, left: 100, offers, numwant: 3 });
    assert.deepEqual([reply.complete, reply.incomplete], [0, 4]);

    const received = await Promise.all(others.map((p) => p.c.next(isOffer, 3000, 'an offer from B')));
    await syncAll([b, ...others.map((p) => p.c)]);
    assert.equal(b.all('offer').length, 0, 'B never receives its own offer');
    for (const p of others) assert.equal(p.c.all('offer').length, 1, 'one offer per peer');
    assert.deepEqual(received.map((o) => o.offerId).sort(), offers.map((o) => o.offerId).sort(), 'every offer delivered, each to a different peer');
    for (const o of received) {
      const sent = offers.find((x) => x.offerId === o.offerId)!;
      assert.deepEqual(o, { type: 'offer', infoHash, peerId: bId, offerId: sent.offerId, offer: sent.offer });
    }
    // The raw frame has exactly the reference client's keys.
    const rawOffer = JSON.parse(others[0].c.frames.find((f) => f.message.type === 'offer')!.text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(rawOffer).sort(), ['action', 'info_hash', 'offer', 'offer_id', 'peer_id']);
    assert.equal(rawOffer.action, 'announce');

    // A answers.
    const a = others[0];
    const answer = fakeSdp('answer', 80);
    await a.c.sendAnswer({ infoHash, peerId: a.id, toPeerId: bId, offerId: received[0].offerId, answer });
    const back = await b.next((x) => x.type === 'answer', 3000, 'A\'s answer');
    assert.deepEqual(back, { type: 'answer', infoHash, peerId: a.id, offerId: received[0].offerId, answer });
    await syncAll([a.c, ...others.map((p) => p.c)]);
    assert.equal(a.c.all('failure').length, 0, 'a good answer gets no failure');
    assert.equal(answersOn(others.map((p) => p.c)), 0, 'only the offerer receives the answer');

    // Fewer offers than peers: still distinct receivers, never the offerer, over many rounds.
    for (let round = 0; round < 10; round++) {
      const two = makeOffers(2);
      await b.announceOk({ infoHash, peerId: bId, left: 100, offers: two });
      await syncAll([b, ...others.map((p) => p.c)]);
      const got = others.map((p) => p.c.all('offer').filter((o) => two.some((x) => x.offerId === o.offerId)).length);
      assert.deepEqual(got.slice().sort(), [0, 1, 1], `round ${round}: two offers to two different peers (got ${got})`);
      assert.equal(b.all('offer').length, 0);
    }
  });

  it('answers that match no unexpired offer sent to the answerer fail, and nobody receives them', async () => {
    const infoHash = randomId20();
    const others = await peers(3, infoHash);
    const [a, c] = others;
    const b = await open();
    const bId = randomId20();
    const everyone = [b, ...others.map((p) => p.c)];
    const offerTo = async (n: number): Promise<Map<string, WtOfferDecoded>> => {
      // n offers from B; returns receiver peer id -> offer.
      await b.announceOk({ infoHash, peerId: bId, left: 100, offers: makeOffers(n) });
      await syncAll(everyone);
      const byPeer = new Map<string, WtOfferDecoded>();
      for (const p of others) {
        const o = p.c.all('offer').at(-1);
        if (o) byPeer.set(p.id, o);
      }
      return byPeer;
    };
    const answer = fakeSdp('answer');
    const tryAnswer = async (from: { c: WtTestClient; id: string }, toPeerId: string, offerId: string, what: string): Promise<void> => {
      const before = answersOn(everyone);
      await from.c.sendAnswer({ infoHash, peerId: from.id, toPeerId, offerId, answer });
      const f = await from.c.failure(3000, infoHash);
      assert.match(f.reason, /offer|answer/, what);
      assert.equal(f.action, 'announce', `${what}: the failure carries action`);
      await syncAll(everyone);
      assert.equal(answersOn(everyone), before, `${what}: nobody receives an answer`);
    };

    const first = await offerTo(3);
    const toA = first.get(a.id)!;
    const toC = first.get(c.id)!;
    await tryAnswer(a, bId, randomId20(), 'an unknown offer_id');
    await tryAnswer(a, c.id, toA.offerId, 'the right offer_id but the wrong to_peer_id');
    await tryAnswer(c, bId, toA.offerId, 'answering an offer that was sent to another peer');

    // The good answer goes through once; a second answer to the same offer fails.
    await a.c.sendAnswer({ infoHash, peerId: a.id, toPeerId: bId, offerId: toA.offerId, answer });
    const back = await b.next((x) => x.type === 'answer', 3000, 'the first answer');
    assert.equal(back.type === 'answer' && back.offerId, toA.offerId);
    await tryAnswer(a, bId, toA.offerId, 'a second answer to the same offer');

    // An offer whose offerer has left cannot be answered.
    const leaver = await open();
    const leaverId = randomId20();
    await leaver.announceOk({ infoHash, peerId: leaverId, left: 100, offers: makeOffers(1) });
    await syncAll(everyone);
    const holder = [{ c: b, id: bId }, ...others].find((p) => p.c.all('offer').some((o) => o.peerId === leaverId))!;
    const leaverOffer = holder.c.all('offer').find((o) => o.peerId === leaverId)!;
    leaver.ws.close(1000);
    await eventually(async () => ((await b.scrapeOk(infoHash)).get(infoHash)!.incomplete === 4 ? true : undefined), 1000, 'the leaver to leave');
    await tryAnswer(holder, leaverId, leaverOffer.offerId, 'an answer to an offerer that has left');

    // C's own offer, still pending through all of the above, is answered.
    await c.c.sendAnswer({ infoHash, peerId: c.id, toPeerId: bId, offerId: toC.offerId, answer });
    await b.next((x) => x.type === 'answer', 3000, 'C\'s answer');
    assert.equal(b.all('answer').length, 2, 'B received exactly the two good answers');
  });
});

describe('WebTorrent: sockets own their peers', () => {
  it('one socket, many torrents: closing it removes its peer from all of them at once', async () => {
    const hashes = [randomId20(), randomId20(), randomId20()];
    const s = await open();
    const sId = randomId20();
    const stayer = await open();
    for (const h of hashes) {
      await s.announceOk({ infoHash: h, peerId: sId, left: 0, event: AnnounceEvent.Started });
      await stayer.announceOk({ infoHash: h, peerId: randomId20(), left: 10, event: AnnounceEvent.Started });
    }
    const watcher = await open();
    let files = await watcher.scrapeOk(hashes);
    for (const h of hashes) assert.deepEqual(files.get(h), { complete: 1, incomplete: 1, downloaded: 0 });

    s.ws.close(1000, 'bye');
    const closedAt = Date.now();
    const seen: string[] = [];
    await eventually(
      async () => {
        files = await watcher.scrapeOk(hashes);
        const seeders = hashes.map((h) => files.get(h)!.complete);
        seen.push(seeders.join(''));
        return seeders.every((x) => x === 0) ? true : undefined;
      },
      1000,
      'the closed socket\'s peers to leave all three torrents',
      10,
    );
    // Every scrape saw the peer in all three torrents or in none.
    assert.ok(seen.every((x) => x === '111' || x === '000'), `the torrents lose the peer together, scrapes saw: ${seen.join(' ')}`);
    assert.ok(Date.now() - closedAt < 1000);
    for (const h of hashes) assert.deepEqual(files.get(h), { complete: 0, incomplete: 1, downloaded: 0 }, 'the other peer stays');
  });

  it('a peer_id belongs to its socket: another socket cannot announce, stop or answer as it', async () => {
    const infoHash = randomId20();
    const x = await open();
    const p = randomId20();
    await x.announceOk({ infoHash, peerId: p, left: 100, event: AnnounceEvent.Started });
    const y = await open();

    assertFailure(await y.announce({ infoHash, peerId: p, left: 100, event: AnnounceEvent.Started }), /in use|another/, 'Y announces as P');
    assertFailure(await y.announce({ infoHash, peerId: p, left: 0 }), /in use|another/, 'Y announces as P (seeder)');
    assertFailure(await y.announce({ infoHash, peerId: p, left: 100, event: AnnounceEvent.Stopped }), /in use|another/, 'Y sends stopped as P');
    // X itself may carry a second peer_id in the same torrent: WebTorrent shares one socket
    // per tracker URL between all clients of a page. Both are X's; stopping one keeps the other.
    const p2 = randomId20();
    const both = await x.announceOk({ infoHash, peerId: p2, left: 100 });
    assert.equal(both.incomplete, 2, 'X holds P and P2');
    await x.announceOk({ infoHash, peerId: p2, left: 100, event: AnnounceEvent.Stopped });

    // Q offers to P; Y (not P's socket) tries to answer it as P, knowing the offer id.
    const q = await open();
    const qId = randomId20();
    const qOffers = makeOffers(1);
    await q.announceOk({ infoHash, peerId: qId, left: 100, offers: qOffers });
    const got = await x.next(isOffer, 3000, 'Q\'s offer at P\'s socket');
    assert.deepEqual([got.peerId, got.offerId], [qId, qOffers[0].offerId], 'P still receives offers');
    await y.sendAnswer({ infoHash, peerId: p, toPeerId: qId, offerId: got.offerId, answer: fakeSdp('answer') });
    assertFailure(await y.failure(3000, infoHash), /announced|connection/, 'Y answers as P');
    await syncAll([q, x, y]);
    assert.equal(q.all('answer').length, 0, 'Q got no answer from Y');
    assert.equal(y.all('offer').length, 0, 'Y gets no offers');

    const files = await y.scrapeOk(infoHash);
    assert.deepEqual(files.get(infoHash), { complete: 0, incomplete: 2, downloaded: 0 }, 'P (and Q) still counted; Y\'s attempts changed nothing');
    // P's own socket still answers fine.
    const answer = fakeSdp('answer');
    await x.sendAnswer({ infoHash, peerId: p, toPeerId: qId, offerId: got.offerId, answer });
    const back = await q.next((m) => m.type === 'answer', 3000, 'P\'s answer');
    assert.deepEqual(back, { type: 'answer', infoHash, peerId: p, offerId: got.offerId, answer });
    // Closing Y (which never owned P) does not remove P.
    y.close();
    await y.waitClose(2000);
    await sleep(100);
    assert.deepEqual((await q.scrapeOk(infoHash)).get(infoHash), { complete: 0, incomplete: 2, downloaded: 0 });
    // Once X closes, P is free: another socket may announce it.
    x.ws.close(1000);
    await eventually(async () => ((await q.scrapeOk(infoHash)).get(infoHash)!.incomplete === 1 ? true : undefined), 1000, 'P to leave with X');
    const z = await open();
    const r = await z.announceOk({ infoHash, peerId: p, left: 100 });
    assert.deepEqual([r.complete, r.incomplete], [0, 2]);
  });
});

describe('WebTorrent: scrape', () => {
  it('one hash (string), many (array), unknown -> zeros, empty -> failure', async () => {
    const h1 = randomId20();
    const h2 = randomId20();
    const unknown = randomId20();
    await peers(2, h1, 0);
    await peers(1, h1, 5);
    await peers(1, h2, null);
    const c = await open();

    const one = await c.scrapeOk(h1);
    assert.deepEqual([...one.entries()], [[h1, { complete: 2, incomplete: 1, downloaded: 0 }]]);
    const raw = JSON.parse(c.frames.at(-1)!.text) as { action: string; files: Record<string, unknown> };
    assert.equal(raw.action, 'scrape');
    assert.deepEqual(Object.keys(raw.files), [h1]);

    const many = await c.scrapeOk([h1, h2, unknown]);
    assert.deepEqual(
      [...many.entries()],
      [
        [h1, { complete: 2, incomplete: 1, downloaded: 0 }],
        [h2, { complete: 0, incomplete: 1, downloaded: 0 }],
        [unknown, { complete: 0, incomplete: 0, downloaded: 0 }],
      ],
    );
    assert.deepEqual([...(await c.scrapeOk(unknown)).entries()], [[unknown, { complete: 0, incomplete: 0, downloaded: 0 }]]);

    for (const frame of ['{"action":"scrape"}', '{"action":"scrape","info_hash":[]}', '{"action":"scrape","info_hash":null}']) {
      await c.send(frame);
      const f = await c.next((x) => x.type === 'failure' || x.type === 'scrape', 3000, `a reply to ${frame}`);
      assertFailure(f, /./, frame);
      assert.equal(f.type === 'failure' && f.action, 'scrape', `${frame}: failure carries action scrape`);
    }
  });
});

describe('WebTorrent: limits', () => {
  it('a frame larger than maxMessageBytes closes that socket; the tracker stays up', async () => {
    const infoHash = randomId20();
    const bystander = await open();
    await bystander.announceOk({ infoHash, peerId: randomId20(), left: 1 });
    // Just under the limit is fine.
    const ok = await open();
    const under = encodeAnnounceRequest({ infoHash, peerId: randomId20(), left: 1, offers: [{ offerId: randomId20(), offer: fakeSdp('offer', MAX_MESSAGE - 400) }] });
    assert.ok(Buffer.byteLength(under) < MAX_MESSAGE);
    await ok.send(under);
    await ok.next((x) => x.type === 'announce', 3000, 'the reply to a frame under the limit');
    await bystander.next(isOffer, 3000, 'the offer from the frame under the limit');

    const big = await open();
    const bigId = randomId20();
    await big.announceOk({ infoHash, peerId: bigId, left: 1 });
    await big.send(encodeAnnounceRequest({ infoHash, peerId: bigId, left: 1, offers: [{ offerId: randomId20(), offer: fakeSdp('offer', MAX_MESSAGE + 100) }] }));
    await big.waitClose(3000);
    assert.equal(big.all('announce').length, 1, 'no reply to the oversize frame');
    await bystander.sync();
    assert.equal(bystander.all('offer').length, 1, 'the oversize frame\'s offer was not relayed (only the earlier one arrived)');
    // Its peer left with the socket; the tracker still serves.
    const files = await eventually(async () => {
      const f = await bystander.scrapeOk(infoHash);
      return f.get(infoHash)!.incomplete === 2 ? f : undefined;
    }, 1000, 'the oversize socket\'s peer to leave');
    assert.deepEqual(files.get(infoHash), { complete: 0, incomplete: 2, downloaded: 0 });
    assert.equal(tracker.running(), true);
  });

  it('an oversize frame is counted in tracker_ws_dropped_total{reason="oversize"}', async () => {
    const before = m(await metrics(), 'tracker_ws_dropped_total', { reason: 'oversize' });
    const big = await open();
    await big.send('{"action":"scrape","info_hash":"' + 'x'.repeat(MAX_MESSAGE) + '"}');
    await big.waitClose(3000);
    await eventually(
      async () => {
        const now = m(await metrics(), 'tracker_ws_dropped_total', { reason: 'oversize' });
        assert.equal(now, before + 1, 'tracker_ws_dropped_total{reason="oversize"} after one oversize frame');
        return true;
      },
      1000,
      'the oversize counter',
    );
  });

  it(`more than maxTorrentsPerSocket (${MAX_TORRENTS}) torrents on one socket: the extra one fails`, async () => {
    const c = await open();
    const id = randomId20();
    const hashes = Array.from({ length: MAX_TORRENTS }, () => randomId20());
    for (const h of hashes) await c.announceOk({ infoHash: h, peerId: id, left: 1 });
    const extra = randomId20();
    assertFailure(await c.announce({ infoHash: extra, peerId: id, left: 1 }), /too many torrents/, 'the extra torrent');
    // Re-announcing a torrent it already has is fine; stopping one frees a slot.
    await c.announceOk({ infoHash: hashes[0], peerId: id, left: 0 });
    await c.announceOk({ infoHash: hashes[1], peerId: id, left: 1, event: AnnounceEvent.Stopped });
    await c.announceOk({ infoHash: extra, peerId: id, left: 1 });
    const files = await c.scrapeOk([extra, hashes[1]]);
    assert.deepEqual([files.get(extra)!.incomplete, files.get(hashes[1])!.incomplete], [1, 0]);
    assert.equal(c.isOpen, true);
  });

  it(`more offers than maxOffersPerAnnounce (${MAX_OFFERS}): only the first ${MAX_OFFERS} are relayed`, async () => {
    const infoHash = randomId20();
    const others = await peers(6, infoHash);
    const b = await open();
    const bId = randomId20();
    const offers = makeOffers(MAX_OFFERS + 4);
    await b.announceOk({ infoHash, peerId: bId, left: 1, offers, numwant: offers.length });
    await syncAll([b, ...others.map((p) => p.c)]);
    const got = others.flatMap((p) => p.c.all('offer'));
    assert.equal(got.length, MAX_OFFERS, `relayed ${got.length} of ${offers.length} offers`);
    assert.deepEqual(got.map((o) => o.offerId).sort(), offers.slice(0, MAX_OFFERS).map((o) => o.offerId).sort());
    for (const p of others) assert.ok(p.c.all('offer').length <= 1);
  });
});

describe('WebTorrent: hostile input', () => {
  it('bad frames get failures, never crash the tracker or disturb other peers; a burst of 2,000 announces is bounded', async (t) => {
    const bystanderHash = randomId20();
    const [b1, b2] = await peers(2, bystanderHash);
    const h = randomId20();
    const p = randomId20();
    const bad = await open();
    const q = JSON.stringify;
    const sdp = { type: 'offer', sdp: 'v=0' };
    const badFrames: Array<[string, string, RegExp?]> = [
      ['invalid JSON', '{"action":"announce",'],
      ['invalid JSON (garbage)', 'hello tracker'],
      ['empty text', ''],
      ['JSON array', '[1,2,3]'],
      ['JSON number', '42'],
      ['JSON string', '"announce"'],
      ['JSON null', 'null'],
      ['no action', q({ info_hash: h, peer_id: p })],
      ['unknown action', q({ action: 'connect', info_hash: h, peer_id: p })],
      ['action as a number', q({ action: 1, info_hash: h, peer_id: p })],
      ['info_hash of 19 chars', q({ action: 'announce', info_hash: h.slice(0, 19), peer_id: p }), /info_hash/],
      ['info_hash of 21 chars', q({ action: 'announce', info_hash: h + 'x', peer_id: p }), /info_hash/],
      ['info_hash as 40 hex', q({ action: 'announce', info_hash: toHex(h), peer_id: p }), /info_hash/],
      ['info_hash with a char > 0xFF', q({ action: 'announce', info_hash: 'ā' + h.slice(1), peer_id: p }), /info_hash/],
      ['info_hash with an emoji', q({ action: 'announce', info_hash: '😀' + h.slice(2), peer_id: p }), /info_hash/],
      ['info_hash as a number', q({ action: 'announce', info_hash: 12345678901234567890, peer_id: p }), /info_hash/],
      ['info_hash as an object', q({ action: 'announce', info_hash: { length: 20 }, peer_id: p }), /info_hash/],
      ['peer_id of 19 chars', q({ action: 'announce', info_hash: h, peer_id: p.slice(0, 19) }), /peer_id/],
      ['peer_id of 21 chars', q({ action: 'announce', info_hash: h, peer_id: p + '!' }), /peer_id/],
      ['peer_id with a char > 0xFF', q({ action: 'announce', info_hash: h, peer_id: p.slice(0, 19) + 'Ā' }), /peer_id/],
      ['peer_id as a number', q({ action: 'announce', info_hash: h, peer_id: 7 }), /peer_id/],
      ['peer_id as an array', q({ action: 'announce', info_hash: h, peer_id: [p] }), /peer_id/],
      ['left as a string', q({ action: 'announce', info_hash: h, peer_id: p, left: '5' }), /left/],
      ['left negative', q({ action: 'announce', info_hash: h, peer_id: p, left: -1 }), /left/],
      ['uploaded as a string', q({ action: 'announce', info_hash: h, peer_id: p, uploaded: 'x' }), /uploaded/],
      ['numwant as a string', q({ action: 'announce', info_hash: h, peer_id: p, numwant: '5' }), /numwant/],
      ['unknown event', q({ action: 'announce', info_hash: h, peer_id: p, event: 'exploded' }), /event/],
      ['offers as an object', q({ action: 'announce', info_hash: h, peer_id: p, offers: { 0: {} } }), /offers/],
      ['offer_id as a number', q({ action: 'announce', info_hash: h, peer_id: p, offers: [{ offer_id: 5, offer: sdp }] }), /offer_id/],
      ['offer sdp as a number', q({ action: 'announce', info_hash: h, peer_id: p, offers: [{ offer_id: p, offer: { type: 'offer', sdp: 5 } }] }), /offer/],
      ['answer without to_peer_id', q({ action: 'announce', info_hash: h, peer_id: p, offer_id: p, answer: { type: 'answer', sdp: 'x' } }), /to_peer_id/],
      ['to_peer_id as a number', q({ action: 'announce', info_hash: h, peer_id: p, offer_id: p, to_peer_id: 3, answer: { type: 'answer', sdp: 'x' } }), /to_peer_id/],
      ['scrape info_hash as a number', q({ action: 'scrape', info_hash: 5 })],
      ['scrape info_hash of 21 chars', q({ action: 'scrape', info_hash: [h + 'x'] })],
      ['__proto__ carrying the ids', `{"action":"announce","__proto__":{"info_hash":${q(h)},"peer_id":${q(p)}}}`, /info_hash/],
      ['__proto__ carrying the action', `{"__proto__":{"action":"announce"},"info_hash":${q(h)},"peer_id":${q(p)}}`],
      ['__proto__ inside an offer', `{"action":"announce","info_hash":${q(h)},"peer_id":${q(p)},"offers":[{"__proto__":{"offer_id":${q(p)},"offer":{"type":"offer","sdp":"x"}}}]}`, /offer/],
      ['__proto__ as the scrape hash', `{"action":"scrape","info_hash":{"__proto__":[${q(h)}]}}`],
      ['deeply nested JSON', '{"action":"announce","x":' + '['.repeat(5000) + ']'.repeat(5000) + '}', /info_hash/],
    ];
    for (const [what, frame, reason] of badFrames) {
      await bad.send(frame);
      const f = await bad.next((x) => x.type === 'failure', 3000, `the failure for ${what}`);
      if (reason) assertFailure(f, reason, what);
    }
    assert.equal(bad.isOpen, true, 'bad frames get failures, not a closed socket');
    assert.equal(bad.frames.filter((f) => f.message.type !== 'failure').length, 0, 'nothing but failures');

    // A __proto__ key next to valid fields is just an unknown key: the announce works and pollutes nothing.
    await bad.send(`{"action":"announce","info_hash":${q(h)},"peer_id":${q(p)},"left":5,"__proto__":{"left":0,"complete":99,"offers":[1]},"constructor":{"prototype":{"x":1}}}`);
    const polluted = await bad.next((x) => x.type === 'announce' || x.type === 'failure', 3000, 'the reply to the __proto__ announce');
    assert.deepEqual(polluted, { type: 'announce', infoHash: h, interval: INTERVAL_S, complete: 0, incomplete: 1, warning: undefined });

    // Binary frames: junk gets a failure (or a close); never a crash.
    const bin = await open();
    for (const frame of [Buffer.from([0, 1, 2, 0xff, 0xfe]), Buffer.alloc(1000, 0xff), Buffer.from('{"action":"announce"', 'latin1')]) {
      if (!bin.isOpen) break;
      await bin.send(frame, true).catch(() => undefined);
      await bin.failureOrClose(3000);
    }
    // A text frame that is not UTF-8: a failure or a close.
    const notUtf8 = await open();
    notUtf8.sendNow(Buffer.from([0x7b, 0xff, 0xfe, 0xfd, 0x7d]), false);
    await notUtf8.failureOrClose(3000);
    // A 1 MB frame closes its socket.
    const huge = await open();
    huge.sendNow('{"action":"announce","x":"' + 'A'.repeat(1024 * 1024) + '"}');
    await huge.waitClose(3000);
    // So does a 1 MB binary frame.
    const hugeBin = await open();
    hugeBin.sendNow(Buffer.alloc(1024 * 1024, 0x20), true);
    await hugeBin.waitClose(3000);

    // The flood: 2,000 announces with offers from one socket in one burst.
    const floodHash = randomId20();
    const receivers = await peers(2, floodHash);
    const flood = await open();
    const floodId = randomId20();
    await flood.announceOk({ infoHash: floodHash, peerId: floodId, left: 1 });
    const relayedBefore = m(await metrics(), 'tracker_ws_relayed_total', { kind: 'offer' });
    const other = await open();
    const FLOOD = 2000;
    const repliesBefore = flood.frames.length;
    const frames = Array.from({ length: FLOOD }, () =>
      encodeAnnounceRequest({ infoHash: floodHash, peerId: floodId, left: 1, offers: makeOffers(MAX_OFFERS + 2, 40) }),
    );
    for (const frame of frames) flood.sendNow(frame);
    const sent = Date.now();
    // Another socket is served during the burst.
    const files = await withTimeout(other.scrapeOk(bystanderHash, 2000), 2000, 'a scrape during the flood');
    assert.deepEqual(files.get(bystanderHash), { complete: 0, incomplete: 2, downloaded: 0 });
    const otherLatency = Date.now() - sent;
    await eventually(() => (flood.frames.length - repliesBefore >= FLOOD || flood.closed ? true : undefined), 15_000, 'the flood\'s replies');
    await syncAll(receivers.map((r) => r.c));
    const perReceiver = receivers.map((r) => r.c.all('offer').length);
    const total = perReceiver.reduce((a, b) => a + b, 0);
    const floodReplies = flood.frames.length - repliesBefore;
    assert.ok(perReceiver.every((n) => n <= FLOOD), `a receiver gets at most one offer per announce: ${perReceiver}`);
    assert.ok(total <= FLOOD * Math.min(MAX_OFFERS, receivers.length), `relayed offers bounded: ${total}`);
    assert.ok(receivers.every((r) => r.c.all('offer').every((o) => o.peerId === floodId && o.infoHash === floodHash)));
    const relayedAfter = m(await metrics(), 'tracker_ws_relayed_total', { kind: 'offer' });
    assert.equal(relayedAfter - relayedBefore, total, 'tracker_ws_relayed_total{kind="offer"} matches what arrived');
    if (!flood.closed) assert.equal(floodReplies, FLOOD, 'one reply per announce');
    assert.ok(otherLatency < 2000, `other socket answered in ${otherLatency} ms`);
    t.diagnostic(`flood: ${floodReplies} replies${flood.closed ? ` (flood socket closed: ${flood.closed.code})` : ''}, offers per receiver ${perReceiver}, scrape from another socket answered in ${otherLatency} ms`);

    // After all that: the tracker is up, the bystanders are intact, a fresh pair trades offer/answer.
    assert.equal(tracker.running(), true);
    assert.deepEqual((await b1.c.scrapeOk(bystanderHash)).get(bystanderHash), { complete: 0, incomplete: 2, downloaded: 0 });
    assert.deepEqual(await b2.c.announceOk({ infoHash: bystanderHash, peerId: b2.id, left: 100 }), {
      type: 'announce', infoHash: bystanderHash, interval: INTERVAL_S, complete: 0, incomplete: 2, warning: undefined,
    });
    assert.equal(b1.c.all('failure').length + b2.c.all('failure').length, 0);
    await assertPairWorks(tracker);
  });
});

describe('WebTorrent: slow reader', () => {
  it('a socket that stops reading is closed at maxBackpressureBytes; memory stays bounded; others keep working', async (t) => {
    const infoHash = randomId20();
    const [slow] = await peers(1, infoHash, 100, slowTracker);
    slow.c.tcpSocket.pause();
    const offerer = await open({ on: slowTracker });
    const offererId = randomId20();
    await offerer.announceOk({ infoHash, peerId: offererId, left: 100 });
    const watcher = await open({ on: slowTracker });

    const before = await metrics(slowTracker);
    const dropsBefore = m(before, 'tracker_ws_dropped_total', { reason: 'backpressure' });
    const socketsBefore = m(before, 'tracker_ws_sockets');
    const rssBefore = processRssKb(slowTracker.pid);
    const SDP = 60 * 1024; // the frame stays under the default 64 KiB limit
    const CAP = 2000; // ~120 MB of offers: far more than any sane buffer
    let announces = 0;
    let gone = false;
    let rssPeak = rssBefore;
    for (; announces < CAP && !gone; announces++) {
      await offerer.announceOk({ infoHash, peerId: offererId, left: 100, offers: makeOffers(1, SDP) });
      if (announces % 10 === 9) {
        rssPeak = Math.max(rssPeak, processRssKb(slowTracker.pid));
        gone = (await watcher.scrapeOk(infoHash)).get(infoHash)!.incomplete === 1; // only the offerer left
      }
    }
    const sentMb = (announces * SDP) / 2 ** 20;

    const growthMb = (rssPeak - rssBefore) / 1024;
    t.diagnostic(`slow reader closed after ${announces} offers (${sentMb.toFixed(1)} MB); tracker RSS ${(rssBefore / 1024).toFixed(0)} MB, peak +${growthMb.toFixed(1)} MB`);
    assert.ok(Number.isNaN(growthMb) || growthMb < 48, `tracker RSS grew ${growthMb.toFixed(1)} MB while ${sentMb.toFixed(0)} MB of offers went to a slow reader`);
    assert.ok(gone, `the slow reader is still in the swarm after ${announces} offers (${sentMb.toFixed(0)} MB)`);
    const after = await metrics(slowTracker);
    const drops = m(after, 'tracker_ws_dropped_total', { reason: 'backpressure' });
    assert.ok(drops >= dropsBefore + 1, `tracker_ws_dropped_total{reason="backpressure"}: ${dropsBefore} -> ${drops}`);
    assert.equal(m(after, 'tracker_ws_sockets'), socketsBefore - 1, 'the slow socket is no longer counted');

    // Once it reads again it finds its socket closed.
    slow.c.tcpSocket.resume();
    await slow.c.waitClose(5000);

    // Everyone else keeps working.
    const r = await offerer.announceOk({ infoHash, peerId: offererId, left: 100 });
    assert.deepEqual([r.complete, r.incomplete], [0, 1]);
    await assertPairWorks(slowTracker);
  });

  it('closing a slow reader while an announce relays its offers neither fails that announce nor skips peers', async () => {
    // Per torrent the swarm holds [offerer, slow, fast] in that order; every
    // announce sends 2 offers (one to each). When the delivery to `slow`
    // overflows its backpressure budget the tracker closes it on the spot, and
    // the removal must not disturb the relay loop still running over that swarm.
    const K = 5;
    const torrents = Array.from({ length: K }, () => randomId20());
    const offerer = await open({ on: slowTracker });
    const offererId = randomId20();
    const fast = await open({ on: slowTracker });
    const fastId = randomId20();
    const slow: WtTestClient[] = [];
    for (const t of torrents) {
      await offerer.announceOk({ infoHash: t, peerId: offererId, left: 100 });
      const s = await open({ on: slowTracker });
      await s.announceOk({ infoHash: t, peerId: randomId20(), left: 100 });
      slow.push(s);
      await fast.announceOk({ infoHash: t, peerId: fastId, left: 100 });
    }
    for (const s of slow) s.tcpSocket.pause();
    const watcher = await open({ on: slowTracker });

    const SDP = 30 * 1024;
    const failures: string[] = [];
    const announced = new Map(torrents.map((t) => [t, 0]));
    const live = new Set(torrents);
    for (let round = 0; round < 1000 && live.size > 0; round++) {
      for (const t of live) {
        const r = await offerer.announce({ infoHash: t, peerId: offererId, left: 100, offers: makeOffers(2, SDP) });
        announced.set(t, announced.get(t)! + 1);
        if (r.type !== 'announce') failures.push(`torrent ${torrents.indexOf(t)}, announce ${announced.get(t)}: ${r.reason}`);
      }
      if (round % 5 === 4) {
        const files = await watcher.scrapeOk([...live]);
        for (const [t, st] of files) if (st.incomplete === 2) live.delete(t); // only offerer and fast left
      }
    }
    assert.equal(live.size, 0, 'every slow reader was closed');
    await fast.sync();
    const offersAtFast = torrents.map((t) => fast.all('offer').filter((o) => o.infoHash === t).length);
    assert.deepEqual(
      { failures, offersAtFast },
      { failures: [], offersAtFast: torrents.map((t) => announced.get(t)!) },
      'every announce succeeds and relays an offer to the fast peer',
    );
  });
});

describe('WebTorrent: access list', () => {
  it('a denied info_hash gets a failure (announce, offers and answers); scrape reports it as unknown', async () => {
    const c = await open();
    const id = randomId20();
    const f = await c.announce({ infoHash: DENIED, peerId: id, left: 1 });
    assertFailure(f, /not allowed/, 'announce of a denied torrent');
    assert.equal(f.type === 'failure' && f.action, 'announce');
    assertFailure(await c.announce({ infoHash: DENIED, peerId: id, left: 1, offers: makeOffers(2) }), /not allowed/, 'offers on a denied torrent');
    await c.sendAnswer({ infoHash: DENIED, peerId: id, toPeerId: randomId20(), offerId: randomId20(), answer: fakeSdp('answer') });
    assertFailure(await c.failure(3000, DENIED), /not allowed/, 'answer on a denied torrent');
    const files = await c.scrapeOk([DENIED]);
    assert.deepEqual(files.get(DENIED), { complete: 0, incomplete: 0, downloaded: 0 });
    // Other torrents are served on the same socket.
    await c.announceOk({ infoHash: randomId20(), peerId: id, left: 1 });
  });
});

describe('WebTorrent: metrics', () => {
  it('tracker_ws_sockets follows open sockets; relayed offers/answers and ws requests are counted', async () => {
    const base = await eventually(async () => {
      const v = m(await metrics(), 'tracker_ws_sockets');
      return v === 0 ? v : undefined;
    }, 2000, 'tracker_ws_sockets to drop to 0 between tests');
    const req = (s: readonly MetricSample[], action: string, result: string): number =>
      m(s, 'tracker_requests_total', { protocol: 'ws', action, result });
    const before = await metrics();

    const infoHash = randomId20();
    const a = await open();
    const b = await open();
    const c = await open();
    assert.equal(m(await metrics(), 'tracker_ws_sockets'), base + 3);

    const aId = randomId20();
    const bId = randomId20();
    await a.announceOk({ infoHash, peerId: aId, left: 1 }); // announce ok
    const offers = makeOffers(1);
    await b.announceOk({ infoHash, peerId: bId, left: 1, offers }); // announce ok, 1 offer relayed
    const got = await a.next(isOffer, 3000, 'B\'s offer');
    await a.sendAnswer({ infoHash, peerId: aId, toPeerId: bId, offerId: got.offerId, answer: fakeSdp('answer') }); // answer ok, relayed
    await b.next((x) => x.type === 'answer', 3000, 'A\'s answer');
    await a.sendAnswer({ infoHash, peerId: aId, toPeerId: bId, offerId: got.offerId, answer: fakeSdp('answer') }); // answer error
    await a.failure(3000, infoHash);
    await c.scrapeOk(infoHash); // scrape ok
    await c.send('{"action":"scrape"}'); // scrape error
    await c.failure(3000);
    await c.send('not json'); // invalid
    await c.failure(3000);
    assertFailure(await c.announce({ infoHash: DENIED, peerId: randomId20(), left: 1 }), /not allowed/, 'denied'); // announce denied

    const after = await metrics();
    const delta = (name: string, labels: Record<string, string>): number => m(after, name, labels) - m(before, name, labels);
    assert.deepEqual(
      {
        offersRelayed: delta('tracker_ws_relayed_total', { kind: 'offer' }),
        answersRelayed: delta('tracker_ws_relayed_total', { kind: 'answer' }),
        announceOk: req(after, 'announce', 'ok') - req(before, 'announce', 'ok'),
        announceDenied: req(after, 'announce', 'denied') - req(before, 'announce', 'denied'),
        answerOk: req(after, 'answer', 'ok') - req(before, 'answer', 'ok'),
        answerError: req(after, 'answer', 'error') - req(before, 'answer', 'error'),
        scrapeOk: req(after, 'scrape', 'ok') - req(before, 'scrape', 'ok'),
        scrapeError: req(after, 'scrape', 'error') - req(before, 'scrape', 'error'),
        invalid: req(after, 'invalid', 'error') - req(before, 'invalid', 'error'),
      },
      { offersRelayed: 1, answersRelayed: 1, announceOk: 2, announceDenied: 1, answerOk: 1, answerError: 1, scrapeOk: 1, scrapeError: 1, invalid: 1 },
    );
    assert.ok(
      m(after, 'tracker_request_duration_seconds_count', { protocol: 'ws', action: 'announce' }) >
        m(before, 'tracker_request_duration_seconds_count', { protocol: 'ws', action: 'announce' }),
    );

    a.close();
    b.ws.close(1000);
    await eventually(async () => (m(await metrics(), 'tracker_ws_sockets') === base + 1 ? true : undefined), 2000, 'tracker_ws_sockets to drop by 2');
  });
});
