/**
 * Writes what private mode accounts to the site's database: one bounded,
 * coalescing queue per table (row-queue.ts), flushed every
 * `database.flushSeconds`, or at once when a queue holds a full batch
 * (`database.batchRows`), in statements of at most a batch each
 * (tables.ts: INSERT ... ON DUPLICATE KEY UPDATE x = x + VALUES(x)).
 *
 * Announces only ever queue: `add*()` is synchronous and never waits; a new
 * row finding its queue full is dropped and counted
 * (tracker_limit_hits_total{limit="database.<table>Queue"}).
 *
 * A deadlock (1213) or lock-wait timeout (1205) is retried up to
 * `database.deadlockRetries` times, pausing `deadlockPauseMs` x attempt.
 * Any other failure (the database down, a query timing out) ends the flush:
 * the rows stay queued and are written by a later one. `drain()` writes
 * everything before a clean shutdown. A crash loses what was queued: at
 * most one flush interval of accounting, plus whatever piled up while the
 * database was unreachable.
 */
import type { FailureSink } from '../../runtime/failures.js';
import type { DatabaseConfig, SqlClient } from './pool.js';
import { sqlErrno } from './pool.js';
import { RowQueue, type QueuedRow, type RowValue } from './row-queue.js';
import { insertStatement, MARK_INACTIVE, TABLES, type TableSpec } from './tables.js';

const ER_LOCK_DEADLOCK = 1213;
const ER_LOCK_WAIT_TIMEOUT = 1205;

export type WriterConfig = Pick<
  DatabaseConfig,
  'flushSeconds' | 'batchRows' | 'usersQueue' | 'torrentsQueue' | 'transferHistoryQueue' | 'transferIpsQueue' | 'snatchesQueue' | 'deadlockRetries' | 'deadlockPauseMs'
>;

export interface WriterOptions {
  db: SqlClient;
  config: WriterConfig;
  failures: FailureSink;
  /** metrics.limitCounter, bound once per queue. */
  limitCounter: (key: string) => { inc(): void };
  /** Milliseconds clock. Default Date.now. */
  now?: () => number;
  /** Pause between retries. Default a timer. */
  sleep?: (ms: number) => Promise<void>;
}

class TableState {
  rowsWritten = 0;
  retries = 0;
  failures = 0;
  /** The row being queued: filled by add*(), copied by the queue only when its key is new. */
  readonly scratch: RowValue[];
  constructor(
    readonly queue: RowQueue,
    readonly full: { inc(): void },
  ) {
    this.scratch = new Array<RowValue>(queue.spec.columns.length).fill(0);
  }
}

export class DatabaseWriter {
  flushSecondsTotal = 0;
  lastFlushSeconds = 0;
  private readonly users: TableState;
  private readonly torrents: TableState;
  private readonly transferHistory: TableState;
  private readonly transferIps: TableState;
  private readonly snatches: TableState;
  /** Flush order: a snatch lands in transfer_history after the row it completes. */
  private readonly order: readonly TableState[];
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<boolean> | null = null;
  private soon = false;

  constructor(private readonly options: WriterOptions) {
    const c = options.config;
    const state = (spec: TableSpec, capacity: number) => new TableState(new RowQueue(spec, capacity), options.limitCounter(spec.queueKey));
    this.users = state(TABLES.users, c.usersQueue);
    this.torrents = state(TABLES.torrents, c.torrentsQueue);
    this.transferHistory = state(TABLES.transferHistory, c.transferHistoryQueue);
    this.transferIps = state(TABLES.transferIps, c.transferIpsQueue);
    this.snatches = state(TABLES.snatches, c.snatchesQueue);
    this.order = [this.users, this.torrents, this.transferHistory, this.snatches, this.transferIps];
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  // ------------------------------------------------------------ queuing (request path: synchronous, never waits)

  /** Credited and raw bytes for users_main. */
  addUser(userId: number, uploaded: number, downloaded: number, rawUp: number, rawDown: number): boolean {
    const v = this.users.scratch;
    v[0] = userId;
    v[1] = uploaded;
    v[2] = downloaded;
    v[3] = rawUp;
    v[4] = rawDown;
    return this.add(this.users);
  }

  /**
   * A torrent's counts for torrents: `snatched` is added; seeders, leechers
   * and last action (seconds) replace the row's; `unprune` sets Status = 0.
   * `infoHash` is the 20-byte latin1 string requests carry (written as
   * bytes: the column has no default, so the INSERT must name it).
   */
  addTorrent(torrentId: number, infoHash: string, snatched: number, seeders: number, leechers: number, lastAction: number, unprune: boolean): boolean {
    const v = this.torrents.scratch;
    v[0] = torrentId;
    v[1] = infoHash;
    v[2] = snatched;
    v[3] = seeders;
    v[4] = leechers;
    v[5] = lastAction;
    v[6] = unprune ? 0 : 1;
    return this.add(this.torrents);
  }

  /** One peer's announce for transfer_history (times in seconds; deltas are added). */
  addTransferHistory(
    userId: number,
    torrentId: number,
    uploaded: number,
    downloaded: number,
    seeding: boolean,
    seedTime: number,
    activeTime: number,
    remaining: number,
    active: boolean,
    startTime: number,
    lastAnnounce: number,
  ): boolean {
    const v = this.transferHistory.scratch;
    v[0] = userId;
    v[1] = torrentId;
    v[2] = uploaded;
    v[3] = downloaded;
    v[4] = seeding ? 1 : 0;
    v[5] = seedTime;
    v[6] = activeTime;
    v[7] = remaining;
    v[8] = active ? 1 : 0;
    v[9] = startTime;
    v[10] = lastAnnounce;
    return this.add(this.transferHistory);
  }

  /** Traffic from one address and client for transfer_ips (ip: IPv4 as an unsigned integer). */
  addTransferIp(userId: number, torrentId: number, ip: number, clientId: number, uploaded: number, downloaded: number, port: number, startTime: number, lastAnnounce: number): boolean {
    const v = this.transferIps.scratch;
    v[0] = userId;
    v[1] = torrentId;
    v[2] = ip;
    v[3] = clientId;
    v[4] = uploaded;
    v[5] = downloaded;
    v[6] = port;
    v[7] = startTime;
    v[8] = lastAnnounce;
    return this.add(this.transferIps);
  }

  /** A completed download (once per peer: accounting decides). */
  addSnatch(userId: number, torrentId: number, time: number): boolean {
    const v = this.snatches.scratch;
    v[0] = userId;
    v[1] = torrentId;
    v[2] = 1;
    v[3] = time;
    return this.add(this.snatches);
  }

  private add(table: TableState): boolean {
    if (!table.queue.add(table.scratch, this.now())) {
      table.full.inc();
      return false;
    }
    if (table.queue.waiting >= this.options.config.batchRows) this.flushSoon();
    return true;
  }

  // ------------------------------------------------------------ flushing

  /** Flushes every flushSeconds until stop() or drain(). */
  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.flush(), this.options.config.flushSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Writes every row queued now, in batches; concurrent calls share one
   * flush. Resolves true when all of them were written, false when a
   * failure left rows queued. Never rejects.
   */
  flush(): Promise<boolean> {
    this.flushing ??= this.flushAll().then((complete) => {
      this.flushing = null;
      // Rows that filled a batch while this flush ran go now, not at the next tick; after a failure they wait for it.
      if (complete && this.order.some((t) => t.queue.waiting >= this.options.config.batchRows)) this.flushSoon();
      return complete;
    });
    return this.flushing;
  }

  /**
   * Stops the timer and flushes until every queue is empty, the database
   * keeps failing, or `deadlineMs` passes. Resolves with the rows left
   * unwritten (0 = nothing lost).
   */
  async drain(deadlineMs: number): Promise<number> {
    this.stop();
    const until = this.now() + deadlineMs;
    for (;;) {
      if (this.flushing) await this.flushing;
      const complete = await this.flush();
      const left = this.queuedRows();
      if (left === 0 || this.now() >= until) return left;
      if (!complete) await this.sleep(Math.min(1000, Math.max(0, until - this.now())));
    }
  }

  /** kuroneko's purge: history rows whose last announce is older than `cutoff` (seconds) become active = 0. */
  async markInactive(cutoff: number): Promise<number> {
    try {
      const result = await this.options.db.query<{ affectedRows?: number }>(MARK_INACTIVE, [cutoff]);
      return result.affectedRows ?? 0;
    } catch (error) {
      this.transferHistory.failures++;
      this.options.failures.report(error, { what: 'marking stale transfer_history rows inactive; retried at the next purge' });
      return 0;
    }
  }

  queuedRows(): number {
    let rows = 0;
    for (const table of this.order) rows += table.queue.length;
    return rows;
  }

  /** Per-table figures for metrics (PrivateWriterStatsSource). */
  tables(): { table: string; queued: number; rowsWritten: number; retries: number; failures: number; lagSeconds: number }[] {
    const now = this.now();
    return this.order.map((t) => {
      const oldest = t.queue.oldestQueuedAt();
      return {
        table: t.queue.spec.name,
        queued: t.queue.length,
        rowsWritten: t.rowsWritten,
        retries: t.retries,
        failures: t.failures,
        lagSeconds: oldest < 0 ? 0 : Math.max(0, now - oldest) / 1000,
      };
    });
  }

  private flushSoon(): void {
    if (this.soon) return;
    this.soon = true;
    setImmediate(() => {
      this.soon = false;
      void this.flush();
    });
  }

  private async flushAll(): Promise<boolean> {
    const started = this.now();
    try {
      for (const table of this.order) {
        // What was waiting when the flush reached this table: rows queued meanwhile go in the next flush, so a busy tracker cannot keep one flush going forever.
        for (let rows = table.queue.waiting; rows > 0; rows -= this.options.config.batchRows) {
          if (!(await this.writeBatch(table))) return false;
        }
      }
      return true;
    } catch (error) {
      // writeBatch reports database errors itself; this is a bug, but it must not stop the flushing.
      this.options.failures.report(error, { what: 'flush' });
      return false;
    } finally {
      this.lastFlushSeconds = (this.now() - started) / 1000;
      this.flushSecondsTotal += this.lastFlushSeconds;
    }
  }

  /** One statement of at most batchRows rows, retried on deadlocks. Resolves whether it was written. */
  private async writeBatch(table: TableState): Promise<boolean> {
    const { deadlockRetries, deadlockPauseMs, batchRows } = this.options.config;
    const batch = table.queue.take(batchRows);
    const sql = insertStatement(table.queue.spec, batch.length);
    const values = flatten(table.queue.spec, batch);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.db.query(sql, values);
        table.queue.done(batch);
        table.rowsWritten += batch.length;
        return true;
      } catch (error) {
        const errno = sqlErrno(error);
        if ((errno === ER_LOCK_DEADLOCK || errno === ER_LOCK_WAIT_TIMEOUT) && attempt <= deadlockRetries) {
          table.retries++;
          await this.sleep(deadlockPauseMs * attempt);
          continue;
        }
        table.queue.restore(batch);
        table.failures++;
        this.options.failures.report(error, { what: `writing ${table.queue.spec.name}; the rows stay queued`, rows: batch.length, attempts: attempt });
        return false;
      }
    }
  }
}

/** The statement's values; binary columns as Buffers (mysql2 writes those as bytes). */
function flatten(spec: TableSpec, batch: readonly QueuedRow[]): unknown[] {
  const binary = spec.columns.map((c) => c.binary === true);
  const values: unknown[] = [];
  for (const row of batch) {
    for (let i = 0; i < row.values.length; i++) {
      const value = row.values[i];
      values.push(binary[i] && typeof value === 'string' ? Buffer.from(value, 'latin1') : value);
    }
  }
  return values;
}
