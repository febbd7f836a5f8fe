/**
 * What request hooks cost per UDP announce, in process: the frontend's own
 * steps (parse the datagram with its BEP 41 URL data, build the announce)
 * and the pipeline to the in-process swarm, with hooks off against client
 * approval + JWT (every token already verified: the cached path) +
 * same-subnet on. Sockets are left out, so the difference is the hooks'
 * whole cost; divide it by a tracker's CPU per reply (bench/compare.ts) for
 * its share.
 *
 *   node dist/bench/hooks.js [--torrents 10000] [--fill 400000] [--announces 200000] [--rounds 3]
 *
 * The load model of bench/compare.ts: torrents drawn Zipf(1.0), peers from
 * a pool of 16,384 addresses in 127.1.0.0/16 x 2 ports, half seeders, so
 * the hottest swarm holds most of the pool. Datagrams are built once,
 * before timing, with "/announce" as URL data (what libtorrent sends) or
 * "/announce?jwt=<the torrent's ES256 token>" where the jwt hook is on.
 * Variants alternate within each round, each on a fresh store filled by the
 * same announces.
 */
import { performance } from 'node:perf_hooks';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type Config } from '../lib/runtime/config.js';
import { Failures } from '../lib/runtime/failures.js';
import { silentLogger } from '../lib/runtime/logger.js';
import { TrackerMetrics } from '../lib/runtime/metrics.js';
import { parseUdpRequest } from '../lib/protocol/udp/server.js';
import { urlDataOptions, writeAnnounceRequest } from '../lib/protocol/udp/client.js';
import { AnnounceEvent } from '../lib/tracker/events.js';
import type { ClientAnnounce } from '../lib/tracker/announce.js';
import type { SwarmReply } from '../lib/tracker/swarm.js';
import { InProcessTransport } from '../lib/transport/in-process.js';
import { AccessList } from '../services/edge/access-list.js';
import { Hooks } from '../services/edge/hooks/create-hooks.js';
import { RequestPipeline } from '../services/edge/pipeline/pipeline.js';
import { clientAnnounceFromUdp } from '../services/edge/udp/client-announce.js';
import { SingleDestination, SwarmRouter } from '../services/edge/router.js';
import { createSwarm } from '../services/swarm/create-swarm.js';
import { mulberry32 } from '../tests/support/seeded-random.js';
import { ZipfSampler } from './loadtest/model.js';
import { AUDIENCE, ISSUER, jwks, makeKey, signToken } from '../tests/support/jwt-issuer.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const TORRENTS = arg('torrents', 10_000);
const ANNOUNCES = arg('announces', 200_000);
const FILL = arg('fill', 400_000);
const ROUNDS = arg('rounds', 3);
/** Distinct datagrams the timed announces cycle over. */
const DISTINCT = 20_000;
/** The load model's pool: 16,384 addresses x 2 ports. */
const ADDRESSES = 16_384;
const POOL = 2 * ADDRESSES;

interface Variant {
  name: string;
  config: Config;
  /** Announces that fill the store before timing (and verify every token once): torrent and peer, and the URL data. */
  fill: { picks: [number, number][]; url: (t: number) => string };
  run: { data: Uint8Array; peer: number }[];
  /** Skip the pipeline: router.trySync, as frontends did before it. */
  direct?: boolean;
}

function hashOf(t: number): string {
  const b = Buffer.alloc(20);
  b.writeUInt32BE(t + 1, 0);
  b.writeUInt32BE(0x9e3779b9, 16);
  return b.toString('latin1');
}

/** Source address of peer p: 127.1.x.y, 16,384 of them, 2 ports each (as in the load model). */
function sourceOf(p: number): { address: Uint8Array; port: number } {
  const a = p % ADDRESSES;
  return { address: Uint8Array.of(127, 1, a >> 8, a & 255), port: 10_000 + Math.floor(p / ADDRESSES) };
}

const scratch = new Uint8Array(2048);

function datagram(t: number, peer: number, url: string, event: AnnounceEvent): { data: Uint8Array; peer: number } {
  const buf = scratch;
  const { port } = sourceOf(peer);
  const n = writeAnnounceRequest(buf, {
    connectionIdHigh: 1,
    connectionIdLow: 2,
    transactionId: peer,
    infoHash: hashOf(t),
    peerId: `-LG0001-${String(peer).padStart(12, '0')}`,
    downloaded: 0,
    left: peer % 2 === 0 ? 0 : 1000,
    uploaded: 0,
    event,
    key: 0,
    numwant: -1,
    port,
    options: urlDataOptions(url),
  });
  return { data: buf.slice(0, n), peer };
}

/** What UdpFrontend does with a datagram once its connection id checked out. */
function announceFrom(data: Uint8Array, address: Uint8Array): ClientAnnounce {
  const request = parseUdpRequest(data, 74);
  if (request.type !== 'announce') throw new Error(`not an announce: ${request.type}`);
  return clientAnnounceFromUdp(request, address);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-hooks-'));
  try {
    const key = await makeKey('ES256', 'bench');
    const jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify(jwks(key)));
    const tokens: string[] = [];
    for (let t = 0; t < TORRENTS; t++) tokens.push(await signToken(key, { infoHashHex: Buffer.from(hashOf(t), 'latin1').toString('hex'), expiresIn: 86400 }));

    const configWith = (order: Config['hooks']['order']): Config => {
      const c = defaultConfig();
      c.hooks.order = order;
      c.hooks.clientApproval.prefixes = ['-qB', '-TR', '-lt', '-DE', '-UT', '-LG'];
      Object.assign(c.hooks.jwt, { issuer: ISSUER, audience: AUDIENCE, jwksFile, maxVerificationsPerSecond: 1_000_000 });
      return c;
    };

    // The load model's announces: a Zipf(1.0)-popular torrent, a random peer of the pool, half seeders.
    const random = mulberry32(7);
    const zipf = new ZipfSampler(TORRENTS, 1.0);
    // Timed announces cycle over DISTINCT prebuilt datagrams: a heap of a million datagrams would make the collector the benchmark.
    const picks: [number, number][] = [];
    for (let k = 0; k < DISTINCT; k++) picks.push([zipf.indexFor(random()), Math.floor(random() * POOL)]);
    const build = (url: (t: number) => string, event: AnnounceEvent, list: [number, number][]): { data: Uint8Array; peer: number }[] =>
      list.map(([t, peer]) => datagram(t, peer, url(t), event));
    // The store is filled with a first pass of the same draws, so swarm sizes follow popularity (the hottest holds most of the pool).
    const fillPicks: [number, number][] = [];
    for (let k = 0; k < FILL; k++) fillPicks.push([zipf.indexFor(random()), Math.floor(random() * POOL)]);

    const plain = (): string => '/announce';
    const withToken = (t: number): string => `/announce?jwt=${tokens[t]}`;
    const fillPlain = { picks: fillPicks, url: plain };
    const runPlain = build(plain, AnnounceEvent.None, picks);
    const fillToken = { picks: fillPicks, url: withToken };
    const runToken = build(withToken, AnnounceEvent.None, picks);
    const variants: Variant[] = [
      // What frontends did before the pipeline: the router's in-process answer, directly.
      { name: 'no pipeline (router directly)', config: configWith([]), fill: fillPlain, run: runPlain, direct: true },
      { name: 'hooks off', config: configWith([]), fill: fillPlain, run: runPlain },
      { name: 'clientApproval', config: configWith(['clientApproval']), fill: fillPlain, run: runPlain },
      { name: 'sameSubnet', config: configWith(['sameSubnet']), fill: fillPlain, run: runPlain },
      // The token's cost apart from the hook's: the longer URL data parsed, nothing reads it.
      { name: 'hooks off, tokens sent', config: configWith([]), fill: fillToken, run: runToken },
      { name: 'jwt (cached)', config: configWith(['jwt']), fill: fillToken, run: runToken },
      { name: 'clientApproval + jwt (cached) + sameSubnet', config: configWith(['clientApproval', 'jwt', 'sameSubnet']), fill: fillToken, run: runToken },
    ];
    const only = process.argv.indexOf('--only');
    if (only > 0) variants.splice(0, variants.length, ...variants.filter((v) => v.name === process.argv[only + 1]));
    const addresses = new Map<number, Uint8Array>();
    const addressOf = (peer: number): Uint8Array => {
      let a = addresses.get(peer);
      if (!a) addresses.set(peer, (a = sourceOf(peer).address));
      return a;
    };

    const results = new Map<string, number[]>();
    let replies = 0;
    let peersOut = 0;
    const respond = (reply: SwarmReply): void => {
      if (reply.type === 'announce') {
        replies++;
        peersOut += reply.peers.length / 6;
      }
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of variants) {
        const metrics = new TrackerMetrics({ defaultMetrics: false });
        const failures = new Failures(silentLogger, (c) => metrics.internalErrorCounter(c));
        const swarm = createSwarm(v.config, metrics, failures);
        swarm.stopSweeper();
        const transport = new InProcessTransport(swarm, failures.for('in-process'));
        const router = new SwarmRouter(new SingleDestination(transport), 256, failures.for('router'));
        const hooks = Hooks.fromConfig(v.config, { accessList: new AccessList('off'), metrics, logger: silentLogger });
        await hooks.start();
        const pipeline = new RequestPipeline({ router, preHooks: hooks.pre, failures: failures.for('hooks'), refusals: (h) => metrics.hookRefusalCounter(h) });
        // Fill (every token verified once here: what follows is the cached path).
        for (const [t, peer] of v.fill.picks) pipeline.announce(announceFrom(datagram(t, peer, v.fill.url(t), AnnounceEvent.None).data, addressOf(peer)), respond);
        replies = 0;
        peersOut = 0;
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const run = v.run;
        if (v.direct) {
          for (let k = 0; k < ANNOUNCES; k++) {
            const d = run[k % run.length];
            const now = router.trySync(announceFrom(d.data, addressOf(d.peer)));
            if (now) respond(now);
          }
        } else {
          for (let k = 0; k < ANNOUNCES; k++) {
            const d = run[k % run.length];
            // A closure per announce, as the UDP frontend makes.
            pipeline.announce(announceFrom(d.data, addressOf(d.peer)), (reply) => respond(reply));
          }
        }
        const cpu = process.cpuUsage(cpu0);
        const wall = performance.now() - t0;
        if (replies !== ANNOUNCES) throw new Error(`${v.name}: ${ANNOUNCES - replies} announces were not answered`);
        const usPerAnnounce = (cpu.user + cpu.system) / ANNOUNCES;
        (results.get(v.name) ?? results.set(v.name, []).get(v.name)!).push(usPerAnnounce);
        process.stderr.write(
          `# round ${round + 1} ${v.name}: ${usPerAnnounce.toFixed(3)} us CPU per announce, ${(peersOut / replies).toFixed(1)} peers per reply (${(ANNOUNCES / (wall / 1000) / 1000).toFixed(0)}k/s)\n`,
        );
        await hooks.close();
        await transport.close();
      }
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const base = median(results.get(variants[1].name)!);
    console.log(`| variant | CPU us per announce (median of ${ROUNDS}) | against hooks off | rounds |`);
    console.log('|---|---:|---:|---|');
    for (const v of variants) {
      const m = median(results.get(v.name)!);
      console.log(`| ${v.name} | ${m.toFixed(3)} | ${v === variants[1] ? '' : `${(m - base).toFixed(3)}`} | ${results.get(v.name)!.map((x) => x.toFixed(2)).join(', ')} |`);
    }
    console.log(`\n${TORRENTS} torrents (Zipf 1.0), ${POOL} peers, ${FILL} announces to fill, ${ANNOUNCES} timed a round`);
    console.log(JSON.stringify({ torrents: TORRENTS, pool: POOL, fill: FILL, announces: ANNOUNCES, rounds: Object.fromEntries(results) }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
