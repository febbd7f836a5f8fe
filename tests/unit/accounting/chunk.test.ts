/**
 * A slot's accounting state as a binary chunk (services/swarm/accounting/chunk.ts):
 * it round-trips, refuses what it cannot read, and merges in any order
 * without crediting a byte twice.
 */
import { describe, test } from 'node:test';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import assert from 'node:assert/strict';
import { AccountingChunkError, decodeAccounts, encodeAccounts, exportSlots, importChunk, mergeAccounts } from '../../../services/swarm/accounting/chunk.js';
import { FLAG_SEEDING, FLAG_SNATCHED, PeerAccounts, type PeerAccount } from '../../../services/swarm/accounting/peer-accounts.js';
import { int, pick, printSeed, randomBinary, rngFor } from '../../support/seeded-random.js';

function randomAccount(r: () => number, peerIds: readonly string[]): PeerAccount {
  return {
    torrentId: int(r, 3),
    userId: int(r, 3),
    peerId: pick(r, peerIds),
    slot: 5,
    uploaded: int(r, 4) * 1e12 + int(r, 1000),
    downloaded: int(r, 1000),
    left: int(r, 2) * 500,
    firstSeen: 1000 + int(r, 100),
    lastSeen: 2000 + int(r, 4),
    seedTime: int(r, 50),
    activeTime: int(r, 50),
    flags: int(r, 4),
  };
}

function state(table: PeerAccounts): PeerAccount[] {
  const all: PeerAccount[] = [];
  table.forEachInSlots(() => true, (a) => all.push(a));
  return all.sort((a, b) => a.torrentId - b.torrentId || a.userId - b.userId || (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0));
}

describe('accounting chunks', () => {
  test('encode and decode round-trip, counters beyond 2^32 included', (t) => {
    printSeed(t);
    const r = rngFor('accounting chunk round trip');
    const peerIds = Array.from({ length: 5 }, () => randomBinary(r, 20));
    const accounts = Array.from({ length: 200 }, () => randomAccount(r, peerIds));
    accounts[0].uploaded = 2 ** 53 - 1;
    assert.deepEqual(decodeAccounts(encodeAccounts(accounts)), accounts);
    assert.deepEqual(decodeAccounts(encodeAccounts([])), []);
  });

  test('another version, a damaged chunk or a negative counter is refused whole', () => {
    const one = encodeAccounts([{ torrentId: 1, userId: 1, peerId: 'p'.repeat(20), slot: 1, uploaded: 1, downloaded: 1, left: 1, firstSeen: 1, lastSeen: 1, seedTime: 0, activeTime: 0, flags: 0 }]);
    const version = one.slice();
    version[2] = 2;
    assert.throws(() => decodeAccounts(version), /version 2; this release reads 1/);
    assert.throws(() => decodeAccounts(one.subarray(0, one.length - 1)), AccountingChunkError);
    assert.throws(() => decodeAccounts(new Uint8Array([1, 2, 3])), /not an accounting chunk/);
    const negative = one.slice();
    new DataView(negative.buffer).setFloat64(7 + 30, -5, true);
    assert.throws(() => decodeAccounts(negative), /negative or non-finite/);
    const table = new PeerAccounts(3900);
    assert.throws(() => importChunk(table, negative));
    assert.equal(table.size, 0, 'nothing was imported');
  });

  test('merge is commutative and associative: any import order, and repeats, give one state', (t) => {
    printSeed(t);
    const r = rngFor('accounting merge order');
    const peerIds = Array.from({ length: 3 }, () => randomBinary(r, 20));
    for (let round = 0; round < 200; round++) {
      const chunks = Array.from({ length: 4 }, () => encodeAccounts(Array.from({ length: 1 + int(r, 8) }, () => randomAccount(r, peerIds))));
      const orders = [chunks, [...chunks].reverse(), [chunks[2], chunks[0], chunks[3], chunks[1], chunks[0]]];
      const states = orders.map((order) => {
        const table = new PeerAccounts(3900);
        for (const chunk of order) importChunk(table, chunk);
        return state(table);
      });
      assert.deepEqual(states[1], states[0], `round ${round}: reversed`);
      assert.deepEqual(states[2], states[0], `round ${round}: shuffled, one chunk twice`);
    }
    const r2 = rngFor('accounting merge pairs');
    for (let i = 0; i < 500; i++) {
      const [a, b, c] = [randomAccount(r2, ['x'.repeat(20)]), randomAccount(r2, ['x'.repeat(20)]), randomAccount(r2, ['x'.repeat(20)])];
      assert.deepEqual(mergeAccounts(a, b), mergeAccounts(b, a));
      assert.deepEqual(mergeAccounts(mergeAccounts(a, b), c), mergeAccounts(a, mergeAccounts(b, c)));
      assert.deepEqual(mergeAccounts(a, a), a);
    }
  });

  test('the newest report wins, a snatch on either side stays, and the next announce credits only what is new', () => {
    const peerId = '-qB4650-cccccccccccc';
    const oldOwner = new PeerAccounts(3900);
    const newOwner = new PeerAccounts(3900);
    const base = { torrentId: 1, userId: 9, peerId, slot: 0x1234, downloaded: 0, left: 0 };
    oldOwner.announce({ ...base, uploaded: 0, event: AnnounceEvent.Started, now: 1000 });
    oldOwner.announce({ ...base, uploaded: 100, event: AnnounceEvent.Completed, now: 1100 });
    const stale = exportSlots(oldOwner, (slot) => slot === 0x1234).get(0x1234)!;
    oldOwner.announce({ ...base, uploaded: 300, event: AnnounceEvent.None, now: 1200 }); // credits 200 on the old owner
    const fresh = exportSlots(oldOwner, (slot) => slot === 0x1234).get(0x1234)!;
    assert.equal(exportSlots(oldOwner, (slot) => slot === 1).size, 0, 'other slots export nothing');

    importChunk(newOwner, fresh);
    importChunk(newOwner, stale); // an older snapshot arriving late changes nothing
    const held = newOwner.get(1, 9, peerId)!;
    assert.deepEqual([held.uploaded, held.lastSeen, held.firstSeen, held.flags], [300, 1200, 1000, FLAG_SNATCHED | FLAG_SEEDING]);
    const c = newOwner.announce({ ...base, uploaded: 350, event: AnnounceEvent.Completed, now: 1300 });
    assert.deepEqual([c.first, c.rawUp, c.snatch], [false, 50, false], '50 new bytes; the snatch was already recorded');
    assert.equal(oldOwner.dropSlots((slot) => slot === 0x1234), 1);
    assert.equal(oldOwner.size, 0);
  });
});
