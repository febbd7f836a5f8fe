/**
 * (c) Real transfers over IPv6 loopback: the tracker listens dual-stack
 * (--host=::) and the torrents name http://[::1]:<port>/announce or
 * udp://[::1]:<port>/announce. Every peer binds ::1, so the tracker must store
 * IPv6 endpoints and hand them out as `peers6` (HTTP) / 18-byte peers (UDP).
 *
 * Client support here: aria2c does HTTP over IPv6 but sends UDP tracker
 * requests only over IPv4; rtorrent 0.9.8 is IPv4-only; Transmission 3.00
 * drops loopback peers. libtorrent-rasterbar does UDP over IPv6.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAria2 } from '../support/clients/aria2.js';
import { startLibtorrent } from '../support/clients/libtorrent.js';
import { httpAnnounce, udpAnnounce } from '../support/clients/raw-tracker.js';
import { createTorrent, makeTempDir, sha256File } from '../support/torrent.js';
import { cleanupScope, startTracker } from '../support/tracker-process.js';

test('aria2c seeder -> aria2c leecher through the HTTP tracker at http://[::1]', { timeout: 60_000 }, async (t) => {
  const scope = cleanupScope(t);
  const tracker = await startTracker(scope, { host: '::' });
  const seedDir = await makeTempDir(scope, 'http6-seed');
  const leechDir = await makeTempDir(scope, 'http6-leech');
  const workDir = await makeTempDir(scope, 'http6-work');
  const torrent = await createTorrent({ dir: seedDir, announce: tracker.httpAnnounceUrl(6) });

  const seeder = await startAria2(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, workDir, bindAddress: '::1' });
  await seeder.waitForTrackerResponse(15_000);

  const leecher = await startAria2(scope, 'leech', { torrentPath: torrent.torrentPath, dir: leechDir, workDir, bindAddress: '::1' });
  await leecher.waitForDownload(40_000);

  assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');
  const leecherLog = await readFile(leecher.logFile, 'utf8');
  assert.ok(
    leecherLog.includes(`Connecting to ::1:${seeder.listenPort}`),
    await leecher.proc.describe(`the leecher never connected to the seeder at [::1]:${seeder.listenPort}`),
  );

  // Asked over IPv6, the tracker lists the seeder as an IPv6 peer (peers6).
  const probe = await httpAnnounce(tracker.httpAnnounceUrl(6), { infoHash: torrent.infoHash, port: 9, left: 1, event: 'started' });
  assert.equal(probe.failure, undefined);
  assert.ok(probe.peers.includes(`[::1]:${seeder.listenPort}`), `seeder [::1]:${seeder.listenPort} missing from ${JSON.stringify(probe.peers)}`);

  await seeder.stop();
  await tracker.stop({ expectCleanExit: true });
});

test('libtorrent seeder -> libtorrent leecher through the UDP tracker at udp://[::1]', { timeout: 60_000 }, async (t) => {
  const scope = cleanupScope(t);
  const tracker = await startTracker(scope, { host: '::' });
  const seedDir = await makeTempDir(scope, 'udp6-seed');
  const leechDir = await makeTempDir(scope, 'udp6-leech');
  const torrent = await createTorrent({ dir: seedDir, announce: tracker.udpAnnounceUrl(6) });

  const seeder = await startLibtorrent(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, bindAddress: '::1' });
  await seeder.waitForTrackerResponse(15_000);

  const leecher = await startLibtorrent(scope, 'leech', { torrentPath: torrent.torrentPath, dir: leechDir, bindAddress: '::1', deadlineMs: 40_000 });
  const reply = await leecher.waitForEvent((e) => e.event === 'tracker_reply', 15_000, 'a tracker reply');
  assert.ok((reply.num_peers ?? 0) >= 1, await leecher.proc.describe(`the UDP tracker gave the leecher no peers: ${JSON.stringify(reply)}`));
  await leecher.waitForDownload(40_000);

  assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');
  const dialled = leecher.events.some(
    (e) => e.event === 'peer_connect' && String(e.message).includes(`[::1]:${seeder.listenPort}`),
  );
  assert.ok(dialled, await leecher.proc.describe(`the leecher never connected to the seeder at [::1]:${seeder.listenPort}`));

  // Asked over IPv6, the tracker answers with 18-byte peers including the seeder.
  const probe = await udpAnnounce(tracker.udpAnnounceUrl(6), { infoHash: torrent.infoHash, port: 9, left: 1, event: 'started' });
  assert.equal(probe.failure, undefined);
  assert.ok(probe.peers.includes(`[::1]:${seeder.listenPort}`), `seeder [::1]:${seeder.listenPort} missing from ${JSON.stringify(probe.peers)}`);

  await seeder.stop();
  await tracker.stop({ expectCleanExit: true });
});
