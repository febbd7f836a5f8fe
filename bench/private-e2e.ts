/**
 * Private vs public mode end to end, in one run: two real all-in-one
 * processes, one public and one in private mode against a real mariadbd
 * (db/schema.sql + db/fixtures.sql), driven by the same bounded Node HTTP
 * load (keep-alive connections, every announce a re-announce of a held peer
 * that reports more bytes, so every private one credits). Private announces
 * use /<passkey>/announce with the fixture users that may announce (alice,
 * bob, carol as a seeder, eve) over the fixture torrents. Rounds alternate
 * so machine load hits both alike. Reports announces/s and tracker CPU
 * microseconds per reply for each and their ratio (bar: private >= 0.7x
 * public), database rows written per second, and the largest
 * tracker_private_db_flush_lag_seconds seen while loaded.
 *
 * The load generator is this Node process (not bench/loadtest, which does
 * not send passkey URLs): on a small machine it shares the CPU with the
 * tracker, so absolute rates are a floor; the ratio is the figure.
 *
 *   npm run bench:private-e2e -- [--workers 32 --rounds 3 --seconds 5]
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { buildAnnounceQuery } from '../lib/protocol/http/client.js';
import { startMariaDb } from '../tests/support/mariadb-server.js';
import { startTracker, type CleanupContext, type TrackerProcess } from '../tests/support/tracker-process.js';
import { metricIn, metricSum } from '../tests/support/cluster.js';

const CLOCK_TICKS = 100;
function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const WORKERS = arg('workers', 32);
const ROUNDS = arg('rounds', 3);
const SECONDS = arg('seconds', 5);
// db/fixtures.sql users allowed to announce (dave's account is disabled); all announce as seeders (carol may not leech).
const PASSKEYS = ['alice000000000000000000000000001', 'bob00000000000000000000000000002', 'carol000000000000000000000000003', 'eve00000000000000000000000000005'];
const HASHES = [1, 2, 3, 4].map((n) => createHash('sha1').update(`fixture torrent ${n}`).digest().toString('latin1'));

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime + stime
}

function get(agent: Agent, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, timeout: 10_000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('timeout', () => req.destroy(new Error('announce timed out')));
    req.once('error', reject);
    req.end();
  });
}

interface Round {
  announces: number;
  cpu: number;
  seconds: number;
  maxLag: number;
}

/** One bounded round of WORKERS keep-alive clients re-announcing their peers in every fixture torrent. */
async function round(tracker: TrackerProcess, privateMode: boolean, bytes: { n: number }): Promise<Round> {
  const agent = new Agent({ keepAlive: true, maxSockets: WORKERS });
  const cpu0 = cpuSeconds(tracker.pid);
  const t0 = performance.now();
  const until = Date.now() + SECONDS * 1000;
  let announces = 0;
  let maxLag = 0;
  let sampling = privateMode;
  const sampler = (async () => {
    while (sampling && Date.now() < until) {
      const text = await fetch(`http://127.0.0.1:${tracker.metricsPort}/metrics`).then((r) => r.text());
      for (const line of text.split('\n')) {
        if (line.startsWith('tracker_private_db_flush_lag_seconds{')) maxLag = Math.max(maxLag, Number(line.split(' ')[1]));
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      const peerId = `-qB4650-${String(w).padStart(12, '0')}`;
      const prefix = privateMode ? `/${PASSKEYS[w % PASSKEYS.length]}/announce?` : '/announce?';
      for (let i = 0; Date.now() < until; i++) {
        const q = buildAnnounceQuery({ infoHash: HASHES[i % HASHES.length]!, peerId, port: 20_000 + w, uploaded: (bytes.n += 1000), downloaded: 0, left: 0, numwant: 50 });
        const status = await get(agent, tracker.port, prefix + q);
        if (status !== 200) throw new Error(`announce answered HTTP ${status}`);
        announces++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(tracker.pid) - cpu0;
  sampling = false;
  await sampler;
  agent.destroy();
  return { announces, cpu, seconds, maxLag };
}

async function main(): Promise<void> {
  const cleanups: Array<() => unknown> = [];
  const scope: CleanupContext = { after: (fn) => void cleanups.push(fn) };
  try {
    const db = await startMariaDb(scope);
    db.loadSchema();
    db.loadFixtures();
    const publicTracker = await startTracker(scope, { readyTimeoutMs: 60_000 });
    const privateTracker = await startTracker(scope, { extraArgs: ['--private.enabled=true', `--database.url=${db.url}`], readyTimeoutMs: 60_000 });
    const rowsWritten = async () => metricSum(await fetch(`http://127.0.0.1:${privateTracker.metricsPort}/metrics`).then((r) => r.text()), 'tracker_private_db_rows_written_total');
    const totals = { public: { announces: 0, cpu: 0, seconds: 0 }, private: { announces: 0, cpu: 0, seconds: 0, maxLag: 0, rows: 0 } };
    const bytes = { n: 0 };
    for (let r = 0; r < ROUNDS; r++) {
      const pub = await round(publicTracker, false, bytes);
      totals.public.announces += pub.announces;
      totals.public.cpu += pub.cpu;
      totals.public.seconds += pub.seconds;
      const rows0 = await rowsWritten();
      const priv = await round(privateTracker, true, bytes);
      totals.private.rows += (await rowsWritten()) - rows0;
      totals.private.announces += priv.announces;
      totals.private.cpu += priv.cpu;
      totals.private.seconds += priv.seconds;
      totals.private.maxLag = Math.max(totals.private.maxLag, priv.maxLag);
    }
    const rate = (t: { announces: number; seconds: number }) => t.announces / t.seconds;
    const cpuUs = (t: { announces: number; cpu: number }) => (t.cpu / t.announces) * 1e6;
    const peers = metricIn(await fetch(`http://127.0.0.1:${privateTracker.metricsPort}/metrics`).then((r) => r.text()), 'tracker_private_peers');
    console.log(`workers ${WORKERS}, ${ROUNDS} rounds x ${SECONDS} s each, alternating; private peers held: ${peers}`);
    console.log(`public : ${rate(totals.public).toFixed(0)} announces/s, ${cpuUs(totals.public).toFixed(1)} us tracker CPU per reply`);
    console.log(`private: ${rate(totals.private).toFixed(0)} announces/s, ${cpuUs(totals.private).toFixed(1)} us tracker CPU per reply`);
    console.log(`ratio private/public: ${(rate(totals.private) / rate(totals.public)).toFixed(2)}x announces/s, ${(cpuUs(totals.public) / cpuUs(totals.private)).toFixed(2)}x replies per CPU second (bar 0.7x)`);
    console.log(`rows written: ${(totals.private.rows / totals.private.seconds).toFixed(0)}/s (rows written while loaded; the last flush of a round may land after it)`);
    console.log(`max tracker_private_db_flush_lag_seconds under load: ${totals.private.maxLag.toFixed(2)}`);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

await main();
