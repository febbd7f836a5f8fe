/**
 * The gRPC transport in front of the real Swarm (packed store + WebTorrent
 * swarms), wired the way a swarm pod wires it: the server is the swarm's
 * RelaySink and onEdgeGone drops the edge's WebTorrent peers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GrpcTransport } from '../../../lib/transport/grpc/client.js';
import { GrpcSwarmServer } from '../../../lib/transport/grpc/server.js';
import type { SwarmReply, SwarmRequest } from '../../../lib/tracker/swarm.js';
import type { WtRelayMessage } from '../../../lib/tracker/webtorrent.js';
import type { Transport } from '../../../lib/transport/transport.js';
import { Swarm } from '../../../services/swarm/swarm.js';
import { WebTorrentSwarms } from '../../../services/swarm/store/webtorrent-swarms.js';
import { makeStore, v4 } from '../../support/swarm-store.js';
import { binaryId } from '../../support/transport-conformance.js';
import { eventually } from '../../support/waiting.js';

const send = (t: Transport, batch: SwarmRequest[]): Promise<SwarmReply[]> => new Promise((resolve) => t.send(batch, resolve));

const until = (what: string, check: () => boolean, timeoutMs = 10_000): Promise<boolean> => eventually(check, timeoutMs, what, 5);

test('gRPC + Swarm: UDP/HTTP announces, WebTorrent offer/answer relays across edges, edge loss drops its peers', async () => {
  const webtorrent = new WebTorrentSwarms({ intervalSeconds: 120, peerTimeoutSeconds: 300, offerTtlSeconds: 60, maxPendingOffers: 1000 });
  const swarm = new Swarm(makeStore(), webtorrent);
  const server = new GrpcSwarmServer(swarm, { host: '127.0.0.1', port: 0, edgeGoneGraceMs: 0, onEdgeGone: (edge) => webtorrent.dropEdge(edge) });
  webtorrent.setRelay(server);
  const port = await server.listen();
  const a = new GrpcTransport({ name: 'swarm-0', address: `127.0.0.1:${port}`, edgeId: 'edge-a' });
  const b = new GrpcTransport({ name: 'swarm-0', address: `127.0.0.1:${port}`, edgeId: 'edge-b' });
  const atA: [number, WtRelayMessage][] = [];
  const atB: [number, WtRelayMessage][] = [];
  a.onRelay((socket, m) => atA.push([socket, m]));
  b.onRelay((socket, m) => atB.push([socket, m]));
  try {
    assert.ok((await a.whenOpen(10_000)) && (await b.whenOpen(10_000)));
    const infoHash = binaryId(3);

    // UDP/HTTP side: two peers see each other.
    await send(a, [{ type: 'announce', infoHash, peerId: binaryId(1), endpoint: v4(1), event: 2, left: 0, numwant: 50 }]);
    const [udp] = await send(b, [{ type: 'announce', infoHash, peerId: binaryId(2), endpoint: v4(2), event: 2, left: 10, numwant: 50 }]);
    assert.ok(udp.type === 'announce' && udp.complete === 1 && udp.incomplete === 1);
    assert.deepEqual(Array.from(udp.peers), Array.from(v4(1)));

    // WebTorrent: a peer on edge-b, then an offer from a peer on edge-a is relayed to it.
    const peerB = binaryId(4);
    const peerA = binaryId(5);
    const offerId = binaryId(6);
    const [r1] = await send(b, [{ type: 'wt-announce', infoHash, peerId: peerB, from: { edge: 'edge-b', socket: 11 }, event: 2, seeder: true, offers: [] }]);
    assert.equal(r1.type, 'wt-announce');
    const [r2] = await send(a, [{ type: 'wt-announce', infoHash, peerId: peerA, from: { edge: 'edge-a', socket: 22 }, event: 2, seeder: false, offers: [{ offerId, offer: { type: 'offer', sdp: 'v=0 offer' } }] }]);
    assert.ok(r2.type === 'wt-announce' && r2.offersRelayed === 1);
    await until('the offer at edge-b', () => atB.length === 1);
    assert.deepEqual(atB[0], [11, { kind: 'offer', infoHash, fromPeerId: peerA, offerId, offer: { type: 'offer', sdp: 'v=0 offer' } }]);

    // The answer goes back to edge-a's socket 22.
    const [r3] = await send(b, [{ type: 'wt-answer', infoHash, peerId: peerB, from: { edge: 'edge-b', socket: 11 }, toPeerId: peerA, offerId, answer: { type: 'answer', sdp: 'v=0 answer' } }]);
    assert.equal(r3.type, 'wt-answer');
    await until('the answer at edge-a', () => atA.length === 1);
    assert.deepEqual(atA[0], [22, { kind: 'answer', infoHash, fromPeerId: peerB, offerId, answer: { type: 'answer', sdp: 'v=0 answer' } }]);

    // edge-b goes away: its WebTorrent peer is dropped, edge-a's stays.
    await b.close();
    await until('edge-b dropped', () => webtorrent.stats().seeders === 0);
    const [scrape] = await send(a, [{ type: 'wt-scrape', infoHashes: [infoHash] }]);
    assert.ok(scrape.type === 'wt-scrape');
    assert.deepEqual(scrape.files, [{ complete: 0, incomplete: 1, downloaded: 0 }]);
  } finally {
    await a.close();
    await b.close();
    await server.shutdown(1000);
  }
});
