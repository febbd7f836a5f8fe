/**
 * The slot chunk format (services/swarm/store/slot-codec.ts) on its own:
 * what a writer writes a reader reads back exactly, the layout is what the
 * module says (magic, version, slot, clock, body length; 8 bytes per IPv4
 * peer), and reading never throws, whatever the bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHUNK_HEADER_BYTES,
  CHUNK_VERSION,
  ChunkWriter,
  WORST,
  readChunk,
  type ChunkVisitor,
} from '../../../services/swarm/store/slot-codec.js';
import { int, printSeed, randomBinary, randomBytes, rngFor, where } from '../../support/seeded-random.js';

type Item =
  | { kind: 'torrent'; hash: string; downloaded: number; n4: number; n6: number }
  | { kind: 'peer'; endpoint: string; lastSeen: number; flags: number }
  | { kind: 'wt-torrent'; hash: string; downloaded: number; n: number }
  | { kind: 'wt-peer'; peerId: string; edge: string; nonce: string; socket: number; lastSeen: number; flags: number };

class Recorder implements ChunkVisitor {
  readonly items: Item[] = [];
  packedTorrent(hash: string, downloaded: number, n4: number, n6: number): void {
    this.items.push({ kind: 'torrent', hash, downloaded, n4, n6 });
  }
  packedPeer(bytes: Uint8Array, at: number, length: number, lastSeen: number, flags: number): void {
    this.items.push({ kind: 'peer', endpoint: Buffer.from(bytes.subarray(at, at + length)).toString('hex'), lastSeen, flags });
  }
  wtTorrent(hash: string, downloaded: number, n: number): void {
    this.items.push({ kind: 'wt-torrent', hash, downloaded, n });
  }
  wtPeer(peerId: string, edge: string, nonce: string, socket: number, lastSeen: number, flags: number): void {
    this.items.push({ kind: 'wt-peer', peerId, edge, nonce, socket, lastSeen, flags });
  }
}

const SLOT = 0xab01;
const SLOT_PREFIX = String.fromCharCode(0xab, 0x01);

test('what the writer writes, the reader reads back exactly, whatever the values', (t) => {
  printSeed(t);
  const r = rngFor('codec-round-trip');
  for (let round = 0; round < 300; round++) {
    const clock = 1_700_000_000 + int(r, 1000);
    const w = new ChunkWriter(64 * 1024);
    w.begin(SLOT, clock);
    const expected: Item[] = [];
    const edges = ['edge-0', 'swarm.example-1_x', 'e'.repeat(253)];
    const nonces = ['', 'abc123', 'ü'.repeat(40)];
    edges.forEach((edge, i) => w.edge(edge, nonces[i]));
    for (let k = int(r, 6); k > 0; k--) {
      const hash = SLOT_PREFIX + randomBinary(r, 18);
      // Counters at the edges of their ranges too.
      const downloaded = pickOf(r, [0, 1, 127, 128, 0xffffffff, int(r, 1e6)]);
      if (r() < 0.5) {
        const n4 = int(r, 20);
        const n6 = int(r, 10);
        w.packedTorrent(Buffer.from(hash, 'latin1'), 0, downloaded, n4, n6);
        expected.push({ kind: 'torrent', hash, downloaded, n4, n6 });
        for (let i = 0; i < n4 + n6; i++) {
          const ep = randomBytes(r, i < n4 ? 6 : 18);
          const age = pickOf(r, [0, 1, 2700, int(r, 100_000)]);
          const flags = int(r, 4);
          w.packedPeer(ep, 0, ep.length, clock - age, flags);
          expected.push({ kind: 'peer', endpoint: ep.toString('hex'), lastSeen: clock - age, flags });
        }
      } else {
        const n = int(r, 10);
        w.wtTorrent(hash, downloaded, n);
        expected.push({ kind: 'wt-torrent', hash, downloaded, n });
        for (let i = 0; i < n; i++) {
          const e = int(r, edges.length);
          const peerId = randomBinary(r, 20);
          const socket = pickOf(r, [0, 1, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER, int(r, 1e6)]);
          const lastSeen = clock - int(r, 300);
          const flags = int(r, 4);
          w.wtPeer(peerId, e, socket, lastSeen + 0.75, flags);
          expected.push({ kind: 'wt-peer', peerId, edge: edges[e], nonce: nonces[e], socket, lastSeen, flags });
        }
      }
    }
    const chunk = w.finish();
    const got = new Recorder();
    const read = readChunk(chunk, 0, got);
    assert.ok(read.ok, where(`read failed: ${read.ok ? '' : read.message}`, round));
    assert.deepEqual(read.header, { version: CHUNK_VERSION, slot: SLOT, clock, bodyLength: chunk.length - CHUNK_HEADER_BYTES });
    assert.equal(read.end, chunk.length);
    assert.deepEqual(got.items, expected, where('items', round));
  }
});

test('the layout: "TSLC", version 1, flags 0, slot, clock and body length, big-endian; an IPv4 peer seen within the hour takes 8 bytes', () => {
  const w = new ChunkWriter(1024);
  w.begin(0x1234, 0x01020304);
  const hash = Buffer.alloc(20, 7);
  w.packedTorrent(hash, 0, 5, 2, 0);
  w.packedPeer(Uint8Array.of(192, 0, 2, 1, 0x1a, 0xe1), 0, 6, 0x01020304 - 60, 1);
  w.packedPeer(Uint8Array.of(192, 0, 2, 2, 0x1a, 0xe1), 0, 6, 0x01020304 - 7000, 2);
  const chunk = w.finish();
  assert.deepEqual([...chunk.subarray(0, 12)], [0x54, 0x53, 0x4c, 0x43, 1, 0, 0x12, 0x34, 1, 2, 3, 4]);
  const body = chunk.length - CHUNK_HEADER_BYTES;
  assert.deepEqual([...chunk.subarray(12, 16)], [0, 0, 0, body]);
  // tag + 18 hash bytes + three one-byte varints; then 6 endpoint bytes and the age varint:
  // 60 s ago = 60 * 4 + 1 = 241 (two bytes), 7000 s ago = 28002 (three bytes: past 4096 s).
  assert.equal(body, 1 + 18 + 3 + (6 + 2) + (6 + 3));
});

test('a writer stays within its chunk when the caller plans with WORST', () => {
  const w = new ChunkWriter(1024);
  w.begin(1, 1000);
  let written = 0;
  const ep = new Uint8Array(18).fill(0xff);
  for (;;) {
    if (w.room < WORST.torrentHead + WORST.packedPeer(18)) break;
    w.packedTorrent(new Uint8Array(20).fill(0xff), 0, 0xffffffff, 0, 1);
    w.packedPeer(ep, 0, 18, 0, 3); // the oldest age there is: the longest varint
    written++;
  }
  assert.ok(written > 10);
  const chunk = w.finish();
  assert.ok(chunk.length <= 1024);
  assert.ok(readChunk(chunk).ok);
});

test('reading never throws: random bytes, and chunks damaged or cut anywhere, are refused with a reason', (t) => {
  printSeed(t);
  const r = rngFor('codec-garbage');
  const w = new ChunkWriter(4096);
  w.begin(3, 5000);
  w.edge('edge-0', 'n');
  w.packedTorrent(new Uint8Array(20), 0, 3, 2, 1);
  for (const len of [6, 6, 18]) w.packedPeer(new Uint8Array(len).fill(9), 0, len, 4000, 1);
  w.wtTorrent('x'.repeat(20), 1, 2);
  w.wtPeer('p'.repeat(20), 0, 7, 4990, 0);
  w.wtPeer('q'.repeat(20), 0, 8, 4990, 3);
  const valid = w.finish();
  const noop: ChunkVisitor = { packedTorrent() {}, packedPeer() {}, wtTorrent() {}, wtPeer() {} };
  let refused = 0;
  for (let i = 0; i < 20_000; i++) {
    let bytes: Uint8Array;
    if (i % 4 === 0) bytes = randomBytes(r, int(r, 100));
    else if (i % 4 === 1) bytes = valid.subarray(0, int(r, valid.length));
    else {
      bytes = Uint8Array.from(valid);
      for (let k = 0; k < 1 + int(r, 3); k++) bytes[int(r, bytes.length)] = int(r, 256);
    }
    let read: ReturnType<typeof readChunk> | undefined;
    assert.doesNotThrow(() => (read = readChunk(bytes, 0, noop)), where('readChunk', i));
    if (!read!.ok) {
      refused++;
      assert.ok(read!.reason === 'corrupt' || read!.reason === 'version');
      assert.ok(read!.message.length > 10, where('a message says what is wrong', i));
    }
  }
  assert.ok(refused > 10_000);
});

test('another version is refused as such, saying which release wrote it', () => {
  const w = new ChunkWriter(1024);
  w.begin(1, 1);
  const chunk = w.finish();
  chunk[4] = 9;
  const read = readChunk(chunk);
  assert.equal(read.ok, false);
  assert.equal(!read.ok && read.reason, 'version');
  assert.match(!read.ok ? read.message : '', /version 9 .* newer release/);
  chunk[4] = 0;
  assert.match((readChunk(chunk) as { message: string }).message, /older release/);
});

test('chunks concatenated are read one after the other', () => {
  const w = new ChunkWriter(1024);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 3; i++) {
    w.begin(7, 100 + i);
    w.packedTorrent(new Uint8Array(20).fill(i), 0, i, 0, 0);
    parts.push(w.finish());
  }
  const all = Buffer.concat(parts);
  const clocks: number[] = [];
  for (let at = 0; at < all.length; ) {
    const read = readChunk(all, at);
    assert.ok(read.ok);
    clocks.push(read.header.clock);
    at = read.end;
  }
  assert.deepEqual(clocks, [100, 101, 102]);
});

function pickOf<T>(r: () => number, xs: readonly T[]): T {
  return xs[int(r, xs.length)];
}
