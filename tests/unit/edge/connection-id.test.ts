import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sipKey, siphash24 } from '../../../lib/crypto/siphash.js';
import { ConnectionIds } from '../../../services/edge/udp/connection-id.js';

function hex64(out: Uint32Array): bigint {
  return (BigInt(out[0]) << 32n) | BigInt(out[1]);
}

test('SipHash-2-4 matches the reference vectors (key 00..0f, message 00..n-1)', () => {
  const key = sipKey(Uint8Array.from({ length: 16 }, (_, i) => i));
  const message = Uint8Array.from({ length: 64 }, (_, i) => i);
  const expected: Record<number, bigint> = {
    0: 0x726fdb47dd0e0e31n,
    1: 0x74f839c593dc67fdn,
    2: 0x0d6c8009d9a94f5an,
    3: 0x85676696d7fb7e2dn,
    4: 0xcf2794e0277187b7n,
    7: 0xab0200f58b01d137n,
    8: 0x93f5f5799a932462n,
    15: 0xa129ca6149be45e5n,
    16: 0x3f2acc7f57c29bdbn,
  };
  for (const [length, want] of Object.entries(expected)) {
    assert.equal(hex64(siphash24(key, message, Number(length))), want, `message length ${length}`);
  }
});

function ids(now: { t: number }, key = new Uint8Array(32).fill(7)): ConnectionIds {
  return new ConnectionIds({ key, ttlSeconds: 120, slackSeconds: 60, futureSkewSeconds: 5, now: () => now.t });
}

const clientA = Uint8Array.of(127, 0, 0, 1);
const clientB = Uint8Array.of(127, 0, 0, 2);
const clientV6 = Uint8Array.from({ length: 16 }, (_, i) => (i === 15 ? 1 : 0));

test('an id verifies for the address it was issued to, within ttl + slack', () => {
  const clock = { t: 1_700_000_000 };
  const c = ids(clock);
  const id = new Uint32Array(2);
  c.issue(clientA, id);
  assert.ok(c.verify(clientA, id[0], id[1]));
  clock.t += 180;
  assert.ok(c.verify(clientA, id[0], id[1]), 'still valid at ttl + slack');
  clock.t += 1;
  assert.ok(!c.verify(clientA, id[0], id[1]), 'expired after ttl + slack');
});

test('an id does not verify for another address or family', () => {
  const clock = { t: 1_700_000_000 };
  const c = ids(clock);
  const id = new Uint32Array(2);
  c.issue(clientA, id);
  assert.ok(!c.verify(clientB, id[0], id[1]));
  c.issue(clientV6, id);
  assert.ok(c.verify(clientV6, id[0], id[1]));
  assert.ok(!c.verify(clientA, id[0], id[1]));
});

test('a forged timestamp fails: moved into the future or the past, the MAC no longer matches', () => {
  const clock = { t: 1_700_000_000 };
  const c = ids(clock);
  const id = new Uint32Array(2);
  c.issue(clientA, id);
  assert.ok(!c.verify(clientA, id[0] + 3, id[1]), 'future stamp with the old MAC');
  assert.ok(!c.verify(clientA, id[0] + 100_000, id[1]), 'far-future stamp');
  assert.ok(!c.verify(clientA, id[0] - 1, id[1]), 'past stamp with the old MAC');
});

test('ids stamped too far in the future are rejected even with a valid MAC', () => {
  const issuerClock = { t: 1_700_000_100 };
  const verifierClock = { t: 1_700_000_000 };
  const key = new Uint8Array(32).fill(9);
  const id = new Uint32Array(2);
  ids(issuerClock, key).issue(clientA, id);
  assert.ok(!ids(verifierClock, key).verify(clientA, id[0], id[1]), '100 s ahead is beyond the 5 s skew');
  verifierClock.t = 1_700_000_097;
  assert.ok(ids(verifierClock, key).verify(clientA, id[0], id[1]), '3 s ahead is within the skew');
});

test('edges sharing a key accept each other\'s ids; a different key does not', () => {
  const clock = { t: 1_700_000_000 };
  const id = new Uint32Array(2);
  ids(clock, new Uint8Array(32).fill(1)).issue(clientA, id);
  assert.ok(ids(clock, new Uint8Array(32).fill(1)).verify(clientA, id[0], id[1]));
  assert.ok(!ids(clock, new Uint8Array(32).fill(2)).verify(clientA, id[0], id[1]));
});

test('random ids are not accepted (no way to guess past the MAC)', () => {
  const clock = { t: 1_700_000_000 };
  const c = ids(clock);
  let accepted = 0;
  for (let i = 0; i < 20_000; i++) {
    if (c.verify(clientA, clock.t - (i % 100), (Math.random() * 2 ** 32) >>> 0)) accepted++;
  }
  assert.ok(accepted <= 1, `accepted ${accepted} random ids`);
});
