/**
 * Every shipped request hook, on at once, against real tracker processes:
 * the all-in-one tracker, and a cluster of 2 edges and 2 swarms where a
 * client's announces alternate between the edges. Through UDP (the token in
 * BEP 41 URL data), HTTP (in the query) and WebSocket (in the socket URL):
 *
 *  - torrentApproval (access list, deny mode) refuses a listed torrent,
 *    and scrapes report it as unknown;
 *  - clientApproval (allow -qB, -WW) refuses other clients;
 *  - jwt refuses a missing, foreign, expired or unsigned token and admits
 *    a good one (keys from a JWK Set URL on 127.0.0.1; SIGHUP picks up a
 *    new key);
 *  - announceRate refuses a regular re-announce within the floor (across
 *    edges in the cluster: the swarm enforces it) and lets events through;
 *  - intervalVariation lengthens every reply's interval (100%);
 *  - sameSubnet lists the announcer's /24 first (compact and dictionary
 *    replies, UDP and HTTP; HTTP peers get their addresses from
 *    X-Forwarded-For, the tracker trusting 127.0.0.1 as a proxy).
 *
 * Every admit is the positive control of the refusals next to it: same
 * tracker, same torrent, only the one thing the hook checks differs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAnnounceQuery, buildScrapeQuery, parseAnnounceReply, parseScrapeReply } from '../../lib/protocol/http/client.js';
import { urlDataOptions } from '../../lib/protocol/udp/client.js';
import { startCluster, type Cluster } from '../support/cluster.js';
import {
  AnnounceEvent,
  UdpTestClient,
  WtTestClient,
  decodeCompactPeers,
  httpGet,
  launchTracker,
  metricValue,
  parseMetrics,
  randomId20,
  scrapeMetrics,
  toHex,
  eventually,
  type LaunchedTracker,
} from '../support/integration-helpers.js';
import { metricsText } from '../support/cluster.js';
import { JwksServer, jwks, makeKey, signToken, unsignedToken, AUDIENCE, ISSUER, type TestKey } from '../support/jwt-issuer.js';

const BASE_INTERVAL = 1800;
const BASE_MIN_INTERVAL = 900;
const WT_INTERVAL = 120;
const MAX_INCREASE = 30;

const dir = mkdtempSync(join(tmpdir(), 'tracker-hooks-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let nextPort = 20_000 + Math.floor(Math.random() * 20_000);
const peerPort = (): number => nextPort++;

/** Swarms answer with the bare interval, so what intervalVariation adds is all there is. */
const NO_JITTER = '--announce.intervalJitterSeconds=0';

/** A peer_id of a client the allow list lets in (qBittorrent), or of one it does not (uTorrent). */
const qb = (): string => randomId20('-qB4650-');
const ut = (): string => randomId20('-UT3550-');
const ww = (): string => randomId20('-WW0105-');

/** The flags that turn every hook on (edges, or the all-in-one tracker). */
function hookFlags(jwksUrl: string, denyFile: string): string[] {
  return [
    '--hooks.order=torrentApproval,clientApproval,jwt,announceRate,intervalVariation,sameSubnet',
    '--accessList.mode=deny',
    `--accessList.file=${denyFile}`,
    '--accessList.watch=false',
    '--hooks.clientApproval.mode=allow',
    '--hooks.clientApproval.prefixes=-qB,-WW',
    `--hooks.jwt.issuer=${ISSUER}`,
    `--hooks.jwt.audience=${AUDIENCE}`,
    `--hooks.jwt.jwksUrl=${jwksUrl}`,
    '--hooks.jwt.refreshSeconds=3600',
    '--hooks.announceRate.minSeconds=60',
    '--hooks.intervalVariation.probabilityPercent=100',
    `--hooks.intervalVariation.maxIncreaseSeconds=${MAX_INCREASE}`,
    '--hooks.intervalVariation.modifyMinInterval=true',
    '--hooks.sameSubnet.prefixV4=24',
    '--http.trustedProxies=127.0.0.1',
  ];
}

/** Where a test sends a request: the edge `i` of the tracker (all-in-one: always the one). */
interface Target {
  edges: number;
  port(i: number): number;
  metrics(): Promise<string>;
}

type Outcome = { ok: true; interval: number; minInterval?: number; peers: string[] } | { ok: false; reason: string };

interface Announce {
  infoHash: string;
  peerId: string;
  token?: string;
  port?: number;
  event?: AnnounceEvent;
  left?: number;
  numwant?: number;
  /** HTTP: the address the announce comes from (X-Forwarded-For). */
  from?: string;
  compact?: boolean;
}

const udpClients = new Map<number, UdpTestClient>();
async function udpClient(port: number): Promise<UdpTestClient> {
  let client = udpClients.get(port);
  if (!client) {
    client = await UdpTestClient.open('127.0.0.1', port);
    udpClients.set(port, client);
  }
  return client;
}
after(() => {
  for (const c of udpClients.values()) c.close();
});

async function udpAnnounce(target: Target, edge: number, a: Announce): Promise<Outcome> {
  const client = await udpClient(target.port(edge));
  const reply = await client.announce({
    infoHash: a.infoHash,
    peerId: a.peerId,
    port: a.port ?? client.localPort,
    event: a.event,
    left: a.left ?? 1,
    numwant: a.numwant,
    options: a.token === undefined ? undefined : urlDataOptions(`/announce?jwt=${a.token}`),
  });
  if (reply.type === 'announce') return { ok: true, interval: reply.interval, peers: decodeCompactPeers(reply.peers, 6).map((p) => p.ip) };
  if (reply.type === 'error') return { ok: false, reason: reply.message };
  throw new Error(`unexpected UDP reply ${reply.type}`);
}

async function httpAnnounce(target: Target, edge: number, a: Announce): Promise<Outcome> {
  let query = buildAnnounceQuery({ infoHash: a.infoHash, peerId: a.peerId, port: a.port ?? peerPort(), left: a.left ?? 1, event: a.event, numwant: a.numwant, compact: a.compact });
  if (a.token !== undefined) query += `&jwt=${a.token}`;
  const res = await httpGet('127.0.0.1', target.port(edge), `/announce?${query}`, a.from ? { 'x-forwarded-for': a.from } : {});
  assert.equal(res.status, 200);
  const reply = parseAnnounceReply(res.body);
  if (reply.type === 'failure') return { ok: false, reason: reply.reason };
  if (reply.type !== 'announce') throw new Error(`unparsable HTTP reply: ${reply.error}`);
  const peers = reply.peerList ? reply.peerList.map((p) => p.ip) : decodeCompactPeers(reply.peers, 6).map((p) => p.ip);
  return { ok: true, interval: reply.interval, minInterval: reply.minInterval, peers };
}

/** A WebSocket whose URL carries `token`; kept open until the test's end (its peers live while it does). */
const sockets: WtTestClient[] = [];
after(() => {
  for (const s of sockets) s.close();
});
async function wtSocket(target: Target, edge: number, token: string | undefined): Promise<WtTestClient> {
  const socket = await WtTestClient.open(target.port(edge), { path: token === undefined ? '/announce' : `/announce?jwt=${token}` });
  sockets.push(socket);
  return socket;
}

async function wtAnnounce(socket: WtTestClient, a: Announce): Promise<Outcome> {
  const reply = await socket.announce({ infoHash: a.infoHash, peerId: a.peerId, event: a.event, left: a.left ?? 1, numwant: 0 });
  if (reply.type === 'announce') return { ok: true, interval: reply.interval, peers: [] };
  return { ok: false, reason: reply.reason };
}

/** The sum of every sample of `name` with these labels (a cluster's nodes each export their own). */
function total(text: string, name: string, labels: Record<string, string>): number {
  return parseMetrics(text)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

function assertRefused(outcome: Outcome, reason: RegExp, what: string): void {
  assert.equal(outcome.ok, false, `${what}: expected a refusal, got ${JSON.stringify(outcome)}`);
  assert.match((outcome as { reason: string }).reason, reason, what);
}

function assertAdmitted(outcome: Outcome, what: string): asserts outcome is Extract<Outcome, { ok: true }> {
  assert.equal(outcome.ok, true, `${what}: expected an answer, got ${JSON.stringify(outcome)}`);
}

/**
 * The tests, for one tracker (all-in-one or a cluster). `keys.current` signs
 * tokens; `denied` is in the access list.
 */
function hookSuite(setup: () => { target: Target; key: TestKey; denied: string }): void {
  const token = (infoHash: string, o: Partial<Parameters<typeof signToken>[1]> = {}): Promise<string> =>
    signToken(setup().key, { infoHashHex: toHex(infoHash), ...o });
  /** Edge 0 for even n, edge 1 for odd (both 0 all-in-one). */
  const edge = (n: number): number => n % setup().target.edges;

  it('admits a known client with a good token on every protocol; the interval is lengthened by 1..maxIncreaseSeconds', async () => {
    const { target } = setup();
    const h = randomId20();
    const t = await token(h);
    const udp = await udpAnnounce(target, edge(0), { infoHash: h, peerId: qb(), token: t });
    assertAdmitted(udp, 'UDP');
    assert.ok(udp.interval > BASE_INTERVAL && udp.interval <= BASE_INTERVAL + MAX_INCREASE, `UDP interval ${udp.interval}`);
    const http = await httpAnnounce(target, edge(1), { infoHash: h, peerId: qb(), token: t });
    assertAdmitted(http, 'HTTP');
    assert.ok(http.interval > BASE_INTERVAL && http.interval <= BASE_INTERVAL + MAX_INCREASE, `HTTP interval ${http.interval}`);
    assert.ok(http.minInterval! > BASE_MIN_INTERVAL && http.minInterval! <= BASE_MIN_INTERVAL + MAX_INCREASE, `HTTP min interval ${http.minInterval}`);
    const ws = await wtAnnounce(await wtSocket(target, edge(0), t), { infoHash: h, peerId: ww() });
    assertAdmitted(ws, 'WebSocket');
    assert.ok(ws.interval > WT_INTERVAL && ws.interval <= WT_INTERVAL + MAX_INCREASE, `WebSocket interval ${ws.interval}`);
  });

  it('torrentApproval: a denied torrent is refused even with a good token; scrapes report it as unknown', async () => {
    const { target, denied } = setup();
    const t = await token(denied);
    const NOT_ALLOWED = /torrent not allowed on this tracker/;
    assertRefused(await udpAnnounce(target, edge(0), { infoHash: denied, peerId: qb(), token: t }), NOT_ALLOWED, 'UDP');
    assertRefused(await httpAnnounce(target, edge(1), { infoHash: denied, peerId: qb(), token: t }), NOT_ALLOWED, 'HTTP');
    assertRefused(await wtAnnounce(await wtSocket(target, edge(0), t), { infoHash: denied, peerId: ww() }), NOT_ALLOWED, 'WebSocket');

    // A served torrent with a seeder on each side (UDP/HTTP and WebTorrent swarms are apart), scraped with the denied one.
    const served = randomId20();
    const servedToken = await token(served);
    assertAdmitted(await httpAnnounce(target, edge(0), { infoHash: served, peerId: qb(), token: servedToken, left: 0 }), 'the seeder');
    assertAdmitted(await wtAnnounce(await wtSocket(target, edge(1), servedToken), { infoHash: served, peerId: ww(), left: 0 }), 'the WebTorrent seeder');
    const udp = await (await udpClient(target.port(edge(1)))).scrapeOk([served, denied]);
    assert.deepEqual(udp.map((s) => s.complete), [1, 0], 'UDP scrape');
    const res = await httpGet('127.0.0.1', target.port(edge(0)), `/scrape?${buildScrapeQuery([denied, served])}`);
    const http = parseScrapeReply(res.body);
    assert.equal(http.type, 'scrape');
    if (http.type === 'scrape') {
      assert.equal(http.files.get(served)?.complete, 1, 'HTTP scrape: the served torrent');
      assert.equal(http.files.get(denied)?.complete ?? 0, 0, 'HTTP scrape: the denied one as unknown');
    }
    const ws = await (await wtSocket(target, edge(1), undefined)).scrapeOk([served, denied]);
    assert.equal(ws.get(served)?.complete, 1, 'WebSocket scrape');
    assert.equal(ws.get(denied)?.complete ?? 0, 0);
  });

  it('clientApproval: a client not on the allow list is refused with a good token; one on it is admitted', async () => {
    const { target } = setup();
    const h = randomId20();
    const t = await token(h);
    const UNAPPROVED = /unapproved client/;
    assertRefused(await udpAnnounce(target, edge(0), { infoHash: h, peerId: ut(), token: t }), UNAPPROVED, 'UDP');
    assertRefused(await httpAnnounce(target, edge(1), { infoHash: h, peerId: ut(), token: t }), UNAPPROVED, 'HTTP');
    const socket = await wtSocket(target, edge(0), t);
    assertRefused(await wtAnnounce(socket, { infoHash: h, peerId: ut() }), UNAPPROVED, 'WebSocket');
    assertAdmitted(await udpAnnounce(target, edge(1), { infoHash: h, peerId: qb(), token: t }), 'UDP, allowed client');
    assertAdmitted(await httpAnnounce(target, edge(0), { infoHash: h, peerId: qb(), token: t }), 'HTTP, allowed client');
    assertAdmitted(await wtAnnounce(socket, { infoHash: h, peerId: ww() }), 'WebSocket, allowed client');
    const text = await target.metrics();
    assert.ok(total(text, 'tracker_hook_refusals_total', { hook: 'clientApproval' }) >= 3, 'refusals counted by hook');
    assert.ok(total(text, 'tracker_requests_total', { protocol: 'ws', action: 'announce', result: 'denied' }) >= 1, 'counted as denied');
  });

  it('jwt: a missing, foreign, expired or unsigned token is refused on every protocol', async () => {
    const { target } = setup();
    const h = randomId20();
    const cases: [string, string | undefined, RegExp][] = [
      ['missing', undefined, /missing jwt/],
      ['for another torrent', await token(randomId20()), /invalid jwt \(it is for another torrent\)/],
      ['expired', await token(h, { expiresIn: -3600 }), /invalid jwt \(expired\)/],
      ['unsigned', unsignedToken(toHex(h)), /invalid jwt \(unsigned \(alg none\)\)/],
    ];
    let n = 0;
    for (const [what, t, reason] of cases) {
      assertRefused(await udpAnnounce(target, edge(n++), { infoHash: h, peerId: qb(), token: t }), reason, `UDP, ${what}`);
      assertRefused(await httpAnnounce(target, edge(n++), { infoHash: h, peerId: qb(), token: t }), reason, `HTTP, ${what}`);
      assertRefused(await wtAnnounce(await wtSocket(target, edge(n++), t), { infoHash: h, peerId: ww() }), reason, `WebSocket, ${what}`);
    }
    // Positive control: the same torrent and client with a good token.
    assertAdmitted(await udpAnnounce(target, edge(n++), { infoHash: h, peerId: qb(), token: await token(h) }), 'UDP, good token');
  });

  it('announceRate: a regular re-announce within the floor is refused (through the other edge too); events pass', async () => {
    const { target } = setup();
    const h = randomId20();
    const t = await token(h);
    const TOO_SOON = /announced too soon: this tracker takes one announce per torrent every 60 seconds/;
    // UDP: the same client (same source address and port) twice.
    assertAdmitted(await udpAnnounce(target, edge(0), { infoHash: h, peerId: qb(), token: t, event: AnnounceEvent.Started }), 'UDP started');
    const client = await udpClient(target.port(edge(0)));
    assertRefused(await udpAnnounce(target, edge(0), { infoHash: h, peerId: qb(), token: t, port: client.localPort }), TOO_SOON, 'UDP re-announce');
    assertAdmitted(await udpAnnounce(target, edge(0), { infoHash: h, peerId: qb(), token: t, event: AnnounceEvent.Completed, left: 0 }), 'UDP completed passes');
    // HTTP: one peer (address from X-Forwarded-For, one port), its announces through alternating edges.
    const port = peerPort();
    const peer = { infoHash: h, peerId: qb(), token: t, port, from: '10.20.30.40' };
    assertAdmitted(await httpAnnounce(target, edge(0), peer), 'HTTP first announce');
    assertRefused(await httpAnnounce(target, edge(1), peer), TOO_SOON, 'HTTP re-announce (through the other edge in a cluster)');
    assertAdmitted(await httpAnnounce(target, edge(1), { ...peer, event: AnnounceEvent.Stopped }), 'HTTP stopped passes');
    // WebSocket: the peer lives on its socket.
    const socket = await wtSocket(target, edge(1), t);
    const wt = { infoHash: h, peerId: ww() };
    assertAdmitted(await wtAnnounce(socket, wt), 'WebSocket first announce');
    assertRefused(await wtAnnounce(socket, wt), TOO_SOON, 'WebSocket re-announce');
    assertAdmitted(await wtAnnounce(socket, { ...wt, event: AnnounceEvent.Completed, left: 0 }), 'WebSocket completed passes');
    assert.ok(total(await target.metrics(), 'tracker_limit_hits_total', { limit: 'hooks.announceRate.minSeconds' }) >= 3, 'counted as a limit (UDP, HTTP, WebSocket)');
  });

  it('sameSubnet: the announcer\'s /24 comes first, in compact and dictionary replies, over UDP and HTTP', async () => {
    const { target } = setup();
    const h = randomId20();
    const t = await token(h);
    // 12 peers in 127.0.0.0/24 (the UDP client's) and 12 in 10.7.7.0/24, among 90 elsewhere: fewer than
    // one search window (128 records, services/swarm/store/peer-table.ts), so every neighbour is found.
    const join = (from: string, n: number) => httpAnnounce(target, edge(n), { infoHash: h, peerId: qb(), token: t, from, numwant: 1 });
    let n = 0;
    for (let i = 0; i < 90; i++) assertAdmitted(await join(`10.${100 + (i % 50)}.${i}.1`, n++), 'a far peer');
    for (let i = 0; i < 12; i++) assertAdmitted(await join(`127.0.0.${10 + i}`, n++), 'a peer near the UDP client');
    for (let i = 0; i < 12; i++) assertAdmitted(await join(`10.7.7.${10 + i}`, n++), 'a peer near the HTTP client');

    const udp = await udpAnnounce(target, edge(0), { infoHash: h, peerId: qb(), token: t, numwant: 40 });
    assertAdmitted(udp, 'UDP');
    assert.equal(udp.peers.length, 40);
    assert.deepEqual(udp.peers.slice(0, 12).filter((ip) => !ip.startsWith('127.0.0.')), [], 'UDP: the 12 of 127.0.0.0/24 first');
    assert.deepEqual(udp.peers.slice(12).filter((ip) => ip.startsWith('127.0.0.')), []);
    for (const compact of [true, false]) {
      const http = await httpAnnounce(target, edge(1), { infoHash: h, peerId: qb(), token: t, numwant: 40, from: `10.7.7.${compact ? 200 : 201}`, compact });
      assertAdmitted(http, `HTTP compact=${compact}`);
      const near = compact ? 12 : 13; // the compact announcer joined 10.7.7.0/24 too
      assert.deepEqual(http.peers.slice(0, near).filter((ip) => !ip.startsWith('10.7.7.')), [], `HTTP compact=${compact}: the ${near} of 10.7.7.0/24 first`);
      assert.deepEqual(http.peers.slice(near).filter((ip) => ip.startsWith('10.7.7.')), []);
    }
  });
}

describe('request hooks: all-in-one', () => {
  let tracker: LaunchedTracker;
  let server: JwksServer;
  let key: TestKey;
  let nextKey: TestKey;
  const denied = randomId20();

  before(async () => {
    [key, nextKey] = await Promise.all([makeKey('ES256', 'one'), makeKey('EdDSA', 'two')]);
    server = await JwksServer.start(jwks(key));
    const denyFile = join(dir, 'deny-aio.txt');
    writeFileSync(denyFile, `${toHex(denied)}\n`);
    tracker = await launchTracker([...hookFlags(server.url, denyFile), NO_JITTER]);
  });

  after(async () => {
    await tracker?.stop();
    await server?.close();
  });

  hookSuite(() => ({
    target: { edges: 1, port: () => tracker.udpPort, metrics: () => metricsText(tracker.metricsPort) },
    key,
    denied,
  }));

  it('jwt: SIGHUP fetches the JWK Set again, and a token signed with the new key is admitted', async () => {
    const h = randomId20();
    const t = await signToken(nextKey, { infoHashHex: toHex(h) });
    const target: Target = { edges: 1, port: () => tracker.udpPort, metrics: () => metricsText(tracker.metricsPort) };
    assertRefused(await httpAnnounce(target, 0, { infoHash: h, peerId: qb(), token: t }), /signed with a key this tracker does not know/, 'before');
    server.serve(jwks(key, nextKey));
    const fetches = server.fetches;
    tracker.signal('SIGHUP');
    await eventually(() => (server.fetches > fetches ? true : undefined), 10_000, 'the JWK Set to be fetched again');
    await eventually(async () => ((await httpAnnounce(target, 0, { infoHash: h, peerId: qb(), token: t })).ok ? true : undefined), 10_000, 'the new key to be used');
    const samples = await scrapeMetrics(tracker.metricsPort);
    assert.equal(metricValue(samples, 'tracker_jwt_keys'), 2);
    assert.ok((metricValue(samples, 'tracker_jwt_verifications_total') ?? 0) >= 1);
  });
});

describe('request hooks: a cluster of 2 edges and 2 swarms', () => {
  let cluster: Cluster;
  let server: JwksServer;
  let key: TestKey;
  const denied = randomId20();

  before(async () => {
    key = await makeKey('RS256', 'cluster');
    server = await JwksServer.start(jwks(key));
    const denyFile = join(dir, 'deny-cluster.txt');
    writeFileSync(denyFile, `${toHex(denied)}\n`);
    const scope = { after: (fn: () => unknown) => cleanups.push(fn) };
    cluster = await startCluster(scope, { swarms: 2, edges: 2, edgeArgs: hookFlags(server.url, denyFile), swarmArgs: [NO_JITTER] });
  });

  const cleanups: Array<() => unknown> = [];
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
    await server?.close();
  });

  hookSuite(() => ({
    target: {
      edges: 2,
      port: (i) => cluster.edges[i].port,
      // Edges count hook refusals; swarms count the announce-rate floor for UDP and HTTP.
      metrics: async () => [...(await Promise.all([...cluster.edges, ...cluster.swarms].map((n) => n.metrics())))].join('\n'),
    },
    key,
    denied,
  }));
});
