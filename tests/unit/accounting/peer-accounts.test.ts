/**
 * Transfer accounting of private peers (services/swarm/accounting): the
 * deltas and times one announce credits, the multipliers and freeleech,
 * snatches, purging, and the packed table itself against a Map model.
 */
import { describe, test } from 'node:test';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import assert from 'node:assert/strict';
import { CatalogBuilder } from '../../../lib/private/catalog/catalog.js';
import { credited } from '../../../services/swarm/accounting/credit.js';
import { PeerAccounts, ROW_BYTES, SLOT_INDEX_BYTES, type AccountedAnnounce } from '../../../services/swarm/accounting/peer-accounts.js';
import { int, printSeed, randomBinary, rngFor, where } from '../../support/seeded-random.js';

const PEER_A = '-qB4650-aaaaaaaaaaaa';
const PEER_B = '-qB4650-bbbbbbbbbbbb';

function announce(over: Partial<AccountedAnnounce>): AccountedAnnounce {
  return { torrentId: 1, userId: 1, peerId: PEER_A, slot: 7, uploaded: 0, downloaded: 0, left: 1000, event: AnnounceEvent.None, now: 1000, ...over };
}

describe('accounting deltas', () => {
  test("a peer's first announce sets the baseline; later ones credit what grew", () => {
    const table = new PeerAccounts(3900);
    // A client resuming after a tracker restart reports its session so far: not credited again.
    let c = table.announce(announce({ uploaded: 5000, downloaded: 7000, event: AnnounceEvent.Started }));
    assert.deepEqual([c.first, c.rawUp, c.rawDown], [true, 0, 0]);
    c = table.announce(announce({ uploaded: 5600, downloaded: 7300, now: 1100 }));
    assert.deepEqual([c.first, c.rawUp, c.rawDown], [false, 600, 300]);
    c = table.announce(announce({ uploaded: 5600, downloaded: 7300, now: 1200 }));
    assert.deepEqual([c.rawUp, c.rawDown], [0, 0], 'nothing new, nothing credited');
  });

  test('a counter that went down credits 0 and becomes the new baseline', () => {
    const table = new PeerAccounts(3900);
    table.announce(announce({ uploaded: 5000, downloaded: 5000 }));
    let c = table.announce(announce({ uploaded: 100, downloaded: 6000, now: 1100 }));
    assert.deepEqual([c.rawUp, c.rawDown], [0, 1000]);
    c = table.announce(announce({ uploaded: 400, downloaded: 6000, now: 1200 }));
    assert.equal(c.rawUp, 300, 'counted from the lower report on');
  });

  test('seed time counts while the peer was a seeder, active time always, each capped at the inactivity limit', () => {
    const table = new PeerAccounts(3900);
    table.announce(announce({ left: 500, now: 1000 }));
    let c = table.announce(announce({ left: 0, event: AnnounceEvent.Completed, now: 1600 }));
    assert.deepEqual([c.activeTime, c.seedTime, c.seeding], [600, 0, true], 'it was a leecher until now');
    c = table.announce(announce({ left: 0, now: 3400 }));
    assert.deepEqual([c.activeTime, c.seedTime], [1800, 1800]);
    c = table.announce(announce({ left: 0, now: 3400 + 100_000 }));
    assert.deepEqual([c.activeTime, c.seedTime], [3900, 3900], 'a long silence counts at most the inactivity limit');
    const held = table.get(1, 1, PEER_A)!;
    assert.deepEqual([held.activeTime, held.seedTime, held.firstSeen], [600 + 1800 + 3900, 1800 + 3900, 1000]);
  });

  test('completed records a snatch once per peer; stopped credits the last deltas and forgets the peer', () => {
    const table = new PeerAccounts(3900);
    table.announce(announce({ left: 500 }));
    assert.equal(table.announce(announce({ left: 0, event: AnnounceEvent.Completed, now: 1010 })).snatch, true);
    assert.equal(table.announce(announce({ left: 0, event: AnnounceEvent.Completed, now: 1020 })).snatch, false, 'a repeated completed is not a second snatch');
    const c = table.announce(announce({ left: 0, uploaded: 900, event: AnnounceEvent.Stopped, now: 1030 }));
    assert.deepEqual([c.rawUp, c.removed], [900, true]);
    assert.equal(table.get(1, 1, PEER_A), undefined);
    assert.equal(table.size, 0);
    assert.equal(table.announce(announce({ event: AnnounceEvent.Stopped })).removed, true, 'stopped from an unknown peer holds nothing');
    assert.equal(table.size, 0);
  });

  test('peers are keyed by torrent, user and peer_id: the same peer_id of another user is another peer', () => {
    const table = new PeerAccounts(3900);
    table.announce(announce({ userId: 1, uploaded: 100 }));
    table.announce(announce({ userId: 2, uploaded: 100 }));
    table.announce(announce({ userId: 1, peerId: PEER_B, uploaded: 100 }));
    table.announce(announce({ torrentId: 2, uploaded: 100 }));
    assert.equal(table.size, 4);
    assert.equal(table.announce(announce({ userId: 2, uploaded: 150, now: 1001 })).rawUp, 50);
    assert.equal(table.get(1, 1, PEER_A)!.uploaded, 100, "another user's report does not move this peer's baseline");
  });
});

describe('credited bytes', () => {
  const builder = new CatalogBuilder();
  builder.addGroup(20, 'anime', 1, 0); // group freeleech
  builder.addTorrent(1, 'a'.repeat(20), 1, 1, false, 10, 'anime');
  builder.addTorrent(2, 'b'.repeat(20), 1, 1, false, 20, 'anime');
  builder.addTorrent(3, 'c'.repeat(20), 2, 0.5, false, 10, 'anime');
  builder.addUser(1, 'u'.repeat(32), 1.5, 0.5, false, false);
  const catalog = builder.build(0);
  const user = catalog.user('u'.repeat(32));

  test('raw x user x torrent (x group) multipliers', () => {
    const t1 = catalog.torrent('a'.repeat(20));
    const t3 = catalog.torrent('c'.repeat(20));
    assert.equal(credited(1000, catalog.userUpMultiplier(user), catalog.torrentUpMultiplier(t1)), 1500);
    assert.equal(credited(1000, catalog.userDownMultiplier(user), catalog.torrentDownMultiplier(t1)), 500);
    assert.equal(credited(1000, catalog.userUpMultiplier(user), catalog.torrentUpMultiplier(t3)), 3000);
    assert.equal(credited(1000, catalog.userDownMultiplier(user), catalog.torrentDownMultiplier(t3)), 250);
    assert.equal(credited(999, 1, 0.5), 499, 'fractions of a byte are dropped');
    assert.equal(credited(0, 2, 2), 0);
  });

  test('group freeleech and global freeleech credit no download, upload still counts', () => {
    const t2 = catalog.torrent('b'.repeat(20));
    assert.equal(credited(1000, catalog.userDownMultiplier(user), catalog.torrentDownMultiplier(t2)), 0);
    assert.equal(credited(1000, catalog.userUpMultiplier(user), catalog.torrentUpMultiplier(t2)), 1500);
    builder.setGlobalFreeleech(true);
    const global = builder.build(0);
    const t1 = global.torrent('a'.repeat(20));
    assert.equal(credited(1000, global.userDownMultiplier(user), global.torrentDownMultiplier(t1)), 0);
    assert.equal(credited(1000, global.userUpMultiplier(user), global.torrentUpMultiplier(t1)), 1500);
    assert.equal(credited(1000, catalog.userDownMultiplier(user), catalog.torrentDownMultiplier(catalog.torrent('a'.repeat(20)))), 500, 'positive control: without it download counts');
  });
});

describe('the packed table', () => {
  test('purging inactive peers reports each (to mark transfer_history inactive) and resumes within a budget', () => {
    const table = new PeerAccounts(3900);
    for (let i = 0; i < 100; i++) table.announce(announce({ userId: i, now: i % 2 === 0 ? 1000 : 5000 }));
    const purged: number[] = [];
    let rounds = 0;
    while (!table.purgeInactive(2000, 7, (torrentId, userId) => purged.push(userId))) rounds++;
    assert.ok(rounds >= 10, 'the budget split the sweep');
    assert.deepEqual(purged.sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i * 2));
    assert.equal(table.size, 50);
    for (let i = 1; i < 100; i += 2) assert.ok(table.get(1, i, PEER_A), `user ${i} stays`);
  });

  test('random announces, stops and purges agree with a Map model', (t) => {
    printSeed(t);
    const r = rngFor('peer-accounts model');
    const table = new PeerAccounts(1_000_000);
    const model = new Map<string, number>();
    const peerIds = Array.from({ length: 50 }, () => randomBinary(r, 20));
    for (let i = 0; i < 40_000; i++) {
      const torrentId = int(r, 20);
      const a = announce({ torrentId, userId: int(r, 20), peerId: peerIds[int(r, peerIds.length)], uploaded: int(r, 1000), now: 1000 + i, slot: torrentId % 4 });
      const key = `${a.torrentId}/${a.userId}/${a.peerId}`;
      a.event = int(r, 6) === 0 ? AnnounceEvent.Stopped : AnnounceEvent.None;
      const c = table.announce(a);
      const before = model.get(key);
      assert.equal(c.first, before === undefined, where('first', i));
      if (before !== undefined) assert.equal(c.rawUp, Math.max(0, a.uploaded - before), where('delta', i));
      if (a.event === AnnounceEvent.Stopped) model.delete(key);
      else model.set(key, a.uploaded);
      assert.equal(table.size, model.size, where('size', i));
    }
    for (const [key, uploaded] of model) {
      const [torrentId, userId] = key.split('/').map(Number);
      const peerId = key.slice(key.indexOf('/', key.indexOf('/') + 1) + 1);
      assert.equal(table.get(torrentId, userId, peerId)?.uploaded, uploaded);
    }
    // The per-slot lists (what snapshots and handoffs read) hold exactly the peers of each slot, and drop by slot.
    for (let slot = 0; slot < 4; slot++) {
      const listed: string[] = [];
      table.forEachInSlot(slot, (a) => listed.push(`${a.torrentId}/${a.userId}/${a.peerId}`));
      const expected = [...model.keys()].filter((key) => Number(key.split('/')[0]) % 4 === slot);
      assert.deepEqual(listed.sort(), expected.sort(), `slot ${slot}`);
      assert.equal(table.slotPeerCount(slot), expected.length);
    }
    const before = table.size;
    assert.equal(table.dropSlot(1), model.size - [...model.keys()].filter((key) => Number(key.split('/')[0]) % 4 !== 1).length);
    assert.equal(table.slotPeerCount(1), 0);
    table.forEachInSlot(1, () => assert.fail('slot 1 was dropped'));
    assert.ok(table.size < before && table.slotPeerCount(2) > 0, 'control: other slots keep their peers');
  });

  test('bytes per private peer (stated in the README): 87 with full arrays, at most 2 x (71 + 8) + 16 right after they double', (t) => {
    const table = new PeerAccounts(3900);
    let worst = 0;
    for (let i = 0; i < 200_000; i++) {
      table.announce(announce({ torrentId: i >>> 4, userId: i, peerId: `-qB4650-${String(i).padStart(12, '0')}` }));
      if (i > 2000) worst = Math.max(worst, table.bytesPerPeer());
    }
    t.diagnostic(`bytes per private peer: ${table.bytesPerPeer().toFixed(1)} at ${table.size} peers, worst ${worst.toFixed(1)} after growth`);
    assert.ok(worst <= 2 * (ROW_BYTES + SLOT_INDEX_BYTES) + 16 + 1, `worst ${worst}`);
  });
});
