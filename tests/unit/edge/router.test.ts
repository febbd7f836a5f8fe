/**
 * The edge router: the one queue per swarm (maxBatch bounds every message,
 * requests wait in the queue while the transport is at its cap, bounded in
 * number and time), fan-out of scrapes, the table identity on every message,
 * and what it does with "moved" replies (re-route by a changed table, by
 * the reply's hint, after waiting for a change; a bounded number of times).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SwarmReply, SwarmRequest } from '../../../lib/tracker/swarm.js';
import type { BatchCallback, Transport } from '../../../lib/transport/transport.js';
import { InProcessTransport } from '../../../lib/transport/in-process.js';
import { GrpcTransport } from '../../../lib/transport/grpc/client.js';
import { GrpcSwarmServer } from '../../../lib/transport/grpc/server.js';
import { SingleDestination, SwarmRouter, type Destinations, type RouterOptions } from '../../../services/edge/router.js';
import { EchoSwarm } from '../../support/transport-conformance.js';
import { eventually, sleep } from '../../support/waiting.js';

const echo = new EchoSwarm();
const echoOne = (r: SwarmRequest): SwarmReply => echo.handle([r])[0];

interface Message {
  batch: SwarmRequest[];
  identity: number;
  queuedAt: number | undefined;
}

/**
 * A transport whose replies are scripted per request, answered on the next
 * turn (or held until `release`), with a cap on unanswered messages.
 */
class FakeTransport implements Transport {
  readonly messages: Message[] = [];
  /** Most messages it had unanswered at once. */
  maxUnanswered = 0;
  private unanswered = 0;
  private readonly held: { batch: SwarmRequest[]; done: BatchCallback }[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly name: string,
    public reply: (r: SwarmRequest) => SwarmReply = echoOne,
    private readonly cap = Infinity,
    private readonly hold = false,
  ) {}

  get writable(): boolean {
    return this.unanswered < this.cap;
  }

  get inFlight(): number {
    return this.unanswered;
  }

  onWritable(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  send(batch: SwarmRequest[], done: BatchCallback, identity = 0, queuedAt?: number): void {
    this.messages.push({ batch, identity, queuedAt });
    this.unanswered++;
    this.maxUnanswered = Math.max(this.maxUnanswered, this.unanswered);
    if (this.hold) this.held.push({ batch, done });
    else setImmediate(() => this.complete(batch, done));
  }

  /** Answers the oldest held message. */
  release(): void {
    const next = this.held.shift();
    assert.ok(next, `${this.name}: nothing held`);
    this.complete(next.batch, next.done);
  }

  get heldCount(): number {
    return this.held.length;
  }

  private complete(batch: SwarmRequest[], done: BatchCallback): void {
    const wasFull = !this.writable;
    this.unanswered--;
    done(batch.map((r) => this.reply(r)));
    if (wasFull) for (const listener of this.listeners) listener();
  }

  async close(): Promise<void> {}
}

/** Destinations whose table the test changes. */
class FakeDestinations implements Destinations {
  private readonly listeners = new Set<() => void>();
  constructor(
    public route: (infoHash: string) => Transport,
    private readonly named: Record<string, Transport>,
    public identity = 1,
  ) {}
  transportFor(infoHash: string): Transport {
    return this.route(infoHash);
  }
  transportNamed(name: string): Transport | undefined {
    return this.named[name];
  }
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  change(route: (infoHash: string) => Transport, identity: number): void {
    this.route = route;
    this.identity = identity;
    for (const listener of this.listeners) listener();
  }
}

const hash = (first: number): string => String.fromCharCode(first) + 'h'.repeat(19);
const announce = (first: number, n = 0): SwarmRequest => ({
  type: 'announce', infoHash: hash(first), peerId: 'p'.repeat(20), endpoint: Uint8Array.of(1, 2, 3, 4, 0, n), event: 0, left: 1, numwant: n,
});
const ask = (router: SwarmRouter, r: SwarmRequest): Promise<SwarmReply> => new Promise((resolve) => router.request(r, resolve));
const downloaded = (r: SwarmReply): number => (r.type === 'announce' ? r.downloaded : -1);
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** A swarm's reply script: "moved", naming `owner` or nobody. */
const moved = (owner?: string) => (): SwarmReply => (owner === undefined ? { type: 'moved' } : { type: 'moved', owner });

/**
 * The router's own timers are unref'd (a tracker's sockets keep it alive);
 * with fake transports nothing else would, so tests that wait on them hold
 * the loop open themselves.
 */
async function holdingTheLoop<T>(fn: () => Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 1000);
  try {
    return await fn();
  } finally {
    clearInterval(hold);
  }
}

function makeRouter(destinations: Destinations, maxBatch = 256, options: RouterOptions = {}): SwarmRouter {
  return new SwarmRouter(destinations, maxBatch, undefined, options);
}

// ------------------------------------------------------------ one queue per swarm

test('requests made in one event-loop turn travel as one message', async () => {
  const t = new FakeTransport('a');
  const router = makeRouter(new SingleDestination(t), 1000);
  const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => ask(router, announce(1, i))));
  assert.deepEqual(t.messages.map((m) => m.batch.length), [40]);
  replies.forEach((reply, i) => assert.equal(downloaded(reply), i));
});

test('maxBatch bounds every message: a turn with more requests sends several', async () => {
  const t = new FakeTransport('a');
  const router = makeRouter(new SingleDestination(t), 16);
  await Promise.all(Array.from({ length: 40 }, (_, i) => ask(router, announce(1, i))));
  assert.deepEqual(t.messages.map((m) => m.batch.length), [16, 16, 8]);
});

test('at the transport\'s cap requests wait in the one queue and leave in full messages as replies free slots', async () => {
  const t = new FakeTransport('a', echoOne, 1, true);
  const router = makeRouter(new SingleDestination(t), 16);
  const first = ask(router, announce(1, 0));
  await nextTurn();
  assert.equal(t.messages.length, 1);
  // 50 more over five turns: nothing is written while the one slot is taken.
  const rest: Promise<SwarmReply>[] = [];
  for (let k = 0; k < 5; k++) {
    for (let i = 0; i < 10; i++) rest.push(ask(router, announce(1, 1 + k * 10 + i)));
    await nextTurn();
  }
  assert.equal(t.messages.length, 1, 'nothing beyond the cap');
  assert.equal(router.queuedFor(t), 50);
  assert.equal(router.inFlight, 51);
  while (t.heldCount > 0) {
    t.release();
    await nextTurn();
  }
  assert.equal(downloaded(await first), 0);
  assert.deepEqual((await Promise.all(rest)).map(downloaded), Array.from({ length: 50 }, (_, i) => 1 + i));
  assert.deepEqual(t.messages.map((m) => m.batch.length), [1, 16, 16, 16, 2]);
  assert.equal(t.maxUnanswered, 1);
  assert.equal(router.inFlight, 0);
});

test('a full queue answers "overloaded" at once, counted per swarm and as the limit', async () => {
  const t = new FakeTransport('swarm-a', echoOne, 1, true);
  let hits = 0;
  const router = makeRouter(new SingleDestination(t), 16, { maxQueuedRequests: 3, limits: { maxQueuedRequests: { inc: () => hits++ } } });
  const inFlight = ask(router, announce(1, 0));
  await nextTurn();
  const queued = [1, 2, 3].map((n) => ask(router, announce(1, n)));
  const refused = await ask(router, announce(1, 4));
  assert.deepEqual(refused, { type: 'error', message: 'swarm swarm-a overloaded', unavailable: true });
  assert.equal(hits, 1);
  assert.deepEqual(router.countsFor(t), { overloaded: 1, timedOut: 0 });
  t.release();
  await nextTurn();
  t.release();
  assert.deepEqual([await inFlight, ...(await Promise.all(queued))].map(downloaded), [0, 1, 2, 3]);
});

test('a request that waits in the queue longer than requestTimeoutMs is answered "timed out"', () => holdingTheLoop(async () => {
  const t = new FakeTransport('swarm-a', echoOne, 1, true);
  const router = makeRouter(new SingleDestination(t), 16, { requestTimeoutMs: 100 });
  try {
    void ask(router, announce(1, 0)); // takes the one slot, never answered
    await nextTurn();
    const started = performance.now();
    const waiting = await ask(router, announce(1, 1));
    assert.deepEqual(waiting, { type: 'error', message: 'swarm swarm-a timed out', unavailable: true });
    assert.ok(performance.now() - started >= 90);
    assert.equal(router.countsFor(t).timedOut, 1);
    assert.equal(t.messages.length, 1, 'it was never written');
  } finally {
    router.close();
  }
}));

test('the time a request waited in the queue is handed to the transport (queuedAt)', async () => {
  const t = new FakeTransport('a', echoOne, 1, true);
  let clock = 1000;
  const router = makeRouter(new SingleDestination(t), 16, { now: () => clock });
  void ask(router, announce(1, 0));
  await nextTurn();
  clock = 2000;
  void ask(router, announce(1, 1));
  await nextTurn();
  clock = 3000;
  t.release();
  assert.deepEqual(t.messages.map((m) => m.queuedAt), [1000, 2000]);
  t.release();
});

test('close() answers what still waits in a queue or for a table change: "tracker is shutting down"', async () => {
  const a = new FakeTransport('a', moved(), 1, true);
  const router = makeRouter(new FakeDestinations(() => a, { a }, 1), 16, { movedWaitMs: 60_000 });
  const parked = ask(router, announce(1, 0));
  await nextTurn();
  a.release(); // "moved": waits for a table change that will not come
  await nextTurn();
  assert.equal(router.moves.received, 1);
  void ask(router, announce(1, 1)); // takes the one message slot (the transport's to answer)
  await nextTurn();
  const queued = ask(router, announce(1, 2)); // behind it, in the router's queue
  await nextTurn();
  assert.equal(router.queuedFor(a), 1);
  router.close();
  const shuttingDown = { type: 'error', message: 'tracker is shutting down', unavailable: true };
  assert.deepEqual(await parked, shuttingDown);
  assert.deepEqual(await queued, shuttingDown);
});

// ------------------------------------------------------------ fan-out

test('a scrape across owners fans out and merges in request order', async () => {
  const low = new FakeTransport('low');
  const high = new FakeTransport('high');
  const router = makeRouter(new FakeDestinations((h) => (h.charCodeAt(0) < 128 ? low : high), {}));
  const hashes = [hash(200), hash(5), hash(130), hash(6)];
  const reply = await ask(router, { type: 'scrape', infoHashes: hashes });
  assert.equal(reply.type, 'scrape');
  if (reply.type === 'scrape') assert.deepEqual(reply.files.map((f) => f.complete), [200, 5, 130, 6]);
  assert.equal(low.messages.length, 1);
  assert.equal(high.messages.length, 1);
});

test('a scrape touching a failed owner fails as a whole', async () => {
  const ok = new FakeTransport('ok');
  const down = new FakeTransport('down', () => ({ type: 'error', message: 'swarm down' }));
  const router = makeRouter(new FakeDestinations((h) => (h.charCodeAt(0) < 128 ? ok : down), {}));
  const reply = await ask(router, { type: 'scrape', infoHashes: [hash(1), hash(200)] });
  assert.deepEqual(reply, { type: 'error', message: 'swarm down' });
});

test('trySync answers in-process requests immediately and declines remote ones', () => {
  const sync = makeRouter(new SingleDestination(new InProcessTransport(new EchoSwarm())));
  const reply = sync.trySync(announce(1, 9));
  assert.equal(reply?.type === 'announce' && reply.downloaded, 9);
  const remote = makeRouter(new SingleDestination(new FakeTransport('a')));
  assert.equal(remote.trySync(announce(1, 9)), undefined);
});

test('a throwing reply handler does not stop the other replies of its message', async () => {
  const errors: unknown[] = [];
  const router = new SwarmRouter(new SingleDestination(new FakeTransport('a')), 100, { report: (e) => errors.push(e), count: 0 });
  const second = new Promise<SwarmReply>((resolve) => {
    router.request(announce(1, 1), () => {
      throw new Error('handler bug');
    });
    router.request(announce(1, 2), resolve);
  });
  assert.equal((await second).type, 'announce');
  assert.equal(errors.length, 1);
});

// ------------------------------------------------------------ table identity and changes

test('every message carries the identity of the table its requests were routed with', async () => {
  const a = new FakeTransport('a');
  const d = new FakeDestinations(() => a, { a }, 77);
  const router = makeRouter(d);
  await ask(router, announce(1));
  d.change(() => a, 2 ** 52 - 1);
  await ask(router, announce(1));
  assert.deepEqual(a.messages.map((m) => m.identity), [77, 2 ** 52 - 1]);
});

test('a table change routes queued requests again by the new table before anything is sent', async () => {
  const a = new FakeTransport('a', echoOne, 1, true);
  const b = new FakeTransport('b');
  const d = new FakeDestinations(() => a, { a, b }, 1);
  const router = makeRouter(d);
  const first = ask(router, announce(1, 0)); // in flight on a
  await nextTurn();
  const queued = [ask(router, announce(1, 1)), ask(router, announce(1, 2))];
  await nextTurn();
  assert.equal(router.queuedFor(a), 2);
  d.change(() => b, 2);
  assert.deepEqual((await Promise.all(queued)).map(downloaded), [1, 2]);
  assert.deepEqual(b.messages.map((m) => [m.batch.length, m.identity]), [[2, 2]]);
  assert.equal(a.messages.length, 1);
  a.release();
  assert.equal(downloaded(await first), 0);
});

// ------------------------------------------------------------ moved


test('moved, and the edge\'s table changed meanwhile: sent at once to the new owner; the caller sees only its reply', async () => {
  const a = new FakeTransport('a', moved('c'), Infinity, true);
  const b = new FakeTransport('b');
  const d = new FakeDestinations(() => a, { a, b }, 1);
  const router = makeRouter(d);
  const reply = ask(router, announce(1, 5));
  await nextTurn();
  d.change(() => b, 2); // the edge learns of the change while the request is on the wire
  a.release();
  assert.equal(downloaded(await reply), 5);
  assert.deepEqual(b.messages.map((m) => m.identity), [2]);
  assert.deepEqual(router.moves, { received: 1, reroutedByTable: 1, reroutedByHint: 0, reroutedAfterWait: 0, gaveUp: 0 });
});

test('moved, the edge\'s table unchanged: sent to the owner the reply names, in a message stamped 0 (check each)', async () => {
  const a = new FakeTransport('a', moved('b'));
  const b = new FakeTransport('b');
  const router = makeRouter(new FakeDestinations(() => a, { a, b }, 9));
  assert.equal(downloaded(await ask(router, announce(1, 6))), 6);
  assert.deepEqual(b.messages.map((m) => m.identity), [0]);
  assert.equal(router.moves.reroutedByHint, 1);
});

test('moved with no usable hint: waits for the edge\'s table to change, then goes by it', () => holdingTheLoop(async () => {
  const a = new FakeTransport('a', moved('unknown-to-this-edge'));
  const b = new FakeTransport('b');
  const d = new FakeDestinations(() => a, { a, b }, 1);
  const router = makeRouter(d, 256, { movedWaitMs: 60_000 });
  try {
    let answered: SwarmReply | undefined;
    router.request(announce(1, 7), (r) => (answered = r));
    await eventually(() => router.moves.received === 1, 5000, 'the moved reply');
    await sleep(20);
    assert.equal(answered, undefined, 'it waits');
    assert.equal(router.inFlight, 1, 'counted while it waits');
    d.change(() => b, 2);
    await eventually(() => answered !== undefined, 5000, 'the reply after the change');
    assert.equal(downloaded(answered!), 7);
    assert.equal(router.moves.reroutedAfterWait, 1);
  } finally {
    router.close();
  }
}));

test('moved with no usable hint and no table change: routed by the same table again after movedWaitMs', () => holdingTheLoop(async () => {
  let refuse = true;
  const a = new FakeTransport('a', (r) => (refuse ? { type: 'moved' } : echoOne(r)));
  const router = makeRouter(new FakeDestinations(() => a, { a }, 1), 256, { movedWaitMs: 50 });
  const reply = ask(router, announce(1, 8));
  await eventually(() => router.moves.received === 1, 5000, 'the moved reply');
  refuse = false; // the swarm caught up meanwhile
  assert.equal(downloaded(await reply), 8);
  assert.equal(a.messages.length, 2);
  assert.equal(router.moves.reroutedAfterWait, 1);
}));

test('a request moved more than maxMovedHops times is answered unavailable, counted once', () => holdingTheLoop(async () => {
  // Two swarms that each say the other owns it (hint once, then waits of 0 ms).
  const a = new FakeTransport('a', moved('b'));
  const b = new FakeTransport('b', moved('a'));
  let identity = 1;
  const d = new FakeDestinations(() => a, { a, b }, identity);
  let hits = 0;
  const router = makeRouter(d, 256, { maxMovedHops: 3, movedWaitMs: 0, limits: { maxMovedHops: { inc: () => hits++ } } });
  const reply = await ask(router, announce(1, 1));
  assert.equal(reply.type, 'error');
  assert.ok(reply.type === 'error' && reply.unavailable === true);
  assert.equal(a.messages.length + b.messages.length, 4, 'sent once, then again 3 times');
  assert.equal(router.moves.received, 4);
  assert.equal(router.moves.gaveUp, 1);
  assert.equal(hits, 1);
  // maxMovedHops 0: the first moved reply is final.
  const strict = makeRouter(new FakeDestinations(() => a, { a, b }, ++identity), 256, { maxMovedHops: 0 });
  assert.equal((await ask(strict, announce(1, 1))).type, 'error');
  assert.equal(strict.moves.gaveUp, 1);
}));

test('a moved part of a scrape is split again by the new table; the merged reply keeps request order', async () => {
  const low = new FakeTransport('low');
  const high = new FakeTransport('high', moved(), Infinity, true);
  const other = new FakeTransport('other');
  const d = new FakeDestinations((h) => (h.charCodeAt(0) < 128 ? low : high), { low, high, other }, 1);
  const router = makeRouter(d);
  const reply = ask(router, { type: 'scrape', infoHashes: [hash(200), hash(5), hash(130), hash(6)] });
  await nextTurn();
  // Now hashes >= 128 are split between two owners.
  d.change((h) => (h.charCodeAt(0) < 128 ? low : h.charCodeAt(0) < 150 ? other : low), 2);
  high.release();
  const got = await reply;
  assert.ok(got.type === 'scrape');
  assert.deepEqual(got.files.map((f) => f.complete), [200, 5, 130, 6]);
  assert.deepEqual(other.messages.map((m) => m.batch.map((r) => (r.type === 'scrape' ? r.infoHashes.length : 0))), [[1]]);
});

// ------------------------------------------------------------ over the real wire

test('through a real gRPC transport, maxBatch bounds every message the swarm receives', async () => {
  const sizes: number[] = [];
  const server = new GrpcSwarmServer(new EchoSwarm(), { host: '127.0.0.1', port: 0, edgeGoneGraceMs: 0, onBatch: (n) => sizes.push(n) });
  const port = await server.listen();
  const transport = new GrpcTransport({ name: 'swarm-t', address: `127.0.0.1:${port}`, edgeId: 'edge-t', maxMessagesInFlight: 2 });
  const router = makeRouter(new SingleDestination(transport), 100);
  try {
    assert.ok(await transport.whenOpen(5000));
    const replies = await Promise.all(Array.from({ length: 1000 }, (_, i) => ask(router, announce(1, i % 200))));
    assert.ok(replies.every((r, i) => downloaded(r) === i % 200));
    assert.equal(sizes.reduce((x, y) => x + y, 0), 1000);
    assert.ok(sizes.every((n) => n <= 100), JSON.stringify(sizes));
    assert.equal(transport.stats().messagesSent, sizes.length);
  } finally {
    router.close();
    await transport.close();
    server.forceShutdown();
  }
});
