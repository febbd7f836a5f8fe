/**
 * The one-process e2e suite (http-aria2, udp-clients, ipv6, access-list,
 * webtorrent), again against the tracker as a cluster of separate processes:
 * 3 `tracker swarm` + 2 `tracker edge` (tests/support/cluster.ts). In every
 * pair the seeder knows only edge A's URL and the leecher only edge B's, so
 * the leecher can find the seeder only if B routes its announce to the swarm
 * that A routed the seeder's announce to.
 *
 * Cluster 1, edges on 127.0.0.1:
 *   (a) aria2c seeder -> aria2c leecher, http://
 *   (b) rtorrent seeder (127.0.0.2) -> rtorrent leecher, udp://
 *   (c) libtorrent seeder -> aria2c leecher, udp://
 *   (d) webtorrent (Node) seeder -> webtorrent (Node) leecher, ws://, WebRTC
 *   (e) webtorrent (Node) seeder -> WebTorrent in Chromium, ws://, WebRTC
 * Cluster 2, edges dual-stack (--host=::), every peer on ::1:
 *   (f) aria2c seeder -> aria2c leecher, http://[::1]
 *   (g) libtorrent seeder -> libtorrent leecher, udp://[::1]
 * Cluster 3, edges with an allow list that does not name the torrent:
 *   (h) both edges refuse it over HTTP and UDP (and serve a listed one)
 *   (i) a libtorrent seeder on A and a libtorrent leecher on B are refused
 *       over HTTP and UDP; they never get peers and nothing is transferred
 *
 * Downloaded bytes are compared with the original (SHA-256).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAria2 } from '../support/clients/aria2.js';
import { launchChromium, leechInBrowser, startPageServer } from '../support/clients/browser.js';
import { startLibtorrent, type LibtorrentClient } from '../support/clients/libtorrent.js';
import { describeReply, httpAnnounce, udpAnnounce } from '../support/clients/raw-tracker.js';
import { startRtorrent } from '../support/clients/rtorrent.js';
import { magnetUri, startNodeLeecher, startNodeSeeder, waitForWsSeeders, type ScrapeStats } from '../support/clients/webtorrent-node.js';
import { metricIn, startCluster, type Cluster, type ClusterNode, type ClusterOptions } from '../support/cluster.js';
import { createTorrent, makeTempDir, MiB, sha256File, writeTorrentVariant } from '../support/torrent.js';
import { cleanupScope, type CleanupContext } from '../support/tracker-process.js';

type Family = 4 | 6;
const loopback = (family: Family): string => (family === 6 ? '[::1]' : '127.0.0.1');
const httpUrl = (edge: ClusterNode, family: Family = 4): string => `http://${loopback(family)}:${edge.port}/announce`;
const udpUrl = (edge: ClusterNode, family: Family = 4): string => `udp://${loopback(family)}:${edge.port}/announce`;
/** ws://127.0.0.1:<port>/announce, or ws://127.0.0.1:<port> (the bare path, as the browser test uses): both are served. */
const wsUrl = (edge: ClusterNode, path: '/' | '/announce' = '/announce'): string => `ws://127.0.0.1:${edge.port}${path === '/' ? '' : path}`;

/** Does `log` mention `host:port` (and not merely a longer port starting with the same digits)? */
const mentions = (log: string, hostPort: string): boolean => new RegExp(`${hostPort.replace(/[.[\]]/g, '\\$&')}(?!\\d)`).test(log);

async function announces(edge: ClusterNode, protocol: string, result: 'ok' | 'denied' = 'ok'): Promise<number> {
  return metricIn(await edge.metrics(), 'tracker_requests_total', { protocol, action: 'announce', result }) ?? 0;
}

/**
 * Starts a 3-swarm, 2-edge cluster before the suite's tests and stops it after
 * them. Hooks run in the order they are registered: first SIGTERM every
 * process (each must exit 0), then the scope's cleanup (SIGKILL whatever is
 * left, e.g. after a failure; then temporary directories).
 */
function suiteCluster(options: ClusterOptions = {}, prepare?: (scope: CleanupContext) => Promise<ClusterOptions>): () => { cluster: Cluster; A: ClusterNode; B: ClusterNode } {
  let started: { cluster: Cluster; A: ClusterNode; B: ClusterNode } | undefined;
  after(async () => {
    if (started) await started.cluster.stop();
  });
  const scope = cleanupScope({ after });
  before(async () => {
    const more = prepare ? await prepare(scope) : {};
    const cluster = await startCluster(scope, { swarms: 3, edges: 2, logLevel: 'warn', ...options, ...more });
    started = { cluster, A: cluster.edges[0], B: cluster.edges[1] };
  });
  return () => {
    if (!started) throw new Error('the cluster did not start');
    return started;
  };
}

/** Polls a WebSocket scrape through `edge` until the swarm counts `count` seeders (bounded). */
function waitSeeders(cluster: Cluster, edge: ClusterNode, infoHash: Uint8Array, count: number, timeoutMs = 10_000): Promise<ScrapeStats> {
  return waitForWsSeeders(wsUrl(edge), infoHash, count, timeoutMs, (what) => cluster.describe(`${edge.name} ${what}`));
}

describe('real clients through a 2-edge, 3-swarm cluster (seeder on edge A, leecher on edge B)', { timeout: 100_000 }, () => {
  const current = suiteCluster();

  it('aria2c seeder (http:// edge A) -> aria2c leecher (http:// edge B)', { timeout: 45_000 }, async (t) => {
    const { cluster, A, B } = current();
    const began = Date.now();
    const scope = cleanupScope(t);
    const seedDir = await makeTempDir(scope, 'cl-http-seed');
    const leechDir = await makeTempDir(scope, 'cl-http-leech');
    const workDir = await makeTempDir(scope, 'cl-http-work');
    const torrent = await createTorrent({ dir: seedDir, announce: httpUrl(A) });
    const leechTorrent = await writeTorrentVariant(torrent, join(workDir, 'via-b.torrent'), httpUrl(B));
    const owner = cluster.ownerOf(torrent.infoHash.toString('latin1'));
    const [okA, okB] = [await announces(A, 'http'), await announces(B, 'http')];

    const seeder = await startAria2(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, workDir, bindAddress: '127.0.0.1' });
    await seeder.waitForTrackerResponse(15_000);
    // Through edge B, the seeder (announced on A) is already listed.
    const probe = await httpAnnounce(httpUrl(B), { infoHash: torrent.infoHash, port: 9, left: 1, event: 'started' });
    assert.equal(probe.failure, undefined);
    assert.ok(probe.peers.includes(`127.0.0.1:${seeder.listenPort}`), cluster.describe(`edge B does not list the seeder: ${JSON.stringify(probe.peers)}`));
    await httpAnnounce(httpUrl(B), { infoHash: torrent.infoHash, port: 9, left: 1, event: 'stopped' });

    const leecher = await startAria2(scope, 'leech', { torrentPath: leechTorrent, dir: leechDir, workDir, bindAddress: '127.0.0.1' });
    await leecher.waitForDownload(35_000, join(leechDir, torrent.name));
    assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');
    const leecherLog = await readFile(leecher.logFile, 'utf8');
    assert.ok(leecherLog.includes(`Connecting to 127.0.0.1:${seeder.listenPort}`), await leecher.proc.describe(`the leecher never dialled the seeder at 127.0.0.1:${seeder.listenPort}`));
    assert.ok(mentions(leecherLog, `127.0.0.1:${B.port}`) && !mentions(leecherLog, `127.0.0.1:${A.port}`), await leecher.proc.describe('the leecher talked to a tracker other than edge B'));
    // Each edge answered its client's announces.
    assert.ok((await announces(A, 'http')) > okA, 'edge A answered the seeder');
    assert.ok((await announces(B, 'http')) > okB, 'edge B answered the leecher');

    t.diagnostic(`${torrent.size} bytes, info-hash owned by ${owner}, total ${Date.now() - began} ms`);
    await seeder.stop();
  });

  it('rtorrent seeder (udp:// edge A, 127.0.0.2) -> rtorrent leecher (udp:// edge B)', { timeout: 45_000 }, async (t) => {
    const { cluster, A, B } = current();
    const began = Date.now();
    const scope = cleanupScope(t);
    const seedDir = await makeTempDir(scope, 'cl-udp-seed');
    const leechDir = await makeTempDir(scope, 'cl-udp-leech');
    const workDir = await makeTempDir(scope, 'cl-udp-work');
    const torrent = await createTorrent({ dir: seedDir, announce: udpUrl(A) });
    const leechTorrent = await writeTorrentVariant(torrent, join(workDir, 'via-b.torrent'), udpUrl(B));
    const owner = cluster.ownerOf(torrent.infoHash.toString('latin1'));

    const seeder = await startRtorrent(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, workDir, bindAddress: '127.0.0.2' });
    await seeder.waitForTrackerResponse(15_000);

    const leecher = await startRtorrent(scope, 'leech', { torrentPath: leechTorrent, dir: leechDir, workDir, bindAddress: '127.0.0.1' });
    const reply = await leecher.waitForTrackerResponse(15_000);
    assert.match(reply, /received [1-9]\d* peers/, await leecher.proc.describe('edge B gave the leecher no peers'));
    await leecher.waitForDownload(30_000);
    assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');

    // Both edges list the seeder under its packet's source address (it announced only to A).
    for (const edge of [A, B]) {
      const probe = await udpAnnounce(udpUrl(edge), { infoHash: torrent.infoHash, port: 9, left: 1, event: 'started' });
      assert.equal(probe.failure, undefined);
      assert.ok(probe.peers.includes(`127.0.0.2:${seeder.listenPort}`), `${edge.name}: seeder 127.0.0.2:${seeder.listenPort} missing from ${JSON.stringify(probe.peers)}`);
    }
    t.diagnostic(`${torrent.size} bytes, info-hash owned by ${owner}, total ${Date.now() - began} ms`);
    await leecher.stop();
    await seeder.stop();
  });

  it('libtorrent seeder (udp:// edge A) -> aria2c leecher (udp:// edge B)', { timeout: 45_000 }, async (t) => {
    const { cluster, A, B } = current();
    const began = Date.now();
    const scope = cleanupScope(t);
    const seedDir = await makeTempDir(scope, 'cl-udp-mix-seed');
    const leechDir = await makeTempDir(scope, 'cl-udp-mix-leech');
    const workDir = await makeTempDir(scope, 'cl-udp-mix-work');
    const torrent = await createTorrent({ dir: seedDir, announce: udpUrl(A) });
    const leechTorrent = await writeTorrentVariant(torrent, join(workDir, 'via-b.torrent'), udpUrl(B));
    const owner = cluster.ownerOf(torrent.infoHash.toString('latin1'));
    const [okA, okB] = [await announces(A, 'udp'), await announces(B, 'udp')];

    const seeder = await startLibtorrent(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, bindAddress: '127.0.0.1' });
    const seederReply = await seeder.waitForTrackerResponse(15_000);
    assert.equal(seederReply.url, udpUrl(A), await seeder.proc.describe('the seeder was answered by a tracker other than edge A'));

    const leecher = await startAria2(scope, 'leech', { torrentPath: leechTorrent, dir: leechDir, workDir, bindAddress: '127.0.0.1', udpTrackers: true });
    await leecher.waitForDownload(35_000, join(leechDir, torrent.name));
    assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');
    const leecherLog = await readFile(leecher.logFile, 'utf8');
    assert.match(
      leecherLog,
      new RegExp(`UDPT received ANNOUNCE reply from 127\\.0\\.0\\.1:${B.port} .*num_peers=[1-9]`),
      await leecher.proc.describe(`no UDP announce reply with peers from edge B (127.0.0.1:${B.port}) in the aria2c log`),
    );
    assert.ok(!mentions(leecherLog, `127.0.0.1:${A.port}`), await leecher.proc.describe('the leecher talked to edge A'));
    assert.ok(leecherLog.includes(`Connecting to 127.0.0.1:${seeder.listenPort}`), await leecher.proc.describe(`the leecher never dialled the seeder at 127.0.0.1:${seeder.listenPort}`));
    assert.ok((await announces(A, 'udp')) > okA, 'edge A answered the seeder');
    assert.ok((await announces(B, 'udp')) > okB, 'edge B answered the leecher');

    t.diagnostic(`${torrent.size} bytes, info-hash owned by ${owner}, total ${Date.now() - began} ms`);
    await seeder.stop();
  });

  it('webtorrent Node seeder (ws:// edge A) -> webtorrent Node leecher (ws:// edge B) over WebRTC', { timeout: 45_000 }, async (t) => {
    const { cluster, A, B } = current();
    const began = Date.now();
    const scope = cleanupScope(t);
    const seedDir = await makeTempDir(scope, 'cl-wt-seed');
    const leechDir = await makeTempDir(scope, 'cl-wt-leech');
    const torrent = await createTorrent({ dir: seedDir, announce: wsUrl(A), size: 4 * MiB + 12_345 });
    const owner = cluster.ownerOf(torrent.infoHash.toString('latin1'));

    const seeder = await startNodeSeeder(scope, { torrent, announce: wsUrl(A) });
    await seeder.waitForTrackerAnnounce(10_000);
    // Glare: the leecher starts only once the swarm counts the seeder, seen through edge B.
    await waitSeeders(cluster, B, torrent.infoHash, 1);

    const leecher = await startNodeLeecher(scope, { magnet: magnetUri(torrent, wsUrl(B)), dir: leechDir, announce: wsUrl(B) });
    const result = await leecher.waitForDone(30_000).catch(async (error: Error) => {
      throw new Error(cluster.describe(await seeder.describe(error.message)));
    });
    assert.equal(result.bytes, torrent.size, 'downloaded size differs from the original');
    assert.equal(result.sha256, torrent.sha256, await leecher.describe('downloaded bytes differ from the original'));
    assert.ok(result.wires.length > 0 && result.wires.every((w) => w.startsWith('webrtc')), await leecher.describe(`expected WebRTC wires only, got ${JSON.stringify(result.wires)}`));
    // The leecher announced `completed` through B: the swarm counts two seeders.
    await waitSeeders(cluster, B, torrent.infoHash, 2);

    t.diagnostic(`${result.bytes} bytes, info-hash owned by ${owner}, download ${result.durationMs} ms, total ${Date.now() - began} ms, wires ${result.wires.join(',')}`);
    await leecher.stop();
    await seeder.stop();
  });

  it('webtorrent Node seeder (ws:// edge A) -> WebTorrent in Chromium (ws:// edge B) over WebRTC', { timeout: 50_000 }, async (t) => {
    const { cluster, A, B } = current();
    const began = Date.now();
    const scope = cleanupScope(t);
    const seedDir = await makeTempDir(scope, 'cl-wt-browser-seed');
    const workDir = await makeTempDir(scope, 'cl-wt-browser-work');
    // The bare path, as in the one-process browser test.
    const seedAnnounce = wsUrl(A, '/');
    const leechAnnounce = wsUrl(B, '/');
    const torrent = await createTorrent({ dir: seedDir, announce: seedAnnounce, size: 3 * MiB + 54_321 });
    const owner = cluster.ownerOf(torrent.infoHash.toString('latin1'));
    // The page gets a .torrent naming only edge B.
    const browserTorrent = await readFile(await writeTorrentVariant(torrent, join(workDir, 'via-b.torrent'), leechAnnounce));

    // Chromium starts while the seeder checks its payload; neither talks to the tracker yet.
    const pages = await startPageServer(scope);
    const torrentUrl = pages.addFile(`/${torrent.infoHashHex}.torrent`, browserTorrent, 'application/x-bittorrent');
    const [browser, seeder] = await Promise.all([launchChromium(scope), startNodeSeeder(scope, { torrent, announce: seedAnnounce })]);
    await seeder.waitForTrackerAnnounce(10_000);
    await waitSeeders(cluster, B, torrent.infoHash, 1);

    const result = await leechInBrowser(browser, pages, { torrentUrl, announce: leechAnnounce, timeoutMs: 30_000 }).catch(async (error: Error) => {
      throw new Error(cluster.describe(await seeder.describe(error.message)));
    });
    assert.equal(result.files, 1);
    assert.equal(result.name, torrent.name);
    assert.equal(result.bytes, torrent.size, browser.describe('received size differs from the original'));
    assert.equal(result.sha256, torrent.sha256, browser.describe('received bytes differ from the original'));
    assert.deepEqual(result.announce, [leechAnnounce], 'the page used a tracker other than edge B');
    assert.ok(result.wires.length > 0 && result.wires.every((w) => w.startsWith('webrtc')), browser.describe(`expected WebRTC wires only, got ${JSON.stringify(result.wires)}`));
    // The page announced `completed` through B: the swarm counts two seeders.
    await waitSeeders(cluster, B, torrent.infoHash, 2);
    // The Node peer closes its connections first (see browser.ts), then reports what it sent.
    const seederExit = await seeder.stop();
    assert.ok(seederExit.stats.uploaded >= torrent.size, await seeder.describe(`the seeder uploaded only ${seederExit.stats.uploaded} of ${torrent.size} bytes`));

    t.diagnostic(`${result.bytes} bytes, info-hash owned by ${owner}, download ${result.durationMs} ms, total ${Date.now() - began} ms, wires ${result.wires.join(',')}`);
    await browser.close();
  });
});

describe('real clients over IPv6 loopback through a dual-stack (--host=::) 2-edge, 3-swarm cluster', { timeout: 70_000 }, () => {
  const current = suiteCluster({ edgeHost: '::' });

  it('aria2c seeder (http://[::1] edge A) -> aria2c leecher (http://[::1] edge B)', { timeout: 45_000 }, async (t) => {
    const { cluster, A, B } = current();
    const began = Date.now();
    const scope = cleanupScope(t);
    const seedDir = await makeTempDir(scope, 'cl-http6-seed');
    const leechDir = await makeTempDir(scope, 'cl-http6-leech');
    const workDir = await makeTempDir(scope, 'cl-http6-work');
    const torrent = await createTorrent({ dir: seedDir, announce: httpUrl(A, 6) });
    const leechTorrent = await writeTorrentVariant(torrent, join(workDir, 'via-b.torrent'), httpUrl(B, 6));
    const owner = cluster.ownerOf(torrent.infoHash.toString('latin1'));
    const [okA, okB] = [await announces(A, 'http'), await announces(B, 'http')];

    const seeder = await startAria2(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, workDir, bindAddress: '::1' });
    await seeder.waitForTrackerResponse(15_000);
    // Asked over IPv6 through edge B, the swarm lists the seeder (announced on A) as an IPv6 peer (peers6).
    const probe = await httpAnnounce(httpUrl(B, 6), { infoHash: torrent.infoHash, port: 9, left: 1, event: 'started' });
    assert.equal(probe.failure, undefined);
    assert.ok(probe.peers.includes(`[::1]:${seeder.listenPort}`), cluster.describe(`edge B does not list the seeder [::1]:${seeder.listenPort}: ${JSON.stringify(probe.peers)}`));
    await httpAnnounce(httpUrl(B, 6), { infoHash: torrent.infoHash, port: 9, left: 1, event: 'stopped' });

    const leecher = await startAria2(scope, 'leech', { torrentPath: leechTorrent, dir: leechDir, workDir, bindAddress: '::1' });
    await leecher.waitForDownload(35_000, join(leechDir, torrent.name));
    assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');
    const leecherLog = await readFile(leecher.logFile, 'utf8');
    assert.ok(leecherLog.includes(`Connecting to ::1:${seeder.listenPort}`), await leecher.proc.describe(`the leecher never dialled the seeder at [::1]:${seeder.listenPort}`));
    assert.ok(mentions(leecherLog, `[::1]:${B.port}`) && !mentions(leecherLog, `[::1]:${A.port}`), await leecher.proc.describe('the leecher talked to a tracker other than edge B'));
    assert.ok((await announces(A, 'http')) > okA, 'edge A answered the seeder');
    assert.ok((await announces(B, 'http')) > okB, 'edge B answered the leecher');

    t.diagnostic(`${torrent.size} bytes, info-hash owned by ${owner}, total ${Date.now() - began} ms`);
    await seeder.stop();
  });

  it('libtorrent seeder (udp://[::1] edge A) -> libtorrent leecher (udp://[::1] edge B)', { timeout: 45_000 }, async (t) => {
    const { cluster, A, B } = current();
    const began = Date.now();
    const scope = cleanupScope(t);
    const seedDir = await makeTempDir(scope, 'cl-udp6-seed');
    const leechDir = await makeTempDir(scope, 'cl-udp6-leech');
    const workDir = await makeTempDir(scope, 'cl-udp6-work');
    const torrent = await createTorrent({ dir: seedDir, announce: udpUrl(A, 6) });
    const leechTorrent = await writeTorrentVariant(torrent, join(workDir, 'via-b.torrent'), udpUrl(B, 6));
    const owner = cluster.ownerOf(torrent.infoHash.toString('latin1'));
    const [okA, okB] = [await announces(A, 'udp'), await announces(B, 'udp')];

    const seeder = await startLibtorrent(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, bindAddress: '::1' });
    const seederReply = await seeder.waitForTrackerResponse(15_000);
    assert.equal(seederReply.url, udpUrl(A, 6), await seeder.proc.describe('the seeder was answered by a tracker other than edge A'));

    const leecher = await startLibtorrent(scope, 'leech', { torrentPath: leechTorrent, dir: leechDir, bindAddress: '::1', deadlineMs: 35_000 });
    const reply = await leecher.waitForEvent((e) => e.event === 'tracker_reply', 15_000, 'a tracker reply');
    assert.equal(reply.url, udpUrl(B, 6), await leecher.proc.describe('the leecher was answered by a tracker other than edge B'));
    assert.ok((reply.num_peers ?? 0) >= 1, await leecher.proc.describe(`edge B gave the leecher no peers: ${JSON.stringify(reply)}`));
    await leecher.waitForDownload(35_000);
    assert.equal(await sha256File(join(leechDir, torrent.name)), torrent.sha256, 'downloaded file differs from the original');
    const dialled = leecher.events.some((e) => e.event === 'peer_connect' && String(e.message).includes(`[::1]:${seeder.listenPort}`));
    assert.ok(dialled, await leecher.proc.describe(`the leecher never connected to the seeder at [::1]:${seeder.listenPort}`));

    // Asked over IPv6, both edges answer with 18-byte peers including the seeder (it announced only to A).
    for (const edge of [A, B]) {
      const probe = await udpAnnounce(udpUrl(edge, 6), { infoHash: torrent.infoHash, port: 9, left: 1, event: 'started' });
      assert.equal(probe.failure, undefined);
      assert.ok(probe.peers.includes(`[::1]:${seeder.listenPort}`), `${edge.name}: seeder [::1]:${seeder.listenPort} missing from ${JSON.stringify(probe.peers)}`);
    }
    assert.ok((await announces(A, 'udp')) > okA, 'edge A answered the seeder');
    assert.ok((await announces(B, 'udp')) > okB, 'edge B answered the leecher');

    t.diagnostic(`${torrent.size} bytes, info-hash owned by ${owner}, total ${Date.now() - began} ms`);
    await seeder.stop();
  });
});

describe('access list (allow mode, torrent not listed) on both edges of a 2-edge, 3-swarm cluster', { timeout: 60_000 }, () => {
  // The listed torrent is the positive control: same edges, same protocols, accepted.
  const listedHash = randomBytes(20);
  const current = suiteCluster({}, async (scope) => {
    const listFile = join(await makeTempDir(scope, 'cl-acl-list'), 'allow.txt');
    await writeFile(listFile, `# e2e allow list\n${listedHash.toString('hex')}\n`);
    return { edgeArgs: ['--accessList.mode=allow', `--accessList.file=${listFile}`] };
  });

  it('both edges refuse an unlisted torrent over HTTP and UDP, and serve a listed one across edges', { timeout: 20_000 }, async () => {
    const { A, B } = current();
    const unlisted = randomBytes(20);
    for (const edge of [A, B]) {
      const httpRefusal = await httpAnnounce(httpUrl(edge), { infoHash: unlisted, port: 6881, left: 0, event: 'started' });
      assert.ok(httpRefusal.failure, `${edge.name}: HTTP announce of an unlisted torrent was not refused: ${describeReply(httpRefusal.raw)}`);
      assert.deepEqual(httpRefusal.peers, []);
      const udpRefusal = await udpAnnounce(udpUrl(edge), { infoHash: unlisted, port: 6881, left: 0, event: 'started' });
      assert.ok(udpRefusal.failure, `${edge.name}: UDP announce of an unlisted torrent was not refused (got ${describeReply(udpRefusal)})`);
    }
    // The listed torrent: announced over HTTP on A, listed over UDP on B (and the other way round).
    const httpAccepted = await httpAnnounce(httpUrl(A), { infoHash: listedHash, port: 6881, left: 0, event: 'started' });
    assert.equal(httpAccepted.failure, undefined, `edge A: HTTP announce of the listed torrent failed: ${httpAccepted.failure}`);
    const udpAccepted = await udpAnnounce(udpUrl(B), { infoHash: listedHash, port: 6882, left: 1, event: 'started' });
    assert.equal(udpAccepted.failure, undefined, `edge B: UDP announce of the listed torrent failed: ${udpAccepted.failure}`);
    assert.ok(udpAccepted.peers.includes('127.0.0.1:6881'), `edge B should list the peer announced on edge A: ${JSON.stringify(udpAccepted.peers)}`);
    const httpBack = await httpAnnounce(httpUrl(A), { infoHash: listedHash, port: 6881, left: 0 });
    assert.ok(httpBack.peers.includes('127.0.0.1:6882'), `edge A should list the peer announced on edge B: ${JSON.stringify(httpBack.peers)}`);
  });

  it('libtorrent seeder (edge A) and leecher (edge B) of an unlisted torrent: refused over HTTP and UDP, no peers, no transfer', { timeout: 40_000 }, async (t) => {
    const { cluster, A, B } = current();
    const began = Date.now();
    const scope = cleanupScope(t);
    const seedDir = await makeTempDir(scope, 'cl-acl-seed');
    const leechDir = await makeTempDir(scope, 'cl-acl-leech');
    const workDir = await makeTempDir(scope, 'cl-acl-work');
    // The seeder knows only edge A (HTTP and UDP), the leecher only edge B.
    const torrent = await createTorrent({ dir: seedDir, announce: httpUrl(A), announceList: [[httpUrl(A)], [udpUrl(A)]], size: 2 * MiB + 12_345 });
    const leechTorrent = await writeTorrentVariant(torrent, join(workDir, 'via-b.torrent'), httpUrl(B), [[httpUrl(B)], [udpUrl(B)]]);
    assert.notEqual(torrent.infoHashHex, listedHash.toString('hex'));
    const denied = async (): Promise<number[]> => Promise.all([A, B].flatMap((edge) => ['http', 'udp'].map((p) => announces(edge, p, 'denied'))));
    const deniedBefore = await denied();

    const refusedOnBoth = async (client: LibtorrentClient, urls: string[]): Promise<void> => {
      for (const url of urls) {
        const error = await client.waitForEvent((e) => e.event === 'tracker_error' && e.url === url, 8_000, `a tracker error from ${url}`);
        assert.ok(error.failure_reason || error.message, `empty tracker error from ${url}: ${JSON.stringify(error)}`);
      }
    };
    const seeder = await startLibtorrent(scope, 'seed', { torrentPath: torrent.torrentPath, dir: seedDir, bindAddress: '127.0.0.1' });
    await refusedOnBoth(seeder, [httpUrl(A), udpUrl(A)]);
    const leecher = await startLibtorrent(scope, 'leech', { torrentPath: leechTorrent, dir: leechDir, bindAddress: '127.0.0.1', deadlineMs: 30_000 });
    await refusedOnBoth(leecher, [httpUrl(B), udpUrl(B)]);

    for (const client of [seeder, leecher]) {
      const withPeers = client.events.filter((e) => e.event === 'tracker_reply' && (e.num_peers ?? 0) > 0);
      assert.deepEqual(withPeers, [], await client.proc.describe(`${client.proc.name} got peers from an edge that should refuse the torrent`));
    }
    const connections = leecher.events.filter((e) => e.event === 'peer_connect');
    assert.deepEqual(connections, [], await leecher.proc.describe('the leecher connected to a peer'));
    // Every edge counted its client's refusals, on both protocols.
    const deniedAfter = await denied();
    const labels = ['A http', 'A udp', 'B http', 'B udp'];
    deniedAfter.forEach((n, i) => assert.ok(n > deniedBefore[i], cluster.describe(`edge ${labels[i]}: tracker_requests_total{result="denied"} did not grow (${deniedBefore[i]} -> ${n})`)));
    await leecher.stop();
    await seeder.stop();

    const payload = join(leechDir, torrent.name);
    const present = await access(payload).then(() => true, () => false);
    if (present) assert.notEqual(await sha256File(payload), torrent.sha256, 'the leecher has the whole file: it found the seeder');
    t.diagnostic(`refused on both edges, total ${Date.now() - began} ms`);
  });
});
