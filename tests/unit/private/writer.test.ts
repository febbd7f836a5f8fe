/**
 * The database writer's flush logic against a scripted database
 * (lib/private/db/writer.ts): retry pauses, giving up without losing rows,
 * merging with rows queued meanwhile, and a flush that ends while announces
 * keep queuing. The real-MariaDB behaviour is in
 * tests/integration/private-writer.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SqlClient } from '../../../lib/private/db/pool.js';
import { DatabaseWriter } from '../../../lib/private/db/writer.js';
import { Failures } from '../../../lib/runtime/failures.js';
import { silentLogger } from '../../../lib/runtime/logger.js';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';

class ScriptedDb implements SqlClient {
  readonly statements: { sql: string; values: unknown[] }[] = [];
  /** Errors thrown by the next statements, in order; then they succeed. */
  failNext: unknown[] = [];
  onQuery: () => void = () => {};
  async query<T>(sql: string, values: readonly unknown[] = []): Promise<T> {
    await Promise.resolve();
    this.onQuery();
    const error = this.failNext.shift();
    if (error !== undefined) throw error;
    this.statements.push({ sql, values: [...values] });
    return { affectedRows: 1 } as T;
  }
  async eachRow(): Promise<void> {}
}

const mysqlError = (errno: number) => Object.assign(new Error(`error ${errno}`), { errno });

function writerFor(db: ScriptedDb, batchRows = 1000) {
  const metrics = new TrackerMetrics({ defaultMetrics: false });
  const failures = new Failures(silentLogger, (component) => metrics.internalErrorCounter(component));
  const pauses: number[] = [];
  const writer = new DatabaseWriter({
    db,
    config: { flushSeconds: 3600, batchRows, usersQueue: 1000, torrentsQueue: 1000, transferHistoryQueue: 1000, transferIpsQueue: 1000, snatchesQueue: 1000, deadlockRetries: 3, deadlockPauseMs: 200 },
    failures: failures.for('private-writer'),
    limitCounter: (key) => metrics.limitCounter(key),
    sleep: async (ms) => void pauses.push(ms),
  });
  return { writer, pauses };
}

describe('database writer flushes', () => {
  test('deadlocks and lock waits are retried deadlockPauseMs x attempt apart', async () => {
    const db = new ScriptedDb();
    const { writer, pauses } = writerFor(db);
    db.failNext = [mysqlError(1213), mysqlError(1205)];
    writer.addUser(1, 10, 0, 10, 0);
    assert.equal(await writer.flush(), true);
    assert.deepEqual(pauses, [200, 400]);
    assert.equal(db.statements.length, 1);
    assert.match(db.statements[0].sql, /^INSERT INTO users_main \(ID, Uploaded, Downloaded, rawup, rawdl\) VALUES \(\?, \?, \?, \?, \?\) ON DUPLICATE KEY UPDATE Uploaded = Uploaded \+ VALUES\(Uploaded\)/);
    assert.equal(writer.tables()[0].retries, 2);
  });

  test('after deadlockRetries, or on any other error, the rows stay queued and merge with rows queued meanwhile', async () => {
    const db = new ScriptedDb();
    const { writer, pauses } = writerFor(db);
    db.failNext = [mysqlError(1213), mysqlError(1213), mysqlError(1213), mysqlError(1213)];
    writer.addUser(1, 10, 0, 10, 0);
    db.onQuery = () => void writer.addUser(1, 5, 0, 5, 0); // an announce while the statement runs
    assert.equal(await writer.flush(), false);
    assert.deepEqual(pauses, [200, 400, 600], 'three retries, then it gives up');
    db.onQuery = () => {};
    assert.equal(writer.queuedRows(), 1, 'one row: the failed one merged with the new ones');
    db.failNext = [new Error('connect ECONNREFUSED')];
    assert.equal(await writer.flush(), false);
    assert.equal(await writer.flush(), true);
    assert.deepEqual(db.statements.at(-1)!.values, [1, 30, 0, 30, 0], '10 + 4 x 5 bytes, nothing lost or doubled');
  });

  test('a flush writes what was queued when it started and ends while announces keep queuing', async () => {
    const db = new ScriptedDb();
    const { writer } = writerFor(db, 10);
    let next = 1000;
    db.onQuery = () => {
      for (let i = 0; i < 10; i++) writer.addTransferHistory(1, next++, 1, 1, false, 0, 0, 0, true, 1, 1);
    };
    for (let i = 0; i < 30; i++) writer.addTransferHistory(1, i, 1, 1, false, 0, 0, 0, true, 1, 1);
    assert.equal(await writer.flush(), true);
    assert.equal(db.statements.length, 3, 'three batches of 10: the rows queued meanwhile wait');
    db.onQuery = () => {};
  });

  test('rows coalesce by their whole key, for small ids (numeric keys) and large ones (string keys) alike', async () => {
    const db = new ScriptedDb();
    const { writer } = writerFor(db);
    const big = 2 ** 21 + 5;
    for (const [uid, fid] of [[1, 2], [2, 1], [1, 2], [big, 1], [big, 1], [big, 2], [1, 2 ** 32 - 1], [1, 2 ** 32 - 1], [2 ** 32 - 1, 2 ** 32 - 1]]) {
      writer.addTransferHistory(uid, fid, 1, 0, false, 0, 0, 0, true, 1, 1);
    }
    assert.equal(writer.queuedRows(), 6);
    await writer.flush();
    const rows = db.statements[0].values;
    const uploaded = new Map<string, unknown>();
    for (let i = 0; i < rows.length; i += 11) uploaded.set(`${rows[i]}/${rows[i + 1]}`, rows[i + 2]);
    assert.deepEqual(Object.fromEntries(uploaded), { '1/2': 2, '2/1': 1, [`${big}/1`]: 2, [`${big}/2`]: 1, [`1/${2 ** 32 - 1}`]: 2, [`${2 ** 32 - 1}/${2 ** 32 - 1}`]: 1 });
  });
});
