/**
 * (b) Real transfers through our UDP tracker (BEP 15) on 127.0.0.1.
 *
 * - rtorrent -> rtorrent: both announce only to udp://127.0.0.1:<port> (no
 *   DHT/PEX). The seeder binds 127.0.0.2, so the tracker must record each
 *   peer under its packet's source address (and the leecher dials it there).
 * - libtorrent -> aria2c: a second pair of UDP tracker implementations; aria2c
 *   reaches udp:// trackers through an isolated DHT socket (empty routing
 *   table, no entry point), and its log proves the UDP announce happened.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAria2 } from '../support/clients/aria2.js';
import { startLibtorrent } from '../support/clients/libtorrent.js';
import { udpAnnounce } from '../support/clients/raw-tracker.js';
import { startRtorrent } from '../support/clients/rtorrent.js';
import { createTorrent, makeTempDir, sha256File } from '../support/torrent.js';
import { cleanupScope, startTracker } from '../support/tracker-process.js';

test('rtorrent seeder (127.0.0.2) -> rtorrent leecher (127.0.0.1) through the UDP tracker', { timeout: 60_000 }, async (t) => {
  const scope = cleanupScope(t);
  const tracker = await startTracker(scope, { host: '127.0.0.1' });
  const seedDir = await makeTempDir(scope, 'udp4-rt-seed');
  const leechDir = await makeTempDir(scope, 'udp4-rt-leech');
  const workDir = await makeTempDir(scope, 'udp4-rt-work');
  const torrent = await createTorrent({ dir: seedDir, announce: tracker.udpAnnounceUrl(4) });

  const seeder = await startRtorrent(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, workDir, bindAddress: '127.0.0.2' });
  await seeder.waitForTrackerResponse(15_000);

  const leecher = await startRtorrent(scope, 'leech', { torrentPath: torrent.torrentPath, dir: leechDir, workDir, bindAddress: '127.0.0.1' });
  const reply = await leecher.waitForTrackerResponse(15_000);
  assert.match(reply, /received [1-9]\d* peers/, await leecher.proc.describe('the UDP tracker gave the leecher no peers'));
  await leecher.waitForDownload(40_000);

  assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');

  // The tracker recorded the seeder under its packet source address and announced port.
  const probe = await udpAnnounce(tracker.udpAnnounceUrl(4), { infoHash: torrent.infoHash, port: 9, left: 1, event: 'started' });
  assert.equal(probe.failure, undefined);
  assert.ok(probe.peers.includes(`127.0.0.2:${seeder.listenPort}`), `seeder 127.0.0.2:${seeder.listenPort} missing from ${JSON.stringify(probe.peers)}`);

  await leecher.stop();
  await seeder.stop();
  await tracker.stop({ expectCleanExit: true });
});

test('libtorrent seeder -> aria2c leecher through the UDP tracker', { timeout: 60_000 }, async (t) => {
  const scope = cleanupScope(t);
  const tracker = await startTracker(scope, { host: '127.0.0.1' });
  const seedDir = await makeTempDir(scope, 'udp4-mix-seed');
  const leechDir = await makeTempDir(scope, 'udp4-mix-leech');
  const workDir = await makeTempDir(scope, 'udp4-mix-work');
  const torrent = await createTorrent({ dir: seedDir, announce: tracker.udpAnnounceUrl(4) });

  const seeder = await startLibtorrent(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, bindAddress: '127.0.0.1' });
  await seeder.waitForTrackerResponse(15_000);

  const leecher = await startAria2(scope, 'leech', {
    torrentPath: torrent.torrentPath,
    dir: leechDir,
    workDir,
    bindAddress: '127.0.0.1',
    udpTrackers: true,
  });
  await leecher.waitForDownload(40_000);

  assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');
  const leecherLog = await readFile(leecher.logFile, 'utf8');
  assert.match(leecherLog, /UDPT received ANNOUNCE reply from 127\.0\.0\.1:\d+ .*num_peers=[1-9]/, await leecher.proc.describe('no UDP announce reply with peers in the aria2c log'));
  assert.ok(
    leecherLog.includes(`Connecting to 127.0.0.1:${seeder.listenPort}`),
    await leecher.proc.describe(`the leecher never connected to the seeder at 127.0.0.1:${seeder.listenPort}`),
  );

  await seeder.stop();
  await tracker.stop({ expectCleanExit: true });
});
