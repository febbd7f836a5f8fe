/**
 * Private-mode cost on the swarm, in one process and one run: the same
 * repeat announces (N peers held, default 200,000, spread over torrents and
 * users) answered by a public swarm and by a private-mode swarm
 * (PrivateAccounting per announce: deltas, credit, five row queues), rounds
 * alternating so machine load hits both alike. Reports announces per second
 * and CPU microseconds per reply for each, and their ratio (bar: private >=
 * 0.7x public). No database: the writer flushes every FLUSH_EVERY announces
 * (about database.flushSeconds at this rate) into a client that accepts
 * every statement at once, so the statements are built but nothing waits;
 * the database side (rows written per second, flush lag) needs the
 * end-to-end benchmark. Every announce reports more bytes, so every one
 * credits (the worst case for the queues).
 *
 *   npm run build && node dist/bench/private-swarm.js [--peers 200000 --rounds 4 --seconds 2]
 */
import { CatalogBuilder } from '../lib/private/catalog/catalog.js';
import type { SqlClient } from '../lib/private/db/pool.js';
import { DatabaseWriter } from '../lib/private/db/writer.js';
import { defaultConfig } from '../lib/runtime/config.js';
import { Failures } from '../lib/runtime/failures.js';
import { silentLogger } from '../lib/runtime/logger.js';
import { TrackerMetrics } from '../lib/runtime/metrics.js';
import type { AnnounceRequest } from '../lib/tracker/announce.js';
import { AnnounceEvent } from '../lib/tracker/events.js';
import { PeerAccounts } from '../services/swarm/accounting/peer-accounts.js';
import { PrivateAccounting } from '../services/swarm/accounting/private-announce.js';
import { createSwarm } from '../services/swarm/create-swarm.js';
import type { Swarm } from '../services/swarm/swarm.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const PEERS = arg('peers', 200_000);
const ROUNDS = arg('rounds', 4);
const SECONDS = arg('seconds', 2);
const PEERS_PER_TORRENT = 20;
const TORRENTS = Math.ceil(PEERS / PEERS_PER_TORRENT);
const USERS = Math.max(1, Math.floor(PEERS / 10));
const FLUSH_EVERY = 150_000;
const SINK_DB: SqlClient = { query: <T>() => Promise.resolve({ affectedRows: 0 } as T), eachRow: () => Promise.resolve() };
const writers: DatabaseWriter[] = [];

const hashOf = (t: number) => String.fromCharCode(t & 0xff, (t >>> 8) & 0xff, (t >>> 16) & 0xff) + 'x'.repeat(17);

function build(privateMode: boolean): Swarm {
  const config = defaultConfig();
  config.store.maxPeersPerAddressPerTorrent = 1000;
  const metrics = new TrackerMetrics({ defaultMetrics: false });
  const failures = new Failures(silentLogger, (c) => metrics.internalErrorCounter(c));
  let accounting: PrivateAccounting | undefined;
  if (privateMode) {
    const b = new CatalogBuilder();
    for (let t = 0; t < TORRENTS; t++) b.addTorrent(t + 1, hashOf(t), 1, 1, false, t + 1, 'anime');
    const catalog = b.build(0);
    const c = config.database;
    const writer = new DatabaseWriter({
      db: SINK_DB,
      config: c,
      failures: failures.for('writer'),
      limitCounter: (k) => metrics.limitCounter(k),
    });
    writers.push(writer);
    accounting = new PrivateAccounting({ catalog: () => catalog, accounts: new PeerAccounts(3900), writer, recorder: null, now: () => Date.now() / 1000, inactivitySeconds: 3900 });
  }
  const swarm = createSwarm(config, metrics, failures, accounting);
  swarm.stopSweeper();
  return swarm;
}

/** Peer i's announce (mutable fields rewritten per send: one object per peer, made up front). */
function requests(privateMode: boolean): Array<AnnounceRequest & { uploaded: number; downloaded: number }> {
  const out: Array<AnnounceRequest & { uploaded: number; downloaded: number }> = [];
  for (let i = 0; i < PEERS; i++) {
    const t = i % TORRENTS;
    const peerId = `-qB4650-${String(i).padStart(12, '0')}`;
    const endpoint = new Uint8Array([10, (i >>> 16) & 0xff, (i >>> 8) & 0xff, i & 0xff, 0x1a, 0xe1]);
    out.push({
      type: 'announce',
      infoHash: hashOf(t),
      peerId,
      endpoint,
      event: AnnounceEvent.None,
      left: i % 3 === 0 ? 0 : 1000,
      numwant: 50,
      uploaded: 0,
      downloaded: 0,
      ...(privateMode ? { userId: 1 + (i % USERS), userUpMultiplier: 1, userDownMultiplier: 1, clientId: 1, hideAddress: false } : {}),
    });
  }
  return out;
}

async function round(swarm: Swarm, reqs: Array<AnnounceRequest & { uploaded: number; downloaded: number }>, seconds: number): Promise<{ perSecond: number; cpuUs: number }> {
  const batch: AnnounceRequest[] = new Array(64);
  const startCpu = process.cpuUsage();
  const start = performance.now();
  let n = 0;
  let at = (Math.random() * PEERS) | 0;
  while (performance.now() - start < seconds * 1000) {
    for (let i = 0; i < batch.length; i++) {
      const r = reqs[at];
      r.uploaded += 1000;
      r.downloaded += 500;
      batch[i] = r;
      at = (at + 7919) % PEERS;
    }
    swarm.handle(batch);
    n += batch.length;
    if (n % FLUSH_EVERY < batch.length) for (const w of writers) await w.flush();
  }
  const elapsed = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(startCpu);
  return { perSecond: n / elapsed, cpuUs: (cpu.user + cpu.system) / n };
}

const pub = build(false);
const priv = build(true);
const pubReqs = requests(false);
const privReqs = requests(true);
// Fill both: every peer announced once (the private baseline).
for (const [s, reqs] of [[pub, pubReqs], [priv, privReqs]] as const) for (let i = 0; i < PEERS; i += 64) s.handle(reqs.slice(i, i + 64));

const results = { public: [] as number[], private: [] as number[], publicCpu: [] as number[], privateCpu: [] as number[] };
for (let r = 0; r < ROUNDS; r++) {
  const a = await round(pub, pubReqs, SECONDS);
  const b = await round(priv, privReqs, SECONDS);
  results.public.push(a.perSecond);
  results.private.push(b.perSecond);
  results.publicCpu.push(a.cpuUs);
  results.privateCpu.push(b.cpuUs);
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const ratio = median(results.private) / median(results.public);
console.log(
  JSON.stringify(
    {
      peers: PEERS,
      torrents: TORRENTS,
      users: USERS,
      rounds: ROUNDS,
      publicPerSecond: Math.round(median(results.public)),
      privatePerSecond: Math.round(median(results.private)),
      publicCpuUsPerReply: +median(results.publicCpu).toFixed(2),
      privateCpuUsPerReply: +median(results.privateCpu).toFixed(2),
      privateOverPublic: +ratio.toFixed(2),
      bar: 0.7,
      privatePeersHeld: priv.accounting!.peers,
      accountingBytesPerPeer: +priv.accounting!.bytesPerPeer().toFixed(1),
    },
    null,
    2,
  ),
);
