/**
 * Protocol corners real clients and proxies hit, against a real tracker
 * process: oversized UDP scrapes, BEP 21 partial seeds over UDP, a stray
 * Sec-WebSocket-Key on a plain announce, and X-Forwarded-For split over
 * several header lines behind a trusted proxy.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildAnnounceQuery } from '../../lib/protocol/http/client.js';
import {
  RawHttpConnection,
  UdpTestClient,
  asBytes,
  bdecodeDict,
  bytesToText,
  decodeCompactPeers,
  launchTracker,
  newTransactionId,
  randomId20,
  type Endpoint,
  type LaunchedTracker,
} from '../support/integration-helpers.js';

function announceTarget(infoHash: string, port: number): string {
  return `/announce?${buildAnnounceQuery({ infoHash, peerId: randomId20(), port, left: 100 })}`;
}

function peersOf(body: Buffer): Endpoint[] {
  const dict = bdecodeDict(body);
  assert.equal(dict['failure reason'], undefined, `unexpected failure: ${bytesToText(dict['failure reason'] ?? '')}`);
  return dict['peers'] === undefined ? [] : decodeCompactPeers(asBytes(dict['peers']), 6);
}

describe('protocol corners (all-in-one)', () => {
  let tracker: LaunchedTracker;
  const udp: UdpTestClient[] = [];
  const tcp: RawHttpConnection[] = [];

  async function udpClient(): Promise<UdpTestClient> {
    const c = await UdpTestClient.open('127.0.0.1', tracker.udpPort);
    udp.push(c);
    return c;
  }

  async function httpConnection(): Promise<RawHttpConnection> {
    const c = await RawHttpConnection.open('127.0.0.1', tracker.httpPort);
    tcp.push(c);
    return c;
  }

  before(async () => {
    tracker = await launchTracker(['--http.trustedProxies=127.0.0.1/32', '--udp.maxScrapeHashes=256']);
  });

  after(async () => {
    for (const c of udp) c.close();
    for (const c of tcp) c.socket.destroy();
    await tracker?.stop();
  });

  it('a UDP scrape longer than the receive slot (2048 bytes) is answered for the hashes that fit, not dropped', async () => {
    const c = await udpClient();
    const hashes = Array.from({ length: 150 }, () => randomId20());
    // One of the hashes that fit has a peer, so the answer is checked, not just its length.
    await c.announceOk({ infoHash: hashes[3], peerId: randomId20(), port: 41001, left: 0 });
    const conn = await c.connectionId();
    const tid = newTransactionId();
    const packet = c.scrapePacket(hashes, conn, tid);
    assert.ok(packet.length > 2048, `the scrape is ${packet.length} bytes`);
    const reply = c.parse(await c.request(packet, tid, 3000, 'a reply to a 3016-byte scrape'));
    assert.equal(reply.type, 'scrape');
    if (reply.type !== 'scrape') return;
    // The first 2048 bytes hold 101 whole hashes.
    assert.equal(reply.stats.length, Math.floor((2048 - 16) / 20));
    assert.deepEqual(reply.stats[3], { complete: 1, incomplete: 0, downloaded: 0 });
    assert.deepEqual(reply.stats[4], { complete: 0, incomplete: 0, downloaded: 0 });

    // The same packet with a connection id the tracker never issued stays silent (no amplification).
    const forged = c.scrapePacket(hashes, { high: conn.high ^ 1, low: conn.low }, newTransactionId());
    await c.sendExpectingSilence(forged);
  });

  it('a UDP announce with event 4 (BEP 21 partial seed, libtorrent\'s "paused") is served like any announce', async () => {
    const c = await udpClient();
    const other = await udpClient();
    const infoHash = randomId20();
    await other.announceOk({ infoHash, peerId: randomId20(), port: 41101, left: 0 });
    const conn = await c.connectionId();
    const tid = newTransactionId();
    const packet = c.announcePacket({ infoHash, peerId: randomId20(), port: 41102, left: 5000 }, conn, tid);
    packet.writeUInt32BE(4, 80);
    const reply = c.parse(await c.request(packet, tid));
    assert.equal(reply.type, 'announce', `got ${JSON.stringify(reply)}`);
    if (reply.type !== 'announce') return;
    assert.deepEqual(decodeCompactPeers(reply.peers, 6), [{ ip: '127.0.0.1', port: 41101 }]);
    assert.equal(reply.leechers, 1, 'the partial seed counts as a peer of the torrent');
    // Positive control: an event the protocol does not define is still an error.
    const bad = c.announcePacket({ infoHash, peerId: randomId20(), port: 41103 }, conn, newTransactionId());
    bad.writeUInt32BE(5, 80);
    const refused = c.parse(await c.request(bad, bad.readUInt32BE(12)));
    assert.equal(refused.type, 'error');
  });

  it('an HTTP announce carrying Sec-WebSocket-Key without Upgrade is an announce; with Upgrade: websocket it is a WebSocket', async () => {
    const infoHash = randomId20();
    const c = await httpConnection();
    const res = await c.get(announceTarget(infoHash, 41201), { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' });
    assert.equal(res.status, 200);
    assert.deepEqual(peersOf(res.body), []);
    const second = await (await httpConnection()).get(announceTarget(infoHash, 41202));
    assert.deepEqual(peersOf(second.body), [{ ip: '127.0.0.1', port: 41201 }], 'the first request was stored as a peer');

    // Positive control: a real upgrade on /announce still reaches the WebSocket route.
    const ws = await httpConnection();
    await ws.write(
      ws.requestBytes('/announce', {
        Upgrade: 'websocket',
        Connection: 'Upgrade',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version': '13',
      }),
    );
    const upgraded = await ws.readResponse(3000);
    assert.equal(upgraded.status, 101);
  });

  it('behind a trusted proxy every X-Forwarded-For line counts: the proxy\'s own last line wins over a forged first line', async () => {
    const infoHash = randomId20();
    const proxy = await httpConnection();
    // HAProxy `option forwardfor` style: the client's forged line, then the proxy's own line.
    const raw =
      `GET ${announceTarget(infoHash, 41301)} HTTP/1.1\r\nHost: tracker\r\n` +
      `X-Forwarded-For: 198.51.100.66\r\nUser-Agent: test\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n`;
    await proxy.write(raw);
    assert.equal((await proxy.readResponse(3000)).status, 200);

    // An unusable address from the proxy is never stored: the socket address is used instead.
    const multicast = await httpConnection();
    assert.equal((await multicast.get(announceTarget(infoHash, 41302), { 'X-Forwarded-For': '224.0.0.1' })).status, 200);

    const observer = await httpConnection();
    const peers = peersOf((await observer.get(announceTarget(infoHash, 41303))).body).sort((a, b) => a.port - b.port);
    assert.deepEqual(peers, [
      { ip: '203.0.113.7', port: 41301 },
      { ip: '127.0.0.1', port: 41302 },
    ]);
  });
});
