/**
 * HTTP announce/scrape (BEP 3, 7, 23, 48) over real sockets against a real
 * tracker process. Replies are decoded with the npm `bencode` package.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { buildAnnounceQuery, buildScrapeQuery, parseScrapeReply, type HttpAnnounceQueryParams } from '../../lib/protocol/http/client.js';
import {
  AnnounceEvent,
  RawHttpConnection,
  asBytes,
  asciiId20,
  bdecodeDict,
  bytesToText,
  decodeCompactPeers,
  httpGet,
  launchTracker,
  randomId20,
  toHex,
  type Endpoint,
  type LaunchedTracker,
  type Loopback,
  type RawHttpResponse,
} from '../support/integration-helpers.js';

const INTERVAL = 1500;
const MIN_INTERVAL = 700;
const MAX_QUERY = 1024;

function announceTarget(p: Partial<HttpAnnounceQueryParams> & { infoHash: string; port: number }): string {
  return `/announce?${buildAnnounceQuery({ peerId: randomId20(), left: 100, ...p })}`;
}

/** Asserts a well-formed bencoded failure with status 200 and returns its reason. */
function assertFailure(res: RawHttpResponse, what: string): string {
  assert.equal(res.status, 200, `${what}: status`);
  const text = res.body.toString('latin1');
  assert.ok(text.startsWith('d14:failure reason'), `${what}: body should be a bencoded failure, got ${JSON.stringify(text.slice(0, 120))}`);
  assert.ok(text.endsWith('e'), `${what}: body ends the dictionary`);
  const dict = bdecodeDict(res.body);
  const reason = bytesToText(dict['failure reason']);
  assert.ok(reason.length > 0, `${what}: failure reason is not empty`);
  assert.deepEqual(Object.keys(dict), ['failure reason'], `${what}: only the failure reason`);
  return reason;
}

function failureReason(dict: Record<string, unknown>): string | undefined {
  return dict['failure reason'] === undefined ? undefined : bytesToText(dict['failure reason']);
}

function compactPeers(dict: Record<string, unknown>, key: 'peers' | 'peers6'): Endpoint[] {
  const value = dict[key];
  if (value === undefined) return [];
  return decodeCompactPeers(asBytes(value), key === 'peers' ? 6 : 18);
}

function dictPeers(dict: Record<string, unknown>): Endpoint[] {
  const list = dict['peers'];
  assert.ok(Array.isArray(list), 'non-compact peers is a list');
  return list.map((item: unknown) => {
    const d = item as Record<string, unknown>;
    assert.ok(d && typeof d === 'object', 'each peer is a dictionary');
    assert.equal(typeof d['port'], 'number', 'peer port is an integer');
    return { ip: bytesToText(d['ip']), port: d['port'] as number };
  });
}

describe('HTTP tracker', () => {
  let tracker: LaunchedTracker;

  async function announce(host: Loopback, p: Partial<HttpAnnounceQueryParams> & { infoHash: string; port: number }, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
    const res = await httpGet(host, tracker.httpPort, announceTarget(p), headers);
    assert.equal(res.status, 200);
    const dict = bdecodeDict(res.body);
    assert.equal(failureReason(dict), undefined, 'unexpected failure');
    return dict;
  }

  before(async () => {
    tracker = await launchTracker([
      `--announce.intervalSeconds=${INTERVAL}`,
      `--announce.minIntervalSeconds=${MIN_INTERVAL}`,
      '--announce.intervalJitterSeconds=0',
      `--http.maxQueryBytes=${MAX_QUERY}`,
      // Every client here is 127.0.0.1: "many clients" means many ports of one address.
      '--store.maxPeersPerAddressPerTorrent=1024',
    ]);
  });

  after(async () => {
    await tracker?.stop();
  });

  it('compact announce replies decode with bencode; peers see each other, never themselves', async () => {
    const infoHash = randomId20();
    const first = await announce('127.0.0.1', { infoHash, port: 50001, event: AnnounceEvent.Started });
    assert.equal(first['interval'], INTERVAL);
    assert.equal(first['min interval'], MIN_INTERVAL);
    assert.equal(first['complete'], 0);
    assert.equal(first['incomplete'], 1);
    assert.ok(ArrayBuffer.isView(first['peers']), 'compact peers is a byte string');
    assert.deepEqual(compactPeers(first, 'peers'), []);

    const second = await announce('127.0.0.1', { infoHash, port: 50002, left: 0, event: AnnounceEvent.Started });
    assert.equal(second['complete'], 1);
    assert.equal(second['incomplete'], 1);
    assert.equal(asBytes(second['peers']).length, 6);
    assert.deepEqual(compactPeers(second, 'peers'), [{ ip: '127.0.0.1', port: 50001 }]);

    const third = await announce('127.0.0.1', { infoHash, port: 50001 });
    assert.deepEqual(compactPeers(third, 'peers'), [{ ip: '127.0.0.1', port: 50002 }]);
  });

  it('compact=0 gives a list of {ip, port} dictionaries', async () => {
    const infoHash = randomId20();
    await announce('127.0.0.1', { infoHash, port: 50101 });
    await announce('127.0.0.1', { infoHash, port: 50102 });
    const dict = await announce('127.0.0.1', { infoHash, port: 50103, compact: false, noPeerId: true });
    const peers = dictPeers(dict).sort((a, b) => a.port - b.port);
    assert.deepEqual(peers, [
      { ip: '127.0.0.1', port: 50101 },
      { ip: '127.0.0.1', port: 50102 },
    ]);
    assert.equal(dict['incomplete'], 3);
  });

  it('a client over [::1] gets IPv6 peers in peers6 (18-byte entries) and no IPv4 peers', async () => {
    const infoHash = randomId20();
    await announce('127.0.0.1', { infoHash, port: 50201 });
    const a = await announce('::1', { infoHash, port: 50202 });
    assert.deepEqual(compactPeers(a, 'peers'), []);
    assert.deepEqual(compactPeers(a, 'peers6'), []);

    const b = await announce('::1', { infoHash, port: 50203 });
    assert.equal(asBytes(b['peers6']).length, 18);
    assert.deepEqual(compactPeers(b, 'peers6'), [{ ip: '::1', port: 50202 }]);
    assert.deepEqual(compactPeers(b, 'peers'), [], 'no IPv4 peers for an IPv6 client');

    const dictModel = await announce('::1', { infoHash, port: 50204, compact: false });
    assert.deepEqual(
      dictPeers(dictModel).sort((x, y) => x.port - y.port),
      [
        { ip: '::1', port: 50202 },
        { ip: '::1', port: 50203 },
      ],
    );

    const v4 = await announce('127.0.0.1', { infoHash, port: 50201 });
    assert.deepEqual(compactPeers(v4, 'peers'), [], 'an IPv4 client gets no IPv6 peers and not itself');
    assert.deepEqual(compactPeers(v4, 'peers6'), []);
  });

  it('scrape: files keyed by the raw 20-byte hash with complete/incomplete/downloaded', async () => {
    // One hash that is not valid UTF-8 (the decoder then shows the key as hex) and one ASCII hash.
    const binary = '\xff\xfe' + randomId20().slice(2);
    const ascii = asciiId20('scrape-');
    const unknown = asciiId20('unknown-');
    const leecher = randomId20();
    await announce('127.0.0.1', { infoHash: binary, port: 50301, left: 10 });
    await announce('127.0.0.1', { infoHash: binary, peerId: leecher, port: 50302, left: 10, event: AnnounceEvent.Started });
    await announce('127.0.0.1', { infoHash: binary, peerId: leecher, port: 50302, left: 0, event: AnnounceEvent.Completed });
    await announce('127.0.0.1', { infoHash: ascii, port: 50303, left: 0 });

    const res = await httpGet('127.0.0.1', tracker.httpPort, `/scrape?${buildScrapeQuery([binary, ascii, unknown])}`);
    assert.equal(res.status, 200);
    // The raw bytes of each hash appear as a 20-byte bencoded key.
    assert.ok(res.body.includes(Buffer.from(`20:${binary}d`, 'latin1')), 'raw 20-byte key for the binary hash');
    assert.ok(res.body.includes(Buffer.from(`20:${ascii}d`, 'latin1')), 'raw 20-byte key for the ASCII hash');

    const dict = bdecodeDict(res.body);
    const files = dict['files'] as Record<string, Record<string, unknown>>;
    assert.ok(files && typeof files === 'object');
    assert.deepEqual(Object.keys(files).sort(), [toHex(binary), ascii, unknown].sort());
    const plain = (v: Record<string, unknown>): Record<string, unknown> => ({ complete: v['complete'], incomplete: v['incomplete'], downloaded: v['downloaded'] });
    assert.deepEqual(plain(files[toHex(binary)]), { complete: 1, incomplete: 1, downloaded: 1 });
    assert.deepEqual(plain(files[ascii]), { complete: 1, incomplete: 0, downloaded: 0 });
    assert.deepEqual(plain(files[unknown]), { complete: 0, incomplete: 0, downloaded: 0 });

    // The project's own client decoder agrees, keyed by the binary hash.
    const own = parseScrapeReply(res.body);
    assert.equal(own.type, 'scrape');
    assert.deepEqual(own.type === 'scrape' && own.files.get(binary), { complete: 1, incomplete: 1, downloaded: 1 });
  });

  it('failures are `d14:failure reason…e` with status 200, and the connection stays usable', async () => {
    const pid = 'p'.repeat(20);
    const ih = 'h'.repeat(20);
    const garbage = Array.from(randomBytes(2048), (b) => String.fromCharCode(0x21 + (b % 94)))
      .join('')
      .replace(/#/g, '!');
    const cases: Array<[string, string, RegExp?]> = [
      ['missing info_hash', `/announce?peer_id=${pid}&port=1&left=0`, /info_hash/],
      ['empty query', '/announce', /info_hash/],
      ['19-byte info_hash', `/announce?info_hash=${'a'.repeat(19)}&peer_id=${pid}&port=1&left=0`, /info_hash/],
      ['21-byte info_hash', `/announce?info_hash=${'%61'.repeat(21)}&peer_id=${pid}&port=1&left=0`, /info_hash/],
      ['bad escape %G1', `/announce?info_hash=%G1${'a'.repeat(17)}&peer_id=${pid}&port=1&left=0`, /info_hash/],
      ['trailing %', `/announce?info_hash=${'a'.repeat(19)}%&peer_id=${pid}&port=1&left=0`, /info_hash/],
      ['bad escape in peer_id', `/announce?info_hash=${ih}&peer_id=%ZZ${'a'.repeat(17)}&port=1&left=0`, /peer_id/],
      ['port 0', `/announce?info_hash=${ih}&peer_id=${pid}&port=0&left=0`, /port/],
      ['port missing', `/announce?info_hash=${ih}&peer_id=${pid}&left=0`, /port/],
      ['port 65536', `/announce?info_hash=${ih}&peer_id=${pid}&port=65536&left=0`, /port/],
      ['port not a number', `/announce?info_hash=${ih}&peer_id=${pid}&port=abc&left=0`, /port/],
      ['2 KB of garbage', `/announce?${garbage}`],
      ['query longer than http.maxQueryBytes', `${announceTarget({ infoHash: randomId20(), port: 1 })}&pad=${'x'.repeat(MAX_QUERY)}`],
      ['scrape without info_hash', '/scrape', /full scrape/],
      ['scrape with a 19-byte info_hash', `/scrape?info_hash=${'a'.repeat(19)}`, /info_hash/],
      ['scrape with a bad escape', `/scrape?info_hash=%G1${'a'.repeat(17)}`, /info_hash/],
      ['scrape longer than http.maxQueryBytes', `/scrape?${buildScrapeQuery(Array.from({ length: 30 }, () => randomId20()))}`],
    ];
    const conn = await RawHttpConnection.open('127.0.0.1', tracker.httpPort);
    try {
      for (const [name, target, pattern] of cases) {
        const res = await conn.get(target);
        const reason = assertFailure(res, name);
        if (pattern) assert.match(reason, pattern, `${name}: reason ${JSON.stringify(reason)}`);
      }
      // The same connection still serves a valid request.
      const ok = await conn.get(announceTarget({ infoHash: randomId20(), port: 50401 }));
      assert.equal(ok.status, 200);
      assert.equal(bdecodeDict(ok.body)['interval'], INTERVAL);
    } finally {
      conn.close();
    }
  });

  it('raw ASCII and %XX mix in info_hash/peer_id and decode to the same 20 bytes', async () => {
    const infoHash = asciiId20('mix');
    const mixed = infoHash
      .split('')
      .map((ch, i) => (i % 2 === 0 ? `%${ch.charCodeAt(0).toString(16).padStart(2, '0')}` : ch))
      .join('');
    const res = await httpGet('127.0.0.1', tracker.httpPort, `/announce?info_hash=${mixed}&peer_id=${asciiId20()}&port=50501&left=3`);
    assert.equal(failureReason(bdecodeDict(res.body)), undefined);
    const other = await announce('127.0.0.1', { infoHash, port: 50502 });
    assert.deepEqual(compactPeers(other, 'peers'), [{ ip: '127.0.0.1', port: 50501 }]);
  });

  it('numwant limits the peer list; event=paused and unknown parameters are accepted', async () => {
    const infoHash = randomId20();
    for (let i = 0; i < 5; i++) await announce('127.0.0.1', { infoHash, port: 50600 + i });
    const two = await announce('127.0.0.1', { infoHash, port: 50610, numwant: 2 });
    assert.equal(compactPeers(two, 'peers').length, 2);
    const res = await httpGet('127.0.0.1', tracker.httpPort, `${announceTarget({ infoHash, port: 50611 })}&event=paused&supportcrypto=1&corrupt=0&key=abc`);
    const dict = bdecodeDict(res.body);
    assert.equal(failureReason(dict), undefined);
    assert.equal(compactPeers(dict, 'peers').length, 6);
  });

  it('a query just under http.maxQueryBytes is still served', async () => {
    const base = announceTarget({ infoHash: randomId20(), port: 50402 });
    const padLength = MAX_QUERY - (base.length - '/announce?'.length) - '&pad='.length - 8;
    const res = await httpGet('127.0.0.1', tracker.httpPort, `${base}&pad=${'x'.repeat(padLength)}`);
    assert.equal(res.status, 200);
    assert.equal(bdecodeDict(res.body)['interval'], INTERVAL);
  });

  it('unknown paths get 404', async () => {
    for (const target of ['/', '/nope', '/announce/extra', '/Announce', '/scrape/x', '/metrics']) {
      const res = await httpGet('127.0.0.1', tracker.httpPort, target);
      assert.equal(res.status, 404, target);
    }
  });

  it('keep-alive: many requests on one connection', async () => {
    const conn = await RawHttpConnection.open('127.0.0.1', tracker.httpPort);
    try {
      const infoHash = randomId20();
      for (let i = 0; i < 150; i++) {
        const target = i % 3 === 2 ? `/scrape?${buildScrapeQuery([infoHash])}` : announceTarget({ infoHash, port: 51000 + i });
        const res = await conn.get(target);
        assert.equal(res.status, 200, `request ${i}`);
        assert.notEqual((res.headers['connection'] ?? '').toLowerCase(), 'close', `request ${i} asked to close`);
        assert.equal(failureReason(bdecodeDict(res.body)), undefined, `request ${i}`);
      }
      assert.equal(conn.closed, false, 'the connection is still open');
    } finally {
      conn.close();
    }
  });

  it('pipelined: 3 announces in one TCP write are all answered, in order', async () => {
    const infoHash = randomId20();
    const conn = await RawHttpConnection.open('127.0.0.1', tracker.httpPort);
    try {
      const ports = [52001, 52002, 52003];
      await conn.write(ports.map((port) => conn.requestBytes(announceTarget({ infoHash, port }))).join(''));
      const replies = [await conn.readResponse(), await conn.readResponse(), await conn.readResponse()];
      const dicts = replies.map((r) => {
        assert.equal(r.status, 200);
        return bdecodeDict(r.body);
      });
      assert.deepEqual(
        dicts.map((d) => d['incomplete']),
        [1, 2, 3],
      );
      assert.deepEqual(
        dicts.map((d) => compactPeers(d, 'peers').map((p) => p.port).sort()),
        [[], [52001], [52001, 52002]],
      );

      // A failure in the middle keeps its place too.
      await conn.write(
        conn.requestBytes(announceTarget({ infoHash, port: 52004 })) +
          conn.requestBytes('/announce?info_hash=short') +
          conn.requestBytes(`/scrape?${buildScrapeQuery([infoHash])}`),
      );
      const [ok, failure, scrape] = [await conn.readResponse(), await conn.readResponse(), await conn.readResponse()];
      assert.equal(bdecodeDict(ok.body)['incomplete'], 4);
      assertFailure(failure, 'pipelined failure');
      const files = bdecodeDict(scrape.body)['files'] as Record<string, Record<string, unknown>>;
      assert.equal(Object.values(files)[0]['incomplete'], 4);
    } finally {
      conn.close();
    }
  });

  it('X-Forwarded-For is ignored without trusted proxies', async () => {
    const infoHash = randomId20();
    await announce('127.0.0.1', { infoHash, port: 53001 }, { 'X-Forwarded-For': '10.20.30.40' });
    await announce('127.0.0.1', { infoHash, port: 53002 }, { 'x-forwarded-for': '2001:db8::7' });
    const other = await announce('127.0.0.1', { infoHash, port: 53003 });
    assert.deepEqual(
      compactPeers(other, 'peers').sort((a, b) => a.port - b.port),
      [
        { ip: '127.0.0.1', port: 53001 },
        { ip: '127.0.0.1', port: 53002 },
      ],
    );
  });

  it('raw (unescaped) non-ASCII bytes in info_hash are bytes, not UTF-8 text', async () => {
    // PROTOCOLS.md: raw bytes and %XX mix; decoding must give exactly 20 bytes; never UTF-8.
    const pid = 'r'.repeat(20);
    const raw20 = '\xc3\xa9' + asciiId20().slice(2); // 20 bytes on the wire (that happen to be valid UTF-8)
    const res = await httpGet('127.0.0.1', tracker.httpPort, `/announce?info_hash=${raw20}&peer_id=${pid}&port=54001&left=5`);
    assert.equal(failureReason(bdecodeDict(res.body)), undefined, 'a 20-byte raw info_hash must be accepted');
    const scrape = parseScrapeReply((await httpGet('127.0.0.1', tracker.httpPort, `/scrape?${buildScrapeQuery([raw20])}`)).body);
    assert.deepEqual(scrape.type === 'scrape' && scrape.files.get(raw20), { complete: 0, incomplete: 1, downloaded: 0 }, 'stored under the exact 20 bytes sent');
  });

  it('raw bytes that are not valid UTF-8 are either kept exactly or refused, never stored under another hash', async () => {
    const pid = 'q'.repeat(20);
    const raw20 = '\xe9\xff' + asciiId20().slice(2);
    const res = await httpGet('127.0.0.1', tracker.httpPort, `/announce?info_hash=${raw20}&peer_id=${pid}&port=54003&left=5`);
    const reason = failureReason(bdecodeDict(res.body));
    const scrape = parseScrapeReply((await httpGet('127.0.0.1', tracker.httpPort, `/scrape?${buildScrapeQuery([raw20])}`)).body);
    const stats = scrape.type === 'scrape' ? scrape.files.get(raw20) : undefined;
    if (reason === undefined) assert.deepEqual(stats, { complete: 0, incomplete: 1, downloaded: 0 }, 'accepted: stored under the exact bytes');
    else {
      assert.match(reason, /percent-encode|info_hash|bytes/, 'refused with a reason that helps the client');
      assert.deepEqual(stats, { complete: 0, incomplete: 0, downloaded: 0 });
    }
  });

  it('a 21-byte raw info_hash that happens to be valid UTF-8 is rejected, not shortened to 20', async () => {
    const pid = 's'.repeat(20);
    const tail = asciiId20().slice(1);
    const raw21 = '\xc3\xa9' + tail; // 21 bytes on the wire; as UTF-8 text it is 20 characters
    const res = await httpGet('127.0.0.1', tracker.httpPort, `/announce?info_hash=${raw21}&peer_id=${pid}&port=54002&left=5`);
    const shortened = '\xe9' + tail;
    const scrape = parseScrapeReply((await httpGet('127.0.0.1', tracker.httpPort, `/scrape?${buildScrapeQuery([shortened])}`)).body);
    assert.deepEqual(scrape.type === 'scrape' && scrape.files.get(shortened), { complete: 0, incomplete: 0, downloaded: 0 }, 'no peer was stored under a different hash');
    assertFailure(res, '21-byte raw info_hash');
  });

  // uWebSockets.js 20.30 (the build that runs on glibc 2.36) neither answers
  // nor closes on a request it cannot parse, and ignores HTTP/1.0 requests;
  // it drops such connections at its fixed 10 s HTTP idle timeout (counted in
  // 4 s ticks). The test pins that they are dropped, not held forever (a
  // generous 25 s bound), and that the tracker keeps serving everyone else.
  it('malformed requests are closed by the 10 s idle timeout and never block other clients', async () => {
    const cases: Record<string, string> = {
      'space inside the target': 'GET /announce?info_hash=a b HTTP/1.1\r\nHost: x\r\n\r\n',
      'no HTTP version': 'GET /announce\r\nHost: x\r\n\r\n',
      'header line without a colon': 'GET /announce HTTP/1.1\r\nHost x\r\n\r\n',
      'HTTP/1.1 without Host': 'GET /announce HTTP/1.1\r\n\r\n',
      'not HTTP at all': 'HELLO\r\n\r\n',
      'NUL byte in the target': 'GET /announce?\x00 HTTP/1.1\r\nHost: x\r\n\r\n',
      'HTTP/1.0': 'GET /announce HTTP/1.0\r\nHost: x\r\n\r\n',
    };
    // Every malformed request is on the wire before the valid client asks, so it is served while they linger.
    const written = Object.entries(cases).map(async ([name, bytes]) => {
      const conn = await RawHttpConnection.open('127.0.0.1', tracker.httpPort);
      await conn.write(bytes);
      return [name, conn] as const;
    });
    const lingering = await Promise.all(written);
    const res = await httpGet('127.0.0.1', tracker.httpPort, announceTarget({ infoHash: randomId20(), port: 54101 }));
    assert.equal(res.status, 200, 'a valid client is served while malformed connections linger');
    const outcomes = await Promise.all(
      lingering.map(async ([name, conn]) => {
        try {
          const outcome = await conn.readResponse(25_000).then(
            (r) => `status ${r.status}`,
            () => (conn.closed ? 'closed' : 'no response'),
          );
          return [name, outcome] as const;
        } finally {
          conn.close();
        }
      }),
    );
    const hung = outcomes.filter(([, outcome]) => !(outcome === 'closed' || /^status 4\d\d$/.test(outcome)));
    assert.deepEqual(hung, [], 'requests left hanging (no response and the connection still open after 25 s)');
  });
});

describe('HTTP tracker behind a trusted proxy (--http.trustedProxies=127.0.0.1/32)', () => {
  let tracker: LaunchedTracker;

  async function announce(host: Loopback, p: Partial<HttpAnnounceQueryParams> & { infoHash: string; port: number }, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
    const res = await httpGet(host, tracker.httpPort, announceTarget(p), headers);
    assert.equal(res.status, 200);
    return bdecodeDict(res.body);
  }

  before(async () => {
    tracker = await launchTracker(['--http.trustedProxies=127.0.0.1/32']);
  });

  after(async () => {
    await tracker?.stop();
  });

  it('the forwarded address is what other peers see', async () => {
    const infoHash = randomId20();
    await announce('127.0.0.1', { infoHash, port: 55001 }, { 'X-Forwarded-For': '10.20.30.40' });
    await announce('127.0.0.1', { infoHash, port: 55002 }, { 'X-FORWARDED-FOR': '192.0.2.9, 127.0.0.1' });
    await announce('127.0.0.1', { infoHash, port: 55003 }); // no header: the socket address
    const other = await announce('127.0.0.1', { infoHash, port: 55004 });
    assert.deepEqual(
      compactPeers(other, 'peers').sort((a, b) => a.port - b.port),
      [
        { ip: '10.20.30.40', port: 55001 },
        { ip: '192.0.2.9', port: 55002 },
        { ip: '127.0.0.1', port: 55003 },
      ],
    );
  });

  it('an IPv6 forwarded address lands in peers6 for IPv6 clients', async () => {
    const infoHash = randomId20();
    await announce('127.0.0.1', { infoHash, port: 55101 }, { 'X-Forwarded-For': '2001:db8::42' });
    const v6 = await announce('::1', { infoHash, port: 55102 });
    assert.deepEqual(compactPeers(v6, 'peers6'), [{ ip: '2001:db8::42', port: 55101 }]);
  });

  it('the header is ignored from a peer outside the trusted list (::1)', async () => {
    const infoHash = randomId20();
    await announce('::1', { infoHash, port: 55201 }, { 'X-Forwarded-For': '10.1.1.1' });
    const v4 = await announce('127.0.0.1', { infoHash, port: 55202 });
    assert.deepEqual(compactPeers(v4, 'peers'), [], '10.1.1.1 must not appear');
    const v6 = await announce('::1', { infoHash, port: 55203 });
    assert.deepEqual(compactPeers(v6, 'peers6'), [{ ip: '::1', port: 55201 }]);
  });

  it('a garbage header falls back to the socket address', async () => {
    const infoHash = randomId20();
    const res = await announce('127.0.0.1', { infoHash, port: 55301 }, { 'X-Forwarded-For': 'not an address' });
    assert.equal(failureReason(res), undefined);
    const other = await announce('127.0.0.1', { infoHash, port: 55302 });
    assert.deepEqual(compactPeers(other, 'peers'), [{ ip: '127.0.0.1', port: 55301 }]);
  });
});
