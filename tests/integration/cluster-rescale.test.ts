/**
 * Membership changes while clients announce, with real processes and a
 * real members file (cluster.membership=file):
 *
 *  - swarms see a change before the edge does (edges read a file of their
 *    own here, updated later): what the edge still sends to the old owner is
 *    answered "moved" by it and re-routed by the edge to the owner it names,
 *    for a swarm leaving (draining) and for one joining; no client sees a
 *    failure, and the counters on both sides show the moved replies and the
 *    re-routes;
 *  - one shared file, a swarm added and another removed under load: no
 *    client sees a failure, and every node ends on the same table.
 *
 * Load loops are bounded in time; every wait is bounded.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildAnnounceQuery, parseAnnounceReply } from '../../lib/protocol/http/client.js';
import { SlotTable } from '../../lib/cluster/slot-table.js';
import { metricIn, metricSum, startCluster, type Cluster, type ClusterNode } from '../support/cluster.js';
import { AnnounceEvent, UdpTestClient, httpGet, randomId20, sleep } from '../support/integration-helpers.js';
import { cleanupScope } from '../support/tracker-process.js';

let nextPeerPort = 20_000 + Math.floor(Math.random() * 20_000);
const peerPort = (): number => nextPeerPort++;

/** One HTTP announce; the failure reason when it is not answered with peers. */
async function httpAnnounce(edge: ClusterNode, infoHash: string, port: number): Promise<string | undefined> {
  const query = buildAnnounceQuery({ peerId: randomId20(), left: 100, infoHash, port, event: AnnounceEvent.Started });
  try {
    const res = await httpGet('127.0.0.1', edge.port, `/announce?${query}`, {}, 10_000);
    const reply = parseAnnounceReply(res.body);
    return reply.type === 'announce' ? undefined : `HTTP ${reply.type === 'failure' ? reply.reason : reply.error}`;
  } catch (error) {
    return `HTTP ${(error as Error).message}`;
  }
}

interface Load {
  ok: number;
  failures: string[];
  stop(): Promise<void>;
}

/**
 * Announces `hashes` round and round through `edges`, over UDP and HTTP,
 * from a few concurrent clients, until stopped (at most `maxMs`).
 */
async function startLoad(edges: readonly ClusterNode[], hashes: readonly string[], maxMs = 60_000): Promise<Load> {
  const until = Date.now() + maxMs;
  let running = true;
  const load: Load = { ok: 0, failures: [], stop: async () => {} };
  const udp = await Promise.all(edges.map((e) => UdpTestClient.open('127.0.0.1', e.port)));
  const workers: Promise<void>[] = [];
  for (let w = 0; w < 8; w++) {
    // One peer per worker and torrent (re-announcing), well within the per-address limits.
    const port = peerPort();
    workers.push(
      (async () => {
        for (let k = w; running && Date.now() < until; k++) {
          const edge = k % edges.length;
          const hash = hashes[k % hashes.length];
          let failure: string | undefined;
          if (w % 2 === 0) {
            const reply = await udp[edge].announce({ infoHash: hash, peerId: randomId20(), port, left: 10 }, 10_000).catch((e: Error) => ({ type: 'timeout', message: e.message }) as const);
            if (reply.type !== 'announce') failure = `UDP ${JSON.stringify(reply)}`;
          } else {
            failure = await httpAnnounce(edges[edge], hash, port);
          }
          if (failure === undefined) load.ok++;
          else load.failures.push(`${edges[edge].name}: ${failure}`);
        }
      })(),
    );
  }
  load.stop = async () => {
    running = false;
    await Promise.all(workers);
    for (const c of udp) c.close();
  };
  return load;
}

/** A few hashes owned by each of `swarms` under `table`. */
function hashesOf(cluster: Cluster, table: SlotTable, swarms: readonly string[], each: number): string[] {
  const out: string[] = [];
  for (const swarm of swarms) {
    let found = 0;
    while (found < each) {
      const hash = randomId20();
      if (table.ownerOf(hash) === swarm) {
        out.push(hash);
        found++;
      }
    }
  }
  return out;
}

async function counters(cluster: Cluster): Promise<{ sent: Record<string, number>; received: number; hint: number; table: number; wait: number }> {
  const sent: Record<string, number> = {};
  for (const s of cluster.swarms) sent[s.name] = metricSum(await s.metrics(), 'tracker_moved_replies_sent_total');
  let received = 0;
  let hint = 0;
  let table = 0;
  let wait = 0;
  for (const e of cluster.edges) {
    const text = await e.metrics();
    received += metricSum(text, 'tracker_moved_replies_received_total');
    hint += metricIn(text, 'tracker_moved_reroutes_total', { via: 'hint' }) ?? 0;
    table += metricIn(text, 'tracker_moved_reroutes_total', { via: 'table' }) ?? 0;
    wait += metricIn(text, 'tracker_moved_reroutes_total', { via: 'wait' }) ?? 0;
  }
  return { sent, received, hint, table, wait };
}

describe('swarms see a membership change before the edge: moved requests are re-routed, no client sees a failure', { timeout: 180_000 }, () => {
  const scope = cleanupScope({ after });
  let cluster: Cluster;

  it('starts 3 swarms and an edge reading its own members file', { timeout: 60_000 }, async () => {
    // A long wait for the edge's own table: here it changes only when the test says so.
    cluster = await startCluster(scope, { swarms: 3, edges: 1, separateEdgeMembers: true, edgeArgs: ['--cluster.movedWaitMs=5000'] });
    const swarm = await cluster.swarm('swarm-0').metrics();
    assert.equal(metricIn(swarm, 'tracker_slot_table_identity'), cluster.table.identity, 'a swarm builds the same table as the edges');
    assert.equal(metricIn(swarm, 'tracker_owned_slots'), cluster.table.slotsOf('swarm-0').length);
  });

  it('a swarm leaves: the swarms drain it first; what the edge still sends it is re-routed to the new owner', { timeout: 60_000 }, async () => {
    const before = cluster.table;
    const after3 = SlotTable.build(['swarm-0', 'swarm-1']);
    // Every hash of swarm-2 moves; the others stay where they are.
    const hashes = hashesOf(cluster, before, ['swarm-0', 'swarm-1', 'swarm-2'], 10);
    const load = await startLoad(cluster.edges, hashes);
    try {
      await sleep(300);
      cluster.setMembers(['swarm-0', 'swarm-1'], ['swarm-2'], 'swarms');
      await cluster.waitTable(after3.identity, 'swarms');
      const okBefore = load.ok;
      // The edge still routes swarm-2's slots to swarm-2, which now answers "moved".
      const until = Date.now() + 20_000;
      while ((await counters(cluster)).hint < 5 && Date.now() < until) await sleep(100);
      assert.ok(load.ok > okBefore, 'announces keep being answered meanwhile');
      cluster.setMembers(['swarm-0', 'swarm-1'], ['swarm-2'], 'edges');
      await cluster.waitTable(after3.identity, 'edges');
      await sleep(300);
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.failures.slice(0, 5), [], `${load.failures.length} of ${load.ok + load.failures.length} announces failed`);
    const c = await counters(cluster);
    assert.ok(c.sent['swarm-2'] >= 5, `swarm-2 answered moved: ${JSON.stringify(c)}`);
    assert.equal(c.sent['swarm-0'] + c.sent['swarm-1'], 0, `the new owners served what was re-routed to them: ${JSON.stringify(c)}`);
    assert.ok(c.received >= c.sent['swarm-2'] && c.hint >= 5, `the edge re-routed by the hint: ${JSON.stringify(c)}`);
    // Settled: the edge's table now agrees, so nothing more is moved.
    const settled = (await counters(cluster)).received;
    const more = await startLoad(cluster.edges, hashes);
    await sleep(500);
    await more.stop();
    assert.deepEqual(more.failures, []);
    assert.ok(more.ok > 0);
    assert.equal((await counters(cluster)).received, settled, 'no moved replies once the edge has the table');
  });

  it('a swarm joins: the swarms give it its slots first; the edge, still on the old table, is sent on to it', { timeout: 60_000 }, async () => {
    const joining = await cluster.launchSwarm('swarm-3');
    const before = SlotTable.build(['swarm-0', 'swarm-1']);
    const after4 = SlotTable.build(['swarm-0', 'swarm-1', 'swarm-3']);
    const moving = hashesOf(cluster, after4, ['swarm-3'], 20);
    const staying = hashesOf(cluster, after4, ['swarm-0', 'swarm-1'], 5);
    const start = await counters(cluster);
    const load = await startLoad(cluster.edges, [...moving, ...staying]);
    try {
      // The edge knows swarm-3 (a channel) but does not route to it yet.
      cluster.setMembers(['swarm-0', 'swarm-1'], ['swarm-2', 'swarm-3'], 'edges');
      await cluster.waitStreams(cluster.edges[0], { 'swarm-3': 1 });
      await cluster.waitTable(before.identity, 'edges');
      cluster.setMembers(['swarm-0', 'swarm-1', 'swarm-3'], ['swarm-2'], 'swarms');
      await cluster.waitTable(after4.identity, 'swarms');
      const until = Date.now() + 20_000;
      while ((await counters(cluster)).hint - start.hint < 5 && Date.now() < until) await sleep(100);
      cluster.setMembers(['swarm-0', 'swarm-1', 'swarm-3'], ['swarm-2'], 'edges');
      await cluster.waitTable(after4.identity, 'edges');
      await sleep(300);
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.failures.slice(0, 5), [], `${load.failures.length} of ${load.ok + load.failures.length} announces failed`);
    const c = await counters(cluster);
    const sentByOldOwners = c.sent['swarm-0'] + c.sent['swarm-1'] - start.sent['swarm-0'] - start.sent['swarm-1'];
    assert.ok(sentByOldOwners >= 5, `the old owners answered moved: ${JSON.stringify(c)}`);
    assert.equal(c.sent['swarm-3'] ?? 0, 0, `swarm-3 served what it was sent: ${JSON.stringify(c)}`);
    assert.ok(c.hint - start.hint >= 5, `re-routed by the hint: ${JSON.stringify(c)}`);
    const text = await joining.metrics();
    assert.equal(metricIn(text, 'tracker_owned_slots'), after4.slotsOf('swarm-3').length);
  });

  it('every process exits 0 on SIGTERM', { timeout: 60_000 }, async () => {
    await cluster.stop();
  });
});

describe('one members file, a swarm added and another removed while clients announce: no client sees a failure', { timeout: 240_000 }, () => {
  const scope = cleanupScope({ after });

  it('3 -> 4 -> 3 swarms under load', { timeout: 200_000 }, async (t) => {
    const cluster = await startCluster(scope, { swarms: 3, edges: 2, edgeArgs: ['--cluster.movedWaitMs=2000'] });
    const hashes = cluster.spreadHashes(60);
    const load = await startLoad(cluster.edges, hashes, 150_000);
    let added: ClusterNode;
    try {
      await sleep(500);
      added = await cluster.addSwarm();
      assert.equal(cluster.members.length, 4);
      await sleep(1000);
      await cluster.removeSwarm('swarm-0');
      assert.deepEqual(cluster.members, ['swarm-1', 'swarm-2', added.name]);
      await sleep(1000);
    } finally {
      await load.stop();
    }
    const c = await counters(cluster);
    t.diagnostic(`${load.ok} announces answered, ${load.failures.length} failed; moved ${JSON.stringify(c)}`);
    assert.deepEqual(load.failures.slice(0, 5), [], `${load.failures.length} of ${load.ok + load.failures.length} announces failed`);
    assert.ok(load.ok > 100, `the load ran (${load.ok} answered)`);
    await cluster.waitTable(SlotTable.build(['swarm-1', 'swarm-2', added!.name]).identity);
    await cluster.stop();
  });
});
