/**
 * (a) A real transfer through our HTTP tracker: an aria2c seeder and an aria2c
 * leecher on 127.0.0.1 find each other only through the tracker (DHT, PEX and
 * LPD are off), and the downloaded file is byte-identical to the original.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAria2 } from '../support/clients/aria2.js';
import { httpAnnounce } from '../support/clients/raw-tracker.js';
import { createTorrent, makeTempDir, sha256File } from '../support/torrent.js';
import { cleanupScope, startTracker } from '../support/tracker-process.js';

test('aria2c seeder -> aria2c leecher through the HTTP tracker on 127.0.0.1', { timeout: 60_000 }, async (t) => {
  const scope = cleanupScope(t);
  const tracker = await startTracker(scope, { host: '127.0.0.1' });
  const seedDir = await makeTempDir(scope, 'http4-seed');
  const leechDir = await makeTempDir(scope, 'http4-leech');
  const workDir = await makeTempDir(scope, 'http4-work');
  const torrent = await createTorrent({ dir: seedDir, announce: tracker.httpAnnounceUrl(4) });

  const seeder = await startAria2(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, workDir, bindAddress: '127.0.0.1' });
  await seeder.waitForTrackerResponse(15_000);

  const leecher = await startAria2(scope, 'leech', { torrentPath: torrent.torrentPath, dir: leechDir, workDir, bindAddress: '127.0.0.1' });
  await leecher.waitForDownload(40_000);

  assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');
  // The leecher dialled the seeder's announced endpoint: it came from the tracker.
  const leecherLog = await readFile(leecher.logFile, 'utf8');
  assert.ok(
    leecherLog.includes(`Connecting to 127.0.0.1:${seeder.listenPort}`),
    await leecher.proc.describe(`the leecher never connected to the seeder at 127.0.0.1:${seeder.listenPort}`),
  );

  // The tracker still lists the seeder, with the port it announced.
  const probe = await httpAnnounce(tracker.httpAnnounceUrl(4), { infoHash: torrent.infoHash, port: 9, left: 1, event: 'started' });
  assert.equal(probe.failure, undefined);
  assert.ok(probe.peers.includes(`127.0.0.1:${seeder.listenPort}`), `seeder missing from ${JSON.stringify(probe.peers)}`);
  assert.ok((probe.complete ?? 0) >= 1, `expected at least one seeder, got complete=${probe.complete}`);

  await seeder.stop();
  await tracker.stop({ expectCleanExit: true });
});
