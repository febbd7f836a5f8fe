/**
 * (d) Access list in allow mode: a torrent that is not on the list is refused
 * over HTTP (`failure reason`) and UDP (error action 3), so its peers never
 * learn about each other. Bounded by the refusals themselves (a few seconds),
 * not by waiting for a download that never comes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startLibtorrent, type LibtorrentClient } from '../support/clients/libtorrent.js';
import { describeReply, httpAnnounce, udpAnnounce } from '../support/clients/raw-tracker.js';
import { createTorrent, makeTempDir, MiB, sha256File } from '../support/torrent.js';
import { cleanupScope, startTracker } from '../support/tracker-process.js';

test('allow list without the torrent: announces fail over HTTP and UDP and the leecher never gets peers', { timeout: 45_000 }, async (t) => {
  const scope = cleanupScope(t);
  const seedDir = await makeTempDir(scope, 'acl-seed');
  const leechDir = await makeTempDir(scope, 'acl-leech');
  const workDir = await makeTempDir(scope, 'acl-work');

  // The listed torrent is the positive control: same tracker, same clients' protocols, accepted.
  const listedHash = randomBytes(20);
  const listFile = join(workDir, 'allow.txt');
  await writeFile(listFile, `# e2e allow list\n${listedHash.toString('hex')}\n`);
  const tracker = await startTracker(scope, { host: '127.0.0.1', accessList: { mode: 'allow', file: listFile } });

  const httpUrl = tracker.httpAnnounceUrl(4);
  const udpUrl = tracker.udpAnnounceUrl(4);
  const torrent = await createTorrent({ dir: seedDir, announce: httpUrl, announceList: [[httpUrl], [udpUrl]], size: 2 * MiB + 12_345 });
  assert.notEqual(torrent.infoHashHex, listedHash.toString('hex'));

  // Asked directly, the tracker refuses the unlisted torrent on both protocols...
  const httpRefusal = await httpAnnounce(httpUrl, { infoHash: torrent.infoHash, port: 6881, left: 0, event: 'started' });
  assert.ok(httpRefusal.failure, `HTTP announce of an unlisted torrent was not refused: ${describeReply(httpRefusal.raw)}`);
  assert.deepEqual(httpRefusal.peers, []);
  const udpRefusal = await udpAnnounce(udpUrl, { infoHash: torrent.infoHash, port: 6881, left: 0, event: 'started' });
  assert.ok(udpRefusal.failure, `UDP announce of an unlisted torrent was not refused (got ${describeReply(udpRefusal)})`);
  // ...and serves the listed one.
  const httpAccepted = await httpAnnounce(httpUrl, { infoHash: listedHash, port: 6881, left: 0, event: 'started' });
  assert.equal(httpAccepted.failure, undefined, `HTTP announce of the listed torrent failed: ${httpAccepted.failure}`);
  const udpAccepted = await udpAnnounce(udpUrl, { infoHash: listedHash, port: 6882, left: 1, event: 'started' });
  assert.equal(udpAccepted.failure, undefined, `UDP announce of the listed torrent failed: ${udpAccepted.failure}`);
  assert.ok(udpAccepted.peers.includes('127.0.0.1:6881'), `the listed swarm should hold the HTTP peer: ${JSON.stringify(udpAccepted.peers)}`);

  // Real clients: a seeder and a leecher of the unlisted torrent, announcing to both URLs.
  const refusedOnBoth = async (client: LibtorrentClient): Promise<void> => {
    for (const url of [httpUrl, udpUrl]) {
      const error = await client.waitForEvent((e) => e.event === 'tracker_error' && e.url === url, 8_000, `a tracker error from ${url}`);
      assert.ok(error.failure_reason || error.message, `empty tracker error from ${url}: ${JSON.stringify(error)}`);
    }
  };
  const seeder = await startLibtorrent(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, bindAddress: '127.0.0.1' });
  await refusedOnBoth(seeder);
  const leecher = await startLibtorrent(scope, 'leech', { torrentPath: torrent.torrentPath, dir: leechDir, bindAddress: '127.0.0.1', deadlineMs: 30_000 });
  await refusedOnBoth(leecher);

  for (const client of [seeder, leecher]) {
    const withPeers = client.events.filter((e) => e.event === 'tracker_reply' && (e.num_peers ?? 0) > 0);
    assert.deepEqual(withPeers, [], await client.proc.describe(`${client.proc.name} got peers from a tracker that should refuse the torrent`));
  }
  const connections = leecher.events.filter((e) => e.event === 'peer_connect');
  assert.deepEqual(connections, [], await leecher.proc.describe('the leecher connected to a peer'));
  await leecher.stop();
  await seeder.stop();

  const payload = join(leechDir, torrent.name);
  const present = await access(payload).then(() => true, () => false);
  if (present) assert.notEqual(await sha256File(payload), torrent.sha256, 'the leecher has the whole file: it found the seeder');

  await tracker.stop({ expectCleanExit: true });
});
