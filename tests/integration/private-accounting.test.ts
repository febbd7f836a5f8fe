/**
 * Private accounting end to end on the swarm side, against a real mariadbd:
 * announces of a seeder and a leecher go through PeerAccounts, the
 * multipliers of the loaded catalog, the writer and the recorder, and the
 * site's tables end up with what the clients reported: credited and raw
 * bytes, transfer history, snatches, un-pruning; with the database stopped
 * in the middle, nothing is lost or counted twice.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCatalog } from '../../lib/private/catalog/loader.js';
import { CatalogReloader } from '../../lib/private/catalog/reloader.js';
import { DatabaseWriter } from '../../lib/private/db/writer.js';
import { EventRecorder } from '../../lib/private/recorder/event-recorder.js';
import { Failures } from '../../lib/runtime/failures.js';
import { silentLogger } from '../../lib/runtime/logger.js';
import { TrackerMetrics } from '../../lib/runtime/metrics.js';
import { AnnounceEvent } from '../../lib/tracker/events.js';
import { PeerAccounts } from '../../services/swarm/accounting/peer-accounts.js';
import { PrivateAccounting, type PrivateAnnounce } from '../../services/swarm/accounting/private-announce.js';
import { skipWithoutMariaDb } from '../support/mariadb-server.js';
import { fixtureHash, startPrivateSite } from '../support/private-site.js';
import { cleanupScope } from '../support/tracker-process.js';

const skip = skipWithoutMariaDb();
type Row = Record<string, number>;

describe('private accounting into MariaDB', { skip }, () => {
  test('a seeder and a leecher: credited and raw bytes, history, snatch, un-prune, event lines; a database outage loses nothing', async (t) => {
    const scope = cleanupScope(t);
    const { db, pool } = await startPrivateSite(scope);
    const dir = mkdtempSync(join(tmpdir(), 'tracker-private-'));
    scope.after(() => rmSync(dir, { recursive: true, force: true }));

    let now = Date.UTC(2026, 11, 2, 12, 0, 0) / 1000;
    const metrics = new TrackerMetrics({ defaultMetrics: false });
    const failures = new Failures(silentLogger, (component) => metrics.internalErrorCounter(component));
    const reloader = new CatalogReloader({ load: (s) => loadCatalog(pool, s), intervalMs: 3_600_000, failures: failures.for('private-catalog') });
    scope.after(() => reloader.stop());
    assert.equal(await reloader.start(), true);
    const writer = new DatabaseWriter({
      db: pool,
      config: { ...db.config(), deadlockPauseMs: 10 },
      failures: failures.for('private-writer'),
      limitCounter: (key) => metrics.limitCounter(key),
    });
    const recorder = new EventRecorder({
      folder: join(dir, 'events'),
      swarm: '',
      maxBufferBytes: 1 << 20,
      failures: failures.for('private-recorder'),
      dropped: metrics.limitCounter('private.recordBufferBytes'),
      now: () => now * 1000,
    });
    const accounting = new PrivateAccounting({ catalog: () => reloader.current, accounts: new PeerAccounts(3900), writer, recorder, now: () => now, inactivitySeconds: 3900 });

    const alice = { userId: 1, userUpMultiplier: 1, userDownMultiplier: 1, hideAddress: false, clientId: 1, peerId: '-qB4650-alicealiceal', endpoint: new Uint8Array([10, 0, 0, 1, 0x1a, 0xe1]) };
    const bob = { userId: 2, userUpMultiplier: 2, userDownMultiplier: 1, hideAddress: false, clientId: 6, peerId: 'A2-1-37-0-bobbobbobb', endpoint: new Uint8Array([10, 0, 0, 2, 0x1a, 0xe2]) };
    const go = (who: typeof alice, torrent: number, over: Partial<PrivateAnnounce>): void => {
      assert.equal(accounting.announce({ ...who, infoHash: fixtureHash(torrent), event: AnnounceEvent.None, uploaded: 0, downloaded: 0, left: 0, seeders: 1, leechers: 1, ...over }), true);
    };

    go(alice, 1, { event: AnnounceEvent.Started, uploaded: 5000 }); // a resumed session: its 5000 are the baseline
    go(bob, 1, { event: AnnounceEvent.Started, left: 1000 });
    go(bob, 2, { event: AnnounceEvent.Started, left: 1000 }); // group freeleech
    go(alice, 5, { event: AnnounceEvent.Started }); // a pruned torrent
    now += 60;
    go(alice, 1, { uploaded: 5600 });
    go(bob, 1, { uploaded: 100, downloaded: 600, left: 400 });
    go(bob, 2, { uploaded: 10, downloaded: 1000, left: 0, event: AnnounceEvent.Completed });
    assert.equal(await writer.flush(), true);

    await db.stop();
    now += 60;
    go(alice, 1, { uploaded: 6000 });
    go(bob, 1, { uploaded: 150, downloaded: 1000, left: 0, event: AnnounceEvent.Completed, seeders: 2, leechers: 0 });
    assert.equal(await writer.flush(), false, 'the database is down');
    now += 60;
    go(bob, 1, { uploaded: 200, downloaded: 1000, left: 0, event: AnnounceEvent.Stopped, seeders: 1, leechers: 0 });
    await db.start();
    assert.equal(await writer.flush(), true);
    assert.equal(writer.queuedRows(), 0);

    const users = await db.query<Row>('SELECT ID, Uploaded, Downloaded, rawup, rawdl FROM users_main WHERE ID IN (1, 2) ORDER BY ID');
    assert.deepEqual(users.map((r) => ({ ...r })), [
      { ID: 1, Uploaded: 1000, Downloaded: 0, rawup: 1000, rawdl: 0 },
      // torrent 1: up 200 raw x2, down 1000; torrent 2 (group freeleech): up 10 x2, down 1000 raw, 0 credited
      { ID: 2, Uploaded: 420, Downloaded: 1000, rawup: 210, rawdl: 2000 },
    ]);
    const history = await db.query<Row>('SELECT uid, fid, uploaded, downloaded, seeding, seedtime, activetime, remaining, active, snatched, starttime FROM transfer_history WHERE fid IN (1, 2) ORDER BY uid, fid');
    const start = Date.UTC(2026, 11, 2, 12, 0, 0) / 1000;
    assert.deepEqual(history.map((r) => ({ ...r })), [
      { uid: 1, fid: 1, uploaded: 1000, downloaded: 0, seeding: 1, seedtime: 120, activetime: 120, remaining: 0, active: 1, snatched: 0, starttime: start },
      { uid: 2, fid: 1, uploaded: 200, downloaded: 1000, seeding: 1, seedtime: 60, activetime: 180, remaining: 0, active: 0, snatched: 1, starttime: start },
      { uid: 2, fid: 2, uploaded: 10, downloaded: 1000, seeding: 1, seedtime: 0, activetime: 60, remaining: 0, active: 1, snatched: 1, starttime: start },
    ]);
    const [ip] = await db.query<Row>('SELECT ip, client_id, uploaded, port FROM transfer_ips WHERE uid = 1 AND fid = 1');
    assert.deepEqual({ ...ip }, { ip: 0x0a000001, client_id: 1, uploaded: 1000, port: 0x1ae1 });
    const torrents = await db.query<Row>('SELECT ID, Snatched, Seeders, Leechers, Status FROM torrents WHERE ID IN (1, 5) ORDER BY ID');
    assert.deepEqual(torrents.map((r) => ({ ...r })), [
      { ID: 1, Snatched: 1, Seeders: 1, Leechers: 0, Status: 0 },
      { ID: 5, Snatched: 0, Seeders: 1, Leechers: 1, Status: 0 },
    ], 'a seeder un-pruned torrent 5');

    await recorder.close();
    const [file] = readdirSync(join(dir, 'events'));
    assert.equal(file, 'events_2026-12-02T12.json');
    const lines = readFileSync(join(dir, 'events', file), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    assert.equal(lines.length, 10, 'one line per announce, the outage included');
    assert.deepEqual(lines[8], [1, 2, '10.0.0.2', 0x1ae2, 'completed', 1, 50, 400, 150, 1000, 0]);
  });
});
