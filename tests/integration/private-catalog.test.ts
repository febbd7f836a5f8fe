/**
 * Private mode's catalog against a real mariadbd: what is loaded from the
 * site's tables (db/schema.sql + db/fixtures.sql), that a reload picks up
 * changes and swaps them in whole, and that a database outage keeps the last
 * copy in service, visibly, until the database is back.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NOT_FOUND } from '../../lib/private/catalog/catalog.js';
import { loadCatalog } from '../../lib/private/catalog/loader.js';
import { CatalogReloader } from '../../lib/private/catalog/reloader.js';
import { openDatabasePool, type DatabasePool } from '../../lib/private/db/pool.js';
import { Failures } from '../../lib/runtime/failures.js';
import { silentLogger } from '../../lib/runtime/logger.js';
import { TrackerMetrics } from '../../lib/runtime/metrics.js';
import { skipWithoutMariaDb } from '../support/mariadb-server.js';
import { fixtureHash, startPrivateSite } from '../support/private-site.js';

const skip = skipWithoutMariaDb();

function reloaderFor(pool: DatabasePool, now: () => number = Date.now) {
  const metrics = new TrackerMetrics({ defaultMetrics: false });
  const failures = new Failures(silentLogger, (component) => metrics.internalErrorCounter(component));
  const reloader = new CatalogReloader({ load: (seconds) => loadCatalog(pool, seconds), intervalMs: 3_600_000, failures: failures.for('private-catalog'), now });
  metrics.observePrivateCatalog(reloader);
  return { reloader, metrics };
}

describe('private catalog (MariaDB)', { skip }, () => {
  test('loads users, torrents with group multipliers, approved clients and global freeleech', async (t) => {
    const { db, pool } = await startPrivateSite(t);
    const catalog = await loadCatalog(pool, 1000);
    assert.equal(catalog.users, 4, 'Enabled = 1 users only (dave is disabled)');
    assert.equal(catalog.torrents, 5);

    const alice = catalog.user('alice000000000000000000000000001');
    assert.notEqual(alice, NOT_FOUND);
    assert.equal(catalog.userId(alice), 1);
    assert.equal(catalog.userCanLeech(alice), true);
    assert.equal(catalog.userHidesAddress(alice), false);
    const bob = catalog.user('bob00000000000000000000000000002');
    assert.equal(catalog.userUpMultiplier(bob), 2);
    assert.equal(catalog.userCanLeech(catalog.user('carol000000000000000000000000003')), false);
    assert.equal(catalog.user('dave0000000000000000000000000004'), NOT_FOUND);
    const eve = catalog.user('eve00000000000000000000000000005');
    assert.equal(catalog.userDownMultiplier(eve), 0.5);
    assert.equal(catalog.userHidesAddress(eve), true);
    assert.equal(catalog.user('nobody00000000000000000000000000'), NOT_FOUND);

    const t1 = catalog.torrent(fixtureHash(1));
    assert.equal(catalog.torrentId(t1), 1);
    assert.equal(catalog.torrentDownMultiplier(t1), 1);
    assert.equal(catalog.torrentDownMultiplier(catalog.torrent(fixtureHash(2))), 0, 'group freeleech');
    assert.equal(catalog.torrentDownMultiplier(catalog.torrent(fixtureHash(3))), 0, 'torrent freeleech');
    assert.equal(catalog.torrentUpMultiplier(catalog.torrent(fixtureHash(4))), 2);
    assert.equal(catalog.torrentPruned(catalog.torrent(fixtureHash(5))), true);
    assert.equal(catalog.torrentPruned(t1), false);
    assert.equal(catalog.torrent('x'.repeat(20)), NOT_FOUND);

    assert.equal(catalog.client('-qB4650-abcdefghijkl'), 1);
    assert.equal(catalog.client('A2-1-37-0-abcdefghij'), 6);
    assert.equal(catalog.client('-UT3550-abcdefghijkl'), NOT_FOUND, 'archived clients are not approved');
    assert.equal(catalog.client('-XX0000-abcdefghijkl'), NOT_FOUND);
    await pool.query("INSERT INTO approved_clients (id, peer_id) VALUES (9, '-qB46')");
    assert.equal((await loadCatalog(pool, 1001)).client('-qB4650-abcdefghijkl'), 9, 'the longest matching prefix names the client');

    assert.equal(catalog.globalFreeleech, false);
    db.rootSql("UPDATE mod_core SET mod_setting = 1 WHERE mod_option = 'global_freeleech'", db.database);
    const freeleech = await loadCatalog(pool, 1002);
    assert.equal(freeleech.globalFreeleech, true);
    assert.equal(freeleech.torrentDownMultiplier(freeleech.torrent(fixtureHash(1))), 0, 'global freeleech: no download counts');
    assert.equal(freeleech.torrentUpMultiplier(freeleech.torrent(fixtureHash(1))), 1, 'upload still counts');
  });

  test('a reload picks up changes and swaps them in whole', async (t) => {
    const { db, pool } = await startPrivateSite(t);
    const { reloader } = reloaderFor(pool);
    t.after(() => reloader.stop());
    assert.equal(reloader.ready(), false);
    assert.equal(await reloader.start(), true);
    assert.equal(reloader.ready(), true);
    const before = reloader.current;
    assert.equal(before.user('frank000000000000000000000000006'), NOT_FOUND);

    // A user and a torrent added in one transaction: a reader must see both or neither.
    db.rootSql(
      [
        'START TRANSACTION;',
        "INSERT INTO users_main (ID, Enabled, torrent_pass) VALUES (6, '1', 'frank000000000000000000000000006');",
        "INSERT INTO torrents (ID, GroupID, info_hash) VALUES (6, 6, UNHEX(SHA1('fixture torrent 6')));",
        'COMMIT;',
      ].join('\n'),
      db.database,
    );

    const seen = new Set<string>();
    let sampling = true;
    const sample = (): void => {
      const c = reloader.current;
      seen.add(`${c.user('frank000000000000000000000000006') !== NOT_FOUND}/${c.torrent(fixtureHash(6)) !== NOT_FOUND}`);
      if (sampling) setImmediate(sample);
    };
    sample();
    const reloading = reloader.reloadNow();
    assert.equal(reloader.current, before, 'the old copy serves while the reload runs');
    assert.equal(await reloading, true);
    sampling = false;
    sample();
    const after = reloader.current;
    assert.notEqual(after, before);
    assert.notEqual(after.user('frank000000000000000000000000006'), NOT_FOUND);
    assert.notEqual(after.torrent(fixtureHash(6)), NOT_FOUND);
    assert.equal(before.user('frank000000000000000000000000006'), NOT_FOUND, 'the old copy never changes');
    assert.deepEqual([...seen].sort(), ['false/false', 'true/true'], 'readers saw the old copy or the new one, never a mix');
  });

  test('database stopped: the last copy is served and metrics say so; started: reloads resume', async (t) => {
    const { db, pool } = await startPrivateSite(t);
    let now = 1_000_000;
    const { reloader, metrics } = reloaderFor(pool, () => now);
    t.after(() => reloader.stop());
    assert.equal(await reloader.start(), true);
    const loaded = reloader.current;
    assert.match(reloader.detail(), /^catalog: 4 users, 5 torrents, 6 approved clients, loaded 0 s ago$/);

    await db.stop();
    now += 120_000;
    assert.equal(await reloader.reloadNow(), false);
    assert.equal(reloader.current, loaded, 'the last copy stays in service');
    assert.notEqual(reloader.current.user('alice000000000000000000000000001'), NOT_FOUND);
    assert.equal(reloader.ready(), true, 'a tracker that loaded once stays ready');
    assert.match(reloader.detail(), /reloads failing for \d+ s \(.+\); serving the copy loaded 120 s ago/);
    let text = (await metrics.render()).body;
    assert.match(text, /tracker_private_catalog_reloads_total\{result="failed"\} 1/);
    assert.match(text, /tracker_private_catalog_age_seconds 120/);
    assert.match(text, /tracker_internal_errors_total\{component="private-catalog"\} 1/);
    assert.match(text, /tracker_private_catalog_entries\{kind="users"\} 4/);

    await db.start();
    db.rootSql("UPDATE users_main SET Enabled = '0' WHERE ID = 1", db.database);
    now += 1000;
    assert.equal(await reloader.reloadNow(), true);
    assert.equal(reloader.current.user('alice000000000000000000000000001'), NOT_FOUND, 'the reload after the outage sees the change');
    text = (await metrics.render()).body;
    assert.match(text, /tracker_private_catalog_reloads_total\{result="ok"\} 2/);
    assert.match(text, /tracker_private_catalog_age_seconds 0/);
    assert.match(reloader.detail(), /^catalog: 3 users/);
  });

  test('a tracker that never loaded is not ready, and says why', async (t) => {
    const { db } = await startPrivateSite(t);
    const pool = await openDatabasePool(db.config({ password: 'wrong-password' }));
    t.after(() => pool.end().catch(() => {}));
    const { reloader } = reloaderFor(pool);
    t.after(() => reloader.stop());
    assert.equal(await reloader.start(), false);
    assert.equal(reloader.ready(), false);
    assert.match(reloader.detail(), /^catalog: never loaded \(1 attempts failed, last: ER_ACCESS_DENIED_ERROR/);
    assert.ok(!reloader.detail().includes('wrong-password'), 'the password is never shown');
  });
});
