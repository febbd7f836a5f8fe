/**
 * The private-mode half of a swarm process (or of all-in-one): the database
 * pool, the catalog (torrent ids, multipliers, pruned status), the writer
 * that flushes accounted rows, the event recorder when it is on, and the
 * PrivateAccounting that the swarm calls per private announce. Built only
 * when `private.enabled`: a public tracker never reaches this file, so it
 * never loads mysql2 (pool.ts imports it when a pool is opened).
 *
 * Lifecycle: `startPrivateSwarm()` opens everything and waits for the first
 * catalog load (a database that is down leaves the process not ready, and
 * the reloader keeps trying); `stop()` comes after the last reply and after
 * handoff, and writes every queued row within the deadline.
 */
import { loadCatalog } from '../../../lib/private/catalog/loader.js';
import { CatalogReloader } from '../../../lib/private/catalog/reloader.js';
import { openDatabasePool, type DatabasePool } from '../../../lib/private/db/pool.js';
import { DatabaseWriter } from '../../../lib/private/db/writer.js';
import { EventRecorder } from '../../../lib/private/recorder/event-recorder.js';
import type { Config } from '../../../lib/runtime/config.js';
import type { Failures } from '../../../lib/runtime/failures.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import type { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import { PeerAccounts } from './peer-accounts.js';
import { PrivateAccounting } from './private-announce.js';

/** kuroneko marks transfer_history rows of silent peers inactive this often. */
export const MARK_INACTIVE_INTERVAL_MS = 120_000;

export interface PrivateSwarm {
  readonly accounting: PrivateAccounting;
  readonly accounts: PeerAccounts;
  readonly reloader: CatalogReloader;
  readonly writer: DatabaseWriter;
  readonly recorder: EventRecorder | null;
  /** Ready once the first catalog copy was loaded. */
  ready(): boolean;
  /** One line for the readiness detail (never a passkey or the password). */
  detail(): string;
  /** After the last reply: stops reloading and purging, writes every queued row (bounded by `deadlineMs`), closes the recorder and the pool. Resolves with the rows left unwritten. */
  stop(deadlineMs: number): Promise<number>;
}

export interface PrivateSwarmContext {
  metrics: TrackerMetrics;
  failures: Failures;
  logger: Logger;
  /** node.name in a cluster (the recorder's file names carry it); "" in all-in-one. */
  swarmName: string;
  /** Seconds clock. Default Date.now() / 1000. */
  now?: () => number;
}

export async function startPrivateSwarm(config: Config, context: PrivateSwarmContext): Promise<PrivateSwarm> {
  const { metrics, failures, logger } = context;
  const now = context.now ?? (() => Date.now() / 1000);
  const p = config.private;
  const pool: DatabasePool = await openDatabasePool(config.database, failures.for('private-db'));
  const reloader = new CatalogReloader({ load: (s) => loadCatalog(pool, s), intervalMs: config.database.reloadSeconds * 1000, failures: failures.for('private-catalog') });
  const writer = new DatabaseWriter({ db: pool, config: config.database, failures: failures.for('private-writer'), limitCounter: (key) => metrics.limitCounter(key) });
  const recorder = p.recordEvents
    ? new EventRecorder({
        folder: p.recordFolder,
        swarm: context.swarmName,
        maxBufferBytes: p.recordBufferBytes,
        failures: failures.for('private-recorder'),
        dropped: metrics.limitCounter('private.recordBufferBytes'),
      })
    : null;
  const accounts = new PeerAccounts(p.peerInactivitySeconds);
  const accounting = new PrivateAccounting({ catalog: () => reloader.current, accounts, writer, recorder, now, inactivitySeconds: p.peerInactivitySeconds });
  metrics.observePrivateCatalog(reloader);
  metrics.observePrivateWriter(writer);
  if (recorder) metrics.observePrivateRecorder(recorder);
  metrics.observePrivateAccounts(accounting);

  if (!(await reloader.start())) logger.warn('private mode: the first catalog load failed; not ready until it succeeds', { detail: reloader.detail() });
  writer.start();
  // markInactive reports its own failures to the writer's sink and resolves.
  const markTimer = setInterval(() => void accounting.markInactive(), MARK_INACTIVE_INTERVAL_MS);
  markTimer.unref();

  return {
    accounting,
    accounts,
    reloader,
    writer,
    recorder,
    ready: () => reloader.ready(),
    detail: () => reloader.detail(),
    async stop(deadlineMs) {
      clearInterval(markTimer);
      reloader.stop();
      const left = await writer.drain(deadlineMs);
      if (left > 0) logger.error('private mode: rows left unwritten at shutdown (the database did not take them within the deadline)', { rows: left, deadlineMs });
      await recorder?.close();
      await pool.end().catch((error: unknown) => failures.for('private-db').report(error, { what: 'closing the database pool at shutdown' }));
      return left;
    },
  };
}
