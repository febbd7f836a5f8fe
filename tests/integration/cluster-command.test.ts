/**
 * `tracker cluster --edges 2 --swarms 3`: the supervisor that runs a local
 * cluster as separate processes (edge j on port+j / metrics metrics.port+j,
 * swarm i on grpcPort+i / metrics metrics.port+100+i) and restarts a process
 * that dies, under the same name and ports.
 *
 *  - all 5 processes come up (GET /readyz on every metrics port);
 *  - a peer announced through edge-0 is returned through edge-1 (HTTP, UDP);
 *  - SIGKILL of the swarm-1 child: the supervisor starts a new one, which
 *    serves swarm-1's slots again through both edges;
 *  - a line added to the members file starts swarm-3, which both edges then
 *    route its slots to; removing the line stops it;
 *  - SIGTERM to the supervisor stops every child and exits 0.
 *
 * Children are found through /proc: parent = the supervisor, command line
 * with --node.name=<name> and that node's own metrics port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAnnounceQuery, parseAnnounceReply } from '../../lib/protocol/http/client.js';
import { SlotTable } from '../../lib/cluster/slot-table.js';
import { metricIn, metricsText, pidAlive, startClusterCommand, type ClusterCommand } from '../support/cluster.js';
import { AnnounceEvent, UdpTestClient, decodeCompactPeers, endpointKey, eventually, httpGet, randomId20 } from '../support/integration-helpers.js';
import { cleanupScope, findFreePort } from '../support/tracker-process.js';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

const EDGES = 2;
const SWARMS = 3;
const MEMBERS = Array.from({ length: SWARMS }, (_, i) => `swarm-${i}`);
const TABLE = SlotTable.build(MEMBERS);

function hashOwnedBy(swarm: string): string {
  for (;;) {
    const hash = randomId20();
    if (TABLE.ownerOf(hash) === swarm) return hash;
  }
}

let nextPeerPort = 20_000 + Math.floor(Math.random() * 20_000);
const peerPort = (): number => nextPeerPort++;

async function httpAnnounce(port: number, p: { infoHash: string; port: number; left?: number }, timeoutMs = 2000) {
  const query = buildAnnounceQuery({ peerId: randomId20(), left: p.left ?? 100, infoHash: p.infoHash, port: p.port, event: AnnounceEvent.Started });
  const res = await httpGet('127.0.0.1', port, `/announce?${query}`, {}, timeoutMs);
  const reply = parseAnnounceReply(res.body);
  if (reply.type !== 'announce') return { ok: false as const, why: reply.type === 'failure' ? reply.reason : reply.error, peers: [] as string[] };
  return { ok: true as const, why: '', peers: decodeCompactPeers(reply.peers, 6).map(endpointKey) };
}

async function waitStreamsUp(cmd: ClusterCommand, timeoutMs: number): Promise<void> {
  for (let j = 0; j < EDGES; j++) {
    await eventually(
      async () => {
        const text = await metricsText(cmd.edgeMetricsPort(j));
        return MEMBERS.every((m) => metricIn(text, 'tracker_swarm_stream_up', { swarm: m }) === 1) ? true : undefined;
      },
      timeoutMs,
      `edge-${j}: tracker_swarm_stream_up 1 for every swarm`,
    ).catch((error: Error) => {
      throw new Error(cmd.describe(error.message));
    });
  }
}

/** A peer announced on edge `from` for a hash of `swarm` is returned through edge `to` (HTTP); undefined while it is not. */
async function crossEdgeHttp(cmd: ClusterCommand, swarm: string, from: number, to: number): Promise<true | undefined> {
  const hash = hashOwnedBy(swarm);
  const port = peerPort();
  const first = await httpAnnounce(cmd.edgePort(from), { infoHash: hash, port, left: 0 });
  if (!first.ok) return undefined;
  const second = await httpAnnounce(cmd.edgePort(to), { infoHash: hash, port: peerPort() });
  if (!second.ok) return undefined;
  assert.deepEqual(second.peers, [`127.0.0.1|${port}`], `${swarm}: edge-${to} returns the peer announced on edge-${from}`);
  return true;
}

test('tracker cluster --edges 2 --swarms 3: comes up, routes across edges, restarts a killed swarm, rescales when its members file is edited, stops cleanly on SIGTERM', { timeout: 150_000 }, async (t) => {
  const scope = cleanupScope(t);
  const began = Date.now();
  const cmd = await startClusterCommand(scope, { edges: EDGES, swarms: SWARMS });
  t.diagnostic(`base ports: port=${cmd.port} metrics.port=${cmd.metricsPort} swarm.grpcPort=${cmd.grpcPort}`);

  // 1. All five processes are up: /readyz answers 200 on every metrics port (an edge's once its streams to every swarm are open).
  await cmd.waitAllReady(30_000);
  await waitStreamsUp(cmd, 10_000);
  t.diagnostic(`5 processes ready and connected after ${Date.now() - began} ms`);
  const pids = new Map([...Array.from({ length: EDGES }, (_, j) => `edge-${j}`), ...MEMBERS].map((name) => [name, cmd.childPid(name)]));
  for (const [name, pid] of pids) assert.ok(pid !== undefined && pidAlive(pid), cmd.describe(`no live child process for ${name}`));
  assert.equal(new Set(pids.values()).size, 5, 'five distinct child processes');
  for (let i = 0; i < SWARMS; i++) {
    const text = await metricsText(cmd.swarmMetricsPort(i));
    assert.equal(metricIn(text, 'tracker_edges_connected'), EDGES, `swarm-${i}: tracker_edges_connected`);
  }
  for (let j = 0; j < EDGES; j++) {
    assert.equal(metricIn(await metricsText(cmd.edgeMetricsPort(j)), 'tracker_slot_table_members'), SWARMS, `edge-${j}: tracker_slot_table_members`);
  }

  // 2. Cross-edge announce, for a hash of every swarm: HTTP both ways, UDP with a connection id from the other edge.
  for (const swarm of MEMBERS) {
    assert.equal(await crossEdgeHttp(cmd, swarm, 0, 1), true, `${swarm}: HTTP edge-0 -> edge-1`);
    assert.equal(await crossEdgeHttp(cmd, swarm, 1, 0), true, `${swarm}: HTTP edge-1 -> edge-0`);
  }
  const udp0 = await UdpTestClient.open('127.0.0.1', cmd.edgePort(0));
  const udp1 = await UdpTestClient.open('127.0.0.1', cmd.edgePort(1));
  t.after(() => {
    udp0.close();
    udp1.close();
  });
  for (const swarm of MEMBERS) {
    const hash = hashOwnedBy(swarm);
    const port = peerPort();
    await udp0.announceOk({ infoHash: hash, peerId: randomId20(), port, left: 0, event: AnnounceEvent.Started });
    const id = await udp0.connect();
    const tid = 0x5000_0000 + peerPort();
    const reply = udp1.parse(await udp1.request(udp1.announcePacket({ infoHash: hash, peerId: randomId20(), port: peerPort() }, id, tid), tid));
    assert.equal(reply.type, 'announce', `${swarm}: edge-1 accepts edge-0's connection id (the supervisor gave both the same key): ${JSON.stringify(reply)}`);
    if (reply.type === 'announce') assert.deepEqual(decodeCompactPeers(reply.peers, 6).map(endpointKey), [`127.0.0.1|${port}`], `${swarm}: UDP edge-0 -> edge-1`);
  }

  // 3. SIGKILL the swarm-1 child: the supervisor restarts it under the same name and ports.
  const oldPid = pids.get('swarm-1')!;
  const killedAt = Date.now();
  process.kill(oldPid, 'SIGKILL');
  await eventually(() => (pidAlive(oldPid) ? undefined : true), 10_000, `swarm-1 (pid ${oldPid}) to die`);
  // Meanwhile its slots fail fast, others still work.
  const down = await httpAnnounce(cmd.edgePort(0), { infoHash: hashOwnedBy('swarm-1'), port: peerPort() });
  const other = await httpAnnounce(cmd.edgePort(0), { infoHash: hashOwnedBy('swarm-0'), port: peerPort() });
  t.diagnostic(`right after the kill: swarm-1 slot ${down.ok ? 'ok' : `failed (${down.why})`}, swarm-0 slot ${other.ok ? 'ok' : `failed (${other.why})`}`);
  assert.ok(other.ok, `a swarm-0 slot failed while swarm-1 was down: ${other.why}`);

  const newPid = await eventually(
    () => {
      const pid = cmd.childPid('swarm-1');
      return pid !== undefined && pid !== oldPid ? pid : undefined;
    },
    10_000,
    'the supervisor to start a new swarm-1',
  ).catch((error: Error) => {
    throw new Error(cmd.describe(error.message));
  });
  await cmd.waitAllReady(10_000);
  // Its slots serve again through both edges (the edges reconnect by themselves).
  await eventually(async () => ((await crossEdgeHttp(cmd, 'swarm-1', 0, 1)) && (await crossEdgeHttp(cmd, 'swarm-1', 1, 0))), 10_000, 'swarm-1 slots to serve again').catch(
    (error: Error) => {
      throw new Error(cmd.describe(error.message));
    },
  );
  const servingMs = Date.now() - killedAt;
  t.diagnostic(`swarm-1 restarted by the supervisor: pid ${oldPid} -> ${newPid}, serving again ${servingMs} ms after the kill`);
  await waitStreamsUp(cmd, 5000);
  assert.match(cmd.output(), /cluster process exited; restarting it.*"node":"swarm-1"/, 'the supervisor logged the restart');
  // Nothing else was restarted.
  for (const [name, pid] of pids) if (name !== 'swarm-1') assert.equal(cmd.childPid(name), pid, `${name} kept its process`);

  // 4. Editing the members file rescales the cluster: a new line starts a swarm both edges route to; removing it stops that swarm.
  const file = cmd.membersFile();
  const original = readFileSync(file, 'utf8');
  const rewrite = (text: string): void => {
    writeFileSync(`${file}.new`, text);
    renameSync(`${file}.new`, file);
  };
  const grpc3 = await findFreePort({ host: '127.0.0.1', tcp: true, udp: false });
  rewrite(`${original}swarm-3=127.0.0.1:${grpc3}\n`);
  const TABLE4 = SlotTable.build([...MEMBERS, 'swarm-3']);
  const onSwarm3 = (): string => {
    for (;;) {
      const hash = randomId20();
      if (TABLE4.ownerOf(hash) === 'swarm-3') return hash;
    }
  };
  await eventually(
    async () => {
      for (let j = 0; j < EDGES; j++) {
        const text = await metricsText(cmd.edgeMetricsPort(j));
        if (metricIn(text, 'tracker_slot_table_identity') !== TABLE4.identity || metricIn(text, 'tracker_swarm_stream_up', { swarm: 'swarm-3' }) !== 1) return undefined;
      }
      return true;
    },
    20_000,
    'both edges routing to swarm-3',
  ).catch((error: Error) => {
    throw new Error(cmd.describe(error.message));
  });
  const hash3 = onSwarm3();
  const seeder3 = peerPort();
  assert.ok((await httpAnnounce(cmd.edgePort(0), { infoHash: hash3, port: seeder3, left: 0 })).ok);
  const through1 = await httpAnnounce(cmd.edgePort(1), { infoHash: hash3, port: peerPort() });
  assert.deepEqual(through1.peers, [`127.0.0.1|${seeder3}`], 'swarm-3 serves its slots through both edges');
  rewrite(original);
  await eventually(
    async () => {
      for (let j = 0; j < EDGES; j++) {
        if (metricIn(await metricsText(cmd.edgeMetricsPort(j)), 'tracker_slot_table_identity') !== TABLE.identity) return undefined;
      }
      return true;
    },
    20_000,
    'both edges back on the 3-swarm table',
  );
  await eventually(() => (/members file no longer lists a swarm: stopping it.*"node":"swarm-3"/.test(cmd.output()) ? true : undefined), 10_000, 'the supervisor to stop swarm-3');
  assert.match(cmd.output(), /members file lists a new swarm: starting it.*"node":"swarm-3"/);

  // 5. SIGTERM to the supervisor: every child stops and it exits 0.
  const children = cmd.childPids();
  assert.equal(children.length, 5, cmd.describe(`expected 5 children before SIGTERM, found ${children.length}`));
  const stopBegan = Date.now();
  const result = await cmd.stop(20_000);
  t.diagnostic(`SIGTERM -> exit ${JSON.stringify(result)} in ${Date.now() - stopBegan} ms; total ${Date.now() - began} ms`);
  assert.deepEqual(result, { code: 0, signal: null }, cmd.describe('the supervisor after SIGTERM'));
  await eventually(() => (children.every((pid) => !pidAlive(pid)) ? true : undefined), 10_000, 'every child to be gone').catch((error: Error) => {
    throw new Error(`${error.message}: still alive ${JSON.stringify(children.filter(pidAlive))}`);
  });
  assert.doesNotMatch(cmd.output(), /second stop signal/, 'no child was signalled twice');
});
