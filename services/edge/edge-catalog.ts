/**
 * Private mode on an edge: the catalog copy (users by passkey, registered
 * torrents, approved clients) the passkey hook reads on every announce,
 * loaded from the site's database before the edge listens and reloaded in
 * the background (database.reloadSeconds). The edge is not ready until the
 * first copy loaded; a database that goes down later leaves the last copy
 * in service (tracker_private_catalog_age_seconds grows, reloads are
 * counted as failed, /readyz says since when).
 *
 * Built only when private.enabled: a public edge never opens a pool, so it
 * never loads mysql2 (pool.ts imports it when a pool is opened).
 */
import type { Catalog } from '../../lib/private/catalog/catalog.js';
import { loadCatalog } from '../../lib/private/catalog/loader.js';
import { CatalogReloader } from '../../lib/private/catalog/reloader.js';
import { openDatabasePool } from '../../lib/private/db/pool.js';
import type { Config } from '../../lib/runtime/config.js';
import type { Failures } from '../../lib/runtime/failures.js';
import type { Logger } from '../../lib/runtime/logger.js';
import type { TrackerMetrics } from '../../lib/runtime/metrics.js';

export interface EdgeCatalog {
  /** The copy in use, for the passkey hook. */
  readonly current: () => Catalog;
  /** Readiness gate: ready once a copy loaded; detail never carries a passkey or the password. */
  ready(): boolean;
  detail(): string;
  stop(): Promise<void>;
}

export async function startEdgeCatalog(config: Config, deps: { metrics: TrackerMetrics; failures: Failures; logger: Logger }): Promise<EdgeCatalog> {
  const pool = await openDatabasePool(config.database, deps.failures.for('private-db'));
  const reloader = new CatalogReloader({
    load: (nowSeconds) => loadCatalog(pool, nowSeconds),
    intervalMs: config.database.reloadSeconds * 1000,
    failures: deps.failures.for('private-catalog'),
  });
  deps.metrics.observePrivateCatalog(reloader);
  // A database down at start leaves the edge listening but not ready; the reloader keeps trying.
  if (!(await reloader.start())) deps.logger.warn('private mode: the first catalog load failed; not ready until it succeeds', { detail: reloader.detail() });
  return {
    current: () => reloader.current,
    ready: () => reloader.ready(),
    detail: () => reloader.detail(),
    async stop() {
      reloader.stop();
      await pool.end().catch((error: unknown) => deps.failures.for('private-db').report(error, { what: 'closing the database pool at shutdown' }));
    },
  };
}
