/**
 * The WebTorrent generator's pure parts: pre-encoded frames match the codec,
 * the relayed-frame scanner, fake SDPs, the echo's replies, ws options.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeAnswer,
  encodeAnnounceReply,
  encodeOffer,
  encodeWtFailure,
  parseWtMessage,
} from '../../../lib/protocol/webtorrent/server.js';
import { encodeAnnounceRequest, encodeAnswerRequest, parseWtServerMessage } from '../../../lib/protocol/webtorrent/client.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { Sfc32 } from '../../../bench/loadtest/rng.js';
import { announceFrame, answerFrame, fakeSdp, objectEnd, scanRelayed, sdpJsonPool, sdpPool } from '../../../bench/loadtest/ws-client.js';
import { ECHO_PEER_ID, wsEchoFast, wsEchoReplies } from '../../../bench/loadtest/ws-echo.js';
import { UsageError, parseRunArgs, parseSdpBytes } from '../../../bench/loadtest/options.js';

const q = JSON.stringify as (s: string) => string;

/** 20 chars covering the awkward ones: quote, backslash, control chars, DEL, high latin1. */
const NASTY_ID = '"\\\u0000\u0001\n\u001f\u007f\u0080\u00ff\u00e9abcdefghij';
const HASH = '\u00aa\u0001\u0002"\\bcdefghijklmnop';
const PEER = '-LG0001-0123456789ab';
const OTHER = '-XX0001-ba9876543210';
assert.equal(HASH.length + PEER.length + OTHER.length + NASTY_ID.length, 80);

describe('ws generator frames', () => {
  it('announceFrame is what encodeAnnounceRequest sends', () => {
    const sdps = sdpPool(1, 0, 'offer', 500, 1500).slice(0, 3);
    const ids = [NASTY_ID, 'a'.repeat(20), '\u00ff'.repeat(20)];
    for (const started of [false, true]) {
      for (const left of [0, 1_000_000_000]) {
        const want = encodeAnnounceRequest({
          infoHash: HASH,
          peerId: PEER,
          event: started ? AnnounceEvent.Started : undefined,
          left,
          uploaded: 0,
          downloaded: 0,
          numwant: 3,
          offers: ids.map((offerId, i) => ({ offerId, offer: { type: 'offer', sdp: sdps[i] } })),
        });
        const got = announceFrame(q(HASH), q(PEER), left, started, ids.map(q), sdpJsonPool('offer', sdps));
        assert.equal(got, want);
      }
    }
    // And no offers at all.
    assert.equal(
      announceFrame(q(HASH), q(PEER), 0, false, [], []),
      encodeAnnounceRequest({ infoHash: HASH, peerId: PEER, left: 0, uploaded: 0, downloaded: 0, numwant: 0, offers: [] }),
    );
  });

  it('the tracker side parses a generated announce (5 offers of 500-1500 bytes)', () => {
    const sdps = sdpJsonPool('offer', sdpPool(7, 1, 'offer', 500, 1500));
    const ids = Array.from({ length: 5 }, (_, i) => NASTY_ID.slice(0, 19) + String.fromCharCode(0x41 + i));
    const m = parseWtMessage(announceFrame(q(HASH), q(PEER), 0, true, ids.map(q), sdps.slice(0, 5)), { maxOffers: 10, maxScrapeHashes: 10 });
    assert.equal(m.type, 'announce');
    if (m.type !== 'announce') return;
    assert.equal(m.infoHash, HASH);
    assert.equal(m.peerId, PEER);
    assert.equal(m.event, AnnounceEvent.Started);
    assert.equal(m.left, 0);
    assert.equal(m.numwant, 5);
    assert.deepEqual(m.offers.map((o) => o.offerId), ids);
    for (const o of m.offers) assert.ok(o.offer.sdp.length >= 500 && o.offer.sdp.length < 1500 + 120, String(o.offer.sdp.length));
  });

  it('answerFrame is what encodeAnswerRequest sends', () => {
    const sdp = sdpPool(1, 0, 'answer', 800, 800)[0];
    assert.equal(
      answerFrame(q(HASH), q(PEER), q(OTHER), sdpJsonPool('answer', [sdp])[0], q(NASTY_ID)),
      encodeAnswerRequest({ infoHash: HASH, peerId: PEER, toPeerId: OTHER, offerId: NASTY_ID, answer: { type: 'answer', sdp } }),
    );
  });

  it('fake SDPs: deterministic, sized, shaped like a data-channel session', () => {
    assert.deepEqual(sdpPool(3, 2, 'offer', 500, 1500), sdpPool(3, 2, 'offer', 500, 1500));
    assert.notDeepEqual(sdpPool(3, 2, 'offer', 500, 1500), sdpPool(3, 3, 'offer', 500, 1500));
    const rng = new Sfc32(1, 2);
    for (const bytes of [100, 500, 900, 1500, 4000]) {
      const s = fakeSdp(rng, 'offer', bytes);
      assert.ok(s.length >= bytes && s.length < Math.max(bytes, 600) + 120, `${bytes}: ${s.length}`);
      assert.match(s, /^v=0\r\n/);
      assert.match(s, /m=application 9 UDP\/DTLS\/SCTP webrtc-datachannel\r\n/);
      assert.match(s, /a=fingerprint:sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}\r\n/);
      assert.match(s, /a=setup:actpass\r\n/);
    }
    assert.match(fakeSdp(rng, 'answer', 600), /a=setup:active\r\n/);
  });
});

describe('scanning relayed offers and answers', () => {
  const sdp = sdpPool(1, 0, 'offer', 900, 900)[0];
  const tricky = sdp + '"offer":{"answer":{ \\"peer_id\\":"x" }';

  it('finds the ids of our own encoder\'s offers and answers, whatever the SDP holds', () => {
    for (const s of [sdp, tricky]) {
      const offer = encodeOffer({ infoHash: HASH, fromPeerId: OTHER, offerId: NASTY_ID, offer: { type: 'offer', sdp: s } });
      assert.deepEqual(scanRelayed(Buffer.from(offer)), { kind: 'offer', infoHashJson: q(HASH), peerIdJson: q(OTHER), offerIdJson: q(NASTY_ID) });
      const answer = encodeAnswer({ infoHash: HASH, fromPeerId: OTHER, offerId: NASTY_ID, answer: { type: 'answer', sdp: s } });
      assert.deepEqual(scanRelayed(Buffer.from(answer)), { kind: 'answer', infoHashJson: q(HASH), peerIdJson: q(OTHER), offerIdJson: q(NASTY_ID) });
    }
  });

  it('and of bittorrent-tracker\'s (JSON.stringify, offer first, ids last)', () => {
    const offer = JSON.stringify({ action: 'announce', offer: { type: 'offer', sdp: tricky }, offer_id: NASTY_ID, peer_id: OTHER, info_hash: HASH });
    const r = scanRelayed(Buffer.from(offer));
    assert.deepEqual(r, { kind: 'offer', infoHashJson: q(HASH), peerIdJson: q(OTHER), offerIdJson: q(NASTY_ID) });
    // What the generator sends back parses as the answer to that very offer.
    const back = parseWtMessage(answerFrame(r!.infoHashJson, q(PEER), r!.peerIdJson, sdpJsonPool('answer', [sdp])[0], r!.offerIdJson), {
      maxOffers: 10,
      maxScrapeHashes: 10,
    });
    assert.equal(back.type, 'announce');
    if (back.type === 'announce') assert.deepEqual(back.answer, { toPeerId: OTHER, offerId: NASTY_ID, answer: { type: 'answer', sdp } });
  });

  it('leaves replies, failures and broken frames to the full parser', () => {
    for (const text of [
      encodeAnnounceReply({ infoHash: HASH, interval: 120, complete: 1, incomplete: 2 }),
      encodeWtFailure('answer does not match an unexpired offer sent to this peer', { action: 'announce', infoHash: HASH }),
      '{"action":"scrape","files":{}}',
      '{"action":"announce","offer":{"type":"offer","sdp":"x"},"offer_id":"unterminated',
      '{"action":"announce","offer":{"type":"offer","sdp":"x"},"peer_id":"' + 'p'.repeat(20) + '"}',
      'not json',
      '',
    ]) {
      assert.equal(scanRelayed(Buffer.from(text)), null, text);
    }
  });

  it('objectEnd skips strings and nesting', () => {
    const b = Buffer.from('x{"a":"}\\"{","b":{"c":[1,{}]}}tail');
    assert.equal(b.toString('latin1', 1, objectEnd(b, 1)), '{"a":"}\\"{","b":{"c":[1,{}]}}');
    assert.equal(objectEnd(Buffer.from('{"a":"'), 0), -1);
    assert.equal(objectEnd(Buffer.from('x'), 0), -1);
  });
});

describe('ws echo', () => {
  const sdps = sdpJsonPool('offer', sdpPool(1, 0, 'offer', 500, 1500));
  const ids = [NASTY_ID, 'b'.repeat(20), 'c'.repeat(20)];

  it('an announce: one reply, then each offer back from the echo peer (fast path = full parse)', () => {
    const frame = announceFrame(q(HASH), q(PEER), 0, false, ids.map(q), sdps.slice(0, 3));
    const fast = wsEchoFast(Buffer.from(frame));
    assert.ok(fast);
    const slow = wsEchoReplies(frame);
    assert.deepEqual(fast.map((b) => parseWtServerMessage(b.toString('utf8'))), slow.map((t) => parseWtServerMessage(t)));
    const msgs = slow.map((t) => parseWtServerMessage(t));
    assert.equal(msgs.length, 4);
    assert.equal(msgs[0].type, 'announce');
    for (let i = 1; i < 4; i++) {
      const m = msgs[i];
      assert.equal(m.type, 'offer');
      if (m.type === 'offer') {
        assert.equal(m.peerId, ECHO_PEER_ID);
        assert.equal(m.offerId, ids[i - 1]);
        assert.equal(m.infoHash, HASH);
        assert.equal(JSON.stringify(m.offer), sdps[i - 1]);
      }
    }
  });

  it('an answer comes back as the relayed answer', () => {
    const frame = answerFrame(q(HASH), q(PEER), q(ECHO_PEER_ID), sdpJsonPool('answer', ['v=0\r\n'])[0], q(NASTY_ID));
    const fast = wsEchoFast(Buffer.from(frame));
    assert.ok(fast && fast.length === 1);
    const m = parseWtServerMessage(fast[0].toString('utf8'));
    assert.deepEqual(m, { type: 'answer', infoHash: HASH, peerId: PEER, offerId: NASTY_ID, answer: { type: 'answer', sdp: 'v=0\r\n' } });
    assert.deepEqual(wsEchoReplies(frame).map((t) => parseWtServerMessage(t)), [m]);
  });

  it('anything else takes the full parser', () => {
    assert.equal(wsEchoFast(Buffer.from('{"action":"scrape","info_hash":"' + 'a'.repeat(20) + '"}')), null);
    assert.equal(wsEchoFast(Buffer.from('garbage')), null);
    const [failure] = wsEchoReplies('garbage');
    assert.equal(parseWtServerMessage(failure).type, 'failure');
    const [scrape] = wsEchoReplies('{"action":"scrape","info_hash":"' + 'a'.repeat(20) + '"}');
    assert.equal(parseWtServerMessage(scrape).type, 'scrape');
  });
});

describe('ws options', () => {
  it('defaults', () => {
    const { config } = parseRunArgs(['ws', '--target', '127.0.0.1:8000']);
    assert.equal(config.protocol, 'ws');
    assert.equal(config.engine, 'node');
    assert.equal(config.sockets, 200);
    assert.equal(config.window, 2);
    assert.equal(config.timeoutMs, 5000);
    assert.deepEqual(config.ws, { path: '/', torrentsPerConnection: 10, offers: 5, sdpMinBytes: 500, sdpMaxBytes: 1500, intervalMs: 0, answer: true });
  });

  it('ws options and a ws:// target', () => {
    const { config, json } = parseRunArgs([
      'ws', '--target=ws://127.0.0.1:8000/announce', '--connections', '10', '--window', '3', '--torrents-per-connection', '4',
      '--offers', '2', '--sdp-bytes', '700', '--interval', '250', '--no-answer', '--workers', '2', '--json', '/tmp/ws.json',
    ]);
    assert.equal(config.sockets, 10);
    assert.equal(config.window, 3);
    assert.equal(config.workers, 2);
    assert.deepEqual(config.ws, { path: '/announce', torrentsPerConnection: 4, offers: 2, sdpMinBytes: 700, sdpMaxBytes: 700, intervalMs: 250, answer: false });
    assert.equal(json, '/tmp/ws.json');
    assert.equal(parseRunArgs(['ws', '--target', '127.0.0.1:8000', '--engine', 'c']).config.engine, 'c');
  });

  it('usage errors', () => {
    const bad: string[][] = [
      ['ws', '--target', '127.0.0.1:1', '--sockets', '4'],
      ['ws', '--target', '127.0.0.1:1', '--close'],
      ['ws', '--target', '127.0.0.1:1', '--window', '0'],
      ['ws', '--target', '127.0.0.1:1', '--offers', '51'],
      ['ws', '--target', '127.0.0.1:1', '--sdp-bytes', '900-800'],
      ['ws', '--target', '127.0.0.1:1', '--connections', '9999', '--sources', '1', '--ports-per-source', '100'],
      ['ws', '--target', '10.0.0.1:1'],
      ['udp', '--target', '127.0.0.1:1', '--offers', '3'],
      ['http', '--target', '127.0.0.1:1', '--no-answer'],
    ];
    for (const argv of bad) assert.throws(() => parseRunArgs(argv), UsageError, argv.join(' '));
    assert.deepEqual(parseSdpBytes('500-1500'), [500, 1500]);
    assert.throws(() => parseSdpBytes('abc'), UsageError);
  });
});
