/**
 * The tracker as a cluster of separate processes on loopback: 3 `tracker
 * swarm` + 2 `tracker edge` (tests/support/cluster.ts), a members file,
 * one shared UDP connection-id key.
 *
 *  - a peer announced through edge A is returned through edge B (UDP, with a
 *    connection id issued by A; HTTP; WebSocket offer/answer relayed between
 *    sockets on different edges), for info-hashes owned by every swarm;
 *  - scrapes with many hashes fan out to the 3 owners and merge in order;
 *  - SIGKILL of a swarm under load: requests for its slots fail fast on every
 *    protocol, every other request keeps succeeding; the edges' metrics show
 *    it; restarted on the same port, it serves its slots again by itself;
 *  - SIGKILL of an edge holding WebSockets: its WebTorrent peers leave the
 *    swarms, the other edge is unaffected;
 *  - SIGTERM on every process exits 0.
 *
 * The tests run in order and share the cluster (each says what it leaves
 * behind). Every wait is bounded.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildAnnounceQuery, buildScrapeQuery, parseAnnounceReply, parseScrapeReply } from '../../lib/protocol/http/client.js';
import { startCluster, metricIn, metricSum, type Cluster, type ClusterNode } from '../support/cluster.js';
import {
  AnnounceEvent,
  UdpTestClient,
  WtTestClient,
  decodeCompactPeers,
  endpointKey,
  eventually,
  fakeSdp,
  httpGet,
  makeOffers,
  randomId20,
  sleep,
  toHex,
  type WtAnswerDecoded,
  type WtOfferDecoded,
  type WtServerMessage,
} from '../support/integration-helpers.js';
import { cleanupScope } from '../support/tracker-process.js';

const isOffer = (m: WtServerMessage): m is WtOfferDecoded => m.type === 'offer';
const isAnswer = (m: WtServerMessage): m is WtAnswerDecoded => m.type === 'answer';

let nextPeerPort = 20_000 + Math.floor(Math.random() * 20_000);
const peerPort = (): number => nextPeerPort++;

// ---------------------------------------------------------------- HTTP helpers

interface HttpAnnounceOutcome {
  ok: boolean;
  failure?: string;
  complete?: number;
  incomplete?: number;
  peers: string[];
}

async function httpAnnounce(
  edge: ClusterNode,
  p: { infoHash: string; port: number; left?: number; event?: AnnounceEvent; peerId?: string },
  timeoutMs = 3000,
): Promise<HttpAnnounceOutcome> {
  const query = buildAnnounceQuery({ peerId: p.peerId ?? randomId20(), left: p.left ?? 100, infoHash: p.infoHash, port: p.port, event: p.event });
  const res = await httpGet('127.0.0.1', edge.port, `/announce?${query}`, {}, timeoutMs);
  assert.equal(res.status, 200, `HTTP announce on ${edge.name}: status`);
  const reply = parseAnnounceReply(res.body);
  if (reply.type === 'failure') return { ok: false, failure: reply.reason, peers: [] };
  if (reply.type !== 'announce') throw new Error(`HTTP announce on ${edge.name}: undecodable reply ${reply.error}: ${res.body.toString('latin1').slice(0, 200)}`);
  return {
    ok: true,
    complete: reply.complete,
    incomplete: reply.incomplete,
    peers: decodeCompactPeers(reply.peers, 6).map(endpointKey),
  };
}

async function httpScrape(edge: ClusterNode, hashes: readonly string[], timeoutMs = 3000) {
  const res = await httpGet('127.0.0.1', edge.port, `/scrape?${buildScrapeQuery(hashes)}`, {}, timeoutMs);
  assert.equal(res.status, 200, `HTTP scrape on ${edge.name}: status`);
  const reply = parseScrapeReply(res.body);
  if (reply.type !== 'scrape') throw new Error(`HTTP scrape on ${edge.name}: ${JSON.stringify(reply)}`);
  return reply.files;
}

// ---------------------------------------------------------------- the suite

describe('cluster of separate processes: 3 swarms + 2 edges', { timeout: 180_000 }, () => {
  const scope = cleanupScope({ after });
  let cluster: Cluster;
  let A: ClusterNode;
  let B: ClusterNode;
  const openClients: Array<{ close(): void }> = [];
  after(() => {
    for (const c of openClients) c.close();
  });
  const track = <T extends { close(): void }>(c: T): T => {
    openClients.push(c);
    return c;
  };
  const ownedHashes = (): Array<{ swarm: string; hash: string }> => cluster.members.map((swarm) => ({ swarm, hash: cluster.hashOwnedBy(swarm) }));

  it('starts 3 swarms and 2 edges; every edge has a stream to every swarm and a 3-member slot table', { timeout: 30_000 }, async (t) => {
    const began = Date.now();
    cluster = await startCluster(scope, { swarms: 3, edges: 2 });
    [A, B] = cluster.edges;
    t.diagnostic(`cluster up in ${Date.now() - began} ms: edges ${cluster.edges.map((e) => `${e.name}@${e.port}`).join(' ')}, swarms ${cluster.swarms.map((s) => `${s.name}@${s.port}`).join(' ')}`);
    for (const edge of cluster.edges) {
      const text = await edge.metrics();
      for (const s of cluster.members) assert.equal(metricIn(text, 'tracker_swarm_stream_up', { swarm: s }), 1, `${edge.name}: stream to ${s}`);
      assert.equal(metricIn(text, 'tracker_slot_table_members'), 3, `${edge.name}: tracker_slot_table_members`);
      assert.ok((metricIn(text, 'tracker_slot_table_epoch') ?? 0) >= 1, `${edge.name}: tracker_slot_table_epoch`);
    }
    for (const swarm of cluster.swarms) {
      await eventually(async () => (metricIn(await swarm.metrics(), 'tracker_edges_connected') === 2 ? true : undefined), 5000, `${swarm.name}: tracker_edges_connected 2`);
    }
  });

  it('UDP: a peer announced through edge A is returned through edge B, with a connection id issued by A', async () => {
    const onA = track(await UdpTestClient.open('127.0.0.1', A.port));
    const onB = track(await UdpTestClient.open('127.0.0.1', B.port));
    const fromA = await onA.connect();
    for (const { swarm, hash } of ownedHashes()) {
      const seederPort = peerPort();
      const seeder = await onA.announceOk({ infoHash: hash, peerId: randomId20(), port: seederPort, left: 0, event: AnnounceEvent.Started });
      assert.deepEqual([seeder.seeders, seeder.leechers, seeder.peers], [1, 0, []], `${swarm}: the first announce on A`);

      // The second peer connects on A and announces on B with A's id.
      const tid = 0x7000_0000 + peerPort();
      const packet = onB.announcePacket({ infoHash: hash, peerId: randomId20(), port: peerPort(), left: 100, event: AnnounceEvent.Started }, fromA, tid);
      const reply = onB.parse(await onB.request(packet, tid, 3000, `an announce reply from ${B.name} to an id issued by ${A.name}`));
      assert.equal(reply.type, 'announce', `${swarm}: B accepts A's connection id: ${JSON.stringify(reply)}`);
      if (reply.type !== 'announce') return;
      assert.deepEqual([reply.seeders, reply.leechers], [1, 1], `${swarm}: counts through B`);
      assert.deepEqual(decodeCompactPeers(reply.peers, 6).map(endpointKey), [`127.0.0.1|${seederPort}`], `${swarm}: B returns the peer announced on A`);

      // And back: B's peer is returned through A (B's own id on A, too).
      const fromB = await onB.connect();
      const tid2 = 0x6000_0000 + peerPort();
      const probe = onA.parse(await onA.request(onA.announcePacket({ infoHash: hash, peerId: randomId20(), port: 9, left: 100, event: AnnounceEvent.Started }, fromB, tid2), tid2));
      assert.equal(probe.type, 'announce', `${swarm}: A accepts B's connection id: ${JSON.stringify(probe)}`);
      if (probe.type === 'announce') assert.equal(probe.seeders + probe.leechers, 3, `${swarm}: counts through A`);
    }
    // Control: an id nobody issued gets no answer on B (so B really checks ids with the shared key).
    // The probe is a valid announce for the same info-hash, so a reply the forged one got from its swarm would come first.
    const forged = { high: fromA.high, low: (fromA.low ^ 0x5a5a5a5a) >>> 0 };
    const probeHash = randomId20();
    await onB.sendExpectingSilence(onB.announcePacket({ infoHash: probeHash, peerId: randomId20(), port: 9 }, forged, 0x12345), () =>
      onB.announceOk({ infoHash: probeHash, peerId: randomId20(), port: 9 }),
    );
  });

  it('HTTP: a peer announced through edge A is returned through edge B (and the reverse)', async () => {
    for (const { swarm, hash } of ownedHashes()) {
      const portA = peerPort();
      const first = await httpAnnounce(A, { infoHash: hash, port: portA, left: 0, event: AnnounceEvent.Started });
      assert.ok(first.ok, `${swarm}: first announce on A failed: ${first.failure}`);
      const portB = peerPort();
      const second = await httpAnnounce(B, { infoHash: hash, port: portB, left: 100, event: AnnounceEvent.Started });
      assert.ok(second.ok, `${swarm}: announce on B failed: ${second.failure}`);
      assert.deepEqual([second.complete, second.incomplete, second.peers], [1, 1, [`127.0.0.1|${portA}`]], `${swarm}: B sees A's peer`);
      const third = await httpAnnounce(A, { infoHash: hash, port: peerPort(), left: 100, event: AnnounceEvent.Started });
      assert.deepEqual([third.complete, third.incomplete, [...third.peers].sort()], [1, 2, [`127.0.0.1|${portA}`, `127.0.0.1|${portB}`].sort()], `${swarm}: A sees both`);
      // `stopped` through B removes A's peer.
      await httpAnnounce(B, { infoHash: hash, port: portA, left: 0, event: AnnounceEvent.Stopped });
      const files = await httpScrape(A, [hash]);
      assert.deepEqual(files.get(hash), { complete: 0, incomplete: 2, downloaded: 0 }, `${swarm}: A's peer left through B`);
    }
  });

  it('WebSocket: peers on edge A and edge B trade an offer and an answer through the owning swarm', async () => {
    for (const { swarm, hash } of ownedHashes()) {
      const a = track(await WtTestClient.open(A.port));
      const b = track(await WtTestClient.open(B.port));
      const aId = randomId20();
      const bId = randomId20();
      const first = await a.announceOk({ infoHash: hash, peerId: aId, left: 0, event: AnnounceEvent.Started });
      assert.deepEqual([first.complete, first.incomplete], [1, 0], `${swarm}: A's announce`);
      const offers = makeOffers(2);
      const second = await b.announceOk({ infoHash: hash, peerId: bId, left: 100, event: AnnounceEvent.Started, offers });
      assert.deepEqual([second.complete, second.incomplete], [1, 1], `${swarm}: B's announce counts A's peer`);

      // The swarm pushes B's offer to edge A, which delivers it on A's socket.
      const offer = await a.next(isOffer, 3000, `${swarm}: B's offer relayed to the socket on ${A.name}`);
      assert.equal(offer.infoHash, hash);
      assert.equal(offer.peerId, bId);
      const sent = offers.find((o) => o.offerId === offer.offerId);
      assert.ok(sent, `${swarm}: the offer id is one B sent`);
      assert.deepEqual(offer.offer, sent.offer, `${swarm}: the SDP arrives unchanged`);

      // A answers through edge A; the swarm pushes it to edge B.
      const answer = fakeSdp('answer', 200, 'cross-edge');
      await a.sendAnswer({ infoHash: hash, peerId: aId, toPeerId: bId, offerId: offer.offerId, answer });
      const back = await b.next(isAnswer, 3000, `${swarm}: A's answer relayed to the socket on ${B.name}`);
      assert.deepEqual(back, { type: 'answer', infoHash: hash, peerId: aId, offerId: offer.offerId, answer }, `${swarm}: the answer B receives`);

      // Only one offer per target peer: A got exactly one; nothing stray anywhere.
      await Promise.all([a.sync(), b.sync()]);
      assert.equal(a.all('offer').length, 1, `${swarm}: A received ${a.all('offer').length} offers`);
      assert.equal(b.all('offer').length, 0, `${swarm}: B received its own offer`);
      a.close();
      b.close();
    }
  });

  it('scrape: 60 hashes over 3 swarms are fanned out and merged in order, with the right counts (UDP, HTTP, WebSocket, both edges)', async () => {
    const hashes = cluster.spreadHashes(60);
    const owners = new Set(hashes.map((h) => cluster.ownerOf(h)));
    assert.equal(owners.size, 3, 'the hashes span all three swarms');
    // Hash k gets k % 3 seeders, k % 4 leechers and (k % 5 === 0 ? 1 : 0) completed downloads, announced over UDP on alternating edges.
    const expected = new Map<string, { complete: number; incomplete: number; downloaded: number }>();
    const udp = [track(await UdpTestClient.open('127.0.0.1', A.port)), track(await UdpTestClient.open('127.0.0.1', B.port))];
    const announces: Array<Promise<unknown>> = [];
    let n = 0;
    hashes.forEach((hash, k) => {
      const seeders = k % 3;
      const leechers = k % 4;
      const completed = k % 5 === 0 && seeders > 0 ? 1 : 0;
      expected.set(hash, { complete: seeders, incomplete: leechers, downloaded: completed });
      for (let s = 0; s < seeders; s++) {
        const event = s < completed ? AnnounceEvent.Completed : AnnounceEvent.Started;
        announces.push(udp[n++ % 2].announceOk({ infoHash: hash, peerId: randomId20(), port: peerPort(), left: 0, event }));
      }
      for (let l = 0; l < leechers; l++) announces.push(udp[n++ % 2].announceOk({ infoHash: hash, peerId: randomId20(), port: peerPort(), left: 10, event: AnnounceEvent.Started }));
    });
    // WebTorrent peers are a separate population (a WebSocket scrape counts only them): hash k gets
    // k % 2 WebTorrent seeders and (k % 3 === 0 ? 1 : 0) leechers, from sockets on alternating edges.
    const wtExpected = new Map<string, { complete: number; incomplete: number; downloaded: number }>();
    const wsPeers = [track(await WtTestClient.open(A.port)), track(await WtTestClient.open(B.port))];
    let w = 0;
    for (const [k, hash] of hashes.entries()) {
      const seeders = k % 2;
      const leechers = k % 3 === 0 ? 1 : 0;
      wtExpected.set(hash, { complete: seeders, incomplete: leechers, downloaded: 0 });
      for (let s = 0; s < seeders; s++) announces.push(wsPeers[w++ % 2].announceOk({ infoHash: hash, peerId: randomId20(), left: 0, event: AnnounceEvent.Started }));
      for (let l = 0; l < leechers; l++) announces.push(wsPeers[w++ % 2].announceOk({ infoHash: hash, peerId: randomId20(), left: 10, event: AnnounceEvent.Started }));
    }
    await Promise.all(announces);
    const unknown = [randomId20(), randomId20()];
    const asked = [...unknown.slice(0, 1), ...hashes, ...unknown.slice(1)];
    const want = (h: string) => expected.get(h) ?? { complete: 0, incomplete: 0, downloaded: 0 };

    for (const edge of cluster.edges) {
      // HTTP: one request, 62 hashes.
      const files = await httpScrape(edge, asked);
      for (const h of asked) assert.deepEqual(files.get(h), want(h), `HTTP scrape on ${edge.name}: ${toHex(h)} (owner ${cluster.ownerOf(h)})`);

      // UDP: stats come back in request order.
      const client = udp[edge === A ? 0 : 1];
      const stats = await client.scrapeOk(asked);
      assert.equal(stats.length, asked.length, `UDP scrape on ${edge.name}: entries`);
      asked.forEach((h, i) => assert.deepEqual(stats[i], want(h), `UDP scrape on ${edge.name}: entry ${i} ${toHex(h)} (owner ${cluster.ownerOf(h)})`));

      // WebSocket.
      const ws = track(await WtTestClient.open(edge.port));
      const wsFiles = await ws.scrapeOk(asked);
      const wantWt = (h: string) => wtExpected.get(h) ?? { complete: 0, incomplete: 0, downloaded: 0 };
      for (const h of asked) assert.deepEqual(wsFiles.get(h), wantWt(h), `WebSocket scrape on ${edge.name}: ${toHex(h)} (owner ${cluster.ownerOf(h)})`);
      ws.close();
    }
  });

  // --------------------------------------------------------------- kill -9 a swarm under load

  const victimName = 'swarm-1';
  let victimHashes: string[] = [];
  let liveHashes: string[] = [];
  const unavailableBefore = new Map<string, number>();

  const unavailable = (text: string, protocol: string, action: string): number =>
    metricIn(text, 'tracker_requests_total', { protocol, action, result: 'unavailable' }) ?? 0;

  // "Fast" below is a property of the failure, not of a clock: the edge answers from the stream's end
  // ("swarm ... unavailable"), never by waiting out cluster.requestTimeoutMs ("swarm ... timed out").
  const notTimedOut = (detail: string): boolean => /unavailable/i.test(detail) && !/timed out/i.test(detail);

  it('SIGKILL of a swarm under load: requests for its slots fail fast on every protocol, every other request succeeds', { timeout: 60_000 }, async (t) => {
    const victim = cluster.swarm(victimName);
    victimHashes = Array.from({ length: 30 }, () => cluster.hashOwnedBy(victimName));
    liveHashes = cluster.members.filter((m) => m !== victimName).flatMap((m) => Array.from({ length: 30 }, () => cluster.hashOwnedBy(m)));
    const all = [...victimHashes, ...liveHashes];
    for (const edge of cluster.edges) {
      const text = await edge.metrics();
      for (const p of ['udp', 'http', 'ws']) unavailableBefore.set(`${edge.name}/${p}`, unavailable(text, p, 'announce'));
    }

    const udp = [track(await UdpTestClient.open('127.0.0.1', A.port)), track(await UdpTestClient.open('127.0.0.1', B.port))];
    await Promise.all(udp.map((c) => c.connect()));
    const ws = [track(await WtTestClient.open(A.port)), track(await WtTestClient.open(B.port))];
    const wsPeerIds = [randomId20(), randomId20()];
    const udpPorts = all.map(() => peerPort());

    interface Outcome {
      protocol: 'udp' | 'http' | 'ws';
      edge: string;
      hash: string;
      victim: boolean;
      start: number;
      ms: number;
      ok: boolean;
      detail: string;
    }
    const outcomes: Outcome[] = [];
    const pending: Array<Promise<void>> = [];
    const CLIENT_TIMEOUT_MS = 3000;
    const run = (protocol: Outcome['protocol'], e: number, hash: string, k: number): void => {
      const start = performance.now();
      const edge = cluster.edges[e];
      const record = (ok: boolean, detail: string): void => {
        outcomes.push({ protocol, edge: edge.name, hash, victim: cluster.ownerOf(hash) === victimName, start, ms: performance.now() - start, ok, detail });
      };
      let work: Promise<void>;
      if (protocol === 'udp') {
        work = udp[e].announce({ infoHash: hash, peerId: randomId20(), port: udpPorts[k], left: 10 }, CLIENT_TIMEOUT_MS).then((r) =>
          record(r.type === 'announce', r.type === 'error' ? `error packet: ${r.message}` : r.type),
        );
      } else if (protocol === 'http') {
        work = httpAnnounce(edge, { infoHash: hash, port: udpPorts[k], left: 10 }, CLIENT_TIMEOUT_MS).then((r) => record(r.ok, r.failure ?? 'ok'));
      } else {
        work = ws[e].announce({ infoHash: hash, peerId: wsPeerIds[e], left: 10 }, CLIENT_TIMEOUT_MS).then((r) =>
          record(r.type === 'announce', r.type === 'failure' ? `failure: ${r.reason}` : 'ok'),
        );
      }
      pending.push(work.catch((error: Error) => record(false, `NO REPLY: ${error.message}`)));
    };

    // Every 10 ms one request per protocol, hashes and edges round-robin. The kill comes once enough
    // requests were answered before it; the load stops once enough were sent for the victim's slots
    // after it on every protocol (counts, not durations: a busy machine only makes it take longer).
    const PER_PROTOCOL_AFTER = 20;
    const LOAD_CAP_MS = 30_000;
    const began = performance.now();
    let killedAt = Infinity;
    let killing: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
    const sentAfterKill = { udp: 0, http: 0, ws: 0 };
    let k = 0;
    while (performance.now() - began < LOAD_CAP_MS) {
      if (!killing && outcomes.filter((o) => o.ok).length >= 60) {
        killing = victim.kill('SIGKILL').then((result) => {
          killedAt = performance.now();
          return result;
        });
      }
      for (const protocol of ['udp', 'http', 'ws'] as const) {
        const index = k % all.length;
        run(protocol, k % 2, all[index], index);
        if (performance.now() >= killedAt && index < victimHashes.length) sentAfterKill[protocol]++;
        k++;
      }
      if (Object.values(sentAfterKill).every((n) => n >= PER_PROTOCOL_AFTER + 5)) break;
      await sleep(10);
    }
    assert.ok(killing, `no kill: only ${outcomes.filter((o) => o.ok).length} requests answered in ${LOAD_CAP_MS} ms`);
    const killResult = await killing;
    assert.equal(killResult.signal, 'SIGKILL');
    await Promise.all(pending);
    const killOffset = killedAt - began;
    const LOAD_MS = performance.now() - began;

    const after = outcomes.filter((o) => o.start >= killedAt);
    const victimAfter = after.filter((o) => o.victim);
    const liveAll = outcomes.filter((o) => !o.victim);
    const rate = Math.round(outcomes.length / (LOAD_MS / 1000));
    t.diagnostic(`${outcomes.length} requests (~${rate}/s), kill confirmed at ${killOffset.toFixed(0)} ms; after it: ${victimAfter.length} for ${victimName}'s slots, ${after.length - victimAfter.length} for others`);
    const byProto = (list: Outcome[]) => ['udp', 'http', 'ws'].map((p) => `${p}=${list.filter((o) => o.protocol === p).length}`).join(' ');
    const worst = (list: Outcome[]) => list.reduce((m, o) => Math.max(m, o.ms), 0);
    t.diagnostic(`victim-slot failures after the kill: ${byProto(victimAfter)}; slowest ${worst(victimAfter).toFixed(0)} ms; live-slot slowest ${worst(liveAll).toFixed(0)} ms`);
    t.diagnostic(`sample failure texts: ${[...new Set(victimAfter.map((o) => `${o.protocol}: ${o.detail}`))].slice(0, 4).join(' | ')}`);

    // Every request for another swarm's slot, before and after the kill, succeeded.
    const liveFailed = liveAll.filter((o) => !o.ok);
    assert.deepEqual(
      liveFailed.slice(0, 5).map((o) => `${o.protocol} ${o.edge} ${cluster.ownerOf(o.hash)} at ${(o.start - began).toFixed(0)}ms: ${o.detail}`),
      [],
      cluster.describe(`${liveFailed.length} of ${liveAll.length} requests for live swarms failed`),
    );
    // Every request for the victim's slots sent after the kill got a failure reply, on every protocol, fast.
    for (const p of ['udp', 'http', 'ws'] as const) {
      assert.ok(victimAfter.filter((o) => o.protocol === p).length >= PER_PROTOCOL_AFTER, `too few ${p} requests for ${victimName}'s slots after the kill`);
    }
    const hung = outcomes.filter((o) => o.detail.startsWith('NO REPLY'));
    assert.deepEqual(hung.slice(0, 5).map((o) => `${o.protocol} ${o.edge} ${cluster.ownerOf(o.hash)}: ${o.detail}`), [], `${hung.length} requests got no reply at all`);
    const succeeded = victimAfter.filter((o) => o.ok);
    assert.deepEqual(succeeded.slice(0, 5).map((o) => `${o.protocol} ${o.edge}`), [], `${succeeded.length} requests for the dead swarm's slots "succeeded"`);
    // The failures say why, and none waited out the request timeout.
    const slow = victimAfter.filter((o) => !notTimedOut(o.detail));
    assert.deepEqual(slow.slice(0, 5).map((o) => `${o.protocol} ${o.edge} ${o.ms.toFixed(0)} ms: ${o.detail}`), [], `${slow.length} failures were not "unavailable"`);
    // Requests in flight at the kill were answered too (no hangs, checked above), by the stream's end.
    const around = outcomes.filter((o) => o.victim && !o.ok && o.start < killedAt);
    assert.deepEqual(around.filter((o) => !notTimedOut(o.detail)).map((o) => `${o.protocol} ${o.ms.toFixed(0)} ms: ${o.detail}`), [], 'in-flight requests at the kill');
    // Scrapes: only live swarms' hashes -> answered; only the dead swarm's -> a failure, fast, on every protocol.
    const files = await httpScrape(A, liveHashes.slice(0, 40));
    assert.equal(files.size, 40);
    for (const [e, edge] of cluster.edges.entries()) {
      const res = await httpGet('127.0.0.1', edge.port, `/scrape?${buildScrapeQuery(victimHashes.slice(0, 5))}`, {}, CLIENT_TIMEOUT_MS);
      const parsed = parseScrapeReply(res.body);
      assert.ok(parsed.type === 'failure' && notTimedOut(parsed.reason), `HTTP scrape of ${victimName}'s hashes on ${edge.name}: ${JSON.stringify(parsed)}`);
      const u = await udp[e].scrape(victimHashes.slice(0, 5), CLIENT_TIMEOUT_MS);
      assert.ok(u.type === 'error' && notTimedOut(u.message), `UDP scrape of ${victimName}'s hashes on ${edge.name}: ${JSON.stringify(u)}`);
      const w = await ws[e].scrape(victimHashes.slice(0, 5), CLIENT_TIMEOUT_MS);
      assert.ok(w.type === 'failure' && notTimedOut(w.reason), `WebSocket scrape of ${victimName}'s hashes on ${edge.name}: ${JSON.stringify(w)}`);
    }
    // A scrape mixing live and dead swarms' hashes: whatever the design (whole failure or partial), it does not wait for the dead swarm.
    const started = performance.now();
    const mixed = parseScrapeReply((await httpGet('127.0.0.1', A.port, `/scrape?${buildScrapeQuery([liveHashes[0], victimHashes[0]])}`, {}, CLIENT_TIMEOUT_MS)).body);
    t.diagnostic(`a scrape mixing live and dead swarms' hashes: ${mixed.type === 'scrape' ? `partial answer (${mixed.files.size} entries)` : JSON.stringify(mixed)} in ${(performance.now() - started).toFixed(0)} ms`);
    assert.ok(mixed.type === 'scrape' || (mixed.type === 'failure' && notTimedOut(mixed.reason)), JSON.stringify(mixed));
  });

  it('while the swarm is down: edge /metrics show its stream down (others up) and 3 slot-table members', async () => {
    for (const edge of cluster.edges) {
      await cluster.waitStreams(edge, { 'swarm-0': 1, 'swarm-1': 0, 'swarm-2': 1 }, 3000);
      const text = await edge.metrics();
      assert.equal(metricIn(text, 'tracker_slot_table_members'), 3, `${edge.name}: the members file still lists the dead swarm, so it keeps its slots`);
      assert.equal(metricIn(text, 'tracker_swarm_inflight_requests', { swarm: victimName }), 0, `${edge.name}: nothing waits for the dead swarm`);
      assert.ok((metricIn(text, 'tracker_swarm_round_trip_seconds_count') ?? 0) > 0, `${edge.name}: round trips observed`);
      assert.ok((metricIn(text, 'tracker_swarm_batch_requests_count', { swarm: 'swarm-0' }) ?? 0) > 0, `${edge.name}: batches to swarm-0 observed`);
    }
  });

  it('tracker_requests_total counts the dead swarm\'s failures as result="unavailable" on every protocol (udp, http, ws)', async () => {
    const problems: string[] = [];
    for (const edge of cluster.edges) {
      const text = await edge.metrics();
      for (const p of ['udp', 'http', 'ws']) {
        const grew = unavailable(text, p, 'announce') - (unavailableBefore.get(`${edge.name}/${p}`) ?? 0);
        if (grew <= 0) {
          const asError = metricIn(text, 'tracker_requests_total', { protocol: p, action: 'announce', result: 'error' }) ?? 0;
          problems.push(`${edge.name}: tracker_requests_total{protocol="${p}",action="announce",result="unavailable"} grew by ${grew} (result="error" is ${asError})`);
        }
      }
    }
    assert.deepEqual(problems, [], 'every "swarm unavailable" failure reply should be counted as result="unavailable"');
  });

  it('the killed swarm, restarted on the same port, serves its slots again by itself (no edge restart)', { timeout: 40_000 }, async (t) => {
    const victim = cluster.swarm(victimName);
    const edgePids = cluster.edges.map((e) => e.pid);
    const began = Date.now();
    await victim.restart();
    const readyMs = Date.now() - began;
    const hash = victimHashes[0];
    // Every protocol on both edges answers for its slots again.
    const udp = [track(await UdpTestClient.open('127.0.0.1', A.port)), track(await UdpTestClient.open('127.0.0.1', B.port))];
    const ws = [track(await WtTestClient.open(A.port)), track(await WtTestClient.open(B.port))];
    await eventually(
      async () => {
        for (let e = 0; e < 2; e++) {
          const u = await udp[e].announce({ infoHash: hash, peerId: randomId20(), port: peerPort(), left: 10 }, 1000);
          if (u.type !== 'announce') return undefined;
          const h = await httpAnnounce(cluster.edges[e], { infoHash: hash, port: peerPort() }, 1000);
          if (!h.ok) return undefined;
          const w = await ws[e].announce({ infoHash: hash, peerId: randomId20(), left: 10 }, 1000);
          if (w.type !== 'announce') return undefined;
        }
        return true;
      },
      20_000,
      `${victimName}'s slots to serve again through both edges`,
      100,
    ).catch((error: Error) => {
      throw new Error(cluster.describe(error.message));
    });
    const servingMs = Date.now() - began;
    t.diagnostic(`${victimName} restarted: ready after ${readyMs} ms, serving through both edges after ${servingMs} ms`);
    assert.deepEqual(cluster.edges.map((e) => e.pid), edgePids, 'the edges were not restarted');
    for (const edge of cluster.edges) await cluster.waitStreams(edge, { 'swarm-0': 1, 'swarm-1': 1, 'swarm-2': 1 }, 3000);
    await eventually(async () => (metricIn(await victim.metrics(), 'tracker_edges_connected') === 2 ? true : undefined), 3000, `${victimName}: 2 edges connected`);
    // A cross-edge exchange works on its slots again (a fresh swarm: no peers survived, no Redis).
    const probe = cluster.hashOwnedBy(victimName);
    const portA = peerPort();
    assert.ok((await httpAnnounce(A, { infoHash: probe, port: portA, left: 0 })).ok);
    const seen = await httpAnnounce(B, { infoHash: probe, port: peerPort() });
    assert.deepEqual(seen.peers, [`127.0.0.1|${portA}`]);
    for (const c of [...udp, ...ws]) c.close();
  });

  // --------------------------------------------------------------- kill -9 an edge holding WebSockets

  it('SIGKILL of an edge with WebTorrent sockets: its peers leave every swarm after the grace period; the other edge is unaffected', { timeout: 60_000 }, async (t) => {
    const hashes = ownedHashes().map((o) => o.hash);
    // On B: three sockets, each with a peer on every hash. On A: one socket with a peer on every hash.
    const onB = [track(await WtTestClient.open(B.port)), track(await WtTestClient.open(B.port)), track(await WtTestClient.open(B.port))];
    const onA = track(await WtTestClient.open(A.port));
    const aId = randomId20();
    for (const hash of hashes) {
      for (const c of onB) await c.announceOk({ infoHash: hash, peerId: randomId20(), left: 100, event: AnnounceEvent.Started });
      await onA.announceOk({ infoHash: hash, peerId: aId, left: 0, event: AnnounceEvent.Started });
    }
    const observer = track(await WtTestClient.open(A.port));
    const before = await observer.scrapeOk(hashes);
    for (const hash of hashes) assert.deepEqual(before.get(hash), { complete: 1, incomplete: 3, downloaded: 0 }, `before: ${cluster.ownerOf(hash)}`);

    const swarmPeers = (): Promise<number[]> => Promise.all(cluster.swarms.map(async (s) => metricSum(await s.metrics(), 'tracker_webtorrent_peers')));
    const swarmPeersBefore = await swarmPeers();
    const killedAt = Date.now();
    await B.kill('SIGKILL');
    // B's clients see their sockets die.
    await Promise.all(onB.map((c) => c.waitClose(3000)));

    // Scrape through A until B's peers are gone from every swarm.
    const gone = await eventually(
      async () => {
        const files = await observer.scrapeOk(hashes, 2000);
        return hashes.every((h) => files.get(h)?.incomplete === 0) ? files : undefined;
      },
      // The swarms' grace period is 5 s; peers that stayed until their 300 s timeout would miss this by far.
      30_000,
      `${B.name}'s WebTorrent peers to leave the swarms (scrape through ${A.name})`,
      100,
    ).catch(async (error: Error) => {
      const files = await observer.scrapeOk(hashes).catch(() => undefined);
      throw new Error(cluster.describe(`${error.message}; last scrape ${JSON.stringify(files && [...files.values()])}`));
    });
    const goneMs = Date.now() - killedAt;
    const swarmPeersAfter = await swarmPeers();
    t.diagnostic(`${B.name} killed: its WebTorrent peers left the swarms after ${goneMs} ms (tracker_webtorrent_peers per swarm: ${JSON.stringify(swarmPeersBefore)} -> ${JSON.stringify(swarmPeersAfter)})`);
    swarmPeersAfter.forEach((n, i) => assert.ok(swarmPeersBefore[i] - n >= 3, `${cluster.swarms[i].name}: tracker_webtorrent_peers ${swarmPeersBefore[i]} -> ${n}`));
    // A's own peer is still there, on every swarm.
    for (const hash of hashes) assert.deepEqual(gone.get(hash), { complete: 1, incomplete: 0, downloaded: 0 }, `after: ${cluster.ownerOf(hash)} keeps A's peer`);

    // Edge A is unaffected: its socket is open, announces work, and two peers on A still trade offers on every swarm.
    assert.ok(onA.isOpen, 'the socket on A stayed open');
    for (const hash of hashes) {
      const again = await onA.announceOk({ infoHash: hash, peerId: aId, left: 0 });
      assert.deepEqual([again.complete, again.incomplete], [1, 0]);
      const other = track(await WtTestClient.open(A.port));
      const offers = makeOffers(1);
      const otherId = randomId20();
      await other.announceOk({ infoHash: hash, peerId: otherId, left: 100, offers });
      const got = await onA.next(isOffer, 3000, `an offer on ${A.name} after ${B.name} died`);
      assert.equal(got.peerId, otherId);
      await onA.sendAnswer({ infoHash: hash, peerId: aId, toPeerId: otherId, offerId: got.offerId, answer: fakeSdp('answer') });
      await other.next(isAnswer, 3000, `the answer on ${A.name}`);
      other.close();
    }
    for (const swarm of cluster.swarms) {
      await eventually(async () => (metricIn(await swarm.metrics(), 'tracker_edges_connected') === 1 ? true : undefined), 3000, `${swarm.name}: 1 edge connected`);
    }
    const udp = track(await UdpTestClient.open('127.0.0.1', A.port));
    for (const hash of hashes) await udp.announceOk({ infoHash: hash, peerId: randomId20(), port: peerPort() });
    assert.ok((await httpAnnounce(A, { infoHash: hashes[0], port: peerPort() })).ok);
  });

  it('an edge killed and restarted at once (new boot nonce): the swarms drop its old WebTorrent peers as soon as it reconnects', { timeout: 40_000 }, async (t) => {
    await B.restart();
    await cluster.waitStreams(B, { 'swarm-0': 1, 'swarm-1': 1, 'swarm-2': 1 }, 5000);
    const hashes = ownedHashes().map((o) => o.hash);
    const onB = track(await WtTestClient.open(B.port));
    for (const hash of hashes) await onB.announceOk({ infoHash: hash, peerId: randomId20(), left: 100, event: AnnounceEvent.Started });
    const observer = track(await WtTestClient.open(A.port));
    const before = await observer.scrapeOk(hashes);
    for (const hash of hashes) assert.equal(before.get(hash)?.incomplete, 1, `before: ${cluster.ownerOf(hash)}`);

    await B.kill('SIGKILL');
    const restartBegan = Date.now();
    await B.restart();
    // A swarm acknowledges a stream only after dropping the old incarnation's peers (same step),
    // so once B's streams are up, one scrape must find them gone: no waiting, no grace period.
    await cluster.waitStreams(B, { 'swarm-0': 1, 'swarm-1': 1, 'swarm-2': 1 }, 15_000);
    const upMs = Date.now() - restartBegan;
    const files = await observer.scrapeOk(hashes, 3000);
    t.diagnostic(`${B.name} restarted and reconnected after ${upMs} ms`);
    for (const hash of hashes) {
      assert.equal(files.get(hash)?.incomplete, 0, cluster.describe(`${cluster.ownerOf(hash)} still has the old ${B.name} incarnation's peer once the new one is connected`));
    }
  });

  it('SIGTERM on every process exits 0', { timeout: 30_000 }, async (t) => {
    if (!B.running()) await B.restart();
    await cluster.waitStreams(B, { 'swarm-0': 1, 'swarm-1': 1, 'swarm-2': 1 }, 5000);
    // The restarted edge serves: a peer announced through it is returned through A.
    const hash = randomId20();
    const port = peerPort();
    assert.ok((await httpAnnounce(B, { infoHash: hash, port, left: 0 })).ok);
    assert.deepEqual((await httpAnnounce(A, { infoHash: hash, port: peerPort() })).peers, [`127.0.0.1|${port}`]);
    for (const c of openClients) c.close();
    const began = Date.now();
    const results = await cluster.stop();
    t.diagnostic(`stopped in ${Date.now() - began} ms: ${results.map((r) => `${r.name}=${r.result.code}`).join(' ')}`);
    assert.equal(results.length, 5);
    for (const r of results) assert.deepEqual(r.result, { code: 0, signal: null }, `${r.name} after SIGTERM`);
  });
});
