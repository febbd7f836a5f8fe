/**
 * BEP 15 over real sockets against a real tracker process.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  AnnounceEvent,
  UdpTestClient,
  endpointKey,
  eventually,
  launchTracker,
  newTransactionId,
  randomId20,
  type LaunchedTracker,
} from '../support/integration-helpers.js';
import { ConnectionIds } from '../../services/edge/udp/connection-id.js';
import { parseIp } from '../../lib/net/ip.js';

const INTERVAL = 1234;
const KEY_HEX = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

describe('UDP tracker (BEP 15)', () => {
  let tracker: LaunchedTracker;
  const clients: UdpTestClient[] = [];

  async function client(host: '127.0.0.1' | '::1' = '127.0.0.1'): Promise<UdpTestClient> {
    const c = await UdpTestClient.open(host, tracker.udpPort);
    clients.push(c);
    return c;
  }

  /** Ids minted with the tracker's key, as another edge (or a clock in the past/future) would. */
  function mintConnectionId(address: string, atSeconds: number): { high: number; low: number } {
    const ids = new ConnectionIds({
      key: Buffer.from(KEY_HEX, 'hex'),
      ttlSeconds: 120,
      slackSeconds: 60,
      futureSkewSeconds: 5,
      now: () => atSeconds,
    });
    const out = new Uint32Array(2);
    const ip = parseIp(address);
    assert.ok(ip);
    ids.issue(ip, out);
    return { high: out[0], low: out[1] };
  }

  before(async () => {
    tracker = await launchTracker([
      `--announce.intervalSeconds=${INTERVAL}`,
      '--announce.intervalJitterSeconds=0',
      '--announce.minIntervalSeconds=600',
      `--udp.connectionIdKey=${KEY_HEX}`,
      // Every client here is 127.0.0.1: "many clients" means many ports of one address.
      '--store.maxPeersPerAddressPerTorrent=1024',
    ]);
  });

  after(async () => {
    for (const c of clients) c.close();
    await tracker?.stop();
  });

  it('connect echoes the transaction id and returns a connection id', async () => {
    const c = await client();
    const tid = newTransactionId();
    const buf = Buffer.alloc(16);
    buf.writeUInt32BE(0x417, 0);
    buf.writeUInt32BE(0x27101980, 4);
    buf.writeUInt32BE(0, 8);
    buf.writeUInt32BE(tid, 12);
    const reply = await c.request(buf, tid);
    assert.equal(reply.length, 16);
    const parsed = c.parse(reply);
    assert.equal(parsed.type, 'connect');
    assert.equal(parsed.transactionId, tid);
  });

  it('two IPv4 peers of one torrent see each other, never themselves; 6-byte peers; counts and interval', async () => {
    const a = await client();
    const b = await client();
    const infoHash = randomId20();
    const first = await a.announceOk({ infoHash, peerId: randomId20(), port: 40001, left: 500, event: AnnounceEvent.Started });
    assert.equal(first.interval, INTERVAL);
    assert.equal(first.leechers, 1);
    assert.equal(first.seeders, 0);
    assert.deepEqual(first.peers, []);

    const second = await b.announceOk({ infoHash, peerId: randomId20(), port: 40002, left: 0, event: AnnounceEvent.Started });
    assert.equal(second.interval, INTERVAL);
    assert.equal(second.seeders, 1);
    assert.equal(second.leechers, 1);
    assert.equal(second.peerBytes, 6);
    assert.deepEqual(second.peers, [{ ip: '127.0.0.1', port: 40001 }]);

    const again = await a.announceOk({ infoHash, peerId: randomId20(), port: 40001, left: 500 });
    assert.equal(again.peerBytes % 6, 0);
    assert.deepEqual(again.peers, [{ ip: '127.0.0.1', port: 40002 }]);
    assert.equal(again.seeders, 1);
    assert.equal(again.leechers, 1);
  });

  it('a client over ::1 gets 18-byte peers and only IPv6 peers; IPv4 clients only IPv4 peers', async () => {
    const v4 = await client('127.0.0.1');
    const v6a = await client('::1');
    const v6b = await client('::1');
    const infoHash = randomId20();
    await v4.announceOk({ infoHash, peerId: randomId20(), port: 41001 });
    const r1 = await v6a.announceOk({ infoHash, peerId: randomId20(), port: 41002 });
    assert.deepEqual(r1.peers, [], 'an IPv6 client must not get IPv4 peers');
    assert.equal(r1.peerBytes, 0);

    const r2 = await v6b.announceOk({ infoHash, peerId: randomId20(), port: 41003 });
    assert.equal(r2.peerBytes, 18, 'one 18-byte IPv6 peer');
    assert.deepEqual(r2.peers, [{ ip: '::1', port: 41002 }]);

    const r3 = await v4.announceOk({ infoHash, peerId: randomId20(), port: 41001 });
    assert.equal(r3.peerBytes, 0, 'an IPv4 client must not get IPv6 peers (or itself)');
  });

  it('numwant limits the peer list; numwant 0/-1 means the default', async () => {
    const c = await client();
    const infoHash = randomId20();
    for (let i = 0; i < 6; i++) await c.announceOk({ infoHash, peerId: randomId20(), port: 42000 + i });
    const two = await c.announceOk({ infoHash, peerId: randomId20(), port: 42100, numwant: 2 });
    assert.equal(two.peers.length, 2);
    const dflt = await c.announceOk({ infoHash, peerId: randomId20(), port: 42101, numwant: 0 });
    assert.equal(dflt.peers.length, 7, 'default numwant (50) returns every other peer');
    assert.ok(!dflt.peers.some((p) => p.port === 42101), 'never itself');
  });

  it('`stopped` removes the peer: the other no longer gets it and counts drop', async () => {
    const a = await client();
    const b = await client();
    const infoHash = randomId20();
    const peerA = randomId20();
    await a.announceOk({ infoHash, peerId: peerA, port: 43001, left: 0, event: AnnounceEvent.Started });
    const seen = await b.announceOk({ infoHash, peerId: randomId20(), port: 43002, left: 10, event: AnnounceEvent.Started });
    assert.deepEqual(seen.peers, [{ ip: '127.0.0.1', port: 43001 }]);

    const stopped = await a.announce({ infoHash, peerId: peerA, port: 43001, left: 0, event: AnnounceEvent.Stopped });
    assert.equal(stopped.type, 'announce');

    const after = await b.announceOk({ infoHash, peerId: randomId20(), port: 43002, left: 10 });
    assert.deepEqual(after.peers, []);
    assert.equal(after.seeders, 0);
    assert.equal(after.leechers, 1);
    const [stats] = await b.scrapeOk([infoHash]);
    assert.deepEqual(stats, { complete: 0, incomplete: 1, downloaded: 0 });
  });

  it('`completed` increments downloaded in scrape, once per peer', async () => {
    const c = await client();
    const infoHash = randomId20();
    const p1 = randomId20();
    await c.announceOk({ infoHash, peerId: p1, port: 44001, left: 100, event: AnnounceEvent.Started });
    assert.deepEqual(await c.scrapeOk([infoHash]), [{ complete: 0, incomplete: 1, downloaded: 0 }]);
    await c.announceOk({ infoHash, peerId: p1, port: 44001, left: 0, event: AnnounceEvent.Completed });
    assert.deepEqual(await c.scrapeOk([infoHash]), [{ complete: 1, incomplete: 0, downloaded: 1 }]);
    await c.announceOk({ infoHash, peerId: p1, port: 44001, left: 0, event: AnnounceEvent.Completed });
    assert.deepEqual(await c.scrapeOk([infoHash]), [{ complete: 1, incomplete: 0, downloaded: 1 }], 'a repeated completed does not count twice');
    const p2 = randomId20();
    await c.announceOk({ infoHash, peerId: p2, port: 44002, left: 100, event: AnnounceEvent.Started });
    await c.announceOk({ infoHash, peerId: p2, port: 44002, left: 0, event: AnnounceEvent.Completed });
    assert.deepEqual(await c.scrapeOk([infoHash]), [{ complete: 2, incomplete: 0, downloaded: 2 }]);
  });

  it('scrape counts match the announces sent, in request order, zeros for unknown hashes', async () => {
    const c = await client();
    const h1 = randomId20();
    const h2 = randomId20();
    const unknown = randomId20();
    for (let i = 0; i < 3; i++) await c.announceOk({ infoHash: h1, peerId: randomId20(), port: 45000 + i, left: 10 });
    for (let i = 0; i < 2; i++) await c.announceOk({ infoHash: h1, peerId: randomId20(), port: 45010 + i, left: 0 });
    await c.announceOk({ infoHash: h2, peerId: randomId20(), port: 45020, left: 0 });
    const stats = await c.scrapeOk([h2, unknown, h1]);
    assert.deepEqual(stats, [
      { complete: 1, incomplete: 0, downloaded: 0 },
      { complete: 0, incomplete: 0, downloaded: 0 },
      { complete: 2, incomplete: 3, downloaded: 0 },
    ]);
  });

  it('scrape with more hashes than udp.maxScrapeHashes (70) answers the first 70', async () => {
    const c = await client();
    const hashes = Array.from({ length: 74 }, () => randomId20());
    const stats = await c.scrapeOk(hashes);
    assert.equal(stats.length, 70);
  });

  it('scrape with 0 hashes gets the error "full scrapes are not allowed"', async () => {
    const c = await client();
    const reply = await c.scrape([]);
    assert.equal(reply.type, 'error');
    assert.equal(reply.type === 'error' && reply.message, 'full scrapes are not allowed');
  });

  it('announce/scrape with a random, forged, expired, future or other-address connection id get NO reply', async () => {
    const now = Math.floor(Date.now() / 1000);
    const v4 = await client();
    const v6 = await client('::1');
    const real = await v4.connect();
    const cases: Array<[string, UdpTestClient, { high: number; low: number }]> = [
      ['random', v4, { high: randomBytes(4).readUInt32BE(0), low: randomBytes(4).readUInt32BE(0) }],
      ['zero', v4, { high: 0, low: 0 }],
      ['forged MAC (real timestamp, flipped bits)', v4, { high: real.high, low: (real.low ^ 0x5a5a5a5a) >>> 0 }],
      ['expired (minted with the key 1 hour ago)', v4, mintConnectionId('127.0.0.1', now - 3600)],
      ['expired (ttl + slack + 30 s ago)', v4, mintConnectionId('127.0.0.1', now - 210)],
      ['from the future (minted 1 hour ahead)', v4, mintConnectionId('127.0.0.1', now + 3600)],
      ['issued to 127.0.0.1, used from ::1', v6, real],
    ];
    const infoHash = randomId20();
    await Promise.all(
      cases.map(async ([name, c, conn]) => {
        const tid = newTransactionId();
        const pkt = c.announcePacket({ infoHash, peerId: randomId20(), port: 46000 }, conn, tid);
        await assert.doesNotReject(c.sendExpectingSilence(pkt), `announce with ${name} connection id`);
        const tid2 = newTransactionId();
        await assert.doesNotReject(c.sendExpectingSilence(c.scrapePacket([infoHash], conn, tid2)), `scrape with ${name} connection id`);
      }),
    );
    // None of those announces registered a peer.
    assert.deepEqual(await v4.scrapeOk([infoHash]), [{ complete: 0, incomplete: 0, downloaded: 0 }]);
  });

  it('a connection id minted by another edge with the same key is accepted', async () => {
    const c = await client();
    const now = Math.floor(Date.now() / 1000);
    const conn = mintConnectionId('127.0.0.1', now - 30);
    const tid = newTransactionId();
    const reply = c.parse(await c.request(c.announcePacket({ infoHash: randomId20(), peerId: randomId20(), port: 46100 }, conn, tid), tid));
    assert.equal(reply.type, 'announce');
  });

  it('an unknown action with a valid connection id gets an error reply; without one, silence', async () => {
    const c = await client();
    const conn = await c.connect();
    const pkt = (high: number, low: number, tid: number): Buffer => {
      const b = Buffer.alloc(16);
      b.writeUInt32BE(high, 0);
      b.writeUInt32BE(low, 4);
      b.writeUInt32BE(77, 8);
      b.writeUInt32BE(tid, 12);
      return b;
    };
    const tid = newTransactionId();
    const reply = c.parse(await c.request(pkt(conn.high, conn.low, tid), tid));
    assert.equal(reply.type, 'error');
    assert.equal(reply.transactionId, tid);
    assert.ok(reply.type === 'error' && reply.message.length > 0);
    await c.sendExpectingSilence(pkt(1, 2, newTransactionId()));
  });

  it('port 0 is not accepted: error reply, and the peer is not listed', async () => {
    const c = await client();
    const conn = await c.connect();
    const infoHash = randomId20();
    const tid = newTransactionId();
    const pkt = c.announcePacket({ infoHash, peerId: randomId20(), port: 1 }, conn, tid);
    pkt.writeUInt16BE(0, 96);
    const reply = c.parse(await c.request(pkt, tid));
    assert.equal(reply.type, 'error', `port 0 must not be announced, got ${JSON.stringify(reply)}`);
    const other = await c.announceOk({ infoHash, peerId: randomId20(), port: 46201 });
    assert.deepEqual(other.peers, []);
    assert.deepEqual(await c.scrapeOk([infoHash]), [{ complete: 0, incomplete: 1, downloaded: 0 }]);
  });

  it('the ip field is ignored (the packet source is used) and BEP 41 option bytes are accepted', async () => {
    const a = await client();
    const b = await client();
    const infoHash = randomId20();
    const conn = await a.connect();
    const tid = newTransactionId();
    const pkt = a.announcePacket(
      { infoHash, peerId: randomId20(), port: 46301, options: Buffer.from([2, 4, 0x2f, 0x61, 0x62, 0x63, 1, 0]) },
      conn,
      tid,
    );
    pkt.writeUInt32BE(0x01020304, 84); // ip = 1.2.3.4
    assert.equal(a.parse(await a.request(pkt, tid)).type, 'announce');
    const seen = await b.announceOk({ infoHash, peerId: randomId20(), port: 46302 });
    assert.deepEqual(seen.peers, [{ ip: '127.0.0.1', port: 46301 }]);
  });

  it('survives thousands of garbage datagrams and every truncation of a valid announce', async () => {
    const attacker = await client();
    const conn = await attacker.connect();
    const infoHash = randomId20();
    const tid = newTransactionId();
    const valid = attacker.announcePacket({ infoHash, peerId: randomId20(), port: 47001 }, conn, tid);
    const since = attacker.datagrams.length;

    // Unauthenticated random datagrams must never be answered (no amplification).
    const stranger = await client();
    for (let i = 0; i < 3000; i++) {
      await stranger.send(randomBytes(Math.floor(Math.random() * 200)));
    }
    // Random bodies behind a valid connection id, every action.
    for (let i = 0; i < 1500; i++) {
      const b = randomBytes(16 + Math.floor(Math.random() * 180));
      b.writeUInt32BE(conn.high, 0);
      b.writeUInt32BE(conn.low, 4);
      b.writeUInt32BE(1 + (i % 4), 8);
      b.writeUInt32BE(0xfff00000 + i, 12); // transaction ids unlike the ones we await
      if (b.length >= 98 && (i & 1) === 0) b.writeUInt32BE(i % 5, 80); // often a plausible event
      await attacker.send(b);
    }
    for (let n = 0; n < valid.length; n++) await attacker.send(valid.subarray(0, n));

    // Still answering valid requests afterwards, from a brand new socket.
    const fresh = await client();
    const result = await fresh.announceOk({ infoHash, peerId: randomId20(), port: 47002 }, 3000);
    assert.equal(result.interval, INTERVAL);
    assert.deepEqual(result.peers, [], 'truncated announces must not have registered a peer');
    assert.equal(tracker.running(), true, 'the tracker process is still running');

    // Not one of the stranger's 3,000 datagrams was answered (its probe connect, sent after them, was).
    await stranger.expectNoReplySince(0);
    // Replies to the truncated announces (same transaction id as the valid packet) are errors, never announces.
    for (const msg of attacker.datagrams.slice(since)) {
      if (msg.length >= 8 && msg.readUInt32BE(4) === tid) assert.equal(attacker.parse(msg).type, 'error');
    }
  });

  it('many announces and scrapes in flight at once are all answered', async () => {
    const c = await client();
    const infoHash = randomId20();
    await c.connect();
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => c.announceOk({ infoHash, peerId: randomId20(), port: 48000 + i, numwant: 1 })),
    );
    assert.equal(replies.length, 200);
    const [stats] = await c.scrapeOk([infoHash]);
    assert.equal(stats.incomplete, 200);
    const seenPorts = new Set(replies.flatMap((r) => r.peers.map(endpointKey)));
    assert.ok(seenPorts.size > 0);
    assert.ok(!replies.some((r, i) => r.peers.some((p) => p.port === 48000 + i)), 'never itself');
  });
});

describe('UDP peer expiry (--announce.peerTimeoutSeconds=1)', () => {
  let tracker: LaunchedTracker;

  before(async () => {
    tracker = await launchTracker(['--announce.peerTimeoutSeconds=1', '--store.sweepIntervalMs=100']);
  });

  after(async () => {
    await tracker?.stop();
  });

  it('a peer that stops announcing disappears from replies, scrapes and gauges', async () => {
    const c = await UdpTestClient.open('127.0.0.1', tracker.udpPort);
    try {
      const infoHash = randomId20();
      await c.announceOk({ infoHash, peerId: randomId20(), port: 49001, left: 0 });
      assert.deepEqual(await c.scrapeOk([infoHash]), [{ complete: 1, incomplete: 0, downloaded: 0 }]);
      // Expiry is 1 s plus a sweep; the bound only has to end a test where it never happens.
      const stats = await eventually(async () => {
        const s = await c.scrapeOk([infoHash]);
        return s[0].complete === 0 ? s : undefined;
      }, 15_000, 'the peer to expire', 100);
      assert.deepEqual(stats, [{ complete: 0, incomplete: 0, downloaded: 0 }]);
      const other = await c.announceOk({ infoHash, peerId: randomId20(), port: 49002 });
      assert.deepEqual(other.peers, []);
    } finally {
      c.close();
    }
  });
});
