import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import bencodeModule from 'bencode';
import {
  DEFAULT_MAX_SCRAPE_HASHES,
  encodeAnnounceReply,
  encodeFailure,
  encodeScrapeReply,
  parseAnnounceQuery,
  parseScrapeQuery,
  type HttpAnnounceParams,
  type HttpAnnounceParseResult,
  type HttpScrapeParseResult,
} from '../../../lib/protocol/http/server.js';
import {
  buildAnnounceQuery,
  buildScrapeQuery,
  parseAnnounceReply,
  parseScrapeReply,
  percentEncodeBinary,
  type HttpAnnounceQueryParams,
} from '../../../lib/protocol/http/client.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { PathOnly } from '../../../lib/tracker/params.js';
import { int, printSeed, randomBinary, randomBytes, rngFor, where } from '../../support/seeded-random.js';

const reference = bencodeModule as { decode(b: Uint8Array): unknown; encode(v: unknown): Uint8Array };

// ---------------------------------------------------------------- fixtures

const HASH_HEX = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a';
const HASH = Buffer.from(HASH_HEX, 'hex').toString('latin1');
const PEER = '-TR3000-abcdefghijkl';
const BASE = `peer_id=${PEER}&port=6881&uploaded=0&downloaded=0&left=100`;

function announce(raw: string): HttpAnnounceParams {
  const r = parseAnnounceQuery(raw);
  assert.ok(r.ok, `${raw}: ${r.ok ? '' : r.error}`);
  return r.value;
}
function announceError(raw: string): string {
  const r = parseAnnounceQuery(raw);
  assert.ok(!r.ok, `expected an error for ${raw}`);
  return r.error;
}
/** info_hash value as parsed (or null when the announce failed). */
function hashOf(value: string): string | null {
  const r = parseAnnounceQuery(`info_hash=${value}&${BASE}`);
  return r.ok ? r.value.infoHash : null;
}
const pct = (bytes: Buffer, lower = false): string =>
  [...bytes].map((b) => '%' + (lower ? b.toString(16).padStart(2, '0') : b.toString(16).padStart(2, '0').toUpperCase())).join('');

// ---------------------------------------------------------------- binary percent-decoding

test('info_hash: raw chars, %XX, and a mix of both decode to the same 20 bytes', () => {
  const ascii = 'abcdefghijklmnopqrst';
  assert.equal(hashOf(ascii), ascii);
  assert.equal(hashOf('ab%63defghij%6B%6c%6Dnopqrst'), ascii);
  assert.equal(hashOf(pct(Buffer.from(ascii))), ascii);
  assert.equal(hashOf(pct(Buffer.from(HASH, 'latin1'))), HASH);
  assert.equal(hashOf(pct(Buffer.from(HASH, 'latin1'), true)), HASH, 'lowercase hex');
  // libtorrent style: unreserved bytes raw, others escaped
  assert.equal(hashOf(percentEncodeBinary(HASH)), HASH);
  // '+' is a literal 0x2B byte, not a space
  assert.equal(hashOf('+'.repeat(20)), '+'.repeat(20));
  // '%25' is a literal '%'
  assert.equal(hashOf('%25'.repeat(20)), '%'.repeat(20));
});

test('info_hash: bytes >= 0x80 stay single bytes (never UTF-8 decoded)', () => {
  const all80 = Buffer.alloc(20, 0xff);
  assert.equal(hashOf(pct(all80)), '\xff'.repeat(20));
  // 10 x C3 A9 is valid UTF-8 for 'é' x 10: 20 bytes, but only 10 chars if UTF-8 decoded.
  const utf8ish = Buffer.from('é'.repeat(10), 'utf8');
  assert.equal(utf8ish.length, 20);
  const h = hashOf(pct(utf8ish));
  assert.ok(h !== null);
  assert.equal(h.length, 20);
  assert.deepEqual(Buffer.from(h, 'latin1'), utf8ish);
  assert.notEqual(h, decodeURIComponent(pct(utf8ish)));
  // Invalid UTF-8 (lone continuation bytes) would become U+FFFD when UTF-8 decoded.
  const invalidUtf8 = Buffer.from(Array.from({ length: 20 }, (_, i) => 0x80 + i));
  assert.deepEqual(Buffer.from(hashOf(pct(invalidUtf8)) ?? '', 'latin1'), invalidUtf8);
  // Raw chars 0x80..0xFF in the query string (a latin1-decoded request line) are bytes too.
  assert.equal(hashOf('\xe9'.repeat(10) + '%E9'.repeat(10)), '\xe9'.repeat(20));
  // A hash of all-zero bytes.
  assert.equal(hashOf('%00'.repeat(20)), '\x00'.repeat(20));
});

test('info_hash / peer_id: wrong length, bad escapes and chars > 0xFF are errors', () => {
  const cases: [string, string][] = [
    ['a'.repeat(19), 'invalid info_hash'],
    ['a'.repeat(21), 'invalid info_hash'],
    ['%41'.repeat(19), 'invalid info_hash'],
    ['%41'.repeat(21), 'invalid info_hash'],
    ['', 'invalid info_hash'],
    ['a'.repeat(19) + '%G1', 'invalid info_hash'],
    ['a'.repeat(19) + '%1G', 'invalid info_hash'],
    ['a'.repeat(20) + '%', 'invalid info_hash'],
    ['a'.repeat(19) + '%', 'invalid info_hash'],
    ['a'.repeat(19) + '%4', 'invalid info_hash'],
    ['a'.repeat(18) + '%4a', 'invalid info_hash'],
    ['a'.repeat(19) + '\u0100', 'invalid info_hash'],
    ['a'.repeat(19) + '✓', 'invalid info_hash'],
    ['a'.repeat(19) + '\ud83d', 'invalid info_hash'],
    ['%%%%%%%%%%%%%%%%%%%%', 'invalid info_hash'],
  ];
  for (const [value, error] of cases) {
    assert.equal(announceError(`info_hash=${value}&${BASE}`), error, JSON.stringify(value));
  }
  assert.equal(announceError(`info_hash=${'a'.repeat(20)}&peer_id=${'b'.repeat(19)}%&port=1&left=0`), 'invalid peer_id');
  assert.equal(announceError(`info_hash=${'a'.repeat(20)}&peer_id=${'\u20ac'.repeat(20)}&port=1&left=0`), 'invalid peer_id');
  assert.equal(announceError(BASE), 'missing info_hash');
  assert.equal(announceError(`info_hash=${'a'.repeat(20)}&port=1&left=0`), 'missing peer_id');
  assert.equal(announceError(`info_hash&${BASE}`), 'invalid info_hash');
});

// ---------------------------------------------------------------- announce fields

test('announce: defaults', () => {
  const v = announce(`info_hash=${HASH_HEX.slice(0, 20)}&peer_id=${PEER}&port=6881&left=0`);
  assert.deepEqual(v, {
    infoHash: HASH_HEX.slice(0, 20),
    peerId: PEER,
    port: 6881,
    uploaded: 0,
    downloaded: 0,
    left: 0,
    event: AnnounceEvent.None,
    numwant: 0,
    compact: true,
    noPeerId: false,
    key: undefined,
    trackerId: undefined,
    params: new PathOnly('/announce'),
  });
});

test('announce: params offer the path and the parameters the parser does not read, decoded, lazily', () => {
  const base = `info_hash=${'h'.repeat(20)}&${BASE}`;
  const v = announce(`${base}&passkey=abc%21&supportcrypto=1&%70ort=9&key=k&redundant&&=x&passkey=second`);
  assert.equal(v.params.path, '/announce');
  // A name is matched as sent (as the parser matches it): "%70ort" is not the port the parser read.
  assert.deepEqual(v.params.entries(), [['passkey', 'abc!'], ['supportcrypto', '1'], ['port', '9'], ['redundant', ''], ['passkey', 'second']]);
  assert.equal(v.params.get('passkey'), 'abc!', 'the first value');
  assert.equal(v.params.get('key'), undefined, 'the parser reads key itself');
  assert.equal(v.params.get('left'), undefined);
  assert.equal(v.port, 6881);

  // Nothing extra: every such announce shares one view (no allocation per request).
  const a = announce(base);
  const b = announce(`${base}&compact=1&event=started`);
  assert.equal(a.params, b.params);
  assert.deepEqual(a.params.entries(), []);
  // A repeated known name is not an extra parameter.
  assert.deepEqual(announce(`${base}&port=1`).params.entries(), []);

  // The path is the caller's (the route the request came by).
  const r = parseAnnounceQuery(`${base}&t=1`, '/s3cr3t/announce');
  assert.ok(r.ok);
  assert.equal(r.value.params.path, '/s3cr3t/announce');
  assert.equal(r.value.params.get('t'), '1');
  const plain = parseAnnounceQuery(base, '/s3cr3t/announce');
  assert.ok(plain.ok && plain.value.params.path === '/s3cr3t/announce');
});

test('announce: events', () => {
  const q = (ev: string): string => `info_hash=${'h'.repeat(20)}&${BASE}&event=${ev}`;
  assert.equal(announce(q('started')).event, AnnounceEvent.Started);
  assert.equal(announce(q('completed')).event, AnnounceEvent.Completed);
  assert.equal(announce(q('stopped')).event, AnnounceEvent.Stopped);
  assert.equal(announce(q('%73topped')).event, AnnounceEvent.Stopped);
  assert.equal(announce(q('')).event, AnnounceEvent.None);
  assert.equal(announce(q('paused')).event, AnnounceEvent.None);
  assert.equal(announce(q('empty')).event, AnnounceEvent.None);
  assert.equal(announce(`info_hash=${'h'.repeat(20)}&${BASE}&event`).event, AnnounceEvent.None);
  for (const bad of ['start', 'STARTED', 'started ', 'stoppedx', '%', '%7', '\u0100']) {
    assert.equal(announceError(q(bad)), 'invalid event', bad);
  }
});

test('announce: port', () => {
  const q = (p: string): string => `info_hash=${'h'.repeat(20)}&peer_id=${PEER}&left=1&${p}`;
  assert.equal(announce(q('port=1')).port, 1);
  assert.equal(announce(q('port=65535')).port, 65535);
  assert.equal(announce(q('port=006881')).port, 6881);
  assert.equal(announce(q('port=%36%38%38%31')).port, 6881);
  assert.equal(announceError(q('')), 'missing port');
  for (const bad of ['port=0', 'port=65536', 'port=', 'port', 'port=-1', 'port=+1', 'port=1e3', 'port=12a', 'port= 1', 'port=99999999999999999999999', 'port=%3']) {
    assert.equal(announceError(q(bad)), 'invalid port', bad);
  }
});

test('announce: numbers are non-negative decimals, overflow clamps', () => {
  const q = (s: string): string => `info_hash=${'h'.repeat(20)}&peer_id=${PEER}&port=1&${s}`;
  const v = announce(q('left=99999999999999999999999999&uploaded=9007199254740992&downloaded=9007199254740991'));
  assert.equal(v.left, Number.MAX_SAFE_INTEGER);
  assert.equal(v.uploaded, Number.MAX_SAFE_INTEGER);
  assert.equal(v.downloaded, Number.MAX_SAFE_INTEGER);
  assert.equal(announce(q('left=' + '9'.repeat(3000))).left, Number.MAX_SAFE_INTEGER);
  assert.equal(announce(q('left=123456789012')).left, 123456789012);
  assert.equal(announceError(q('uploaded=1')), 'missing left');
  for (const [s, err] of [
    ['left=-1', 'invalid left'],
    ['left=', 'invalid left'],
    ['left=1.5', 'invalid left'],
    ['left=0x10', 'invalid left'],
    ['left=1&uploaded=-5', 'invalid uploaded'],
    ['left=1&uploaded=', 'invalid uploaded'],
    ['left=1&downloaded=abc', 'invalid downloaded'],
    ['left=1&downloaded=%zz', 'invalid downloaded'],
  ]) {
    assert.equal(announceError(q(s)), err, s);
  }
});

test('announce: numwant, compact, no_peer_id, key, trackerid', () => {
  const q = (s: string): string => `info_hash=${'h'.repeat(20)}&${BASE}&${s}`;
  assert.equal(announce(q('numwant=50')).numwant, 50);
  assert.equal(announce(q('numwant=0')).numwant, 0);
  assert.equal(announce(q('numwant=-1')).numwant, 0);
  assert.equal(announce(q('numwant=-999999999999999999999')).numwant, 0);
  assert.equal(announce(q('num_want=30')).numwant, 30);
  assert.equal(announce(q('numwant=99999999999999999999')).numwant, Number.MAX_SAFE_INTEGER);
  for (const bad of ['numwant=', 'numwant=-', 'numwant=abc', 'numwant=--1']) {
    assert.equal(announceError(q(bad)), 'invalid numwant', bad);
  }
  assert.equal(announce(q('compact=1')).compact, true);
  assert.equal(announce(q('compact=0')).compact, false);
  assert.equal(announce(q('compact=%30')).compact, false);
  assert.equal(announce(q('compact')).compact, true);
  assert.equal(announce(q('no_peer_id=1')).noPeerId, true);
  assert.equal(announce(q('no_peer_id')).noPeerId, true);
  assert.equal(announce(q('no_peer_id=0')).noPeerId, false);
  const k = announce(q('key=ab%FF%00cd&trackerid=tr%20id'));
  assert.equal(k.key, 'ab\xff\x00cd');
  assert.equal(k.trackerId, 'tr id');
  assert.equal(announce(q('key=')).key, '');
  assert.equal(announceError(q('key=%G0')), 'invalid key');
  assert.equal(announceError(q('trackerid=%')), 'invalid trackerid');
  assert.equal(announceError(q('key=\u0394')), 'invalid key');
});

test('announce: unknown params ignored, first of a repeated param wins, leading ?, empty segments', () => {
  const v = announce(
    `?&&foo=bar&ip=1.2.3.4&info_hash=${'a'.repeat(20)}&&info_hash=${'b'.repeat(20)}&supportcrypto=1&${BASE}&port=80&corrupt=0&x=%G1&\u0100=\u0100&=&==`,
  );
  assert.equal(v.infoHash, 'a'.repeat(20));
  assert.equal(v.port, 6881);
  // a repeated info_hash whose second copy is garbage is still fine: only the first is read
  assert.equal(announce(`info_hash=${'a'.repeat(20)}&info_hash=%&${BASE}`).infoHash, 'a'.repeat(20));
  // parameter names are matched as sent: an encoded name is an unknown parameter
  assert.equal(announceError(`info%5Fhash=${'a'.repeat(20)}&${BASE}`), 'missing info_hash');
  assert.equal(announceError(''), 'missing info_hash');
  assert.equal(announceError('?'), 'missing info_hash');
});

// ---------------------------------------------------------------- scrape queries

test('scrape: every info_hash, duplicates removed in first-seen order', () => {
  const r0 = rngFor('scrape-hashes');
  const hashes = Array.from({ length: 5 }, () => randomBinary(r0, 20));
  const raw = buildScrapeQuery([hashes[0], hashes[1], hashes[0], hashes[2], hashes[1]]) + '&foo=1&info_hash=' + percentEncodeBinary(hashes[3]);
  assert.deepEqual(parseScrapeQuery(raw), { ok: true, infoHashes: [hashes[0], hashes[1], hashes[2], hashes[3]], truncated: false });
  assert.deepEqual(parseScrapeQuery(''), { ok: true, infoHashes: [], truncated: false });
  assert.deepEqual(parseScrapeQuery('?foo=bar'), { ok: true, infoHashes: [], truncated: false });
  assert.deepEqual(parseScrapeQuery('?info_hash=' + 'x'.repeat(20)), { ok: true, infoHashes: ['x'.repeat(20)], truncated: false });
  // many duplicates (exercises the Set path)
  const many = Array.from({ length: 40 }, () => randomBinary(r0, 20));
  const dupRaw = buildScrapeQuery([...many, ...many, ...many]);
  const d = parseScrapeQuery(dupRaw, 1000);
  assert.ok(d.ok);
  assert.deepEqual(d.infoHashes, many);
});

test('scrape: invalid hash fails the request; cap truncates', () => {
  const good = percentEncodeBinary('g'.repeat(20));
  for (const bad of ['a'.repeat(19), 'a'.repeat(21), '%G1' + 'a'.repeat(19), 'a'.repeat(19) + '%', '\u0101'.repeat(20), '']) {
    const r = parseScrapeQuery(`info_hash=${good}&info_hash=${bad}`);
    assert.deepEqual(r, { ok: false, error: 'invalid info_hash' }, JSON.stringify(bad));
  }
  assert.deepEqual(parseScrapeQuery(`info_hash=${good}&info_hash`), { ok: false, error: 'invalid info_hash' });
  assert.deepEqual(parseScrapeQuery(`info_hash=${good}&info_hashes=x&info_hash_=1`), { ok: true, infoHashes: ['g'.repeat(20)], truncated: false });
  const hashes = Array.from({ length: 10 }, (_, i) => String.fromCharCode(0x41 + i).repeat(20));
  const raw = buildScrapeQuery(hashes);
  const capped = parseScrapeQuery(raw, 3);
  assert.deepEqual(capped, { ok: true, infoHashes: hashes.slice(0, 3), truncated: true });
  assert.deepEqual(parseScrapeQuery(raw, 10), { ok: true, infoHashes: hashes, truncated: false });
  // beyond the cap nothing is read, even garbage
  assert.deepEqual(parseScrapeQuery(raw + '&info_hash=%', 10), { ok: true, infoHashes: hashes, truncated: true });
  assert.deepEqual(parseScrapeQuery(raw, 0), { ok: true, infoHashes: [], truncated: true });
  assert.equal(DEFAULT_MAX_SCRAPE_HASHES, 74);
  const hundred = Array.from({ length: 100 }, (_, i) => randomBinary(rngFor('h' + i), 20));
  const def = parseScrapeQuery(buildScrapeQuery(hundred));
  assert.ok(def.ok && def.infoHashes.length === 74 && def.truncated);
});

// ---------------------------------------------------------------- builders round trip

test('property: buildAnnounceQuery -> parseAnnounceQuery round trip', (t) => {
  printSeed(t);
  const r = rngFor('build-announce');
  for (let i = 0; i < 3000; i++) {
    const p: HttpAnnounceQueryParams = {
      infoHash: randomBinary(r, 20),
      peerId: randomBinary(r, 20),
      port: 1 + int(r, 65535),
      uploaded: int(r, 2) ? int(r, 1e6) : Math.floor(r() * Number.MAX_SAFE_INTEGER),
      downloaded: int(r, 1e9),
      left: int(r, 3) === 0 ? 0 : Math.floor(r() * 2 ** 50),
      event: int(r, 4) as AnnounceEvent,
      numwant: int(r, 2) ? int(r, 300) : undefined,
      compact: int(r, 3) === 0 ? false : int(r, 2) ? true : undefined,
      noPeerId: int(r, 2) === 0,
      key: int(r, 2) ? randomBinary(r, int(r, 12)) : undefined,
      trackerId: int(r, 4) === 0 ? randomBinary(r, int(r, 12)) : undefined,
    };
    const raw = buildAnnounceQuery(p);
    assert.ok(/^[A-Za-z0-9_.~%=&-]*$/.test(raw), 'builder emits only unreserved chars and escapes');
    assert.deepEqual(
      announce(raw),
      {
        infoHash: p.infoHash,
        peerId: p.peerId,
        port: p.port,
        uploaded: p.uploaded,
        downloaded: p.downloaded,
        left: p.left,
        event: p.event,
        numwant: p.numwant ?? 0,
        compact: p.compact !== false,
        noPeerId: p.noPeerId,
        key: p.key,
        trackerId: p.trackerId,
        params: new PathOnly('/announce'),
      },
      where('announce build/parse', i),
    );
  }
  assert.throws(() => buildAnnounceQuery({ infoHash: '\u0100'.repeat(20), peerId: PEER, port: 1 }), RangeError);
});

test('property: buildScrapeQuery -> parseScrapeQuery round trip', (t) => {
  printSeed(t);
  const r = rngFor('build-scrape');
  for (let i = 0; i < 500; i++) {
    const hashes = [...new Set(Array.from({ length: int(r, 80) }, () => randomBinary(r, 20)))];
    const res = parseScrapeQuery(buildScrapeQuery(hashes), 100);
    assert.deepEqual(res, { ok: true, infoHashes: hashes, truncated: false }, where('scrape build/parse', i));
  }
});

// ---------------------------------------------------------------- reply encoders, checked with the npm bencode decoder

type RefDict = Record<string, unknown>;
const refDecode = (b: Uint8Array): RefDict => reference.decode(b) as RefDict;
/** Our bytes are canonical: the reference decoder + encoder reproduce them exactly (sorted keys, no extras). */
function assertCanonical(b: Buffer): void {
  assert.deepEqual(Buffer.from(reference.encode(reference.decode(b))), b);
}

test('announce reply, compact IPv4', () => {
  const peers = Buffer.from([1, 2, 3, 4, 0x1a, 0xe1, 10, 0, 0, 1, 0, 80]);
  const body = encodeAnnounceReply({ interval: 1800, minInterval: 900, complete: 5, incomplete: 7, downloaded: 12, peers, peerLength: 6, compact: true });
  assert.equal(
    body.toString('latin1'),
    'd8:completei5e10:downloadedi12e10:incompletei7e8:intervali1800e12:min intervali900e5:peers12:' + peers.toString('latin1') + 'e',
  );
  const d = refDecode(body);
  assert.equal(d['interval'], 1800);
  assert.equal(d['min interval'], 900);
  assert.equal(d['complete'], 5);
  assert.equal(d['incomplete'], 7);
  assert.equal(d['downloaded'], 12);
  assert.deepEqual(Buffer.from(d['peers'] as Uint8Array), peers);
  assert.equal(d['peers6'], undefined);
  assertCanonical(body);
  const ours = parseAnnounceReply(body);
  assert.ok(ours.type === 'announce');
  assert.deepEqual(Buffer.from(ours.peers), peers);
  assert.equal(ours.peers6.length, 0);
});

test('announce reply, compact IPv6 goes in peers6 (BEP 7) with an empty peers', () => {
  const peers = randomBytes(rngFor('v6'), 18 * 3);
  const body = encodeAnnounceReply({ interval: 60, complete: 0, incomplete: 1, peers, peerLength: 18, compact: true });
  const d = refDecode(body);
  assert.deepEqual(Buffer.from(d['peers6'] as Uint8Array), peers);
  assert.equal((d['peers'] as Uint8Array).length, 0);
  assert.equal(d['min interval'], undefined);
  assert.equal(d['downloaded'], undefined);
  assertCanonical(body);
  const ours = parseAnnounceReply(body);
  assert.ok(ours.type === 'announce');
  assert.deepEqual(Buffer.from(ours.peers6), peers);
});

test('announce reply, dictionary model (compact=0): ip text + port, no peer id', () => {
  const v4 = Buffer.from([192, 168, 1, 20, 0x1a, 0xe1, 8, 8, 4, 4, 0, 53]);
  const b4 = encodeAnnounceReply({ interval: 1800, complete: 1, incomplete: 1, peers: v4, peerLength: 6, compact: false });
  const d4 = refDecode(b4);
  const list4 = (d4['peers'] as RefDict[]).map((p) => ({ ip: Buffer.from(p['ip'] as Uint8Array).toString(), port: p['port'], keys: Object.keys(p) }));
  assert.deepEqual(list4, [
    { ip: '192.168.1.20', port: 6881, keys: ['ip', 'port'] },
    { ip: '8.8.4.4', port: 53, keys: ['ip', 'port'] },
  ]);
  assertCanonical(b4);

  const v6 = Buffer.concat([
    Buffer.from('20010db8000000000000000000000001', 'hex'), Buffer.from([0x1a, 0xe1]),
    Buffer.from('fe800000000000000202b3fffe1e8329', 'hex'), Buffer.from([0xff, 0xff]),
  ]);
  const b6 = encodeAnnounceReply({ interval: 1800, complete: 1, incomplete: 1, peers: v6, peerLength: 18, compact: false });
  const d6 = refDecode(b6);
  assert.equal(d6['peers6'], undefined);
  const list6 = (d6['peers'] as RefDict[]).map((p) => [Buffer.from(p['ip'] as Uint8Array).toString(), p['port']]);
  assert.deepEqual(list6, [['2001:db8::1', 6881], ['fe80::202:b3ff:fe1e:8329', 65535]]);
  assertCanonical(b6);
  const ours = parseAnnounceReply(b6);
  assert.ok(ours.type === 'announce');
  assert.deepEqual(ours.peerList, [{ ip: '2001:db8::1', port: 6881 }, { ip: 'fe80::202:b3ff:fe1e:8329', port: 65535 }]);

  const empty = encodeAnnounceReply({ interval: 1, complete: 0, incomplete: 0, peers: new Uint8Array(0), peerLength: 6, compact: false });
  assert.equal(empty.toString(), 'd8:completei0e10:incompletei0e8:intervali1e5:peerslee');
});

test('announce reply: warning, tracker id, partial trailing peer ignored, odd numbers sanitized', () => {
  const body = encodeAnnounceReply({
    interval: 1800.7,
    complete: Number.NaN,
    incomplete: 2 ** 60,
    peers: Buffer.from([1, 2, 3, 4, 0, 1, 9, 9]),
    peerLength: 6,
    compact: true,
    warning: 'attention ✓ é',
    trackerId: 'tid\xff',
  });
  const d = refDecode(body);
  assert.equal(d['interval'], 1800);
  assert.equal(d['complete'], 0);
  assert.equal(d['incomplete'], Number.MAX_SAFE_INTEGER);
  assert.equal((d['peers'] as Uint8Array).length, 6);
  assert.equal(Buffer.from(d['warning message'] as Uint8Array).toString('utf8'), 'attention ✓ é');
  assert.deepEqual(Buffer.from(d['tracker id'] as Uint8Array), Buffer.from('tid\xff', 'latin1'));
  assertCanonical(body);
  const ours = parseAnnounceReply(body);
  assert.ok(ours.type === 'announce');
  assert.equal(ours.warning, 'attention ✓ é');
  assert.equal(ours.trackerId, 'tid\xff');
});

test('property: random announce replies decode with both decoders and are canonical', (t) => {
  printSeed(t);
  const r = rngFor('announce-replies');
  for (let i = 0; i < 1000; i++) {
    const peerLength = int(r, 2) ? 6 : 18;
    const peers = randomBytes(r, peerLength * int(r, 60));
    const compact = int(r, 4) !== 0;
    const params = {
      interval: int(r, 5000),
      minInterval: int(r, 2) ? int(r, 5000) : undefined,
      complete: int(r, 2) ? int(r, 100) : Math.floor(r() * Number.MAX_SAFE_INTEGER),
      incomplete: int(r, 1e6),
      downloaded: int(r, 2) ? int(r, 1e7) : undefined,
      peers,
      peerLength: peerLength as 6 | 18,
      compact,
      warning: int(r, 5) === 0 ? 'w' + randomBinary(r, int(r, 10)) : undefined,
      trackerId: int(r, 5) === 0 ? randomBinary(r, int(r, 10)) : undefined,
    };
    const body = encodeAnnounceReply(params);
    const ctx = where('announce reply', i);
    const ref = refDecode(body);
    assert.equal(ref['complete'], params.complete, ctx);
    assertCanonical(body);
    const ours = parseAnnounceReply(body);
    assert.ok(ours.type === 'announce', ctx);
    assert.equal(ours.interval, params.interval, ctx);
    assert.equal(ours.minInterval, params.minInterval, ctx);
    assert.equal(ours.downloaded, params.downloaded, ctx);
    if (compact) assert.deepEqual(Buffer.from(peerLength === 6 ? ours.peers : ours.peers6), peers, ctx);
    else assert.equal(ours.peerList?.length, peers.length / peerLength, ctx);
  }
});

test('scrape reply: files keyed by raw 20-byte hash, sorted, BEP 48 stats', () => {
  const binary = Buffer.from(HASH_HEX, 'hex').toString('latin1');
  const ascii = 'A'.repeat(20);
  const body = encodeScrapeReply([
    [binary, { complete: 3, incomplete: 4, downloaded: 5 }],
    [ascii, { complete: 0, incomplete: 0, downloaded: 0 }],
    [binary, { complete: 9, incomplete: 9, downloaded: 9 }], // duplicate: first kept
  ]);
  assert.equal(
    body.toString('latin1'),
    'd5:filesd20:' + ascii + 'd8:completei0e10:downloadedi0e10:incompletei0ee20:' + binary + 'd8:completei3e10:downloadedi5e10:incompletei4eeee',
  );
  // The npm decoder accepts it (it UTF-8-decodes keys, so check the ASCII key through it).
  const d = refDecode(body);
  const files = d['files'] as Record<string, RefDict>;
  assert.equal(Object.keys(files).length, 2);
  assert.deepEqual(files[ascii], { complete: 0, downloaded: 0, incomplete: 0 });
  // Our decoder keeps binary keys exact.
  const ours = parseScrapeReply(body);
  assert.ok(ours.type === 'scrape');
  assert.deepEqual(ours.files.get(binary), { complete: 3, incomplete: 4, downloaded: 5 });
  assert.deepEqual([...ours.files.keys()].map((k) => Buffer.from(k, 'latin1').length), [20, 20]);
  assert.equal(encodeScrapeReply([]).toString(), 'd5:filesdee');
});

test('property: random scrape replies round trip and are sorted', (t) => {
  printSeed(t);
  const r = rngFor('scrape-replies');
  for (let i = 0; i < 500; i++) {
    const entries = Array.from({ length: int(r, 80) }, () => [randomBinary(r, 20), { complete: int(r, 1e6), incomplete: int(r, 1e6), downloaded: int(r, 1e9) }] as const);
    const body = encodeScrapeReply(entries);
    const ours = parseScrapeReply(body);
    assert.ok(ours.type === 'scrape', where('scrape reply', i));
    const expected = new Map<string, unknown>();
    for (const [h, s] of entries) if (!expected.has(h)) expected.set(h, s);
    assert.equal(ours.files.size, expected.size);
    for (const [h, s] of expected) assert.deepEqual(ours.files.get(h), s, where('scrape reply', i));
    const keys = [...ours.files.keys()];
    assert.deepEqual(keys, [...keys].sort(), 'keys in byte order');
    refDecode(body); // the standard decoder accepts it
  }
});

test('failure reply format', () => {
  assert.equal(encodeFailure('invalid info_hash').toString(), 'd14:failure reason17:invalid info_hashe');
  assert.equal(encodeFailure('').toString(), 'd14:failure reason0:e');
  const utf = encodeFailure('interdit ✓');
  assert.deepEqual(utf, Buffer.concat([Buffer.from('d14:failure reason12:'), Buffer.from('interdit ✓'), Buffer.from('e')]));
  const d = refDecode(utf);
  assert.equal(Buffer.from(d['failure reason'] as Uint8Array).toString(), 'interdit ✓');
  assert.deepEqual(parseAnnounceReply(utf), { type: 'failure', reason: 'interdit ✓' });
  assert.deepEqual(parseScrapeReply(utf), { type: 'failure', reason: 'interdit ✓' });
  const long = 'x'.repeat(1234);
  assert.ok(encodeFailure(long).toString().startsWith('d14:failure reason1234:x'));
});

test('client reply parsers report malformed bodies as invalid', () => {
  for (const body of ['', 'le', 'i1e', 'd8:intervali1e5:peers5:abcdee', 'd8:intervali1e6:peers65:abcdee', 'd5:peers0:e', 'd8:intervali1e5:peersi1ee', 'd8:intervali1e5:peersli1eee']) {
    assert.equal(parseAnnounceReply(Buffer.from(body)).type, 'invalid', body);
  }
  for (const body of ['', 'de', 'd5:filesi1ee', 'd5:filesd1:xi1eee']) {
    assert.equal(parseScrapeReply(Buffer.from(body)).type, 'invalid', body);
  }
});

test('client reply parsers refuse what would hang or overflow the npm decoder, and accept the same bodies well-formed', () => {
  // The npm decoder steps back on a negative length and loops forever on these; it also recurses per level.
  const hostile = ['l-3:e', 'd8:intervali1e5:peers-2:e', 'd8:intervali1e5:peersl-1:ee', 'l'.repeat(100_000) + 'e'.repeat(100_000), 'd8:intervali1e5:peers99:abce', 'd8:intervali1e5:peers0:ee'];
  for (const body of hostile) {
    assert.equal(parseAnnounceReply(Buffer.from(body)).type, 'invalid', body.slice(0, 40));
    assert.equal(parseScrapeReply(Buffer.from(body)).type, 'invalid', body.slice(0, 40));
  }
  // Positive control: the same shapes with valid lengths and nesting decode.
  assert.equal(parseAnnounceReply(Buffer.from('d8:intervali1e5:peers0:e')).type, 'announce');
  assert.equal(parseAnnounceReply(Buffer.from('d8:intervali1e5:peerslee')).type, 'announce');
  assert.equal(parseAnnounceReply(Buffer.from('d8:intervali-1e5:peers0:e')).type, 'announce');
  assert.equal(parseScrapeReply(Buffer.from('d1:a' + 'l'.repeat(60) + 'e'.repeat(60) + '5:filesdee')).type, 'scrape');
});

test('client scrape parser keeps binary info-hash keys exact, including ones the npm decoder turns into hex or strips a byte-order mark from', () => {
  const hashes = [
    Buffer.from('efbbbf' + '41'.repeat(17), 'hex').toString('latin1'), // UTF-8 BOM + ASCII: TextDecoder drops the BOM
    Buffer.from('ff'.repeat(20), 'hex').toString('latin1'), // not UTF-8: the npm decoder gives hex
    Buffer.from('e282ac'.repeat(6) + '4142', 'hex').toString('latin1'), // valid multi-byte UTF-8
    'A'.repeat(20),
  ];
  const body = encodeScrapeReply(hashes.map((h, i) => [h, { complete: i, incomplete: 0, downloaded: 0 }] as const));
  const ours = parseScrapeReply(body);
  assert.ok(ours.type === 'scrape');
  assert.deepEqual([...ours.files.keys()].sort(), [...hashes].sort());
  for (const [i, h] of hashes.entries()) assert.equal(ours.files.get(h)?.complete, i);
});

// ---------------------------------------------------------------- never-throws properties

const NASTY = ['%', '&', '=', '+', '?', '#', '%G', '%4', '%%', '%00', '%FF', '\u0100', '\uffff', '\ud83d', '\udc00', '✓', '\x00', '\xff', 'info_hash=', 'peer_id=', 'port=', 'left=', 'event=', 'numwant=-', 'compact=0', 'key=', 'trackerid='];

function randomQuery(r: () => number, maxLen: number): string {
  let s = '';
  const target = int(r, maxLen);
  while (s.length < target) {
    const k = int(r, 5);
    if (k === 0) s += NASTY[int(r, NASTY.length)];
    else if (k === 1) s += String.fromCharCode(int(r, 0x10000));
    else if (k === 2) s += String.fromCharCode(int(r, 256));
    else s += String.fromCharCode(0x20 + int(r, 95));
  }
  return s;
}

function checkAnnounce(raw: string, ctx: string): HttpAnnounceParseResult {
  let res: HttpAnnounceParseResult;
  try {
    res = parseAnnounceQuery(raw);
  } catch (e) {
    assert.fail(`${ctx}: threw ${String(e)} for ${JSON.stringify(raw.slice(0, 300))}`);
  }
  if (res.ok) {
    const v = res.value;
    for (const id of [v.infoHash, v.peerId]) {
      assert.equal(id.length, 20, ctx);
      for (let i = 0; i < 20; i++) assert.ok(id.charCodeAt(i) <= 0xff, ctx);
    }
    assert.ok(Number.isInteger(v.port) && v.port >= 1 && v.port <= 65535, ctx);
    for (const n of [v.uploaded, v.downloaded, v.left, v.numwant]) assert.ok(Number.isSafeInteger(n) && n >= 0, ctx);
    assert.ok(v.event >= 0 && v.event <= 3, ctx);
  } else {
    assert.equal(typeof res.error, 'string', ctx);
  }
  return res;
}

function checkScrape(raw: string, max: number, ctx: string): HttpScrapeParseResult {
  let res: HttpScrapeParseResult;
  try {
    res = parseScrapeQuery(raw, max);
  } catch (e) {
    assert.fail(`${ctx}: threw ${String(e)} for ${JSON.stringify(raw.slice(0, 300))}`);
  }
  if (res.ok) {
    assert.ok(res.infoHashes.length <= Math.max(0, max), ctx);
    assert.equal(new Set(res.infoHashes).size, res.infoHashes.length, ctx);
    for (const h of res.infoHashes) assert.equal(Buffer.byteLength(h, 'latin1'), 20, ctx);
  }
  return res;
}

const VALID_ANNOUNCE = buildAnnounceQuery({
  infoHash: HASH,
  peerId: '-qB4650-' + '\x80\x81\xfe\xff\x00\x01\x02\x03\x04\x05\x06\x07',
  port: 51413,
  uploaded: 1,
  downloaded: 2,
  left: 3,
  event: AnnounceEvent.Started,
  numwant: 80,
  key: 'a1b2c3',
  noPeerId: true,
});

test('property: parsers never throw on random strings (incl. 2 KB+, chars > 0xFF, bad escapes)', (t) => {
  printSeed(t);
  const r = rngFor('random-queries');
  for (let i = 0; i < 4000; i++) {
    const raw = randomQuery(r, i % 10 === 0 ? 6000 : 300);
    checkAnnounce(raw, where('random announce', i));
    checkScrape(raw, int(r, 100) - 5, where('random scrape', i));
  }
  // Pure garbage of 2 KB+ and the worst cases we can think of.
  const big = [
    'x'.repeat(4096),
    '%'.repeat(4096),
    '&'.repeat(4096),
    '='.repeat(4096),
    'info_hash='.repeat(500),
    ('info_hash=' + '%41'.repeat(20) + '&').repeat(2000),
    'info_hash=' + '%'.repeat(3000),
    'left=' + '9'.repeat(100000),
    '\u0100'.repeat(5000),
    '\ud800'.repeat(3000),
    'a&'.repeat(100000), // linear time: no rescans for '=' per parameter
    'info_hash&'.repeat(50000) + 'info_hash=' + 'a'.repeat(20),
  ];
  for (const raw of big) {
    checkAnnounce(raw, 'big');
    checkScrape(raw, 74, 'big');
  }
});

test('property: parsers never throw on every truncation and random mutations of valid queries', (t) => {
  printSeed(t);
  const validScrape = buildScrapeQuery([HASH, 'x'.repeat(20), '\xff'.repeat(20)]);
  for (let len = 0; len <= VALID_ANNOUNCE.length; len++) checkAnnounce(VALID_ANNOUNCE.slice(0, len), `announce truncation ${len}`);
  for (let len = 0; len <= validScrape.length; len++) checkScrape(validScrape.slice(0, len), 74, `scrape truncation ${len}`);
  assert.ok(parseAnnounceQuery(VALID_ANNOUNCE).ok);
  const r = rngFor('mutate-queries');
  for (let i = 0; i < 4000; i++) {
    const base = int(r, 2) ? VALID_ANNOUNCE : validScrape;
    const chars = [...base];
    for (let k = 1 + int(r, 4); k > 0; k--) {
      const pos = int(r, chars.length + 1);
      const op = int(r, 3);
      const ins = int(r, 2) ? NASTY[int(r, NASTY.length)] : String.fromCharCode(int(r, 0x10000));
      if (op === 0) chars.splice(pos, 1);
      else if (op === 1) chars.splice(pos, 0, ins);
      else chars[pos] = ins;
    }
    const raw = chars.join('');
    checkAnnounce(raw, where('mutated announce', i));
    checkScrape(raw, 74, where('mutated scrape', i));
  }
});

test('property: client reply parsers never throw on random, truncated and flipped bodies', (t) => {
  printSeed(t);
  const r = rngFor('reply-noise');
  const valid = [
    encodeAnnounceReply({ interval: 1, complete: 1, incomplete: 1, peers: Buffer.alloc(12, 1), peerLength: 6, compact: true, warning: 'w' }),
    encodeAnnounceReply({ interval: 1, complete: 1, incomplete: 1, peers: Buffer.alloc(36, 1), peerLength: 18, compact: false }),
    encodeScrapeReply([[HASH, { complete: 1, incomplete: 2, downloaded: 3 }]]),
    encodeFailure('no'),
  ];
  const run = (b: Uint8Array, ctx: string): void => {
    try {
      parseAnnounceReply(b);
      parseScrapeReply(b);
    } catch (e) {
      assert.fail(`${ctx}: threw ${String(e)} for ${Buffer.from(b).toString('hex')}`);
    }
  };
  for (const b of valid) for (let len = 0; len <= b.length; len++) run(b.subarray(0, len), `truncation ${len}`);
  for (let i = 0; i < 3000; i++) {
    run(randomBytes(r, int(r, 200)), where('random body', i));
    const m = Buffer.from(valid[int(r, valid.length)]);
    m[int(r, m.length)] ^= 1 + int(r, 255);
    run(m, where('flipped body', i));
  }
});
