import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SwarmReply, SwarmRequest } from '../../../lib/transport/messages.js';
import type { BatchCallback, Transport } from '../../../lib/transport/transport.js';
import { InProcessTransport } from '../../../lib/transport/in-process.js';
import { SingleDestination, SwarmRouter, type Destinations } from '../../../services/edge/router.js';
import { EchoSwarm } from '../../support/transport-conformance.js';

/** Records batches; answers through an EchoSwarm asynchronously. */
class RecordingTransport implements Transport {
  readonly batches: SwarmRequest[][] = [];
  inFlight = 0;
  private readonly echo = new EchoSwarm();
  constructor(private readonly fail = false) {}
  send(batch: SwarmRequest[], done: BatchCallback): void {
    this.batches.push(batch);
    setImmediate(() => done(this.fail ? batch.map(() => ({ type: 'error', message: 'swarm down' })) : this.echo.handle(batch)));
  }
  async close(): Promise<void> {}
}

const hash = (first: number): string => String.fromCharCode(first) + 'h'.repeat(19);
const announce = (first: number, n = 0): SwarmRequest => ({
  type: 'announce', infoHash: hash(first), peerId: 'p'.repeat(20), endpoint: Uint8Array.of(1, 2, 3, 4, 0, n), event: 0, left: 1, numwant: n,
});
const ask = (router: SwarmRouter, r: SwarmRequest): Promise<SwarmReply> => new Promise((resolve) => router.request(r, resolve));

test('requests made in one event-loop turn travel as one batch', async () => {
  const t = new RecordingTransport();
  const router = new SwarmRouter(new SingleDestination(t), 1000);
  const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => ask(router, announce(1, i))));
  assert.equal(t.batches.length, 1);
  assert.equal(t.batches[0].length, 40);
  replies.forEach((reply, i) => assert.equal(reply.type === 'announce' && reply.downloaded, i));
});

test('a batch is sent as soon as it reaches maxBatch', async () => {
  const t = new RecordingTransport();
  const router = new SwarmRouter(new SingleDestination(t), 16);
  await Promise.all(Array.from({ length: 40 }, (_, i) => ask(router, announce(1, i))));
  assert.deepEqual(t.batches.map((b) => b.length), [16, 16, 8]);
});

test('a scrape across owners fans out and merges in request order', async () => {
  const low = new RecordingTransport();
  const high = new RecordingTransport();
  const destinations: Destinations = { transportFor: (h) => (h.charCodeAt(0) < 128 ? low : high) };
  const router = new SwarmRouter(destinations);
  const hashes = [hash(200), hash(5), hash(130), hash(6)];
  const reply = await ask(router, { type: 'scrape', infoHashes: hashes });
  assert.equal(reply.type, 'scrape');
  if (reply.type === 'scrape') assert.deepEqual(reply.files.map((f) => f.complete), [200, 5, 130, 6]);
  assert.equal(low.batches.length, 1);
  assert.equal(high.batches.length, 1);
});

test('a scrape touching a failed owner fails as a whole', async () => {
  const ok = new RecordingTransport();
  const down = new RecordingTransport(true);
  const router = new SwarmRouter({ transportFor: (h) => (h.charCodeAt(0) < 128 ? ok : down) });
  const reply = await ask(router, { type: 'scrape', infoHashes: [hash(1), hash(200)] });
  assert.deepEqual(reply, { type: 'error', message: 'swarm down' });
});

test('trySync answers in-process requests immediately and declines remote ones', () => {
  const sync = new SwarmRouter(new SingleDestination(new InProcessTransport(new EchoSwarm())));
  const reply = sync.trySync(announce(1, 9));
  assert.equal(reply?.type === 'announce' && reply.downloaded, 9);
  const remote = new SwarmRouter(new SingleDestination(new RecordingTransport()));
  assert.equal(remote.trySync(announce(1, 9)), undefined);
});

test('a throwing reply handler does not stop the other replies of its batch', async () => {
  const errors: unknown[] = [];
  const router = new SwarmRouter(new SingleDestination(new RecordingTransport()), 100, { report: (e) => errors.push(e), count: 0 });
  const second = new Promise<SwarmReply>((resolve) => {
    router.request(announce(1, 1), () => {
      throw new Error('handler bug');
    });
    router.request(announce(1, 2), resolve);
  });
  assert.equal((await second).type, 'announce');
  assert.equal(errors.length, 1);
});
