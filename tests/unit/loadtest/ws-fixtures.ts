/**
 * What the ws load tests share (not a test file itself): a short bounded
 * run's configuration and the checks of its summary, for both engines.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { compileC } from '../../../bench/loadtest/cgen.js';
import { DEFAULT_MODEL } from '../../../bench/loadtest/model.js';
import { DEFAULT_WS, type LoadtestConfig } from '../../../bench/loadtest/runner.js';
import { formatSummary, type LoadSummary } from '../../../bench/loadtest/stats.js';

export const hasGcc = spawnSync('gcc', ['--version']).status === 0;

/** 2 workers x 12 connections x 2 announces in flight, 3 offers each, ~1.5 s. */
export const WS_BASE: Omit<LoadtestConfig, 'port'> = {
  protocol: 'ws',
  engine: 'node',
  host: '127.0.0.1',
  durationSeconds: 1,
  warmupSeconds: 0.5,
  workers: 2,
  sockets: 12,
  window: 2,
  timeoutMs: 3000,
  reconnectAfterMs: 60_000,
  maxFailures: 3,
  connectionPerRequest: false,
  announcePath: '/',
  scrapePath: '/',
  // A few hot torrents, so swarms have several peers and offers get relayed; 4 connections per address, each its own peer_id.
  model: { ...DEFAULT_MODEL, torrents: 20, sources: 3, portsPerSource: 4, announcesPerScrape: 10 },
  progress: false,
  ws: { ...DEFAULT_WS, torrentsPerConnection: 4, offers: 3, sdpMinBytes: 500, sdpMaxBytes: 1500 },
};

/** Replies, relayed offers and answers, matched answers, no errors. */
export function assertRelays(s: LoadSummary): void {
  const w = s.ws!;
  assert.ok(w, 'ws summary');
  assert.ok(s.counters.announces > 0, JSON.stringify(s.counters));
  assert.ok(s.counters.scrapes > 0, JSON.stringify(s.counters));
  assert.equal(s.counters.errors, 0);
  assert.equal(s.counters.invalid, 0);
  assert.equal(s.counters.socketErrors, 0);
  assert.equal(s.truncated, false);
  assert.ok(w.counters.offersSent >= 3 * s.counters.announces - 3 * 2 * 12, JSON.stringify(w.counters));
  assert.ok(w.counters.offersReceived > 0, JSON.stringify(w.counters));
  assert.ok(w.counters.answersSent > 0 && w.counters.answersReceived > 0, JSON.stringify(w.counters));
  assert.ok(w.counters.answersMatched > 0 && w.counters.answersMatched <= w.counters.answersReceived);
  assert.ok(w.signallingMs.p50 > 0);
  assert.ok(s.latencyMs.p50 > 0 && s.latencyMs.p50 <= s.latencyMs.max);
  assert.match(formatSummary(s), /offers\/s\s+sent/);
}

/** Against an echo everything is relayed: every offer comes back, is answered, and every answer matches. */
export function assertEchoed(s: LoadSummary): void {
  assertRelays(s);
  const w = s.ws!.counters;
  // Counted inside the window only, so the edges may differ by what was in flight.
  const slack = 2 * 12 * 3 + 10;
  assert.ok(Math.abs(w.offersReceived - w.offersSent) <= slack, JSON.stringify(w));
  assert.ok(Math.abs(w.answersSent - w.offersReceived) <= slack, JSON.stringify(w));
  assert.ok(Math.abs(w.answersReceived - w.answersSent) <= slack, JSON.stringify(w));
  assert.ok(s.ws!.offerRelayRatio > 0.9);
  assert.equal(s.counters.lost, 0);
  assert.equal(w.answerErrors + w.reopened, 0);
}

/** One WebSocket frame off the front of `buf` (masked or not), or null while incomplete. */
export function takeFrame(buf: Buffer): { opcode: number; payload: Buffer; size: number } | null {
  if (buf.length < 2) return null;
  let n = buf[1] & 127;
  let h = 2;
  if (n === 126) {
    if (buf.length < 4) return null;
    n = buf.readUInt16BE(2);
    h = 4;
  } else if (n === 127) {
    if (buf.length < 10) return null;
    n = Number(buf.readBigUInt64BE(2));
    h = 10;
  }
  const m = buf[1] & 128 ? 4 : 0;
  if (buf.length < h + m + n) return null;
  const payload = Buffer.from(buf.subarray(h + m, h + m + n));
  for (let i = 0; m && i < n; i++) payload[i] ^= buf[h + (i & 3)];
  return { opcode: buf[0] & 15, payload, size: h + m + n };
}

/**
 * The server side of a hand-written WebSocket test server: answers the
 * upgrade, then hands every client frame to `onFrame` as it completes.
 */
export function onClientFrames(sock: Socket, onFrame: (opcode: number, payload: Buffer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  let open = false;
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (!open) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const key = /sec-websocket-key:\s*(\S+)/i.exec(buf.subarray(0, end).toString())?.[1] ?? '';
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      buf = buf.subarray(end + 4);
      open = true;
    }
    for (let f; !sock.destroyed && (f = takeFrame(buf)); ) {
      buf = buf.subarray(f.size);
      onFrame(f.opcode, f.payload);
    }
  });
}

export interface CEcho {
  readonly port: number;
  readonly child: ChildProcess;
  /** The last 4,000 characters it wrote to stderr. */
  readonly stderr: string;
  close(): Promise<void>;
}

/** The C echo (bench/loadtest/echo-server.c) as a child process, with `flags` (e.g. --ws 1, --http 1). */
export async function startCEcho(flags: string[]): Promise<CEcho> {
  const child = spawn(compileC('echo-server'), ['--port', '0', ...flags, '--peers', '3', '--max-seconds', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('C echo did not start within 20 s')), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      const m = /listening [\d.]+:(\d+)/.exec(d.toString());
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`C echo exited with ${code}: ${stderr}`)));
  });
  return {
    port,
    child,
    close: async () => void child.kill('SIGKILL'),
    get stderr() {
      return stderr;
    },
  };
}
