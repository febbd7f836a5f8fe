/**
 * The C generator's WebSocket mode (udpgen.c --protocol=ws): it sends
 * byte for byte the frames of the Node loop (ws-client.ts) for the same
 * model, counts like it against the C echo (ws-run.test.ts runs both
 * engines against the uWebSockets.js one), and copes with what a server may
 * do to frames: fragments, frames split over many TCP reads, pings between
 * fragments, a close frame. Skipped when gcc is not installed. Loopback
 * only, every run ~1.5 s.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { compileC } from '../../../bench/loadtest/cgen.js';
import type { EchoServer } from '../../../bench/loadtest/echo-server.js';
import { DEFAULT_MODEL, LoadModel, type LoadModelOptions } from '../../../bench/loadtest/model.js';
import { runLoadtest, split } from '../../../bench/loadtest/runner.js';
import { WsLoop } from '../../../bench/loadtest/ws-client.js';
import { ECHO_PEER_ID } from '../../../bench/loadtest/ws-echo.js';
import { LiveCounters, liveBuffer } from '../../../bench/loadtest/worker-types.js';
import {
  encodeAnnounceReply,
  encodeAnswer,
  encodeOffer,
  encodeScrapeReply,
  parseWtMessage,
} from '../../../lib/protocol/webtorrent/server.js';
import { WS_BASE, assertEchoed, hasGcc, onClientFrames, startCEcho } from './ws-fixtures.js';

const q = JSON.stringify as (s: string) => string;
const base = { ...WS_BASE, engine: 'c' as const };

interface FrameCase {
  model: LoadModelOptions;
  connections: number;
  workers: number;
  connection: number;
  frames: number;
  offers: number;
  torrentsPerConnection: number;
  sdp: [number, number];
  answer: boolean;
}

/**
 * What the Node loop sends on connection `connection` when every request is
 * answered at once and the first offer of each announce comes back from the
 * echo's fake peer: udpgen's --print-ws-frames scenario, driven through the
 * loop's own sendNext / onRelayed.
 */
function nodeFrames(c: FrameCase): string[] {
  const parts = split(c.connections, Math.min(c.workers, c.connections));
  const worker = parts.findIndex(([first, n]) => c.connection >= first && c.connection < first + n);
  const [first, count] = parts[worker];
  const loop = new WsLoop(
    {
      host: '127.0.0.1', port: 1, path: '/', connections: count, firstConnection: first, window: 1,
      torrentsPerConnection: c.torrentsPerConnection, offers: c.offers, sdpMinBytes: c.sdp[0], sdpMaxBytes: c.sdp[1],
      intervalMs: 0, answer: c.answer, timeoutMs: 5000,
    },
    new LoadModel(c.model),
    new LiveCounters(liveBuffer(1), 0),
    worker,
  );
  loop.running = true;
  const flow = loop.flows[c.connection - first];
  flow.open = true;
  const out: string[] = [];
  for (let k = 0; k < c.frames && flow.sendNext(); k++) {
    out.push(...flow.out.splice(0));
    if (flow.scrapeSentAt > 0) {
      flow.scrapeSentAt = 0;
      flow.inFlight--;
    }
    for (let i = 0; i < flow.sentAt.length; i++) {
      if (flow.sentAt[i] === 0) continue;
      flow.sentAt[i] = 0;
      flow.inFlight--;
      if (c.offers > 0 && c.answer) {
        flow.onRelayed({ kind: 'offer', infoHashJson: flow.hashesJson[i], peerIdJson: q(ECHO_PEER_ID), offerIdJson: flow.offerIds[0] });
        out.push(...flow.out.splice(0));
      }
    }
  }
  return out;
}

function cFrames(bin: string, c: FrameCase): string[] {
  const m = c.model;
  const r = spawnSync(
    bin,
    [
      '--protocol=ws', `--seed=${m.seed}`, `--torrents=${m.torrents}`, `--popularity=${m.popularity}`, `--scrape-ratio=${m.announcesPerScrape}`,
      `--scrape-hashes=${m.scrapeMaxHashes}`, `--seeders=${m.seederShare}`, `--sources=${m.sources}`, `--ports-per-source=${m.portsPerSource}`,
      `--connections=${c.connections}`, `--threads=${c.workers}`, `--offers=${c.offers}`, `--torrents-per-connection=${c.torrentsPerConnection}`,
      `--sdp-min=${c.sdp[0]}`, `--sdp-max=${c.sdp[1]}`, `--answer=${c.answer ? 1 : 0}`, `--print-ws-frames=${c.frames}`,
      `--print-ws-connection=${c.connection}`,
    ],
    { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 20_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').slice(0, -1);
}

// ---------------------------------------------------------------- a server that frames awkwardly

/** A server frame (unmasked), FIN and opcode as given. */
function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0, n]) : Buffer.from([0, 126, n >> 8, n & 255]);
  head[0] = (fin ? 0x80 : 0) | opcode;
  return Buffer.concat([head, payload]);
}

interface AwkwardServer {
  port: number;
  pongs: Buffer[];
  close(): void;
}

/**
 * A WebTorrent "tracker" that answers like the echo but sends every
 * announce and scrape reply as three fragments with a ping in between, in
 * 7-byte writes a millisecond apart, and offers and answers in two writes
 * (so frames straddle the client's reads), and closes the first connection
 * with a close frame (1000) half a second after its first announce.
 */
async function startAwkwardServer(): Promise<AwkwardServer> {
  const pongs: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  let closedOne = false;
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let queue = Promise.resolve();
    /** In `piece`-byte writes a millisecond apart (after whatever is queued). */
    const sendSlowly = (b: Buffer, piece = 7): void => {
      queue = queue.then(async () => {
        for (let i = 0; i < b.length && !sock.destroyed; i += piece) {
          sock.write(b.subarray(i, i + piece));
          await new Promise((r) => setTimeout(r, 1));
        }
      });
    };
    /** A big frame in two writes. */
    const sendHalves = (b: Buffer): void => sendSlowly(b, Math.ceil(b.length / 2));
    const fragmented = (text: string): Buffer => {
      const b = Buffer.from(text);
      const a = Math.floor(b.length / 3);
      return Buffer.concat([
        frame(1, b.subarray(0, a), false),
        frame(9, Buffer.from('ping!')),
        frame(0, b.subarray(a, 2 * a), false),
        frame(0, b.subarray(2 * a), true),
      ]);
    };
    onClientFrames(sock, (opcode, payload) => {
      if (opcode === 10) {
        pongs.push(payload);
        return;
      }
      const m = parseWtMessage(payload.toString(), { maxOffers: 10, maxScrapeHashes: 10 });
      if (m.type === 'scrape') {
        sendSlowly(fragmented(encodeScrapeReply(m.infoHashes.map((hash) => [hash, { complete: 0, incomplete: 0, downloaded: 0 }] as const))));
      } else if (m.type === 'announce' && m.answer) {
        sendHalves(frame(1, Buffer.from(encodeAnswer({ infoHash: m.infoHash, fromPeerId: m.peerId, offerId: m.answer.offerId, answer: m.answer.answer }))));
      } else if (m.type === 'announce') {
        sendSlowly(fragmented(encodeAnnounceReply({ infoHash: m.infoHash, interval: 120, complete: 0, incomplete: 1 })));
        for (const o of m.offers) sendHalves(frame(1, Buffer.from(encodeOffer({ infoHash: m.infoHash, fromPeerId: ECHO_PEER_ID, offerId: o.offerId, offer: o.offer }))));
        if (!closedOne) {
          closedOne = true;
          setTimeout(() => {
            queue = queue.then(() => void sock.end(frame(8, Buffer.from([0x03, 0xe8]))));
          }, 500);
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    pongs,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('C generator, WebSocket mode', { skip: !hasGcc && 'gcc not installed' }, () => {
  let bin = '';
  let cEcho: EchoServer;
  before(async () => {
    bin = compileC('udpgen');
    cEcho = await startCEcho(['--ws', '1']);
  });
  after(async () => {
    await cEcho?.close();
  });

  it('sends the Node loop\'s frames, byte for byte', () => {
    const cases: FrameCase[] = [
      // default model, scrapes often, binary offer ids (quotes, backslashes, controls, >= 0x80)
      { model: { ...DEFAULT_MODEL, announcesPerScrape: 5 }, connections: 10, workers: 1, connection: 3, frames: 40, offers: 5, torrentsPerConnection: 10, sdp: [500, 1500], answer: true },
      // a small torrent set (collisions while picking torrents), the second worker's SDP pool, big SDPs
      { model: { ...DEFAULT_MODEL, seed: 7, torrents: 30, announcesPerScrape: 3, sources: 3 }, connections: 9, workers: 2, connection: 7, frames: 60, offers: 2, torrentsPerConnection: 25, sdp: [10, 3000], answer: true },
      // gamma popularity, no offers, no answers, all leechers
      { model: { ...DEFAULT_MODEL, popularity: 'gamma', seederShare: 0 }, connections: 5, workers: 3, connection: 4, frames: 20, offers: 0, torrentsPerConnection: 3, sdp: [500, 1500], answer: false },
    ];
    for (const c of cases) {
      const want = nodeFrames(c);
      const got = cFrames(bin, c);
      assert.ok(want.length >= c.frames, `${want.length} frames`);
      assert.equal(got.length, want.length);
      for (let i = 0; i < want.length; i++) assert.equal(got[i], want[i], `frame ${i} of ${JSON.stringify({ ...c, model: undefined })}`);
    }
  });

  it('against the C echo: the same counts as against the uWebSockets.js one (ws-run.test.ts)', async () => {
    const { summary } = await runLoadtest({ ...base, port: cEcho.port });
    assert.equal(summary.engine, 'c');
    assertEchoed(summary);
    assert.ok(summary.generatorCpuSeconds !== undefined && summary.generatorCpuSeconds > 0);
  });

  it('joins fragments, reads frames split over many reads, answers pings, reopens after a close frame', async () => {
    const server = await startAwkwardServer();
    try {
      const { summary, errorMessages } = await runLoadtest({ ...base, port: server.port, workers: 1, sockets: 3, warmupSeconds: 0.2, durationSeconds: 1.2 });
      const c = summary.counters;
      assert.ok(c.announces > 0 && summary.ws!.counters.answersMatched > 0, JSON.stringify({ c, w: summary.ws!.counters }));
      assert.equal(c.errors + c.invalid, 0, JSON.stringify(errorMessages));
      assert.ok(server.pongs.length > 0 && server.pongs.every((p) => p.toString() === 'ping!'));
      assert.equal(c.socketErrors, 1, JSON.stringify(errorMessages));
      assert.equal(errorMessages['closed by the server (1000)'], 1, JSON.stringify(errorMessages));
      assert.equal(c.reconnects, 1);
      assert.equal(summary.ws!.counters.reopened, 1);
    } finally {
      server.close();
    }
  });
});
