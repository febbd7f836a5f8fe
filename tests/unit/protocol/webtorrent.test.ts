import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import {
  encodeAnnounceReply,
  encodeAnswer,
  encodeOffer,
  encodeScrapeReply,
  encodeWtFailure,
  parseWtMessage,
  WT_ANNOUNCE_KEYS,
  type WtAnnounceMessage,
  type WtInbound,
  type WtParseLimits,
} from '../../../lib/protocol/webtorrent/server.js';
import { QueryParams } from '../../../lib/protocol/query.js';
import {
  encodeAnnounceRequest,
  encodeAnswerRequest,
  encodeScrapeRequest,
  parseWtServerMessage,
  type WtServerMessage,
} from '../../../lib/protocol/webtorrent/client.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { int, pick, randomBinary, rngFor, where } from '../../support/seeded-random.js';

// ---------------------------------------------------------------- fixtures

const LIMITS: WtParseLimits = { maxOffers: 10, maxScrapeHashes: 74 };
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** uint8-util's hex2bin / bin2hex, which the reference client uses for every id. */
const hex2bin = (hex: string): string => Buffer.from(hex, 'hex').toString('binary');
const bin2hex = (bin: string): string => Buffer.from(bin, 'binary').toString('hex');

/** What a WebSocket does to a text frame: UTF-8 on the wire, decoded again on the other side. */
const wire = (text: string): string => new TextDecoder().decode(Buffer.from(text, 'utf8'));

const HASH = hex2bin('c12fe1c06bba254a9dc9f519b335aa7c1367a88a');
const SEEDER_ID = hex2bin('2d5757303130302d' + 'a1b2c3d4e5f60718293a4b5c'); // -WW0100- + 12 random bytes
const LEECHER_ID = hex2bin('2d5757303130302d' + '00ff22ee5c7f0a0d22805c09');
/** Ids that need JSON escaping or are raw non-ASCII: control chars, quote, backslash, DEL, 0x80..0xFF. */
const NASTY_ID = '\u0000\u0001\u001f"\\\u007f\u0080\u00ff\n\r\t\b\f/\u00a0\u00e9\u00fe<>\'';
assert.equal(NASTY_ID.length, 20);

/** 13 ids that together contain every byte value 0..255 at least once. */
const ALL_BYTE_IDS: string[] = [];
for (let k = 0; k < 13; k++) {
  let s = '';
  for (let i = 0; i < 20; i++) s += String.fromCharCode((k * 20 + i) & 0xff);
  ALL_BYTE_IDS.push(s);
}

const SDP_OFFER =
  'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n' +
  'a=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n' +
  'c=IN IP4 0.0.0.0\r\na=ice-ufrag:Yx3b\r\na=ice-pwd:9f6dK0c1uG8oN0r1X1n2pQ3s\r\n' +
  'a=ice-options:trickle\r\na=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:5B:B4:3A:0C:F2:AC:48:26:73:5F:C4:9C\r\n' +
  'a=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n' +
  'a=candidate:1 1 udp 2113937151 "quoted" \\backslash\\ 192.168.1.2 54321 typ host ünïcödé 中文 😀\r\n';
const SDP_ANSWER = SDP_OFFER.replace('a=setup:actpass', 'a=setup:active');

const INVALID_NOT_OBJECT = { type: 'invalid', reason: 'invalid message: expected a JSON object', action: undefined, infoHash: undefined };
const MISSING_ACTION = { type: 'invalid', reason: 'missing action', action: undefined, infoHash: undefined };
const INVALID_ACTION = { type: 'invalid', reason: 'invalid action', action: undefined, infoHash: undefined };

function parse(text: string, limits: WtParseLimits = LIMITS): WtInbound {
  const r = parseWtMessage(text, limits);
  checkInbound(r, limits);
  return r;
}
function announceOf(text: string, limits: WtParseLimits = LIMITS): WtAnnounceMessage {
  const r = parse(text, limits);
  assert.equal(r.type, 'announce', `${text.slice(0, 200)}: ${r.type === 'invalid' ? r.reason : r.type}`);
  return r as WtAnnounceMessage;
}
function invalidOf(text: string, limits: WtParseLimits = LIMITS): Extract<WtInbound, { type: 'invalid' }> {
  const r = parse(text, limits);
  assert.equal(r.type, 'invalid', `expected invalid for ${text.slice(0, 200)}`);
  return r as Extract<WtInbound, { type: 'invalid' }>;
}
function serverMessage(text: string): WtServerMessage {
  const r = parseWtServerMessage(text);
  checkServerMessage(r);
  return r;
}

const isId = (v: unknown): boolean => {
  if (typeof v !== 'string' || v.length !== 20) return false;
  for (let i = 0; i < 20; i++) if (v.charCodeAt(i) > 0xff) return false;
  return true;
};
const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && !Object.is(v, -0);

/** Shape invariants of every parse result, whatever the input. */
function checkInbound(r: WtInbound, limits: WtParseLimits): void {
  assert.equal(Object.getPrototypeOf(r), Object.prototype);
  switch (r.type) {
    case 'announce': {
      assert.ok(isId(r.infoHash) && isId(r.peerId));
      assert.ok([0, 1, 2, 3].includes(r.event));
      assert.ok(r.left === null || isCount(r.left));
      assert.ok(isCount(r.uploaded) && isCount(r.downloaded) && isCount(r.numwant));
      assert.ok(Array.isArray(r.offers) && r.offers.length <= Math.max(0, limits.maxOffers));
      assert.equal(typeof r.offersTruncated, 'boolean');
      for (const o of r.offers) {
        assert.deepEqual(Object.keys(o), ['offerId', 'offer']);
        assert.ok(isId(o.offerId));
        assert.deepEqual(Object.keys(o.offer), ['type', 'sdp']);
        assert.equal(o.offer.type, 'offer');
        assert.equal(typeof o.offer.sdp, 'string');
      }
      if (r.answer !== undefined) {
        assert.ok(isId(r.answer.toPeerId) && isId(r.answer.offerId));
        assert.deepEqual(Object.keys(r.answer.answer), ['type', 'sdp']);
        assert.equal(r.answer.answer.type, 'answer');
        assert.equal(typeof r.answer.answer.sdp, 'string');
      }
      assert.deepEqual(Object.keys(r), [
        'type', 'infoHash', 'peerId', 'event', 'left', 'uploaded', 'downloaded', 'numwant', 'offers', 'offersTruncated', 'answer', 'params',
      ]);
      assert.equal(typeof r.params.path, 'string');
      for (const [name, value] of r.params.entries()) {
        assert.ok(typeof name === 'string' && typeof value === 'string');
        assert.ok(!WT_ANNOUNCE_KEYS.has(name), `${name} is read by the parser, not offered to hooks`);
      }
      break;
    }
    case 'scrape':
      assert.ok(Array.isArray(r.infoHashes) && r.infoHashes.length <= Math.max(0, limits.maxScrapeHashes));
      for (const h of r.infoHashes) assert.ok(isId(h));
      assert.equal(typeof r.truncated, 'boolean');
      assert.deepEqual(Object.keys(r), ['type', 'infoHashes', 'truncated']);
      break;
    case 'invalid':
      assert.deepEqual(Object.keys(r), ['type', 'reason', 'action', 'infoHash']);
      assert.equal(typeof r.reason, 'string');
      assert.ok(r.reason.length > 0 && r.reason.length < 100);
      assert.ok(r.action === undefined || r.action === 'announce' || r.action === 'scrape');
      assert.ok(r.infoHash === undefined || (isId(r.infoHash) && r.action === 'announce'));
      break;
    default:
      assert.fail(`unexpected result ${JSON.stringify(r)}`);
  }
}

function checkServerMessage(r: WtServerMessage): void {
  assert.equal(Object.getPrototypeOf(r), Object.prototype);
  switch (r.type) {
    case 'announce':
      assert.ok(isId(r.infoHash));
      for (const n of [r.interval, r.complete, r.incomplete]) assert.ok(typeof n === 'number' && n >= 0);
      assert.ok(r.warning === undefined || typeof r.warning === 'string');
      assert.deepEqual(Object.keys(r), ['type', 'infoHash', 'interval', 'complete', 'incomplete', 'warning']);
      break;
    case 'offer':
      assert.ok(isId(r.infoHash) && isId(r.peerId) && isId(r.offerId));
      assert.equal(r.offer.type, 'offer');
      assert.equal(typeof r.offer.sdp, 'string');
      break;
    case 'answer':
      assert.ok(isId(r.infoHash) && isId(r.peerId) && isId(r.offerId));
      assert.equal(r.answer.type, 'answer');
      assert.equal(typeof r.answer.sdp, 'string');
      break;
    case 'scrape':
      assert.ok(r.files instanceof Map);
      for (const [h, s] of r.files) {
        assert.ok(isId(h));
        for (const n of [s.complete, s.incomplete, s.downloaded]) assert.ok(typeof n === 'number' && n >= 0);
      }
      break;
    case 'failure':
      assert.equal(typeof r.reason, 'string');
      assert.ok(r.infoHash === undefined || isId(r.infoHash));
      assert.ok(r.action === undefined || r.action === 'announce' || r.action === 'scrape');
      assert.deepEqual(Object.keys(r), ['type', 'reason', 'action', 'infoHash']);
      break;
    case 'invalid':
      assert.equal(typeof r.reason, 'string');
      break;
    default:
      assert.fail(`unexpected result ${JSON.stringify(r)}`);
  }
}

// ---------------------------------------------------------------- the reference client, transcribed

/*
 * These build frames exactly the way bittorrent-tracker@11's
 * lib/client/websocket-tracker.js (and client.js#_defaultAnnounceOpts) do,
 * then send them through JSON.stringify and a UTF-8 WebSocket.
 */

interface RefClient {
  readonly infoHashBinary: string;
  readonly peerIdBinary: string;
  /** Pending offers by hex offer id, as `this.peers` in websocket-tracker.js. */
  readonly peers: Map<string, true>;
  trackerId?: string;
  /** webtorrent's getAnnounceOpts(): left = Math.max(length - downloaded, 0), NaN (-> null) before metadata. */
  getAnnounceOpts?: () => Record<string, unknown>;
}

function refClient(infoHashBinary: string, peerIdBinary: string): RefClient {
  return { infoHashBinary, peerIdBinary, peers: new Map() };
}

/** client.js#_defaultAnnounceOpts */
function defaultAnnounceOpts(c: RefClient, opts: Record<string, unknown> = {}): Record<string, unknown> {
  if (opts.numwant == null) opts.numwant = 50; // common.DEFAULT_ANNOUNCE_PEERS
  if (opts.uploaded == null) opts.uploaded = 0;
  if (opts.downloaded == null) opts.downloaded = 0;
  if (c.getAnnounceOpts) opts = Object.assign({}, opts, c.getAnnounceOpts());
  return opts;
}

let offerCounter = 0;
/** websocket-tracker.js#announce + _generateOffers (simple-peer signals {type:'offer', sdp}). */
function refAnnounce(c: RefClient, event: 'started' | 'stopped' | 'completed' | undefined, extra: Record<string, unknown> = {}): string {
  const opts = defaultAnnounceOpts(c, extra);
  if (event !== undefined) opts.event = event;
  else delete opts.event; // client.update()
  const params: Record<string, unknown> = Object.assign({}, opts, {
    action: 'announce',
    info_hash: c.infoHashBinary,
    peer_id: c.peerIdBinary,
  });
  if (c.trackerId) params.trackerid = c.trackerId;
  if (opts.event === 'stopped' || opts.event === 'completed') return wire(JSON.stringify(params));
  const numwant = Math.min(opts.numwant as number, 5);
  const offers: { offer: { type: string; sdp: string }; offer_id: string }[] = [];
  for (let i = 0; i < numwant; ++i) {
    // arr2hex(randomBytes(20)); deterministic here, and every 5th one full of escapes
    const offerIdHex = i === 4 ? bin2hex(NASTY_ID) : (++offerCounter).toString(16).padStart(40, 'f0');
    c.peers.set(offerIdHex, true);
    offers.push({ offer: { type: 'offer', sdp: SDP_OFFER }, offer_id: hex2bin(offerIdHex) });
  }
  params.numwant = numwant;
  params.offers = offers;
  return wire(JSON.stringify(params));
}

/** websocket-tracker.js#scrape */
function refScrape(c: RefClient, infoHash?: string | string[]): string {
  const infoHashes =
    Array.isArray(infoHash) && infoHash.length > 0
      ? infoHash.map((h) => hex2bin(h))
      : (typeof infoHash === 'string' && hex2bin(infoHash)) || c.infoHashBinary;
  return wire(JSON.stringify({ action: 'scrape', info_hash: infoHashes }));
}

type ClientReaction =
  | { kind: 'warning'; message: string }
  | { kind: 'socket-error'; message: string }
  | { kind: 'ignored' }
  | { kind: 'interval'; ms: number }
  | { kind: 'update'; infoHash: string; complete: unknown; incomplete: unknown }
  | { kind: 'peer-from-offer'; peerIdHex: string; offer: unknown; answerFrame: string }
  | { kind: 'peer-from-answer'; peerIdHex: string; answer: unknown }
  | { kind: 'unexpected-answer' }
  | { kind: 'scrape'; infoHash: string; complete: unknown; incomplete: unknown; downloaded: unknown };

/** websocket-tracker.js#_onSocketData / _onAnnounceResponse / _onScrapeResponse, reduced to what they do. */
function refOnData(c: RefClient, frame: string): ClientReaction[] {
  let data: any;
  try {
    data = JSON.parse(wire(frame));
  } catch {
    return [{ kind: 'warning', message: 'Invalid tracker response' }];
  }
  if (data.action === 'announce') {
    if (data.info_hash !== c.infoHashBinary) return [{ kind: 'ignored' }];
    if (data.peer_id && data.peer_id === c.peerIdBinary) return [{ kind: 'ignored' }];
    const out: ClientReaction[] = [];
    const failure = data['failure reason'];
    if (failure) return [{ kind: 'warning', message: failure }];
    const warning = data['warning message'];
    if (warning) out.push({ kind: 'warning', message: warning });
    const interval = data.interval || data['min interval'];
    if (interval) out.push({ kind: 'interval', ms: interval * 1000 });
    const trackerId = data['tracker id'];
    if (trackerId) c.trackerId = trackerId;
    if (data.complete != null) {
      out.push({ kind: 'update', infoHash: bin2hex(data.info_hash), complete: data.complete, incomplete: data.incomplete });
    }
    if (data.offer && data.peer_id) {
      const params: Record<string, unknown> = {
        action: 'announce',
        info_hash: c.infoHashBinary,
        peer_id: c.peerIdBinary,
        to_peer_id: data.peer_id,
        answer: { type: 'answer', sdp: SDP_ANSWER }, // what simple-peer signals back
        offer_id: data.offer_id,
      };
      if (c.trackerId) params.trackerid = c.trackerId;
      out.push({ kind: 'peer-from-offer', peerIdHex: bin2hex(data.peer_id), offer: data.offer, answerFrame: wire(JSON.stringify(params)) });
    }
    if (data.answer && data.peer_id) {
      const offerId = bin2hex(data.offer_id);
      if (c.peers.has(offerId)) {
        c.peers.delete(offerId);
        out.push({ kind: 'peer-from-answer', peerIdHex: bin2hex(data.peer_id), answer: data.answer });
      } else {
        out.push({ kind: 'unexpected-answer' });
      }
    }
    return out;
  }
  if (data.action === 'scrape') {
    const files = data.files || {};
    const keys = Object.keys(files);
    if (keys.length === 0) return [{ kind: 'warning', message: 'invalid scrape response' }];
    return keys.map((h) => ({
      kind: 'scrape' as const,
      infoHash: bin2hex(h),
      complete: files[h].complete,
      incomplete: files[h].incomplete,
      downloaded: files[h].downloaded,
    }));
  }
  return [{ kind: 'socket-error', message: `invalid action in WS response: ${data.action}` }];
}

// ---------------------------------------------------------------- messages as the reference client sends them

test('start announce with offers, exactly as the reference client builds it', () => {
  const c = refClient(HASH, SEEDER_ID);
  c.getAnnounceOpts = () => ({ uploaded: 0, downloaded: 1000, left: Math.max(5000 - 1000, 0) });
  const frame = refAnnounce(c, 'started');
  const r = announceOf(frame);
  assert.equal(r.infoHash, HASH);
  assert.equal(r.peerId, SEEDER_ID);
  assert.equal(r.event, AnnounceEvent.Started);
  assert.equal(r.left, 4000);
  assert.equal(r.uploaded, 0);
  assert.equal(r.downloaded, 1000);
  assert.equal(r.numwant, 5);
  assert.equal(r.offers.length, 5);
  assert.equal(r.offersTruncated, false);
  const sent = JSON.parse(frame) as { offers: { offer: { type: string; sdp: string }; offer_id: string }[] };
  r.offers.forEach((o, i) => {
    assert.equal(o.offerId, sent.offers[i].offer_id);
    assert.ok(c.peers.has(bin2hex(o.offerId)));
    assert.deepEqual(o.offer, { type: 'offer', sdp: SDP_OFFER });
  });
  assert.equal(r.offers[4].offerId, NASTY_ID);
  assert.equal(r.answer, undefined);
});

test('left: null (webtorrent before metadata: NaN serialises as null) and missing left are unknown, 0 is a seeder', () => {
  const c = refClient(HASH, LEECHER_ID);
  c.getAnnounceOpts = () => ({ uploaded: 0, downloaded: 0, left: Math.max(Number(undefined) - 0, 0) });
  const frame = refAnnounce(c, 'started');
  assert.match(frame, /"left":null/);
  assert.equal(announceOf(frame).left, null);

  const noOpts = refClient(HASH, LEECHER_ID); // bittorrent-tracker alone never sends left
  const noLeft = refAnnounce(noOpts, 'started');
  assert.ok(!noLeft.includes('"left"'));
  assert.equal(announceOf(noLeft).left, null);

  const seeder = refClient(HASH, SEEDER_ID);
  seeder.getAnnounceOpts = () => ({ uploaded: 7, downloaded: 5000, left: Math.max(5000 - 5000, 0) });
  assert.equal(announceOf(refAnnounce(seeder, 'completed')).left, 0);
});

test('update (no event), stopped and completed announces as the reference client sends them', () => {
  const c = refClient(HASH, SEEDER_ID);
  c.trackerId = 'tracker-id-from-server';
  const update = refAnnounce(c, undefined);
  assert.ok(!update.includes('"event"'));
  const u = announceOf(update);
  assert.equal(u.event, AnnounceEvent.None);
  assert.equal(u.offers.length, 5);

  // stopped/completed carry no offers and the unclamped default numwant (50)
  for (const [ev, expected] of [['stopped', AnnounceEvent.Stopped], ['completed', AnnounceEvent.Completed]] as const) {
    const r = announceOf(refAnnounce(c, ev));
    assert.equal(r.event, expected);
    assert.deepEqual(r.offers, []);
    assert.equal(r.numwant, 50);
    assert.equal(r.offersTruncated, false);
  }
  // numwant: 0 (e.g. client.update({numwant: 0})) gives no offers at all but an empty array
  const zero = announceOf(refAnnounce(c, undefined, { numwant: 0 }));
  assert.deepEqual(zero.offers, []);
  assert.equal(zero.numwant, 0);
});

test('answer message as the reference client sends it after receiving an offer', () => {
  const seeder = refClient(HASH, SEEDER_ID);
  const leecher = refClient(HASH, LEECHER_ID);
  const start = announceOf(refAnnounce(seeder, 'started'));
  const offer = start.offers[4]; // the one with the nasty offer id
  const reactions = refOnData(leecher, encodeOffer({ infoHash: HASH, fromPeerId: SEEDER_ID, offerId: offer.offerId, offer: offer.offer }));
  assert.equal(reactions.length, 1);
  const got = reactions[0];
  assert.ok(got.kind === 'peer-from-offer');
  assert.equal(got.peerIdHex, bin2hex(SEEDER_ID));
  assert.deepEqual(got.offer, { type: 'offer', sdp: SDP_OFFER });

  const a = announceOf(got.answerFrame);
  assert.equal(a.infoHash, HASH);
  assert.equal(a.peerId, LEECHER_ID);
  assert.equal(a.event, AnnounceEvent.None);
  assert.equal(a.left, null);
  assert.deepEqual(a.offers, []);
  assert.deepEqual(a.answer, { toPeerId: SEEDER_ID, offerId: NASTY_ID, answer: { type: 'answer', sdp: SDP_ANSWER } });

  // ... and the relayed answer reaches the seeder's pending peer for that offer id
  const back = refOnData(seeder, encodeAnswer({ infoHash: HASH, fromPeerId: LEECHER_ID, offerId: a.answer!.offerId, answer: a.answer!.answer }));
  assert.deepEqual(back, [{ kind: 'peer-from-answer', peerIdHex: bin2hex(LEECHER_ID), answer: { type: 'answer', sdp: SDP_ANSWER } }]);
  // a second relay of the same answer finds no pending offer any more
  assert.deepEqual(refOnData(seeder, encodeAnswer({ infoHash: HASH, fromPeerId: LEECHER_ID, offerId: NASTY_ID, answer: a.answer!.answer })), [
    { kind: 'unexpected-answer' },
  ]);
});

test('scrape messages as the reference client sends them: single binary string or array', () => {
  const c = refClient(HASH, LEECHER_ID);
  assert.deepEqual(parse(refScrape(c)), { type: 'scrape', infoHashes: [HASH], truncated: false });
  const hexes = ALL_BYTE_IDS.map(bin2hex);
  assert.deepEqual(parse(refScrape(c, hexes)), { type: 'scrape', infoHashes: ALL_BYTE_IDS, truncated: false });
  assert.deepEqual(parse(refScrape(c, bin2hex(NASTY_ID))), { type: 'scrape', infoHashes: [NASTY_ID], truncated: false });
});

// ---------------------------------------------------------------- server replies as the reference client reads them

test('announce reply: the reference client sets its interval and emits update', () => {
  const c = refClient(NASTY_ID, SEEDER_ID);
  const frame = encodeAnnounceReply({ infoHash: NASTY_ID, interval: 120, complete: 3, incomplete: 7 });
  assert.equal(frame, JSON.stringify({ action: 'announce', interval: 120, info_hash: NASTY_ID, complete: 3, incomplete: 7 }));
  assert.deepEqual(refOnData(c, frame), [
    { kind: 'interval', ms: 120_000 },
    { kind: 'update', infoHash: bin2hex(NASTY_ID), complete: 3, incomplete: 7 },
  ]);
  // another torrent's reply on a shared socket is ignored, as the client does
  assert.deepEqual(refOnData(refClient(HASH, SEEDER_ID), frame), [{ kind: 'ignored' }]);

  const warned = encodeAnnounceReply({ infoHash: NASTY_ID, interval: 120, complete: 0, incomplete: 1, warning: 'deprecated "x" \u2028' });
  assert.deepEqual(refOnData(c, warned), [
    { kind: 'warning', message: 'deprecated "x" \u2028' },
    { kind: 'interval', ms: 120_000 },
    { kind: 'update', infoHash: bin2hex(NASTY_ID), complete: 0, incomplete: 1 },
  ]);
});

test('failures: with action + info_hash the client warns; without an action it is a socket error', () => {
  const c = refClient(HASH, SEEDER_ID);
  assert.deepEqual(refOnData(c, encodeWtFailure('info_hash not allowed', { action: 'announce', infoHash: HASH })), [
    { kind: 'warning', message: 'info_hash not allowed' },
  ]);
  assert.deepEqual(refOnData(c, encodeWtFailure('bad', { action: 'announce' })), [{ kind: 'ignored' }]);
  assert.deepEqual(refOnData(c, encodeWtFailure('bad')), [{ kind: 'socket-error', message: 'invalid action in WS response: undefined' }]);
  assert.deepEqual(refOnData(c, encodeWtFailure('full scrapes are not allowed', { action: 'scrape' })), [
    { kind: 'warning', message: 'invalid scrape response' },
  ]);
  assert.equal(encodeWtFailure('x'), '{"failure reason":"x"}');
  assert.equal(
    encodeWtFailure('r"\\\n', { action: 'announce', infoHash: NASTY_ID }),
    JSON.stringify({ 'failure reason': 'r"\\\n', action: 'announce', info_hash: NASTY_ID }),
  );
});

test('scrape reply: the reference client emits one scrape event per file with the right hash', () => {
  const c = refClient(HASH, SEEDER_ID);
  const entries = ALL_BYTE_IDS.map((h, i) => [h, { complete: i, incomplete: i * 2, downloaded: i * 3 }] as const);
  const frame = encodeScrapeReply(entries);
  const reactions = refOnData(c, frame);
  assert.deepEqual(
    reactions,
    entries.map(([h, s]) => ({ kind: 'scrape', infoHash: bin2hex(h), ...s })),
  );
  assert.deepEqual(refOnData(c, encodeScrapeReply([])), [{ kind: 'warning', message: 'invalid scrape response' }]);
});

test('offers relayed to a peer on the same socket are ignored by the offerer itself', () => {
  const c = refClient(HASH, SEEDER_ID);
  assert.deepEqual(refOnData(c, encodeOffer({ infoHash: HASH, fromPeerId: SEEDER_ID, offerId: NASTY_ID, offer: { type: 'offer', sdp: 'x' } })), [
    { kind: 'ignored' },
  ]);
});

// ---------------------------------------------------------------- encoders: exact output

test('server encoders produce exactly JSON.stringify of the documented objects', () => {
  const r = rngFor('encoders-exact');
  for (let i = 0; i < 300; i++) {
    const ih = randomBinary(r, 20);
    const a = randomBinary(r, 20);
    const oid = randomBinary(r, 20);
    const sdp = randomBinary(r, int(r, 300)) + '\u2028😀\ud800';
    const n = int(r, 1e9);
    assert.equal(
      encodeAnnounceReply({ infoHash: ih, interval: n, complete: n + 1, incomplete: n + 2 }),
      JSON.stringify({ action: 'announce', interval: n, info_hash: ih, complete: n + 1, incomplete: n + 2 }),
      where('announce reply', i),
    );
    assert.equal(
      encodeOffer({ infoHash: ih, fromPeerId: a, offerId: oid, offer: { type: 'offer', sdp } }),
      JSON.stringify({ action: 'announce', info_hash: ih, peer_id: a, offer_id: oid, offer: { type: 'offer', sdp } }),
      where('offer', i),
    );
    assert.equal(
      encodeAnswer({ infoHash: ih, fromPeerId: a, offerId: oid, answer: { type: 'answer', sdp } }),
      JSON.stringify({ action: 'announce', info_hash: ih, peer_id: a, offer_id: oid, answer: { type: 'answer', sdp } }),
      where('answer', i),
    );
  }
});

test('server encoders sanitise counts: NaN, negatives, fractions, huge values', () => {
  const out = JSON.parse(encodeAnnounceReply({ infoHash: HASH, interval: 1.9, complete: NaN, incomplete: -5 }));
  assert.deepEqual(out, { action: 'announce', interval: 1, info_hash: HASH, complete: 0, incomplete: 0 });
  const scrape = JSON.parse(encodeScrapeReply([[HASH, { complete: Infinity, incomplete: 1e300, downloaded: -Infinity }]]));
  assert.deepEqual(scrape.files[HASH], { complete: MAX_SAFE, incomplete: MAX_SAFE, downloaded: 0 });
});

test('scrape reply: exact shape, order kept, duplicate hashes keep their first entry', () => {
  const h2 = NASTY_ID;
  assert.equal(
    encodeScrapeReply([
      [HASH, { complete: 1, incomplete: 2, downloaded: 3 }],
      [h2, { complete: 4, incomplete: 5, downloaded: 6 }],
      [HASH, { complete: 9, incomplete: 9, downloaded: 9 }],
    ]),
    JSON.stringify({
      action: 'scrape',
      files: { [HASH]: { complete: 1, incomplete: 2, downloaded: 3 }, [h2]: { complete: 4, incomplete: 5, downloaded: 6 } },
    }),
  );
  assert.equal(encodeScrapeReply([]), '{"action":"scrape","files":{}}');
});

test('client encoders: shapes match what the reference client sends', () => {
  const offers = [{ offerId: NASTY_ID, offer: { type: 'offer', sdp: SDP_OFFER } }];
  assert.deepEqual(
    JSON.parse(
      encodeAnnounceRequest({
        infoHash: HASH, peerId: SEEDER_ID, event: AnnounceEvent.Started, left: null, uploaded: 1, downloaded: 2, numwant: 1, offers, trackerId: 'tid',
      }),
    ),
    {
      action: 'announce', info_hash: HASH, peer_id: SEEDER_ID, uploaded: 1, downloaded: 2, left: null, event: 'started', numwant: 1,
      offers: [{ offer: { type: 'offer', sdp: SDP_OFFER }, offer_id: NASTY_ID }], trackerid: 'tid',
    },
  );
  assert.deepEqual(JSON.parse(encodeAnnounceRequest({ infoHash: HASH, peerId: SEEDER_ID })), {
    action: 'announce', info_hash: HASH, peer_id: SEEDER_ID, uploaded: 0, downloaded: 0,
  });
  assert.deepEqual(JSON.parse(encodeAnnounceRequest({ infoHash: HASH, peerId: SEEDER_ID, left: NaN, uploaded: Infinity })), {
    action: 'announce', info_hash: HASH, peer_id: SEEDER_ID, uploaded: null, downloaded: 0, left: null,
  });
  assert.deepEqual(
    JSON.parse(encodeAnswerRequest({ infoHash: HASH, peerId: LEECHER_ID, toPeerId: SEEDER_ID, offerId: NASTY_ID, answer: { type: 'answer', sdp: 'a' } })),
    { action: 'announce', info_hash: HASH, peer_id: LEECHER_ID, to_peer_id: SEEDER_ID, answer: { type: 'answer', sdp: 'a' }, offer_id: NASTY_ID },
  );
  assert.equal(encodeScrapeRequest(NASTY_ID), JSON.stringify({ action: 'scrape', info_hash: NASTY_ID }));
  assert.equal(encodeScrapeRequest([HASH, NASTY_ID]), JSON.stringify({ action: 'scrape', info_hash: [HASH, NASTY_ID] }));
  assert.equal(encodeScrapeRequest([]), '{"action":"scrape","info_hash":[]}');
});

// ---------------------------------------------------------------- round trips

test('round trip: client encoders -> WebSocket -> server parser, ids with every byte value', () => {
  const r = rngFor('round-trip-client');
  const ids = [...ALL_BYTE_IDS, NASTY_ID, '"'.repeat(20), '\\'.repeat(20), '\u0000'.repeat(20), '\u00ff'.repeat(20)];
  for (let i = 0; i < 400; i++) {
    const infoHash = i < ids.length ? ids[i] : randomBinary(r, 20);
    const peerId = pick(r, ids);
    const offers = Array.from({ length: int(r, 12) }, () => ({
      offerId: r() < 0.3 ? pick(r, ids) : randomBinary(r, 20),
      offer: { type: 'offer', sdp: r() < 0.5 ? SDP_OFFER : randomBinary(r, int(r, 50)) },
    }));
    const event = pick(r, [AnnounceEvent.None, AnnounceEvent.Started, AnnounceEvent.Completed, AnnounceEvent.Stopped]);
    const left = pick(r, [undefined, null, 0, 1, int(r, 1e12), MAX_SAFE]);
    const uploaded = int(r, 1e15);
    const downloaded = int(r, 1e6);
    const numwant = pick(r, [undefined, 0, 5, 50]);
    const frame = wire(encodeAnnounceRequest({ infoHash, peerId, event, left, uploaded, downloaded, numwant, offers }));
    const { params, ...got } = announceOf(frame);
    assert.deepEqual(params.entries(), [], 'the reference client sends no key the parser does not read');
    assert.deepEqual(
      got,
      {
        type: 'announce', infoHash, peerId, event, left: left ?? null, uploaded, downloaded, numwant: numwant ?? 0,
        offers: offers.slice(0, LIMITS.maxOffers), offersTruncated: offers.length > LIMITS.maxOffers, answer: undefined,
      },
      where('announce', i),
    );

    const toPeerId = pick(r, ids);
    const offerId = randomBinary(r, 20);
    const answer = { type: 'answer', sdp: randomBinary(r, int(r, 100)) };
    const ans = announceOf(wire(encodeAnswerRequest({ infoHash, peerId, toPeerId, offerId, answer })));
    assert.deepEqual(ans.answer, { toPeerId, offerId, answer }, where('answer', i));
    assert.equal(ans.infoHash, infoHash);
    assert.equal(ans.peerId, peerId);

    const hashes = Array.from({ length: int(r, 80) }, () => (r() < 0.3 ? pick(r, ids) : randomBinary(r, 20)));
    assert.deepEqual(
      parse(wire(encodeScrapeRequest(hashes))),
      { type: 'scrape', infoHashes: hashes.slice(0, LIMITS.maxScrapeHashes), truncated: hashes.length > LIMITS.maxScrapeHashes },
      where('scrape', i),
    );
    assert.deepEqual(parse(wire(encodeScrapeRequest(infoHash))), { type: 'scrape', infoHashes: [infoHash], truncated: false });
  }
});

test('round trip: server encoders -> WebSocket -> client parser', () => {
  const r = rngFor('round-trip-server');
  const ids = [...ALL_BYTE_IDS, NASTY_ID];
  for (let i = 0; i < 400; i++) {
    const infoHash = i < ids.length ? ids[i] : randomBinary(r, 20);
    const peerId = pick(r, ids);
    const offerId = randomBinary(r, 20);
    const sdp = r() < 0.5 ? SDP_OFFER : randomBinary(r, int(r, 200));
    const interval = int(r, 10_000);
    const complete = int(r, 1e6);
    const incomplete = int(r, 1e6);
    assert.deepEqual(serverMessage(wire(encodeAnnounceReply({ infoHash, interval, complete, incomplete }))), {
      type: 'announce', infoHash, interval, complete, incomplete, warning: undefined,
    });
    assert.deepEqual(serverMessage(wire(encodeAnnounceReply({ infoHash, interval, complete, incomplete, warning: sdp }))), {
      type: 'announce', infoHash, interval, complete, incomplete, warning: sdp,
    });
    assert.deepEqual(serverMessage(wire(encodeOffer({ infoHash, fromPeerId: peerId, offerId, offer: { type: 'offer', sdp } }))), {
      type: 'offer', infoHash, peerId, offerId, offer: { type: 'offer', sdp },
    }, where('offer', i));
    assert.deepEqual(serverMessage(wire(encodeAnswer({ infoHash, fromPeerId: peerId, offerId, answer: { type: 'answer', sdp } }))), {
      type: 'answer', infoHash, peerId, offerId, answer: { type: 'answer', sdp },
    }, where('answer', i));
    const entries = Array.from({ length: int(r, 20) }, () => [randomBinary(r, 20), { complete: int(r, 9), incomplete: int(r, 9), downloaded: int(r, 9) }] as const);
    const files = serverMessage(wire(encodeScrapeReply(entries)));
    assert.ok(files.type === 'scrape');
    assert.deepEqual(files.files, new Map(entries.map(([h, s]) => [h, s])));
    assert.deepEqual(serverMessage(wire(encodeWtFailure(sdp, { action: 'announce', infoHash }))), {
      type: 'failure', reason: sdp, action: 'announce', infoHash,
    });
  }
  assert.deepEqual(serverMessage(encodeWtFailure('no')), { type: 'failure', reason: 'no', action: undefined, infoHash: undefined });
  assert.deepEqual(serverMessage(encodeWtFailure('no', { action: 'scrape' })), { type: 'failure', reason: 'no', action: 'scrape', infoHash: undefined });
});

test('a full signalling exchange through both codecs', () => {
  const seederStart = announceOf(wire(encodeAnnounceRequest({
    infoHash: HASH, peerId: SEEDER_ID, event: AnnounceEvent.Started, left: 0, numwant: 2,
    offers: [
      { offerId: NASTY_ID, offer: { type: 'offer', sdp: SDP_OFFER } },
      { offerId: ALL_BYTE_IDS[6], offer: { type: 'offer', sdp: SDP_OFFER } },
    ],
  })));
  const o = seederStart.offers[0];
  const relayed = serverMessage(wire(encodeOffer({ infoHash: seederStart.infoHash, fromPeerId: seederStart.peerId, offerId: o.offerId, offer: o.offer })));
  assert.ok(relayed.type === 'offer');
  const answerIn = announceOf(wire(encodeAnswerRequest({
    infoHash: relayed.infoHash, peerId: LEECHER_ID, toPeerId: relayed.peerId, offerId: relayed.offerId, answer: { type: 'answer', sdp: SDP_ANSWER },
  })));
  assert.ok(answerIn.answer !== undefined);
  assert.equal(answerIn.answer.toPeerId, SEEDER_ID);
  const back = serverMessage(wire(encodeAnswer({ infoHash: answerIn.infoHash, fromPeerId: answerIn.peerId, offerId: answerIn.answer.offerId, answer: answerIn.answer.answer })));
  assert.deepEqual(back, { type: 'answer', infoHash: HASH, peerId: LEECHER_ID, offerId: NASTY_ID, answer: { type: 'answer', sdp: SDP_ANSWER } });
});

// ---------------------------------------------------------------- field rules

/** A valid announce with offers and an answer, as a plain object to mutate. */
function baseAnnounce(): Record<string, unknown> {
  return {
    action: 'announce',
    info_hash: HASH,
    peer_id: SEEDER_ID,
    uploaded: 10,
    downloaded: 20,
    left: 30,
    event: 'started',
    numwant: 2,
    offers: [
      { offer: { type: 'offer', sdp: 'sdp-1' }, offer_id: NASTY_ID },
      { offer: { type: 'offer', sdp: 'sdp-2' }, offer_id: ALL_BYTE_IDS[1] },
    ],
    answer: { type: 'answer', sdp: 'sdp-a' },
    to_peer_id: LEECHER_ID,
    offer_id: ALL_BYTE_IDS[2],
  };
}

/** Set a dotted path ("offers.0.offer.sdp") in a JSON-ish object; `undefined` deletes the key. */
function withField(path: string, value: unknown): string {
  const m = baseAnnounce();
  const keys = path.split('.');
  let o: any = m;
  for (let i = 0; i < keys.length - 1; i++) o = o[keys[i]];
  const last = keys[keys.length - 1];
  if (value === undefined) delete o[last];
  else o[last] = value;
  return JSON.stringify(m);
}

test('the base announce parses with every field', () => {
  const { params, ...fields } = announceOf(JSON.stringify(baseAnnounce()));
  assert.deepEqual(params.entries(), []);
  assert.deepEqual(fields, {
    type: 'announce', infoHash: HASH, peerId: SEEDER_ID, event: AnnounceEvent.Started, left: 30, uploaded: 10, downloaded: 20, numwant: 2,
    offers: [
      { offerId: NASTY_ID, offer: { type: 'offer', sdp: 'sdp-1' } },
      { offerId: ALL_BYTE_IDS[1], offer: { type: 'offer', sdp: 'sdp-2' } },
    ],
    offersTruncated: false,
    answer: { toPeerId: LEECHER_ID, offerId: ALL_BYTE_IDS[2], answer: { type: 'answer', sdp: 'sdp-a' } },
  });
});

test('params: the keys the parser does not read, then the socket\'s path and query, read lazily', () => {
  const socket = new QueryParams('/t/announce', 'jwt=a.b.c&room=7', null);
  const text = JSON.stringify({ ...baseAnnounce(), trackerid: 'tid', room: 9, ext: { a: [1, 'x'] }, flag: null });
  const r = parseWtMessage(text, LIMITS, socket);
  assert.ok(r.type === 'announce');
  assert.equal(r.params.path, '/t/announce');
  assert.deepEqual(r.params.entries(), [['trackerid', 'tid'], ['room', '9'], ['ext', '{"a":[1,"x"]}'], ['flag', 'null'], ['jwt', 'a.b.c'], ['room', '7']]);
  assert.equal(r.params.get('room'), '9', 'the message\'s own key comes first');
  assert.equal(r.params.get('jwt'), 'a.b.c', 'then the socket URL\'s');
  assert.equal(r.params.get('left'), undefined, 'a key the parser reads is not offered');
  assert.equal(r.params.get('nope'), undefined);
  // Without a socket: no path, the message's keys only.
  const bare = parseWtMessage(text, LIMITS);
  assert.ok(bare.type === 'announce');
  assert.equal(bare.params.path, '');
  assert.equal(bare.params.get('jwt'), undefined);
  assert.equal(bare.params.get('trackerid'), 'tid');
});

const BAD_IDS: unknown[] = [
  undefined, null, 0, 1, true, {}, [], [HASH], '', 'a'.repeat(19), 'a'.repeat(21), 'a'.repeat(40),
  'a'.repeat(19) + '\u0100', 'a'.repeat(19) + '\ufffd', '😀'.repeat(10), 'a'.repeat(18) + '😀', bin2hex(HASH),
];

test('wrong types and values per field are invalid, with the action and (once valid) the info_hash', () => {
  const cases: [path: string, values: unknown[], reason: RegExp][] = [
    ['peer_id', BAD_IDS, /peer_id/],
    ['event', [1, true, {}, [], 'start', 'STARTED', 'none', 'stopped ', '\u0000'], /event/],
    ['left', [-1, -0.5, 1.5, '5', '', true, false, {}, [], [0]], /left/],
    ['uploaded', [-1, 1.5, '5', true, {}, []], /uploaded/],
    ['downloaded', [-1, 1.5, '5', true, {}, []], /downloaded/],
    ['numwant', [1.5, -0.5, '5', true, {}, []], /numwant/],
    ['offers', [1, 'x', true, {}, { 0: {} }], /offers/],
    ['offers.0', [null, 1, 'x', [], true, {}], /offer/],
    ['offers.1.offer_id', BAD_IDS, /offer_id/],
    ['offers.0.offer', [undefined, null, 'sdp', 1, [], {}, true], /offer/],
    ['offers.0.offer.type', [undefined, null, 'answer', 'Offer', 'pranswer', 1, {}], /offer/],
    ['offers.1.offer.sdp', [undefined, null, 1, true, ['x'], {}, { toString: 'x' }], /offer/],
    ['answer', [1, 'x', true, [], {}, { type: 'answer' }, { sdp: 'x' }], /answer/],
    ['answer.type', [undefined, null, 'offer', 'ANSWER', 2], /answer/],
    ['answer.sdp', [undefined, null, 1, false, ['x'], {}], /answer/],
    ['to_peer_id', BAD_IDS, /to_peer_id/],
    ['offer_id', BAD_IDS, /offer_id/],
  ];
  for (const [path, values, reason] of cases) {
    values.forEach((v, i) => {
      const r = invalidOf(withField(path, v));
      assert.match(r.reason, reason, `${path} = ${JSON.stringify(v)} #${i}: ${r.reason}`);
      assert.equal(r.action, 'announce');
      assert.equal(r.infoHash, HASH, `${path} #${i}`);
    });
  }
  BAD_IDS.forEach((v, i) => {
    const r = invalidOf(withField('info_hash', v));
    assert.deepEqual(r, { type: 'invalid', reason: 'invalid info_hash', action: 'announce', infoHash: undefined }, `info_hash #${i}`);
  });
});

test('accepted variations per field', () => {
  const a = (path: string, value: unknown): WtAnnounceMessage => announceOf(withField(path, value));
  assert.equal(a('left', null).left, null);
  assert.equal(a('left', undefined).left, null);
  assert.equal(a('left', 0).left, 0);
  assert.ok(Object.is(announceOf(JSON.stringify(baseAnnounce()).replace('"left":30', '"left":-0')).left, 0));
  assert.equal(a('left', 1e300).left, MAX_SAFE);
  assert.equal(a('left', 2 ** 53 + 2).left, MAX_SAFE);
  assert.equal(announceOf(JSON.stringify(baseAnnounce()).replace('"left":30', '"left":30.0')).left, 30);
  assert.equal(announceOf(JSON.stringify(baseAnnounce()).replace('"left":30', '"left":3e1')).left, 30);
  assert.equal(a('uploaded', undefined).uploaded, 0);
  assert.equal(a('uploaded', null).uploaded, 0);
  assert.equal(a('downloaded', null).downloaded, 0);
  assert.equal(a('numwant', undefined).numwant, 0);
  assert.equal(a('numwant', null).numwant, 0);
  assert.equal(a('numwant', -1).numwant, 0);
  assert.equal(a('numwant', 1e30).numwant, MAX_SAFE);
  for (const [ev, expected] of [
    ['started', AnnounceEvent.Started], ['completed', AnnounceEvent.Completed], ['stopped', AnnounceEvent.Stopped],
    ['update', AnnounceEvent.None], ['paused', AnnounceEvent.None], ['', AnnounceEvent.None], [null, AnnounceEvent.None], [undefined, AnnounceEvent.None],
  ] as const) {
    assert.equal(a('event', ev).event, expected, String(ev));
  }
  assert.deepEqual(a('offers', undefined).offers, []);
  assert.deepEqual(a('offers', null).offers, []);
  assert.deepEqual(a('offers', []).offers, []);
  assert.equal(a('offers.0.offer.sdp', '').offers[0].offer.sdp, '');
  // extra keys inside offers and answers are dropped, never relayed
  const extra = a('offers.0.offer', { type: 'offer', sdp: 's', candidate: 'x', renegotiate: true });
  assert.deepEqual(extra.offers[0].offer, { type: 'offer', sdp: 's' });
  assert.deepEqual(a('answer', { type: 'answer', sdp: 's', x: 1 }).answer?.answer, { type: 'answer', sdp: 's' });
  // no answer: to_peer_id / offer_id are ignored whatever they hold
  const none = announceOf(JSON.stringify({ ...baseAnnounce(), answer: undefined, to_peer_id: 5, offer_id: {} }));
  assert.equal(none.answer, undefined);
  assert.equal(a('answer', null).answer, undefined);
  // unknown keys are ignored
  assert.equal(a('trackerid', { nested: [1, 2] }).type, 'announce');
  assert.equal(a('compact', 1).type, 'announce');
});

test('offers beyond maxOffers are dropped unexamined and reported', () => {
  const offers = Array.from({ length: 12 }, (_, i) => ({ offer: { type: 'offer', sdp: `s${i}` }, offer_id: ALL_BYTE_IDS[i] }));
  const text = JSON.stringify({ action: 'announce', info_hash: HASH, peer_id: SEEDER_ID, offers: [...offers, 'garbage'] });
  const r = announceOf(text, { maxOffers: 10, maxScrapeHashes: 74 });
  assert.equal(r.offers.length, 10);
  assert.equal(r.offersTruncated, true);
  assert.equal(r.offers[9].offer.sdp, 's9');
  const exact = announceOf(JSON.stringify({ action: 'announce', info_hash: HASH, peer_id: SEEDER_ID, offers: offers.slice(0, 10) }));
  assert.equal(exact.offersTruncated, false);
  const zero = announceOf(text, { maxOffers: 0, maxScrapeHashes: 74 });
  assert.deepEqual(zero.offers, []);
  assert.equal(zero.offersTruncated, true);
  // garbage inside the kept range is still an error
  invalidOf(JSON.stringify({ action: 'announce', info_hash: HASH, peer_id: SEEDER_ID, offers: ['garbage', ...offers] }));
});

test('scrape: single hash, arrays, truncation, full scrape, invalid hashes', () => {
  assert.deepEqual(parse('{"action":"scrape"}'), { type: 'scrape', infoHashes: [], truncated: false });
  assert.deepEqual(parse('{"action":"scrape","info_hash":null}'), { type: 'scrape', infoHashes: [], truncated: false });
  assert.deepEqual(parse('{"action":"scrape","info_hash":[]}'), { type: 'scrape', infoHashes: [], truncated: false });
  const hashes = Array.from({ length: 80 }, (_, i) => ALL_BYTE_IDS[i % 13].slice(1) + String.fromCharCode(i));
  const r = parse(JSON.stringify({ action: 'scrape', info_hash: [...hashes, 5] }), { maxOffers: 10, maxScrapeHashes: 74 });
  assert.deepEqual(r, { type: 'scrape', infoHashes: hashes.slice(0, 74), truncated: true });
  assert.deepEqual(parse(JSON.stringify({ action: 'scrape', info_hash: HASH }), { maxOffers: 1, maxScrapeHashes: 0 }), {
    type: 'scrape', infoHashes: [], truncated: true,
  });
  for (const bad of [...BAD_IDS.filter((v) => v !== undefined && v !== null && !Array.isArray(v)), [1], [null], [[HASH]], [HASH, 'short'], [HASH, HASH + 'x']]) {
    assert.deepEqual(
      parse(JSON.stringify({ action: 'scrape', info_hash: bad })),
      { type: 'invalid', reason: 'invalid info_hash', action: 'scrape', infoHash: undefined },
      JSON.stringify(bad),
    );
  }
});

test('non-objects, bad JSON, unknown and missing actions', () => {
  for (const text of ['', ' ', 'null', 'true', '1', '"announce"', '[]', '[{"action":"announce"}]', '{', '{"action":"announce"', '{"action":}', '{} x',
    'undefined', "{'action':'scrape'}", '\ufeff{"action":"scrape"}', '{"action":"scrape",}', 'NaN', '{"action":"scrape"}\u0000']) {
    assert.deepEqual(parse(text), INVALID_NOT_OBJECT, JSON.stringify(text));
  }
  assert.deepEqual(parse(' \r\n\t{"action":"scrape"} \n'), { type: 'scrape', infoHashes: [], truncated: false });
  assert.deepEqual(parse('{}'), MISSING_ACTION);
  for (const action of ['connect', 'Announce', 'SCRAPE', 1, 0, null, true, ['announce'], { announce: 1 }, 'announce\u0000']) {
    assert.deepEqual(parse(JSON.stringify({ action, info_hash: HASH, peer_id: SEEDER_ID })), INVALID_ACTION, JSON.stringify(action));
  }
  // non-string input (a caller that forgot to decode a binary frame)
  for (const v of [undefined, null, 5, Buffer.from('{"action":"scrape"}'), new ArrayBuffer(4), { action: 'scrape' }]) {
    assert.equal(parseWtMessage(v as unknown as string, LIMITS).type, 'invalid');
    assert.equal(parseWtServerMessage(v as unknown as string).type, 'invalid');
  }
  // duplicate keys: JSON.parse keeps the last one
  assert.equal(parse('{"action":"announce","action":"scrape"}').type, 'scrape');
});

test('__proto__ keys and a polluted Object.prototype do not matter', () => {
  assert.deepEqual(parse('{"__proto__":{"action":"scrape"}}'), MISSING_ACTION);
  assert.deepEqual(parse(`{"action":"scrape","__proto__":{"info_hash":${JSON.stringify(HASH)}}}`), { type: 'scrape', infoHashes: [], truncated: false });
  const base = baseAnnounce();
  const protoOffer = JSON.stringify(base).replace('{"offer":{"type":"offer","sdp":"sdp-1"},', '{"__proto__":{"offer":{"type":"offer","sdp":"sdp-1"}},');
  const po = parse(protoOffer);
  assert.ok(po.type === 'invalid');
  assert.equal(po.reason, 'invalid offer'); // the offer sits under __proto__, so it is missing
  const protoLeft = `{"__proto__":{"left":"bad","event":"bogus"},"action":"announce","info_hash":${JSON.stringify(HASH)},"peer_id":${JSON.stringify(SEEDER_ID)}}`;
  const r = announceOf(protoLeft);
  assert.equal(r.left, null);
  assert.equal(r.event, AnnounceEvent.None);
  assert.equal(({} as Record<string, unknown>).left, undefined, 'Object.prototype untouched');
  assert.equal(parse('{"hasOwnProperty":1,"constructor":2,"toString":3,"valueOf":4,"action":"scrape"}').type, 'scrape');
  assert.equal(serverMessage('{"__proto__":{"failure reason":"x"},"action":"scrape","files":{"__proto__":{}}}').type, 'invalid');
  const files = serverMessage(`{"action":"scrape","files":{${JSON.stringify(HASH)}:{"complete":1},"__proto__":{"complete":2}}}`);
  assert.equal(files.type, 'invalid'); // "__proto__" is not a 20-byte hash

  const polluted = ['action', 'info_hash', 'peer_id', 'left', 'event', 'numwant', 'offers', 'offer', 'offer_id', 'sdp', 'type', 'answer', 'to_peer_id', 'failure reason', 'interval', 'files'];
  const proto = Object.prototype as Record<string, unknown>;
  const values: Record<string, unknown> = {
    action: 'announce', info_hash: HASH, peer_id: SEEDER_ID, left: 'x', event: 'x', numwant: 'x', offers: 'x', offer: { type: 'offer', sdp: 'p' },
    offer_id: HASH, sdp: 'polluted', type: 'offer', answer: { type: 'answer', sdp: 'p' }, to_peer_id: HASH, 'failure reason': 'polluted', interval: 5, files: {},
  };
  try {
    for (const k of polluted) Object.defineProperty(proto, k, { value: values[k], configurable: true, writable: true, enumerable: false });
    assert.deepEqual(parseWtMessage('{}', LIMITS), MISSING_ACTION);
    const p = parseWtMessage(`{"action":"announce","info_hash":${JSON.stringify(HASH)},"peer_id":${JSON.stringify(SEEDER_ID)},"offers":[{"offer_id":${JSON.stringify(HASH)},"offer":{}}]}`, LIMITS);
    assert.deepEqual(p, { type: 'invalid', reason: 'invalid offer', action: 'announce', infoHash: HASH });
    const q = parseWtMessage(`{"action":"announce","info_hash":${JSON.stringify(HASH)},"peer_id":${JSON.stringify(SEEDER_ID)}}`, LIMITS);
    assert.ok(q.type === 'announce');
    assert.equal(q.left, null);
    assert.equal(q.numwant, 0);
    assert.deepEqual(q.offers, []);
    assert.ok(Object.hasOwn(q, 'answer') && q.answer === undefined);
    assert.deepEqual(parseWtServerMessage('{}'), { type: 'invalid', reason: 'invalid action' });
    assert.deepEqual(parseWtServerMessage(`{"action":"announce","info_hash":${JSON.stringify(HASH)}}`), { type: 'invalid', reason: 'invalid interval' });
  } finally {
    for (const k of polluted) delete proto[k];
  }
});

test('client parser: failures, warnings, malformed replies', () => {
  assert.deepEqual(serverMessage('{"failure reason":"nope","action":"announce","info_hash":"short"}'), {
    type: 'failure', reason: 'nope', action: 'announce', infoHash: undefined,
  });
  assert.deepEqual(serverMessage('{"failure reason":"nope","action":"bogus"}'), { type: 'failure', reason: 'nope', action: undefined, infoHash: undefined });
  assert.equal(serverMessage('{"failure reason":5}').type, 'invalid');
  assert.equal(serverMessage('{"action":"announce","info_hash":"short","interval":5}').type, 'invalid');
  assert.equal(serverMessage(`{"action":"announce","info_hash":${JSON.stringify(HASH)}}`).type, 'invalid');
  assert.equal(serverMessage(`{"action":"announce","info_hash":${JSON.stringify(HASH)},"interval":"5"}`).type, 'invalid');
  assert.equal(serverMessage(`{"action":"announce","info_hash":${JSON.stringify(HASH)},"interval":5,"complete":-1}`).type, 'invalid');
  assert.equal(serverMessage(`{"action":"announce","info_hash":${JSON.stringify(HASH)},"interval":5,"warning message":1}`).type, 'invalid');
  assert.deepEqual(serverMessage(`{"action":"announce","info_hash":${JSON.stringify(HASH)},"interval":5}`), {
    type: 'announce', infoHash: HASH, interval: 5, complete: 0, incomplete: 0, warning: undefined,
  });
  const offer = JSON.parse(encodeOffer({ infoHash: HASH, fromPeerId: SEEDER_ID, offerId: NASTY_ID, offer: { type: 'offer', sdp: 'x' } }));
  for (const [k, v] of [['peer_id', 'short'], ['offer_id', 5], ['offer', { type: 'answer', sdp: 'x' }], ['offer', { type: 'offer' }], ['answer', { type: 'answer', sdp: 'y' }]] as const) {
    assert.equal(serverMessage(JSON.stringify({ ...offer, [k]: v })).type, 'invalid', `${k}`);
  }
  assert.equal(serverMessage('{"action":"scrape"}').type, 'invalid');
  assert.equal(serverMessage('{"action":"scrape","files":[]}').type, 'invalid');
  assert.equal(serverMessage(`{"action":"scrape","files":{${JSON.stringify(HASH)}:5}}`).type, 'invalid');
  assert.equal(serverMessage(`{"action":"scrape","files":{${JSON.stringify(HASH)}:{"complete":"1"}}}`).type, 'invalid');
  assert.deepEqual(serverMessage('{"action":"scrape","files":{}}'), { type: 'scrape', files: new Map() });
  assert.equal(serverMessage('[1]').type, 'invalid');
});

// ---------------------------------------------------------------- never throws

/** A random JSON text biased towards tracker-looking objects (keys from the protocol, ids, __proto__). */
function randomJson(r: () => number, depth: number): string {
  const keys = ['action', 'info_hash', 'peer_id', 'offers', 'offer', 'offer_id', 'answer', 'to_peer_id', 'sdp', 'type', 'left', 'uploaded',
    'downloaded', 'numwant', 'event', 'files', 'failure reason', 'interval', 'complete', 'incomplete', '__proto__', 'constructor', 'x'];
  const k = int(r, depth > 4 ? 6 : 9);
  switch (k) {
    case 0: return 'null';
    case 1: return r() < 0.5 ? 'true' : 'false';
    case 2: return pick(r, ['0', '-0', '1', '-1', '1.5', '1e308', '-1e308', '9007199254740993', '5e-324', String(int(r, 1e9)), '0.0', '1E2']);
    case 3: return JSON.stringify(pick(r, ['announce', 'scrape', 'offer', 'answer', 'started', 'stopped', 'update', '']));
    case 4: return JSON.stringify(r() < 0.7 ? randomBinary(r, pick(r, [19, 20, 20, 20, 21])) : String.fromCharCode(...Array.from({ length: 20 }, () => int(r, 0x10000))));
    case 5: return JSON.stringify(randomBinary(r, int(r, 40)));
    case 6:
    case 7: {
      const n = int(r, 6);
      const parts: string[] = [];
      for (let i = 0; i < n; i++) parts.push(JSON.stringify(pick(r, keys)) + ':' + randomJson(r, depth + 1));
      if (depth === 0 && r() < 0.8) parts.push(`"action":${JSON.stringify(pick(r, ['announce', 'scrape']))}`);
      if (r() < 0.5) parts.reverse();
      return '{' + parts.join(',') + '}';
    }
    default: {
      const n = int(r, 5);
      const parts: string[] = [];
      for (let i = 0; i < n; i++) parts.push(randomJson(r, depth + 1));
      return '[' + parts.join(',') + ']';
    }
  }
}

function noThrow(text: string, what: string, limits: WtParseLimits = LIMITS): WtInbound {
  let r: WtInbound;
  let s: WtServerMessage;
  try {
    r = parseWtMessage(text, limits);
    s = parseWtServerMessage(text);
  } catch (err) {
    assert.fail(`${what} threw ${String(err)} for ${JSON.stringify(text.slice(0, 300))}`);
  }
  checkInbound(r, limits);
  checkServerMessage(s);
  return r;
}

test('never throws: random strings', () => {
  const r = rngFor('random-strings');
  const alphabet = '{}[]":,\\ 0123456789.-eEtrufalsn' + 'actionfo_hperidsc';
  for (let i = 0; i < 5000; i++) {
    const n = int(r, 200);
    let s = '';
    if (r() < 0.5) for (let j = 0; j < n; j++) s += alphabet[int(r, alphabet.length)];
    else for (let j = 0; j < n; j++) s += String.fromCharCode(int(r, r() < 0.9 ? 256 : 0x10000));
    if (r() < 0.5) s = '{' + s;
    noThrow(s, where('random string', i));
  }
});

test('never throws: random JSON values, with invariants on whatever parses', () => {
  const r = rngFor('random-json');
  const seen = { announce: 0, scrape: 0, invalid: 0 };
  for (let i = 0; i < 20000; i++) {
    const text = randomJson(r, 0);
    const limits = { maxOffers: int(r, 4), maxScrapeHashes: int(r, 4) };
    seen[noThrow(text, where('random json', i), limits).type]++;
  }
  assert.ok(seen.invalid > 0 && seen.scrape > 0, JSON.stringify(seen));
});

test('never throws: wrong types in every field of valid messages', () => {
  const r = rngFor('wrong-types');
  const values = [null, true, false, 0, -1, 1.5, 1e308, '', 'x', HASH, [], [HASH], {}, { type: 'offer', sdp: 'x' }, [[[]]], JSON.parse('{"__proto__":{"type":"offer","sdp":"x"}}')];
  const templates = [
    baseAnnounce(),
    JSON.parse(encodeScrapeRequest([HASH, NASTY_ID])),
    JSON.parse(encodeAnswerRequest({ infoHash: HASH, peerId: SEEDER_ID, toPeerId: LEECHER_ID, offerId: NASTY_ID, answer: { type: 'answer', sdp: 'a' } })),
  ] as Record<string, unknown>[];
  // every path of every template
  const paths: [number, string[]][] = [];
  const walk = (ti: number, v: unknown, path: string[]): void => {
    if (path.length > 0) paths.push([ti, path]);
    if (typeof v === 'object' && v !== null) for (const k of Object.keys(v)) walk(ti, (v as Record<string, unknown>)[k], [...path, k]);
  };
  templates.forEach((t, ti) => walk(ti, t, []));
  let i = 0;
  for (const [ti, path] of paths) {
    for (const v of [...values, randomBinary(r, 20), undefined]) {
      const m = JSON.parse(JSON.stringify(templates[ti]));
      let o = m;
      for (let j = 0; j < path.length - 1; j++) o = o[path[j]];
      if (v === undefined) delete o[path[path.length - 1]];
      else o[path[path.length - 1]] = v;
      noThrow(JSON.stringify(m), where(`wrong type at ${path.join('.')}`, i++));
    }
  }
  assert.ok(i > 100);
});

test('never throws: every truncation of valid messages is invalid', () => {
  const frames = [
    JSON.stringify(baseAnnounce()),
    encodeAnnounceRequest({ infoHash: NASTY_ID, peerId: ALL_BYTE_IDS[0], left: null, offers: [{ offerId: ALL_BYTE_IDS[12], offer: { type: 'offer', sdp: SDP_OFFER } }] }),
    encodeAnswerRequest({ infoHash: ALL_BYTE_IDS[3], peerId: NASTY_ID, toPeerId: ALL_BYTE_IDS[7], offerId: NASTY_ID, answer: { type: 'answer', sdp: SDP_ANSWER } }),
    encodeScrapeRequest(ALL_BYTE_IDS),
    encodeScrapeRequest(NASTY_ID),
  ];
  const replies = [
    encodeAnnounceReply({ infoHash: NASTY_ID, interval: 120, complete: 1, incomplete: 2 }),
    encodeOffer({ infoHash: NASTY_ID, fromPeerId: HASH, offerId: NASTY_ID, offer: { type: 'offer', sdp: SDP_OFFER } }),
    encodeAnswer({ infoHash: NASTY_ID, fromPeerId: HASH, offerId: NASTY_ID, answer: { type: 'answer', sdp: SDP_ANSWER } }),
    encodeScrapeReply(ALL_BYTE_IDS.map((h) => [h, { complete: 1, incomplete: 2, downloaded: 3 }] as const)),
    encodeWtFailure('nope', { action: 'announce', infoHash: NASTY_ID }),
  ];
  for (const f of frames) assert.notEqual(noThrow(f, 'full frame').type, 'invalid', f);
  for (const f of replies) assert.notEqual(parseWtServerMessage(f).type, 'invalid', f);
  for (const f of [...frames, ...replies]) {
    for (let n = 0; n < f.length; n++) {
      const cut = f.slice(0, n);
      assert.equal(noThrow(cut, where('truncation', n)).type, 'invalid');
      assert.equal(parseWtServerMessage(cut).type, 'invalid');
    }
  }
});

test('never throws: random mutations of valid messages', () => {
  const r = rngFor('mutations');
  const frames = [
    JSON.stringify(baseAnnounce()),
    encodeScrapeRequest(ALL_BYTE_IDS.slice(0, 3)),
    encodeOffer({ infoHash: NASTY_ID, fromPeerId: HASH, offerId: NASTY_ID, offer: { type: 'offer', sdp: 'v=0' } }),
    encodeScrapeReply([[HASH, { complete: 1, incomplete: 2, downloaded: 3 }]]),
  ];
  for (let i = 0; i < 10000; i++) {
    let f = pick(r, frames);
    const edits = 1 + int(r, 4);
    for (let e = 0; e < edits; e++) {
      const at = int(r, f.length + 1);
      const op = int(r, 3);
      const ch = String.fromCharCode(r() < 0.8 ? int(r, 128) : int(r, 0x10000));
      if (op === 0) f = f.slice(0, at) + ch + f.slice(at);
      else if (op === 1) f = f.slice(0, at) + f.slice(at + 1);
      else f = f.slice(0, at) + ch + f.slice(at + 1);
    }
    noThrow(f, where('mutation', i));
  }
});

test('never throws: 1 MB frames and deep nesting', () => {
  const MB = 1 << 20;
  const r = rngFor('big');
  let random = '';
  const chunk: number[] = [];
  for (let i = 0; i < 4096; i++) chunk.push(int(r, 0x10000));
  const block = String.fromCharCode(...chunk);
  while (random.length < MB) random += block;
  noThrow(random, '1 MB of random UTF-16');
  noThrow('{' + random, '{ + 1 MB of random UTF-16');
  noThrow('"' + 'a'.repeat(MB) + '"', '1 MB string');

  const depth = MB / 5;
  assert.equal(noThrow('{"a":'.repeat(depth) + '1' + '}'.repeat(depth), 'deep objects').type, 'invalid');
  assert.equal(noThrow('{"action":"announce","offers":' + '['.repeat(MB / 2) + ']'.repeat(MB / 2) + '}', 'deep arrays').type, 'invalid');
  noThrow('{"action":"scrape","info_hash":' + '['.repeat(MB), 'unterminated deep arrays');
  noThrow('['.repeat(MB), 'deep arrays without an object');

  const bigSdp = 'x'.repeat(MB);
  const withSdp = announceOf(encodeAnnounceRequest({ infoHash: HASH, peerId: SEEDER_ID, offers: [{ offerId: NASTY_ID, offer: { type: 'offer', sdp: bigSdp } }] }));
  assert.equal(withSdp.offers[0].offer.sdp.length, MB);
  assert.equal(serverMessage(encodeOffer({ infoHash: HASH, fromPeerId: SEEDER_ID, offerId: NASTY_ID, offer: { type: 'offer', sdp: bigSdp } })).type, 'offer');

  const oneOffer = `{"offer":{"type":"offer","sdp":"v=0"},"offer_id":${JSON.stringify(NASTY_ID)}}`;
  const manyOffers = `{"action":"announce","info_hash":${JSON.stringify(HASH)},"peer_id":${JSON.stringify(SEEDER_ID)},"offers":[` +
    Array.from({ length: Math.floor(MB / oneOffer.length) }, () => oneOffer).join(',') + ']}';
  assert.ok(manyOffers.length > MB * 0.9);
  const many = announceOf(manyOffers);
  assert.equal(many.offers.length, LIMITS.maxOffers);
  assert.equal(many.offersTruncated, true);

  const manyHashes = encodeScrapeRequest(Array.from({ length: Math.floor(MB / 30) }, () => NASTY_ID));
  const sc = parse(manyHashes);
  assert.ok(sc.type === 'scrape' && sc.infoHashes.length === LIMITS.maxScrapeHashes && sc.truncated);

  assert.deepEqual(
    parse(JSON.stringify({ action: 'announce', info_hash: 'a'.repeat(MB), peer_id: SEEDER_ID })),
    { type: 'invalid', reason: 'invalid info_hash', action: 'announce', infoHash: undefined },
  );
  const manyKeys = '{' + Array.from({ length: MB / 16 }, (_, i) => `"k${i}":${i}`).join(',') + ',"action":"scrape"}';
  assert.equal(parse(manyKeys).type, 'scrape');
});
