/**
 * Local clusters of tracker processes for integration and e2e tests: M
 * `tracker swarm` processes and N `tracker edge` processes on loopback,
 * each a real child process (the build in dist/) on free ports, wired by a
 * members file (cluster.membership=file) that every one of them watches.
 *
 *   const cluster = await startCluster(scope, { swarms: 3, edges: 2 });
 *   cluster.edges[0].port              // UDP + HTTP + WebSocket of edge-0
 *   cluster.hashOwnedBy('swarm-1')     // an info-hash whose slot swarm-1 owns (current table)
 *   await cluster.swarms[1].kill();    // SIGKILL, waits for the exit
 *   await cluster.swarms[1].restart(); // same name, same ports
 *   const s3 = await cluster.addSwarm();      // start swarm-3, then add it to the file; every node sees it
 *   await cluster.removeSwarm('swarm-0');     // mark it draining, SIGTERM it, then remove its line
 *   await cluster.restartSwarm('swarm-1');    // a rolling update's step: draining, SIGTERM, start, ready again
 *   await cluster.waitHandoffs();      // every swarm has handed over what it no longer owns
 *   await cluster.stop();              // SIGTERM edges, then swarms; every exit code must be 0
 *
 * With `separateEdgeMembers`, edges read a file of their own, so a test can
 * let swarms see a change before edges do (`setMembers(..., 'swarms')`).
 *
 * and the `tracker cluster` supervisor command itself:
 *
 *   const sup = await startClusterCommand(scope, { edges: 2, swarms: 3 });
 *   sup.childPid('swarm-1')            // the pid of its swarm-1 child (from /proc)
 *
 * Every wait is bounded. Whatever happens, every process started here is
 * SIGKILLed when the test scope ends (and, as a last resort, when the test
 * process exits; the direct children also get a parent-death signal).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlotTable } from '../../lib/cluster/slot-table.js';
import type { Member } from '../../lib/cluster/membership/types.js';
import { writeMembersFile } from '../../services/tracker/cluster.js';
import {
  OutputTail,
  TRACKER_ENTRY,
  delay,
  findFreePort,
  httpStatus,
  raceTimeout,
  spawnCaptured,
  trackerEnv,
  withParentDeathSignal,
  type CleanupContext,
  type StopResult,
} from './tracker-process.js';

// ---------------------------------------------------------------------------
// Small helpers

function logLevel(given: string | undefined): string {
  return process.env.TRACKER_E2E_LOG_LEVEL ?? given ?? 'info';
}

/** Is `pid` alive (and not a zombie)? */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Pids of processes whose parent is `ppid` and whose command line contains every one of `needles` (Linux /proc). */
export function findChildPids(ppid: number, needles: readonly string[]): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== ppid || fields[0] === 'Z') continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (needles.every((n) => argv.includes(n))) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Does /proc/<pid>/cmdline still contain every one of `needles` (so the pid was not reused)? */
function cmdlineHas(pid: number, needles: readonly string[]): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return needles.every((n) => argv.includes(n));
  } catch {
    return false;
  }
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

async function waitPidGone(pid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (pidAlive(pid)) {
    if (Date.now() > until) return false;
    await delay(20);
  }
  return true;
}

/** Waits (bounded) until GET /readyz on 127.0.0.1:<port> answers 200; `fatal()` says why to stop early. */
async function waitReadyz(port: number, timeoutMs: number, fatal: () => string | undefined): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    const why = fatal();
    if (why !== undefined) throw new Error(why);
    const status = await httpStatus(`http://127.0.0.1:${port}/readyz`, 1000).catch((error: Error) => {
      last = error.message;
      return null;
    });
    if (status === 200) return;
    if (status !== null) last = `HTTP ${status}`;
    if (Date.now() > until) throw new Error(`GET /readyz on port ${port} did not answer 200 within ${timeoutMs} ms (${last})`);
    await delay(50);
  }
}

/** GET /metrics on 127.0.0.1:<port> (bounded), as text. */
export async function metricsText(port: number, timeoutMs = 2000): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/metrics on port ${port} answered ${res.status}`);
  return text;
}

/** The value of `name{labels}` in Prometheus text (labels a subset match), or undefined. */
export function metricIn(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    if (m[3]) for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[lm[1]] = lm[2];
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return undefined;
}

/** The sum of every sample of `name` (any labels) in Prometheus text. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name) sum += Number(m[3]);
  }
  return sum;
}

// ---------------------------------------------------------------------------
// One node (swarm or edge) as a child process that can be killed and restarted

export type Role = 'edge' | 'swarm';

export class ClusterNode {
  private child: ChildProcess | undefined;
  private exitInfo: StopResult | null = null;
  private exitPromise: Promise<StopResult> = Promise.resolve({ code: null, signal: null });
  private spawnError: Error | null = null;
  private readonly tail = new OutputTail(128 * 1024);
  private incarnation = 0;

  constructor(
    readonly name: string,
    readonly role: Role,
    /** Edge: the client port (UDP and TCP). Swarm: the gRPC port. */
    readonly port: number,
    readonly metricsPort: number,
    readonly args: readonly string[],
  ) {}

  /** The current process's pid (0 before the first start). */
  get pid(): number {
    return this.child?.pid ?? 0;
  }

  /** How many times the process was started. */
  get starts(): number {
    return this.incarnation;
  }

  running(): boolean {
    return this.child !== undefined && this.exitInfo === null;
  }

  /** How the current process ended, or null while it runs. */
  exitStatus(): StopResult | null {
    return this.exitInfo;
  }

  output(): string {
    return this.tail.toString();
  }

  describe(message: string, lines = 40): string {
    const text = this.output().split('\n');
    return `${message}\n--- ${this.name} (pid ${this.pid}, ${this.running() ? 'running' : `exited ${JSON.stringify(this.exitInfo)}`}) \`node ${this.args.join(' ')}\` last output ---\n${text.slice(-lines).join('\n') || '(nothing)'}`;
  }

  /** Spawns the process (again) with the same arguments; does not wait for readiness. */
  spawn(): void {
    if (this.running()) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    this.incarnation++;
    if (this.incarnation > 1) this.tail.push(`--- ${this.name}: start #${this.incarnation} ---\n`);
    this.exitInfo = null;
    this.spawnError = null;
    const [command, commandArgs] = withParentDeathSignal(process.execPath, [TRACKER_ENTRY, ...this.args]);
    const { child, exit } = spawnCaptured(command, commandArgs, trackerEnv(), this.tail, (result) => {
      // A late exit of an earlier incarnation must not mark the current one as exited.
      if (this.child === child) this.exitInfo = result;
    });
    this.child = child;
    this.exitPromise = exit;
    child.once('error', (error) => {
      this.spawnError = error;
    });
  }

  /** Waits (bounded) until /readyz answers 200; rejects at once if the process dies. */
  async waitReady(timeoutMs = 15_000): Promise<void> {
    try {
      await waitReadyz(this.metricsPort, timeoutMs, () => {
        if (this.spawnError) return `cannot spawn: ${this.spawnError.message}`;
        if (this.exitInfo) return `exited before it was ready (code ${this.exitInfo.code}, signal ${this.exitInfo.signal})`;
        return undefined;
      });
    } catch (error) {
      throw new Error(this.describe(`${this.name}: ${(error as Error).message}`));
    }
  }

  async start(timeoutMs = 15_000): Promise<void> {
    this.spawn();
    await this.waitReady(timeoutMs);
  }

  /** Same name, same ports, same arguments. */
  restart(timeoutMs = 15_000): Promise<void> {
    return this.start(timeoutMs);
  }

  /** Sends `signal` (default SIGKILL) and waits (bounded) for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 5000): Promise<StopResult> {
    if (!this.running()) return this.exitInfo ?? { code: null, signal: null };
    this.child!.kill(signal);
    const result = await raceTimeout(this.exitPromise, timeoutMs);
    if (result === null) throw new Error(this.describe(`${this.name} did not exit within ${timeoutMs} ms of ${signal}`));
    return result;
  }

  /**
   * SIGTERM and wait (bounded) for the exit; SIGKILL if it does not come.
   * With `expectCleanExit` (default) rejects unless the exit code is 0.
   */
  async stop({ expectCleanExit = true, timeoutMs = 15_000 } = {}): Promise<StopResult> {
    if (this.running()) {
      this.child!.kill('SIGTERM');
      const result = await raceTimeout(this.exitPromise, timeoutMs);
      if (result === null) {
        this.child!.kill('SIGKILL');
        await raceTimeout(this.exitPromise, 5000);
        throw new Error(this.describe(`${this.name} did not exit within ${timeoutMs} ms of SIGTERM (killed it)`));
      }
    }
    const result = this.exitInfo ?? { code: null, signal: null };
    if (expectCleanExit && result.code !== 0) {
      throw new Error(this.describe(`${this.name} exited with code ${result.code} (signal ${result.signal}) after SIGTERM, expected 0`));
    }
    return result;
  }

  /** Metrics of this node, as text. */
  metrics(timeoutMs = 2000): Promise<string> {
    return metricsText(this.metricsPort, timeoutMs);
  }
}

// ---------------------------------------------------------------------------
// A cluster of separate processes

export interface ClusterOptions {
  swarms?: number;
  edges?: number;
  /** Flags for every process. */
  extraArgs?: string[];
  edgeArgs?: string[];
  swarmArgs?: string[];
  /** Flags for one node, after the others (e.g. its own certificate files). */
  nodeArgs?: (name: string, role: Role) => string[];
  /**
   * --host of the edges: '127.0.0.1' (default), or '::' to bind them
   * dual-stack (needed for http://[::1] and udp://[::1] announce URLs).
   * Metrics and the swarms' gRPC stay on 127.0.0.1.
   */
  edgeHost?: string;
  /** --log.level (default info: stream state changes are logged; TRACKER_E2E_LOG_LEVEL overrides). */
  logLevel?: string;
  readyTimeoutMs?: number;
  /** Edges read a members file of their own (see `setMembers`); default: one file for every node. */
  separateEdgeMembers?: boolean;
}

/** Which nodes' members file `setMembers` writes. */
export type MembersAudience = 'all' | 'edges' | 'swarms';

export interface Cluster {
  /** Every swarm process the cluster runs (ready members, and draining ones until removed). */
  readonly swarms: readonly ClusterNode[];
  readonly edges: readonly ClusterNode[];
  /** Ready swarm member names (swarm-0, ...), as the swarms' members file lists them now. */
  readonly members: readonly string[];
  /** The UDP connection-id key shared by the edges. */
  readonly connectionIdKey: string;
  /** The HRW table of `members`: what every node builds once it has read the file. */
  readonly table: SlotTable;
  /** The members file every swarm (and, unless separateEdgeMembers, every edge) reads. */
  readonly membersFile: string;
  swarm(name: string): ClusterNode;
  /** The swarm owning a 20-char latin1 info-hash. */
  ownerOf(infoHash: string): string;
  /** A random 20-char latin1 info-hash whose slot `swarm` owns. */
  hashOwnedBy(swarm: string): string;
  /** `count` random info-hashes spread round-robin over every swarm (each swarm gets its share). */
  spreadHashes(count: number): string[];
  /**
   * Rewrites the members file(s) of `audience` (atomically): `ready` names
   * own slots, `draining` ones keep their channels. Names are of swarms the
   * cluster runs. Does not wait: see waitTable.
   */
  setMembers(ready: readonly string[], draining?: readonly string[], audience?: MembersAudience): void;
  /** Waits (bounded) until every running node of `audience` reports tracker_slot_table_identity == `identity` (default: the table of `ready`/`members`). */
  waitTable(identity?: number, audience?: MembersAudience, timeoutMs?: number): Promise<void>;
  /** Starts a new swarm process (default name: the next swarm-N) and waits until it is ready; no file lists it yet (see setMembers). */
  launchSwarm(name?: string): Promise<ClusterNode>;
  /** launchSwarm, then adds it to the file(s) and waits until every node has the new table. */
  addSwarm(name?: string): Promise<ClusterNode>;
  /** Marks `name` draining, waits for every node's new table, stops it (SIGTERM, exit 0 expected), then removes its line. */
  removeSwarm(name: string): Promise<StopResult>;
  /**
   * One step of a rolling update, as a StatefulSet does it: `name` is marked
   * draining (its slots go to the others), stopped (SIGTERM, exit 0 expected),
   * started again under the same name and ports (it pulls its slots back
   * before it is ready), then listed as ready again; waits for every node's table.
   */
  restartSwarm(name: string): Promise<void>;
  /** Waits (bounded) until no running swarm has a handoff in progress or slots waiting to be handed off. */
  waitHandoffs(timeoutMs?: number): Promise<void>;
  /** Waits (bounded) until `edge` reports tracker_swarm_stream_up == want[swarm] for every given swarm. */
  waitStreams(edge: ClusterNode, want: Record<string, 0 | 1>, timeoutMs?: number): Promise<void>;
  /** `message` with the last output lines of every process. */
  describe(message: string, lines?: number): string;
  /** SIGTERM the edges, then the swarms (as `tracker cluster` does); rejects unless every exit code is 0. */
  stop(): Promise<Array<{ name: string; result: StopResult }>>;
}

export async function startCluster(scope: CleanupContext, options: ClusterOptions = {}): Promise<Cluster> {
  if (!existsSync(TRACKER_ENTRY)) throw new Error(`tracker entry point ${TRACKER_ENTRY} does not exist: run \`npm run build\` first`);
  const swarmCount = options.swarms ?? 3;
  const edgeCount = options.edges ?? 2;
  const level = logLevel(options.logLevel);
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  const common = [`--log.level=${level}`, '--metrics.host=127.0.0.1', '--shutdown.drainDelaySeconds=0', ...(options.extraArgs ?? [])];
  const connectionIdKey = randomBytes(32).toString('hex');
  const edgeHost = options.edgeHost ?? '127.0.0.1';
  const directory = mkdtempSync(join(tmpdir(), 'tracker-test-cluster-'));
  const membersFile = join(directory, 'members');
  const edgeMembersFile = options.separateEdgeMembers ? join(directory, 'edge-members') : membersFile;

  const swarms: ClusterNode[] = [];
  const edges: ClusterNode[] = [];
  const all = (): ClusterNode[] => [...swarms, ...edges];
  scope.after(async () => {
    await Promise.all(all().map((node) => node.kill('SIGKILL').catch(() => undefined)));
    rmSync(directory, { recursive: true, force: true });
  });

  const newSwarm = async (name: string): Promise<ClusterNode> => {
    const grpcPort = await findFreePort({ host: '127.0.0.1', tcp: true, udp: false });
    const metricsPort = await findFreePort({ host: '127.0.0.1', tcp: true, udp: false });
    return new ClusterNode(name, 'swarm', grpcPort, metricsPort, [
      'swarm',
      ...common,
      ...(options.swarmArgs ?? []),
      ...(options.nodeArgs?.(name, 'swarm') ?? []),
      '--cluster.membership=file',
      `--cluster.membersFile=${membersFile}`,
      `--node.name=${name}`,
      '--swarm.grpcHost=127.0.0.1',
      `--swarm.grpcPort=${grpcPort}`,
      `--metrics.port=${metricsPort}`,
    ]);
  };
  for (let i = 0; i < swarmCount; i++) swarms.push(await newSwarm(`swarm-${i}`));
  for (let j = 0; j < edgeCount; j++) {
    const name = `edge-${j}`;
    const port = await findFreePort({ host: edgeHost, tcp: true, udp: true });
    const metricsPort = await findFreePort({ host: '127.0.0.1', tcp: true, udp: false });
    edges.push(
      new ClusterNode(name, 'edge', port, metricsPort, [
        'edge',
        ...common,
        ...(options.edgeArgs ?? []),
        ...(options.nodeArgs?.(name, 'edge') ?? []),
        `--node.name=${name}`,
        `--host=${edgeHost}`,
        `--port=${port}`,
        `--metrics.port=${metricsPort}`,
        '--cluster.membership=file',
        `--cluster.membersFile=${edgeMembersFile}`,
        `--udp.connectionIdKey=${connectionIdKey}`,
      ]),
    );
  }

  /** What each file says now: ready and draining names. */
  const lists: Record<'swarms' | 'edges', { ready: string[]; draining: string[] }> = {
    swarms: { ready: swarms.map((s) => s.name), draining: [] },
    edges: { ready: swarms.map((s) => s.name), draining: [] },
  };
  const memberOf = (name: string): Member => {
    const node = swarms.find((s) => s.name === name);
    if (!node) throw new Error(`no swarm named ${name} runs in this cluster`);
    return { name, address: `127.0.0.1:${node.port}` };
  };
  const write = (audience: 'swarms' | 'edges'): void => {
    const list = lists[audience];
    writeMembersFile(audience === 'edges' ? edgeMembersFile : membersFile, list.ready.map(memberOf), list.draining.map(memberOf));
  };
  write('swarms');
  if (edgeMembersFile !== membersFile) write('edges');

  const describe = (message: string, lines = 25): string => [message, ...all().map((n) => n.describe('', lines))].join('\n');
  const currentTable = (): SlotTable => SlotTable.build(lists.swarms.ready);

  // Swarms first, so the edges' first connect finds them.
  try {
    await Promise.all(swarms.map((s) => s.start(readyTimeoutMs)));
    await Promise.all(edges.map((e) => e.start(readyTimeoutMs)));
  } catch (error) {
    throw new Error(describe(`the cluster did not start: ${(error as Error).message.split('\n')[0]}`));
  }

  const audienceNodes = (audience: MembersAudience): ClusterNode[] =>
    (audience === 'all' ? all() : audience === 'edges' ? edges : swarms).filter((n) => n.running());

  const cluster: Cluster = {
    swarms,
    edges,
    get members() {
      return [...lists.swarms.ready];
    },
    connectionIdKey,
    get table() {
      return currentTable();
    },
    membersFile,
    swarm(name) {
      const node = swarms.find((s) => s.name === name);
      if (!node) throw new Error(`no swarm named ${name}`);
      return node;
    },
    ownerOf: (infoHash) => currentTable().ownerOf(infoHash)!,
    hashOwnedBy(swarm) {
      const table = currentTable();
      if (table.indexOf(swarm) < 0) throw new Error(`${swarm} owns no slots now`);
      for (;;) {
        const hash = randomBytes(20).toString('latin1');
        if (table.ownerOf(hash) === swarm) return hash;
      }
    },
    spreadHashes(count) {
      const members = lists.swarms.ready;
      return Array.from({ length: count }, (_, i) => cluster.hashOwnedBy(members[i % members.length]));
    },
    setMembers(ready, draining = [], audience = 'all') {
      for (const name of [...ready, ...draining]) memberOf(name);
      const targets: Array<'swarms' | 'edges'> = audience === 'all' ? ['swarms', 'edges'] : [audience];
      for (const target of targets) lists[target] = { ready: [...ready], draining: [...draining] };
      if (targets.includes('swarms')) write('swarms');
      if (edgeMembersFile !== membersFile) {
        if (targets.includes('edges')) write('edges');
      } else if (audience !== 'all') {
        throw new Error('setMembers for one audience needs startCluster({ separateEdgeMembers: true })');
      }
    },
    async waitTable(identity, audience = 'all', timeoutMs = 15_000) {
      const want = identity ?? SlotTable.build(audience === 'edges' ? lists.edges.ready : lists.swarms.ready).identity;
      const until = Date.now() + timeoutMs;
      let last = '';
      for (;;) {
        const seen = await Promise.all(
          audienceNodes(audience).map(async (n) => [n.name, await n.metrics().then((t) => metricIn(t, 'tracker_slot_table_identity'), (e: Error) => e.message)] as const),
        );
        last = JSON.stringify(Object.fromEntries(seen));
        if (seen.every(([, v]) => v === want)) return;
        if (Date.now() > until) throw new Error(describe(`tracker_slot_table_identity did not become ${want} on every ${audience} node within ${timeoutMs} ms (last: ${last})`));
        await delay(50);
      }
    },
    async launchSwarm(name) {
      let n = swarms.length;
      while (!name && swarms.some((s) => s.name === `swarm-${n}`)) n++;
      const node = await newSwarm(name ?? `swarm-${n}`);
      swarms.push(node);
      try {
        await node.start(readyTimeoutMs);
      } catch (error) {
        throw new Error(describe(`${node.name} did not start: ${(error as Error).message.split('\n')[0]}`));
      }
      return node;
    },
    async addSwarm(name) {
      const node = await cluster.launchSwarm(name);
      cluster.setMembers([...lists.swarms.ready, node.name], lists.swarms.draining.filter((d) => d !== node.name));
      await cluster.waitTable();
      return node;
    },
    async removeSwarm(name) {
      const node = cluster.swarm(name);
      cluster.setMembers(lists.swarms.ready.filter((r) => r !== name), [...lists.swarms.draining.filter((d) => d !== name), name]);
      await cluster.waitTable();
      const result = await node.stop();
      cluster.setMembers(lists.swarms.ready, lists.swarms.draining.filter((d) => d !== name));
      swarms.splice(swarms.indexOf(node), 1);
      return result;
    },
    async restartSwarm(name) {
      const node = cluster.swarm(name);
      const others = lists.swarms.ready.filter((r) => r !== name);
      const draining = lists.swarms.draining.filter((d) => d !== name);
      cluster.setMembers(others, [...draining, name]);
      await cluster.waitTable();
      await node.stop();
      cluster.setMembers(others, draining);
      try {
        await node.start(readyTimeoutMs);
      } catch (error) {
        throw new Error(describe(`${name} did not start again: ${(error as Error).message.split('\n')[0]}`));
      }
      cluster.setMembers([...others, name], draining);
      await cluster.waitTable();
    },
    async waitHandoffs(timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      let last = '';
      for (;;) {
        const seen = await Promise.all(
          swarms.filter((s) => s.running()).map(async (s) => {
            const text = await s.metrics().catch((e: Error) => e.message);
            return [s.name, metricIn(text, 'tracker_handoff_in_progress'), metricIn(text, 'tracker_handoff_pending_slots')] as const;
          }),
        );
        last = JSON.stringify(seen);
        if (seen.every(([, running, pending]) => running === 0 && pending === 0)) return;
        if (Date.now() > until) throw new Error(describe(`handoffs did not settle within ${timeoutMs} ms ([swarm, in progress, pending slots]: ${last})`));
        await delay(50);
      }
    },
    async waitStreams(edge, want, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      let last = '';
      for (;;) {
        try {
          const text = await edge.metrics();
          const got = Object.fromEntries(Object.keys(want).map((s) => [s, metricIn(text, 'tracker_swarm_stream_up', { swarm: s })]));
          last = JSON.stringify(got);
          if (Object.entries(want).every(([s, v]) => got[s] === v)) return;
        } catch (error) {
          last = (error as Error).message;
        }
        if (Date.now() > until) {
          throw new Error(describe(`${edge.name}: tracker_swarm_stream_up did not become ${JSON.stringify(want)} within ${timeoutMs} ms (last: ${last})`));
        }
        await delay(50);
      }
    },
    describe,
    async stop() {
      const out: Array<{ name: string; result: StopResult }> = [];
      const stopGroup = async (group: ClusterNode[]): Promise<void> => {
        const settled = await Promise.allSettled(group.map(async (n) => ({ name: n.name, result: await n.stop({ expectCleanExit: false }) })));
        for (const s of settled) if (s.status === 'fulfilled') out.push(s.value);
        const failed = settled.find((s) => s.status === 'rejected');
        if (failed) throw (failed as PromiseRejectedResult).reason;
      };
      await stopGroup(edges);
      await stopGroup(swarms);
      const unclean = out.filter((o) => o.result.code !== 0);
      if (unclean.length > 0) {
        throw new Error(describe(`after SIGTERM, expected exit code 0 from every process; got ${JSON.stringify(unclean)}`));
      }
      return out;
    },
  };
  // Every edge has a stream to every swarm before the cluster is handed out.
  const allUp = Object.fromEntries(swarms.map((m) => [m.name, 1 as const]));
  await Promise.all(edges.map((e) => cluster.waitStreams(e, allUp, 10_000)));
  return cluster;
}

// ---------------------------------------------------------------------------
// `tracker cluster` (the supervisor command)

function portFree(host: string, port: number, proto: 'tcp' | 'udp'): Promise<boolean> {
  return new Promise((resolveFree) => {
    if (proto === 'tcp') {
      const server = createServer();
      server.once('error', () => resolveFree(false));
      server.listen({ host, port, exclusive: true }, () => server.close(() => resolveFree(true)));
    } else {
      const socket = createSocket('udp4');
      socket.once('error', () => {
        socket.close();
        resolveFree(false);
      });
      socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolveFree(true)));
    }
  });
}

/**
 * Base ports for `tracker cluster` such that every port it derives is free
 * now: edges P+j (TCP and UDP), edge metrics M+j, swarm gRPC G+i, swarm
 * metrics M+100+i. Bases are drawn below the Linux ephemeral range
 * (32768+), so outgoing connections do not take them meanwhile.
 */
export async function findClusterBasePorts(edges: number, swarms: number): Promise<{ port: number; metricsPort: number; grpcPort: number }> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = randomInt(20_000, 32_000 - edges);
    const metricsPort = randomInt(20_000, 32_000 - 100 - swarms);
    const grpcPort = randomInt(20_000, 32_000 - swarms);
    const wanted: Array<[number, 'tcp' | 'udp']> = [];
    for (let j = 0; j < edges; j++) wanted.push([port + j, 'tcp'], [port + j, 'udp'], [metricsPort + j, 'tcp']);
    for (let i = 0; i < swarms; i++) wanted.push([grpcPort + i, 'tcp'], [metricsPort + 100 + i, 'tcp']);
    const numbers = wanted.filter(([, p]) => p === 'tcp').map(([n]) => n);
    if (new Set(numbers).size !== numbers.length) continue;
    let ok = true;
    for (const [n, proto] of wanted) {
      if (!(await portFree('127.0.0.1', n, proto))) {
        ok = false;
        break;
      }
    }
    if (ok) return { port, metricsPort, grpcPort };
  }
  throw new Error('could not find free base ports for a local cluster');
}

export interface ClusterCommand {
  readonly pid: number;
  /** Base ports given to the command. */
  readonly port: number;
  readonly metricsPort: number;
  readonly grpcPort: number;
  /** Client port and metrics port of edge j. */
  edgePort(j: number): number;
  edgeMetricsPort(j: number): number;
  /** gRPC port and metrics port of swarm i. */
  swarmGrpcPort(i: number): number;
  swarmMetricsPort(i: number): number;
  /** Every metrics port (edges, then swarms). */
  readonly metricsPorts: readonly number[];
  /** Pid of the live child named `name` (edge-j / swarm-i), or undefined. */
  childPid(name: string): number | undefined;
  /** Pids of every live child. */
  childPids(): number[];
  /** The members file the supervisor wrote (from its "cluster started" log line). */
  membersFile(): string;
  /**
   * Waits (bounded) until /readyz answers 200 on every metrics port: an edge's
   * once its streams to every swarm are open, or cluster.edgeReadyWaitSeconds
   * (10 s by default) ran out; pass a bigger one where a busy machine may need it.
   */
  waitAllReady(timeoutMs: number): Promise<void>;
  output(): string;
  exited(): StopResult | null;
  describe(message: string, lines?: number): string;
  /** SIGTERM to the supervisor only; waits (bounded) for its exit. */
  stop(timeoutMs?: number): Promise<StopResult>;
}

export interface ClusterCommandOptions {
  edges: number;
  swarms: number;
  extraArgs?: string[];
  logLevel?: string;
}

export async function startClusterCommand(scope: CleanupContext, options: ClusterCommandOptions): Promise<ClusterCommand> {
  if (!existsSync(TRACKER_ENTRY)) throw new Error(`tracker entry point ${TRACKER_ENTRY} does not exist: run \`npm run build\` first`);
  const { port, metricsPort, grpcPort } = await findClusterBasePorts(options.edges, options.swarms);
  const args = [
    TRACKER_ENTRY,
    'cluster',
    '--edges',
    String(options.edges),
    '--swarms',
    String(options.swarms),
    '--host=127.0.0.1',
    '--metrics.host=127.0.0.1',
    `--port=${port}`,
    `--metrics.port=${metricsPort}`,
    `--swarm.grpcPort=${grpcPort}`,
    `--log.level=${logLevel(options.logLevel)}`,
    ...(options.extraArgs ?? []),
  ];
  const tail = new OutputTail(256 * 1024);
  let exitInfo: StopResult | null = null;
  // No parent-death signal here: its children would not get one anyway; cleanup below kills them by pid.
  const { child, exit: exitPromise } = spawnCaptured(process.execPath, args, trackerEnv(), tail, (result) => {
    exitInfo = result;
  });
  const supervisorPid = child.pid!;

  const edgeMetricsPort = (j: number): number => metricsPort + j;
  const swarmMetricsPort = (i: number): number => metricsPort + 100 + i;
  const names = [
    ...Array.from({ length: options.edges }, (_, j) => ({ name: `edge-${j}`, metrics: edgeMetricsPort(j) })),
    ...Array.from({ length: options.swarms }, (_, i) => ({ name: `swarm-${i}`, metrics: swarmMetricsPort(i) })),
  ];
  // A child is known by its name and its own metrics port (unique to this cluster), and by its parent.
  const needlesOf = (name: string): string[] => {
    const n = names.find((x) => x.name === name);
    if (!n) throw new Error(`no cluster node named ${name}`);
    return [`--node.name=${name}`, `--metrics.port=${n.metrics}`];
  };
  const childPid = (name: string): number | undefined => findChildPids(supervisorPid, needlesOf(name))[0];
  const childPids = (): number[] => names.map((n) => childPid(n.name)).filter((p): p is number => p !== undefined);
  // Children seen at any time (pid -> what its command line must contain), so cleanup can kill
  // them even after the supervisor is gone, and never a process that reused a pid.
  const seen = new Map<number, string[]>();
  const rememberNow = (): void => {
    if (exitInfo !== null) return;
    for (const n of names) {
      const pid = childPid(n.name);
      if (pid !== undefined) seen.set(pid, needlesOf(n.name));
    }
  };
  const remember = setInterval(rememberNow, 200);
  remember.unref();

  scope.after(async () => {
    clearInterval(remember);
    rememberNow();
    if (exitInfo === null) {
      child.kill('SIGTERM');
      if ((await raceTimeout(exitPromise, 5000)) === null) child.kill('SIGKILL');
      await raceTimeout(exitPromise, 2000);
    }
    const leftovers = [...seen].filter(([pid, needles]) => pidAlive(pid) && cmdlineHas(pid, needles)).map(([pid]) => pid);
    for (const pid of leftovers) killPid(pid, 'SIGKILL');
    await Promise.all(leftovers.map((pid) => waitPidGone(pid, 2000)));
  });

  const describe = (message: string, lines = 60): string =>
    `${message}\n--- tracker cluster (pid ${supervisorPid}) \`node ${args.join(' ')}\` last output ---\n${tail.toString().split('\n').slice(-lines).join('\n') || '(nothing)'}`;

  const command: ClusterCommand = {
    pid: supervisorPid,
    port,
    metricsPort,
    grpcPort,
    edgePort: (j) => port + j,
    edgeMetricsPort,
    swarmGrpcPort: (i) => grpcPort + i,
    swarmMetricsPort,
    metricsPorts: names.map((n) => n.metrics),
    childPid,
    childPids,
    membersFile() {
      const file = /"membersFile":"([^"]+)"/.exec(tail.toString())?.[1];
      if (!file) throw new Error(describe('the supervisor has not logged its membersFile'));
      return file;
    },
    async waitAllReady(timeoutMs) {
      try {
        await Promise.all(
          names.map((n) =>
            waitReadyz(n.metrics, timeoutMs, () => (exitInfo ? `the cluster command exited (${JSON.stringify(exitInfo)})` : undefined)).catch((error: Error) => {
              throw new Error(`${n.name}: ${error.message}`);
            }),
          ),
        );
      } catch (error) {
        throw new Error(describe((error as Error).message));
      }
    },
    output: () => tail.toString(),
    exited: () => exitInfo,
    describe,
    async stop(timeoutMs = 20_000) {
      if (exitInfo === null) {
        rememberNow();
        child.kill('SIGTERM');
        const result = await raceTimeout(exitPromise, timeoutMs);
        if (result === null) throw new Error(describe(`tracker cluster did not exit within ${timeoutMs} ms of SIGTERM`));
      }
      return exitInfo as unknown as StopResult;
    },
  };
  return command;
}
