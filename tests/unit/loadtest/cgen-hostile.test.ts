/**
 * The C programs' parsers against hostile peers: the generator (udpgen.c,
 * UDP / HTTP / WebSocket) runs ~1.5 s against servers written here that
 * answer with random bytes, valid replies cut at every boundary, corrupt
 * length fields, wrong ids, bad JSON and mid-reply closes; it must exit by
 * itself with status 0 and a summary that counts the bad replies. The C echo
 * (echo-server.c) gets random and truncated requests over UDP, HTTP and
 * WebSocket and must still be alive and answer a valid request afterwards.
 * Seeded (PROTOCOL_TEST_SEED reproduces a run). Skipped without gcc.
 * Loopback only, ~10 s in all.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { compileC } from '../../../bench/loadtest/cgen.js';
import { DEFAULT_MODEL } from '../../../bench/loadtest/model.js';
import { runLoadtest, type LoadtestConfig, type RunResult } from '../../../bench/loadtest/runner.js';
import { int, pick, printSeed, randomBytes, rngFor, where } from '../../support/seeded-random.js';
import { WS_BASE, hasGcc, onClientFrames, startCEcho, takeFrame, type CEcho } from './ws-fixtures.js';

type Rng = () => number;

const chance = (r: Rng, p: number): boolean => r() < p;
const junk = (r: Rng): Buffer => randomBytes(r, int(r, 4097));
/** `b` cut short: at a random byte, or right before / after one of `marks` (field and line boundaries). */
function truncate(r: Rng, b: Buffer, marks: number[] = []): Buffer {
  const cuts = marks.filter((m) => m >= 0 && m < b.length).flatMap((m) => [m, m + 1]).filter((m) => m < b.length);
  return b.subarray(0, cuts.length && chance(r, 0.6) ? pick(r, cuts) : int(r, Math.max(1, b.length)));
}
/** Offsets of every occurrence of `s` in `b` (line and field boundaries). */
function marksOf(b: Buffer, ...ss: string[]): number[] {
  const out: number[] = [];
  for (const s of ss) for (let i = b.indexOf(s); i >= 0; i = b.indexOf(s, i + 1)) out.push(i, i + s.length);
  return out;
}

// ---------------------------------------------------------------- generator runs

const GEN_BASE: Omit<LoadtestConfig, 'protocol' | 'port'> = {
  engine: 'c',
  host: '127.0.0.1',
  durationSeconds: 1.2,
  warmupSeconds: 0.2,
  workers: 1,
  sockets: 4,
  window: 4,
  timeoutMs: 300,
  reconnectAfterMs: 60_000,
  maxFailures: 3,
  connectionPerRequest: false,
  announcePath: '/announce',
  scrapePath: '/scrape',
  model: { ...DEFAULT_MODEL, torrents: 50, sources: 2, announcesPerScrape: 4 },
  progress: false,
};

/** One bounded run: it must come back by itself (exit 0, JSON summary) with the bad replies counted. */
async function hostileRun(cfg: LoadtestConfig, what: string): Promise<RunResult> {
  let r: RunResult;
  try {
    r = await runLoadtest(cfg);
  } catch (e) {
    assert.fail(`${where(what, 0)}: ${(e as Error).message}`);
  }
  const c = r.summary.counters;
  assert.ok(c.sent > 0, `${where(what, 0)} ${JSON.stringify(c)}`);
  assert.ok(c.errors + c.invalid > 0, `${where(what, 0)} nothing counted as bad: ${JSON.stringify({ c, m: r.errorMessages })}`);
  return r;
}

// ---- UDP (BEP 15)

function udpValid(r: Rng, req: Buffer): Buffer {
  const action = req.length >= 12 ? req.readUInt32BE(8) : 0;
  const txid = req.length >= 16 ? req.readUInt32BE(12) : 0;
  let out: Buffer;
  if (action === 0) out = Buffer.alloc(16);
  else if (action === 2) out = Buffer.alloc(8 + 12 * Math.floor(Math.max(0, req.length - 16) / 20));
  else out = Buffer.alloc(20 + 6 * int(r, 5));
  out.writeUInt32BE(action, 0);
  out.writeUInt32BE(txid, 4);
  if (action === 0) out.writeUInt32BE(0xdeadbeef, 12);
  return out;
}

function udpHostile(r: Rng, req: Buffer): Buffer[] {
  const ok = udpValid(r, req);
  const action = ok.readUInt32BE(0);
  const txid = ok.readUInt32BE(4);
  // Connects mostly succeed, so announces and scrapes get their share of abuse.
  if (action === 0 && chance(r, 0.5)) return [ok];
  switch (int(r, 9)) {
    case 0:
      return [junk(r)];
    case 1:
      return [truncate(r, ok, [4, 8, 12, 16, 20])];
    case 2: {
      const b = Buffer.from(ok);
      b.writeUInt32BE(chance(r, 0.5) ? (txid ^ (1 + int(r, 0xffff))) >>> 0 : int(r, 0x1_0000_0000), 4);
      return [b];
    }
    case 3: {
      const b = Buffer.from(ok);
      b.writeUInt32BE(pick(r, [0, 1, 2, 4, 0xffffffff, int(r, 0x1_0000_0000)]), 0);
      return [b];
    }
    case 4: {
      // error replies: empty, long, binary messages
      const msg = pick(r, [Buffer.alloc(0), randomBytes(r, int(r, 200)), Buffer.alloc(3000, 'x')]);
      const b = Buffer.concat([Buffer.alloc(8), msg]);
      b.writeUInt32BE(3, 0);
      b.writeUInt32BE(txid, 4);
      return [b];
    }
    case 5:
      return [ok, ok]; // duplicate
    case 6:
      return []; // dropped
    case 7:
      return [Buffer.concat([ok, randomBytes(r, 1 + int(r, 7))])]; // bad length for its action
    default:
      return [ok];
  }
}

async function startUdpHostile(r: Rng): Promise<{ port: number; close(): void }> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    for (const b of udpHostile(r, msg)) sock.send(b, rinfo.port, rinfo.address);
  });
  sock.on('error', () => undefined);
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res));
  return { port: sock.address().port, close: () => sock.close() };
}

// ---- HTTP

const BODY_ANNOUNCE = 'd8:completei1e10:incompletei2e8:intervali1800e5:peers12:abcdefghijkle';
const BODY_SCRAPE = 'd5:filesdee';

function httpReply(body: string | Buffer, extra = '', status = '200 OK'): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\n${extra}Content-Length: ${b.length}\r\n\r\n`), b]);
}

/** What to write for one request, and whether to close afterwards. */
function httpHostile(r: Rng, scrape: boolean): { out: Buffer[]; close: boolean } {
  const body = scrape ? BODY_SCRAPE : BODY_ANNOUNCE;
  const ok = httpReply(body);
  const head = (cl: string, more = ''): string => `HTTP/1.1 200 OK\r\n${more}Content-Length: ${cl}\r\n\r\n`;
  switch (int(r, 16)) {
    case 0:
      return { out: [junk(r)], close: chance(r, 0.5) };
    case 1:
      return { out: [truncate(r, ok, marksOf(ok, '\r\n', ':', ' '))], close: true };
    case 2: // Content-Length too large: the body never completes
      return { out: [Buffer.from(head(String(body.length + 1 + int(r, 100))) + body)], close: chance(r, 0.5) };
    case 3: // too small: the rest is junk in front of the next reply
      return { out: [Buffer.from(head(String(int(r, body.length))) + body)], close: false };
    case 4:
      return { out: [Buffer.from(head(pick(r, ['-1', '-99999999999999999999', '99999999999999999999999', '18446744073709551615', '9223372036854775807', '0x10', '', ' 12abc'])) + body)], close: chance(r, 0.5) };
    case 5: {
      // chunked, sizes garbage
      const size = pick(r, ['zz', 'ffffffffffffffffffff', '-5', '', '7fffffff', String(body.length)]);
      return { out: [Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${size}\r\n${body}\r\n0\r\n\r\n`)], close: chance(r, 0.5) };
    }
    case 6: // no length: the body runs to the close
      return { out: [Buffer.from(`HTTP/1.1 200 OK\r\n\r\n${pick(r, [body, '', 'd', 'e', 'garbage'])}`)], close: true };
    case 7:
      return { out: [httpReply(pick(r, ['d14:failure reason5:nope!e', 'd14:failure reason999999:xe', 'd14:failure reason:e', 'd14:failure reason']), '', pick(r, ['200 OK', '400 Bad', '500 Oops', '99999999999 X', 'abc']))], close: false };
    case 8: // a header block past any buffer
      return { out: [Buffer.from(`HTTP/1.1 200 OK\r\nX-Pad: ${'a'.repeat(20_000 + int(r, 20_000))}\r\n`)], close: chance(r, 0.5) };
    case 9: // not HTTP
      return { out: [Buffer.from(pick(r, ['\r\n\r\n', 'HTTP/1.\r\n\r\n', 'HTTP/2 200\r\n\r\n', 'HTTP/1.1\r\n\r\n', 'SSH-2.0-x\r\n\r\n']))], close: chance(r, 0.5) };
    case 10:
      return { out: [], close: true }; // closed before any reply
    case 11: // valid, in small pieces
      return { out: Array.from({ length: Math.ceil(ok.length / 5) }, (_, i) => ok.subarray(5 * i, 5 * i + 5)), close: false };
    case 12: // two replies for one request
      return { out: [ok, ok], close: false };
    case 13: // bencoded body of the wrong shape
      return { out: [httpReply(pick(r, ['de', 'le', 'd5:peers99:e', 'd5:peers-1:e', 'd6:peers6999999999:e', 'i5e', 'd5:filese']))], close: false };
    default:
      return { out: [ok], close: chance(r, 0.1) };
  }
}

interface TcpHostile {
  port: number;
  close(): void;
}

async function startTcp(onConn: (sock: net.Socket) => void): Promise<TcpHostile> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    onConn(sock);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function startHttpHostile(r: Rng): Promise<TcpHostile> {
  return startTcp((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let end; (end = buf.indexOf('\r\n\r\n')) >= 0; ) {
        const scrape = buf.subarray(0, 11).toString() === 'GET /scrape';
        buf = buf.subarray(end + 4);
        if (sock.destroyed) return;
        const { out, close } = httpHostile(r, scrape);
        for (const b of out) sock.write(b);
        if (close) {
          if (chance(r, 0.5)) sock.end();
          else sock.destroy();
          return;
        }
      }
    });
  });
}

// ---- WebSocket (WebTorrent)

/** A server frame: FIN and opcode as given, the length in the form asked (7-bit, 16-bit or 64-bit), optionally masked. */
function wsFrame(opcode: number, payload: Buffer, o: { fin?: boolean; form?: 0 | 126 | 127; mask?: Buffer; len?: bigint } = {}): Buffer {
  const n = o.len ?? BigInt(payload.length);
  const form = o.form ?? (n < 126n ? 0 : n < 65536n ? 126 : 127);
  const head: number[] = [((o.fin ?? true) ? 0x80 : 0) | opcode];
  const m = o.mask ? 0x80 : 0;
  if (form === 0) head.push(m | Number(n & 127n));
  else if (form === 126) head.push(m | 126, Number((n >> 8n) & 255n), Number(n & 255n));
  else {
    head.push(m | 127);
    for (let i = 7; i >= 0; i--) head.push(Number((n >> BigInt(8 * i)) & 255n));
  }
  let body = payload;
  if (o.mask) {
    body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= o.mask[i & 3];
  }
  return Buffer.concat([Buffer.from(head), o.mask ?? Buffer.alloc(0), body]);
}

/** The complete frame at the start of `buf` (payload unmasked, `size` bytes in all), or null while more bytes are needed. */
const id20 = (r: Rng): string => randomBytes(r, 20).toString('latin1');

/** A text message a tracker might send for `req`, well- or ill-formed. */
function wtText(r: Rng, req: { infoHash?: unknown; offerId?: unknown }): string {
  const ih = typeof req.infoHash === 'string' ? req.infoHash : id20(r);
  const oid = typeof req.offerId === 'string' ? req.offerId : id20(r);
  const j = JSON.stringify;
  const valid = j({ action: 'announce', info_hash: ih, interval: 120, complete: 0, incomplete: 1 });
  switch (int(r, 14)) {
    case 0:
      return valid.slice(0, int(r, valid.length)); // cut JSON
    case 1:
      return randomBytes(r, int(r, 300)).toString('latin1');
    case 2:
      return pick(r, ['', '{', '}', '[]', 'null', '"x"', '{}', '{"action":', '{"action":"announce"}', '{"action":"scrape"}', '{"action":"scrape","files":{']);
    case 3: // wrong types
      return j({ action: 'announce', info_hash: pick(r, [5, null, [], {}, 'short', ih + ih]), interval: 'x' });
    case 4: // truncated and bad escapes inside ids
      return `{"action":"announce","info_hash":"${pick(r, ['\\u00', '\\u', '\\', '\\uzzzz', '\\u0100aaaaaaaaaaaaaaaaaaa', '\u00ff'.repeat(25), 'ÿ'.repeat(20)])}","interval":120}`;
    case 5: // offer / answer with missing or odd fields
      return pick(r, [
        j({ action: 'announce', info_hash: ih, peer_id: id20(r), offer_id: oid, offer: { type: 'offer', sdp: 'v=0' } }),
        j({ action: 'announce', info_hash: ih, offer: {} }),
        `{"action":"announce","info_hash":${j(ih)},"peer_id":"","offer_id":"","answer":{}}`,
        `{"offer":{"info_hash":"","peer_id":"","offer_id":"\\u`,
        j({ action: 'announce', info_hash: ih, peer_id: id20(r), offer_id: oid, answer: { type: 'answer', sdp: 'v=0' } }),
      ]);
    case 6: // failure reasons, odd ones
      return pick(r, ['{"failure reason":""}', '{"failure reason":"', `{"failure reason":"answer ${'x'.repeat(300)}","action":"scrape"}`, j({ 'failure reason': 'nope', info_hash: ih, action: 'announce' })]);
    case 7: // scrape replies of the wrong shape
      return pick(r, ['{"action":"scrape","files":{}}', '{"action":"scrape","files":[]}', '{"action":"scrape"}', '{"action":"scrape","files":{"' + '\\'.repeat(int(r, 50))]);
    case 8: // deep nesting
      return '{"action":"announce","offer":' + '{'.repeat(int(r, 5000)) + '}';
    default:
      return valid;
  }
}

/** One hostile answer to a client message; `kill` when the socket is to be cut after it. */
function wsHostile(r: Rng, req: { infoHash?: unknown; offerId?: unknown }): { out: Buffer; kill: boolean } {
  const text = Buffer.from(wtText(r, req), 'latin1');
  const good = wsFrame(1, text);
  switch (int(r, 16)) {
    case 0:
      return { out: junk(r), kill: chance(r, 0.5) };
    case 1: // cut at a header boundary or inside the payload, then closed
      return { out: truncate(r, good, [1, 2, 4, 10]), kill: true };
    case 2: // 64-bit lengths, huge
      return { out: wsFrame(1, text, { form: 127, len: pick(r, [0xffffffffffffffffn, 1n << 63n, 1n << 40n, (16n << 20n) + 1n, BigInt(text.length) + 5n]) }), kill: chance(r, 0.5) };
    case 3: // 16-bit form for a short payload, or a length past the payload
      return { out: wsFrame(1, text, { form: 126, len: chance(r, 0.5) ? BigInt(text.length) : 65535n }), kill: chance(r, 0.3) };
    case 4: // masked server frame
      return { out: wsFrame(1, text, { mask: randomBytes(r, 4) }), kill: false };
    case 5: // reserved opcodes, with or without FIN, RSV bits set
      return { out: Buffer.concat([wsFrame(pick(r, [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), randomBytes(r, int(r, 200)), { fin: chance(r, 0.5) }), good]), kill: false };
    case 6: { // RSV bits
      const b = Buffer.from(good);
      b[0] |= 0x70;
      return { out: b, kill: false };
    }
    case 7: // a fragment never finished (more non-final fragments follow)
      return { out: Buffer.concat(Array.from({ length: 1 + int(r, 4) }, (_, i) => wsFrame(i ? 0 : 1, randomBytes(r, int(r, 3000)), { fin: false }))), kill: false };
    case 8: // continuation without a start, a new message inside a fragmented one
      return { out: chance(r, 0.5) ? wsFrame(0, text) : Buffer.concat([wsFrame(1, text, { fin: false }), wsFrame(2, text)]), kill: false };
    case 9: // control frames: oversized ping, empty / one-byte close, pong
      return { out: pick(r, [wsFrame(9, randomBytes(r, 126 + int(r, 1000))), wsFrame(8, Buffer.alloc(0)), wsFrame(8, Buffer.from([3])), wsFrame(10, randomBytes(r, 10)), wsFrame(9, Buffer.alloc(0), { fin: false })]), kill: false };
    case 10: // binary message
      return { out: wsFrame(2, text), kill: false };
    case 11: // a close mid-frame
      return { out: good.subarray(0, Math.max(1, good.length >> 1)), kill: true };
    default:
      return { out: good, kill: false };
  }
}

function startWsHostile(r: Rng): Promise<TcpHostile> {
  return startTcp((sock) => {
    onClientFrames(sock, (opcode, payload) => {
      if (opcode !== 1 || sock.destroyed) return;
      let req: { info_hash?: unknown; offers?: { offer_id?: unknown }[] } = {};
      try {
        req = JSON.parse(payload.toString('utf8')) as typeof req;
      } catch {
        /* answer anyway */
      }
      const ih = Array.isArray(req.info_hash) ? req.info_hash[0] : req.info_hash;
      const { out, kill } = wsHostile(r, { infoHash: ih, offerId: req.offers?.[0]?.offer_id });
      sock.write(out);
      if (kill) sock.destroy();
    });
  });
}

// ---------------------------------------------------------------- the C echo

function assertAlive(e: CEcho, what: string): void {
  assert.ok(e.child.exitCode === null && e.child.signalCode === null, `${where(what, 0)}: the echo died (${e.child.exitCode ?? e.child.signalCode}) ${e.stderr}`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Write `chunks` on a fresh connection, a few ms apart, then cut it (reset or FIN). */
async function throwAt(port: number, chunks: Buffer[], r: Rng): Promise<void> {
  await new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    s.on('data', () => undefined);
    s.on('connect', async () => {
      for (const c of chunks) {
        if (s.destroyed) break;
        s.write(c);
        if (chance(r, 0.3)) await sleep(1);
      }
      setTimeout(() => (chance(r, 0.5) ? s.end() : s.destroy()), 5);
      setTimeout(() => s.destroy(), 100);
    });
  });
}

/** Bytes as a client frame: masked with a random mask, FIN set unless told. */
const clientFrame = (r: Rng, opcode: number, payload: Buffer, o: { fin?: boolean; form?: 0 | 126 | 127; len?: bigint } = {}): Buffer =>
  wsFrame(opcode, payload, { ...o, mask: randomBytes(r, 4) });

const UPGRADE = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
const ANNOUNCE_JSON = JSON.stringify({
  action: 'announce', info_hash: 'aaaaaaaaaaaaaaaaaaaa', peer_id: 'bbbbbbbbbbbbbbbbbbbb', numwant: 1,
  offers: [{ offer: { type: 'offer', sdp: 'v=0' }, offer_id: 'cccccccccccccccccccc' }],
});

/** Client messages for the WebTorrent echo: junk, truncated, and shapes that stress its scanner. */
function wsEchoPayload(r: Rng): Buffer {
  switch (int(r, 8)) {
    case 0:
      return junk(r);
    case 1:
      return Buffer.from(ANNOUNCE_JSON.slice(0, int(r, ANNOUNCE_JSON.length)));
    case 2: // a scrape of many tiny literals: each costs the echo far more output than input
      return Buffer.from(`{"action":"scrape","info_hash":[${'"",'.repeat(int(r, 20_000))}""]}`);
    case 3:
      return Buffer.from(`{"action":"scrape","info_hash":${pick(r, ['"', '["', '[', '"\\', '{}', '""""""""""'])}`);
    case 4: // announce with offers cut, offers without ids, answers without objects' ends
      return Buffer.from(pick(r, [
        '{"action":"announce","info_hash":"x","offers":[{"offer":{"sdp":"v"}}]}',
        '{"action":"announce","info_hash":"x","offers":[{"offer":{',
        '{"action":"announce","info_hash":"x","answer":{"a":"\\',
        '{"action":"announce","info_hash":"x","peer_id":"p","offer_id":"o","answer":{' + '['.repeat(int(r, 3000)),
        `{"action":"announce","info_hash":"x","offers":[${'{"offer":{},"offer_id":""},'.repeat(int(r, 3000))}{"offer":{},"offer_id":""}]}`,
      ]));
    default:
      return Buffer.from(ANNOUNCE_JSON);
  }
}

/** Frames (or bytes) for one hostile ws connection to the echo, after the handshake. */
function wsEchoChunks(r: Rng): Buffer[] {
  const out: Buffer[] = [];
  for (let k = 0, n = 1 + int(r, 6); k < n; k++) {
    const p = wsEchoPayload(r);
    const f = clientFrame(r, 1, p);
    switch (int(r, 9)) {
      case 0:
        out.push(junk(r));
        break;
      case 1:
        out.push(truncate(r, f, [1, 2, 4, 6, 8, 10, 14]));
        break;
      case 2:
        out.push(clientFrame(r, 1, p, { form: 127, len: pick(r, [0xffffffffffffffffn, 1n << 63n, (1n << 20n) + 1n, 1n << 32n]) }));
        break;
      case 3:
        out.push(wsFrame(1, p)); // unmasked
        break;
      case 4:
        out.push(clientFrame(r, pick(r, [0, 2, 3, 7, 10, 11, 15]), p, { fin: chance(r, 0.5) }));
        break;
      case 5:
        out.push(clientFrame(r, 9, randomBytes(r, int(r, 3000))), clientFrame(r, 8, randomBytes(r, int(r, 3))));
        break;
      default:
        out.push(f);
    }
  }
  return out;
}

/** A valid announce over a fresh ws connection: the echo answers its reply and relays its offer back. */
async function wsEchoAnswers(port: number): Promise<string[]> {
  return new Promise<string[]>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no reply from the ws echo within 10 s'));
    }, 10_000);
    let buf = Buffer.alloc(0);
    let open = false;
    const got: string[] = [];
    s.on('error', reject);
    s.on('connect', () => s.write(UPGRADE));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        assert.match(buf.subarray(0, end).toString(), /^HTTP\/1\.1 101 /);
        assert.match(buf.subarray(0, end).toString(), /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
        buf = buf.subarray(end + 4);
        open = true;
        s.write(wsFrame(1, Buffer.from(ANNOUNCE_JSON), { mask: Buffer.from([1, 2, 3, 4]) }));
      }
      for (let f; (f = takeFrame(buf)); ) {
        got.push(f.payload.toString());
        buf = buf.subarray(f.size);
        if (got.length === 2) {
          clearTimeout(timer);
          s.destroy();
          resolve(got);
        }
      }
    });
  });
}

function udpAsk(port: number, req: Buffer): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('no UDP reply within 10 s'));
    }, 10_000);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.send(req, port, '127.0.0.1');
  });
}

function httpAsk(port: number, req: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(req));
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no HTTP reply within 10 s: ${JSON.stringify(text)}`));
    }, 10_000);
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      const m = /Content-Length: (\d+)\r\n/.exec(text);
      const end = text.indexOf('\r\n\r\n');
      if (m && end >= 0 && text.length >= end + 4 + Number(m[1])) {
        clearTimeout(timer);
        s.destroy();
        resolve(text);
      }
    });
    s.on('error', reject);
  });
}

// ---------------------------------------------------------------- tests

describe('C generator and C echo against hostile peers', { skip: !hasGcc && 'gcc not installed', timeout: 60_000 }, () => {
  before(() => {
    compileC('udpgen');
    compileC('echo-server');
  });

  const runs: { protocol: 'udp' | 'http' | 'ws'; title: string; start: (r: Rng) => Promise<{ port: number; close(): void }>; check: (c: RunResult) => boolean }[] = [
    {
      protocol: 'udp',
      title: 'random, truncated, wrong-id and wrong-action replies',
      start: startUdpHostile,
      check: ({ summary: { counters: c } }) => c.errors > 0 && c.invalid > 0,
    },
    {
      protocol: 'http',
      title: 'cut replies, bad Content-Length and chunk sizes, junk, mid-reply closes',
      start: startHttpHostile,
      check: ({ summary: { counters: c } }) => c.socketErrors + c.lost > 0,
    },
    {
      protocol: 'ws',
      title: 'bad lengths, masked and reserved frames, endless fragments, bad JSON, mid-frame closes',
      start: startWsHostile,
      check: ({ summary: { counters: c } }) => c.socketErrors > 0 && c.reconnects > 0,
    },
  ];
  for (const { protocol, title, start, check } of runs) {
    it(`generator, ${protocol}: ${title}`, { timeout: 25_000 }, async (t) => {
      printSeed(t);
      const server = await start(rngFor(protocol));
      const ws = protocol === 'ws' ? { ws: WS_BASE.ws, announcePath: '/', scrapePath: '/', window: 2 } : {};
      try {
        const r = await hostileRun({ ...GEN_BASE, ...ws, protocol, port: server.port }, protocol);
        assert.ok(check(r), where(JSON.stringify({ c: r.summary.counters, m: r.errorMessages }), 0));
      } finally {
        server.close();
      }
    });
  }

  describe('C echo', () => {
    let udp: CEcho;
    let http: CEcho;
    let ws: CEcho;
    before(async () => {
      [udp, http, ws] = await Promise.all([startCEcho(['--http', '0']), startCEcho(['--http', '1']), startCEcho(['--ws', '1'])]);
    });
    after(() => {
      udp?.close();
      http?.close();
      ws?.close();
    });

    it('UDP: survives random and truncated datagrams, then answers a connect', async (t) => {
      printSeed(t);
      const r = rngFor('echo-udp');
      const s = dgram.createSocket('udp4');
      s.on('error', () => undefined);
      const connect = Buffer.alloc(16);
      connect.writeUInt32BE(0x417, 0);
      connect.writeUInt32BE(0x27101980, 4);
      const announce = Buffer.concat([connect, Buffer.alloc(82)]);
      announce.writeUInt32BE(1, 8);
      const scrape = Buffer.concat([connect, Buffer.alloc(20 * 74)]);
      scrape.writeUInt32BE(2, 8);
      for (let i = 0; i < 2000; i++) {
        const b = pick(r, [() => junk(r), () => truncate(r, announce, [8, 12, 16, 98]), () => truncate(r, scrape), () => {
          const x = Buffer.from(announce);
          x.writeUInt32BE(int(r, 0x1_0000_0000), 8);
          return x;
        }, () => Buffer.concat([scrape, randomBytes(r, int(r, 3000))])])();
        s.send(b, udp.port, '127.0.0.1');
        if (i % 200 === 0) await sleep(1);
      }
      await sleep(100);
      s.close();
      assertAlive(udp, 'echo-udp');
      connect.writeUInt32BE(0, 8);
      connect.writeUInt32BE(0xabcdef01, 12);
      const reply = await udpAsk(udp.port, connect);
      assert.equal(reply.length, 16);
      assert.equal(reply.readUInt32BE(0), 0);
      assert.equal(reply.readUInt32BE(4), 0xabcdef01);
    });

    it('HTTP: survives junk, cut and oversized requests, then answers an announce', async (t) => {
      printSeed(t);
      const r = rngFor('echo-http');
      const valid = Buffer.from('GET /announce?info_hash=%00&port=1 HTTP/1.1\r\nHost: x\r\n\r\n');
      const jobs: Promise<void>[] = [];
      for (let i = 0; i < 150; i++) {
        const chunks = pick(r, [
          () => [junk(r)],
          () => [truncate(r, valid, marksOf(valid, '\r\n', ' ', '?'))],
          () => [valid, truncate(r, valid), junk(r)],
          () => [Buffer.from('GET /scrape'), Buffer.from(` HTTP/1.1\r\nConnection: close\r\n${'X: y\r\n'.repeat(int(r, 3000))}\r\n`)],
          () => [Buffer.alloc(8192 + int(r, 9000), 'a'), valid],
          () => [Buffer.from('\r\n\r\n'.repeat(int(r, 3000)))],
          () => [Buffer.from('\nconnection: close\r\n\r\n')],
        ])();
        jobs.push(throwAt(http.port, chunks, r));
        if (jobs.length >= 30) await Promise.all(jobs.splice(0));
      }
      await Promise.all(jobs);
      assertAlive(http, 'echo-http');
      const text = await httpAsk(http.port, 'GET /announce?info_hash=x HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(text, /\r\n\r\nd8:completei0e10:incompletei0e8:intervali1800e5:peers18:[^]{18}e$/, JSON.stringify(text));
    });

    it('WebSocket: survives junk, cut frames, bad lengths and odd JSON, then bounces an announce', async (t) => {
      printSeed(t);
      const r = rngFor('echo-ws');
      const jobs: Promise<void>[] = [];
      for (let i = 0; i < 120; i++) {
        const pre = pick(r, [
          () => [Buffer.from(UPGRADE)],
          () => [Buffer.from(UPGRADE)],
          () => [Buffer.from(UPGRADE)],
          () => [truncate(r, Buffer.from(UPGRADE), marksOf(Buffer.from(UPGRADE), '\r\n', ':'))],
          () => [Buffer.from(`GET / HTTP/1.1\r\nSec-WebSocket-Key:${pick(r, ['', ' ', 'x'.repeat(5000)])}\r\n\r\n`)],
          () => [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
          () => [junk(r)],
          () => [Buffer.alloc(20_000, 'a')],
        ])();
        jobs.push(throwAt(ws.port, [...pre, ...wsEchoChunks(r)], r));
        if (jobs.length >= 20) await Promise.all(jobs.splice(0));
      }
      await Promise.all(jobs);
      await sleep(50);
      assertAlive(ws, 'echo-ws');
      const [reply, offer] = await wsEchoAnswers(ws.port);
      assert.deepEqual(JSON.parse(reply), { action: 'announce', info_hash: 'aaaaaaaaaaaaaaaaaaaa', interval: 120, complete: 0, incomplete: 1 });
      const o = JSON.parse(offer) as Record<string, unknown>;
      assert.equal(o.offer_id, 'cccccccccccccccccccc');
      assert.deepEqual(o.offer, { type: 'offer', sdp: 'v=0' });
    });
  });
});
