/**
 * The hooks that need no keys: client approval, interval variation, the
 * announce-rate floor's edge half, same-subnet, torrent approval; and the
 * hook list built from config.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { NO_PARAMS } from '../../../lib/tracker/params.js';
import type { ClientAnnounce } from '../../../lib/tracker/announce.js';
import type { ClientWtAnnounce } from '../../../lib/tracker/webtorrent.js';
import { loadConfig } from '../../../lib/runtime/config-loader.js';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import { silentLogger } from '../../../lib/runtime/logger.js';
import { AccessList } from '../../../services/edge/access-list.js';
import { AnnounceContext } from '../../../services/edge/pipeline/hook.js';
import { AnnounceRate } from '../../../services/edge/hooks/announce-rate.js';
import { ClientApproval } from '../../../services/edge/hooks/client-approval.js';
import { Hooks } from '../../../services/edge/hooks/create-hooks.js';
import { IntervalVariation } from '../../../services/edge/hooks/interval-variation.js';
import { SameSubnet } from '../../../services/edge/hooks/same-subnet.js';
import { TorrentApproval } from '../../../services/edge/hooks/torrent-approval.js';

function udpAnnounce(peerId: string, endpoint = Uint8Array.of(10, 1, 2, 3, 0x1a, 0xe1)): ClientAnnounce {
  return { type: 'announce', infoHash: 'h'.repeat(20), peerId, endpoint, event: AnnounceEvent.None, left: 1, numwant: 50, uploaded: 0, downloaded: 0, params: NO_PARAMS };
}

function wtAnnounce(sinceLastAnnounce: number, event: AnnounceEvent = AnnounceEvent.None): ClientWtAnnounce {
  return {
    type: 'wt-announce',
    infoHash: 'h'.repeat(20),
    peerId: '-WW0105-000000000000',
    from: { edge: 'e', socket: 1 },
    event,
    seeder: false,
    offers: [],
    left: 1,
    uploaded: 0,
    downloaded: 0,
    address: Uint8Array.of(10, 1, 2, 3),
    params: NO_PARAMS,
    sinceLastAnnounce,
  };
}

describe('client approval', () => {
  it('allow: only listed prefixes; deny: all but them; prefixes of any length', () => {
    const allow = new ClientApproval('allow', ['-qB', '-TR40', '-lt0D']);
    assert.equal(allow.announce(udpAnnounce('-qB4650-abcdefghijkl')), undefined);
    assert.equal(allow.announce(udpAnnounce('-TR4060-abcdefghijkl')), undefined);
    assert.match(allow.announce(udpAnnounce('-TR3000-abcdefghijkl'))?.message ?? '', /unapproved client/);
    assert.match(allow.announce(udpAnnounce('-UT3550-abcdefghijkl'))?.message ?? '', /unapproved client/);
    assert.match(allow.announce(udpAnnounce('M7-2-2--abcdefghijkl'))?.message ?? '', /unapproved client/);
    const deny = new ClientApproval('deny', ['-XL', '-SD']);
    assert.match(deny.announce(udpAnnounce('-XL0012-abcdefghijkl'))?.message ?? '', /unapproved client: this tracker does not accept announces from your BitTorrent client/);
    assert.equal(deny.announce(udpAnnounce('-qB4650-abcdefghijkl')), undefined);
    assert.throws(() => new ClientApproval('allow', ['x'.repeat(21)]), /1 to 20 one-byte characters/);
  });
});

describe('interval variation', () => {
  it('adds 1..maxIncreaseSeconds to the interval on the configured share of replies (and to the min interval when asked)', () => {
    let r = 0;
    const sequence = [0.2, 0.0, 0.9, 0.5, 0.49, 0.999];
    const hook = new IntervalVariation({ probabilityPercent: 50, maxIncreaseSeconds: 60, modifyMinInterval: true, random: () => sequence[r++] });
    const c = new AnnounceContext();
    hook.announce(udpAnnounce('x'.repeat(20)), c); // 0.2 < 0.5: varied by 1 + floor(0 * 60) = 1
    assert.deepEqual([c.intervalDelta, c.minIntervalDelta], [1, 1]);
    c.clear();
    hook.announce(udpAnnounce('x'.repeat(20)), c); // 0.9: not varied
    assert.deepEqual([c.intervalDelta, c.minIntervalDelta], [0, 0]);
    hook.announce(udpAnnounce('x'.repeat(20)), c); // 0.5: not varied (share is < 0.5)
    hook.announce(udpAnnounce('x'.repeat(20)), c); // 0.49: varied by 1 + floor(0.999 * 60) = 60
    assert.deepEqual([c.intervalDelta, c.minIntervalDelta], [60, 60]);
  });
});

describe('announce-rate floor, the edge\'s part', () => {
  it('UDP/HTTP: puts the floor on the request for the swarm; WebTorrent: refuses a regular announce sooner than the floor, counted', () => {
    const hits = { n: 0, inc() { this.n++; } };
    const hook = new AnnounceRate(60, hits);
    const c = new AnnounceContext();
    assert.equal(hook.announce(udpAnnounce('x'.repeat(20)), c), undefined);
    assert.equal(c.minAnnounceSeconds, 60);
    assert.match(hook.announce(wtAnnounce(59.5), c)?.message ?? '', /announced too soon: this tracker takes one announce per torrent every 60 seconds/);
    assert.equal(hits.n, 1);
    assert.equal(hook.announce(wtAnnounce(60), c), undefined);
    assert.equal(hook.announce(wtAnnounce(Infinity), c), undefined, 'a first announce');
    assert.equal(hook.announce(wtAnnounce(1, AnnounceEvent.Stopped), c), undefined, 'events pass');
  });
});

describe('same-subnet', () => {
  it('asks the swarm for the announcer\'s /prefixV4 or /prefixV6 first', () => {
    const hook = new SameSubnet(24, 48);
    const c = new AnnounceContext();
    hook.announce(udpAnnounce('x'.repeat(20)), c);
    assert.equal(c.sameSubnetBits, 24);
    hook.announce(udpAnnounce('x'.repeat(20), new Uint8Array(18)), c);
    assert.equal(c.sameSubnetBits, 48);
  });
});

describe('hooks from config', () => {
  it('builds the listed hooks in hooks.order; torrentApproval only while the access list is on', () => {
    const { config } = loadConfig({
      argv: ['--hooks.order=sameSubnet,torrentApproval,clientApproval,intervalVariation', '--hooks.clientApproval.prefixes=-qB'],
      env: {},
    });
    const metrics = new TrackerMetrics({ defaultMetrics: false });
    const off = Hooks.fromConfig(config, { accessList: new AccessList('off'), metrics, logger: silentLogger });
    assert.deepEqual(off.pre.map((h) => h.name), ['sameSubnet', 'clientApproval', 'intervalVariation']);
    const on = Hooks.fromConfig(config, { accessList: new AccessList('deny'), metrics, logger: silentLogger });
    assert.deepEqual(on.pre.map((h) => h.name), ['sameSubnet', 'torrentApproval', 'clientApproval', 'intervalVariation']);
    assert.ok(on.pre[1] instanceof TorrentApproval);
  });

  it('a jwt hook whose keys cannot be loaded stops the start, naming the hook', async () => {
    const { config } = loadConfig({
      argv: ['--hooks.order=jwt', '--hooks.jwt.issuer=i', '--hooks.jwt.audience=a', '--hooks.jwt.jwksUrl=http://127.0.0.1:1/jwks.json'],
      env: {},
    });
    const hooks = Hooks.fromConfig(config, { accessList: new AccessList('off'), metrics: new TrackerMetrics({ defaultMetrics: false }), logger: silentLogger });
    await assert.rejects(hooks.start(), /hook jwt could not start: hooks\.jwt\.jwksUrl http:\/\/127\.0\.0\.1:1\/jwks\.json: /);
  });
});
