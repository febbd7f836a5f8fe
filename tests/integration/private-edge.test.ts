/**
 * Private mode's edge half against a real mariadbd with the example site
 * (db/fixtures.sql): the passkey hook admits and refuses over HTTP
 * (/<passkey>/announce and /scrape), WebSocket (ws://host/<passkey>) and
 * UDP (refused; with private.udp = bep41 the passkey from BEP 41 URL data),
 * all-in-one and through a 2-edge cluster; every refusal reason; no passkey
 * in /metrics, /readyz or the process log; readiness before the first
 * catalog load and with the database stopped later.
 *
 * Every admit is the control of the refusals next to it: same tracker, same
 * torrent, one thing different.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { buildAnnounceQuery, buildScrapeQuery, parseAnnounceReply, parseScrapeReply } from '../../lib/protocol/http/client.js';
import { urlDataOptions } from '../../lib/protocol/udp/client.js';
import { startCluster, metricsText, type Cluster } from '../support/cluster.js';
import { AnnounceEvent, UdpTestClient, WtTestClient, eventually, httpGet, randomId20 } from '../support/integration-helpers.js';
import { skipWithoutMariaDb, startMariaDb, type MariaDbServer } from '../support/mariadb-server.js';
import { cleanupScope, startTracker, type TrackerProcess } from '../support/tracker-process.js';

const skip = skipWithoutMariaDb();

// db/fixtures.sql
const ALICE = 'alice000000000000000000000000001';
const CAROL = 'carol000000000000000000000000003'; // may not leech
const DAVE = 'dave0000000000000000000000000004'; // disabled account
const NOBODY = 'zzzz0000000000000000000000000000';
const torrent = (n: number): string => createHash('sha1').update(`fixture torrent ${n}`).digest().toString('latin1');
const UNREGISTERED = randomId20();
const qb = (): string => randomId20('-qB4650-');

type Outcome = { ok: true } | { ok: false; reason: string };

interface Target {
  edges: number;
  port(edge: number): number;
  metricsPorts(): number[];
  output(): string;
}

async function httpAnnounce(target: Target, edge: number, path: string, o: { infoHash?: string; peerId?: string; left?: number; port?: number } = {}): Promise<Outcome> {
  const query = buildAnnounceQuery({ infoHash: o.infoHash ?? torrent(1), peerId: o.peerId ?? qb(), port: o.port ?? 6881, left: o.left ?? 1000, event: AnnounceEvent.Started });
  const res = await httpGet('127.0.0.1', target.port(edge), `${path}?${query}`);
  assert.equal(res.status, 200, `${path}: status`);
  const reply = parseAnnounceReply(res.body);
  if (reply.type === 'failure') return { ok: false, reason: reply.reason };
  assert.equal(reply.type, 'announce');
  return { ok: true };
}

function refused(outcome: Outcome, reason: RegExp, what: string): void {
  assert.equal(outcome.ok, false, `${what}: expected a refusal`);
  assert.match((outcome as { reason: string }).reason, reason, what);
}

function privateSuite(setup: () => Target, udp: 'off' | 'bep41'): void {
  const edge = (n: number): number => n % setup().edges;

  it('HTTP /<passkey>/announce: a known user is admitted on both edges; each refusal has its own reason', async () => {
    const t = setup();
    for (let e = 0; e < t.edges; e++) assert.deepEqual(await httpAnnounce(t, e, `/${ALICE}/announce`), { ok: true }, `edge ${e}`);
    refused(await httpAnnounce(t, edge(1), '/announce'), /private tracker: announce to the URL in the \.torrent/, 'no passkey');
    refused(await httpAnnounce(t, edge(0), `/${NOBODY}/announce`), /unknown passkey/, 'unknown passkey');
    refused(await httpAnnounce(t, edge(1), `/${DAVE}/announce`), /unknown passkey/, 'disabled user');
    refused(await httpAnnounce(t, edge(0), `/${CAROL}/announce`), /may not download/, 'DisableDownload leeching');
    assert.deepEqual(await httpAnnounce(t, edge(0), `/${CAROL}/announce`, { left: 0 }), { ok: true }, 'control: she may seed');
    refused(await httpAnnounce(t, edge(1), `/${ALICE}/announce`, { infoHash: UNREGISTERED }), /^unregistered torrent$/, 'unregistered torrent');
    refused(await httpAnnounce(t, edge(0), `/${ALICE}/announce`, { peerId: randomId20('-UT3550-') }), /unapproved client/, 'archived client');
  });

  it('HTTP /<passkey>/scrape: registered torrents only; an unknown passkey is refused', async () => {
    const t = setup();
    const query = buildScrapeQuery([torrent(1), UNREGISTERED]);
    const ok = parseScrapeReply((await httpGet('127.0.0.1', t.port(edge(1)), `/${ALICE}/scrape?${query}`)).body);
    assert.equal(ok.type, 'scrape');
    const files = (ok as { files: Map<string, { complete: number; incomplete: number }> }).files;
    const one = files.get(torrent(1));
    // The peers above share 127.0.0.1:6881, so the store holds one of them (the last: carol seeding).
    assert.ok((one?.complete ?? 0) + (one?.incomplete ?? 0) >= 1, `torrent 1 has its peer: ${JSON.stringify(one)}`);
    assert.deepEqual(files.get(UNREGISTERED), { complete: 0, incomplete: 0, downloaded: 0 }, 'an unregistered torrent reads as unknown');
    const unknown = parseScrapeReply((await httpGet('127.0.0.1', t.port(edge(0)), `/${NOBODY}/scrape?${query}`)).body);
    assert.equal(unknown.type, 'failure');
    assert.match((unknown as { reason: string }).reason, /unknown passkey/);
  });

  it('WebSocket: the passkey is the URL path', async () => {
    const t = setup();
    const good = await WtTestClient.open(t.port(edge(0)), { path: `/${ALICE}` });
    const bad = await WtTestClient.open(t.port(edge(1)), { path: `/${NOBODY}` });
    try {
      const admitted = await good.announce({ infoHash: torrent(2), peerId: qb(), left: 1, numwant: 0 });
      assert.equal(admitted.type, 'announce');
      const refusedReply = await bad.announce({ infoHash: torrent(2), peerId: qb(), left: 1, numwant: 0 });
      assert.notEqual(refusedReply.type, 'announce');
      assert.match((refusedReply as { reason: string }).reason, /unknown passkey/);
    } finally {
      good.close();
      bad.close();
    }
  });

  it(udp === 'off' ? 'UDP is refused, even with a passkey in BEP 41 URL data' : 'UDP with private.udp = bep41: the passkey from the URL data', async () => {
    const t = setup();
    const client = await UdpTestClient.open('127.0.0.1', t.port(edge(1)));
    try {
      const announce = (path: string | undefined) =>
        client.announce({ infoHash: torrent(1), peerId: qb(), port: 6881, left: 1, options: path === undefined ? undefined : urlDataOptions(path) });
      const withPasskey = await announce(`/${ALICE}/announce`);
      if (udp === 'off') {
        assert.equal(withPasskey.type, 'error');
        assert.match((withPasskey as { message: string }).message, /does not serve UDP/);
        return;
      }
      assert.equal(withPasskey.type, 'announce');
      const without = await announce(undefined);
      assert.equal(without.type, 'error');
      assert.match((without as { message: string }).message, /private tracker/);
      const unknown = await announce(`/${NOBODY}/announce`);
      assert.match((unknown as { message: string }).message, /unknown passkey/);
    } finally {
      client.close();
    }
  });

  it('no passkey in /metrics, /readyz or the log after announcing with it (control: the same search finds what is there)', async () => {
    const t = setup();
    assert.deepEqual(await httpAnnounce(t, 0, `/${ALICE}/announce`), { ok: true });
    for (const port of t.metricsPorts()) {
      const metrics = await metricsText(port);
      const readyz = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.text());
      for (const text of [metrics, readyz]) {
        assert.ok(!text.includes(ALICE) && !text.includes(NOBODY) && !text.includes('alice0000'), 'no passkey');
      }
      assert.match(readyz, /^ready\ncatalog: 4 users, 5 torrents, 6 approved clients/, 'control: readiness names the catalog');
    }
    const metrics = (await Promise.all(t.metricsPorts().map((p) => metricsText(p)))).join('\n');
    assert.match(metrics, /tracker_hook_refusals_total\{hook="passkey"\} [1-9]/, 'control: refusals were counted');
    const log = t.output();
    assert.match(log, /request hooks/, 'control: the log is searched');
    assert.ok(!log.includes(ALICE) && !log.includes(NOBODY) && !log.includes(CAROL), 'no passkey in the log');
  });
}

describe('private mode, all-in-one (private.udp = bep41)', { skip }, () => {
  let db: MariaDbServer;
  let tracker: TrackerProcess;
  const scope = cleanupScope({ after });
  before(async () => {
    db = await startMariaDb(scope);
    db.loadSchema();
    db.loadFixtures();
    tracker = await startTracker(scope, { logLevel: 'info', extraArgs: ['--private.enabled=true', `--database.url=${db.url}`, '--private.udp=bep41'], readyTimeoutMs: 60_000 });
  });
  privateSuite(() => ({ edges: 1, port: () => tracker.port, metricsPorts: () => [tracker.metricsPort], output: () => tracker.output() }), 'bep41');
});

describe('private mode, 2 edges and 2 swarms (UDP off)', { skip }, () => {
  let db: MariaDbServer;
  let cluster: Cluster;
  const scope = cleanupScope({ after });
  before(async () => {
    db = await startMariaDb(scope);
    db.loadSchema();
    db.loadFixtures();
    cluster = await startCluster(scope, { swarms: 2, edges: 2, edgeArgs: ['--private.enabled=true', `--database.url=${db.url}`], readyTimeoutMs: 60_000 });
  });
  privateSuite(
    () => ({
      edges: 2,
      port: (e) => cluster.edges[e].port,
      metricsPorts: () => cluster.edges.map((e) => e.metricsPort),
      output: () => cluster.edges.map((e) => e.output()).join('\n'),
    }),
    'off',
  );
});

describe('private mode readiness', { skip }, () => {
  it('not ready before the first catalog load; ready once it loads; a database stopped later keeps it ready and serving from the last copy', { timeout: 180_000 }, async (t) => {
    const scope = cleanupScope(t);
    const db = await startMariaDb(scope);
    db.loadSchema();
    db.loadFixtures();
    await db.stop();
    const starting = startTracker(scope, { extraArgs: ['--private.enabled=true', `--database.url=${db.url}`, '--database.reloadSeconds=1'], readyTimeoutMs: 120_000 });
    const early = await Promise.race([starting.then(() => 'ready'), new Promise((resolve) => setTimeout(() => resolve('waiting'), 3000))]);
    assert.equal(early, 'waiting', 'not ready while the catalog never loaded');
    await db.start();
    const tracker = await starting;
    const target: Target = { edges: 1, port: () => tracker.port, metricsPorts: () => [tracker.metricsPort], output: () => tracker.output() };
    assert.deepEqual(await httpAnnounce(target, 0, `/${ALICE}/announce`), { ok: true });

    await db.stop();
    const readyz = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${tracker.metricsPort}/readyz`);
      const text = await res.text();
      return /reloads failing/.test(text) ? { status: res.status, text } : undefined;
    }, 60_000, 'a failed reload');
    assert.equal(readyz.status, 200, 'still ready on the last copy');
    assert.match(readyz.text, /serving the copy loaded \d+ s ago: 4 users/);
    assert.ok(!readyz.text.includes(db.password), 'never the database password');
    assert.deepEqual(await httpAnnounce(target, 0, `/${ALICE}/announce`), { ok: true }, 'announces keep being served');
    refused(await httpAnnounce(target, 0, `/${NOBODY}/announce`), /unknown passkey/, 'and refused from the last copy');
    const metrics = await metricsText(tracker.metricsPort);
    assert.match(metrics, /tracker_private_catalog_reloads_total\{result="failed"\} [1-9]/);
  });
});
