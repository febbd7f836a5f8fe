/**
 * Micro-benchmark of the edge <-> swarm gRPC transport over loopback.
 *
 *   node dist/bench/grpc-transport.js [--seconds 3] [--sizes 1,10,100] [--codecs fast,pbjs] [--window 64]
 *   node dist/bench/grpc-transport.js --codec-only
 *
 * The swarm runs in a child process (a GrpcSwarmServer over a service that
 * answers every announce with a fixed 50-peer reply, so the store costs
 * nothing); this process runs a GrpcTransport and keeps `window` batches in
 * flight for `seconds` per configuration. Each batch of size N travels as
 * its own message; the "1 (router)" row keeps `window` single requests in
 * flight through the edge router (services/edge/router.ts), which queues
 * them and sends what arrives in one turn as one message, as frontends do.
 * CPU is process.cpuUsage() of each side, so "req/s per
 * core" = requests / CPU-seconds of that side (the machine's cores are
 * shared by both processes; compare rows of one run, not absolute numbers).
 *
 * --codec-only compares the hand-written codec with the pbjs static code,
 * without gRPC.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GrpcTransport } from '../lib/transport/grpc/client.js';
import { GrpcSwarmServer } from '../lib/transport/grpc/server.js';
import * as fastCodec from '../lib/transport/grpc/codec.js';
import * as pbjsCodec from '../lib/transport/grpc/pbjs-codec.js';
import type { WireCodec } from '../lib/transport/grpc/service.js';
import type { AnnounceReply } from '../lib/tracker/announce.js';
import type { SwarmReply, SwarmRequest } from '../lib/tracker/swarm.js';
import type { SwarmService } from '../lib/transport/transport.js';
import { SingleDestination, SwarmRouter } from '../services/edge/router.js';

const codecs: Record<string, WireCodec> = { fast: fastCodec, pbjs: pbjsCodec };

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function id(k: number): string {
  let s = '';
  for (let i = 0; i < 20; i++) s += String.fromCharCode((k * 31 + i * 7) & 0xff);
  return s;
}

function announce(k: number): SwarmRequest {
  return { type: 'announce', infoHash: id(k), peerId: id(k + 1), endpoint: Uint8Array.of(10, 0, (k >> 8) & 0xff, k & 0xff, 0x1a, 0xe1), event: 0, left: 1000, numwant: 50 };
}

const REPLY: AnnounceReply = { type: 'announce', interval: 1800, minInterval: 900, complete: 40, incomplete: 60, downloaded: 5, peers: new Uint8Array(50 * 6).map((_, i) => i) };

class StaticSwarm implements SwarmService {
  handle(requests: readonly SwarmRequest[]): SwarmReply[] {
    const replies = new Array<SwarmReply>(requests.length);
    for (let i = 0; i < requests.length; i++) replies[i] = requests[i].type === 'announce' ? REPLY : { type: 'error', message: 'no' };
    return replies;
  }
}

// ------------------------------------------------------------ swarm child

async function serve(codecName: string): Promise<void> {
  const server = new GrpcSwarmServer(new StaticSwarm(), { host: '127.0.0.1', port: 0, codec: codecs[codecName] });
  const port = await server.listen();
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'cpu') process.send!({ cpu: process.cpuUsage() });
    if (m.cmd === 'stop') void server.shutdown(500).then(() => process.exit(0));
  });
  process.send!({ port });
}

// ------------------------------------------------------------ edge side

interface Row {
  codec: string;
  label: string;
  requests: number;
  messages: number;
  seconds: number;
  edgeCpu: number;
  swarmCpu: number;
  rttMs: number;
  errors: number;
}

function ask<T>(child: ReturnType<typeof fork>, cmd: string, key: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>): void => {
      if (key in m) {
        child.off('message', on);
        resolve(m[key] as T);
      }
    };
    child.on('message', on);
    if (cmd) child.send({ cmd });
  });
}

async function runOne(codecName: string, size: number, viaRouter: boolean, seconds: number, window: number): Promise<Row> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', codecName], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await ask<number>(child, '', 'port');
  const transport = new GrpcTransport({
    name: 'bench',
    address: `127.0.0.1:${port}`,
    edgeId: 'bench-edge',
    codec: codecs[codecName],
    maxMessagesInFlight: window,
    requestTimeoutMs: 30_000,
  });
  const router = new SwarmRouter(new SingleDestination(transport), 4096, undefined, { requestTimeoutMs: 30_000 });
  if (!(await transport.whenOpen(5000))) throw new Error('stream did not open');
  const batch = Array.from({ length: size }, (_, i) => announce(i));

  let running = true;
  let requests = 0;
  let errors = 0;
  let outstanding = 0;
  let idle: (() => void) | undefined;
  const loop = (): void => {
    if (!running) {
      if (outstanding === 0) idle?.();
      return;
    }
    outstanding++;
    if (viaRouter) {
      router.request(batch[0], (reply) => {
        outstanding--;
        requests++;
        if (reply.type === 'error') errors++;
        loop();
      });
      return;
    }
    transport.send(batch, (replies) => {
      outstanding--;
      requests += replies.length;
      if (replies[0].type === 'error') errors++;
      loop();
    });
  };
  // Warm-up, then measure.
  for (let i = 0; i < window; i++) loop();
  await new Promise((r) => setTimeout(r, 500));
  const r0 = requests;
  const m0 = transport.stats();
  const c0 = process.cpuUsage();
  const s0 = await ask<NodeJS.CpuUsage>(child, 'cpu', 'cpu');
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (performance.now() - t0) / 1000;
  const c1 = process.cpuUsage(c0);
  const s1 = await ask<NodeJS.CpuUsage>(child, 'cpu', 'cpu');
  const r1 = requests;
  const m1 = transport.stats();
  running = false;
  await new Promise<void>((resolve) => {
    idle = resolve;
    if (outstanding === 0) resolve();
  });
  router.close();
  await transport.close();
  child.send({ cmd: 'stop' });
  await new Promise((r) => child.once('exit', r));
  return {
    codec: codecName,
    label: viaRouter ? `${size} (router)` : String(size),
    requests: r1 - r0,
    messages: m1.messagesSent - m0.messagesSent,
    seconds: elapsed,
    edgeCpu: (c1.user + c1.system) / 1e6,
    swarmCpu: (s1.user - s0.user + s1.system - s0.system) / 1e6,
    rttMs: ((m1.rttSumSeconds - m0.rttSumSeconds) / Math.max(1, m1.rttCount - m0.rttCount)) * 1000,
    errors,
  };
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function transportBench(): Promise<void> {
  const seconds = Number(arg('seconds', '3'));
  const sizes = arg('sizes', '1,10,100').split(',').map(Number);
  const names = arg('codecs', 'fast,pbjs').split(',');
  const window = Number(arg('window', '64'));
  const rows: Row[] = [];
  for (const codec of names) {
    for (const size of sizes) rows.push(await runOne(codec, size, false, seconds, window));
    if (sizes.includes(1)) rows.push(await runOne(codec, 1, true, seconds, window));
  }
  console.log(`gRPC transport over loopback, ${seconds}s per row, ${window} batches in flight, 50-peer IPv4 replies`);
  console.log('codec  batch            req/s     msg/s   edge req/s/core  swarm req/s/core  edge us/req  swarm us/req  rtt ms  errors');
  for (const r of rows) {
    console.log(
      [
        r.codec.padEnd(6),
        r.label.padEnd(14),
        fmt(r.requests / r.seconds).padStart(9),
        fmt(r.messages / r.seconds).padStart(9),
        fmt(r.requests / r.edgeCpu).padStart(16),
        fmt(r.requests / r.swarmCpu).padStart(17),
        fmt((r.edgeCpu * 1e6) / r.requests, 2).padStart(12),
        fmt((r.swarmCpu * 1e6) / r.requests, 2).padStart(13),
        fmt(r.rttMs, 2).padStart(7),
        String(r.errors).padStart(7),
      ].join(' '),
    );
  }
}

// ------------------------------------------------------------ codec only

function codecBench(): void {
  const requests = Array.from({ length: 100 }, (_, i) => announce(i));
  const replies = Array.from({ length: 100 }, () => REPLY as SwarmReply);
  const ids = replies.map((_, i) => i);
  const time = (fn: () => void): number => {
    for (let i = 0; i < 500; i++) fn();
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 500) {
      for (let i = 0; i < 100; i++) fn();
      n += 100;
    }
    return ((performance.now() - t0) * 1e6) / n / 100; // ns per item
  };
  console.log('codec (100 announces / 100 replies with 50 IPv4 peers), ns per item');
  console.log('codec  enc req  dec req  enc rep  dec rep');
  for (const [name, c] of Object.entries(codecs)) {
    const eb = c.encodeEdgeBatch({ firstId: 1, requests, tableIdentity: 1 });
    const sb = c.encodeSwarmBatch(ids, replies);
    const row = [
      time(() => c.encodeEdgeBatch({ firstId: 1, requests, tableIdentity: 1 })),
      time(() => c.decodeEdgeBatch(eb)),
      time(() => c.encodeSwarmBatch(ids, replies)),
      time(() => c.decodeSwarmBatch(sb)),
    ];
    console.log(name.padEnd(6), row.map((x) => fmt(x).padStart(7)).join('  '));
  }
}

if (process.argv.includes('--serve')) {
  await serve(arg('serve', 'fast'));
} else if (process.argv.includes('--codec-only')) {
  codecBench();
} else {
  codecBench();
  console.log();
  await transportBench();
}
