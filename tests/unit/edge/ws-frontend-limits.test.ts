/**
 * The WebSocket frontend's abuse limits on an in-process stack (real
 * uWebSockets.js on 127.0.0.1, the swarm in the same process) with an
 * injected clock: idle sockets, the per-socket message budget, and the
 * per-address caps (client addresses given through a trusted proxy's
 * X-Forwarded-For, so one test machine can be many addresses).
 * tests/integration/webtorrent-limits.test.ts reruns the attacks against
 * the real process.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig, type Config } from '../../../lib/runtime/config.js';
import { parseCidrList } from '../../../lib/runtime/cidr.js';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import { silentLogger } from '../../../lib/runtime/logger.js';
import { InProcessTransport } from '../../../lib/transport/in-process.js';
import { SingleDestination, SwarmRouter } from '../../../services/edge/router.js';
import { RequestPipeline } from '../../../services/edge/pipeline/pipeline.js';
import { TcpServer } from '../../../services/edge/tcp-server.js';
import { ClientAddressResolver } from '../../../services/edge/http/client-address.js';
import { WsFrontend } from '../../../services/edge/ws/ws-frontend.js';
import { WebTorrentSwarms } from '../../../services/swarm/store/webtorrent-swarms.js';
import { Swarm } from '../../../services/swarm/swarm.js';
import { makeStore } from '../../support/swarm-store.js';
import { AnnounceEvent, WtTestClient, eventually, metricValue, parseMetrics, randomId20 } from '../../support/integration-helpers.js';

interface Stack {
  port: number;
  clock: { ms: number };
  ws: WsFrontend;
  metrics: TrackerMetrics;
  stop(): Promise<void>;
}

async function startStack(overrides: Partial<Config['webtorrent']>): Promise<Stack> {
  const limits = { ...defaultConfig().webtorrent, ...overrides };
  const clock = { ms: 1_000_000 };
  const metrics = new TrackerMetrics({ defaultMetrics: false });
  const webtorrent = new WebTorrentSwarms(limits);
  const swarm = new Swarm(makeStore(), webtorrent, { now: () => clock.ms / 1000 });
  const transport = new InProcessTransport(swarm);
  const router = new SwarmRouter(new SingleDestination(transport), 256, {
    count: 0,
    report(error: unknown) {
      throw error;
    },
  });
  const tcp = new TcpServer();
  const ws = new WsFrontend({
    edgeId: 'local',
    limits,
    // Every client is 127.0.0.1, a trusted proxy: the address is X-Forwarded-For's.
    clientAddress: new ClientAddressResolver(parseCidrList(['127.0.0.1']), 'x-forwarded-for', true),
    pipeline: new RequestPipeline({ router, failures: { count: 0, report(error: unknown) { throw error; } } }),
    metrics,
    logger: silentLogger,
    clock: () => clock.ms,
  });
  ws.register(tcp.app);
  webtorrent.setRelay(ws);
  const port = await tcp.listen('127.0.0.1', 0);
  return {
    port,
    clock,
    ws,
    metrics,
    async stop() {
      tcp.close();
      ws.closeAll();
      await transport.close();
    },
  };
}

const clients: WtTestClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

async function open(stack: Stack, from = '198.51.100.1'): Promise<WtTestClient> {
  const c = await WtTestClient.open(stack.port, { headers: { 'X-Forwarded-For': from } });
  clients.push(c);
  return c;
}

async function hits(stack: Stack, key: string): Promise<number> {
  return metricValue(parseMetrics((await stack.metrics.render()).body), 'tracker_limit_hits_total', { limit: `webtorrent.${key}` }) ?? 0;
}

describe('idle sockets (webtorrent.idleTimeoutSeconds)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ intervalSeconds: 10, idleTimeoutSeconds: 30 });
  });
  after(() => stack.stop());

  it('a socket that sends no tracker message (pings and junk do not count) is closed; an active one stays', async () => {
    const silent = await open(stack);
    const active = await open(stack);
    const junk = await open(stack);
    stack.clock.ms += 29_000;
    await active.scrapeOk(randomId20()); // a tracker message at 29 s
    await junk.send('not a tracker message');
    await junk.failure(3000);
    silent.ws.ping();
    assert.equal(stack.ws.closeIdle(stack.clock.ms), 0, 'nobody is idle before 30 s');
    stack.clock.ms += 1_001; // 30.001 s after the open, 1.001 s after the active socket's scrape
    assert.equal(stack.ws.closeIdle(stack.clock.ms), 2);
    const closed = await silent.waitClose(3000);
    assert.equal(closed.code, 1000);
    assert.match(closed.reason, /idle/);
    assert.equal((await junk.waitClose(3000)).code, 1000, 'junk frames do not keep a socket open');
    assert.equal(active.isOpen, true);
    await active.scrapeOk(randomId20()); // and it is still served
    assert.equal(await hits(stack, 'idleTimeoutSeconds'), 2);
    // Positive control for the survivor: silent from now on, it goes 30 s after its last message.
    stack.clock.ms += 30_001;
    assert.equal(stack.ws.closeIdle(stack.clock.ms), 1);
    await active.waitClose(3000);
  });
});

describe('the message budget (webtorrent.maxMessagesPerSecond, messageBurst)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ maxMessagesPerSecond: 2, messageBurst: 5 });
  });
  after(() => stack.stop());

  it('a socket may send a burst, then perSecond; past its budget it is closed with 1008 and counted', async () => {
    const normal = await open(stack);
    for (let i = 0; i < 5; i++) await normal.scrapeOk(randomId20()); // the whole burst, the clock standing still
    stack.clock.ms += 1000; // refills 2
    await normal.scrapeOk(randomId20());
    await normal.scrapeOk(randomId20());
    assert.equal(normal.isOpen, true);
    assert.equal(await hits(stack, 'maxMessagesPerSecond'), 0);

    const flood = await open(stack);
    for (let i = 0; i < 50; i++) flood.sendNow(JSON.stringify({ action: 'scrape', info_hash: randomId20() }));
    const closed = await flood.waitClose(3000);
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /too many messages/);
    assert.equal(flood.all('scrape').length, 5, 'the burst was answered, nothing after it');
    assert.equal(await hits(stack, 'maxMessagesPerSecond'), 1);
    // The well-behaved socket is still served (its budget is its own).
    stack.clock.ms += 1000;
    await normal.scrapeOk(randomId20());
  });
});

describe('per-address caps (webtorrent.maxSocketsPerAddress, maxPeersPerAddress)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ maxSocketsPerAddress: 2, maxPeersPerAddress: 3 });
  });
  after(() => stack.stop());

  it('a third socket from one address is refused with HTTP 429; other addresses connect; a close gives the slot back', async () => {
    const first = await open(stack, '203.0.113.5');
    await open(stack, '203.0.113.5');
    await assert.rejects(open(stack, '203.0.113.5'), /Unexpected server response: 429/);
    assert.equal(await hits(stack, 'maxSocketsPerAddress'), 1);
    await open(stack, '203.0.113.6'); // another address
    // IPv6: one /64 is one address (its subscriber picks any of 2^64).
    await open(stack, '2001:db8:1:2::1');
    await open(stack, '2001:db8:1:2::ffff');
    await assert.rejects(open(stack, '2001:db8:1:2:abcd::7'), /429/);
    await open(stack, '2001:db8:1:3::1');
    assert.equal(await hits(stack, 'maxSocketsPerAddress'), 2);
    first.ws.close(1000);
    await first.waitClose(3000);
    await eventually(async () => ((await open(stack, '203.0.113.5').catch(() => undefined)) ? true : undefined), 3000, 'the closed socket\'s slot');
    assert.equal(stack.ws.openAddresses, 4);
  });

  it('peers are capped across all sockets of an address: the extra announce fails; stopping or closing frees them', async () => {
    const infoHash = randomId20();
    const a = await open(stack, '192.0.2.10');
    const b = await open(stack, '192.0.2.10');
    const aIds = [randomId20(), randomId20()];
    for (const peerId of aIds) await a.announceOk({ infoHash, peerId, left: 1 });
    const bId = randomId20();
    await b.announceOk({ infoHash, peerId: bId, left: 1 });
    const refused = await b.announce({ infoHash: randomId20(), peerId: bId, left: 1 });
    assert.equal(refused.type, 'failure');
    assert.match(refused.type === 'failure' ? refused.reason : '', /too many peers announced from your address \(limit 3\)/);
    assert.equal(await hits(stack, 'maxPeersPerAddress'), 1);
    // Re-announcing a peer it has is not a new peer.
    await a.announceOk({ infoHash, peerId: aIds[0], left: 0 });
    // Another address is not affected.
    const other = await open(stack, '192.0.2.11');
    await other.announceOk({ infoHash, peerId: randomId20(), left: 1 });
    // A stop frees one; a closed socket frees all of its own.
    await a.announceOk({ infoHash, peerId: aIds[1], left: 1, event: AnnounceEvent.Stopped });
    await b.announceOk({ infoHash: randomId20(), peerId: bId, left: 1 });
    assert.equal((await b.announce({ infoHash: randomId20(), peerId: bId, left: 1 })).type, 'failure');
    a.ws.close(1000);
    await a.waitClose(3000);
    await eventually(async () => ((await b.announce({ infoHash: randomId20(), peerId: bId, left: 1 })).type === 'announce' ? true : undefined), 3000, 'a\'s peer to be freed');
  });
});
