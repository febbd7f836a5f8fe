/**
 * One behavioural suite every Transport implementation must pass (in-process
 * now, gRPC later), in the spirit of chihaya's storage conformance tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SwarmReply, SwarmRequest } from '../../lib/tracker/swarm.js';
import type { WtRelayMessage } from '../../lib/tracker/webtorrent.js';
import type { SwarmService, Transport } from '../../lib/transport/transport.js';
import { withinTurn } from './waiting.js';

export interface TransportUnderTest {
  transport: Transport;
  /** Stops the far side (swarm) so the transport must fail fast. */
  breakSwarm?(): Promise<void>;
  cleanup(): Promise<void>;
}

/** A tiny deterministic SwarmService: echoes request facts back into replies. */
export class EchoSwarm implements SwarmService {
  handled = 0;
  handle(requests: readonly SwarmRequest[]): SwarmReply[] {
    this.handled += requests.length;
    return requests.map((r): SwarmReply => {
      switch (r.type) {
        case 'announce':
          return { type: 'announce', interval: 1800, minInterval: 900, complete: r.left === 0 ? 1 : 0, incomplete: r.left === 0 ? 0 : 1, downloaded: r.numwant, peers: r.endpoint };
        case 'scrape':
        case 'wt-scrape':
          return { type: r.type, files: r.infoHashes.map((h) => ({ complete: h.charCodeAt(0), incomplete: h.charCodeAt(1), downloaded: h.length })) };
        case 'wt-disconnect':
          return { type: 'wt-disconnect', removed: r.peers.length };
        default:
          return { type: 'error', message: `echo swarm does not handle ${r.type}` };
      }
    });
  }
}

const hash = (n: number): string => String.fromCharCode(n & 0xff, (n >> 8) & 0xff) + 'x'.repeat(18);

function announce(n: number): SwarmRequest {
  return { type: 'announce', infoHash: hash(n), peerId: 'p'.repeat(20), endpoint: Uint8Array.of(127, 0, 0, 1, n >> 8, n & 0xff), event: 0, left: n % 2, numwant: n };
}

function send(transport: Transport, batch: SwarmRequest[]): Promise<{ replies: SwarmReply[]; sync: boolean }> {
  return new Promise((resolve) => {
    let returned = false;
    transport.send(batch, (replies) => resolve({ replies, sync: !returned }));
    returned = true;
  });
}

export function transportConformance(name: string, make: (service: SwarmService) => Promise<TransportUnderTest>): void {
  test(`${name}: one reply per request, in request order, delivered asynchronously`, async () => {
    const t = await make(new EchoSwarm());
    try {
      const batch = Array.from({ length: 300 }, (_, i) => announce(i));
      batch.splice(7, 0, { type: 'scrape', infoHashes: [hash(1), hash(513)] });
      const { replies, sync } = await send(t.transport, batch);
      assert.equal(sync, false, 'done must not run before send returns');
      assert.equal(replies.length, batch.length);
      for (let i = 0; i < batch.length; i++) {
        const req = batch[i];
        const reply = replies[i];
        if (req.type === 'announce') {
          assert.equal(reply.type, 'announce');
          if (reply.type === 'announce') {
            assert.equal(reply.downloaded, req.numwant);
            assert.deepEqual(Uint8Array.from(reply.peers), Uint8Array.from(req.endpoint));
          }
        } else {
          assert.equal(reply.type, 'scrape');
          if (reply.type === 'scrape') assert.deepEqual(reply.files.map((f) => f.complete), [1, 1]);
        }
      }
    } finally {
      await t.cleanup();
    }
  });

  test(`${name}: many concurrent batches all complete and inFlight returns to 0`, async () => {
    const service = new EchoSwarm();
    const t = await make(service);
    try {
      const all = await Promise.all(Array.from({ length: 50 }, (_, k) => send(t.transport, Array.from({ length: 20 }, (_, i) => announce(k * 20 + i)))));
      assert.equal(all.flatMap((r) => r.replies).length, 1000);
      assert.equal(service.handled, 1000);
      assert.equal(t.transport.inFlight, 0);
    } finally {
      await t.cleanup();
    }
  });

  test(`${name}: after close, sends answer at once with errors`, async () => {
    const t = await make(new EchoSwarm());
    try {
      await t.transport.close();
      const { replies } = await withinTurn(send(t.transport, [announce(1), announce(2)]), 'a send after close');
      assert.deepEqual(replies.map((r) => r.type), ['error', 'error']);
      assert.ok(replies.every((r) => r.type === 'error' && r.unavailable === true), 'marked unavailable, so metrics count an outage, not a refusal');
    } finally {
      await t.cleanup();
    }
  });

  test(`${name}: a swarm that throws still yields one error reply per request`, async () => {
    const t = await make({
      handle() {
        throw new Error('boom');
      },
    });
    try {
      const { replies } = await send(t.transport, [announce(1), announce(2), announce(3)]);
      assert.deepEqual(replies.map((r) => r.type), ['error', 'error', 'error']);
    } finally {
      await t.cleanup();
    }
  });

  transportConformanceExtended(name, make);
}

// ------------------------------------------------------------------ extended
// Cases added for the gRPC transport; every Transport must pass them too.

/** A 20-char latin1 id; ids 0..12 together contain every byte value 0x00-0xFF. */
export function binaryId(k: number): string {
  let s = '';
  for (let i = 0; i < 20; i++) s += String.fromCharCode((k * 20 + i) & 0xff);
  return s;
}

const sdpText = (tag: string): string => `v=0\r\no=- ${tag} 2 IN IP4 127.0.0.1\r\ns=-\r\na=ice-ufrag:é✓🙂\r\n`;

/** One request of every type (and variants), binary ids with all byte values. */
export function allRequests(): SwarmRequest[] {
  return [
    { type: 'announce', infoHash: binaryId(0), peerId: binaryId(1), endpoint: Uint8Array.of(127, 0, 0, 1, 0x1a, 0xe1), event: 2, left: 1234567890123, numwant: 50, sameSubnetBits: 24, minAnnounceSeconds: 300 },
    { type: 'announce', infoHash: binaryId(2), peerId: binaryId(3), endpoint: Uint8Array.from({ length: 18 }, (_, i) => 0xf0 + (i % 16)), event: 0, left: 0, numwant: -1, sameSubnetBits: 0, minAnnounceSeconds: 0 },
    // Private mode: the user's fields travel only with a user (a float multiplier of 0 is a freeleech user, not "absent").
    { type: 'announce', infoHash: binaryId(2), peerId: binaryId(3), endpoint: Uint8Array.of(10, 0, 0, 2, 0x1a, 0xe1), event: 1, left: 0, numwant: 0, sameSubnetBits: 0, minAnnounceSeconds: 0, userId: 4_000_000_000, uploaded: 2 ** 52, downloaded: 12345, userUpMultiplier: 2.5, userDownMultiplier: 0, clientId: 6, hideAddress: true },
    { type: 'announce', infoHash: binaryId(4), peerId: binaryId(5), endpoint: Uint8Array.of(10, 0, 0, 3, 0x1a, 0xe1), event: 0, left: 99, numwant: 0, sameSubnetBits: 0, minAnnounceSeconds: 0, userId: 1, uploaded: 0, downloaded: 0, userUpMultiplier: 1, userDownMultiplier: 0.5, clientId: 0, hideAddress: false },
    { type: 'scrape', infoHashes: [binaryId(4), binaryId(5), binaryId(6)] },
    {
      type: 'wt-announce',
      infoHash: binaryId(7),
      peerId: binaryId(8),
      from: { edge: 'edge-0', socket: 42 },
      event: 1,
      seeder: true,
      offers: [
        { offerId: binaryId(9), offer: { type: 'offer', sdp: sdpText('a') } },
        { offerId: binaryId(10), offer: { type: 'offer', sdp: sdpText('b') } },
      ],
    },
    { type: 'wt-announce', infoHash: binaryId(11), peerId: binaryId(12), from: { edge: 'edge-0', socket: 0 }, event: 3, seeder: false, offers: [] },
    { type: 'wt-answer', infoHash: binaryId(0), peerId: binaryId(12), from: { edge: 'edge-1', socket: 7 }, toPeerId: binaryId(8), offerId: binaryId(9), answer: { type: 'answer', sdp: sdpText('c') } },
    { type: 'wt-disconnect', from: { edge: 'edge-1', socket: 7 }, peers: [{ infoHash: binaryId(0), peerId: binaryId(12) }, { infoHash: binaryId(11), peerId: binaryId(1) }] },
    { type: 'wt-scrape', infoHashes: [binaryId(7), binaryId(11)] },
  ];
}

/** One reply of every type (and variants). */
export function allReplies(): SwarmReply[] {
  return [
    { type: 'announce', interval: 1800, minInterval: 900, complete: 3, incomplete: 70000, downloaded: 4000000000, peers: Uint8Array.from({ length: 60 }, (_, i) => (i * 37) & 0xff) },
    { type: 'announce', interval: 1, minInterval: 0, complete: 0, incomplete: 0, downloaded: 0, peers: new Uint8Array(0) },
    { type: 'scrape', files: [{ complete: 1, incomplete: 2, downloaded: 3 }, { complete: 0, incomplete: 0, downloaded: 0 }] },
    { type: 'error', message: 'swarm said nö 🙂' },
    { type: 'wt-announce', interval: 120, complete: 5, incomplete: 6, offersRelayed: 2 },
    { type: 'wt-answer' },
    { type: 'wt-disconnect', removed: 2 },
    { type: 'wt-scrape', files: [{ complete: 9, incomplete: 8, downloaded: 7 }] },
    { type: 'moved', owner: 'swarm-ü-2' },
    { type: 'moved' },
  ];
}

/** allRequests(), repeated as needed to ask for one reply of each type (RecordingSwarm answers allReplies() in turn). */
export function requestsForEveryReply(): SwarmRequest[] {
  const requests = allRequests();
  const n = allReplies().length;
  return Array.from({ length: Math.max(n, requests.length) }, (_, i) => requests[i % requests.length]);
}

/** One relayed message of each kind. */
export function allRelays(): { socket: number; message: WtRelayMessage }[] {
  return [
    { socket: 42, message: { kind: 'offer', infoHash: binaryId(7), fromPeerId: binaryId(8), offerId: binaryId(9), offer: { type: 'offer', sdp: sdpText('d') } } },
    { socket: 2 ** 33, message: { kind: 'answer', infoHash: binaryId(0), fromPeerId: binaryId(12), offerId: binaryId(10), answer: { type: 'answer', sdp: sdpText('e') } } },
  ];
}

/** Records what it receives and answers with scripted replies (cycled). */
export class RecordingSwarm implements SwarmService {
  readonly received: SwarmRequest[] = [];
  constructor(private readonly script: SwarmReply[] = allReplies()) {}
  handle(requests: readonly SwarmRequest[]): SwarmReply[] {
    const replies = requests.map((_, i) => this.script[(this.received.length + i) % this.script.length]);
    this.received.push(...requests);
    return replies;
  }
}

/** Plain JSON form for deep comparison (Uint8Array views compare by content). */
export function comparable(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: Array.from(v) }; // Buffer or not, view or not
  if (Array.isArray(v)) return v.map(comparable);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort()) out[key] = comparable((v as Record<string, unknown>)[key]);
    return out;
  }
  return v;
}

function transportConformanceExtended(name: string, make: (service: SwarmService) => Promise<TransportUnderTest>): void {
  test(`${name}: every request and reply type round-trips intact (binary ids 0x00-0xFF)`, async () => {
    const service = new RecordingSwarm();
    const t = await make(service);
    try {
      const requests = requestsForEveryReply();
      const { replies } = await send(t.transport, requests);
      assert.deepEqual(comparable(service.received), comparable(requests));
      assert.deepEqual(comparable(replies), comparable(allReplies()));
    } finally {
      await t.cleanup();
    }
  });

  test(`${name}: large batches (5000 requests, 1 MB of SDP) complete in order`, async () => {
    const service = new EchoSwarm();
    const t = await make(service);
    try {
      const batch = Array.from({ length: 5000 }, (_, i) => announce(i));
      batch.push({ type: 'wt-scrape', infoHashes: Array.from({ length: 3000 }, (_, i) => hash(i)) });
      const { replies } = await send(t.transport, batch);
      assert.equal(replies.length, batch.length);
      for (let i = 0; i < 5000; i++) {
        const reply = replies[i];
        assert.ok(reply.type === 'announce' && reply.downloaded === i, `reply ${i}`);
      }
      const last = replies[5000];
      assert.ok(last.type === 'wt-scrape' && last.files.length === 3000);
      const big = new RecordingSwarm();
      const t2 = await make(big);
      try {
        const sdp = 'a=candidate:'.padEnd(1024 * 1024, 'x');
        const request: SwarmRequest = { type: 'wt-answer', infoHash: binaryId(1), peerId: binaryId(2), from: { edge: 'e', socket: 1 }, toPeerId: binaryId(3), offerId: binaryId(4), answer: { type: 'answer', sdp } };
        await send(t2.transport, [request]);
        assert.equal(big.received.length, 1);
        const got = big.received[0];
        assert.ok(got.type === 'wt-answer' && got.answer.sdp === sdp);
      } finally {
        await t2.cleanup();
      }
    } finally {
      await t.cleanup();
    }
  });

  test(`${name}: empty batch answers with no replies`, async () => {
    const t = await make(new EchoSwarm());
    try {
      const { replies, sync } = await send(t.transport, []);
      assert.equal(sync, false);
      assert.deepEqual(replies, []);
      assert.equal(t.transport.inFlight, 0);
    } finally {
      await t.cleanup();
    }
  });

  test(`${name}: when the swarm breaks, sends fail fast with errors`, async (ctx) => {
    const t = await make(new EchoSwarm());
    try {
      if (!t.breakSwarm) {
        ctx.skip('transport has no far side to break');
        return;
      }
      await t.breakSwarm();
      const { replies } = await send(t.transport, [announce(1), announce(2)]);
      assert.deepEqual(replies.map((r) => r.type), ['error', 'error']);
      // Fast means the transport noticed the break, not that the request timeout ran out.
      assert.ok(replies.every((r) => r.type === 'error' && !/timed out/.test(r.message)), JSON.stringify(replies));
    } finally {
      await t.cleanup();
    }
  });
}
