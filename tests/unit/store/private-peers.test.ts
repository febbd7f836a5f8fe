/**
 * Private mode in the swarm store: announces with a userId are keyed by
 * (userId, peer_id) with the endpoint stored, replies follow kuroneko's
 * selection, caps apply per user, and slot export/import carries them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import type { AnnounceRequest } from '../../../lib/tracker/announce.js';
import type { SwarmStore } from '../../../services/swarm/store/swarm-store.js';
import { CHUNK_FLAG_PRIVATE, readChunk } from '../../../services/swarm/store/slot-codec.js';
import { asAnnounce, clock, hash, hex, makeStore, req, split, v4, v6, type AnnounceOpts } from '../../support/swarm-store.js';
import { exportAll, hashInSlot, makeSwarm } from '../../support/swarm-slots.js';

const H = hash(1);

function pid(n: number): string {
  return `-qB4650-${String(n).padStart(12, '0')}`;
}

function privReq(infoHash: string, user: number, peer: number, ep: Uint8Array, o: AnnounceOpts = {}): AnnounceRequest {
  return { ...req(infoHash, ep, { peerId: pid(peer), ...o }), userId: user };
}

function pann(store: SwarmStore, user: number, peer: number, ep: Uint8Array, o: AnnounceOpts = {}) {
  return asAnnounce(store.handle([privReq(H, user, peer, ep, o)])[0]);
}

describe('SwarmStore, private mode', () => {
  it('keeps a user whose address changes as one peer, at its new address', () => {
    const s = makeStore();
    pann(s, 1, 1, v4(1), { left: 0 });
    const r = pann(s, 1, 1, v4(2, 9000), { left: 0 });
    assert.equal(r.complete, 1);
    assert.equal(s.stats().peers.v4.seeders, 1);
    assert.deepEqual(split(pann(s, 2, 5, v4(3)).peers, 6), [hex(v4(2, 9000))]);
    // Positive control: the public path keys by endpoint, so the same move there makes two peers.
    const p = makeStore();
    asAnnounce(p.handle([req(H, v4(1), { left: 0 })])[0]);
    assert.equal(asAnnounce(p.handle([req(H, v4(2, 9000), { left: 0 })])[0]).complete, 2);
  });

  it('keeps two users behind one address and port as two peers', () => {
    const s = makeStore();
    pann(s, 1, 1, v4(7), { left: 0 });
    const r = pann(s, 2, 1, v4(7), { left: 0 });
    assert.equal(r.complete, 2);
    pann(s, 1, 1, v4(7), { event: AnnounceEvent.Stopped });
    assert.equal(s.torrentStats(H).complete, 1, "one user's stop removes only that user's peer");
  });

  it("never offers a user its own peers, and offers a leecher other users' seeders before leechers", () => {
    const s = makeStore();
    for (let p = 0; p < 4; p++) pann(s, 1, p, v4(10 + p), { left: p % 2 === 0 ? 0 : 5 });
    pann(s, 2, 20, v4(20), { left: 5 });
    pann(s, 3, 21, v4(21), { left: 0 });
    const mine = pann(s, 1, 9, v4(19), { left: 5 });
    assert.deepEqual(split(mine.peers, 6), [hex(v4(21)), hex(v4(20))], 'seeder of user 3 first, then leecher of user 2, none of user 1');
    // Positive control: another user is offered user 1's peers.
    assert.equal(split(pann(s, 4, 30, v4(30), { left: 5 }).peers, 6).length, 7);
  });

  it("caps a user's peers in one torrent with the per-address cap, counted", () => {
    const hits = { n: 0 };
    const s = makeStore({ maxPeersPerAddressPerTorrent: 2 }, { limitCounters: { maxPeersPerAddressPerTorrent: { inc: () => hits.n++ } } });
    pann(s, 1, 1, v4(1));
    pann(s, 1, 2, v4(2));
    const refused = s.handle([privReq(H, 1, 3, v4(3))])[0];
    assert.equal(refused.type, 'error');
    assert.equal(hits.n, 1);
    assert.equal(pann(s, 2, 3, v4(1)).incomplete, 3, 'another user behind the same address is not held to user 1\'s count');
  });

  it('expires private peers with the sweep and drops the emptied torrent', () => {
    const c = clock();
    const s = makeStore({}, { now: c.now });
    pann(s, 1, 1, v4(1));
    pann(s, 2, 2, v6(2), { left: 0 });
    assert.equal(s.stats().torrents, 1);
    c.t += 3601;
    while (!s.sweepStep(1000).done);
    assert.equal(s.torrentStats(H).incomplete + s.torrentStats(H).complete, 0);
    assert.equal(s.stats().torrents, 0);
  });
});

describe('slot export/import of private peers', () => {
  it('round-trips private peers with their user, peer_id, endpoint and state; public chunks stay unflagged', () => {
    const slot = 0x4242;
    const ih = hashInSlot(slot, 1);
    const a = makeSwarm();
    const send = (user: number, peer: number, ep: Uint8Array, o: AnnounceOpts = {}) => asAnnounce(a.swarm.peers.handle([{ ...req(ih, ep, { peerId: pid(peer), ...o }), userId: user }])[0]);
    send(1, 1, v4(1), { left: 0 });
    send(2, 1, v4(1), { left: 0 }); // same endpoint, other user
    send(3, 2, v6(3), { left: 5, event: AnnounceEvent.Completed });
    const chunks = exportAll(a.swarm, [slot]);
    assert.ok(chunks.length > 0);
    for (const c of chunks) assert.equal(c[5] & CHUNK_FLAG_PRIVATE, CHUNK_FLAG_PRIVATE);

    const b = makeSwarm();
    b.clock.t = a.clock.t;
    for (const c of chunks) b.swarm.slots.importChunk(c);
    const st = b.swarm.peers.torrentStats(ih);
    assert.deepEqual({ complete: st.complete, incomplete: st.incomplete, downloaded: st.downloaded }, { complete: 2, incomplete: 1, downloaded: 1 });
    // Keys survived: user 1 re-announcing from a new address updates its peer, not a new one.
    const r = asAnnounce(b.swarm.peers.handle([{ ...req(ih, v4(9), { peerId: pid(1), left: 0 }), userId: 1 }])[0]);
    assert.equal(r.complete, 2);
    // And user 3 is not offered its own (imported) peer.
    const mine = asAnnounce(b.swarm.peers.handle([{ ...req(ih, v6(4), { peerId: pid(7), left: 5 }), userId: 3 }])[0]);
    assert.equal(mine.peers.length, 0, 'v6 reply holds no peer of user 3');

    // A public swarm's chunks carry no private flag (unchanged format).
    const pub = makeSwarm();
    asAnnounce(pub.swarm.peers.handle([req(ih, v4(1))])[0]);
    const pubChunks = exportAll(pub.swarm, [slot]);
    assert.equal(pubChunks.length, 1);
    assert.equal(pubChunks[0][5], 0);
    assert.ok(readChunk(pubChunks[0]).ok);
  });

  it('refuses a private section in a chunk without the private flag', () => {
    const slot = 0x4242;
    const a = makeSwarm();
    a.swarm.peers.handle([{ ...req(hashInSlot(slot, 1), v4(1), { peerId: pid(1) }), userId: 1 }]);
    const [chunk] = exportAll(a.swarm, [slot]);
    const forged = Uint8Array.from(chunk);
    forged[5] = 0;
    const read = readChunk(forged);
    assert.equal(read.ok, false);
    assert.ok(readChunk(chunk).ok, 'positive control: the flagged chunk reads');
  });
});
