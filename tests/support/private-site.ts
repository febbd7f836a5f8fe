/**
 * A private site's database for one test: a throwaway mariadbd with
 * db/schema.sql and db/fixtures.sql loaded and a pool open on it, both
 * closed when the test ends, and the info-hashes of the fixture torrents.
 */
import { createHash } from 'node:crypto';
import { openDatabasePool, type DatabasePool } from '../../lib/private/db/pool.js';
import { startMariaDb, type MariaDbServer } from './mariadb-server.js';
import { cleanupScope, type CleanupContext } from './tracker-process.js';

export interface PrivateSite {
  db: MariaDbServer;
  pool: DatabasePool;
}

/** Starts the site's database; the pool ends, then the server stops, when `t` cleans up. */
export async function startPrivateSite(t: CleanupContext): Promise<PrivateSite> {
  const scope = cleanupScope(t);
  const db = await startMariaDb(scope);
  db.loadSchema();
  db.loadFixtures();
  const pool = await openDatabasePool(db.config());
  scope.after(() => pool.end().catch(() => {}));
  return { db, pool };
}

/** A fixture torrent's info-hash (db/fixtures.sql: SHA-1 of its name) as the latin1 string requests carry. */
export function fixtureHash(n: number): string {
  return createHash('sha1').update(`fixture torrent ${n}`).digest().toString('latin1');
}
