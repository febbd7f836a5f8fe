/**
 * The passkey hook (private mode) against a catalog built in memory: each
 * refusal reason, what an admitted announce carries to the swarm, scrapes,
 * and its place in the hook list and the pipeline. Against MariaDB and over
 * every protocol: tests/integration/private-edge.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CatalogBuilder, type Catalog } from '../../../lib/private/catalog/catalog.js';
import { loadConfig } from '../../../lib/runtime/config-loader.js';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import { silentLogger } from '../../../lib/runtime/logger.js';
import type { AnnounceReply, AnnounceRequest, ClientAnnounce } from '../../../lib/tracker/announce.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { NO_PARAMS, PathOnly } from '../../../lib/tracker/params.js';
import type { SwarmReply, SwarmRequest } from '../../../lib/tracker/swarm.js';
import type { ClientWtAnnounce } from '../../../lib/tracker/webtorrent.js';
import { AccessList } from '../../../services/edge/access-list.js';
import { Hooks } from '../../../services/edge/hooks/create-hooks.js';
import {
  CANNOT_LEECH,
  PASSKEY_MISSING,
  PASSKEY_UNKNOWN,
  PasskeyApproval,
  passkeyOf,
  PORT_NOT_ALLOWED,
  PrivateUdpOff,
  SCRAPE_OFF,
  UDP_OFF,
  UNAPPROVED_CLIENT,
  UNREGISTERED_TORRENT,
} from '../../../services/edge/hooks/passkey.js';
import { AnnounceContext } from '../../../services/edge/pipeline/hook.js';
import { RequestPipeline, type SwarmClient } from '../../../services/edge/pipeline/pipeline.js';

const ALICE = 'a'.repeat(32); // user 7: up 1.5, down 0.5, hides her address
const BOB = 'b'.repeat(32); // user 8: may not leech
const TORRENT = 't'.repeat(20);
const UNKNOWN_TORRENT = 'u'.repeat(20);
const QBIT = '-qB4650-abcdefghijkl';

function catalog(): Catalog {
  const b = new CatalogBuilder();
  b.addUser(7, ALICE, 1.5, 0.5, false, true);
  b.addUser(8, BOB, 1, 1, true, false);
  b.addTorrent(100, TORRENT, 1, 1, false, 1, 'Music');
  b.addClient(3, '-qB');
  return b.build(1);
}

function announce(path: string, over: Partial<ClientAnnounce> = {}): ClientAnnounce {
  return {
    type: 'announce',
    infoHash: TORRENT,
    peerId: QBIT,
    endpoint: Uint8Array.of(10, 1, 2, 3, 0x1a, 0xe1), // port 6881
    event: AnnounceEvent.Started,
    left: 1000,
    numwant: 50,
    uploaded: 11,
    downloaded: 22,
    params: new PathOnly(path),
    ...over,
  };
}

function wtAnnounce(path: string, left: number | null): ClientWtAnnounce {
  return {
    type: 'wt-announce',
    infoHash: TORRENT,
    peerId: QBIT,
    from: { edge: 'e', socket: 1 },
    event: AnnounceEvent.None,
    seeder: left === 0,
    offers: [],
    left,
    uploaded: 0,
    downloaded: 0,
    address: Uint8Array.of(10, 1, 2, 3),
    params: new PathOnly(path),
    sinceLastAnnounce: 1e9,
  };
}

const hook = (options: { strictPort?: boolean; scrape?: boolean } = {}) =>
  new PasskeyApproval({ catalog, strictPort: options.strictPort ?? false, scrape: options.scrape ?? true });

describe('passkey hook', () => {
  it('reads the passkey from the first path segment: HTTP /<pk>/announce, UDP URL data, the WebSocket path /<pk>', () => {
    assert.equal(passkeyOf(`/${ALICE}/announce`), ALICE);
    assert.equal(passkeyOf(`/${ALICE}`), ALICE);
    assert.equal(passkeyOf(`/${ALICE}/`), ALICE);
    assert.equal(passkeyOf('/announce'), undefined);
    assert.equal(passkeyOf(''), undefined);
    assert.equal(passkeyOf(`/${ALICE}x/announce`), undefined, '33 characters');
    assert.equal(passkeyOf(`/${ALICE.slice(1)}/announce`), undefined, '31 characters');
    assert.equal(passkeyOf(`${ALICE}/announce`), undefined, 'no leading slash');
  });

  it('admits a known user on a registered torrent with an approved client, and puts the user on the announce for the swarm', () => {
    const c = new AnnounceContext();
    assert.equal(hook().announce(announce(`/${ALICE}/announce`), c), undefined);
    assert.deepEqual(
      [c.userId, c.userUpMultiplier, c.userDownMultiplier, c.clientId, c.hideAddress, c.uploaded, c.downloaded],
      [7, 1.5, 0.5, 3, true, 11, 22],
    );
    const request = { ...announce(`/${ALICE}/announce`) } as AnnounceRequest;
    c.applyTo(request);
    assert.deepEqual(
      [request.userId, request.userUpMultiplier, request.userDownMultiplier, request.clientId, request.hideAddress, request.uploaded, request.downloaded],
      [7, 1.5, 0.5, 3, true, 11, 22],
    );
    c.clear();
    assert.equal(c.userId, 0, 'cleared for the next announce');
  });

  it('refuses each reason with its own message, never echoing the passkey', () => {
    const h = hook({ strictPort: true });
    const c = new AnnounceContext();
    const cases: [ClientAnnounce, unknown][] = [
      [announce('/announce'), PASSKEY_MISSING],
      [announce(`/${ALICE}x/announce`), PASSKEY_MISSING],
      [announce(`/${'z'.repeat(32)}/announce`), PASSKEY_UNKNOWN],
      [announce(`/${BOB}/announce`), CANNOT_LEECH],
      [announce(`/${ALICE}/announce`, { infoHash: UNKNOWN_TORRENT }), UNREGISTERED_TORRENT],
      [announce(`/${ALICE}/announce`, { peerId: '-UT3550-abcdefghijkl' }), UNAPPROVED_CLIENT],
      [announce(`/${ALICE}/announce`, { endpoint: Uint8Array.of(10, 1, 2, 3, 0, 80) }), PORT_NOT_ALLOWED],
    ];
    for (const [a, want] of cases) {
      const got = h.announce(a, c);
      assert.equal(got, want, a.params.path);
      assert.ok(!got!.message.includes(ALICE) && !got!.message.includes('z'.repeat(32)), 'no passkey in a refusal');
    }
    assert.equal(c.userId, 0, 'a refused announce sets no user');
    // Controls: a seeding user who may not leech is admitted; port 80 passes without strictPort.
    assert.equal(h.announce(announce(`/${BOB}/announce`, { left: 0 }), c), undefined);
    assert.equal(hook().announce(announce(`/${ALICE}/announce`, { endpoint: Uint8Array.of(10, 1, 2, 3, 0, 80) }), c), undefined);
  });

  it('WebTorrent: the passkey from the socket path; a client that does not know what it lacks counts as leeching', () => {
    const c = new AnnounceContext();
    assert.equal(hook().announce(wtAnnounce(`/${ALICE}`, 5), c), undefined);
    assert.equal(hook().announce(wtAnnounce(`/${BOB}`, null), c), CANNOT_LEECH);
    assert.equal(hook().announce(wtAnnounce(`/${BOB}`, 0), c), undefined);
    assert.equal(hook().announce(wtAnnounce('/', 0), c), PASSKEY_MISSING);
  });

  it('scrapes: a known passkey and private.scrape; only registered torrents are reported', () => {
    assert.equal(hook().scrape(new PathOnly(`/${ALICE}/scrape`)), undefined);
    assert.equal(hook().scrape(new PathOnly(`/${'z'.repeat(32)}/scrape`)), PASSKEY_UNKNOWN);
    assert.equal(hook().scrape(NO_PARAMS), PASSKEY_MISSING);
    assert.equal(hook({ scrape: false }).scrape(new PathOnly(`/${ALICE}/scrape`)), SCRAPE_OFF);
    assert.equal(hook().torrent(TORRENT), undefined);
    assert.equal(hook().torrent(UNKNOWN_TORRENT), UNREGISTERED_TORRENT);
  });

  it('reads the catalog copy in use at each announce (a reload swaps it)', () => {
    let current = new CatalogBuilder().build(0);
    const h = new PasskeyApproval({ catalog: () => current, strictPort: false, scrape: true });
    assert.equal(h.announce(announce(`/${ALICE}/announce`), new AnnounceContext()), PASSKEY_UNKNOWN);
    current = catalog();
    assert.equal(h.announce(announce(`/${ALICE}/announce`), new AnnounceContext()), undefined);
  });
});

describe('passkey hook in the pipeline', () => {
  class Swarm implements SwarmClient {
    readonly seen: SwarmRequest[] = [];
    trySync(request: SwarmRequest): SwarmReply {
      this.seen.push(request);
      if (request.type === 'scrape') return { type: 'scrape', files: request.infoHashes.map(() => ({ complete: 1, incomplete: 0, downloaded: 0 })) };
      const reply: AnnounceReply = { type: 'announce', interval: 1800, minInterval: 900, complete: 0, incomplete: 0, downloaded: 0, peers: new Uint8Array(0) };
      return reply;
    }
    request(): void {
      throw new Error('in process');
    }
    flush(): void {}
  }

  it('is built first when private.enabled, before the listed hooks; not at all in public mode', () => {
    const deps = { accessList: new AccessList('off'), metrics: new TrackerMetrics({ defaultMetrics: false }), logger: silentLogger, catalog };
    const on = Hooks.fromConfig(loadConfig({ argv: ['--private.enabled=true', '--hooks.order=sameSubnet'], env: {} }).config, deps);
    assert.deepEqual(on.pre.map((h) => h.name), ['passkey', 'sameSubnet']);
    const off = Hooks.fromConfig(loadConfig({ argv: ['--hooks.order=sameSubnet'], env: {} }).config, deps);
    assert.deepEqual(off.pre.map((h) => h.name), ['sameSubnet']);
  });

  it('an admitted announce reaches the swarm with its user; a refused one and a refused scrape never do, counted as the passkey hook\'s', () => {
    const swarm = new Swarm();
    const counts = new Map<string, number>();
    const pipeline = new RequestPipeline({
      router: swarm,
      preHooks: [hook()],
      failures: { count: 0, report: () => assert.fail('no failure expected') },
      refusals: (name) => ({ inc: () => counts.set(name, (counts.get(name) ?? 0) + 1) }),
    });
    const replies: SwarmReply[] = [];
    pipeline.announce(announce(`/${ALICE}/announce`), (r) => replies.push(r));
    assert.equal(replies[0].type, 'announce');
    assert.equal((swarm.seen[0] as AnnounceRequest).userId, 7);
    pipeline.announce(announce(`/${'z'.repeat(32)}/announce`), (r) => replies.push(r));
    pipeline.scrape({ type: 'scrape', infoHashes: [TORRENT] }, (r) => replies.push(r), new PathOnly(`/${'z'.repeat(32)}/scrape`));
    assert.deepEqual(replies.slice(1), [PASSKEY_UNKNOWN, PASSKEY_UNKNOWN]);
    assert.equal(swarm.seen.length, 1);
    assert.equal(counts.get('passkey'), 2);
    // Control: the same scrape with a known passkey is answered by the swarm.
    pipeline.scrape({ type: 'scrape', infoHashes: [TORRENT] }, (r) => replies.push(r), new PathOnly(`/${ALICE}/scrape`));
    assert.equal(replies[3].type, 'scrape');
    assert.equal(swarm.seen.length, 2);
  });

  it('UDP with private.udp = off: every announce and scrape is refused', () => {
    const swarm = new Swarm();
    const pipeline = new RequestPipeline({ router: swarm, preHooks: [new PrivateUdpOff()], failures: { count: 0, report: () => {} } });
    const replies: SwarmReply[] = [];
    pipeline.announce(announce(`/${ALICE}/announce`), (r) => replies.push(r));
    pipeline.scrape({ type: 'scrape', infoHashes: [TORRENT] }, (r) => replies.push(r));
    assert.deepEqual(replies, [UDP_OFF, UDP_OFF]);
    assert.equal(swarm.seen.length, 0);
  });
});
