/**
 * A BEP 21 partial seed over udp://, all-in-one and across a cluster.
 *
 * A user who deselects files of a torrent (file priority 0) ends up with a
 * client that is finished but not a seed. libtorrent (so qBittorrent and
 * Deluge) then sends event=paused in every announce: 4 in a BEP 15 announce.
 * A tracker that answers "invalid event" to that loses the client for as long
 * as it stays a partial seed. Here a libtorrent client selects one of two
 * files, downloads it from a libtorrent seeder, re-announces as a partial seed
 * (its alerts show event 4 going out) and must get an ordinary reply:
 *
 *   - libtorrent reports a tracker reply, not a tracker error, to that announce;
 *   - the tracker counts it under tracker_requests_total{result="ok"}, and
 *     no UDP announce under result="error";
 *   - the tracker still lists the partial seed as a peer of the torrent;
 *   - the selected file arrived byte for byte, the other one did not.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startLibtorrent } from '../support/clients/libtorrent.js';
import { udpAnnounce } from '../support/clients/raw-tracker.js';
import { metricIn, metricsText, startCluster } from '../support/cluster.js';
import { createMultiFileTorrent, makeTempDir, MiB, sha256File, writeTorrentVariant } from '../support/torrent.js';
import { cleanupScope, startTracker, type CleanupContext } from '../support/tracker-process.js';

/** BEP 15 announce event 4: BEP 21's "paused", a partial seed. */
const EVENT_PAUSED = 4;

interface Sides {
  /** udp:// announce URL of the seeder's tracker, and of the partial seed's. */
  seedUrl: string;
  leechUrl: string;
  /** Metrics text of the process that answers the partial seed. */
  leechMetrics(): Promise<string>;
  describe(message: string): string;
}

function udpAnnounces(metrics: string): { ok: number; error: number } {
  const count = (result: string): number => metricIn(metrics, 'tracker_requests_total', { protocol: 'udp', action: 'announce', result }) ?? 0;
  return { ok: count('ok'), error: count('error') };
}

async function partialSeedScenario(scope: CleanupContext, sides: Sides, diagnostic: (message: string) => void): Promise<void> {
  const seedDir = await makeTempDir(scope, 'partial-seed');
  const leechDir = await makeTempDir(scope, 'partial-leech');
  const workDir = await makeTempDir(scope, 'partial-work');
  // Several whole pieces of the second file lie beyond the first file's last piece:
  // without them the partial seed is finished but not a seed.
  const torrent = await createMultiFileTorrent({ dir: seedDir, announce: sides.seedUrl, fileSizes: [3 * MiB + 12_345, 2 * MiB + 54_321] });
  const [wanted, skipped] = torrent.files as [(typeof torrent.files)[0], (typeof torrent.files)[0]];
  const leechTorrent = await writeTorrentVariant(torrent, join(workDir, 'partial.torrent'), sides.leechUrl);

  const seeder = await startLibtorrent(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir });
  await seeder.waitForTrackerResponse(15_000);
  const before = udpAnnounces(await sides.leechMetrics());

  const partial = await startLibtorrent(scope, 'partial-seed', { torrentPath: leechTorrent, dir: leechDir, filePriorities: [1, 0], deadlineMs: 60_000 });
  await partial.waitForEvent((e) => e.event === 'finished', 30_000, 'the selected file to finish').catch((error: Error) => {
    throw new Error(sides.describe(error.message));
  });
  const { announce: paused, answer: reply } = await partial.waitForAnnounceAnswer(
    (e) => e.url === sides.leechUrl && e.tracker_event === EVENT_PAUSED,
    20_000,
    'an announce with event 4 (paused) once finished',
  );
  assert.equal(reply.event, 'tracker_reply', sides.describe(await partial.proc.describe(`the tracker did not answer the partial seed's event-4 announce normally: ${JSON.stringify(reply)}`)));
  // An ordinary reply: the partial seed (left > 0, a leecher to the tracker) is offered the seeder.
  assert.ok((reply.num_peers ?? 0) >= 1, await partial.proc.describe(`the reply to the event-4 announce listed no peers: ${JSON.stringify(reply)}`));
  // It is a BEP 21 partial seed: finished, not seeding.
  const status = await partial.waitForEvent((e) => e.event === 'status' && e.is_finished === true, 5_000, 'a finished status');
  assert.equal(status.is_seeding, false, await partial.proc.describe(`finished, and a seed: not a partial seed (${JSON.stringify(status)})`));

  const after = udpAnnounces(await sides.leechMetrics());
  assert.equal(after.error, before.error, sides.describe(`UDP announces answered with an error: ${before.error} -> ${after.error}`));
  assert.ok(after.ok > before.ok, sides.describe(`no UDP announce counted ok: ${before.ok} -> ${after.ok}`));
  const errors = partial.events.filter((e) => e.event === 'tracker_error');
  assert.deepEqual(errors, [], await partial.proc.describe('the partial seed got tracker errors'));

  // The tracker keeps listing the partial seed: new peers can still fetch the first file from it.
  const probe = await udpAnnounce(sides.leechUrl, { infoHash: torrent.infoHash, port: 9, left: 1, event: 'started' });
  assert.equal(probe.failure, undefined);
  assert.ok(probe.peers.includes(`127.0.0.1:${partial.listenPort}`), `the partial seed 127.0.0.1:${partial.listenPort} is missing from ${JSON.stringify(probe.peers)}`);
  await udpAnnounce(sides.leechUrl, { infoHash: torrent.infoHash, port: 9, left: 1, event: 'stopped' });

  assert.equal(await sha256File(join(leechDir, torrent.name, wanted.name)), wanted.sha256, 'the selected file differs from the original');
  const skippedHash = await sha256File(join(leechDir, torrent.name, skipped.name)).catch(() => 'absent');
  assert.notEqual(skippedHash, skipped.sha256, 'the deselected file was downloaded too: this is not a partial seed');
  diagnostic(`event-4 announce at +${(paused.t - (partial.events[0]?.t ?? paused.t)).toFixed(2)} s: ${paused.message}`);

  await partial.stop();
  await seeder.stop();
}

test('libtorrent partial seed (BEP 21, event 4) through the all-in-one UDP tracker', { timeout: 90_000 }, async (t) => {
  const scope = cleanupScope(t);
  const tracker = await startTracker(scope, { host: '127.0.0.1' });
  await partialSeedScenario(
    scope,
    {
      seedUrl: tracker.udpAnnounceUrl(4),
      leechUrl: tracker.udpAnnounceUrl(4),
      leechMetrics: () => metricsText(tracker.metricsPort),
      describe: (message) => `${message}\n--- tracker output ---\n${tracker.output() || '(nothing)'}`,
    },
    (message) => t.diagnostic(message),
  );
  await tracker.stop({ expectCleanExit: true });
});

test('libtorrent partial seed (BEP 21, event 4) on edge B of a cluster, seeder on edge A', { timeout: 90_000 }, async (t) => {
  const scope = cleanupScope(t);
  const cluster = await startCluster(scope, { swarms: 3, edges: 2, logLevel: 'warn' });
  const [A, B] = cluster.edges;
  await partialSeedScenario(
    scope,
    {
      seedUrl: `udp://127.0.0.1:${A.port}/announce`,
      leechUrl: `udp://127.0.0.1:${B.port}/announce`,
      leechMetrics: () => B.metrics(),
      describe: (message) => cluster.describe(message),
    },
    (message) => t.diagnostic(message),
  );
  await cluster.stop();
});
