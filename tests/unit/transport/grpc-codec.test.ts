/**
 * The hand-written wire codec (lib/transport/grpc/codec.ts) against the
 * protobufjs code generated from proto/tracker.proto: every request, reply
 * and relay type, in both directions, with binary ids covering 0x00-0xFF.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fast from '../../../lib/transport/grpc/codec.js';
import * as ref from '../../../lib/transport/grpc/pbjs-codec.js';
import type { SwarmReply, SwarmRequest } from '../../../lib/tracker/swarm.js';
import { allReplies, allRelays, allRequests, binaryId, comparable } from '../../support/transport-conformance.js';

const norm = comparable;

test('binary ids cover every byte value', () => {
  const seen = new Set<number>();
  for (let k = 0; k < 13; k++) for (const c of binaryId(k)) seen.add(c.charCodeAt(0));
  assert.equal(seen.size, 256);
});

test('requests: fast -> generated -> fast, generated -> fast, byte-identical encodings; ids wrap; the table identity travels', () => {
  const requests = allRequests();
  const ids = requests.map((_, i) => (4294967294 + i) >>> 0);
  assert.equal(ids[2], 0, 'ids wrap around 2^32');
  for (const tableIdentity of [2 ** 52 - 1, 1, 0]) {
    const batch = { firstId: 4294967294, requests, tableIdentity };
    const a = fast.encodeEdgeBatch(batch);
    const b = ref.encodeEdgeBatch(batch);
    assert.deepEqual(a, b, 'canonical proto3 encoding, same bytes as protobufjs');
    for (const decoded of [ref.decodeEdgeBatch(a), fast.decodeEdgeBatch(b), fast.decodeEdgeBatch(a)]) {
      assert.deepEqual(decoded.ids, ids);
      assert.deepEqual(norm(decoded.requests), norm(requests));
      assert.equal(decoded.tableIdentity, tableIdentity);
    }
  }
});

test('a public announce costs no byte more for private mode: the user fields are written only with a user', () => {
  const base = { type: 'announce', infoHash: binaryId(0), peerId: binaryId(1), endpoint: Uint8Array.of(127, 0, 0, 1, 0x1a, 0xe1), event: 0, left: 5, numwant: 0 } as const;
  const plain = fast.encodeEdgeBatch({ firstId: 1, requests: [base], tableIdentity: 0 });
  const publicWithFields = fast.encodeEdgeBatch({ firstId: 1, requests: [{ ...base, userId: 0, uploaded: 999, downloaded: 999, userUpMultiplier: 2, clientId: 3, hideAddress: true }], tableIdentity: 0 });
  assert.deepEqual(publicWithFields, plain);
  const privateOne = fast.encodeEdgeBatch({ firstId: 1, requests: [{ ...base, userId: 7, uploaded: 999 }], tableIdentity: 0 });
  assert.ok(privateOne.length > plain.length, 'control: with a user they are written');
  assert.equal((fast.decodeEdgeBatch(privateOne).requests[0] as { userId?: number }).userId, 7);
});

test('an EdgeBatch from an edge that stamps no identity decodes as identity 0 (check every request)', () => {
  // EdgeBatch { requests: [Request { id: 5 }] } and nothing else.
  const decoded = fast.decodeEdgeBatch(Buffer.from([0x0a, 0x02, 0x08, 0x05]));
  assert.deepEqual(decoded.ids, [5]);
  assert.equal(decoded.tableIdentity, 0);
});

test('replies and relays: both directions, byte-identical encodings', () => {
  const replies = allReplies();
  const relays = allRelays();
  const ids = replies.map((_, i) => (i * 2654435761) >>> 0);
  const a = fast.encodeSwarmBatch(ids, replies, relays);
  const b = ref.encodeSwarmBatch(ids, replies, relays);
  assert.deepEqual(a, b);
  for (const decoded of [ref.decodeSwarmBatch(a), fast.decodeSwarmBatch(b), fast.decodeSwarmBatch(a)]) {
    assert.deepEqual(decoded.ids, ids);
    assert.deepEqual(norm(decoded.replies), norm(replies));
    assert.deepEqual(norm(decoded.relays), norm(relays));
  }
});

test('64-bit and negative integers, large and empty fields', () => {
  const big: SwarmRequest[] = [
    { type: 'announce', infoHash: binaryId(1), peerId: binaryId(2), endpoint: new Uint8Array(18).fill(0xff), event: 3, left: 2 ** 53 - 1, numwant: -1, sameSubnetBits: 128, minAnnounceSeconds: 86400 },
    { type: 'announce', infoHash: binaryId(3), peerId: binaryId(4), endpoint: Uint8Array.of(0, 0, 0, 0, 0, 1), event: 0, left: 2 ** 40 + 5, numwant: -2147483648, sameSubnetBits: 0, minAnnounceSeconds: 0 },
    { type: 'announce', infoHash: binaryId(5), peerId: binaryId(6), endpoint: Uint8Array.of(1, 2, 3, 4, 0xff, 0xff), event: 2, left: 0, numwant: 2147483647, sameSubnetBits: 1, minAnnounceSeconds: 1 },
    { type: 'scrape', infoHashes: Array.from({ length: 2000 }, (_, i) => binaryId(i)) },
    { type: 'wt-announce', infoHash: binaryId(7), peerId: binaryId(8), from: { edge: 'édge-ü-🙂', socket: 2 ** 40 }, event: 0, seeder: false, offers: [{ offerId: binaryId(9), offer: { type: 'offer', sdp: 'v=0\r\n'.repeat(5000) } }] },
  ];
  const batch = { firstId: 1, requests: big, tableIdentity: 123456789012345 };
  const a = fast.encodeEdgeBatch(batch);
  assert.deepEqual(a, ref.encodeEdgeBatch(batch));
  assert.deepEqual(norm(fast.decodeEdgeBatch(a).requests), norm(big));
  assert.deepEqual(norm(ref.decodeEdgeBatch(a).requests), norm(big));
  const replies: SwarmReply[] = [
    { type: 'announce', interval: 0, minInterval: 0, complete: 4294967295, incomplete: 0, downloaded: 0, peers: new Uint8Array(0) },
    { type: 'scrape', files: [] },
    { type: 'error', message: '' },
    { type: 'announce', interval: 1, minInterval: 1, complete: 1, incomplete: 1, downloaded: 1, peers: new Uint8Array(6 * 5000).map((_, i) => i) },
  ];
  const ids = [0, 1, 4294967295, 128];
  const s = fast.encodeSwarmBatch(ids, replies);
  assert.deepEqual(s, ref.encodeSwarmBatch(ids, replies));
  assert.deepEqual(norm(fast.decodeSwarmBatch(s).replies), norm(replies));
  assert.deepEqual(fast.decodeSwarmBatch(s).ids, ids);
});

test('unknown fields are skipped and unknown request arms decode as undefined', () => {
  // Request { id: 5, (field 15, varint) 1, (field 14, len) "xy", (field 13 = a future arm) {} }
  const inner = Buffer.from([0x08, 0x05, 0x78, 0x01, 0x72, 0x02, 0x78, 0x79, 0x6a, 0x00]);
  const batch = Buffer.concat([Buffer.from([0x0a, inner.length]), inner, Buffer.from([0x18, 0x2a])]);
  const decoded = fast.decodeEdgeBatch(batch);
  assert.deepEqual(decoded.ids, [5]);
  assert.deepEqual(decoded.requests, [undefined]);
  const reply = fast.decodeSwarmBatch(Buffer.concat([Buffer.from([0x0a, inner.length]), inner]));
  assert.deepEqual(reply.replies, [{ type: 'error', message: 'unsupported reply type' }]);
});

test('truncated or overlong input throws instead of misreading', () => {
  const good = fast.encodeEdgeBatch({ firstId: 1, requests: allRequests(), tableIdentity: 7 });
  for (const cut of [1, 2, 10, good.length - 1]) {
    assert.throws(() => fast.decodeEdgeBatch(good.subarray(0, cut)));
  }
  assert.throws(() => fast.decodeEdgeBatch(Buffer.from([0x0a, 0x05, 0x08])));
  assert.throws(() => fast.decodeEdgeBatch(Buffer.from([0x0b]))); // group wire type
});

test('private announce fields travel only with a user: a public announce is byte for byte what it was, a user\'s keeps a 0 multiplier as 0', () => {
  const base = { type: 'announce', infoHash: 'h'.repeat(20), peerId: 'p'.repeat(20), endpoint: new Uint8Array([127, 0, 0, 1, 0x1a, 0xe1]), event: 0, left: 5, numwant: 0 } as const;
  const publicBytes = fast.encodeEdgeBatch({ firstId: 1, requests: [base], tableIdentity: 0 });
  // Private values on a public announce (userId 0) are not sent: the swarm must not credit anyone.
  const stray = fast.encodeEdgeBatch({ firstId: 1, requests: [{ ...base, userId: 0, uploaded: 9, clientId: 3 }], tableIdentity: 0 });
  assert.deepEqual(Buffer.from(stray), Buffer.from(publicBytes));
  assert.equal((fast.decodeEdgeBatch(publicBytes).requests[0] as { userId?: number }).userId, undefined);

  const user = { ...base, userId: 7, uploaded: 2 ** 40, downloaded: 0, userUpMultiplier: 1.5, userDownMultiplier: 0, clientId: 2, hideAddress: true };
  const bytes = fast.encodeEdgeBatch({ firstId: 1, requests: [user], tableIdentity: 0 });
  assert.ok(bytes.length > publicBytes.length);
  for (const decoded of [fast.decodeEdgeBatch(bytes).requests[0], ref.decodeEdgeBatch(bytes).requests[0]]) {
    assert.deepEqual(comparable(decoded as SwarmRequest), comparable({ ...user, sameSubnetBits: 0, minAnnounceSeconds: 0 }));
  }
});
