/**
 * WebTorrent end to end: real WebRTC peers that find each other only through
 * the WebSocket tracker under test, and the bytes they move are checked.
 *
 *   (a) webtorrent seeder in Node -> webtorrent leecher in Node (magnet link,
 *       tracker at ws://127.0.0.1:<port>/announce); each peer is its own process
 *   (b) webtorrent seeder in Node -> WebTorrent's browser bundle in Chromium
 *       (.torrent file, tracker at ws://127.0.0.1:<port>, the bare path)
 *
 * The tracker is chosen in one place, WT_E2E_TARGET (tests/support/clients/
 * webtorrent-node.ts): `ours` (default) runs our tracker, whose WebSockets
 * share the HTTP port; `reference` runs bittorrent-tracker's server.
 *
 * Glare: when two WebRTC peers offer to each other at the same instant both
 * connections can be torn down, so each leecher starts only once the tracker
 * has processed the seeder's announce (a WebSocket scrape counts it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { launchChromium, leechInBrowser, startPageServer } from '../support/clients/browser.js';
import { pollUntil } from '../support/clients/common.js';
import { magnetUri, startNodeLeecher, startNodeSeeder, startWsTracker, wtTarget } from '../support/clients/webtorrent-node.js';
import { createTorrent, makeTempDir, MiB } from '../support/torrent.js';
import { cleanupScope } from '../support/tracker-process.js';

const TEST_TIMEOUT_MS = 60_000;

test(`webtorrent in Node -> webtorrent in Node over WebRTC through the ${wtTarget()} ws:// tracker`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const began = Date.now();
  const scope = cleanupScope(t);
  const tracker = await startWsTracker(scope);
  const announce = tracker.url('/announce');
  const seedDir = await makeTempDir(scope, 'wt-node-seed');
  const leechDir = await makeTempDir(scope, 'wt-node-leech');
  // Not a multiple of the piece length, so the short last piece travels too.
  const torrent = await createTorrent({ dir: seedDir, announce, size: 4 * MiB + 12_345 });

  const seeder = await startNodeSeeder(scope, { torrent, announce });
  await seeder.waitForTrackerAnnounce(10_000);
  await tracker.waitForSeeders(torrent.infoHash, 1, 10_000);

  const leecher = await startNodeLeecher(scope, { magnet: magnetUri(torrent, announce), dir: leechDir, announce });
  const result = await leecher.waitForDone(30_000).catch(async (error: Error) => {
    throw new Error(tracker.describe(await seeder.describe(error.message)));
  });

  assert.equal(result.bytes, torrent.size, 'downloaded size differs from the original');
  assert.equal(result.sha256, torrent.sha256, await leecher.describe('downloaded bytes differ from the original'));
  assert.ok(
    result.wires.length > 0 && result.wires.every((wire) => wire.startsWith('webrtc')),
    await leecher.describe(`expected WebRTC wires only, got ${JSON.stringify(result.wires)}`),
  );
  // The leecher announced `completed`: the tracker now counts two seeders.
  await tracker.waitForSeeders(torrent.infoHash, 2, 10_000);

  t.diagnostic(`target=${tracker.target} bytes=${result.bytes} download=${result.durationMs}ms total=${Date.now() - began}ms wires=${result.wires.join(',')}`);
  const leecherExit = await leecher.stop();
  const seederExit = await seeder.stop();
  if (leecherExit.code !== 0 || seederExit.code !== 0) {
    t.diagnostic(`after the transfer: leecher exit ${leecherExit.code ?? leecherExit.signal}, seeder exit ${seederExit.code ?? seederExit.signal}`);
  }
  await tracker.stop();
});

test(`webtorrent in Node -> WebTorrent in Chromium over WebRTC through the ${wtTarget()} ws:// tracker`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const began = Date.now();
  const scope = cleanupScope(t);
  const tracker = await startWsTracker(scope);
  const announce = tracker.url('/');
  const seedDir = await makeTempDir(scope, 'wt-browser-seed');
  const torrent = await createTorrent({ dir: seedDir, announce, size: 3 * MiB + 54_321 });

  // Chromium starts while the seeder checks its payload; neither talks to the tracker yet.
  const pages = await startPageServer(scope);
  const torrentUrl = pages.addFile(`/${torrent.infoHashHex}.torrent`, torrent.torrentBytes, 'application/x-bittorrent');
  const [browser, seeder] = await Promise.all([launchChromium(scope), startNodeSeeder(scope, { torrent, announce })]);
  await seeder.waitForTrackerAnnounce(10_000);
  await tracker.waitForSeeders(torrent.infoHash, 1, 10_000);

  const result = await leechInBrowser(browser, pages, { torrentUrl, announce, timeoutMs: 30_000 }).catch(async (error: Error) => {
    throw new Error(tracker.describe(await seeder.describe(error.message)));
  });

  assert.equal(result.files, 1);
  assert.equal(result.name, torrent.name);
  assert.equal(result.bytes, torrent.size, browser.describe('received size differs from the original'));
  assert.equal(result.sha256, torrent.sha256, browser.describe('received bytes differ from the original'));
  assert.deepEqual(result.announce, [announce], 'the page used a tracker other than the one under test');
  assert.ok(
    result.wires.length > 0 && result.wires.every((wire) => wire.startsWith('webrtc')),
    browser.describe(`expected WebRTC wires only, got ${JSON.stringify(result.wires)}`),
  );
  // The Node peer closes its connections first (see browser.ts), then reports what it sent.
  const seederExit = await seeder.stop();
  assert.ok(
    seederExit.stats.uploaded >= torrent.size,
    await seeder.describe(`the seeder uploaded only ${seederExit.stats.uploaded} of ${torrent.size} bytes`),
  );

  t.diagnostic(`target=${tracker.target} bytes=${result.bytes} download=${result.durationMs}ms total=${Date.now() - began}ms wires=${result.wires.join(',')}`);
  await browser.close();
  await tracker.stop();
});
