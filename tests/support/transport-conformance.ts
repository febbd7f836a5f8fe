/**
 * One behavioural suite every Transport implementation must pass (in-process
 * now, gRPC later), in the spirit of chihaya's storage conformance tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SwarmReply, SwarmRequest } from '../../lib/transport/messages.js';
import type { SwarmService, Transport } from '../../lib/transport/transport.js';

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

  test(`${name}: after close, sends answer promptly with errors`, async () => {
    const t = await make(new EchoSwarm());
    try {
      await t.transport.close();
      const started = Date.now();
      const { replies } = await send(t.transport, [announce(1), announce(2)]);
      assert.ok(Date.now() - started < 1000);
      assert.deepEqual(replies.map((r) => r.type), ['error', 'error']);
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
}
