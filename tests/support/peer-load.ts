/**
 * Many peers in many torrents, announced through a tracker's client port
 * (all-in-one or an edge), and the checks that they are all still served:
 * for tests of what survives restarts, outages and handoffs.
 *
 *   const peers = await announcePeers(port, hashes, { httpV4: 8, httpV6: 2, udpSockets: 10 });
 *   await assertPeersServed(port, peers);   // a fresh announcer gets every one of them back
 *   assert.deepEqual(await scrapeCounts(port, hashes), peers.counts);
 *
 * Every peer comes from loopback, so the tracker must run with the
 * per-address limits lifted (LIFTED_CLIENT_LIMITS) for replies to hold a
 * whole swarm. Peers: HTTP over IPv4 and IPv6 (distinct ports from one
 * address) and UDP (one socket each, announcing in every torrent); about a
 * third seeders, some of them with a completed event (so `downloaded`
 * counts are not zero). Every wait is bounded.
 */
import assert from 'node:assert/strict';
import { AnnounceEvent } from '../../lib/tracker/events.js';
import { buildAnnounceQuery, buildScrapeQuery, parseAnnounceReply, parseScrapeReply } from '../../lib/protocol/http/client.js';
import { UdpTestClient, decodeCompactPeers, endpointKey, httpGet, randomId20, type Loopback } from './integration-helpers.js';

export interface TorrentCounts {
  complete: number;
  incomplete: number;
  downloaded: number;
}

export interface LoadedPeers {
  readonly hashes: readonly string[];
  /** Per info-hash: the peers announced ("ip|port"), by family. */
  readonly v4: Map<string, Set<string>>;
  readonly v6: Map<string, Set<string>>;
  /** Per info-hash: what a scrape must say. */
  readonly counts: Map<string, TorrentCounts>;
  /** Peers in all. */
  readonly total: number;
}

export interface PeerLoadOptions {
  /** HTTP peers per torrent over 127.0.0.1 (distinct ports). */
  httpV4?: number;
  /** HTTP peers per torrent over [::1]; the tracker must listen dual-stack. */
  httpV6?: number;
  /** UDP sockets, each a peer in every torrent. */
  udpSockets?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  timeoutMs?: number;
}

/**
 * HTTP peers' ports stay in 10000..31999, below Linux's ephemeral range
 * (32768+): the UDP sockets' own ports come from that range, and a UDP peer
 * on the port of an HTTP peer would be the same peer (127.0.0.1, port).
 */
let nextPort = Math.floor(Math.random() * 20_000);

/** Announces the peers and returns what the tracker must now hold. */
export async function announcePeers(port: number, hashes: readonly string[], options: PeerLoadOptions = {}): Promise<LoadedPeers> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const v4 = new Map(hashes.map((h) => [h, new Set<string>()]));
  const v6 = new Map(hashes.map((h) => [h, new Set<string>()]));
  const counts = new Map(hashes.map((h) => [h, { complete: 0, incomplete: 0, downloaded: 0 }]));
  const jobs: Array<() => Promise<void>> = [];
  let n = 0;
  const role = (): { left: number; event: AnnounceEvent } => {
    const k = n++ % 6;
    // Seeders that said "completed" count in downloaded; those that started as seeders do not.
    return k === 0 ? { left: 0, event: AnnounceEvent.Completed } : k === 1 ? { left: 0, event: AnnounceEvent.None } : { left: 1000, event: AnnounceEvent.None };
  };
  const book = (hash: string, family: 4 | 6, key: string, r: { left: number; event: AnnounceEvent }): void => {
    (family === 4 ? v4 : v6).get(hash)!.add(key);
    const c = counts.get(hash)!;
    if (r.left === 0) c.complete++;
    else c.incomplete++;
    if (r.event === AnnounceEvent.Completed) c.downloaded++;
  };
  for (const hash of hashes) {
    for (const [family, host, count] of [
      [4, '127.0.0.1', options.httpV4 ?? 8],
      [6, '::1', options.httpV6 ?? 0],
    ] as const) {
      for (let i = 0; i < count; i++) {
        const peerPort = (nextPort++ % 22_000) + 10_000;
        const r = role();
        jobs.push(async () => {
          const reply = await httpAnnounce(host, port, { infoHash: hash, port: peerPort, left: r.left, event: r.event }, timeoutMs);
          assert.ok(reply.ok, `HTTP announce refused: ${reply.failure}`);
          book(hash, family, `${family === 4 ? '127.0.0.1' : '::1'}|${peerPort}`, r);
        });
      }
    }
  }
  await runLimited(jobs, options.concurrency ?? 16);

  const sockets = await Promise.all(Array.from({ length: options.udpSockets ?? 0 }, () => UdpTestClient.open('127.0.0.1', port)));
  try {
    await runLimited(
      sockets.map((client) => async () => {
        for (const hash of hashes) {
          const r = role();
          // The peer is the source address and the announced port: one port per socket makes one peer per socket.
          const reply = await client.announce({ infoHash: hash, peerId: randomId20('-UD0001-'), port: client.localPort, left: r.left, event: r.event }, timeoutMs);
          assert.equal(reply.type, 'announce', `UDP announce refused: ${JSON.stringify(reply)}`);
          book(hash, 4, `127.0.0.1|${client.localPort}`, r);
        }
      }),
      options.concurrency ?? 16,
    );
  } finally {
    for (const s of sockets) s.close();
  }
  let total = 0;
  for (const h of hashes) total += v4.get(h)!.size + v6.get(h)!.size;
  return { hashes, v4, v6, counts, total };
}

/**
 * For every torrent, a fresh HTTP announcer of each family present gets
 * exactly the peers announced (numwant 200: every one). The fresh peers
 * stay in the torrents: scrape before this, not after.
 */
export async function assertPeersServed(port: number, peers: LoadedPeers, options: { timeoutMs?: number; concurrency?: number } = {}): Promise<void> {
  const jobs: Array<() => Promise<void>> = [];
  for (const hash of peers.hashes) {
    for (const [family, host, want] of [
      [4, '127.0.0.1', peers.v4.get(hash)!],
      [6, '::1', peers.v6.get(hash)!],
    ] as const) {
      if (want.size === 0) continue;
      jobs.push(async () => {
        const reply = await httpAnnounce(host, port, { infoHash: hash, port: 9, left: 1000, numwant: 200 }, options.timeoutMs ?? 5000);
        assert.ok(reply.ok, `announce refused: ${reply.failure}`);
        const got = new Set(family === 4 ? reply.v4 : reply.v6);
        const missing = [...want].filter((k) => !got.has(k));
        const extra = [...got].filter((k) => !want.has(k));
        assert.deepEqual(
          { missing: missing.length, extra: extra.length },
          { missing: 0, extra: 0 },
          `torrent ${Buffer.from(hash, 'latin1').toString('hex')}, IPv${family}: ${missing.length} of ${want.size} peers missing (e.g. ${missing.slice(0, 3).join(' ')}), ${extra.length} unexpected (e.g. ${extra.slice(0, 3).join(' ')})`,
        );
      });
    }
  }
  await runLimited(jobs, options.concurrency ?? 16);
}

/** Scrape counts of `hashes` over HTTP, in batches. */
export async function scrapeCounts(port: number, hashes: readonly string[], timeoutMs = 5000): Promise<Map<string, TorrentCounts>> {
  const out = new Map<string, TorrentCounts>();
  for (let i = 0; i < hashes.length; i += 50) {
    const batch = hashes.slice(i, i + 50);
    const res = await httpGet('127.0.0.1', port, `/scrape?${buildScrapeQuery(batch)}`, {}, timeoutMs);
    assert.equal(res.status, 200);
    const reply = parseScrapeReply(res.body);
    if (reply.type !== 'scrape') throw new Error(`scrape: ${JSON.stringify(reply)}`);
    for (const h of batch) {
      const f = reply.files.get(h) ?? { complete: 0, incomplete: 0, downloaded: 0 };
      out.set(h, { complete: f.complete, incomplete: f.incomplete, downloaded: f.downloaded });
    }
  }
  return out;
}

interface Announced {
  ok: boolean;
  failure?: string;
  v4: string[];
  v6: string[];
}

export async function httpAnnounce(
  host: Loopback,
  port: number,
  p: { infoHash: string; port: number; left: number; event?: AnnounceEvent; numwant?: number },
  timeoutMs: number,
): Promise<Announced> {
  const query = buildAnnounceQuery({ peerId: randomId20('-HT0001-'), infoHash: p.infoHash, port: p.port, left: p.left, event: p.event, numwant: p.numwant });
  const res = await httpGet(host, port, `/announce?${query}`, {}, timeoutMs);
  assert.equal(res.status, 200, 'HTTP announce status');
  const reply = parseAnnounceReply(res.body);
  if (reply.type === 'failure') return { ok: false, failure: reply.reason, v4: [], v6: [] };
  if (reply.type !== 'announce') throw new Error(`undecodable announce reply: ${reply.error}`);
  return { ok: true, v4: decodeCompactPeers(reply.peers, 6).map(endpointKey), v6: decodeCompactPeers(reply.peers6, 18).map(endpointKey) };
}

/** Runs `jobs` with at most `limit` at once; rejects with the first failure (after the running ones settle). */
export async function runLimited(jobs: ReadonlyArray<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const worker = async (): Promise<void> => {
    while (next < jobs.length && failure === null) {
      const job = jobs[next++];
      try {
        await job();
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  if (failure !== null) throw failure;
}
