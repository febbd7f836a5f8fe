/**
 * A real transfer through the tracker in private mode against a real
 * mariadbd: an aria2c seeder of user A (alice) and an aria2c leecher of user
 * B (bob) announce a private .torrent (`private: 1`) to
 * http://127.0.0.1:<port>/<passkey>/announce, find each other only through
 * the tracker, the file arrives intact, and once the writer flushed the
 * site's database holds what each client reported: raw and credited bytes in
 * users_main, the per-torrent row in transfer_history, the snatch. A second
 * torrent that is freeleech with double upload changes the credited figures
 * and not the raw ones. The same runs go through all-in-one and through a
 * cluster of 2 edges and 3 swarms (the seeder announces to one edge, the
 * leecher to the other).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startAria2 } from '../support/clients/aria2.js';
import { skipWithoutMariaDb, startMariaDb, type MariaDbServer } from '../support/mariadb-server.js';
import { createTorrent, makeTempDir, sha256File, writeTorrentVariant, type TestTorrent } from '../support/torrent.js';
import { startCluster } from '../support/cluster.js';
import { cleanupScope, startTracker, type CleanupContext } from '../support/tracker-process.js';
import { eventually } from '../support/waiting.js';

const skip = skipWithoutMariaDb();
// db/fixtures.sql: alice (ID 1) has multipliers 1/1; bob (ID 2) gets double upload credit, download credited 1:1.
const ALICE = { id: 1, passkey: 'alice000000000000000000000000001' };
const BOB = { id: 2, passkey: 'bob00000000000000000000000000002' };
type Row = Record<string, number>;

/** Where the clients announce, and every process whose catalog must know a torrent before it is credited. */
interface Target {
  /** HTTP port the seeder (alice) announces to, and the leecher's (bob). */
  seederPort: number;
  leecherPort: number;
  /** Metrics ports of every process that loads the catalog (edges check passkeys, swarms credit). */
  catalogMetricsPorts: number[];
}

interface Totals {
  alice: Row;
  bob: Row;
}

async function userTotals(db: MariaDbServer): Promise<Totals> {
  const rows = await db.query<Row>('SELECT ID, Uploaded, Downloaded, rawup, rawdl FROM users_main WHERE ID IN (1, 2) ORDER BY ID');
  const [alice, bob] = rows.map((r) => ({ Uploaded: Number(r.Uploaded), Downloaded: Number(r.Downloaded), rawup: Number(r.rawup), rawdl: Number(r.rawdl) }));
  return { alice: alice!, bob: bob! };
}

/**
 * One private transfer of a fresh torrent registered in the site's database
 * as `fid` with the given multipliers: returns the torrent once the leecher
 * verified it, the seeder stopped (its stopped announce reports its upload)
 * and the writer wrote both users' transfer_history rows.
 */
async function privateTransfer(
  scope: CleanupContext,
  db: MariaDbServer,
  target: Target,
  fid: number,
  multipliers: { down: number; up: number },
): Promise<{ torrent: TestTorrent; seeded: Row; leeched: Row }> {
  const seedDir = await makeTempDir(scope, `private-seed-${fid}`);
  const leechDir = await makeTempDir(scope, `private-leech-${fid}`);
  const workDir = await makeTempDir(scope, `private-work-${fid}`);
  const announce = (port: number, passkey: string) => `http://127.0.0.1:${port}/${passkey}/announce`;
  const torrent = await createTorrent({ dir: seedDir, announce: announce(target.seederPort, ALICE.passkey), private: true, size: 3 * 1024 * 1024 + 12_345 });
  // What the site hands bob: the same info dictionary, his passkey in the URL.
  const bobTorrent = await writeTorrentVariant(torrent, join(workDir, 'bob.torrent'), announce(target.leecherPort, BOB.passkey));

  db.rootSql(
    `INSERT INTO torrents (ID, GroupID, TorrentType, info_hash, DownMultiplier, UpMultiplier, Status) VALUES (${fid}, ${fid}, 'anime', UNHEX('${torrent.infoHashHex}'), ${multipliers.down}, ${multipliers.up}, 0);`,
    db.database,
  );
  // The tracker credits only torrents its catalog knows (database.reloadSeconds=1 below).
  const [{ n: torrents }] = (await db.query<Row>('SELECT COUNT(*) AS n FROM torrents')) as [Row];
  await eventually(
    async () => {
      for (const port of target.catalogMetricsPorts) {
        const readyz = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.text());
        if (!readyz.includes(`, ${torrents} torrents,`)) return false;
      }
      return true;
    },
    60_000,
    `the catalog to load torrent ${fid}`,
    200,
  );

  // Both clients exit on their own, so each reports its totals (a SIGTERMed aria2c sends no stopped announce):
  // the seeder once it sent the whole file, the leecher after announcing completed and seeding 3 s.
  const seeder = await startAria2(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, workDir, name: 'aria2c seeder (alice)', seedRatio: 1 });
  await seeder.waitForTrackerResponse(30_000);
  const leecher = await startAria2(scope, 'leech', { torrentPath: bobTorrent, dir: leechDir, workDir, name: 'aria2c leecher (bob)', seedTimeMinutes: 0.05 });
  await leecher.waitForDownload(90_000, join(leechDir, torrent.name));
  assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');
  await seeder.waitForDownload(60_000);

  const history = await eventually(
    async () => {
      const rows = await db.query<Row>('SELECT uid, uploaded, downloaded, snatched, remaining FROM transfer_history WHERE fid = ? ORDER BY uid', [fid]);
      const seeded = rows.find((r) => r.uid === ALICE.id);
      const leeched = rows.find((r) => r.uid === BOB.id);
      // Written once the seeder's stopped announce reported what it sent and the leecher's completion was credited.
      return seeded !== undefined && leeched !== undefined && Number(seeded.uploaded) >= torrent.size && Number(leeched.downloaded) >= torrent.size && { seeded, leeched };
    },
    60_000,
    `transfer_history rows of torrent ${fid} for alice and bob with the whole file`,
    250,
  );
  return { torrent, seeded: history.seeded, leeched: history.leeched };
}

/** Both runs against `target` (the database already holds the schema and db/fixtures.sql). */
async function creditedTransfers(scope: CleanupContext, db: MariaDbServer, target: Target): Promise<void> {
  const start = await userTotals(db);
  // Run 1: an ordinary torrent (multipliers 1/1).
  const one = await privateTransfer(scope, db, target, 10, { down: 1, up: 1 });
  const size1 = one.torrent.size;
  // aria2c reports what it moved: at least the file, and (one peer, no waste to speak of) not twice it.
  assert.ok(Number(one.leeched.downloaded) <= 2 * size1, `bob reported downloaded ${one.leeched.downloaded} for a ${size1}-byte file`);
  assert.ok(Number(one.seeded.uploaded) <= 2 * size1, `alice reported uploaded ${one.seeded.uploaded} for a ${size1}-byte file`);
  assert.equal(Number(one.leeched.snatched), 1, 'bob snatched it');
  assert.equal(Number(one.leeched.remaining), 0);
  assert.equal(Number(one.seeded.snatched), 0, 'a seeder that started complete snatched nothing');
  const [torrent10] = await db.query<Row>('SELECT Snatched FROM torrents WHERE ID = 10');
  assert.equal(Number(torrent10!.Snatched), 1);

  const afterOne = await eventually(
    async () => {
      const totals = await userTotals(db);
      return totals.alice.rawup - start.alice.rawup === Number(one.seeded.uploaded) && totals.bob.rawdl - start.bob.rawdl === Number(one.leeched.downloaded) && totals;
    },
    30_000,
    'users_main raw totals equal to transfer_history',
    250,
  );
  assert.equal(afterOne.alice.Uploaded - start.alice.Uploaded, Number(one.seeded.uploaded), 'alice 1x upload credit on a 1/1 torrent');
  assert.equal(afterOne.bob.Downloaded - start.bob.Downloaded, Number(one.leeched.downloaded), 'bob pays the full download on a 1/1 torrent');

  // Run 2: freeleech (DownMultiplier 0) with double upload (UpMultiplier 2).
  const two = await privateTransfer(scope, db, target, 11, { down: 0, up: 2 });
  const afterTwo = await eventually(
    async () => {
      const totals = await userTotals(db);
      return totals.alice.rawup - afterOne.alice.rawup === Number(two.seeded.uploaded) && totals.bob.rawdl - afterOne.bob.rawdl === Number(two.leeched.downloaded) && totals;
    },
    30_000,
    'users_main raw totals of the second run',
    250,
  );
  assert.ok(afterTwo.bob.rawdl - afterOne.bob.rawdl >= two.torrent.size, 'the raw download is recorded');
  assert.equal(afterTwo.bob.Downloaded, afterOne.bob.Downloaded, 'freeleech: bob is charged nothing');
  assert.equal(afterTwo.alice.Uploaded - afterOne.alice.Uploaded, 2 * Number(two.seeded.uploaded), 'double upload: alice is credited twice what she sent');
  assert.equal(Number(two.leeched.snatched), 1, 'a freeleech snatch still counts');
}

// Both processes flush every second (database.flushSeconds) and reload the catalog every second, so a new torrent row is known quickly.
const PRIVATE_ARGS = (db: MariaDbServer) => ['--private.enabled=true', `--database.url=${db.url}`, '--database.reloadSeconds=1', '--database.flushSeconds=1'];

describe('a private transfer between real clients', { skip }, () => {
  test('all-in-one: aria2c seeder (user A) -> aria2c leecher (user B) with passkey URLs: the file, raw and credited bytes, the snatch, and freeleech/2x changing the credit', { timeout: 300_000 }, async (t) => {
    const scope = cleanupScope(t);
    const db = await startMariaDb(scope);
    db.loadSchema();
    db.loadFixtures();
    const tracker = await startTracker(scope, { extraArgs: PRIVATE_ARGS(db), readyTimeoutMs: 60_000 });
    await creditedTransfers(scope, db, { seederPort: tracker.port, leecherPort: tracker.port, catalogMetricsPorts: [tracker.metricsPort] });
    assert.deepEqual(await tracker.stop(), { code: 0, signal: null });
  });

  test('2 edges / 3 swarms: the same transfers and credit, seeder and leecher on different edges', { timeout: 400_000 }, async (t) => {
    const scope = cleanupScope(t);
    const db = await startMariaDb(scope);
    db.loadSchema();
    db.loadFixtures();
    const cluster = await startCluster(scope, { edges: 2, swarms: 3, extraArgs: PRIVATE_ARGS(db), readyTimeoutMs: 60_000 });
    await creditedTransfers(scope, db, {
      seederPort: cluster.edges[0]!.port,
      leecherPort: cluster.edges[1]!.port,
      catalogMetricsPorts: [...cluster.edges, ...cluster.swarms].map((node) => node.metricsPort),
    });
    await cluster.stop();
  });
});
