/**
 * Private mode's database writer against a real mariadbd: rows land with
 * x = x + VALUES(x), queued rows coalesce, lock waits are retried, an outage
 * loses nothing, a full queue is counted, and drain() writes everything.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { openDatabasePool, type DatabasePool } from '../../lib/private/db/pool.js';
import { DatabaseWriter, type WriterConfig } from '../../lib/private/db/writer.js';
import { Failures } from '../../lib/runtime/failures.js';
import { silentLogger } from '../../lib/runtime/logger.js';
import { TrackerMetrics } from '../../lib/runtime/metrics.js';
import { skipWithoutMariaDb, startMariaDb, type MariaDbOptions, type MariaDbServer } from '../support/mariadb-server.js';
import { cleanupScope, delay, type CleanupContext } from '../support/tracker-process.js';

const skip = skipWithoutMariaDb();

async function site(t: CleanupContext, options: MariaDbOptions = {}): Promise<{ db: MariaDbServer; pool: DatabasePool }> {
  const scope = cleanupScope(t);
  const db = await startMariaDb(scope, options);
  db.loadSchema();
  db.loadFixtures();
  const pool = await openDatabasePool(db.config());
  scope.after(() => pool.end().catch(() => {}));
  return { db, pool };
}

function writerFor(pool: DatabasePool, config: Partial<WriterConfig> = {}) {
  const metrics = new TrackerMetrics({ defaultMetrics: false });
  const failures = new Failures(silentLogger, (component) => metrics.internalErrorCounter(component));
  const writer = new DatabaseWriter({
    db: pool,
    config: {
      flushSeconds: 3600,
      batchRows: 1000,
      usersQueue: 1000,
      torrentsQueue: 1000,
      transferHistoryQueue: 1000,
      transferIpsQueue: 1000,
      snatchesQueue: 1000,
      deadlockRetries: 5,
      deadlockPauseMs: 50,
      ...config,
    },
    failures: failures.for('private-writer'),
    limitCounter: (key) => metrics.limitCounter(key),
  });
  metrics.observePrivateWriter(writer);
  return { writer, metrics };
}

type Row = Record<string, number>;
const user = async (db: MariaDbServer, id: number): Promise<Row> => (await db.query<Row>('SELECT Uploaded, Downloaded, rawup, rawdl FROM users_main WHERE ID = ?', [id]))[0];

describe('private database writer (MariaDB)', { skip }, () => {
  test('counters are added (x = x + VALUES(x)): two flushes add up; states are replaced; starttime is kept', async (t) => {
    const { db, pool } = await site(t);
    const { writer, metrics } = writerFor(pool);
    writer.addUser(1, 100, 10, 50, 20);
    assert.equal(await writer.flush(), true);
    writer.addUser(1, 1, 2, 3, 4);
    assert.equal(await writer.flush(), true);
    assert.deepEqual({ ...(await user(db, 1)) }, { Uploaded: 101, Downloaded: 12, rawup: 53, rawdl: 24 });

    writer.addTransferHistory(1, 1, 100, 0, false, 0, 60, 500, true, 1000, 1060);
    await writer.flush();
    writer.addTransferHistory(1, 1, 50, 20, true, 30, 30, 0, true, 2000, 1090);
    await writer.flush();
    const [history] = await db.query<Row>('SELECT uploaded, downloaded, seeding, seedtime, activetime, remaining, active, starttime, last_announce FROM transfer_history WHERE uid = 1 AND fid = 1');
    assert.deepEqual({ ...history }, { uploaded: 150, downloaded: 20, seeding: 1, seedtime: 30, activetime: 90, remaining: 0, active: 1, starttime: 1000, last_announce: 1090 });
    assert.match((await metrics.render()).body, /tracker_private_db_rows_written_total\{table="users"\} 2/);
  });

  test('rows queued for one key coalesce into one row per flush (positive control: distinct keys do not)', async (t) => {
    const { db, pool } = await site(t);
    const { writer } = writerFor(pool);
    for (let i = 0; i < 500; i++) writer.addTransferIp(2, 1, 0x7f000001, 6, 10, 1, 6881, 1000 + i, 1000 + i);
    assert.equal(writer.queuedRows(), 1);
    for (let i = 0; i < 5; i++) writer.addTransferIp(2, 1, 0x7f000001 + 1 + i, 6, 10, 1, 6881, 1000, 1000);
    assert.equal(writer.queuedRows(), 6);
    await writer.flush();
    assert.deepEqual(writer.tables().find((x) => x.table === 'transfer_ips')!.rowsWritten, 6);
    const [row] = await db.query<Row>('SELECT uploaded, downloaded, starttime, last_announce, port FROM transfer_ips WHERE uid = 2 AND ip = ?', [0x7f000001]);
    assert.deepEqual({ ...row }, { uploaded: 5000, downloaded: 500, starttime: 1000, last_announce: 1499, port: 6881 });
  });

  test('torrents: snatches add up, counts replaced, a seeder un-prunes, the site pruning is kept otherwise; snatches land in transfer_history', async (t) => {
    const { db, pool } = await site(t);
    const { writer } = writerFor(pool);
    const hash = (n: number) => createHash('sha1').update(`fixture torrent ${n}`).digest().toString('latin1');
    writer.addTorrent(1, hash(1), 1, 3, 4, 5000, false);
    writer.addTorrent(1, hash(1), 1, 2, 5, 5010, false);
    writer.addTorrent(5, hash(5), 0, 1, 0, 5000, true);
    writer.addSnatch(3, 1, 4000);
    writer.addSnatch(3, 1, 4100);
    await writer.flush();
    const rows = await db.query<Row>('SELECT ID, Snatched, Seeders, Leechers, last_action, Status FROM torrents WHERE ID IN (1, 5) ORDER BY ID');
    assert.deepEqual(rows.map((r) => ({ ...r })), [
      { ID: 1, Snatched: 2, Seeders: 2, Leechers: 5, last_action: 5010, Status: 0 },
      { ID: 5, Snatched: 0, Seeders: 1, Leechers: 0, last_action: 5000, Status: 0 },
    ]);
    db.rootSql('UPDATE torrents SET Status = 1 WHERE ID = 1', db.database);
    writer.addTorrent(1, hash(1), 0, 2, 5, 5020, false);
    await writer.flush();
    assert.equal((await db.query<Row>('SELECT Status FROM torrents WHERE ID = 1'))[0].Status, 1, 'a leecher announce keeps the pruning');
    const [snatch] = await db.query<Row>('SELECT snatched, snatched_time FROM transfer_history WHERE uid = 3 AND fid = 1');
    assert.deepEqual({ ...snatch }, { snatched: 2, snatched_time: 4000 });
  });

  test('a full queue refuses new keys at once and counts it; queued keys still coalesce', async (t) => {
    const { pool } = await site(t);
    const { writer, metrics } = writerFor(pool, { usersQueue: 2 });
    assert.equal(writer.addUser(1, 1, 1, 1, 1), true);
    assert.equal(writer.addUser(2, 1, 1, 1, 1), true);
    assert.equal(writer.addUser(3, 1, 1, 1, 1), false);
    assert.equal(writer.addUser(1, 1, 1, 1, 1), true, 'a queued key merges');
    assert.match((await metrics.render()).body, /tracker_limit_hits_total\{limit="database\.usersQueue"\} 1/);
  });

  test('a lock-wait timeout (1205) is retried and the row lands', async (t) => {
    const { db, pool } = await site(t, { args: ['--innodb-lock-wait-timeout=1'] });
    const { writer, metrics } = writerFor(pool, { deadlockPauseMs: 100 });
    const mysql = await import('mysql2/promise');
    const holder = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: db.user, password: db.password, database: db.database });
    t.after(() => holder.end().catch(() => {}));
    await holder.query('START TRANSACTION');
    await holder.query('SELECT * FROM users_main WHERE ID = 1 FOR UPDATE');
    writer.addUser(1, 7, 0, 7, 0);
    const flushing = writer.flush();
    const stats = () => writer.tables().find((x) => x.table === 'users')!;
    const deadline = Date.now() + 60_000;
    while (stats().retries === 0 && Date.now() < deadline) await delay(50);
    assert.ok(stats().retries >= 1, 'the lock wait timed out and was retried');
    await holder.query('COMMIT');
    assert.equal(await flushing, true);
    assert.equal((await user(db, 1)).Uploaded, 7);
    assert.match((await metrics.render()).body, /tracker_private_db_retries_total\{table="users"\} [1-9]/);
  });

  test('database stopped mid-run: rows stay queued, visibly; written once it is back, none lost', async (t) => {
    const { db, pool } = await site(t);
    let now = 1_000_000;
    const metrics = new TrackerMetrics({ defaultMetrics: false });
    const failures = new Failures(silentLogger, (component) => metrics.internalErrorCounter(component));
    const writer = new DatabaseWriter({
      db: pool,
      config: { flushSeconds: 3600, batchRows: 3, usersQueue: 100, torrentsQueue: 100, transferHistoryQueue: 100, transferIpsQueue: 100, snatchesQueue: 100, deadlockRetries: 2, deadlockPauseMs: 10 },
      failures: failures.for('private-writer'),
      limitCounter: (key) => metrics.limitCounter(key),
      now: () => now,
    });
    metrics.observePrivateWriter(writer);
    const expected = new Map<number, number>();
    const credit = (id: number, bytes: number): void => {
      assert.equal(writer.addUser(id, bytes, 0, bytes, 0), true);
      expected.set(id, (expected.get(id) ?? 0) + bytes);
    };
    for (let id = 1; id <= 5; id++) credit(id, 100 * id);
    assert.equal(await writer.flush(), true);

    await db.stop();
    for (let id = 1; id <= 5; id++) credit(id, 10);
    credit(9, 1); // a user row the site does not have yet
    now += 30_000;
    assert.equal(await writer.flush(), false, 'the flush fails while the database is down');
    assert.equal(writer.queuedRows(), 6, 'every row is still queued');
    for (let id = 1; id <= 3; id++) credit(id, 1); // announces go on meanwhile
    const text = (await metrics.render()).body;
    assert.match(text, /tracker_private_db_queue_rows\{table="users"\} 6/);
    assert.match(text, /tracker_private_db_flush_lag_seconds\{table="users"\} 30/);
    assert.match(text, /tracker_private_db_write_failures_total\{table="users"\} 1/);
    assert.match(text, /tracker_internal_errors_total\{component="private-writer"\} 1/);

    await db.start();
    assert.equal(await writer.flush(), true);
    assert.equal(writer.queuedRows(), 0);
    for (const [id, bytes] of expected) {
      const row = await user(db, id);
      assert.equal(row.Uploaded, bytes, `user ${id}`);
      assert.equal(row.rawup, bytes, `user ${id} raw`);
    }
    assert.match((await metrics.render()).body, /tracker_private_db_flush_lag_seconds\{table="users"\} 0/);
  });

  test('drain() writes everything before shutdown; with the database gone it gives up at its deadline and says how much is left', async (t) => {
    const { db, pool } = await site(t);
    const { writer } = writerFor(pool, { batchRows: 10 });
    writer.start();
    for (let i = 0; i < 95; i++) writer.addTransferHistory(1, 100 + i, 1, 1, false, 0, 0, 1, true, 1, 1);
    writer.addUser(1, 5, 5, 5, 5);
    assert.equal(await writer.drain(30_000), 0);
    assert.equal((await db.query<Row>('SELECT COUNT(*) AS n FROM transfer_history WHERE uid = 1'))[0].n, 95);
    assert.equal((await user(db, 1)).Uploaded, 5);

    await db.stop();
    writer.addUser(1, 5, 5, 5, 5);
    const started = Date.now();
    assert.equal(await writer.drain(1500), 1);
    assert.ok(Date.now() - started < 60_000, 'bounded');
  });

  test('markInactive: history rows not announced since the cutoff become inactive', async (t) => {
    const { db, pool } = await site(t);
    const { writer } = writerFor(pool);
    writer.addTransferHistory(1, 1, 0, 0, false, 0, 0, 1, true, 100, 100);
    writer.addTransferHistory(1, 2, 0, 0, false, 0, 0, 1, true, 100, 900);
    await writer.flush();
    assert.equal(await writer.markInactive(500), 1);
    const rows = await db.query<Row>('SELECT fid, active FROM transfer_history WHERE uid = 1 ORDER BY fid');
    assert.deepEqual(rows.map((r) => ({ ...r })), [
      { fid: 1, active: 0 },
      { fid: 2, active: 1 },
    ]);
  });
});
