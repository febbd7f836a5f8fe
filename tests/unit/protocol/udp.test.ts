import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import {
  UDP_ACTION_ANNOUNCE,
  UDP_ACTION_CONNECT,
  UDP_ACTION_ERROR,
  UDP_ACTION_SCRAPE,
  UDP_MAX_SCRAPE_HASHES,
  UDP_PROTOCOL_ID_HIGH,
  UDP_PROTOCOL_ID_LOW,
  UDP_SAFE_PAYLOAD,
  maxPeersForDatagram,
  maxScrapeHashesForDatagram,
  parseUdpRequest,
  scrapeReplyLength,
  writeAnnounceReply,
  writeConnectReply,
  writeErrorReply,
  writeScrapeReply,
  type UdpAnnounceRequest,
  type UdpRequest,
} from '../../../lib/protocol/udp/server.js';
import {
  parseUdpReply,
  writeAnnounceRequest,
  writeConnectRequest,
  writeScrapeRequest,
  type UdpAnnounceRequestParams,
  type UdpReply,
} from '../../../lib/protocol/udp/client.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { NO_PARAMS } from '../../../lib/tracker/params.js';
import { int, printSeed, randomBinary, randomBytes, rngFor, where } from '../../support/seeded-random.js';

// ---------------------------------------------------------------- seeded PRNG (set PROTOCOL_TEST_SEED to reproduce)

// ---------------------------------------------------------------- fixtures

const HASH_A = Buffer.from('c12fe1c06bba254a9dc9f519b335aa7c1367a88a', 'hex').toString('latin1');
const HASH_B = Buffer.from('ffeeddccbbaa99887766554433221100fedcba98', 'hex').toString('latin1');
const PEER_ID = '-qB4650-' + Buffer.from([0x80, 0x81, 0xfe, 0xff, 0, 1, 2, 3, 4, 5, 6, 7]).toString('latin1');

function announceParams(over: Partial<UdpAnnounceRequestParams> = {}): UdpAnnounceRequestParams {
  return {
    connectionIdHigh: 0xdeadbeef,
    connectionIdLow: 0x01020304,
    transactionId: 0xfedcba98,
    infoHash: HASH_A,
    peerId: PEER_ID,
    downloaded: 12345,
    left: 2 ** 40 + 7,
    uploaded: 0,
    event: AnnounceEvent.Started,
    key: 0xcafebabe,
    numwant: -1,
    port: 6881,
    ...over,
  };
}

function encodeAnnounce(over: Partial<UdpAnnounceRequestParams> = {}): Buffer {
  const buf = Buffer.alloc(2048);
  const n = writeAnnounceRequest(buf, announceParams(over));
  return buf.subarray(0, n);
}

function validRequests(): Buffer[] {
  const out: Buffer[] = [];
  const b = Buffer.alloc(2048);
  out.push(Buffer.from(b.subarray(0, writeConnectRequest(b, 0x11223344))));
  out.push(Buffer.from(encodeAnnounce()));
  out.push(Buffer.from(encodeAnnounce({ options: Buffer.from([0x02, 0x05, 0x2f, 0x61, 0x6e, 0x6e, 0x6f, 0x00, 0x01]) })));
  out.push(Buffer.from(b.subarray(0, writeScrapeRequest(b, 1, 2, 3, [HASH_A, HASH_B, HASH_A]))));
  return out;
}

function validReplies(): Buffer[] {
  const out: Buffer[] = [];
  const b = Buffer.alloc(2048);
  out.push(Buffer.from(b.subarray(0, writeConnectReply(b, 1, 2, 3))));
  out.push(Buffer.from(b.subarray(0, writeAnnounceReply(b, 9, 1800, 3, 4, Buffer.alloc(36, 7)))));
  out.push(Buffer.from(b.subarray(0, writeScrapeReply(b, 9, [{ complete: 1, incomplete: 2, downloaded: 3 }]))));
  out.push(Buffer.from(b.subarray(0, writeErrorReply(b, 9, 'bad things'))));
  return out;
}

const REQUEST_TYPES = new Set(['connect', 'announce', 'scrape', 'invalid']);
const REPLY_TYPES = new Set(['connect', 'announce', 'scrape', 'error', 'invalid']);

/** Structural invariants every parse result must satisfy. */
function checkRequest(r: UdpRequest, len: number, max: number, ctx: string): void {
  assert.ok(REQUEST_TYPES.has(r.type), ctx);
  switch (r.type) {
    case 'announce':
      assert.ok(len >= 98, ctx);
      assert.equal(r.infoHash.length, 20, ctx);
      assert.equal(r.peerId.length, 20, ctx);
      for (const v of [r.downloaded, r.left, r.uploaded]) assert.ok(Number.isSafeInteger(v) && v >= 0, ctx);
      assert.ok(r.event >= 0 && r.event <= 3, ctx);
      assert.ok(r.port >= 1 && r.port <= 65535, ctx);
      assert.ok(Number.isInteger(r.numwant) && r.numwant >= -(2 ** 31) && r.numwant < 2 ** 31, ctx);
      for (const v of [r.connectionIdHigh, r.connectionIdLow, r.transactionId, r.key, r.ip]) {
        assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffffffff, ctx);
      }
      break;
    case 'scrape':
      assert.ok(r.infoHashes.length <= max, ctx);
      assert.equal(r.infoHashes.length + (r.truncated ? 1 : 0) <= Math.floor((len - 16) / 20), true, ctx);
      for (const h of r.infoHashes) assert.equal(h.length, 20, ctx);
      break;
    case 'invalid':
      assert.equal(typeof r.reason, 'string', ctx);
      assert.equal(r.transactionId !== undefined, len >= 16, ctx);
      break;
    case 'connect':
      assert.ok(len >= 16, ctx);
  }
}

function checkReply(r: UdpReply, ctx: string): void {
  assert.ok(REPLY_TYPES.has(r.type), ctx);
  if (r.type === 'announce') assert.ok(Number.isInteger(r.peerCount) && r.peers.length % 6 === 0, ctx);
}

// ---------------------------------------------------------------- constants and sizes

test('protocol constants match BEP 15', () => {
  assert.equal(UDP_PROTOCOL_ID_HIGH * 2 ** 32 + UDP_PROTOCOL_ID_LOW, 0x41727101980);
  assert.deepEqual([UDP_ACTION_CONNECT, UDP_ACTION_ANNOUNCE, UDP_ACTION_SCRAPE, UDP_ACTION_ERROR], [0, 1, 2, 3]);
  assert.equal(UDP_MAX_SCRAPE_HASHES, 74);
  assert.ok(16 + 20 * UDP_MAX_SCRAPE_HASHES <= 1500);
});

test('maxScrapeHashesForDatagram keeps the scrape reply within the limit', () => {
  for (const limit of [0, 7, 8, 19, 20, 512, 1452, 1472, 65507]) {
    const n = maxScrapeHashesForDatagram(limit);
    assert.ok(n >= 0);
    if (n > 0) assert.ok(scrapeReplyLength(n) <= limit);
    assert.ok(scrapeReplyLength(n + 1) > limit);
  }
  assert.equal(maxScrapeHashesForDatagram(UDP_SAFE_PAYLOAD), 120);
  assert.ok(maxScrapeHashesForDatagram(UDP_SAFE_PAYLOAD) >= UDP_MAX_SCRAPE_HASHES);
  assert.equal(maxPeersForDatagram(1452, 6), 238);
  assert.equal(maxPeersForDatagram(1452, 18), 79);
  assert.equal(maxPeersForDatagram(3, 6), 0);
});

// ---------------------------------------------------------------- round trips: client writer -> server parser

test('connect request round trip', () => {
  const b = Buffer.alloc(16);
  assert.equal(writeConnectRequest(b, 0x89abcdef), 16);
  assert.equal(b.toString('hex'), '0000041727101980' + '00000000' + '89abcdef');
  assert.deepEqual(parseUdpRequest(b, 74), { type: 'connect', transactionId: 0x89abcdef });
  // Extra bytes after a connect are ignored.
  assert.equal(parseUdpRequest(Buffer.concat([b, Buffer.from([1, 2, 3])]), 74).type, 'connect');
});

test('announce request round trip (all fields, binary ids)', () => {
  const msg = encodeAnnounce({ ip: 0x7f000001, numwant: 50, event: AnnounceEvent.Completed, port: 65535 });
  assert.equal(msg.length, 98);
  const r = parseUdpRequest(msg, 74);
  assert.equal(r.type, 'announce');
  if (r.type !== 'announce') return;
  assert.deepEqual(r, {
    type: 'announce',
    connectionIdHigh: 0xdeadbeef,
    connectionIdLow: 0x01020304,
    transactionId: 0xfedcba98,
    infoHash: HASH_A,
    peerId: PEER_ID,
    downloaded: 12345,
    left: 2 ** 40 + 7,
    uploaded: 0,
    event: AnnounceEvent.Completed,
    ip: 0x7f000001,
    key: 0xcafebabe,
    numwant: 50,
    port: 65535,
    params: NO_PARAMS,
  });
  assert.deepEqual(Buffer.from(r.infoHash, 'latin1'), msg.subarray(16, 36));
});

test('announce: every event value and signed numwant', () => {
  for (const event of [0, 1, 2, 3] as const) {
    const r = parseUdpRequest(encodeAnnounce({ event, numwant: -1 }), 74);
    assert.equal(r.type === 'announce' && r.event, event);
    assert.equal(r.type === 'announce' && r.numwant, -1);
  }
  const r = parseUdpRequest(encodeAnnounce({ numwant: -(2 ** 31) }), 74);
  assert.equal(r.type === 'announce' && r.numwant, -(2 ** 31));
});

test('announce: 64-bit counters, clamped to MAX_SAFE_INTEGER', () => {
  const msg = encodeAnnounce({ downloaded: Number.MAX_SAFE_INTEGER, left: 0, uploaded: 2 ** 32 });
  const r = parseUdpRequest(msg, 74);
  assert.ok(r.type === 'announce');
  assert.equal(r.downloaded, Number.MAX_SAFE_INTEGER);
  assert.equal(r.left, 0);
  assert.equal(r.uploaded, 2 ** 32);
  // 2^53 exactly, 2^63 and all-ones ("-1" as int64) clamp.
  msg.writeBigUInt64BE(2n ** 53n, 56);
  msg.writeBigUInt64BE(2n ** 63n, 64);
  msg.writeBigUInt64BE(2n ** 64n - 1n, 72);
  const c = parseUdpRequest(msg, 74);
  assert.ok(c.type === 'announce');
  assert.deepEqual([c.downloaded, c.left, c.uploaded], Array(3).fill(Number.MAX_SAFE_INTEGER));
  msg.writeBigUInt64BE(2n ** 53n - 1n, 56);
  const d = parseUdpRequest(msg, 74);
  assert.equal(d.type === 'announce' && d.downloaded, Number.MAX_SAFE_INTEGER);
});

/** A BEP 41 URLData option carrying `text`. */
function urlData(text: string): number[] {
  return [0x02, text.length, ...Buffer.from(text, 'latin1')];
}

test('announce: BEP 41 URL data becomes params (path, then the query read lazily); the other fields stay as they were', () => {
  const { params: _none, ...base } = parseUdpRequest(encodeAnnounce(), 74) as UdpAnnounceRequest;
  const cases: { options: number[]; path: string; entries: [string, string][] }[] = [
    { options: urlData('/announce?a='), path: '/announce', entries: [['a', '']] },
    { options: urlData('/announce'), path: '/announce', entries: [] },
    { options: [...urlData('/announce'), 0x00, 0x02, 0x03], path: '/announce', entries: [] },
    { options: [...urlData('/announce'), 0x01, ...urlData('?x=1')], path: '/announce', entries: [['x', '1']] },
    // A client may split the URL over several options, with NOPs between.
    { options: [...urlData('/ann'), 0x01, ...urlData('ounce?passkey=s3cr'), ...urlData('et'), 0x00, 0xff], path: '/announce', entries: [['passkey', 's3cret']] },
    // Percent-decoded, one char per byte; a bad escape stays as sent; repeated names kept in order.
    { options: urlData('/a?k=%41%42&k=2&t=%zz&%6e=%ff&&=x'), path: '/a', entries: [['k', 'AB'], ['k', '2'], ['t', '%zz'], ['n', '\xff']] },
    // An unknown option with a length is skipped.
    { options: [0x05, 0x02, 0xaa, 0xbb, ...urlData('/x?y=1')], path: '/x', entries: [['y', '1']] },
  ];
  for (const c of cases) {
    const r = parseUdpRequest(encodeAnnounce({ options: Uint8Array.from(c.options) }), 74);
    assert.ok(r.type === 'announce', JSON.stringify(c.options));
    const { params, ...rest } = r;
    assert.deepEqual(rest, base, 'the BEP 15 fields do not depend on the options');
    assert.equal(params.path, c.path);
    assert.deepEqual(params.entries(), c.entries);
    for (const [name, value] of c.entries) assert.equal(params.get(name), c.entries.find(([n]) => n === name)![1], `${name}=${value}`);
    assert.equal(params.get('absent'), undefined);
  }
});

test('announce: malformed or cut BEP 41 options never fail the request; what came before them is kept', () => {
  const base = parseUdpRequest(encodeAnnounce(), 74);
  const noUrl = [
    [0x01, 0x00], // NOP, EndOfOptions
    [0x02, 0xff, 0x41], // URLData claiming 255 bytes, only 1 present
    [0x07], // unknown option with no length byte
    [0x02], // URLData with no length byte
    [0x00, 0xff, 0xff, 0xff], // EndOfOptions then junk
    Array.from({ length: 500 }, (_, i) => i & 0xff),
  ];
  for (const opts of noUrl) {
    const msg = encodeAnnounce({ options: Uint8Array.from(opts) });
    assert.equal(msg.length, 98 + opts.length);
    const r = parseUdpRequest(msg, 74);
    assert.deepEqual(r, base, JSON.stringify(opts.slice(0, 8)));
    assert.ok(r.type === 'announce' && r.params === NO_PARAMS, 'no URL data: the shared empty view');
  }
  // "/announce" alone (what libtorrent sends) is one shared view: no string or object per announce.
  const first = parseUdpRequest(encodeAnnounce({ options: Uint8Array.from(urlData('/announce')) }), 74);
  const second = parseUdpRequest(encodeAnnounce({ options: Uint8Array.from([...urlData('/announce'), 0x00]) }), 74);
  assert.ok(first.type === 'announce' && second.type === 'announce' && first.params === second.params);
  const cut = parseUdpRequest(encodeAnnounce({ options: Uint8Array.from([...urlData('/kept'), 0x02, 0x09, 0x41]) }), 74);
  assert.ok(cut.type === 'announce');
  assert.equal(cut.params.path, '/kept');
});

test('announce: event 4 (BEP 21 partial seed, libtorrent\'s "paused") is an ordinary announce', () => {
  const msg = Buffer.from(encodeAnnounce());
  msg.writeUInt32BE(4, 80);
  const r = parseUdpRequest(msg, 74);
  assert.equal(r.type, 'announce');
  assert.equal(r.type === 'announce' && r.event, 0);
});

test('announce: too short, bad event, port 0 are invalid with ids', () => {
  const msg = encodeAnnounce();
  const short = parseUdpRequest(msg.subarray(0, 97), 74);
  assert.equal(short.type, 'invalid');
  assert.equal(short.type === 'invalid' && short.transactionId, 0xfedcba98);
  assert.equal(short.type === 'invalid' && short.connectionIdHigh, 0xdeadbeef);
  assert.equal(short.type === 'invalid' && short.connectionIdLow, 0x01020304);
  assert.equal(short.type === 'invalid' && short.action, 1);

  const badEvent = Buffer.from(msg);
  badEvent.writeUInt32BE(5, 80);
  const e = parseUdpRequest(badEvent, 74);
  assert.equal(e.type === 'invalid' && e.reason, 'invalid event');
  badEvent.writeUInt32BE(0xffffffff, 80);
  assert.equal(parseUdpRequest(badEvent, 74).type, 'invalid');

  const port0 = encodeAnnounce({ port: 0 });
  const p = parseUdpRequest(port0, 74);
  assert.equal(p.type === 'invalid' && p.reason, 'invalid port');
  assert.equal(p.type === 'invalid' && p.transactionId, 0xfedcba98);
});

test('scrape request round trip, truncation, zero hashes, partial trailing bytes', () => {
  const b = Buffer.alloc(4096);
  const hashes = Array.from({ length: 100 }, (_, i) => randomBinary(rngFor('scrape' + i), 20));
  let n = writeScrapeRequest(b, 7, 8, 9, hashes.slice(0, 3));
  assert.equal(n, 16 + 60);
  assert.deepEqual(parseUdpRequest(b.subarray(0, n), 74), {
    type: 'scrape',
    connectionIdHigh: 7,
    connectionIdLow: 8,
    transactionId: 9,
    infoHashes: hashes.slice(0, 3),
    truncated: false,
  });
  // partial trailing hash is ignored
  const partial = parseUdpRequest(b.subarray(0, n + 19), 74);
  assert.equal(partial.type === 'scrape' && partial.infoHashes.length, 3);

  n = writeScrapeRequest(b, 7, 8, 9, hashes);
  const t = parseUdpRequest(b.subarray(0, n), 74);
  assert.ok(t.type === 'scrape');
  assert.equal(t.truncated, true);
  assert.deepEqual(t.infoHashes, hashes.slice(0, 74));

  const exact = parseUdpRequest(b.subarray(0, 16 + 74 * 20), 74);
  assert.ok(exact.type === 'scrape' && !exact.truncated && exact.infoHashes.length === 74);

  n = writeScrapeRequest(b, 7, 8, 9, []);
  assert.deepEqual(parseUdpRequest(b.subarray(0, n), 74), {
    type: 'scrape',
    connectionIdHigh: 7,
    connectionIdLow: 8,
    transactionId: 9,
    infoHashes: [],
    truncated: false,
  });
  n = writeScrapeRequest(b, 7, 8, 9, hashes.slice(0, 2));
  for (const max of [0, -5, Number.NaN]) {
    const z = parseUdpRequest(b.subarray(0, n), max);
    assert.ok(z.type === 'scrape' && z.infoHashes.length === 0 && z.truncated, `max=${max}`);
  }
});

test('invalid requests: too short (no ids), wrong magic, unknown action (with ids)', () => {
  for (let len = 0; len < 16; len++) {
    const r = parseUdpRequest(Buffer.alloc(len), 74);
    assert.equal(r.type, 'invalid');
    assert.equal(r.type === 'invalid' && r.transactionId, undefined);
    assert.equal(r.type === 'invalid' && r.connectionIdHigh, undefined);
  }
  const b = Buffer.alloc(16);
  writeConnectRequest(b, 5);
  b[7] ^= 1;
  const m = parseUdpRequest(b, 74);
  assert.ok(m.type === 'invalid');
  assert.equal(m.reason, 'bad protocol id');
  assert.equal(m.transactionId, 5);

  const u = Buffer.alloc(200);
  u.writeUInt32BE(0xaabbccdd, 0);
  u.writeUInt32BE(0x11223344, 4);
  u.writeUInt32BE(3, 8); // "error" is not a request
  u.writeUInt32BE(42, 12);
  const r = parseUdpRequest(u, 74);
  assert.deepEqual(r, {
    type: 'invalid',
    reason: 'unknown action',
    connectionIdHigh: 0xaabbccdd,
    connectionIdLow: 0x11223344,
    transactionId: 42,
    action: 3,
  });
});

test('parser works on plain Uint8Array views with a byte offset', () => {
  const msg = encodeAnnounce();
  const backing = new Uint8Array(msg.length + 10);
  backing.set(msg, 5);
  const view = new Uint8Array(backing.buffer, 5, msg.length);
  assert.deepEqual(parseUdpRequest(view, 74), parseUdpRequest(msg, 74));
});

// ---------------------------------------------------------------- round trips: server writer -> client parser

test('connect reply round trip', () => {
  const b = Buffer.alloc(16);
  assert.equal(writeConnectReply(b, 0xffffffff, 0x80000000, 0x7fffffff), 16);
  assert.deepEqual(parseUdpReply(b, 6), {
    type: 'connect',
    transactionId: 0xffffffff,
    connectionIdHigh: 0x80000000,
    connectionIdLow: 0x7fffffff,
  });
  // signed ids are written bit-exact
  writeConnectReply(b, -1, -2, -3);
  const r = parseUdpReply(b, 6);
  assert.ok(r.type === 'connect');
  assert.deepEqual([r.transactionId, r.connectionIdHigh, r.connectionIdLow], [0xffffffff, 0xfffffffe, 0xfffffffd]);
});

test('announce reply round trip with IPv4 (6-byte) peers', () => {
  const peers = Buffer.from([1, 2, 3, 4, 0x1a, 0xe1, 10, 0, 0, 1, 0, 80]);
  const b = Buffer.alloc(1500);
  const n = writeAnnounceReply(b, 77, 1800, 5, 6, peers);
  assert.equal(n, 20 + 12);
  assert.equal(b.subarray(0, 20).toString('hex'), '00000001' + '0000004d' + '00000708' + '00000005' + '00000006');
  const r = parseUdpReply(b.subarray(0, n), 6);
  assert.ok(r.type === 'announce');
  assert.deepEqual(
    { ...r, peers: Buffer.from(r.peers) },
    { type: 'announce', transactionId: 77, interval: 1800, leechers: 5, seeders: 6, peers, peerCount: 2 },
  );
});

test('announce reply round trip with IPv6 (18-byte) peers', () => {
  const r0 = rngFor('v6peers');
  const peers = randomBytes(r0, 18 * 5);
  const b = Buffer.alloc(1500);
  const n = writeAnnounceReply(b, 1, 900, 0, 1, peers);
  const r = parseUdpReply(b.subarray(0, n), 18);
  assert.ok(r.type === 'announce');
  assert.equal(r.peerCount, 5);
  assert.deepEqual(Buffer.from(r.peers), peers);
  // 90 bytes are also a multiple of 6: the client must be told the family
  const asV4 = parseUdpReply(b.subarray(0, n), 6);
  assert.equal(asV4.type === 'announce' && asV4.peerCount, 15);
  // 18 * 5 + 6 is not a multiple of 18
  const m = writeAnnounceReply(b, 1, 900, 0, 1, Buffer.concat([peers, Buffer.alloc(6)]));
  assert.equal(parseUdpReply(b.subarray(0, m), 18).type, 'invalid');
  // no peers
  const e = writeAnnounceReply(b, 1, 900, 0, 0, new Uint8Array(0));
  const er = parseUdpReply(b.subarray(0, e), 18);
  assert.ok(er.type === 'announce' && er.peerCount === 0);
});

test('announce reply clamps counts to uint32', () => {
  const b = Buffer.alloc(20);
  writeAnnounceReply(b, 1, -5, 2 ** 40, Number.NaN, new Uint8Array(0));
  const r = parseUdpReply(b, 6);
  assert.ok(r.type === 'announce');
  assert.deepEqual([r.interval, r.leechers, r.seeders], [0, 0xffffffff, 0]);
});

test('scrape reply round trip in BEP 15 order (seeders, completed, leechers)', () => {
  const stats = [
    { complete: 1, incomplete: 2, downloaded: 3 },
    { complete: 0, incomplete: 0, downloaded: 0 },
    { complete: 0xffffffff, incomplete: 7, downloaded: 1e6 },
  ];
  const b = Buffer.alloc(100);
  const n = writeScrapeReply(b, 0x12345678, stats);
  assert.equal(n, 8 + 36);
  assert.equal(b.subarray(8, 20).toString('hex'), '00000001' + '00000003' + '00000002');
  assert.deepEqual(parseUdpReply(b.subarray(0, n), 6), { type: 'scrape', transactionId: 0x12345678, stats });
  assert.equal(parseUdpReply(b.subarray(0, n - 1), 6).type, 'invalid');
  const empty = writeScrapeReply(b, 1, []);
  assert.deepEqual(parseUdpReply(b.subarray(0, empty), 6), { type: 'scrape', transactionId: 1, stats: [] });
});

test('a full 74-hash scrape request and its reply each fit one datagram', () => {
  const hashes = Array.from({ length: UDP_MAX_SCRAPE_HASHES }, (_, i) => randomBinary(rngFor('full' + i), 20));
  const req = Buffer.alloc(2000);
  assert.ok(writeScrapeRequest(req, 1, 2, 3, hashes) <= 1500);
  const rep = Buffer.alloc(UDP_SAFE_PAYLOAD);
  const n = writeScrapeReply(rep, 3, hashes.map(() => ({ complete: 1, incomplete: 1, downloaded: 1 })));
  assert.ok(n <= UDP_SAFE_PAYLOAD);
});

test('error reply round trip (UTF-8) and truncation to the buffer', () => {
  const b = Buffer.alloc(100);
  const msg = 'connection id expired — réessayez ✓';
  const n = writeErrorReply(b, 9, msg);
  assert.equal(n, 8 + Buffer.byteLength(msg));
  assert.deepEqual(parseUdpReply(b.subarray(0, n), 6), { type: 'error', transactionId: 9, message: msg });
  // Header only when the message does not fit; never a partial UTF-8 char.
  const small = Buffer.alloc(10);
  const m = writeErrorReply(small, 9, '✓✓');
  assert.equal(m, 8);
  const tiny = Buffer.alloc(12);
  const k = writeErrorReply(tiny, 9, 'ab✓');
  assert.equal(k, 10);
  assert.deepEqual(parseUdpReply(tiny.subarray(0, k), 6), { type: 'error', transactionId: 9, message: 'ab' });
  assert.throws(() => writeErrorReply(Buffer.alloc(7), 1, 'x'), RangeError);
});

test('writers refuse a buffer that is too small (programming error)', () => {
  assert.throws(() => writeConnectRequest(Buffer.alloc(15), 1), RangeError);
  assert.throws(() => writeConnectReply(Buffer.alloc(15), 1, 2, 3), RangeError);
  assert.throws(() => writeAnnounceReply(Buffer.alloc(25), 1, 2, 3, 4, Buffer.alloc(6)), RangeError);
  assert.throws(() => writeScrapeReply(Buffer.alloc(19), 1, [{ complete: 1, incomplete: 1, downloaded: 1 }]), RangeError);
  assert.throws(() => writeAnnounceRequest(Buffer.alloc(97), announceParams()), RangeError);
  assert.throws(() => writeScrapeRequest(Buffer.alloc(35), 1, 2, 3, [HASH_A]), RangeError);
  assert.throws(() => writeAnnounceRequest(Buffer.alloc(200), announceParams({ infoHash: 'short' })), RangeError);
});

test('parseUdpReply: short, unknown action, partial entries are invalid', () => {
  for (let len = 0; len < 8; len++) assert.equal(parseUdpReply(Buffer.alloc(len), 6).type, 'invalid');
  const b = Buffer.alloc(16);
  b.writeUInt32BE(9, 0);
  assert.equal(parseUdpReply(b, 6).type, 'invalid');
  b.writeUInt32BE(0, 0);
  assert.equal(parseUdpReply(b.subarray(0, 15), 6).type, 'invalid');
  b.writeUInt32BE(1, 0);
  assert.equal(parseUdpReply(b.subarray(0, 16), 6).type, 'invalid');
});

// ---------------------------------------------------------------- never-throws properties

test('property: parseUdpRequest never throws on random datagrams', (t) => {
  printSeed(t);
  const r = rngFor('random-requests');
  for (let i = 0; i < 5000; i++) {
    const len = int(r, 4) === 0 ? int(r, 16) : int(r, 300);
    const msg = randomBytes(r, len);
    // bias toward valid actions so deeper paths are exercised
    if (len >= 12 && int(r, 2) === 0) msg.writeUInt32BE(int(r, 4), 8);
    const max = int(r, 100) - 5;
    const ctx = where('random request', i);
    let res: UdpRequest;
    try {
      res = parseUdpRequest(msg, max);
    } catch (e) {
      assert.fail(`${ctx} threw ${String(e)} for ${msg.toString('hex')}`);
    }
    checkRequest(res, len, Math.max(0, max), ctx);
  }
});

test('property: parseUdpRequest never throws on every truncation of valid requests', (t) => {
  printSeed(t);
  for (const msg of validRequests()) {
    for (let len = 0; len <= msg.length; len++) {
      const res = parseUdpRequest(msg.subarray(0, len), 74);
      checkRequest(res, len, 74, `truncation ${len} of ${msg.toString('hex')}`);
    }
  }
});

test('property: parseUdpRequest never throws on random byte flips of valid requests', (t) => {
  printSeed(t);
  const r = rngFor('flip-requests');
  const valid = validRequests();
  for (let i = 0; i < 5000; i++) {
    const msg = Buffer.from(valid[int(r, valid.length)]);
    const flips = 1 + int(r, 4);
    const touched: number[] = [];
    for (let f = 0; f < flips; f++) {
      const pos = int(r, msg.length);
      touched.push(pos);
      msg[pos] ^= 1 + int(r, 255);
    }
    const ctx = where('flip', i);
    const res = parseUdpRequest(msg, 74);
    checkRequest(res, msg.length, 74, ctx);
    // A flip in an announce's payload only (ids, hashes, counters, key, options) keeps it an announce.
    if (msg.length >= 98 && msg.readUInt32BE(8) === 1 && touched.every((p) => (p >= 12 && p < 80) || (p >= 84 && p < 96) || p >= 98)) {
      assert.equal(res.type, 'announce', ctx);
    }
  }
});

test('property: parseUdpReply never throws on random, truncated and flipped replies', (t) => {
  printSeed(t);
  const r = rngFor('replies');
  for (let i = 0; i < 5000; i++) {
    const len = int(r, 200);
    const msg = randomBytes(r, len);
    if (len >= 4 && int(r, 2) === 0) msg.writeUInt32BE(int(r, 5), 0);
    checkReply(parseUdpReply(msg, int(r, 2) === 0 ? 6 : 18), where('random reply', i));
  }
  for (const msg of validReplies()) {
    for (let len = 0; len <= msg.length; len++) {
      checkReply(parseUdpReply(msg.subarray(0, len), 6), `reply truncation ${len}`);
      checkReply(parseUdpReply(msg.subarray(0, len), 18), `reply truncation ${len}`);
    }
  }
  const valid = validReplies();
  for (let i = 0; i < 3000; i++) {
    const msg = Buffer.from(valid[int(r, valid.length)]);
    msg[int(r, msg.length)] ^= 1 + int(r, 255);
    checkReply(parseUdpReply(msg, 6), where('reply flip', i));
  }
});

test('property: random announce requests round trip', (t) => {
  printSeed(t);
  const r = rngFor('announce-roundtrip');
  const buf = Buffer.alloc(600);
  const big = (): number => (int(r, 3) === 0 ? int(r, 1000) : Math.floor(r() * Number.MAX_SAFE_INTEGER));
  for (let i = 0; i < 2000; i++) {
    const p = announceParams({
      connectionIdHigh: int(r, 2 ** 32),
      connectionIdLow: int(r, 2 ** 32),
      transactionId: int(r, 2 ** 32),
      infoHash: randomBinary(r, 20),
      peerId: randomBinary(r, 20),
      downloaded: big(),
      left: big(),
      uploaded: big(),
      event: int(r, 4) as AnnounceEvent,
      ip: int(r, 2 ** 32),
      key: int(r, 2 ** 32),
      numwant: int(r, 2 ** 32) - 2 ** 31,
      port: 1 + int(r, 65535),
      options: int(r, 2) === 0 ? randomBytes(r, int(r, 300)) : undefined,
    });
    const n = writeAnnounceRequest(buf, p);
    const res = parseUdpRequest(buf.subarray(0, n), 74);
    const { options, ...expected } = p;
    assert.ok(res.type === 'announce', where('announce round trip', i));
    const { params, ...fields } = res;
    assert.deepEqual(fields, { type: 'announce', ...expected }, where('announce round trip', i));
    if (options === undefined) assert.equal(params, NO_PARAMS);
    else assert.ok(typeof params.path === 'string' && Array.isArray(params.entries()), where('announce params', i));
  }
});
