/**
 * What the edge's hooks ask of the swarm store, on the announce itself:
 * same-subnet preference (AnnounceRequest.sameSubnetBits) and the
 * announce-rate floor (AnnounceRequest.minAnnounceSeconds).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import type { AnnounceRequest } from '../../../lib/tracker/announce.js';
import { nearScanWindow } from '../../../services/swarm/store/peer-table.js';
import { announce, asAnnounce, clock, hash, makeStore, req, split, v4, v6 } from '../../support/swarm-store.js';
import { mulberry32 } from '../../support/seeded-random.js';

/** 10.0.<net>.<host>:port, for nets and hosts up to 255. */
function inNet(net: number, host: number, port = 6881): Uint8Array {
  return v4((net << 8) | host, port);
}

/** Whether a compact IPv4 peer (hex) is in 10.0.<net>.0/24. */
function isInNet(peerHex: string, net: number): boolean {
  return peerHex.startsWith(`0a00${net.toString(16).padStart(2, '0')}`);
}

function near(r: AnnounceRequest, bits: number): AnnounceRequest {
  return { ...r, sameSubnetBits: bits };
}

describe('same-subnet preference (hooks.sameSubnet)', () => {
  it('a leecher gets every peer of its /24 first, then the others', () => {
    const store = makeStore({}, { random: mulberry32(1) });
    const H = hash(1);
    // 20 peers in 10.0.7.0/24 among 80 in other /24s, stored interleaved: fewer than one search window, so searched whole.
    assert.ok(100 + 20 <= nearScanWindow(50));
    for (let i = 0; i < 100; i++) announce(store, H, i % 5 === 0 ? inNet(7, 1 + i / 5) : inNet(20 + (i % 200), 1 + (i % 250)));
    for (let round = 0; round < 20; round++) {
      const me = inNet(7, 200 + round);
      const reply = asAnnounce(store.handle([near(req(H, me, { numwant: 50 }), 24)])[0]);
      const peers = split(reply.peers, 6);
      assert.equal(peers.length, 50);
      // All 20 same-subnet peers (plus the announcers of earlier rounds), then only others.
      const same = 20 + round;
      assert.ok(peers.slice(0, same).every((p) => isInNet(p, 7)), `round ${round}: the first ${same} are in 10.0.7.0/24`);
      assert.ok(peers.slice(same).every((p) => !isInNet(p, 7)), `round ${round}: then the others`);
    }
  });

  it('in a swarm bigger than one search window, replies hold many times the share a random sample would', () => {
    const store = makeStore({}, { random: mulberry32(2) });
    const H = hash(2);
    const numwant = 20;
    const window = nearScanWindow(numwant);
    const total = 16 * window;
    const sameCount = 32;
    const every = total / sameCount;
    for (let i = 0; i < total; i++) announce(store, H, i % every === 0 ? inNet(9, 1 + i / every) : inNet(30 + (i % 200), 1 + (i >> 8), 1000 + i));
    let withPreference = 0;
    let without = 0;
    const rounds = 200;
    for (let round = 0; round < rounds; round++) {
      const me = inNet(9, 100 + (round % 100), 7000 + round);
      const r = req(H, me, { numwant, event: AnnounceEvent.Stopped });
      // Announce, look, and leave again so the swarm stays the same.
      const a = asAnnounce(store.handle([near({ ...r, event: AnnounceEvent.None }, 24)])[0]);
      withPreference += split(a.peers, 6).filter((p) => isInNet(p, 9)).length;
      const b = asAnnounce(store.handle([{ ...r, event: AnnounceEvent.None }])[0]);
      without += split(b.peers, 6).filter((p) => isInNet(p, 9)).length;
      store.handle([r]);
    }
    const randomShare = (numwant * sameCount) / total;
    // A window of 1/16 of the records finds about 2 of the 32 a reply, against ~0.3 in a random sample of 20.
    assert.ok(withPreference / rounds > 3 * randomShare, `with: ${withPreference / rounds} same-subnet peers per reply; a random sample holds ${randomShare}`);
    assert.ok(without / rounds < 3 * randomShare, `without: ${without / rounds} per reply`);
  });

  it('a seeder gets leechers first (its subnet\'s first), then seeders (its subnet\'s first)', () => {
    const store = makeStore({}, { random: mulberry32(3) });
    const H = hash(3);
    for (let i = 1; i <= 30; i++) announce(store, H, inNet(i <= 5 ? 4 : 50 + i, i), { left: 1 }); // 5 near leechers, 25 far
    for (let i = 1; i <= 30; i++) announce(store, H, inNet(i <= 5 ? 4 : 100 + i, 100 + i), { left: 0 }); // 5 near seeders, 25 far
    const reply = asAnnounce(store.handle([near(req(H, inNet(4, 250), { left: 0, numwant: 60 }), 24)])[0]);
    const peers = split(reply.peers, 6);
    assert.equal(peers.length, 60);
    const host = (p: string): number => Number.parseInt(p.slice(6, 8), 16);
    const leechers = peers.slice(0, 30);
    const seeders = peers.slice(30);
    assert.ok(leechers.every((p) => host(p) <= 30), 'leechers first');
    assert.ok(seeders.every((p) => host(p) > 100), 'then seeders');
    assert.ok(leechers.slice(0, 5).every((p) => isInNet(p, 4)) && leechers.slice(5).every((p) => !isInNet(p, 4)));
    assert.ok(seeders.slice(0, 5).every((p) => isInNet(p, 4)) && seeders.slice(5).every((p) => !isInNet(p, 4)));
  });

  it('one address of the subnet takes no more places than store.maxPeersPerAddressPerReply', () => {
    const cut = { n: 0, inc() { this.n++; } };
    const store = makeStore({ maxPeersPerAddressPerReply: 3, maxPeersPerAddressPerTorrent: 50 }, { random: mulberry32(4), limitCounters: { maxPeersPerAddressPerReply: cut } });
    const H = hash(4);
    for (let port = 1; port <= 40; port++) announce(store, H, inNet(5, 1, 10000 + port)); // one NAT address, 40 clients
    for (let i = 2; i <= 30; i++) announce(store, H, inNet(60 + i, i));
    const cutBefore = cut.n;
    const reply = asAnnounce(store.handle([near(req(H, inNet(5, 200), { numwant: 40 }), 24)])[0]);
    const peers = split(reply.peers, 6);
    const nat = peers.filter((p) => p.startsWith('0a000501'));
    assert.equal(nat.length, 3, 'three places for the crowded address');
    assert.ok(peers.slice(0, 3).every((p) => p.startsWith('0a000501')), 'and they come first');
    assert.equal(peers.length, 3 + 29, 'the others fill the rest');
    assert.equal(cut.n, cutBefore + 1, 'the short reply is counted as cut by the rule');
  });

  it('IPv6: the announcer\'s /48 first; prefixes longer than the family are the whole address', () => {
    const store = makeStore({}, { random: mulberry32(5) });
    const H = hash(5);
    // v6(n) puts n in bytes 4-7: n < 65536 shares 2001:db8:0::/48.
    for (let i = 0; i < 10; i++) announce(store, H, v6(i + 1));
    for (let i = 0; i < 100; i++) announce(store, H, v6(0x10000 * (i + 1)));
    const reply = asAnnounce(store.handle([near(req(H, v6(500), { numwant: 30 }), 48)])[0]);
    const peers = split(reply.peers, 18);
    assert.ok(peers.slice(0, 10).every((p) => p.startsWith('20010db80000')), 'the ten of the /48 first');
    assert.ok(peers.slice(10).every((p) => !p.startsWith('20010db80000')));
    // 128 bits on an IPv4 swarm: no peer shares all 32 bits with the announcer, and the reply is still full.
    const v4Store = makeStore();
    for (let i = 1; i <= 10; i++) announce(v4Store, H, inNet(1, i));
    assert.equal(asAnnounce(v4Store.handle([near(req(H, inNet(1, 200)), 128)])[0]).peers.length, 60);
  });
});

describe('announce-rate floor (hooks.announceRate)', () => {
  it('refuses a regular announce sooner than the floor, lets events through, and counts the refusals', () => {
    const time = clock();
    const hits = { n: 0, inc() { this.n++; } };
    const store = makeStore({}, { now: time.now, limitCounters: { minAnnounceSeconds: hits } });
    const H = hash(6);
    const me = inNet(1, 1);
    const floor = (r: AnnounceRequest): AnnounceRequest => ({ ...r, minAnnounceSeconds: 60 });
    assert.equal(store.handle([floor(req(H, me))])[0].type, 'announce', 'a first announce passes');
    time.t += 30;
    const early = store.handle([floor(req(H, me))])[0];
    assert.equal(early.type, 'error');
    assert.match(early.type === 'error' ? early.message : '', /announced too soon: this tracker takes one announce per torrent every 60 seconds; wait/);
    assert.equal(hits.n, 1);
    assert.equal(store.handle([floor(req(H, me, { event: AnnounceEvent.Completed, left: 0 }))])[0].type, 'announce', 'completed always passes');
    time.t += 59;
    assert.equal(store.handle([floor(req(H, me, { left: 0 }))])[0].type, 'error', '59 s after its last accepted announce (the completed one)');
    time.t += 1;
    assert.equal(store.handle([floor(req(H, me, { left: 0 }))])[0].type, 'announce', '60 s after it');
    time.t += 1;
    assert.equal(store.handle([req(H, me)])[0].type, 'announce', 'no floor on the request: no check');
    assert.equal(store.handle([floor(req(H, me, { event: AnnounceEvent.Stopped }))])[0].type, 'announce', 'stopped always passes');
    assert.equal(hits.n, 2);
  });
});
