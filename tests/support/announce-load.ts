/**
 * A bounded load loop of real UDP and HTTP announces through a cluster's
 * edges, for tests that change the cluster under load: every failure is
 * kept (a client must never see one), and every peer it announced is
 * remembered, so the test can check afterwards that each is still served
 * (tests/support/peer-load.ts `assertPeersServed`).
 *
 *   const load = await startAnnounceLoad(cluster.edges.map((e) => e.port), hashes);
 *   ... rescale ...
 *   await load.stop();
 *   assert.deepEqual(load.failures, []);
 *   await assertPeersServed(edge.port, load.peers());
 */
import { buildAnnounceQuery, parseAnnounceReply } from '../../lib/protocol/http/client.js';
import { AnnounceEvent, UdpTestClient, httpGet, randomId20 } from './integration-helpers.js';
import type { LoadedPeers, TorrentCounts } from './peer-load.js';

export interface AnnounceLoad {
  /** Announces answered with peers. */
  readonly ok: number;
  /** "<port>: <what went wrong>", one per failed announce. */
  readonly failures: readonly string[];
  /** The peers announced so far (127.0.0.1, one port per worker), as LoadedPeers; counts are not tracked. */
  peers(): LoadedPeers;
  stop(): Promise<void>;
}

export interface AnnounceLoadOptions {
  /** Concurrent clients, each one peer (one port) re-announcing in every torrent in turn. Default 8. */
  workers?: number;
  /** The loop stops by itself after this long. Default 120 s. */
  maxMs?: number;
  timeoutMs?: number;
}

let nextPort = 40_000 + Math.floor(Math.random() * 10_000);

export async function startAnnounceLoad(edgePorts: readonly number[], hashes: readonly string[], options: AnnounceLoadOptions = {}): Promise<AnnounceLoad> {
  const until = Date.now() + (options.maxMs ?? 120_000);
  const timeoutMs = options.timeoutMs ?? 10_000;
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const announced = new Map(hashes.map((h) => [h, new Set<string>()]));
  const udp = await Promise.all(edgePorts.map((port) => UdpTestClient.open('127.0.0.1', port)));
  const workers: Promise<void>[] = [];
  for (let w = 0; w < (options.workers ?? 8); w++) {
    // One peer per worker and torrent (re-announcing), well within the per-address limits.
    const port = nextPort++;
    workers.push(
      (async () => {
        for (let k = w; running && Date.now() < until; k++) {
          const edge = k % edgePorts.length;
          const hash = hashes[k % hashes.length];
          let failure: string | undefined;
          if (w % 2 === 0) {
            const reply = await udp[edge]
              .announce({ infoHash: hash, peerId: randomId20('-LD0001-'), port, left: 10 }, timeoutMs)
              .catch((e: Error) => ({ type: 'timeout', message: e.message }) as const);
            if (reply.type !== 'announce') failure = `UDP ${JSON.stringify(reply)}`;
          } else {
            const query = buildAnnounceQuery({ peerId: randomId20('-LD0001-'), left: 10, infoHash: hash, port, event: AnnounceEvent.None });
            try {
              const res = await httpGet('127.0.0.1', edgePorts[edge], `/announce?${query}`, {}, timeoutMs);
              const reply = parseAnnounceReply(res.body);
              if (reply.type !== 'announce') failure = `HTTP ${reply.type === 'failure' ? reply.reason : reply.error}`;
            } catch (error) {
              failure = `HTTP ${(error as Error).message}`;
            }
          }
          if (failure === undefined) {
            ok++;
            announced.get(hash)!.add(`127.0.0.1|${port}`);
          } else {
            failures.push(`edge port ${edgePorts[edge]}: ${failure}`);
          }
        }
      })(),
    );
  }
  return {
    get ok() {
      return ok;
    },
    failures,
    peers() {
      const v4 = new Map([...announced].map(([h, set]) => [h, new Set(set)]));
      const v6 = new Map(hashes.map((h) => [h, new Set<string>()]));
      const counts = new Map<string, TorrentCounts>();
      let total = 0;
      for (const set of v4.values()) total += set.size;
      return { hashes, v4, v6, counts, total };
    },
    async stop() {
      running = false;
      await Promise.all(workers);
      for (const c of udp) c.close();
    },
  };
}
