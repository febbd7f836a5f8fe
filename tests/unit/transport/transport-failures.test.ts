/**
 * Failures on the transport paths are visible: an exception caught in a
 * swarm service, a reply callback or a relay handler is counted
 * (tracker_internal_errors_total{component}) and logged at most `burst`
 * times per window, and the callers still get their answers. The gRPC
 * transport's own failure counts are exported as Prometheus counters.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../../lib/runtime/logger.js';
import { Failures } from '../../../lib/runtime/failures.js';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import { metricIn } from '../../support/cluster.js';
import { GrpcTransport } from '../../../lib/transport/grpc/client.js';
import { GrpcSwarmServer } from '../../../lib/transport/grpc/server.js';
import { InProcessTransport } from '../../../lib/transport/in-process.js';
import { answerEach, INTERNAL_ERROR } from '../../../lib/transport/replies.js';
import type { SwarmReply, SwarmRequest } from '../../../lib/tracker/swarm.js';
import type { SwarmService, Transport } from '../../../lib/transport/transport.js';
import { SingleDestination, SwarmRouter } from '../../../services/edge/router.js';
import { EchoSwarm, binaryId } from '../../support/transport-conformance.js';
import { startStallingSwarm } from '../../support/stalling-swarm.js';

/** Failures with one log line per component per 10 s of an injected clock, logging into an array. */
function observed() {
  const raw: string[] = [];
  let now = 1_000_000;
  const logger = createLogger({ level: 'info', stream: { write: (chunk: string) => raw.push(chunk) } });
  const metrics = new TrackerMetrics({ defaultMetrics: false });
  const failures = new Failures(logger, (component) => metrics.internalErrorCounter(component), { burst: 1, intervalMs: 10_000, now: () => now });
  return {
    failures,
    metrics,
    lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => l.msg === 'caught failure'),
    advance: (ms: number) => (now += ms),
    internalErrors: async (component: string) => metricIn((await metrics.render()).body, 'tracker_internal_errors_total', { component }),
  };
}

const announce = (n: number): SwarmRequest => ({
  type: 'announce',
  infoHash: binaryId(n % 13),
  peerId: binaryId((n + 1) % 13),
  endpoint: Uint8Array.of(10, 0, 0, n & 0xff, 0x1a, 0xe1),
  event: 0,
  left: n,
  numwant: 5,
});
const send = (t: Transport, batch: SwarmRequest[]): Promise<SwarmReply[]> => new Promise((resolve) => t.send(batch, resolve));

/** Throws on every request whose `left` is odd; answers the others like EchoSwarm. */
class FlakySwarm implements SwarmService {
  private readonly echo = new EchoSwarm();
  handle(requests: readonly SwarmRequest[]): SwarmReply[] {
    if (requests.some((r) => r.type === 'announce' && r.left % 2 === 1)) throw new Error('store bug');
    return this.echo.handle(requests);
  }
}

describe('caught failures are counted and logged once per window', () => {
  test('gRPC server: a SwarmService that throws; the edge gets "internal error", each batch counts, one line per window', async () => {
    const o = observed();
    const server = new GrpcSwarmServer(new FlakySwarm(), { host: '127.0.0.1', port: 0, failures: o.failures.for('grpc-server') });
    const port = await server.listen();
    const transport = new GrpcTransport({ name: 'swarm-t', address: `127.0.0.1:${port}`, edgeId: 'edge-t' });
    try {
      assert.ok(await transport.whenOpen(5000));
      // Positive control: the same setup answers normally when nothing throws.
      const [fine] = await send(transport, [announce(2)]);
      assert.equal(fine.type, 'announce');
      assert.equal(o.lines().length, 0);

      for (let i = 0; i < 5; i++) assert.deepEqual(await send(transport, [announce(1)]), [{ type: 'error', message: 'internal error' }]);
      assert.equal(await o.internalErrors('grpc-server'), 5);
      assert.equal(server.stats().handleErrors, 5);
      assert.equal(o.lines().length, 1, 'one line in the window');
      assert.equal((o.lines()[0].error as { message: string }).message, 'store bug');
      assert.equal(o.lines()[0].edge, 'edge-t');

      o.advance(10_000);
      await send(transport, [announce(3)]);
      assert.equal(o.lines().length, 2, 'a new window logs again');
      assert.equal(o.lines()[1].suppressed, 4);
    } finally {
      await transport.close();
      server.forceShutdown();
    }
  });

  test('gRPC server: an onEdgeGone that throws is reported, and the server keeps serving', async () => {
    const o = observed();
    const server = new GrpcSwarmServer(new EchoSwarm(), {
      host: '127.0.0.1',
      port: 0,
      edgeGoneGraceMs: 0,
      onEdgeGone: () => {
        throw new Error('cleanup bug');
      },
      failures: o.failures.for('grpc-server'),
    });
    const port = await server.listen();
    try {
      const first = new GrpcTransport({ name: 'swarm-t', address: `127.0.0.1:${port}`, edgeId: 'edge-a' });
      assert.ok(await first.whenOpen(5000));
      await first.close();
      const deadline = Date.now() + 5000;
      while (server.stats().edgesGone === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(server.stats().edgesGone, 1);
      assert.equal(await o.internalErrors('grpc-server'), 1);
      assert.equal((o.lines()[0].error as { message: string }).message, 'cleanup bug');
      const second = new GrpcTransport({ name: 'swarm-t', address: `127.0.0.1:${port}`, edgeId: 'edge-b' });
      assert.ok(await second.whenOpen(5000));
      assert.equal((await send(second, [announce(2)]))[0].type, 'announce');
      await second.close();
    } finally {
      server.forceShutdown();
    }
  });

  test('gRPC client: a throwing `done` callback or relay handler is reported; the transport carries on', async () => {
    const o = observed();
    const server = new GrpcSwarmServer(new EchoSwarm(), { host: '127.0.0.1', port: 0 });
    const port = await server.listen();
    const transport = new GrpcTransport({ name: 'swarm-t', address: `127.0.0.1:${port}`, edgeId: 'edge-t', failures: o.failures.for('grpc-client') });
    try {
      assert.ok(await transport.whenOpen(5000));
      const thrown = new Promise<void>((resolve) =>
        transport.send([announce(2)], () => {
          resolve();
          throw new Error('frontend bug');
        }),
      );
      await thrown;
      assert.equal((await send(transport, [announce(4)]))[0].type, 'announce', 'the next batch is answered');
      assert.equal(await o.internalErrors('grpc-client'), 1);
      assert.equal(o.lines()[0].callback, 'done');

      const delivered: number[] = [];
      transport.onRelay(() => {
        throw new Error('relay handler bug');
      });
      transport.onRelay((socket) => delivered.push(socket));
      server.deliver({ edge: 'edge-t', socket: 7 }, { kind: 'answer', infoHash: binaryId(1), fromPeerId: binaryId(2), offerId: binaryId(3), answer: { type: 'answer', sdp: 'x' } });
      const deadline = Date.now() + 5000;
      while (delivered.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(delivered, [7], 'the other handler still got the relay');
      assert.equal(await o.internalErrors('grpc-client'), 2);
      assert.equal(transport.stats().callbackErrors, 2);
    } finally {
      await transport.close();
      server.forceShutdown();
    }
  });

  test('in-process transport: handle and handleOne that throw are reported; clients get "internal error"', async () => {
    const o = observed();
    const transport = new InProcessTransport(new FlakySwarm(), o.failures.for('in-process'));
    assert.equal((await send(transport, [announce(2)]))[0].type, 'announce');
    assert.equal(await o.internalErrors('in-process'), 0, 'nothing reported while nothing throws');
    assert.deepEqual(await send(transport, [announce(1), announce(2)]), [
      { type: 'error', message: 'internal error', unavailable: true },
      { type: 'error', message: 'internal error', unavailable: true },
    ]);
    assert.deepEqual(transport.handleNow(announce(3)), INTERNAL_ERROR);
    assert.equal(await o.internalErrors('in-process'), 2);
    assert.equal(o.lines().length, 1);
  });

  test('answerEach: the request that throws gets "internal error", the rest are answered, and the failure names its type', () => {
    const o = observed();
    const sink = o.failures.for('swarm');
    const replies = answerEach([announce(2), announce(1), announce(4)], (r) => new FlakySwarm().handle([r])[0], sink);
    assert.deepEqual(replies.map((r) => r.type), ['announce', 'error', 'announce']);
    assert.equal(replies[1], INTERNAL_ERROR);
    assert.equal(sink.count, 1);
    assert.equal(o.lines()[0].request, 'announce');
  });

  test('router: a reply callback that throws is reported; the other replies of its batch arrive', async () => {
    const o = observed();
    const router = new SwarmRouter(new SingleDestination(new InProcessTransport(new EchoSwarm())), 100, o.failures.for('router'));
    const second = new Promise<SwarmReply>((resolve) => {
      router.request(announce(2), () => {
        throw new Error('handler bug');
      });
      router.request(announce(4), resolve);
    });
    assert.equal((await second).type, 'announce');
    assert.equal(await o.internalErrors('router'), 1);
    assert.equal(o.lines()[0].reply, 'announce');
  });
});

describe('gRPC transport failures as Prometheus counters', () => {
  test('timeouts, overload and stream failures of an edge transport appear per swarm', async () => {
    const stall = await startStallingSwarm();
    const metrics = new TrackerMetrics({ defaultMetrics: false });
    const transport = new GrpcTransport({ name: 'swarm-s', address: `127.0.0.1:${stall.port}`, edgeId: 'edge-t', requestTimeoutMs: 300, maxMessagesInFlight: 1 });
    // As an edge wires them (services/tracker/edge.ts): the router's queue counts join the transport's.
    const router = new SwarmRouter(new SingleDestination(transport), 256, undefined, {
      requestTimeoutMs: 300,
      maxQueuedRequests: 1,
      limits: { maxQueuedRequests: metrics.limitCounter('cluster.maxQueuedRequests') },
    });
    metrics.observeSwarmClientFailures(() => {
      const stats = transport.stats();
      const queue = router.countsFor(transport);
      return [{ ...stats, swarm: 'swarm-s', timedOut: stats.timedOut + queue.timedOut, overloaded: queue.overloaded }];
    });
    const ask = (r: SwarmRequest): Promise<SwarmReply> => new Promise((resolve) => router.request(r, resolve));
    try {
      assert.ok(await transport.whenOpen(5000));
      const body0 = (await metrics.render()).body;
      assert.equal(metricIn(body0, 'tracker_swarm_requests_failed_total', { swarm: 'swarm-s', reason: 'timeout' }), 0);

      const first = ask(announce(1)); // written: the one message in flight
      await new Promise((r) => setTimeout(r, 20));
      const second = ask(announce(2)); // waits in the router's queue behind the cap
      await new Promise((r) => setTimeout(r, 20));
      const third = await ask(announce(3)); // more than maxQueuedRequests waiting
      assert.deepEqual(third, { type: 'error', message: 'swarm swarm-s overloaded', unavailable: true });
      assert.deepEqual(await first, { type: 'error', message: 'swarm swarm-s timed out', unavailable: true });
      assert.deepEqual(await second, { type: 'error', message: 'swarm swarm-s timed out', unavailable: true });

      stall.stop(); // the stream fails
      const deadline = Date.now() + 5000;
      while (transport.stats().streamFailures === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const body = (await metrics.render()).body;
      assert.equal(metricIn(body, 'tracker_swarm_requests_failed_total', { swarm: 'swarm-s', reason: 'timeout' }), 2);
      assert.equal(metricIn(body, 'tracker_swarm_requests_failed_total', { swarm: 'swarm-s', reason: 'overloaded' }), 1);
      assert.equal(metricIn(body, 'tracker_limit_hits_total', { limit: 'cluster.maxQueuedRequests' }), 1);
      assert.ok((metricIn(body, 'tracker_swarm_stream_failures_total', { swarm: 'swarm-s' }) ?? 0) >= 1);
      assert.equal(metricIn(body, 'tracker_swarm_replies_unmatched_total', { swarm: 'swarm-s' }), 0);
    } finally {
      router.close();
      await transport.close();
      stall.stop();
    }
  });

  test('a swarm\'s relays dropped for a full backlog count as limit hits and by reason', async () => {
    const metrics = new TrackerMetrics({ defaultMetrics: false });
    const backlog = metrics.limitCounter('swarm.maxPendingRelaysPerEdge');
    const server = new GrpcSwarmServer(new EchoSwarm(), { host: '127.0.0.1', port: 0, maxPendingRelaysPerEdge: 2, onRelayBacklogFull: () => backlog.inc() });
    metrics.observeEdgeStreams(() => server.stats());
    const port = await server.listen();
    const transport = new GrpcTransport({ name: 'swarm-t', address: `127.0.0.1:${port}`, edgeId: 'edge-t' });
    try {
      assert.ok(await transport.whenOpen(5000));
      const relay = { kind: 'answer', infoHash: binaryId(1), fromPeerId: binaryId(2), offerId: binaryId(3), answer: { type: 'answer', sdp: 'x' } } as const;
      // Three in one tick: two fit the backlog, the third is over it; one for an edge without a stream.
      for (let i = 0; i < 3; i++) server.deliver({ edge: 'edge-t', socket: i }, relay);
      server.deliver({ edge: 'edge-nobody', socket: 1 }, relay);
      const body = (await metrics.render()).body;
      assert.equal(metricIn(body, 'tracker_edge_relays_dropped_total', { reason: 'backlog' }), 1);
      assert.equal(metricIn(body, 'tracker_edge_relays_dropped_total', { reason: 'no-stream' }), 1);
      assert.equal(metricIn(body, 'tracker_limit_hits_total', { limit: 'swarm.maxPendingRelaysPerEdge' }), 1);
    } finally {
      await transport.close();
      server.forceShutdown();
    }
  });
});
