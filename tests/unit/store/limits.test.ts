/**
 * What one client can make the store hold, and what it can make others see:
 * global caps on torrents and peers, a cap per address per torrent, the
 * per-address share of a reply, and the rate of new torrents per source
 * prefix.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import type { ErrorReply, SwarmReply } from '../../../lib/tracker/swarm.js';
import { NewTorrentLimiter, PREFIXES_FULL_MESSAGE, RATE_LIMITED_MESSAGE } from '../../../services/swarm/limits/new-torrent-limiter.js';
import { INDEX_MIN_CAPACITY } from '../../../services/swarm/store/peer-table.js';
import { ADDRESS_FULL_MESSAGE, PEERS_FULL_MESSAGE, TORRENTS_FULL_MESSAGE, type SwarmStore } from '../../../services/swarm/store/swarm-store.js';
import { asAnnounce, clock, hash, hex, makeStore, req, split, v4, v6 } from '../../support/swarm-store.js';
import { int, printSeed, rngFor, where } from '../../support/seeded-random.js';

class Count {
  n = 0;
  inc(): void {
    this.n++;
  }
}

function send(s: SwarmStore, infoHash: string, endpoint: Uint8Array, o: Parameters<typeof req>[2] = {}): SwarmReply {
  return s.handle([req(infoHash, endpoint, o)])[0];
}

function asError(r: SwarmReply): ErrorReply {
  if (r.type !== 'error') throw new Error(`expected an error reply, got ${JSON.stringify(r)}`);
  return r;
}

/** Address part of an endpoint as the store sees it: IPv4 address, IPv6 /64. */
function addressOf(ep: Uint8Array): string {
  return hex(ep.subarray(0, ep.length === 6 ? 4 : 8));
}

describe('global caps', () => {
  it('store.maxTorrents: a new torrent gets "tracker is full", known torrents keep taking peers, expiry makes room', () => {
    const c = clock(1_000);
    const hits = { maxTorrents: new Count() };
    const s = makeStore({ maxTorrents: 3, peerTimeoutSeconds: 100 }, { now: c.now, limitCounters: hits });
    for (let t = 0; t < 3; t++) asAnnounce(send(s, hash(t), v4(t)));
    assert.equal(asError(send(s, hash(3), v4(9))).message, TORRENTS_FULL_MESSAGE);
    assert.equal(asError(send(s, hash(4), v6(9))).message, TORRENTS_FULL_MESSAGE);
    assert.equal(hits.maxTorrents.n, 2);
    assert.equal(s.stats().torrents, 3);
    // A refused torrent was not created: a scrape knows nothing of it.
    assert.deepEqual(s.torrentStats(hash(3)), { complete: 0, incomplete: 0, downloaded: 0 });
    // Full of torrents, not of peers: known torrents still take new peers, and know who is there.
    const r = asAnnounce(send(s, hash(0), v4(100)));
    assert.deepEqual(split(r.peers, 6), [hex(v4(0))]);
    // Once the old torrents expire there is room again.
    c.t = 1_050;
    send(s, hash(0), v4(100));
    c.t = 1_120;
    while (!s.sweepStep(1000).done);
    assert.equal(s.stats().torrents, 1);
    asAnnounce(send(s, hash(3), v4(9)));
    asAnnounce(send(s, hash(4), v4(9)));
    assert.equal(asError(send(s, hash(5), v4(9))).message, TORRENTS_FULL_MESSAGE);
    assert.equal(hits.maxTorrents.n, 3);
  });

  it('store.maxPeers: new peers get "tracker is full", peers already held are always served, stopped makes room', () => {
    const hits = { maxPeers: new Count() };
    const s = makeStore({ maxPeers: 4 }, { limitCounters: hits });
    send(s, hash(1), v4(1));
    send(s, hash(1), v4(2));
    send(s, hash(2), v6(1));
    send(s, hash(2), v6(2), { left: 0 });
    assert.equal(asError(send(s, hash(1), v4(3))).message, PEERS_FULL_MESSAGE);
    assert.equal(asError(send(s, hash(3), v4(3))).message, PEERS_FULL_MESSAGE, 'a new torrent needs a peer too');
    assert.equal(hits.maxPeers.n, 2);
    assert.equal(s.stats().torrents, 2);
    // Held peers: re-announce, change state, complete, get their peers.
    const again = asAnnounce(send(s, hash(1), v4(1), { left: 0, event: AnnounceEvent.Completed }));
    assert.deepEqual(split(again.peers, 6), [hex(v4(2))]);
    assert.equal(again.complete, 1);
    assert.equal(again.downloaded, 1);
    asAnnounce(send(s, hash(2), v6(1)));
    // Stopped frees a place.
    asAnnounce(send(s, hash(1), v4(2), { event: AnnounceEvent.Stopped }));
    assert.deepEqual(split(asAnnounce(send(s, hash(1), v4(3))).peers, 6), [hex(v4(1))]);
    assert.equal(hits.maxPeers.n, 2);
  });
});

describe('store.maxPeersPerAddressPerTorrent and store.maxPeersPerAddressPerReply against a model', () => {
  /**
   * Several torrents, a small pool of addresses with many ports each, driven
   * by a seeded random mix of announces and stops so that addresses reach
   * the cap, torrents grow past the size that gets a hash index and shrink
   * back. After every step: the store refused exactly when the model's
   * address count was at the cap, its count of the address is the model's,
   * and the reply holds no address more than the reply rule allows, never
   * the announcer, and as many peers as the rule leaves available.
   */
  function run(family: 4 | 6, steps: number, name: string) {
    const rnd = rngFor(name);
    const CAP = 7;
    const SHARE = 3;
    const hits = { maxPeersPerAddressPerTorrent: new Count(), maxPeersPerAddressPerReply: new Count() };
    const s = makeStore(
      { maxPeersPerAddressPerTorrent: CAP, maxPeersPerAddressPerReply: SHARE, numwantMax: 1000 },
      { random: rngFor(`${name}/store`), limitCounters: hits },
    );
    const W = family === 4 ? 6 : 18;
    // IPv4: 30 addresses. IPv6: 30 /64s, each seen with several interface ids (all one "address").
    const endpoint = (a: number, port: number): Uint8Array => {
      if (family === 4) return v4(a, port);
      const ep = v6(a, port);
      ep[15] = 1 + (port % 3);
      return ep;
    };
    const torrents = [hash(101), hash(102), hash(103)];
    const model = torrents.map(() => new Map<string, string>()); // endpoint hex -> address hex
    const countOf = (t: number, addr: string): number => {
      let n = 0;
      for (const a of model[t].values()) if (a === addr) n++;
      return n;
    };
    let refused = 0;
    let peak = 0;
    for (let i = 0; i < steps; i++) {
      const t = int(rnd, torrents.length);
      const ep = endpoint(int(rnd, 30), 1000 + int(rnd, 12));
      const key = hex(ep);
      const addr = addressOf(ep);
      const at = where(`${name} step`, i);
      // Grow for the first half, then mostly stop.
      const stop = rnd() < (i < steps / 2 ? 0.15 : 0.6);
      if (stop) {
        asAnnounce(send(s, torrents[t], ep, { event: AnnounceEvent.Stopped }));
        model[t].delete(key);
      } else {
        const known = model[t].has(key);
        const before = countOf(t, addr);
        const numwant = 1 + int(rnd, 60);
        const r = send(s, torrents[t], ep, { left: int(rnd, 2), numwant });
        if (!known && before >= CAP) {
          assert.equal(asError(r).message, ADDRESS_FULL_MESSAGE, at);
          refused++;
        } else {
          const a = asAnnounce(r);
          model[t].set(key, addr);
          const got = split(a.peers, W);
          assert.equal(new Set(got).size, got.length, `${at}: no duplicates`);
          assert.ok(!got.includes(key), `${at}: never itself`);
          const perAddress = new Map<string, number>();
          for (const p of got) {
            const pa = p.slice(0, family === 4 ? 8 : 16);
            perAddress.set(pa, (perAddress.get(pa) ?? 0) + 1);
            assert.ok(model[t].has(p), `${at}: returned a peer that is not in the torrent`);
          }
          for (const [pa, n] of perAddress) assert.ok(n <= SHARE, `${at}: ${n} peers of ${pa} in one reply`);
          // As many as the rule leaves: min(numwant, sum over addresses of min(count, SHARE)), the announcer left out.
          const others = new Map<string, number>();
          for (const [e, oa] of model[t]) if (e !== key) others.set(oa, (others.get(oa) ?? 0) + 1);
          let available = 0;
          for (const n of others.values()) available += Math.min(n, SHARE);
          assert.equal(got.length, Math.min(numwant, available), `${at}: reply length`);
        }
      }
      assert.equal(s.peersOfAddress(torrents[t], ep), countOf(t, addr), `${at}: count of ${addr}`);
      peak = Math.max(peak, model[t].size);
      if (i % 500 === 0) for (const h of torrents) assert.equal(s.validate(h), null, at);
    }
    for (const h of torrents) assert.equal(s.validate(h), null);
    assert.ok(refused > 50, `the cap was reached (${refused} refusals)`);
    assert.equal(hits.maxPeersPerAddressPerTorrent.n, refused);
    assert.ok(peak >= INDEX_MIN_CAPACITY, `a torrent grew big enough for an index (peak ${peak})`);
    assert.ok(hits.maxPeersPerAddressPerReply.n > 0, 'some replies were cut');
  }

  it('IPv4', (t) => {
    printSeed(t);
    run(4, 20_000, 'limits/v4');
  });

  it('IPv6 (a /64 is one address)', (t) => {
    printSeed(t);
    run(6, 20_000, 'limits/v6');
  });
});

describe('one address flooding one torrent', () => {
  /** 20 real peers, then one address announcing 1000 ports; a real leecher asks for 50. */
  function poisoned(config: Parameters<typeof makeStore>[0], hits = { maxPeersPerAddressPerTorrent: new Count(), maxPeersPerAddressPerReply: new Count() }) {
    const s = makeStore({ numwantMax: 200, ...config }, { random: rngFor('poisoned'), limitCounters: hits });
    const H = hash(7);
    for (let i = 1; i <= 20; i++) send(s, H, v4(1000 + i), { left: i % 2 });
    let accepted = 0;
    for (let port = 1; port <= 1000; port++) if (send(s, H, v4(66, port)).type === 'announce') accepted++;
    return { s, H, accepted, hits };
  }
  const attacker = addressOf(v4(66));

  it('is capped per torrent, and a real peer still gets every real peer (rule on) - against the same flood with the limits off', () => {
    const off = poisoned({ maxPeersPerAddressPerTorrent: 1024, maxPeersPerAddressPerReply: 1000 });
    assert.equal(off.accepted, 1000);
    // A random window may start among the 20 real peers, so judge the share over many replies.
    let offAttacker = 0;
    for (let round = 0; round < 20; round++) {
      const offReply = split(asAnnounce(send(off.s, off.H, v4(1001 + round), { numwant: 50 })).peers, 6);
      offAttacker += offReply.filter((p) => p.startsWith(attacker)).length;
    }
    assert.ok(offAttacker >= 0.85 * 20 * 50, `without limits the flood fills the replies (${offAttacker} of ${20 * 50} places)`);

    const on = poisoned({ maxPeersPerAddressPerTorrent: 32, maxPeersPerAddressPerReply: 8 });
    assert.equal(on.accepted, 32);
    assert.equal(on.hits.maxPeersPerAddressPerTorrent.n, 968);
    assert.equal(on.s.peersOfAddress(on.H, v4(66)), 32);
    for (let round = 0; round < 20; round++) {
      const me = v4(1001 + (round % 20));
      const reply = split(asAnnounce(send(on.s, on.H, me, { numwant: 50 })).peers, 6);
      const fromAttacker = reply.filter((p) => p.startsWith(attacker)).length;
      assert.equal(fromAttacker, 8, 'the attacker gets exactly its share');
      assert.equal(reply.length - fromAttacker, 19, 'every other real peer is there');
    }
    assert.ok(on.hits.maxPeersPerAddressPerReply.n >= 20);
  });

  it('the reply rule alone keeps a small window from being one address', () => {
    const s = makeStore({ maxPeersPerAddressPerTorrent: 1024, maxPeersPerAddressPerReply: 2 }, { random: rngFor('window') });
    const H = hash(8);
    for (let port = 1; port <= 600; port++) send(s, H, v4(66, port));
    for (let i = 0; i < 10; i++) send(s, H, v4(2000 + i));
    for (let round = 0; round < 50; round++) {
      const reply = split(asAnnounce(send(s, H, v4(2000 + (round % 10)), { numwant: 10 })).peers, 6);
      assert.ok(reply.filter((p) => p.startsWith(attacker)).length <= 2);
    }
  });
});

describe('store.newTorrentsPerSecond: new torrents per source prefix', () => {
  const LIMITS = { perSecond: 2, burst: 5, prefixV4: 24, prefixV6: 48, maxPrefixes: 100 };

  function limited(limits: Partial<typeof LIMITS> = {}) {
    const c = clock(1_000);
    const counters = { rate: new Count(), prefixes: new Count() };
    const limiter = new NewTorrentLimiter({ ...LIMITS, ...limits }, counters);
    const s = makeStore({}, { now: c.now, newTorrents: limiter });
    let next = 0;
    /** Announces a torrent nobody has announced; true when it was created. */
    const create = (ep: Uint8Array): boolean => {
      const r = send(s, hash(10_000 + next++), ep);
      if (r.type === 'error') {
        assert.match(r.message, /try again later/);
        return false;
      }
      return true;
    };
    return { c, s, limiter, counters, create };
  }

  it('a burst, then the sustained rate; other prefixes are unaffected; announcing to known torrents costs nothing', () => {
    const { c, s, counters, create } = limited();
    let made = 0;
    for (let i = 0; i < 50; i++) if (create(Uint8Array.of(192, 0, 2, i, 0, 80))) made++;
    assert.equal(made, 5, 'the burst, shared by the /24');
    assert.equal(counters.rate.n, 45);
    assert.equal(asError(send(s, hash(1), Uint8Array.of(192, 0, 2, 99, 0, 80))).message, RATE_LIMITED_MESSAGE);
    // Another /24 has its own bucket.
    assert.ok(create(Uint8Array.of(192, 0, 3, 1, 0, 80)));
    // Joining torrents that exist never takes a token: every one of them works with the bucket empty.
    for (let i = 0; i < 5; i++) asAnnounce(send(s, hash(10_000 + i), Uint8Array.of(192, 0, 2, 200, 0, 81)));
    // A stopped for a torrent nobody has creates nothing and takes nothing.
    asAnnounce(send(s, hash(99_999), Uint8Array.of(192, 0, 2, 1, 0, 80), { event: AnnounceEvent.Stopped }));
    assert.equal(counters.rate.n, 46);
    // Refill at perSecond: 2 s later, 4 tokens.
    c.t += 2;
    made = 0;
    for (let i = 0; i < 10; i++) if (create(Uint8Array.of(192, 0, 2, 7, 0, 80))) made++;
    assert.equal(made, 4);
    // Never more than the burst, however long it was quiet.
    c.t += 3600;
    made = 0;
    for (let i = 0; i < 10; i++) if (create(Uint8Array.of(192, 0, 2, 7, 0, 80))) made++;
    assert.equal(made, 5);
  });

  it('IPv6: one bucket per /prefixV6, whatever the rest of the address', () => {
    const { create } = limited();
    const ep = (a: number, b: number): Uint8Array => {
      const e = v6(0);
      e[4] = a; // inside the /48
      e[6] = b; // beyond it
      e[15] = b;
      return e;
    };
    let made = 0;
    for (let i = 0; i < 20; i++) if (create(ep(1, i))) made++;
    assert.equal(made, 5, 'one /48, however many /64s and interface ids');
    assert.ok(create(ep(2, 0)), 'another /48');
  });

  it('the prefix table is bounded: refilled prefixes are forgotten, busy ones refuse newcomers', () => {
    const { c, limiter, counters, create } = limited({ prefixV4: 32, maxPrefixes: 100 });
    for (let i = 0; i < 100; i++) assert.ok(create(Uint8Array.of(198, 51, 100, i, 0, 80)));
    assert.equal(limiter.size, 100);
    // All 100 are still refilling (they took a token just now): a 101st prefix is refused, and counted.
    assert.equal(create(Uint8Array.of(203, 0, 113, 1, 0, 80)), false);
    assert.equal(counters.prefixes.n, 1);
    assert.equal(counters.rate.n, 0);
    // A second later every bucket is full again: the newcomer takes the place of a forgotten prefix.
    c.t += 1;
    assert.ok(create(Uint8Array.of(203, 0, 113, 1, 0, 80)));
    assert.ok(limiter.size <= 100);
    // The sweep forgets the rest.
    assert.equal(limiter.dropRefilled(c.t, 1000), true);
    assert.equal(limiter.size, 1, 'only the prefix that is still refilling');
    c.t += 1;
    limiter.dropRefilled(c.t, 1000);
    assert.equal(limiter.size, 0);
  });

  it('a refused torrent is not created and costs no peer', () => {
    const { s, create } = limited();
    for (let i = 0; i < 20; i++) create(Uint8Array.of(192, 0, 2, 1, 0, 80));
    assert.equal(s.stats().torrents, 5);
    assert.equal(s.stats().peers.v4.leechers, 5);
  });
});
