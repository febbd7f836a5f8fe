/**
 * A swarm in private mode against a real mariadbd: the swarm half that
 * services/tracker/swarm.ts and all-in-one build (startPrivateSwarm +
 * createSwarm), answering announces that carry a user (as the edge's
 * passkey hook sends them) through the in-process transport. It credits the
 * right rows after its store took each announce, answers with kuroneko's
 * interval and numwant, is not ready until the catalog loaded, and writes
 * every queued row when it stops.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type Config } from '../../lib/runtime/config.js';
import { Failures } from '../../lib/runtime/failures.js';
import { silentLogger } from '../../lib/runtime/logger.js';
import { TrackerMetrics } from '../../lib/runtime/metrics.js';
import type { AnnounceReply, AnnounceRequest } from '../../lib/tracker/announce.js';
import { AnnounceEvent } from '../../lib/tracker/events.js';
import type { SwarmReply } from '../../lib/tracker/swarm.js';
import { GrpcTransport } from '../../lib/transport/grpc/client.js';
import { InProcessTransport } from '../../lib/transport/in-process.js';
import { startPrivateSwarm } from '../../services/swarm/accounting/private-swarm.js';
import { createSwarm } from '../../services/swarm/create-swarm.js';
import { skipWithoutMariaDb, startMariaDb, type MariaDbServer } from '../support/mariadb-server.js';
import { metricIn, startCluster } from '../support/cluster.js';
import { cleanupScope, startTracker, type CleanupContext } from '../support/tracker-process.js';

const skip = skipWithoutMariaDb();
const hash = (n: number) => createHash('sha1').update(`fixture torrent ${n}`).digest().toString('latin1');
type Row = Record<string, number>;

function privateConfig(db: MariaDbServer): Config {
  const config = defaultConfig();
  config.private.enabled = true;
  config.database = db.config({ deadlockPauseMs: 10, flushSeconds: 3600 });
  return config;
}

async function privateSwarm(scope: CleanupContext, config: Config, clock: { now: number }) {
  const metrics = new TrackerMetrics({ defaultMetrics: false });
  const failures = new Failures(silentLogger, (component) => metrics.internalErrorCounter(component));
  const priv = await startPrivateSwarm(config, { metrics, failures, logger: silentLogger, swarmName: '', now: () => clock.now });
  let stopped = false;
  scope.after(async () => {
    if (!stopped) await priv.stop(0);
  });
  const swarm = createSwarm(config, metrics, failures, priv.accounting);
  scope.after(() => swarm.stopSweeper());
  const transport = new InProcessTransport(swarm, failures.for('in-process'));
  return {
    priv,
    metrics,
    failures,
    async stop(deadlineMs: number) {
      stopped = true;
      return priv.stop(deadlineMs);
    },
    async announce(r: Omit<AnnounceRequest, 'type' | 'numwant'> & { numwant?: number }): Promise<AnnounceReply> {
      const [reply] = await new Promise<SwarmReply[]>((resolve) => transport.send([{ type: 'announce', numwant: 0, ...r }], resolve));
      assert.equal(reply.type, 'announce', JSON.stringify(reply));
      return reply as AnnounceReply;
    },
  };
}

const alice = { userId: 1, userUpMultiplier: 1, userDownMultiplier: 1, clientId: 1, peerId: '-qB4650-alicealiceal', endpoint: new Uint8Array([10, 0, 0, 1, 0x1a, 0xe1]) };
const bob = { userId: 2, userUpMultiplier: 2, userDownMultiplier: 1, clientId: 6, peerId: 'A2-1-37-0-bobbobbobb', endpoint: new Uint8Array([10, 0, 0, 2, 0x1a, 0xe2]) };

describe('a swarm in private mode', { skip }, () => {
  test('credits announces that carry a user after its store took them, answers with the private interval and numwant, and writes every row when it stops', async (t) => {
    const scope = cleanupScope(t);
    const db = await startMariaDb(scope);
    db.loadSchema();
    db.loadFixtures();
    const config = privateConfig(db);
    config.private.intervalSeconds = 1000;
    config.private.intervalDriftSeconds = 7;
    config.private.minIntervalSeconds = 500;
    config.private.numwantDefault = 1;
    config.private.numwantMax = 2;
    const clock = { now: Date.UTC(2026, 11, 2, 12, 0, 0) / 1000 };
    const s = await privateSwarm(scope, config, clock);
    assert.equal(s.priv.ready(), true);
    assert.match(s.priv.detail(), /catalog: 4 users, 5 torrents/);

    const first = await s.announce({ ...alice, infoHash: hash(1), event: AnnounceEvent.Started, uploaded: 5000, downloaded: 0, left: 0 });
    assert.ok(first.interval >= 1000 && first.interval <= 1007, `interval ${first.interval} is private.intervalSeconds + 0..drift`);
    assert.equal(first.minInterval, 500);
    await s.announce({ ...bob, infoHash: hash(1), event: AnnounceEvent.Started, uploaded: 0, downloaded: 0, left: 1000 });
    // Two more leechers: numwant 0 gets private.numwantDefault (1), numwant 50 gets private.numwantMax (2).
    for (const n of [3, 4]) await s.announce({ userId: 1, peerId: `-qB4650-extra${n}extra0`, endpoint: new Uint8Array([10, 0, 0, n, 0x1a, 0xe0]), infoHash: hash(1), event: AnnounceEvent.Started, uploaded: 0, downloaded: 0, left: 10 });
    assert.equal((await s.announce({ ...bob, infoHash: hash(1), event: AnnounceEvent.None, uploaded: 0, downloaded: 0, left: 1000 })).peers.length, 6);
    assert.equal((await s.announce({ ...bob, infoHash: hash(1), event: AnnounceEvent.None, uploaded: 0, downloaded: 0, left: 1000, numwant: 50 })).peers.length, 12);

    clock.now += 60;
    await s.announce({ ...alice, infoHash: hash(1), event: AnnounceEvent.None, uploaded: 5600, downloaded: 0, left: 0 });
    const done = await s.announce({ ...bob, infoHash: hash(1), event: AnnounceEvent.Completed, uploaded: 100, downloaded: 1000, left: 0 });
    assert.equal(done.complete, 2, 'the store took the announce before the reply');
    // A public announce (no user) on the same swarm is served and credits nothing.
    await s.announce({ peerId: '-qB4650-publicpublic', endpoint: new Uint8Array([10, 0, 0, 9, 0x1a, 0xe9]), infoHash: hash(1), event: AnnounceEvent.Started, left: 0 });
    await s.announce({ peerId: '-qB4650-publicpublic', endpoint: new Uint8Array([10, 0, 0, 9, 0x1a, 0xe9]), infoHash: hash(1), event: AnnounceEvent.None, left: 0, uploaded: 1e9 } as never);
    // A torrent the swarm's catalog does not know is served and not credited, and counted.
    await s.announce({ ...alice, infoHash: hash(99), event: AnnounceEvent.Started, uploaded: 0, downloaded: 0, left: 0 });
    assert.match(await s.metrics.render().then((m) => m.body), /tracker_private_uncatalogued_announces_total 1\b/);
    assert.match(await s.metrics.render().then((m) => m.body), /tracker_private_peers 4\b/);

    const before = await db.query<Row>('SELECT COUNT(*) AS n FROM transfer_history');
    assert.equal(before[0].n, 0, 'nothing is written before a flush (database.flushSeconds is an hour here)');
    assert.equal(await s.stop(30_000), 0, 'stop writes every queued row');

    const users = await db.query<Row>('SELECT ID, Uploaded, Downloaded, rawup, rawdl FROM users_main WHERE ID IN (1, 2) ORDER BY ID');
    assert.deepEqual(users.map((r) => ({ ...r })), [
      { ID: 1, Uploaded: 600, Downloaded: 0, rawup: 600, rawdl: 0 },
      { ID: 2, Uploaded: 200, Downloaded: 1000, rawup: 100, rawdl: 1000 },
    ]);
    const history = await db.query<Row>('SELECT uid, fid, uploaded, downloaded, snatched, remaining FROM transfer_history WHERE uid IN (1, 2) AND fid = 1 ORDER BY uid');
    assert.deepEqual(history.map((r) => ({ ...r })), [
      { uid: 1, fid: 1, uploaded: 600, downloaded: 0, snatched: 0, remaining: 0 },
      { uid: 2, fid: 1, uploaded: 100, downloaded: 1000, snatched: 1, remaining: 0 },
    ]);
    const [torrent] = await db.query<Row>('SELECT Snatched, Seeders FROM torrents WHERE ID = 1');
    assert.deepEqual({ ...torrent }, { Snatched: 1, Seeders: 2 });
  });

  test('with the database stopped mid-run it keeps answering and crediting, and writes the rows once the database is back', async (t) => {
    const scope = cleanupScope(t);
    const db = await startMariaDb(scope);
    db.loadSchema();
    db.loadFixtures();
    const clock = { now: Date.UTC(2026, 11, 2, 12, 0, 0) / 1000 };
    const s = await privateSwarm(scope, privateConfig(db), clock);
    await s.announce({ ...alice, infoHash: hash(4), event: AnnounceEvent.Started, uploaded: 0, downloaded: 0, left: 0 });
    await db.stop();
    for (let i = 1; i <= 5; i++) {
      clock.now += 60;
      const reply = await s.announce({ ...alice, infoHash: hash(4), event: AnnounceEvent.None, uploaded: i * 1000, downloaded: 0, left: 0 });
      assert.equal(reply.complete, 1, 'served while the database is down');
    }
    assert.equal(await s.priv.writer.flush(), false, 'the flush fails while the database is down');
    assert.equal(s.priv.ready(), true, 'still ready: the catalog copy in memory serves');
    await db.start();
    assert.equal(await s.stop(30_000), 0);
    // Torrent 4 doubles upload credit: 5000 raw, 10000 credited.
    const [user] = await db.query<Row>('SELECT Uploaded, rawup FROM users_main WHERE ID = 1');
    assert.deepEqual({ ...user }, { Uploaded: 10_000, rawup: 5000 });
  });

  test('is not ready until the first catalog load, and serves from it once the database is back', async (t) => {
    const scope = cleanupScope(t);
    const db = await startMariaDb(scope);
    db.loadSchema();
    db.loadFixtures();
    await db.stop();
    const clock = { now: Date.UTC(2026, 11, 2, 12, 0, 0) / 1000 };
    const s = await privateSwarm(scope, privateConfig(db), clock);
    assert.equal(s.priv.ready(), false);
    assert.match(s.priv.detail(), /catalog: never loaded/);
    await db.start();
    assert.equal(await s.priv.reloader.reloadNow(), true);
    assert.equal(s.priv.ready(), true, 'control: the same process becomes ready once a copy loaded');
    assert.match(s.priv.detail(), /catalog: 4 users/);
  });

  test('the real tracker process in private mode: ready once the catalog loaded (its counts on /readyz), private gauges on /metrics, a clean stop', async (t) => {
    const scope = cleanupScope(t);
    const db = await startMariaDb(scope);
    db.loadSchema();
    db.loadFixtures();
    await db.stop();
    // The database is down at start: the process starts, and becomes ready only after a reload succeeds.
    const starting = startTracker(scope, { extraArgs: ['--private.enabled=true', `--database.url=${db.url}`, '--database.reloadSeconds=1'], readyTimeoutMs: 60_000 });
    const early = await Promise.race([starting.then(() => 'ready'), new Promise((resolve) => setTimeout(() => resolve('waiting'), 3000))]);
    assert.equal(early, 'waiting', 'not ready while the catalog never loaded');
    await db.start();
    const tracker = await starting;
    const readyz = await fetch(`http://127.0.0.1:${tracker.metricsPort}/readyz`).then((r) => r.text());
    assert.match(readyz, /^ready\ncatalog: 4 users, 5 torrents, 6 approved clients, loaded \d+ s ago\n$/);
    assert.doesNotMatch(readyz, /alice0000/, 'never a passkey');
    const metrics = await fetch(`http://127.0.0.1:${tracker.metricsPort}/metrics`).then((r) => r.text());
    assert.equal(metricIn(metrics, 'tracker_private_catalog_entries', { kind: 'users' }), 4);
    assert.equal(metricIn(metrics, 'tracker_private_peers'), 0);
    assert.match(metrics, /^tracker_private_db_queue_rows\{table="[a-z_]+"\} 0$/m);
    assert.deepEqual(await tracker.stop(), { code: 0, signal: null });
  });

  test('a swarm process in private mode credits announces that reach it over gRPC with a user, records them under its name, and writes every row on SIGTERM', async (t) => {
    const scope = cleanupScope(t);
    const db = await startMariaDb(scope);
    db.loadSchema();
    db.loadFixtures();
    const dir = mkdtempSync(join(tmpdir(), 'tracker-private-swarm-'));
    scope.after(() => rmSync(dir, { recursive: true, force: true }));
    const cluster = await startCluster(scope, {
      swarms: 1,
      edges: 1,
      swarmArgs: ['--private.enabled=true', `--database.url=${db.url}`, '--database.flushSeconds=3600', '--private.recordEvents=true', `--private.recordFolder=${dir}`],
    });
    const swarm = cluster.swarms[0];
    const edge = new GrpcTransport({ name: swarm.name, address: `127.0.0.1:${swarm.port}`, edgeId: 'edge-test', streamOpenTimeoutMs: 5000 });
    scope.after(() => edge.close());
    const send = (r: Omit<AnnounceRequest, 'type' | 'numwant'>): Promise<SwarmReply> =>
      new Promise<SwarmReply[]>((resolve) => edge.send([{ type: 'announce', numwant: 0, ...r }], resolve)).then(([reply]) => reply);
    const at = (uploaded: number, downloaded: number, event: AnnounceEvent, left: number) => ({ ...bob, infoHash: hash(1), event, uploaded, downloaded, left, hideAddress: false });
    assert.equal((await send(at(50, 0, AnnounceEvent.Started, 1000))).type, 'announce');
    assert.equal((await send(at(150, 400, AnnounceEvent.None, 600))).type, 'announce');
    assert.equal((await send(at(250, 1000, AnnounceEvent.Completed, 0))).type, 'announce');
    const metrics = await fetch(`http://127.0.0.1:${swarm.metricsPort}/metrics`).then((r) => r.text());
    assert.equal(metricIn(metrics, 'tracker_private_peers'), 1, 'the swarm holds the private peer');
    assert.equal((await db.query<Row>('SELECT COUNT(*) AS n FROM transfer_history'))[0].n, 0, 'nothing written before the shutdown (database.flushSeconds is an hour)');

    await edge.close();
    assert.deepEqual(await swarm.stop(), { code: 0, signal: null });
    const [user] = await db.query<Row>('SELECT Uploaded, Downloaded, rawup, rawdl FROM users_main WHERE ID = 2');
    // bob's UpMultiplier is 2: 200 raw up credited 400.
    assert.deepEqual({ ...user }, { Uploaded: 400, Downloaded: 1000, rawup: 200, rawdl: 1000 });
    const [history] = await db.query<Row>('SELECT uploaded, downloaded, snatched FROM transfer_history WHERE uid = 2 AND fid = 1');
    assert.deepEqual({ ...history }, { uploaded: 200, downloaded: 1000, snatched: 1 });
    const files = readdirSync(dir);
    assert.equal(files.length, 1);
    assert.match(files[0], /^events_\d{4}-\d{2}-\d{2}T\d{2}_swarm-0\.json$/, 'the recorder file carries the swarm name');
  });

  test('3 -> 4 swarm processes in the middle of private transfers: users_main totals equal the bytes reported after each first announce', { timeout: 300_000 }, async (t) => {
    const scope = cleanupScope(t);
    const db = await startMariaDb(scope);
    db.loadSchema();
    db.loadFixtures();
    // 60 more torrents, so some of them move to the fourth swarm.
    const values = Array.from({ length: 60 }, (_, i) => `(${100 + i}, ${100 + i}, 'anime', UNHEX(SHA1('fixture torrent ${100 + i}')), 1, 1, 0)`).join(', ');
    db.rootSql(`INSERT INTO torrents (ID, GroupID, TorrentType, info_hash, DownMultiplier, UpMultiplier, Status) VALUES ${values}`, db.database);
    const cluster = await startCluster(scope, { swarms: 3, edges: 1, swarmArgs: ['--private.enabled=true', `--database.url=${db.url}`] });
    const transports = new Map<string, GrpcTransport>();
    scope.after(async () => {
      for (const tr of transports.values()) await tr.close();
    });
    const to = (name: string): GrpcTransport => {
      let tr = transports.get(name);
      if (!tr) {
        const node = cluster.swarm(name);
        tr = new GrpcTransport({ name, address: `127.0.0.1:${node.port}`, edgeId: 'edge-test', streamOpenTimeoutMs: 5000 });
        transports.set(name, tr);
      }
      return tr;
    };
    const users = [1, 2, 5];
    const peers = Array.from({ length: 120 }, (_, i) => ({
      userId: users[i % users.length],
      peerId: `-qB4650-${String(i).padStart(12, '0')}`,
      endpoint: Uint8Array.of(10, 4, i >> 8, i & 0xff, 0x1a, 0xe1),
      infoHash: hash(100 + (i % 60)),
      uploaded: 1_000_000 + i,
      downloaded: 0,
      first: 1_000_000 + i,
      started: false,
    }));
    const round = async (): Promise<void> => {
      await Promise.all(
        peers.map(async (p, i) => {
          if (p.started) {
            p.uploaded += 1000 + i;
            p.downloaded += 10 * i;
          }
          const request = { type: 'announce' as const, numwant: 0, infoHash: p.infoHash, peerId: p.peerId, endpoint: p.endpoint, event: p.started ? AnnounceEvent.None : AnnounceEvent.Started, left: 10, userId: p.userId, uploaded: p.uploaded, downloaded: p.downloaded, userUpMultiplier: 1, userDownMultiplier: 1, clientId: 1, hideAddress: false };
          const [reply] = await new Promise<SwarmReply[]>((resolve) => to(cluster.ownerOf(p.infoHash)).send([request], resolve));
          assert.equal(reply.type, 'announce', cluster.describe(`announce ${i}: ${JSON.stringify(reply)}`));
          p.started = true;
        }),
      );
    };
    await round();
    await round();
    const before = new Map(peers.map((p) => [p.peerId, cluster.ownerOf(p.infoHash)]));
    await cluster.addSwarm();
    await cluster.waitHandoffs();
    const moved = peers.filter((p) => cluster.ownerOf(p.infoHash) !== before.get(p.peerId));
    assert.ok(moved.length > 0, 'some peers moved to the new swarm');
    await round();
    await round();
    for (const tr of transports.values()) await tr.close();
    transports.clear();
    await cluster.stop();

    const rows = await db.query<Row>('SELECT ID, rawup, rawdl FROM users_main WHERE ID IN (1, 2, 5) ORDER BY ID');
    assert.deepEqual(
      rows.map((r) => ({ ...r })),
      users.map((id) => {
        const mine = peers.filter((p) => p.userId === id);
        return { ID: id, rawup: mine.reduce((n, p) => n + p.uploaded - p.first, 0), rawdl: mine.reduce((n, p) => n + p.downloaded, 0) };
      }),
      `${moved.length} peers moved: none double-counted, none lost`,
    );
  });
});
