/**
 * The gRPC transport: the shared Transport conformance suite against a real
 * GrpcSwarmServer on 127.0.0.1, plus what only a network transport has
 * (failure and recovery, timeouts, backpressure, relays, edge lifecycle).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { GrpcTransport, type GrpcTransportOptions } from '../../../lib/transport/grpc/client.js';
import { GrpcSwarmServer, type GrpcSwarmServerOptions } from '../../../lib/transport/grpc/server.js';
import { swarmServiceDefinition } from '../../../lib/transport/grpc/service.js';
import type { DecodedEdgeBatch } from '../../../lib/transport/grpc/codec.js';
import type { SwarmReply, SwarmRequest } from '../../../lib/tracker/swarm.js';
import type { WtRelayMessage } from '../../../lib/tracker/webtorrent.js';
import type { SwarmService, Transport } from '../../../lib/transport/transport.js';
import { allRelays, allReplies, allRequests, binaryId, comparable, EchoSwarm, RecordingSwarm, requestsForEveryReply, transportConformance } from '../../support/transport-conformance.js';
import { eventually, sleep, withinTurn, withTimeout } from '../../support/waiting.js';

function send(transport: Transport, batch: SwarmRequest[], tableIdentity?: number, queuedAt?: number): Promise<SwarmReply[]> {
  return new Promise((resolve) => transport.send(batch, resolve, tableIdentity, queuedAt));
}

const announce = (n: number): SwarmRequest => ({
  type: 'announce',
  infoHash: binaryId(n % 13),
  peerId: binaryId((n + 1) % 13),
  endpoint: Uint8Array.of(10, 0, (n >> 8) & 0xff, n & 0xff, 0x1a, 0xe1),
  event: 0,
  left: n,
  numwant: n,
});

async function startServer(service: SwarmService, options: GrpcSwarmServerOptions = {}): Promise<{ server: GrpcSwarmServer; port: number }> {
  const server = new GrpcSwarmServer(service, { host: '127.0.0.1', port: 0, edgeGoneGraceMs: 0, swarmId: 'swarm-t', ...options });
  const port = await server.listen();
  return { server, port };
}

async function connect(port: number, options: Partial<GrpcTransportOptions> = {}): Promise<GrpcTransport> {
  const transport = new GrpcTransport({ name: 'swarm-t', address: `127.0.0.1:${port}`, edgeId: 'edge-t', ...options });
  assert.ok(await transport.whenOpen(5000), 'stream opens');
  return transport;
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  await eventually(check, timeoutMs, what, 5);
}

/** The next event-loop turn (lets I/O and timers run once). */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

transportConformance('gRPC transport', async (service) => {
  const { server, port } = await startServer(service);
  const transport = await connect(port);
  return {
    transport,
    breakSwarm: async () => server.forceShutdown(),
    cleanup: async () => {
      await transport.close();
      server.forceShutdown();
    },
  };
});

test('gRPC: the swarm announces itself and the stream opens', async () => {
  const { server, port } = await startServer(new EchoSwarm());
  const transport = await connect(port);
  try {
    assert.equal(transport.swarmId, 'swarm-t');
    assert.equal(transport.streamState, 'open');
    assert.deepEqual(server.connectedEdges(), ['edge-t']);
  } finally {
    await transport.close();
    server.forceShutdown();
  }
});

test('gRPC: sends made before the stream is acknowledged are answered', async () => {
  const { server, port } = await startServer(new EchoSwarm());
  const transport = new GrpcTransport({ name: 'swarm-t', address: `127.0.0.1:${port}`, edgeId: 'edge-t' });
  try {
    assert.equal(transport.streamState, 'connecting');
    const replies = await send(transport, [announce(1), announce(2)]);
    assert.deepEqual(replies.map((r) => r.type), ['announce', 'announce']);
  } finally {
    await transport.close();
    server.forceShutdown();
  }
});

test('gRPC: server killed -> requests fail fast; they recover by themselves when a server is back on the port', async () => {
  let { server, port } = await startServer(new EchoSwarm());
  // A request timeout no test waits out: "fast" below means the stream's end answered, not the timeout.
  const transport = await connect(port, { maxReconnectBackoffMs: 1000, requestTimeoutMs: 120_000 });
  try {
    assert.equal((await send(transport, [announce(1)]))[0].type, 'announce');

    // In flight when the swarm dies: answered with errors when the stream ends.
    const inFlight = send(transport, Array.from({ length: 100 }, (_, i) => announce(i)));
    server.forceShutdown();
    const failed = await inFlight;
    assert.ok(failed.every((r) => r.type === 'announce' || (r.type === 'error' && r.message === 'swarm swarm-t unavailable')), JSON.stringify(failed.find((r) => r.type !== 'announce')));
    assert.equal(transport.stats().timedOut, 0);

    // While it is down: every send fails at once (before any I/O) with "unavailable".
    await until('the stream to go down', () => transport.streamState === 'down');
    for (let k = 0; k < 5; k++) {
      const replies = await withinTurn(send(transport, [announce(1), announce(2)]), `send ${k} while the swarm is down`);
      assert.deepEqual(replies, [
        { type: 'error', message: 'swarm swarm-t unavailable', unavailable: true },
        { type: 'error', message: 'swarm swarm-t unavailable', unavailable: true },
      ]);
      await nextTurn();
    }
    assert.ok(transport.stats().unavailable >= 10);

    // A new server on the same port: the transport reconnects without help.
    ({ server } = await startServer(new EchoSwarm(), { port }));
    await until('the stream to reopen', () => transport.streamState === 'open', 6000);
    const replies = await send(transport, [announce(7)]);
    assert.equal(replies[0].type, 'announce');
    assert.ok(transport.stats().streamsOpened >= 2);
  } finally {
    await transport.close();
    server.forceShutdown();
  }
});

test('gRPC: no server at all -> sends fail fast', async () => {
  const { server, port } = await startServer(new EchoSwarm());
  server.forceShutdown();
  const transport = new GrpcTransport({ name: 'swarm-x', address: `127.0.0.1:${port}`, edgeId: 'edge-t' });
  try {
    await until('the stream to go down', () => transport.streamState === 'down');
    const replies = await withinTurn(send(transport, [announce(1)]), 'a send with no swarm');
    assert.deepEqual(replies, [{ type: 'error', message: 'swarm swarm-x unavailable', unavailable: true }]);
  } finally {
    await transport.close();
  }
});

/** A swarm that reads batches and answers only when told to (or never). */
async function stallingServer(): Promise<{ port: number; batches: DecodedEdgeBatch[]; answer: (batch: DecodedEdgeBatch) => void; stop: () => void }> {
  const server = new grpc.Server();
  const batches: DecodedEdgeBatch[] = [];
  let call: grpc.ServerDuplexStream<DecodedEdgeBatch, unknown> | undefined;
  server.addService(swarmServiceDefinition(), {
    exchange: (c: grpc.ServerDuplexStream<DecodedEdgeBatch, unknown>) => {
      call = c;
      c.sendMetadata(new grpc.Metadata());
      c.on('data', (batch: DecodedEdgeBatch) => batches.push(batch));
      c.on('error', () => {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    port,
    batches,
    answer: (batch) => call?.write({ ids: batch.ids, replies: new EchoSwarm().handle(batch.requests as SwarmRequest[]), relays: [] }),
    stop: () => server.forceShutdown(),
  };
}

test('gRPC: per-request timeout when the swarm stalls; late replies are dropped', async () => {
  const stall = await stallingServer();
  // Longer than the 2000 ms default, so answering at or after it shows this setting is the one applied.
  const transport = await connect(stall.port, { requestTimeoutMs: 2500 });
  try {
    const started = Date.now();
    const replies = await send(transport, [announce(1), announce(2)]);
    const took = Date.now() - started;
    assert.ok(took >= 2450, `timed out after ${took} ms, before requestTimeoutMs`);
    assert.deepEqual(replies, [
      { type: 'error', message: 'swarm swarm-t timed out', unavailable: true },
      { type: 'error', message: 'swarm swarm-t timed out', unavailable: true },
    ]);
    assert.equal(transport.inFlight, 0);
    assert.equal(transport.stats().timedOut, 2);
    assert.equal(transport.stats().inFlightMessages, 0);

    // The swarm wakes up and answers the old batch: ignored. New batches still work.
    stall.answer(stall.batches[0]);
    const next = send(transport, [announce(3)]);
    await until('the second batch to arrive', () => stall.batches.length === 2);
    stall.answer(stall.batches[1]);
    const [reply] = await next;
    assert.ok(reply.type === 'announce' && reply.downloaded === 3);
    assert.equal(transport.stats().repliesUnmatched, 2);
    assert.equal(transport.streamState, 'open');
  } finally {
    await transport.close();
    stall.stop();
  }
});

test('gRPC: each send is one message as given, stamped with its table identity; nothing is merged or split', async () => {
  const stall = await stallingServer();
  const transport = await connect(stall.port, { requestTimeoutMs: 5000 });
  try {
    const results = [
      send(transport, [announce(1), announce(2)]),
      send(transport, [announce(3)], 2 ** 52 - 7),
      send(transport, Array.from({ length: 300 }, (_, i) => announce(i)), 42),
    ];
    await until('three messages written', () => stall.batches.length === 3);
    assert.deepEqual(stall.batches.map((b) => b.requests.length), [2, 1, 300]);
    assert.deepEqual(stall.batches.map((b) => b.tableIdentity), [0, 2 ** 52 - 7, 42]);
    for (const b of stall.batches) stall.answer(b);
    assert.deepEqual((await Promise.all(results)).map((r) => r.length), [2, 1, 300]);
    assert.equal(transport.stats().messagesSent, 3);
  } finally {
    await transport.close();
    stall.stop();
  }
});

test('gRPC: writable is false at maxMessagesInFlight unanswered messages; a reply makes it true and runs the listeners', async () => {
  const stall = await stallingServer();
  const transport = await connect(stall.port, { requestTimeoutMs: 5000, maxMessagesInFlight: 2 });
  let woken = 0;
  const unsubscribe = transport.onWritable(() => {
    woken++;
    assert.equal(transport.writable, true, 'listeners run once it is writable');
  });
  try {
    assert.equal(transport.writable, true);
    const first = send(transport, [announce(1)]);
    assert.equal(transport.writable, true, 'one of two slots taken');
    const second = send(transport, [announce(2)]);
    assert.equal(transport.writable, false, 'both slots taken');
    // Sent anyway (beyond the cap): carried, not refused; the caller is the one that waits.
    const third = send(transport, [announce(3)]);
    await until('three messages written', () => stall.batches.length === 3);
    assert.equal(woken, 0);
    stall.answer(stall.batches[0]);
    await first;
    assert.equal(transport.writable, false, 'still two unanswered');
    assert.equal(woken, 0);
    stall.answer(stall.batches[1]);
    await second;
    assert.equal(transport.writable, true);
    assert.equal(woken, 1, 'the listener ran when a slot freed');
    stall.answer(stall.batches[2]);
    assert.equal((await third)[0].type, 'announce');
    assert.equal(woken, 1, 'not again while it stayed writable');
    unsubscribe();
    const stats = transport.stats();
    assert.equal(stats.inFlightMessages + stats.inFlightRequests, 0);
  } finally {
    await transport.close();
    stall.stop();
  }
});

test('gRPC: the request timeout counts from when the router queued it (queuedAt)', async () => {
  const stall = await stallingServer();
  const transport = await connect(stall.port, { requestTimeoutMs: 3000 });
  try {
    const started = performance.now();
    // Queued 2800 ms ago: 200 ms are left, not 3000.
    const replies = await send(transport, [announce(1)], 0, started - 2800);
    const took = performance.now() - started;
    assert.deepEqual(replies, [{ type: 'error', message: 'swarm swarm-t timed out', unavailable: true }]);
    assert.ok(took < 2500, `timed out after ${took} ms`);
    // Positive control: the same send queued now is still waiting well after that.
    let answered = false;
    const control = send(transport, [announce(2)]).then((r) => ((answered = true), r));
    await until('the control message written', () => stall.batches.length === 2);
    await sleep(Math.max(600, took * 2));
    assert.equal(answered, false);
    stall.answer(stall.batches[1]);
    assert.equal((await control)[0].type, 'announce');
  } finally {
    await transport.close();
    stall.stop();
  }
});

test('gRPC: backpressure: many large batches both ways complete without loss', async () => {
  // Replies of ~6 KB each and requests with 4 KB of SDP, default (64 KiB) server window.
  const peers = new Uint8Array(6 * 1000).map((_, i) => i & 0xff);
  const service: SwarmService = {
    handle: (requests) =>
      requests.map((r): SwarmReply => (r.type === 'wt-answer' ? { type: 'announce', interval: r.from.socket, minInterval: 0, complete: 0, incomplete: 0, downloaded: 0, peers } : { type: 'error', message: 'x' })),
  };
  const { server, port } = await startServer(service, { flowControlWindow: 0 });
  const transport = await connect(port, { flowControlWindow: 65535, maxMessagesInFlight: 10_000, requestTimeoutMs: 30_000 });
  try {
    const sdp = 'a=x'.padEnd(4096, '.');
    const batches = 200;
    const size = 100;
    const results = await Promise.all(
      Array.from({ length: batches }, (_, b) =>
        send(
          transport,
          Array.from({ length: size }, (_, i): SwarmRequest => ({ type: 'wt-answer', infoHash: binaryId(1), peerId: binaryId(2), from: { edge: 'edge-t', socket: b * size + i }, toPeerId: binaryId(3), offerId: binaryId(4), answer: { type: 'answer', sdp } })),
        ),
      ),
    );
    for (let b = 0; b < batches; b++) {
      assert.equal(results[b].length, size);
      for (let i = 0; i < size; i++) {
        const r = results[b][i];
        assert.ok(r.type === 'announce' && r.interval === b * size + i && r.peers.length === peers.length, `reply ${b}/${i}`);
      }
    }
    const c = transport.stats();
    const s = server.stats();
    assert.equal(s.requests, batches * size);
    assert.ok(c.writeBlocked > 0 && s.writeBlocked > 0, `both sides waited for 'drain' (edge ${c.writeBlocked}, swarm ${s.writeBlocked})`);
    assert.equal(transport.inFlight, 0);
  } finally {
    await transport.close();
    server.forceShutdown();
  }
});

test('gRPC: relays reach the right edge (pushed on their own and riding along with replies)', async () => {
  let server!: GrpcSwarmServer;
  // On every wt-announce, relay offers to a socket on edge-b, and one back to the announcer's edge.
  const service: SwarmService = {
    handle: (requests) =>
      requests.map((r): SwarmReply => {
        if (r.type !== 'wt-announce') return { type: 'error', message: 'no' };
        for (const o of r.offers) server.deliver({ edge: 'edge-b', socket: 77 }, { kind: 'offer', infoHash: r.infoHash, fromPeerId: r.peerId, offerId: o.offerId, offer: o.offer });
        server.deliver(r.from, { kind: 'answer', infoHash: r.infoHash, fromPeerId: binaryId(5), offerId: binaryId(6), answer: { type: 'answer', sdp: 'back' } });
        return { type: 'wt-announce', interval: 120, complete: 0, incomplete: 1, offersRelayed: r.offers.length };
      }),
  };
  ({ server } = await startServer(service));
  const port = server.boundPort;
  const a = await connect(port, { edgeId: 'edge-a' });
  const b = await connect(port, { edgeId: 'edge-b' });
  const gotA: [number, WtRelayMessage][] = [];
  const gotB: [number, WtRelayMessage][] = [];
  a.onRelay((socket, message) => gotA.push([socket, message]));
  b.onRelay((socket, message) => gotB.push([socket, message]));
  try {
    // Pushed directly.
    for (const relay of allRelays()) server.deliver({ edge: 'edge-b', socket: relay.socket }, relay.message);
    await until('direct relays', () => gotB.length === 2);
    assert.deepEqual(comparable(gotB.map(([socket, message]) => ({ socket, message }))), comparable(allRelays()));
    assert.equal(gotA.length, 0);

    // From inside handle(): edge-a's answer rides with its reply (it is there when the reply is).
    const wt = allRequests().find((r) => r.type === 'wt-announce')!;
    const request = { ...wt, from: { edge: 'edge-a', socket: 3 } } as SwarmRequest;
    const [reply] = await send(a, [request]);
    assert.deepEqual(reply, { type: 'wt-announce', interval: 120, complete: 0, incomplete: 1, offersRelayed: 2 });
    assert.equal(gotA.length, 1);
    assert.equal(gotA[0][0], 3);
    assert.equal(gotA[0][1].kind, 'answer');
    await until('offers on edge-b', () => gotB.length === 4);
    assert.deepEqual(gotB.slice(2).map(([s, m]) => [s, m.kind, m.offerId]), [[77, 'offer', binaryId(9)], [77, 'offer', binaryId(10)]]);

    // An edge without a stream: dropped and counted.
    server.deliver({ edge: 'edge-zzz', socket: 1 }, allRelays()[0].message);
    assert.equal(server.stats().relaysDropped, 1);
  } finally {
    await a.close();
    await b.close();
    server.forceShutdown();
  }
});

test('gRPC: edge stream end triggers onEdgeGone; a restarted edge replaces its old stream', async () => {
  const gone: string[] = [];
  const connected: string[] = [];
  const { server, port } = await startServer(new EchoSwarm(), {
    onEdgeGone: (edge) => gone.push(edge),
    onEdgeConnected: (edge, nonce) => connected.push(`${edge}/${nonce}`),
  });
  try {
    const a = await connect(port, { edgeId: 'edge-a', bootNonce: 'n1' });
    await a.close();
    await until('onEdgeGone(edge-a)', () => gone.length === 1);
    assert.deepEqual(gone, ['edge-a']);
    assert.deepEqual(server.connectedEdges(), []);

    // Same edge id, new boot nonce while the old stream is still up: the edge restarted.
    const old = await connect(port, { edgeId: 'edge-b', bootNonce: 'old' });
    const fresh = await connect(port, { edgeId: 'edge-b', bootNonce: 'new' });
    await old.close(); // a dead process would not reconnect; this one must not either
    assert.deepEqual(gone, ['edge-a', 'edge-b'], 'the old incarnation was dropped when the new one arrived');
    const got: number[] = [];
    fresh.onRelay((socket) => got.push(socket));
    server.deliver({ edge: 'edge-b', socket: 9 }, allRelays()[0].message);
    await until('relay to the new stream', () => got.length === 1);
    assert.deepEqual(server.connectedEdges(), ['edge-b']);
    // Positive control: a stream closed after the replaced one does make the swarm call onEdgeGone;
    // by then the replaced stream's end has been handled too.
    const twin = await connect(port, { edgeId: 'edge-twin', bootNonce: 't' });
    await twin.close();
    await until('onEdgeGone(edge-twin)', () => gone.includes('edge-twin'));
    assert.deepEqual(gone, ['edge-a', 'edge-b', 'edge-twin'], 'closing the replaced stream drops nothing');
    await fresh.close();
    await until('onEdgeGone(edge-b)', () => gone.length === 4);
    assert.deepEqual(gone, ['edge-a', 'edge-b', 'edge-twin', 'edge-b']);
    assert.deepEqual(connected, ['edge-a/n1', 'edge-b/old', 'edge-b/new', 'edge-twin/t']);
  } finally {
    server.forceShutdown();
  }
});

test('gRPC: within the grace period the same edge process keeps its peers, a restarted one does not', async () => {
  const gone: string[] = [];
  // Long enough for a reconnect on a busy machine; nothing below waits on the clock itself.
  const GRACE_MS = 1500;
  const { server, port } = await startServer(new EchoSwarm(), { onEdgeGone: (edge) => gone.push(edge), edgeGoneGraceMs: GRACE_MS });
  try {
    const a1 = await connect(port, { edgeId: 'edge-a', bootNonce: 'n1' });
    await a1.close();
    await until("the swarm to see edge-a's stream end (its grace period starts)", () => !server.connectedEdges().includes('edge-a'));
    const a2 = await connect(port, { edgeId: 'edge-a', bootNonce: 'n1' }); // same process, new stream
    // Positive control: a twin whose stream ends after edge-a's did and which does not come back is
    // dropped when its grace period ends; edge-a's, had it kept running, would have ended first.
    const twin = await connect(port, { edgeId: 'edge-twin', bootNonce: 't1' });
    await twin.close();
    await until('the twin to be dropped when its grace period ends', () => gone.length > 0, GRACE_MS + 10_000);
    assert.deepEqual(gone, ['edge-twin'], 'edge-a was back in time with the same nonce');
    await a2.close();
    const a3 = await connect(port, { edgeId: 'edge-a', bootNonce: 'n2' }); // restarted
    assert.deepEqual(gone, ['edge-twin', 'edge-a'], 'dropped as soon as the new incarnation arrived');
    await a3.close();
    await until('grace expiry', () => gone.length === 3, GRACE_MS + 10_000);
    assert.deepEqual(gone, ['edge-twin', 'edge-a', 'edge-a']);
  } finally {
    server.forceShutdown();
  }
});

test('gRPC: streams without an edge id are refused', async () => {
  const { server, port } = await startServer(new EchoSwarm());
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const def = swarmServiceDefinition().exchange;
    const call = client.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, new grpc.Metadata());
    const error = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(server.stats().streamsRejected, 1);
  } finally {
    client.close();
    server.forceShutdown();
  }
});

test('gRPC: graceful shutdown ends edge streams; edges fail fast afterwards', async () => {
  const gone: string[] = [];
  const { server, port } = await startServer(new EchoSwarm(), { onEdgeGone: (e) => gone.push(e) });
  const transport = await connect(port);
  try {
    assert.equal((await send(transport, [announce(1)]))[0].type, 'announce');
    // The edge closes its side when its stream ends, so shutdown finishes long before a grace nobody waits out.
    await withTimeout(server.shutdown(120_000), 30_000, 'a graceful shutdown that does not wait out its grace period');
    await until('the edge to notice', () => transport.streamState === 'down');
    const replies = await send(transport, [announce(2)]);
    assert.deepEqual(replies, [{ type: 'error', message: 'swarm swarm-t unavailable', unavailable: true }]);
    assert.deepEqual(gone, [], 'no onEdgeGone during shutdown');
  } finally {
    await transport.close();
    server.forceShutdown();
  }
});

test('gRPC: close with grace waits for outstanding replies', async () => {
  const stall = await stallingServer();
  const transport = await connect(stall.port, { requestTimeoutMs: 5000 });
  try {
    const pending = send(transport, [announce(4)]);
    await until('batch written', () => stall.batches.length === 1);
    setTimeout(() => stall.answer(stall.batches[0]), 100);
    await transport.close(60_000);
    const [reply] = await pending;
    assert.ok(reply.type === 'announce' && reply.downloaded === 4);
    assert.equal((await send(transport, [announce(5)]))[0].type, 'error');
  } finally {
    stall.stop();
  }
});

test('gRPC: every message type round-trips through server and client (binary ids 0x00-0xFF)', async () => {
  const recorder = new RecordingSwarm();
  const { server, port } = await startServer(recorder);
  const transport = await connect(port);
  try {
    const requests = requestsForEveryReply();
    // Two messages in one tick, ids not starting at 1.
    const [r1, r2] = await Promise.all([send(transport, requests.slice(0, 4)), send(transport, requests.slice(4))]);
    assert.deepEqual(comparable(recorder.received), comparable(requests));
    assert.deepEqual(comparable([...r1, ...r2]), comparable(allReplies()));
  } finally {
    await transport.close();
    server.forceShutdown();
  }
});

test('gRPC: a swarm address that accepts TCP but never answers fails fast after the stream-open timeout', async () => {
  const net = await import('node:net');
  const sockets: import('node:net').Socket[] = [];
  const silent = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as import('node:net').AddressInfo).port;
  // A request timeout no test waits out: the first send is answered by the stream-open timeout ("unavailable"), not by it ("timed out").
  const transport = new GrpcTransport({ name: 'swarm-s', address: `127.0.0.1:${port}`, edgeId: 'edge-t', streamOpenTimeoutMs: 300, requestTimeoutMs: 120_000 });
  try {
    const started = Date.now();
    const first = await send(transport, [announce(1)]);
    const took = Date.now() - started;
    assert.ok(took >= 250, `answered after ${took} ms, before the stream-open timeout`);
    assert.deepEqual(first, [{ type: 'error', message: 'swarm swarm-s unavailable', unavailable: true }]);
    assert.equal(transport.streamState, 'down');
    const second = await withinTurn(send(transport, [announce(2)]), 'the second send, once the stream is known down');
    assert.deepEqual(second, [{ type: 'error', message: 'swarm swarm-s unavailable', unavailable: true }]);
    assert.match(transport.stats().lastError, /not acknowledged/);
  } finally {
    await transport.close();
    for (const s of sockets) s.destroy();
    silent.close();
  }
});

test('gRPC: request ids wrap around 2^32 without confusing replies', async () => {
  const { server, port } = await startServer(new EchoSwarm());
  const transport = await connect(port);
  try {
    (transport as unknown as { nextId: number }).nextId = 2 ** 32 - 5;
    const [a, b] = await Promise.all([
      send(transport, Array.from({ length: 4 }, (_, i) => announce(i))),
      send(transport, Array.from({ length: 4 }, (_, i) => announce(10 + i))), // ids 2^32-1, 0, 1, 2
    ]);
    assert.deepEqual(a.map((r) => (r.type === 'announce' ? r.downloaded : -1)), [0, 1, 2, 3]);
    assert.deepEqual(b.map((r) => (r.type === 'announce' ? r.downloaded : -1)), [10, 11, 12, 13]);
    const c = await send(transport, [announce(20)]);
    assert.ok(c[0].type === 'announce' && c[0].downloaded === 20);
    assert.equal((transport as unknown as { nextId: number }).nextId, 4);
  } finally {
    await transport.close();
    server.forceShutdown();
  }
});

test('gRPC: under load through swarm restarts, every request is answered exactly once', async () => {
  let { server, port } = await startServer(new EchoSwarm());
  const transport = await connect(port, { maxReconnectBackoffMs: 300, requestTimeoutMs: 1000 });
  let sent = 0;
  let answered = 0;
  let duplicates = 0;
  let ok = 0;
  let running = true;
  const lanes: Promise<void>[] = [];
  for (let lane = 0; lane < 16; lane++) {
    lanes.push(
      (async () => {
        while (running) {
          const n = 1 + ((lane * 7 + sent) % 50);
          sent += n;
          let calls = 0;
          const replies = await new Promise<SwarmReply[]>((resolve) =>
            transport.send(Array.from({ length: n }, (_, i) => announce(i)), (r) => {
              if (++calls > 1) duplicates++;
              resolve(r);
            }),
          );
          assert.equal(replies.length, n);
          answered += n;
          ok += replies.filter((r) => r.type === 'announce').length;
          if (replies[0].type === 'error') await sleep(5);
          else await new Promise((r) => setImmediate(r));
        }
      })(),
    );
  }
  try {
    for (let k = 0; k < 3; k++) {
      await sleep(150);
      server.forceShutdown();
      await sleep(100);
      ({ server } = await startServer(new EchoSwarm(), { port }));
      await until('the stream to reopen', () => transport.streamState === 'open', 5000);
    }
    await sleep(150);
  } finally {
    running = false;
    await Promise.all(lanes);
    await transport.close();
    server.forceShutdown();
  }
  assert.equal(duplicates, 0);
  assert.equal(answered, sent);
  assert.ok(ok > 0);
  assert.equal(transport.inFlight, 0);
  assert.ok(transport.stats().streamsOpened >= 4);
});

test('gRPC: two streams of one edge process (same nonce) coexist; relays go to the newest; the edge is gone when both are', async () => {
  const gone: string[] = [];
  const { server, port } = await startServer(new EchoSwarm(), { onEdgeGone: (edge) => gone.push(edge) });
  const first = await connect(port, { edgeId: 'edge-a', bootNonce: 'same' });
  const second = await connect(port, { edgeId: 'edge-a', bootNonce: 'same' });
  const got: string[] = [];
  first.onRelay(() => got.push('first'));
  second.onRelay(() => got.push('second'));
  try {
    // Both answer on their first stream after both were open: neither arrival ended the other (no ping-pong).
    assert.equal((await send(first, [announce(1)]))[0].type, 'announce');
    assert.equal((await send(second, [announce(2)]))[0].type, 'announce');
    assert.equal(first.streamState, 'open');
    assert.equal(second.streamState, 'open');
    assert.equal(first.stats().streamsOpened, 1, 'no ping-pong between the two');
    assert.equal(second.stats().streamsOpened, 1, 'no ping-pong between the two');
    assert.equal(server.stats().streamsReplaced, 0);
    server.deliver({ edge: 'edge-a', socket: 1 }, allRelays()[0].message);
    await until('relay', () => got.length === 1);
    assert.deepEqual(got, ['second']);
    await second.close();
    // Relays reach the remaining stream once the swarm has handled the closed one's end (until then they go to the closed one).
    await until('relay to the remaining stream', () => {
      if (!got.includes('first')) server.deliver({ edge: 'edge-a', socket: 1 }, allRelays()[0].message);
      return got.includes('first');
    });
    assert.deepEqual(got.slice(0, 2), ['second', 'first']);
    assert.ok(got.slice(1).every((x) => x === 'first'), JSON.stringify(got));
    assert.deepEqual(gone, [], 'the edge still has a stream: not gone');
    await first.close();
    await until('onEdgeGone', () => gone.length === 1);
  } finally {
    await first.close();
    await second.close();
    server.forceShutdown();
  }
});
