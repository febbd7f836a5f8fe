/**
 * Slot export and import (services/swarm/store/slot-state.ts): round trips
 * and the merge rules as properties over random swarms (seeded), expiry,
 * caps, refused chunks that change nothing, export in parts while the store
 * changes underneath, dropping slots, and which changes stamp a slot.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { SlotChunkError, SlotState } from '../../../services/swarm/store/slot-state.js';
import { CHUNK_HEADER_BYTES, readChunk } from '../../../services/swarm/store/slot-codec.js';
import { int, printSeed, rngFor, where } from '../../support/seeded-random.js';
import { req } from '../../support/swarm-store.js';
import {
  EDGES,
  connectEdges,
  dump,
  exportAll,
  fillRandom,
  hashInSlot,
  lines,
  makeSwarm,
  mergeDumps,
  peerIdOf,
  slotsOf,
  type TestSwarm,
} from '../../support/swarm-slots.js';

/** Hashes spread over a few slots, several per slot (and slot 0 and 65535, the ends). */
function hashes(slots: readonly number[], perSlot: number): string[] {
  return slots.flatMap((slot) => Array.from({ length: perSlot }, (_, n) => hashInSlot(slot, n)));
}

const HASHES = hashes([0, 7, 0x1234, 0xffff], 3);
const SLOTS = slotsOf(HASHES);

function randomSwarm(seedName: string, start: number, ops = 400): TestSwarm {
  const t = makeSwarm();
  t.clock.t = start;
  connectEdges(t.swarm);
  fillRandom(t, rngFor(seedName), { hashes: HASHES, ops });
  return t;
}

/** A swarm that will import, with the same edges connected, at time `now`. */
function importer(now: number): TestSwarm {
  const t = makeSwarm();
  t.clock.t = now;
  connectEdges(t.swarm);
  return t;
}

function importAll(t: TestSwarm, chunks: readonly Uint8Array[]): void {
  for (const chunk of chunks) t.swarm.slots.importChunk(chunk);
}

function assertSound(t: TestSwarm, what: string): void {
  for (const h of HASHES) assert.equal(t.swarm.peers.validate(h), null, `${what}: store tables of ${Buffer.from(h, 'latin1').toString('hex')}`);
}

describe('round trip', () => {
  test('export then import into an empty swarm gives back every peer with its last-seen, seeder and completed state, and every completed count', (t) => {
    printSeed(t);
    for (let round = 0; round < 8; round++) {
      const a = randomSwarm(`round-trip-${round}`, 1_000_000);
      const before = dump(a.swarm, HASHES);
      assert.ok(before.peers.size > 50, where('the random swarm holds peers', round));
      const b = importer(a.clock.t);
      importAll(b, exportAll(a.swarm, SLOTS));
      assert.deepEqual(lines(dump(b.swarm, HASHES)), lines(before), where('round trip', round));
      assertSound(b, where('after import', round));
      // Counters agree with what is held.
      assert.deepEqual(b.swarm.peers.stats(), a.swarm.peers.stats(), where('store counts', round));
      const wtA = a.swarm.webtorrent.stats();
      const wtB = b.swarm.webtorrent.stats();
      assert.deepEqual([wtB.torrents, wtB.seeders, wtB.leechers], [wtA.torrents, wtA.seeders, wtA.leechers], where('WebTorrent counts', round));
    }
  });

  test('an empty slot exports nothing, and slotPeerCount counts both kinds of peers of one slot', () => {
    const a = randomSwarm('counts', 1_000_000);
    assert.deepEqual(exportAll(a.swarm, [3]), []);
    for (const slot of SLOTS) {
      const held = dump(a.swarm, HASHES.filter((h) => slotsOf([h])[0] === slot)).peers.size;
      assert.equal(a.swarm.slots.slotPeerCount(slot), held, `slot ${slot}`);
    }
  });
});

describe('merge', () => {
  test('importing A then B equals importing B then A, and equals the merge rules applied to both', (t) => {
    printSeed(t);
    for (let round = 0; round < 8; round++) {
      // Overlapping pools of hashes, addresses and peer ids; B runs partly later than A.
      const a = randomSwarm(`merge-a-${round}`, 1_000_000);
      const b = randomSwarm(`merge-b-${round}`, 1_000_300);
      const chunksA = exportAll(a.swarm, SLOTS);
      const chunksB = exportAll(b.swarm, SLOTS);
      const now = Math.max(a.clock.t, b.clock.t);
      const ab = importer(now);
      importAll(ab, chunksA);
      importAll(ab, chunksB);
      const ba = importer(now);
      importAll(ba, chunksB);
      importAll(ba, chunksA);
      const expected = lines(mergeDumps(dump(a.swarm, HASHES), dump(b.swarm, HASHES)));
      const overlap = [...dump(a.swarm, HASHES).peers.keys()].filter((k) => dump(b.swarm, HASHES).peers.has(k)).length;
      assert.ok(overlap > 10, where(`the two swarms share peers (${overlap})`, round));
      assert.deepEqual(lines(dump(ab.swarm, HASHES)), expected, where('A then B', round));
      assert.deepEqual(lines(dump(ba.swarm, HASHES)), expected, where('B then A', round));
      assertSound(ab, where('A then B', round));
      assertSound(ba, where('B then A', round));
    }
  });

  test('the chunks of a slot may arrive in any order (a handoff and a snapshot interleave)', (t) => {
    printSeed(t);
    const r = rngFor('chunk-order');
    const a = randomSwarm('chunk-order-fill', 1_000_000, 1500);
    const small = new SlotState(a.swarm.peers, a.swarm.webtorrent, { edges: a.swarm.edges, now: a.clock.now, maxChunkBytes: 1024 });
    const writer = small.newWriter();
    const chunks = SLOTS.flatMap((slot) => [...small.exportSlot(slot, writer)]);
    assert.ok(chunks.length > SLOTS.length, 'some slots took several chunks');
    for (let i = chunks.length - 1; i > 0; i--) {
      const j = int(r, i + 1);
      [chunks[i], chunks[j]] = [chunks[j], chunks[i]];
    }
    const b = importer(a.clock.t);
    importAll(b, chunks);
    assert.deepEqual(lines(dump(b.swarm, HASHES)), lines(dump(a.swarm, HASHES)));
  });

  test('importing the same state again changes nothing, nor does importing a swarm its own export', () => {
    const a = randomSwarm('idempotent', 1_000_000);
    const chunks = exportAll(a.swarm, SLOTS);
    const b = importer(a.clock.t);
    importAll(b, chunks);
    const once = lines(dump(b.swarm, HASHES));
    importAll(b, chunks);
    assert.deepEqual(lines(dump(b.swarm, HASHES)), once);
    const own = lines(dump(a.swarm, HASHES));
    importAll(a, chunks);
    assert.deepEqual(lines(dump(a.swarm, HASHES)), own);
    assert.deepEqual(b.swarm.peers.stats(), a.swarm.peers.stats());
  });

  test('downloaded counts do not add up: the larger one stays', () => {
    const hash = hashInSlot(9, 1);
    const a = makeSwarm();
    for (let i = 0; i < 3; i++) a.swarm.handle([req(hash, Uint8Array.of(10, 0, 0, i, 0, 80), { event: AnnounceEvent.Completed, left: 0 })]);
    const b = makeSwarm();
    for (let i = 0; i < 5; i++) b.swarm.handle([req(hash, Uint8Array.of(10, 0, 1, i, 0, 80), { event: AnnounceEvent.Completed, left: 0 })]);
    const c = importer(a.clock.t);
    importAll(c, exportAll(a.swarm, [9]));
    importAll(c, exportAll(b.swarm, [9]));
    importAll(c, exportAll(a.swarm, [9]));
    assert.equal(c.swarm.peers.torrentStats(hash).downloaded, 5);
    assert.equal(c.swarm.peers.torrentStats(hash).complete, 8, 'yet every peer is there');
  });

  test('a merged peer keeps "completed", so its next completed event is not counted twice', () => {
    const hash = hashInSlot(9, 2);
    const ep = Uint8Array.of(10, 0, 0, 1, 0, 80);
    const a = makeSwarm();
    a.swarm.handle([req(hash, ep, { event: AnnounceEvent.Completed, left: 0 })]);
    const b = importer(a.clock.t + 10);
    b.swarm.handle([req(hash, ep, { left: 0 })]); // newer, without the flag
    importAll(b, exportAll(a.swarm, [9]));
    b.swarm.handle([req(hash, ep, { event: AnnounceEvent.Completed, left: 0 })]);
    assert.equal(b.swarm.peers.torrentStats(hash).downloaded, 1);
  });
});

describe('what is not imported', () => {
  test('expired peers are skipped and counted; live ones in the same chunk are imported', () => {
    const a = randomSwarm('expired', 1_000_000);
    const chunks = exportAll(a.swarm, SLOTS);
    const held = dump(a.swarm, HASHES);
    // Import when the peers seen before the median last-seen time have expired (timeout 3600 s).
    const seen = [...held.peers.values()].map((p) => p.lastSeen).sort((x, y) => x - y);
    const later = seen[Math.floor(seen.length / 2)] + 3600;
    const b = importer(later);
    let expired = 0;
    let imported = 0;
    for (const chunk of chunks) {
      const r = b.swarm.slots.importChunk(chunk);
      expired += r.skippedExpired;
      imported += r.peers;
    }
    // The sweeps' rules: UDP/HTTP peers expire at cutoff, WebTorrent peers after it.
    const cutoff = later - 3600;
    const alive = (key: string, lastSeen: number): boolean => (key.includes(' wt ') ? lastSeen >= cutoff : lastSeen > cutoff);
    const live = [...held.peers].filter(([key, p]) => alive(key, p.lastSeen));
    assert.ok(live.length > 0 && live.length < held.peers.size, `some peers expired, some not (${live.length} of ${held.peers.size})`);
    assert.equal(imported, live.length);
    assert.equal(expired, held.peers.size - live.length);
    for (const [key, p] of dump(b.swarm, HASHES).peers) assert.ok(alive(key, p.lastSeen), `${key} was imported though expired`);
    assert.equal(b.swarm.slots.stats.importExpired, expired);
  });

  test('last-seen times from a clock ahead of ours are taken as now', () => {
    const hash = hashInSlot(5, 0);
    const a = makeSwarm();
    a.clock.t = 2_000_000;
    a.swarm.handle([req(hash, Uint8Array.of(10, 0, 0, 1, 0, 80))]);
    const b = importer(1_999_000);
    importAll(b, exportAll(a.swarm, [5]));
    assert.equal(b.swarm.peers.peersOf(hash, 4)[0].lastSeen, 1_999_000);
  });

  test('WebTorrent peers of an edge process that is gone are not imported; an edge that reconnects as another process loses the ones imported before', () => {
    const hash = hashInSlot(5, 1);
    const a = makeSwarm();
    connectEdges(a.swarm);
    for (let n = 0; n < 4; n++) {
      const { edge } = EDGES[n % 2];
      a.swarm.handle([{ type: 'wt-announce', infoHash: hash, peerId: peerIdOf(n), from: { edge, socket: n }, event: AnnounceEvent.None, seeder: false, offers: [] }]);
    }
    const chunks = exportAll(a.swarm, [5]);

    // The importer knows edge-0 as another process (it restarted meanwhile).
    const b = importer(a.clock.t);
    b.swarm.edgeConnected('edge-0', 'restarted');
    let r = b.swarm.slots.importChunk(chunks[0]);
    assert.deepEqual([r.peers, r.skippedStale], [2, 2]);
    assert.deepEqual(b.swarm.webtorrent.peersOf(hash).map((p) => p.edge), ['edge-1', 'edge-1']);

    // A swarm restoring before any edge connected imports all; edge-1 then connects as another process.
    const c = importer(a.clock.t);
    r = c.swarm.slots.importChunk(chunks[0]);
    assert.deepEqual([r.peers, r.skippedStale], [4, 0]);
    assert.equal(c.swarm.edgeConnected('edge-0', 'nonce-0'), 0, 'the same process: its peers stay');
    assert.equal(c.swarm.edgeConnected('edge-1', 'restarted'), 2, 'another process: its peers go');
    assert.deepEqual(c.swarm.webtorrent.peersOf(hash).map((p) => p.edge), ['edge-0', 'edge-0']);
  });

  test('an import that would pass the caps imports what fits and counts the rest', () => {
    const hash = hashInSlot(6, 0);
    const other = hashInSlot(6, 1);
    const a = makeSwarm();
    for (let i = 0; i < 10; i++) a.swarm.handle([req(hash, Uint8Array.of(10, 0, 0, i, 0, 80))]);
    for (let i = 0; i < 6; i++) a.swarm.handle([req(other, Uint8Array.of(10, 0, 9, 9, 0, 80 + i))]);
    const chunks = exportAll(a.swarm, [6]);

    const capped = makeSwarm({ clock: a.clock, store: { maxPeers: 7 } });
    let r = capped.swarm.slots.importChunk(chunks[0]);
    assert.equal(r.peers, 7);
    assert.equal(r.refusedByCaps, 9);
    assert.equal(capped.swarm.peers.stats().peers.v4.leechers, 7);
    assert.ok(capped.limits.counts['store.maxPeers'] >= 9, `counted: ${JSON.stringify(capped.limits.counts)}`);

    const torrentsCap = makeSwarm({ clock: a.clock, store: { maxTorrents: 1 } });
    r = torrentsCap.swarm.slots.importChunk(chunks[0]);
    assert.equal(torrentsCap.swarm.peers.stats().torrents, 1);
    assert.equal(r.refusedByCaps, r.peers === 10 ? 6 : 10);
    assert.equal(torrentsCap.limits.counts['store.maxTorrents'], 1);

    const addressCap = makeSwarm({ clock: a.clock, store: { maxPeersPerAddressPerTorrent: 4 } });
    r = addressCap.swarm.slots.importChunk(chunks[0]);
    assert.equal(addressCap.swarm.peers.peersOfAddress(other, Uint8Array.of(10, 0, 9, 9, 0, 0)), 4);
    assert.equal(r.refusedByCaps, 2);
    assert.equal(addressCap.limits.counts['store.maxPeersPerAddressPerTorrent'], 2);
    assert.equal(addressCap.swarm.peers.validate(other), null);
  });

  test('WebTorrent caps hold on import too', () => {
    const a = makeSwarm();
    connectEdges(a.swarm);
    for (let n = 0; n < 5; n++) {
      a.swarm.handle([{ type: 'wt-announce', infoHash: hashInSlot(8, n % 2), peerId: peerIdOf(n), from: { edge: 'edge-0', socket: n }, event: AnnounceEvent.None, seeder: false, offers: [] }]);
    }
    const b = makeSwarm({ clock: a.clock, webtorrent: { maxPeers: 3 } });
    connectEdges(b.swarm);
    const r = b.swarm.slots.importChunk(exportAll(a.swarm, [8])[0]);
    assert.deepEqual([r.peers, r.refusedByCaps], [3, 2]);
    assert.equal(b.limits.counts['webtorrent.maxPeers'], 2);
  });

  test('an import spends no new-torrent token: the network that made the torrents keeps its budget', () => {
    const a = randomSwarm('tokens', 1_000_000);
    let asked = 0;
    const refuseAll = { take: () => (asked++, { type: 'error' as const, message: 'too many new torrents from your network, try again later' }) };
    const b = makeSwarm({ clock: a.clock, storeOptions: { newTorrents: refuseAll } });
    connectEdges(b.swarm);
    importAll(b, exportAll(a.swarm, SLOTS));
    assert.equal(asked, 0);
    assert.deepEqual(lines(dump(b.swarm, HASHES)), lines(dump(a.swarm, HASHES)));
    // Positive control: the gate does refuse a client creating a torrent.
    const reply = b.swarm.handle([req(hashInSlot(77, 0), Uint8Array.of(10, 0, 0, 1, 0, 80))])[0];
    assert.equal(reply.type, 'error');
    assert.equal(asked, 1);
  });
});

describe('refused chunks', () => {
  test('a chunk of an unknown version is refused with a clear error, counted, and changes nothing', () => {
    const a = randomSwarm('version', 1_000_000);
    const chunks = exportAll(a.swarm, SLOTS);
    const b = importer(a.clock.t);
    importAll(b, chunks.slice(0, 1));
    const before = lines(dump(b.swarm, HASHES));
    const future = Uint8Array.from(chunks[1]);
    future[4] = 2;
    assert.throws(
      () => b.swarm.slots.importChunk(future),
      (error: unknown) => error instanceof SlotChunkError && error.reason === 'version' && /version 2 is not readable by this tracker \(it reads version 1\).*newer release/.test(error.message),
    );
    assert.deepEqual(lines(dump(b.swarm, HASHES)), before);
    assert.equal(b.swarm.slots.stats.refusedVersion, 1);
    // Positive control: the same chunk with its version intact imports.
    b.swarm.slots.importChunk(chunks[1]);
    assert.notDeepEqual(lines(dump(b.swarm, HASHES)), before);
  });

  test('a snapshot value with one bad chunk is refused whole', () => {
    const a = randomSwarm('value', 1_000_000, 1500);
    const small = new SlotState(a.swarm.peers, a.swarm.webtorrent, { edges: a.swarm.edges, now: a.clock.now, maxChunkBytes: 1024 });
    const slot = SLOTS[1];
    const chunks = [...small.exportSlot(slot, small.newWriter())];
    assert.ok(chunks.length >= 3, `several chunks (${chunks.length})`);
    const value = Buffer.concat(chunks);
    const b = importer(a.clock.t);
    const last = Buffer.concat([...chunks.slice(0, -1), chunks.at(-1)!.subarray(0, chunks.at(-1)!.length - 3)]);
    assert.throws(() => b.swarm.slots.importSlotValue(slot, last), SlotChunkError);
    const otherSlot = Uint8Array.from(value);
    otherSlot[7] ^= 1; // the first chunk now claims another slot
    assert.throws(() => b.swarm.slots.importSlotValue(slot, otherSlot), /holds a chunk of slot/);
    assert.equal(dump(b.swarm, HASHES).peers.size, 0);
    const r = b.swarm.slots.importSlotValue(slot, value);
    assert.ok(r.peers > 0);
    assert.equal(b.swarm.slots.stats.refusedCorrupt, 2);
  });

  test('garbage and damaged chunks never throw anything but SlotChunkError, and a refused one changes nothing', (t) => {
    printSeed(t);
    const r = rngFor('garbage');
    const a = randomSwarm('garbage-fill', 1_000_000);
    const chunks = exportAll(a.swarm, SLOTS);
    const b = importer(a.clock.t);
    let refused = 0;
    let imported = 0;
    for (let i = 0; i < 3000; i++) {
      let bytes: Uint8Array;
      const kind = i % 3;
      if (kind === 0) {
        bytes = Uint8Array.from({ length: int(r, 200) }, () => int(r, 256));
        if (bytes.length >= CHUNK_HEADER_BYTES && r() < 0.5) bytes.set(chunks[0].subarray(0, 8)); // a plausible header
      } else {
        bytes = Uint8Array.from(chunks[int(r, chunks.length)]);
        if (kind === 1) for (let k = 0; k < 1 + int(r, 4); k++) bytes[int(r, bytes.length)] = int(r, 256);
        else bytes = bytes.subarray(0, int(r, bytes.length));
      }
      const before = lines(dump(b.swarm, HASHES));
      assert.doesNotThrow(() => readChunk(bytes), where('readChunk', i));
      try {
        b.swarm.slots.importChunk(bytes);
        imported++;
      } catch (error) {
        assert.ok(error instanceof SlotChunkError, where(`threw ${String(error)}`, i));
        assert.deepEqual(lines(dump(b.swarm, HASHES)), before, where('a refused chunk changed state', i));
        refused++;
      }
    }
    assert.ok(refused > 1000 && imported > 10, `both outcomes happened (${refused} refused, ${imported} imported)`);
    for (const h of HASHES) assert.equal(b.swarm.peers.validate(h), null);
  });
});

describe('export in parts', () => {
  /** Slot 42: one torrent with 3,500 UDP/HTTP and 300 WebTorrent peers, 39 with one peer each; the torrent made last is exported first. */
  function bigSlotSwarm(options: { bigLast?: boolean } = {}): TestSwarm {
    const a = makeSwarm();
    connectEdges(a.swarm);
    const smalls = (): void => {
      for (let k = 1; k < 40; k++) a.swarm.handle([req(hashInSlot(42, k), Uint8Array.of(10, 2, 0, k, 0, 80))]);
    };
    if (options.bigLast) smalls();
    const big = hashInSlot(42, 0);
    for (let i = 0; i < 3000; i++) a.swarm.handle([req(big, Uint8Array.of(10, 1, i >> 8, i & 0xff, 0, 80), { left: i % 3 === 0 ? 0 : 1 })]);
    for (let i = 0; i < 500; i++) {
      const ep = new Uint8Array(18);
      ep.set([0x20, 0x01, 0x0d, 0xb8, 0, 1, i >> 8, i & 0xff]);
      ep[17] = 80;
      a.swarm.handle([req(big, ep)]);
    }
    for (let n = 0; n < 300; n++) {
      a.swarm.handle([{ type: 'wt-announce', infoHash: big, peerId: peerIdOf(n), from: { edge: EDGES[n % 2].edge, socket: n }, event: AnnounceEvent.None, seeder: n % 2 === 0, offers: [] }]);
    }
    if (!options.bigLast) smalls();
    return a;
  }

  test('a big slot becomes several chunks of at most maxChunkBytes, one torrent spread over several, and imports back whole', () => {
    const a = bigSlotSwarm();
    const hashes42 = Array.from({ length: 40 }, (_, k) => hashInSlot(42, k));
    const small = new SlotState(a.swarm.peers, a.swarm.webtorrent, { edges: a.swarm.edges, now: a.clock.now, maxChunkBytes: 4096 });
    const chunks = [...small.exportSlot(42, small.newWriter())];
    assert.ok(chunks.length > 8, `${chunks.length} chunks`);
    for (const c of chunks) {
      assert.ok(c.length <= 4096, `chunk of ${c.length} bytes`);
      const read = readChunk(c);
      assert.ok(read.ok && read.header.slot === 42);
    }
    const b = importer(a.clock.t);
    importAll(b, chunks);
    assert.deepEqual(lines(dump(b.swarm, hashes42)), lines(dump(a.swarm, hashes42)));
    assert.equal(small.stats.exportPeers, 3000 + 500 + 300 + 39);
    assert.equal(small.stats.exportChunks, chunks.length);
  });

  test('the store may change between two chunks: the torrent being exported deleted and its id reused in another slot do not derail it', () => {
    const a = bigSlotSwarm({ bigLast: true });
    const big = hashInSlot(42, 0);
    const small = new SlotState(a.swarm.peers, a.swarm.webtorrent, { edges: a.swarm.edges, now: a.clock.now, maxChunkBytes: 2048 });
    const cursor = a.swarm.changes.cursor();
    cursor.take();
    const chunks: Uint8Array[] = [];
    let step = 0;
    for (const chunk of small.exportSlot(42, small.newWriter())) {
      chunks.push(chunk);
      step++;
      if (step === 3) {
        // Half-way through the big torrent (exported first), every one of its peers leaves, the sweep
        // deletes it, and new torrents in slot 43 take its id and the ids after it.
        const peers = [...a.swarm.peers.peersOf(big, 4), ...a.swarm.peers.peersOf(big, 6)];
        for (const p of peers) a.swarm.handle([req(big, p.endpoint, { event: AnnounceEvent.Stopped })]);
        while (!a.swarm.peers.sweepStep(100).done);
        assert.equal(a.swarm.peers.torrentStats(big).incomplete, 0);
        for (let k = 0; k < 60; k++) a.swarm.handle([req(hashInSlot(43, k), Uint8Array.of(10, 3, 0, k, 0, 80))]);
      }
    }
    assert.ok(step > 3);
    for (const c of chunks) assert.ok(readChunk(c).ok);
    const b = importer(a.clock.t);
    importAll(b, chunks);
    for (let k = 1; k < 40; k++) assert.equal(b.swarm.peers.torrentStats(hashInSlot(42, k)).incomplete, 1, `small torrent ${k}, after the deleted one in the list`);
    assert.equal(b.swarm.webtorrent.peersOf(big).length, 300, 'the WebTorrent side of the slot');
    for (let k = 0; k < 60; k++) assert.equal(b.swarm.peers.torrentStats(hashInSlot(43, k)).incomplete, 0, 'nothing of another slot came along');
    assert.ok(cursor.take().includes(42), 'the slot was stamped changed, so whoever copies it copies it again');
  });

  test('an export stopped half-way releases its place in the slot list', () => {
    const a = bigSlotSwarm();
    const small = new SlotState(a.swarm.peers, a.swarm.webtorrent, { edges: a.swarm.edges, now: a.clock.now, maxChunkBytes: 2048 });
    const lists = (a.swarm.peers as unknown as { slots: { openCursors: number } }).slots;
    for (const _ of small.exportSlot(42, small.newWriter())) {
      assert.equal(lists.openCursors, 1);
      break;
    }
    assert.equal(lists.openCursors, 0);
  });

  test('exportSlots gives the event loop a turn whenever the budget is spent', async () => {
    const a = bigSlotSwarm();
    let ms = 0;
    const small = new SlotState(a.swarm.peers, a.swarm.webtorrent, { edges: a.swarm.edges, now: a.clock.now, maxChunkBytes: 2048, monotonicMs: () => (ms += 1) });
    let turns = 0;
    let done = false;
    const probe = (): void => {
      turns++;
      if (!done) setImmediate(probe);
    };
    setImmediate(probe);
    const chunks: Uint8Array[] = [];
    for await (const chunk of small.exportSlots([42, 43], 4)) chunks.push(chunk);
    done = true;
    assert.ok(chunks.length > 8);
    assert.ok(turns >= chunks.length / 4, `${turns} turns for ${chunks.length} chunks`);
  });
});

describe('drop and changes', () => {
  test('dropSlots removes everything of those slots and nothing else', async () => {
    const a = randomSwarm('drop', 1_000_000);
    const keep = HASHES.filter((h) => slotsOf([h])[0] !== SLOTS[1]);
    const kept = lines(dump(a.swarm, keep));
    const gone = a.swarm.slots.slotPeerCount(SLOTS[1]);
    assert.ok(gone > 0);
    const r = await a.swarm.slots.dropSlots([SLOTS[1]], 4);
    assert.equal(r.peers, gone);
    assert.equal(a.swarm.slots.slotPeerCount(SLOTS[1]), 0);
    assert.deepEqual(exportAll(a.swarm, [SLOTS[1]]), []);
    assert.deepEqual(lines(dump(a.swarm, keep)), kept);
    const s = a.swarm.peers.stats();
    const held = dump(a.swarm, HASHES);
    assert.equal(s.peers.v4.seeders + s.peers.v4.leechers + s.peers.v6.seeders + s.peers.v6.leechers, [...held.peers.keys()].filter((k) => !k.includes(' wt ')).length);
  });

  test('announces, stops, expiry and WebTorrent changes stamp their slot; imports and drops do not', async () => {
    const t = makeSwarm();
    connectEdges(t.swarm);
    const cursor = t.swarm.changes.cursor();
    const ep = Uint8Array.of(10, 0, 0, 1, 0, 80);
    t.swarm.handle([req(hashInSlot(1, 0), ep)]);
    t.swarm.handle([{ type: 'wt-announce', infoHash: hashInSlot(2, 0), peerId: peerIdOf(1), from: { edge: 'edge-0', socket: 1 }, event: AnnounceEvent.None, seeder: false, offers: [] }]);
    assert.deepEqual(cursor.take(), [1, 2]);
    assert.deepEqual(cursor.take(), [], 'taken once');
    t.swarm.handle([req(hashInSlot(1, 0), ep, { event: AnnounceEvent.Stopped })]);
    t.swarm.handle([{ type: 'wt-disconnect', from: { edge: 'edge-0', socket: 1 }, peers: [{ infoHash: hashInSlot(2, 0), peerId: peerIdOf(1) }] }]);
    assert.deepEqual(cursor.take(), [1, 2]);
    t.swarm.handle([req(hashInSlot(3, 0), ep)]);
    cursor.take();
    t.clock.t += 3601;
    while (!t.swarm.peers.sweepStep(100).done);
    assert.deepEqual(cursor.take(), [3], 'expiry');
    // A refused announce changes nothing.
    const full = makeSwarm({ store: { maxTorrents: 1 } });
    const fullCursor = full.swarm.changes.cursor();
    full.swarm.handle([req(hashInSlot(4, 0), ep)]);
    fullCursor.take();
    assert.equal(full.swarm.handle([req(hashInSlot(5, 0), ep)])[0].type, 'error');
    assert.deepEqual(fullCursor.take(), []);

    const other = randomSwarm('stamps', t.clock.t);
    t.swarm.slots.importChunk(exportAll(other.swarm, [SLOTS[0]])[0]);
    await t.swarm.slots.dropSlots(SLOTS, 4);
    assert.deepEqual(cursor.take(), []);
  });

  test('two readers of changes each see every change', () => {
    const t = makeSwarm();
    const snapshot = t.swarm.changes.cursor();
    const handoff = t.swarm.changes.cursor();
    t.swarm.handle([req(hashInSlot(10, 0), Uint8Array.of(10, 0, 0, 1, 0, 80))]);
    assert.deepEqual(snapshot.take(), [10]);
    t.swarm.handle([req(hashInSlot(11, 0), Uint8Array.of(10, 0, 0, 1, 0, 80))]);
    assert.deepEqual(handoff.take(), [10, 11]);
    assert.deepEqual(snapshot.take(), [11]);
  });
});
