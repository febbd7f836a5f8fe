/**
 * The load model's client addresses, seen from the server side: recording
 * UDP and HTTP servers written here check every request of a short run of
 * each engine (the C one when gcc is there) against the model, and a short
 * run against the real tracker with its production limits shows the peers
 * it hands out. What a benchmark relies on:
 * - every address of the pool sends, each from one flow only (one socket,
 *   or one HTTP connection slot), and its announces carry that address's
 *   own peers (peer id and port from the model for that address);
 * - UDP: each address connects once and uses the connection id issued to
 *   it (the tracker binds ids to the client address), so it can send from
 *   16,384 addresses through 64 sockets (IP_PKTINFO in the C engine);
 * - HTTP: a keep-alive connection carries `requestsPerConnection` requests,
 *   only the last says Connection: close; --close: one each;
 * - the tracker, at its production limits, refuses nothing and hands out
 *   peers of many distinct addresses (and the same check does catch a
 *   one-address pool: the positive control).
 * Loopback only; each run ~1.5 s.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { DEFAULT_MODEL, LoadModel, parseLoopbackV4, sourceAddress, torrentHash, type LoadModelOptions } from '../../../bench/loadtest/model.js';
import { runLoadtest, type LoadtestConfig } from '../../../bench/loadtest/runner.js';
import { udpAnnounce } from '../../support/clients/raw-tracker.js';
import { scrapeMetrics } from '../../support/integration-helpers.js';
import { startTracker } from '../../support/tracker-process.js';

const hasGcc = spawnSync('gcc', ['--version']).status === 0;
const ENGINES = hasGcc ? (['node', 'c'] as const) : (['node'] as const);

/** 64 addresses x 2 ports from 127.3.0.250 (the octets carry over), over 4 flows in 2 workers: 16 addresses each. */
const MODEL: LoadModelOptions = { ...DEFAULT_MODEL, torrents: 50, sources: 64, firstAddress: '127.3.0.250', portsPerSource: 2, announcesPerScrape: 10 };
const model = new LoadModel(MODEL);
const FIRST = parseLoopbackV4(MODEL.firstAddress)!;

const BASE: Omit<LoadtestConfig, 'protocol' | 'port' | 'engine'> = {
  host: '127.0.0.1',
  durationSeconds: 1,
  warmupSeconds: 0.3,
  workers: 2,
  sockets: 4,
  window: 4,
  timeoutMs: 1000,
  reconnectAfterMs: 60_000,
  maxFailures: 3,
  connectionPerRequest: false,
  announcePath: '/announce',
  scrapePath: '/scrape',
  model: MODEL,
  progress: false,
};

/** The model source of a dotted quad, or -1 outside the pool. */
function sourceOf(address: string): number {
  const a = parseLoopbackV4(address);
  const s = a === null ? -1 : a - FIRST;
  return s >= 0 && s < MODEL.sources ? s : -1;
}

/** Why an announce from `address` with this peer id and port is not one of that address's peers, or null. */
function foreignPeer(address: string, peerId: string, port: number): string | null {
  const source = sourceOf(address);
  if (source < 0) return `${address} is not in the pool`;
  const portIndex = port - MODEL.firstPort;
  if (portIndex < 0 || portIndex >= MODEL.portsPerSource) return `${address}: port ${port} is not in the pool`;
  if (model.peerId(source, portIndex) !== peerId) return `${address}:${port}: peer id ${peerId} is another address's`;
  return null;
}

// ---------------------------------------------------------------- UDP

interface UdpRecord {
  problems: string[];
  /** address -> source ports (generator sockets) it was sent from */
  socketsOf: Map<string, Set<number>>;
  connects: Map<string, number>;
  announcesFrom: Set<string>;
}

/** A BEP 15 server whose connection id is the client address itself, checking every request against the model. */
async function startUdpRecorder(): Promise<{ port: number; rec: UdpRecord; close(): Promise<void> }> {
  const rec: UdpRecord = { problems: [], socketsOf: new Map(), connects: new Map(), announcesFrom: new Set() };
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 21 });
  const problem = (p: string): void => {
    if (rec.problems.length < 20) rec.problems.push(p);
  };
  sock.on('message', (msg, from) => {
    if (msg.length < 16) return problem(`short datagram from ${from.address}`);
    const sockets = rec.socketsOf.get(from.address) ?? new Set<number>();
    sockets.add(from.port);
    rec.socketsOf.set(from.address, sockets);
    const action = msg.readUInt32BE(8);
    const txid = msg.readUInt32BE(12);
    const idOfSender = parseLoopbackV4(from.address) ?? 0;
    const out = Buffer.alloc(16 + 12 * 74);
    out.writeUInt32BE(action, 0);
    out.writeUInt32BE(txid, 4);
    if (action === 0) {
      rec.connects.set(from.address, (rec.connects.get(from.address) ?? 0) + 1);
      out.writeUInt32BE(idOfSender, 8);
      out.writeUInt32BE(0x5eed, 12);
      sock.send(out, 0, 16, from.port, from.address);
      return;
    }
    if (msg.readUInt32BE(0) !== idOfSender || msg.readUInt32BE(4) !== 0x5eed) {
      return problem(`${from.address} sent a connection id issued to ${msg.readUInt32BE(0).toString(16)}`);
    }
    if (action === 1 && msg.length >= 98) {
      rec.announcesFrom.add(from.address);
      const why = foreignPeer(from.address, msg.toString('latin1', 36, 56), msg.readUInt16BE(96));
      if (why) problem(why);
      out.writeUInt32BE(1800, 8); // interval; leechers, seeders 0; no peers
      sock.send(out, 0, 20, from.port, from.address);
    } else if (action === 2) {
      sock.send(out, 0, 8 + 12 * Math.floor((msg.length - 16) / 20), from.port, from.address);
    } else {
      problem(`action ${action} from ${from.address}`);
    }
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  return { port: sock.address().port, rec, close: () => new Promise<void>((resolve) => sock.close(() => resolve())) };
}

// ---------------------------------------------------------------- HTTP

interface HttpConnection {
  address: string;
  /** Per request: did it say Connection: close? */
  closes: boolean[];
}

/** An HTTP/1.1 tracker stand-in that records each connection's address and requests, checking peers against the model. */
async function startHttpRecorder(): Promise<{ port: number; connections: HttpConnection[]; problems: string[]; close(): Promise<void> }> {
  const connections: HttpConnection[] = [];
  const problems: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined); // the C engine resets after its last request
    const conn: HttpConnection = { address: s.remoteAddress ?? '', closes: [] };
    connections.push(conn);
    let buf = '';
    s.setEncoding('latin1');
    s.on('data', (chunk: string) => {
      buf += chunk;
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const target = head.slice(4, head.indexOf(' HTTP/1.1'));
        const close = /\r\nconnection: close/i.test(head);
        conn.closes.push(close);
        const query = new URLSearchParams(target.slice(target.indexOf('?') + 1));
        let body = 'd5:filesdee';
        if (target.startsWith('/announce?')) {
          const why = foreignPeer(conn.address, query.get('peer_id') ?? '', Number(query.get('port')));
          if (why && problems.length < 20) problems.push(why);
          body = 'd8:intervali1800e5:peers0:e';
        }
        s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${close ? 'Connection: close\r\n' : ''}\r\n${body}`);
        if (close) s.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    problems,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const allSources = (): string[] => Array.from({ length: MODEL.sources }, (_, s) => sourceAddress(MODEL, s));

describe('client addresses of the load model, from the server side', () => {
  for (const engine of ENGINES) {
    it(`${engine} engine, UDP: all 64 addresses through 4 sockets, one socket each, one connect each, their own peers and ids`, async () => {
      const server = await startUdpRecorder();
      try {
        const { summary } = await runLoadtest({ ...BASE, engine, protocol: 'udp', port: server.port });
        const c = summary.counters;
        assert.ok(c.announces > 200 && c.scrapes > 0, JSON.stringify(c));
        assert.equal(c.errors + c.invalid + c.lost, 0, JSON.stringify(c));
        const rec = server.rec;
        assert.deepEqual(rec.problems, []);
        assert.deepEqual([...rec.announcesFrom].sort(), allSources().sort());
        for (const [address, ports] of rec.socketsOf) assert.equal(ports.size, 1, `${address} sent from ${ports.size} sockets`);
        for (const [address, n] of rec.connects) assert.equal(n, 1, `${address} connected ${n} times`);
        const ports = new Set([...rec.socketsOf.values()].flatMap((p) => [...p]));
        // The C engine sends from any address through each of its sockets (IP_PKTINFO); node:dgram needs a socket per address.
        assert.equal(ports.size, engine === 'c' ? BASE.sockets : MODEL.sources);
      } finally {
        await server.close();
      }
    });

    it(`${engine} engine, HTTP keep-alive: 5 requests per connection, the 5th says close, the slot moves on through all addresses`, async () => {
      const server = await startHttpRecorder();
      try {
        const { summary } = await runLoadtest({ ...BASE, engine, protocol: 'http', port: server.port, requestsPerConnection: 5 });
        const c = summary.counters;
        assert.ok(c.announces > 100, JSON.stringify(c));
        assert.equal(c.errors + c.invalid + c.lost, 0, JSON.stringify(c));
        assert.deepEqual(server.problems, []);
        const conns = server.connections.filter((k) => k.closes.length > 0);
        for (const k of conns) {
          assert.ok(k.closes.length <= 5, `${k.closes.length} requests on one connection`);
          assert.deepEqual(k.closes.slice(0, -1), new Array(k.closes.length - 1).fill(false), 'Connection: close before the last request');
        }
        // Only the connections open when the run ended may have carried fewer.
        const full = conns.filter((k) => k.closes.length === 5);
        assert.ok(conns.length - full.length <= BASE.sockets, `${conns.length - full.length} short connections`);
        assert.ok(full.every((k) => k.closes[4]), 'a 5th request without Connection: close');
        assert.deepEqual([...new Set(conns.map((k) => k.address))].sort(), allSources().sort());
      } finally {
        await server.close();
      }
    });

    it(`${engine} engine, HTTP connection per request: one request per connection, each with Connection: close`, async () => {
      const server = await startHttpRecorder();
      try {
        const { summary } = await runLoadtest({ ...BASE, engine, protocol: 'http', port: server.port, connectionPerRequest: true });
        assert.ok(summary.counters.announces > 50, JSON.stringify(summary.counters));
        assert.deepEqual(server.problems, []);
        const conns = server.connections.filter((k) => k.closes.length > 0);
        assert.ok(conns.every((k) => k.closes.length === 1 && k.closes[0]), 'a connection with more than one request');
        assert.ok(new Set(conns.map((k) => k.address)).size === MODEL.sources, 'not every address connected');
      } finally {
        await server.close();
      }
    });
  }
});

describe('the default-sized load against the tracker at its production limits', { skip: !hasGcc && 'gcc not installed' }, () => {
  let tracker: Awaited<ReturnType<typeof startTracker>>;
  before(async () => {
    tracker = await startTracker(undefined);
  });
  after(async () => {
    await tracker?.stop();
  });

  const limitHits = async (): Promise<number> =>
    (await scrapeMetrics(tracker.metricsPort)).filter((m) => m.name === 'tracker_limit_hits_total').reduce((n, m) => n + m.value, 0);

  /** One bounded C-engine UDP run of `m` against the tracker. */
  const run = (m: LoadModelOptions) =>
    runLoadtest({ ...BASE, engine: 'c', protocol: 'udp', port: tracker.port, sockets: 16, window: 8, durationSeconds: 1.5, model: m });

  it('nothing refused, and the hot torrent hands out peers of many addresses, at most 2 (ports) each', async () => {
    const m: LoadModelOptions = { ...DEFAULT_MODEL, torrents: 20 };
    const { summary, errorMessages } = await run(m);
    assert.ok(summary.counters.announces > 1000, JSON.stringify(summary.counters));
    assert.equal(summary.counters.errors, 0, JSON.stringify(errorMessages));
    assert.equal(await limitHits(), 0);
    const reply = await udpAnnounce(tracker.udpAnnounceUrl(), { infoHash: Buffer.from(torrentHash(m.seed, 0), 'latin1'), port: 4242, left: 1, numwant: 200, peerId: randomBytes(20) });
    assert.equal(reply.failure, undefined);
    const perAddress = new Map<string, number>();
    for (const p of reply.peers) {
      const address = p.slice(0, p.lastIndexOf(':'));
      perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
    }
    assert.ok(reply.peers.length >= 100, `${reply.peers.length} peers`);
    assert.ok(perAddress.size >= reply.peers.length / 2, `${perAddress.size} addresses for ${reply.peers.length} peers`);
    assert.ok(Math.max(...perAddress.values()) <= m.portsPerSource);
  });

  it('positive control: the same run from one address with many ports is refused by the per-address limits', async () => {
    const m: LoadModelOptions = { ...DEFAULT_MODEL, torrents: 20, sources: 1, firstAddress: '127.4.0.1', portsPerSource: 256 };
    const { summary, errorMessages } = await run(m);
    assert.ok(summary.counters.errors > 0, JSON.stringify(summary.counters));
    assert.ok(Object.keys(errorMessages).some((e) => e.includes('too many peers from your address')), JSON.stringify(errorMessages));
    assert.ok((await limitHits()) > 0);
  });
});
