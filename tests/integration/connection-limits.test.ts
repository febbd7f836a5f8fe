/**
 * The connection attack on a real tracker process: many TCP/WebSocket
 * connections, up to the file-descriptor limit. Normal clients keep being
 * served, over-cap connections are reset at once and counted, the metrics
 * port answers throughout, and at the descriptor limit the process does
 * not spin (with the guard switched off it does: the positive control).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import WebSocket from 'ws';
import { buildAnnounceQuery } from '../../lib/protocol/http/client.js';
import { bdecodeDict, eventually, fetchOps, metricValue, randomId20, scrapeMetrics, sleep } from '../support/integration-helpers.js';
import { startTracker, type TrackerProcess } from '../support/tracker-process.js';

// ---------------------------------------------------------------- clients from chosen loopback addresses

/** `n` WebSockets from `localAddress`, all open (they stay: uWS times idle HTTP out after 10 s, WebSockets after 120 s). */
async function openWebSockets(port: number, localAddress: string, n: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < n; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/announce`, { localAddress, perMessageDeflate: false, handshakeTimeout: 5000 });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', (error) => reject(new Error(`WebSocket ${i + 1} of ${n} from ${localAddress}: ${error.message}`)));
    });
    sockets.push(ws);
  }
  return sockets;
}

/** Connects from `localAddress` and resolves with how the tracker ended the connection; rejects if it is still open after `ms`. */
function expectReset(port: number, localAddress: string, ms = 5000): Promise<{ afterMs: number; code: string | undefined }> {
  const started = Date.now();
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  let code: string | undefined;
  socket.on('error', (error: NodeJS.ErrnoException) => (code = error.code));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`a connection from ${localAddress} over the cap was still open after ${ms} ms`));
    }, ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ afterMs: Date.now() - started, code });
    });
  });
}

/** An HTTP announce from `localAddress` on a fresh connection; resolves with the decoded reply. */
function announceFrom(port: number, localAddress: string): Promise<Record<string, unknown>> {
  const target = `/announce?${buildAnnounceQuery({ infoHash: randomId20(), peerId: randomId20(), port: 6881, left: 1 })}`;
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: target, localAddress, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve(bdecodeDict(Buffer.concat(chunks))));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error(`announce from ${localAddress}: no reply within 5 s`)));
    req.once('error', (error) => reject(new Error(`announce from ${localAddress}: ${error.message}`)));
  });
}

async function metric(tracker: TrackerProcess, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  return metricValue(await scrapeMetrics(tracker.metricsPort), name, labels);
}

async function openConnections(tracker: TrackerProcess, n: number): Promise<void> {
  await eventually(async () => ((await metric(tracker, 'tracker_tcp_connections')) === n ? true : undefined), 10_000, `tracker_tcp_connections = ${n}`);
}

async function probesAnswer(tracker: TrackerProcess): Promise<void> {
  assert.equal((await fetchOps(tracker.metricsPort, '/healthz')).status, 200);
  assert.equal((await fetchOps(tracker.metricsPort, '/readyz')).status, 200);
}

// ---------------------------------------------------------------- process accounting

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds the process has used (/proc/<pid>/stat utime + stime). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function hardFdLimit(pid: number): number {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  return Number(line?.slice('Max open files'.length).trim().split(/\s+/)[1]);
}

/** Sets the process's soft RLIMIT_NOFILE (the hard one stays; raising it back needs no privilege). */
function setSoftFdLimit(pid: number, soft: number): void {
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:`]);
}

const PRLIMIT = ['/usr/bin/prlimit', '/bin/prlimit'].some((p) => existsSync(p));

// ---------------------------------------------------------------- the tests

describe('tracker-port connection caps (real process)', () => {
  it('resets connections over the per-address and total caps at once, counts them, serves others, and frees places on close', async (t) => {
    // Dual-stack, as by default: IPv4 clients arrive as ::ffff:a.b.c.d and are still counted per IPv4 address.
    const tracker = await startTracker(t, {
      host: '::',
      fdLimit: 1024,
      extraArgs: ['--http.maxConnections=30', '--http.maxConnectionsPerAddress=10', '--http.trustedProxies=127.0.0.9', '--log.level=info'],
    });
    assert.match(tracker.output(), /"msg":"tracker-port connection limits".*"maxConnections":30.*"maxConnectionsPerAddress":10.*"guard":"on"/);

    // One address at its cap: its next connection is reset at once...
    const fromOne = await openWebSockets(tracker.port, '127.0.0.1', 10);
    await openConnections(tracker, 10);
    const perAddress = await expectReset(tracker.port, '127.0.0.1');
    assert.equal(perAddress.code, 'ECONNRESET', 'an RST, not an idle timeout');
    assert.equal(await metric(tracker, 'tracker_limit_hits_total', { limit: 'http.maxConnectionsPerAddress' }), 1);
    // ...while its open connections stay (positive control for "reset") and other addresses are served.
    assert.ok(fromOne.every((ws) => ws.readyState === WebSocket.OPEN));
    const reply = await announceFrom(tracker.port, '127.0.0.2');
    assert.equal(reply['failure reason'], undefined);
    assert.equal(typeof reply.interval, 'number');
    await probesAnswer(tracker);

    // A trusted proxy may hold more than the per-address cap; the total still applies.
    const fromProxy = await openWebSockets(tracker.port, '127.0.0.9', 12);
    const fromThree = await openWebSockets(tracker.port, '127.0.0.3', 8);
    await openConnections(tracker, 30);
    const total = await expectReset(tracker.port, '127.0.0.4');
    assert.equal(total.code, 'ECONNRESET');
    await assert.rejects(announceFrom(tracker.port, '127.0.0.5'), /ECONNRESET|socket hang up/, 'at the total cap everyone is refused');
    assert.equal(await metric(tracker, 'tracker_limit_hits_total', { limit: 'http.maxConnections' }), 2);
    assert.equal(await metric(tracker, 'tracker_limit_hits_total', { limit: 'http.maxConnectionsPerAddress' }), 1);
    assert.equal(await metric(tracker, 'tracker_tcp_connections_max'), 30);
    await probesAnswer(tracker);

    // Closing connections gives their places back, to the capped address too.
    for (const ws of fromOne.slice(0, 5)) ws.terminate();
    await openConnections(tracker, 25);
    const again = await announceFrom(tracker.port, '127.0.0.1');
    assert.equal(again['failure reason'], undefined);

    for (const ws of [...fromOne, ...fromProxy, ...fromThree]) ws.terminate();
    await openConnections(tracker, 0);
    await tracker.stop();
  });

  it('caps below the descriptor limit even when http.maxConnections is set above it, and says so', async (t) => {
    // webtorrent.maxSocketsPerAddress is lifted: this test is about the descriptor limit, not that cap.
    const tracker = await startTracker(t, { fdLimit: 256, extraArgs: ['--http.maxConnections=100000', '--webtorrent.maxSocketsPerAddress=100000'] });
    assert.match(tracker.output(), /http\.maxConnections \(100000\) does not fit the file-descriptor limit \(256, 64 kept for everything else\): using 192/);
    assert.equal(await metric(tracker, 'tracker_tcp_connections_max'), 192);

    // The attack of the issue: more connections than descriptors. The
    // surplus is reset; the metrics port and other clients keep working.
    const flood = await openWebSockets(tracker.port, '127.0.0.1', 192);
    const surplus = await Promise.all(Array.from({ length: 60 }, (_, i) => expectReset(tracker.port, `127.0.1.${i + 1}`)));
    assert.ok(surplus.every((r) => r.code === 'ECONNRESET'));
    assert.equal(await metric(tracker, 'tracker_limit_hits_total', { limit: 'http.maxConnections' }), 60);
    assert.equal(await metric(tracker, 'tracker_tcp_connections'), 192);
    await probesAnswer(tracker);
    for (const ws of flood.slice(0, 10)) ws.terminate();
    await openConnections(tracker, 182);
    assert.equal((await announceFrom(tracker.port, '127.0.0.3'))['failure reason'], undefined);
    for (const ws of flood) ws.terminate();
    await tracker.stop();
  });

  it(
    'metrics.maxConnections set for the process caps the metrics port',
    async (t) => {
      const tracker = await startTracker(t, { extraArgs: ['--metrics.maxConnections=2'] });
      const held: net.Socket[] = [];
      for (let i = 0; i < 2; i++) {
        const s = net.connect({ host: '127.0.0.1', port: tracker.metricsPort });
        s.on('error', () => {});
        held.push(s);
      }
      await sleep(200);
      const third = net.connect({ host: '127.0.0.1', port: tracker.metricsPort });
      third.on('error', () => {});
      const closed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 3000);
        third.once('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      for (const s of [...held, third]) s.destroy();
      assert.ok(closed, 'the third connection to the metrics port was not closed');
      await tracker.stop();
    },
  );

  it('at the descriptor limit resets pending connections instead of spinning; without the guard it spins', { skip: !PRLIMIT && 'prlimit (util-linux) is not installed' }, async (t) => {
    /**
     * Starts a tracker, lowers its soft descriptor limit to a few above what
     * it has open (as if other descriptors had been used up), opens 40
     * connections and measures its CPU over 3 s.
     */
    const flood = async (guard: boolean): Promise<{ cpu: number; resets: number; tracker: TrackerProcess; sockets: net.Socket[] }> => {
      const tracker = await startTracker(t, { extraArgs: [`--http.connectionGuard=${guard ? 'auto' : 'off'}`] });
      setSoftFdLimit(tracker.pid, openFds(tracker.pid) + 4);
      let resets = 0;
      const sockets: net.Socket[] = [];
      for (let i = 0; i < 40; i++) {
        const s = net.connect({ host: '127.0.0.1', port: tracker.port });
        s.on('error', () => {});
        s.once('close', () => resets++);
        sockets.push(s);
      }
      await sleep(1000);
      const before = cpuSeconds(tracker.pid);
      await sleep(3000);
      return { cpu: cpuSeconds(tracker.pid) - before, resets, tracker, sockets };
    };

    const guarded = await flood(true);
    const unguarded = await flood(false);
    unguarded.tracker.kill();
    for (const s of [...guarded.sockets, ...unguarded.sockets]) s.destroy();

    const report = `guard on: ${guarded.cpu.toFixed(2)} CPU s in 3 s, ${guarded.resets} of 40 connections reset; guard off: ${unguarded.cpu.toFixed(2)} CPU s, ${unguarded.resets} reset`;
    t.diagnostic(report);
    // Generous bounds for a busy 2-core machine: the spinning process gets at least a share of a core.
    assert.ok(guarded.cpu < 0.3, report);
    assert.ok(unguarded.cpu > Math.max(0.45, 3 * guarded.cpu), `positive control: ${report}`);
    assert.ok(guarded.resets >= 30, `pending connections are reset, not left hanging: ${report}`);
    assert.equal(unguarded.resets, 0, `without the guard they hang: ${report}`);

    // Counted, and the guarded tracker recovers once descriptors are back.
    setSoftFdLimit(guarded.tracker.pid, hardFdLimit(guarded.tracker.pid));
    assert.ok(((await metric(guarded.tracker, 'tracker_tcp_fd_exhausted_total', { errno: 'EMFILE' })) ?? 0) >= 1);
    assert.equal((await announceFrom(guarded.tracker.port, '127.0.0.1'))['failure reason'], undefined);
    await guarded.tracker.stop();
  });
});
