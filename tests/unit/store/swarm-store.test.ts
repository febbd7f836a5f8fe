import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import type { SwarmRequest } from '../../../lib/tracker/swarm.js';
import {
  announce,
  asAnnounce,
  clock,
  hash,
  hex,
  makeStore,
  req,
  split,
  v4,
  v6,
} from '../../support/swarm-store.js';
import { mulberry32 } from '../../support/seeded-random.js';

const H = hash(1);

describe('SwarmStore announce', () => {
  it('inserts a first peer and answers with counts and no peers', () => {
    const s = makeStore();
    const r = announce(s, H, v4(1), { event: AnnounceEvent.Started });
    assert.equal(r.type, 'announce');
    assert.equal(r.complete, 0);
    assert.equal(r.incomplete, 1);
    assert.equal(r.downloaded, 0);
    assert.equal(r.peers.length, 0);
    assert.equal(r.interval, 1800);
    assert.equal(r.minInterval, 900);
    assert.deepEqual(s.stats(), { torrents: 1, peers: { v4: { seeders: 0, leechers: 1 }, v6: { seeders: 0, leechers: 0 } } });
  });

  it('updates a re-announcing peer instead of adding it twice', () => {
    const s = makeStore();
    announce(s, H, v4(1));
    announce(s, H, v4(2));
    const r = announce(s, H, v4(1));
    assert.equal(r.incomplete, 2);
    assert.deepEqual(split(r.peers, 6), [hex(v4(2))]);
    assert.equal(s.stats().peers.v4.leechers, 2);
  });

  it('never returns the announcer to itself', () => {
    const s = makeStore({ numwantMax: 1000 });
    for (let i = 0; i < 40; i++) announce(s, H, v4(i), { left: i % 3 === 0 ? 0 : 5 });
    for (let i = 0; i < 40; i++) {
      const me = v4(i);
      const r = announce(s, H, me, { numwant: 1000 });
      const got = split(r.peers, 6);
      assert.ok(!got.includes(hex(me)), `peer ${i} got itself`);
      assert.equal(new Set(got).size, got.length, 'no duplicates');
    }
  });

  it('a leecher gets every other peer when numwant is large enough', () => {
    const s = makeStore({ numwantMax: 1000 });
    for (let i = 0; i < 30; i++) announce(s, H, v4(i), { left: i % 2 === 0 ? 0 : 5 });
    const r = announce(s, H, v4(1), { numwant: 1000 });
    const want = [];
    for (let i = 0; i < 30; i++) if (i !== 1) want.push(hex(v4(i)));
    assert.deepEqual(split(r.peers, 6).sort(), want.sort());
  });

  it('a seeder is offered every leecher first, then seeders up to numwant', () => {
    const s = makeStore({ numwantMax: 1000 });
    for (let i = 0; i < 30; i++) announce(s, H, v4(i), { left: i < 10 ? 5 : 0 });
    const leechers = new Set<string>();
    for (let i = 0; i < 10; i++) leechers.add(hex(v4(i)));
    // numwant below the leecher count: leechers only.
    for (let round = 0; round < 20; round++) {
      const few = split(announce(s, H, v4(20), { left: 0, numwant: 7 }).peers, 6);
      assert.equal(few.length, 7);
      for (const p of few) assert.ok(leechers.has(p), 'a seeder with 10 leechers to meet gets no seeder in 7');
    }
    // numwant above it: all 10 leechers, then seeders (never itself) for the rest.
    const r = split(announce(s, H, v4(20), { left: 0, numwant: 15 }).peers, 6);
    assert.equal(r.length, 15);
    assert.equal(new Set(r).size, 15, 'no endpoint twice');
    assert.equal(r.filter((p) => leechers.has(p)).length, 10);
    assert.ok(!r.includes(hex(v4(20))), 'never itself');
    const all = split(announce(s, H, v4(20), { left: 0, numwant: 1000 }).peers, 6);
    assert.equal(all.length, 29);
  });

  it('a seeder in a swarm of seeders still gets peers (a magnet-link client announces left=0 before it has the metadata)', () => {
    const s = makeStore();
    announce(s, H, v4(1), { left: 0 });
    const r = announce(s, H, v4(2), { left: 0 });
    assert.deepEqual(split(r.peers, 6), [hex(v4(1))]);
    // And a lone seeder gets nobody, not itself.
    const s2 = makeStore();
    assert.equal(announce(s2, H, v4(3), { left: 0 }).peers.length, 0);
  });

  it('stopped removes the peer, returns no peers and the counts after removal', () => {
    const s = makeStore();
    announce(s, H, v4(1), { left: 0 });
    announce(s, H, v4(2));
    announce(s, H, v4(3));
    const r = announce(s, H, v4(2), { event: AnnounceEvent.Stopped });
    assert.equal(r.peers.length, 0);
    assert.equal(r.complete, 1);
    assert.equal(r.incomplete, 1);
    const after = announce(s, H, v4(3), { numwant: 10 });
    assert.deepEqual(split(after.peers, 6), [hex(v4(1))]);
    // Stopping an unknown peer of a known torrent changes nothing.
    const r2 = announce(s, H, v4(99), { event: AnnounceEvent.Stopped });
    assert.equal(r2.complete, 1);
    assert.equal(r2.incomplete, 1);
    assert.equal(s.validate(H), null);
  });

  it('stopped on an unknown torrent creates nothing', () => {
    const s = makeStore();
    const r = announce(s, hash(77), v4(1), { event: AnnounceEvent.Stopped });
    assert.equal(r.complete, 0);
    assert.equal(r.incomplete, 0);
    assert.equal(r.downloaded, 0);
    assert.equal(r.peers.length, 0);
    assert.equal(s.stats().torrents, 0);
    const sc = s.handle([{ type: 'scrape', infoHashes: [hash(77)] }])[0];
    assert.deepEqual(sc, { type: 'scrape', files: [{ complete: 0, incomplete: 0, downloaded: 0 }] });
  });

  it('moves a peer between counts when it turns from leecher into seeder and back', () => {
    const s = makeStore();
    announce(s, H, v4(1));
    announce(s, H, v4(2));
    let r = announce(s, H, v4(1), { left: 0 });
    assert.equal(r.complete, 1);
    assert.equal(r.incomplete, 1);
    assert.deepEqual(s.stats().peers.v4, { seeders: 1, leechers: 1 });
    r = announce(s, H, v4(1), { left: 10 });
    assert.equal(r.complete, 0);
    assert.equal(r.incomplete, 2);
    assert.deepEqual(s.stats().peers.v4, { seeders: 0, leechers: 2 });
    assert.equal(s.validate(H), null);
  });

  it('counts completed once per present peer', () => {
    const s = makeStore();
    announce(s, H, v4(1));
    let r = announce(s, H, v4(1), { left: 0, event: AnnounceEvent.Completed });
    assert.equal(r.downloaded, 1);
    assert.equal(r.complete, 1);
    r = announce(s, H, v4(1), { left: 0, event: AnnounceEvent.Completed });
    assert.equal(r.downloaded, 1, 'second completed from the same peer does not count');
    r = announce(s, H, v4(2), { left: 0, event: AnnounceEvent.Completed });
    assert.equal(r.downloaded, 2);
    // The flag survives moves inside the table (other peers come and go).
    for (let i = 10; i < 100; i++) announce(s, H, v4(i), { left: i % 2 });
    for (let i = 10; i < 100; i += 3) announce(s, H, v4(i), { event: AnnounceEvent.Stopped });
    r = announce(s, H, v4(1), { left: 0, event: AnnounceEvent.Completed });
    assert.equal(r.downloaded, 2);
    // A peer that left and came back is a new peer.
    announce(s, H, v4(1), { event: AnnounceEvent.Stopped });
    r = announce(s, H, v4(1), { left: 0, event: AnnounceEvent.Completed });
    assert.equal(r.downloaded, 3);
    const sc = s.handle([{ type: 'scrape', infoHashes: [H] }])[0];
    assert.equal(sc.type === 'scrape' && sc.files[0].downloaded, 3);
  });

  it('applies numwant default and maximum', () => {
    const s = makeStore({ numwantDefault: 5, numwantMax: 12 });
    for (let i = 0; i < 40; i++) announce(s, H, v4(i));
    assert.equal(announce(s, H, v4(0), { numwant: 0 }).peers.length, 5 * 6);
    assert.equal(announce(s, H, v4(0), { numwant: -1 }).peers.length, 5 * 6);
    assert.equal(announce(s, H, v4(0), { numwant: 3 }).peers.length, 3 * 6);
    assert.equal(announce(s, H, v4(0), { numwant: 100 }).peers.length, 12 * 6);
    assert.equal(announce(s, H, v4(0), { numwant: Number.NaN }).peers.length, 5 * 6);
  });

  it('samples random windows and eventually returns every peer', () => {
    const s = makeStore({}, { random: mulberry32(42) });
    const n = 200;
    for (let i = 0; i < n; i++) announce(s, H, v4(i));
    const seen = new Set<string>();
    const firsts = new Set<string>();
    for (let k = 0; k < 300; k++) {
      const got = split(announce(s, H, v4(0), { numwant: 10 }).peers, 6);
      assert.equal(got.length, 10);
      firsts.add(got.join());
      for (const g of got) seen.add(g);
    }
    assert.ok(firsts.size > 100, `only ${firsts.size} distinct windows`);
    assert.equal(seen.size, n - 1, 'every other peer was returned at some point');
    assert.ok(!seen.has(hex(v4(0))));
  });

  it('keeps IPv4 and IPv6 peers apart', () => {
    const s = makeStore();
    for (let i = 0; i < 5; i++) announce(s, H, v4(i));
    for (let i = 0; i < 7; i++) announce(s, H, v6(i), { left: i === 0 ? 0 : 1 });
    const r4 = announce(s, H, v4(0), { numwant: 100 });
    assert.equal(r4.peers.length, 4 * 6);
    const r6 = announce(s, H, v6(1), { numwant: 100 });
    assert.equal(r6.peers.length, 6 * 18);
    assert.ok(!split(r6.peers, 18).includes(hex(v6(1))));
    // Counts are per torrent, both families together.
    assert.equal(r6.complete, 1);
    assert.equal(r6.incomplete, 11);
    assert.deepEqual(s.stats().peers, { v4: { seeders: 0, leechers: 5 }, v6: { seeders: 1, leechers: 6 } });
    // Same bytes in different families are different peers.
    announce(s, H, v6(0), { event: AnnounceEvent.Stopped });
    assert.deepEqual(s.stats().peers.v4, { seeders: 0, leechers: 5 });
  });

  it('keys peers by endpoint, not by peer id', () => {
    const s = makeStore();
    announce(s, H, v4(1), { peerId: 'AAAAAAAAAAAAAAAAAAAA' });
    // Someone else reusing the peer id is a different peer and cannot stop peer 1.
    announce(s, H, v4(2), { peerId: 'AAAAAAAAAAAAAAAAAAAA' });
    let r = announce(s, H, v4(2), { peerId: 'AAAAAAAAAAAAAAAAAAAA', event: AnnounceEvent.Stopped });
    assert.equal(r.incomplete, 1);
    // The same endpoint with a new peer id is the same peer.
    r = announce(s, H, v4(1), { peerId: 'BBBBBBBBBBBBBBBBBBBB' });
    assert.equal(r.incomplete, 1);
    // Same address, different port: different peers.
    r = announce(s, H, v4(1, 7000));
    assert.equal(r.incomplete, 2);
  });

  it('varies the interval within the jitter', () => {
    const s = makeStore({ intervalSeconds: 100, intervalJitterSeconds: 10 }, { random: mulberry32(7) });
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const r = announce(s, H, v4(i % 3));
      assert.ok(r.interval >= 100 && r.interval <= 110, `interval ${r.interval}`);
      seen.add(r.interval);
    }
    assert.equal(seen.size, 11);
    const edge = makeStore({ intervalSeconds: 100, intervalJitterSeconds: 10 }, { random: () => 0.9999999999 });
    assert.equal(announce(edge, H, v4(1)).interval, 110);
  });

  it('answers a mixed batch in order, one reply per request', () => {
    const s = makeStore();
    const batch: SwarmRequest[] = [
      req(H, v4(1), { left: 0 }),
      { type: 'scrape', infoHashes: [H, hash(2), H] },
      req(H, v4(2)),
      req('short', v4(3)),
      req(H, new Uint8Array(5)),
      { type: 'scrape', infoHashes: [] },
    ];
    const out = s.handle(batch);
    assert.equal(out.length, batch.length);
    assert.equal(asAnnounce(out[0]).complete, 1);
    assert.deepEqual(out[1], {
      type: 'scrape',
      files: [
        { complete: 1, incomplete: 0, downloaded: 0 },
        { complete: 0, incomplete: 0, downloaded: 0 },
        { complete: 1, incomplete: 0, downloaded: 0 },
      ],
    });
    assert.deepEqual(split(asAnnounce(out[2]).peers, 6), [hex(v4(1))]);
    assert.equal(out[3].type, 'error');
    assert.equal(out[4].type, 'error');
    assert.deepEqual(out[5], { type: 'scrape', files: [] });
  });

  it('never throws on malformed input', () => {
    const s = makeStore();
    const bad = [
      { type: 'nope' },
      { type: 'announce', infoHash: 5, endpoint: v4(1) },
      { type: 'announce', infoHash: H, endpoint: 'x' },
      { type: 'announce', infoHash: H, endpoint: null },
      { type: 'scrape', infoHashes: null },
      null,
    ] as unknown as SwarmRequest[];
    const out = s.handle(bad);
    assert.equal(out.length, bad.length);
    for (const r of out) assert.equal(r.type, 'error');
  });

  it('does not keep a reference to a larger string the info-hash was sliced from', () => {
    const s = makeStore();
    const big = 'x'.repeat(1000) + H + 'y'.repeat(1000);
    const sliced = big.slice(1000, 1020);
    announce(s, sliced, v4(1));
    assert.equal(announce(s, H, v4(2)).incomplete, 2);
  });

  it('uses the injected clock for lastSeen', () => {
    const c = clock(5000);
    const s = makeStore({ peerTimeoutSeconds: 10 }, { now: c.now });
    announce(s, H, v4(1));
    c.t = 5008;
    announce(s, H, v4(2));
    c.t = 5012;
    assert.equal(s.sweepStep(1000).removed, 1);
    assert.equal(announce(s, H, v4(3)).incomplete, 2);
  });
});
