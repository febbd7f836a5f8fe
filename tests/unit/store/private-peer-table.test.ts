import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PRIVATE_FLAG_COMPLETED, PrivatePeerTable } from '../../../services/swarm/store/private-peer-table.js';
import { hex, split, v4, v6 } from '../../support/swarm-store.js';
import { mulberry32 } from '../../support/seeded-random.js';

const T = 0;
const NOW = 1_000_000;

function pid(n: number): string {
  return `-qB4650-${String(n).padStart(12, '0')}`;
}

function table(seed = 1): PrivatePeerTable {
  return new PrivatePeerTable(6, mulberry32(seed), 4);
}

function add(t: PrivatePeerTable, user: number, peer: number, ep: Uint8Array, seeder: boolean): number {
  const pos = t.find(T, user, pid(peer));
  return pos >= 0 ? t.touch(T, pos, ep, seeder, NOW) : t.insert(T, user, pid(peer), ep, seeder, NOW, 0);
}

describe('PrivatePeerTable', () => {
  it('keeps one peer when the same user and peer_id come from a new address, with the new endpoint', () => {
    const t = table();
    add(t, 7, 1, v4(1), false);
    add(t, 7, 1, v4(2, 7000), false);
    assert.equal(t.count(T), 1);
    assert.equal(hex(t.endpoint(T, t.find(T, 7, pid(1)))), hex(v4(2, 7000)));
    // Positive control: a different peer_id of the same user is a second peer.
    add(t, 7, 2, v4(2, 7000), false);
    assert.equal(t.count(T), 2);
  });

  it('keeps two users behind one address and port as two peers', () => {
    const t = table();
    add(t, 1, 1, v4(9), true);
    add(t, 2, 1, v4(9), true);
    assert.equal(t.count(T), 2);
    assert.equal(t.seeders(T), 2);
    assert.notEqual(t.find(T, 1, pid(1)), t.find(T, 2, pid(1)));
  });

  it('moves a peer between leechers and seeders and keeps its flags', () => {
    const t = table();
    add(t, 1, 1, v4(1), false);
    add(t, 2, 2, v4(2), false);
    t.setFlags(T, t.find(T, 1, pid(1)), t.flags(T, t.find(T, 1, pid(1))) | PRIVATE_FLAG_COMPLETED);
    add(t, 1, 1, v4(3), true);
    assert.equal(t.leechers(T), 1);
    assert.equal(t.seeders(T), 1);
    const pos = t.find(T, 1, pid(1));
    assert.ok(pos >= 1, 'seeders sit after leechers');
    assert.ok(t.flags(T, pos) & PRIVATE_FLAG_COMPLETED);
    assert.equal(hex(t.endpoint(T, pos)), hex(v4(3)));
    t.remove(T, t.find(T, 2, pid(2)));
    assert.equal(t.count(T), 1);
    assert.equal(t.find(T, 1, pid(1)), 0);
  });

  it("never returns the announcing user's own peers", () => {
    const t = table();
    for (let p = 0; p < 5; p++) add(t, 1, p, v4(100 + p), p % 2 === 0);
    add(t, 2, 50, v4(200), true);
    add(t, 3, 51, v4(201), false);
    for (let r = 0; r < 20; r++) {
      const got = split(t.select(T, 1, false, 50), 6).sort();
      assert.deepEqual(got, [hex(v4(200)), hex(v4(201))].sort());
    }
    // Positive control: another user gets user 1's peers.
    assert.equal(split(t.select(T, 3, false, 50), 6).length, 6);
  });

  it('offers a leecher seeders of other users first, one per user before a second of any', () => {
    const t = table(5);
    // User 2 has 6 seeders, users 3 and 4 one each; 10 leechers of user 5.
    for (let p = 0; p < 6; p++) add(t, 2, p, v4(10 + p), true);
    add(t, 3, 20, v4(20), true);
    add(t, 4, 21, v4(21), true);
    for (let p = 0; p < 10; p++) add(t, 5, 30 + p, v4(30 + p), false);
    const seederEps = new Set([...Array(6).keys()].map((p) => hex(v4(10 + p))).concat(hex(v4(20)), hex(v4(21))));
    for (let r = 0; r < 20; r++) {
      const got = split(t.select(T, 1, false, 3), 6);
      assert.equal(got.length, 3);
      // With 3 slots and 3 seeding users, each user gets exactly one.
      assert.ok(got.includes(hex(v4(20))) && got.includes(hex(v4(21))), `users 3 and 4 first: ${got}`);
      const all = split(t.select(T, 1, false, 12), 6);
      assert.equal(all.length, 12);
      assert.ok(all.slice(0, 8).every((e) => seederEps.has(e)), 'all 8 seeders come before any leecher');
      assert.ok(all.slice(8).every((e) => !seederEps.has(e)));
    }
  });

  it('offers a seeder only leechers of other users', () => {
    const t = table();
    add(t, 2, 1, v4(1), true);
    add(t, 3, 2, v4(2), false);
    add(t, 1, 3, v4(3), false);
    assert.deepEqual(split(t.select(T, 1, true, 50), 6), [hex(v4(2))]);
  });

  it('stores IPv6 endpoints and grows and shrinks its block', () => {
    const t = new PrivatePeerTable(18, mulberry32(2), 1);
    for (let p = 0; p < 100; p++) t.insert(T, p + 1, pid(p), v6(p), p % 3 === 0, NOW, 0);
    assert.equal(t.count(T), 100);
    for (let p = 0; p < 100; p++) assert.equal(hex(t.endpoint(T, t.find(T, p + 1, pid(p)))), hex(v6(p)));
    for (let p = 0; p < 100; p++) t.remove(T, t.find(T, p + 1, pid(p)));
    assert.equal(t.count(T), 0);
    assert.equal(t.slab.usedBytes, 0);
  });

  it("tells how many peers a user already has when the peer is new, for the store's per-user cap", () => {
    const t = table();
    add(t, 1, 1, v4(1), false);
    add(t, 1, 2, v4(1, 7000), true);
    add(t, 2, 3, v4(1, 7001), true);
    assert.equal(t.find(T, 1, pid(9)), -1 - 2);
    assert.equal(t.find(T, 3, pid(9)), -1);
    assert.equal(t.totalPeers, 3);
    assert.equal(t.totalLeechers, 1);
  });

  it('expires peers last seen at or before the cutoff and clears a torrent', () => {
    const t = table();
    t.insert(T, 1, pid(1), v4(1), false, 100, 0);
    t.insert(T, 2, pid(2), v4(2), true, 200, 0);
    t.insert(T, 3, pid(3), v4(3), false, 300, 0);
    t.insert(T, 4, pid(4), v4(4), true, 100, 0);
    assert.equal(t.expireRange(T, t.count(T) - 1, 0, 150), 2);
    assert.equal(t.count(T), 2);
    assert.ok(t.find(T, 2, pid(2)) >= 0 && t.find(T, 3, pid(3)) >= 0);
    assert.equal(t.leechers(T), 1);
    t.clear(T);
    assert.equal(t.count(T), 0);
    assert.equal(t.totalPeers, 0);
    assert.equal(t.slab.usedBytes, 0);
  });
});
