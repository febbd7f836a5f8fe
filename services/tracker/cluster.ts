/**
 * `tracker cluster`: N edges and M swarms as separate processes on loopback:
 * the pods of a Kubernetes deployment, on one machine, for development and
 * tests. Like a kubelet, it restarts a process that dies, under the same
 * name and ports, so a swarm comes back owning the same slots.
 *
 * Membership is a file (cluster.membership=file) that every child watches,
 * written at start into a fresh directory (logged as `membersFile`). The
 * supervisor watches it too, so editing it rescales the cluster: a line for
 * a swarm it does not run starts one (named and placed as the line says),
 * and a swarm whose line is gone is stopped. Mark a swarm `draining` first
 * and remove its line later, as Kubernetes does with a terminating pod: it
 * hands its slots to the others when it is marked (slot handoff), and a
 * swarm started for a new line pulls its slots before it is ready.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../lib/runtime/config.js';
import type { Logger } from '../../lib/runtime/logger.js';
import { parseMembersFile } from '../../lib/cluster/membership/file.js';
import { parseHostPort, type Member } from '../../lib/cluster/membership/types.js';
import { watchFiles } from '../../lib/runtime/watch-files.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
/**
 * Settings every child gets before the user's own flags (which win): no
 * load balancer sits in front of a local cluster, so nothing waits for one.
 */
const LOCAL_DEFAULTS = ['--shutdown.drainDelaySeconds=0'];

/** First restart delay; doubles while a process keeps dying quickly, up to RESTART_DELAY_MAX_MS. */
const RESTART_DELAY_MS = 500;
const RESTART_DELAY_MAX_MS = 10_000;
/** A process that ran this long counts as healthy: its next restart is quick again. */
const HEALTHY_AFTER_MS = 10_000;
/** Added to a process's own shutdown budget before it is killed. */
const STOP_SLACK_MS = 5000;

/**
 * How long a child may take to exit after SIGTERM before it is killed: its
 * drain delay (0 here unless set), grace, slot handoff and final snapshot,
 * as terminationGracePeriodSeconds covers them in Kubernetes.
 */
export function stopTimeoutMs(config: Config, passThrough: readonly string[]): number {
  const drain = passThrough.some((a) => a.startsWith('--shutdown.drainDelaySeconds')) ? config.shutdown.drainDelaySeconds : 0;
  const snapshot = config.snapshot.redisUrl !== '' ? config.snapshot.shutdownDeadlineSeconds : 0;
  return (drain + config.shutdown.graceSeconds + config.cluster.handoffDeadlineSeconds + snapshot) * 1000 + STOP_SLACK_MS;
}

export interface ClusterLayout {
  edges: number;
  swarms: number;
}

interface Node {
  name: string;
  role: 'edge' | 'swarm';
  args: string[];
  metricsPort: number;
  child?: ChildProcess;
  restarts: number;
  delayMs: number;
  /** Its line left the members file: stopped for good. */
  removed?: boolean;
}

/** The members file's text: one name=host:port line per member, then the draining ones. */
export function formatMembersFile(members: readonly Member[], draining: readonly Member[] = []): string {
  return [...members.map((m) => `${m.name}=${m.address}`), ...draining.map((m) => `${m.name}=${m.address} draining`)].join('\n') + '\n';
}

/** Replaces `file` atomically (a reader never sees it half-written). */
export function writeMembersFile(file: string, members: readonly Member[], draining: readonly Member[] = []): void {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, formatMembersFile(members, draining));
  renameSync(temporary, file);
}

/**
 * Ports: edge j serves port+j (metrics metrics.port+j); swarm i listens on
 * grpcPort+i (metrics metrics.port+100+i). Every child reads `membersFile`.
 */
export function planCluster(config: Config, layout: ClusterLayout, passThrough: readonly string[], membersFile: string) {
  const loopback = config.host === '::' || config.host === '::1' ? '::1' : '127.0.0.1';
  const grpcHost = loopback === '::1' ? '[::1]' : '127.0.0.1';
  const members = Array.from({ length: layout.swarms }, (_, i) => ({ name: `swarm-${i}`, address: `${grpcHost}:${config.swarm.grpcPort + i}` }));
  const key = config.udp.connectionIdKey !== '' ? config.udp.connectionIdKey : randomBytes(32).toString('hex');
  const membership = ['--cluster.membership=file', `--cluster.membersFile=${membersFile}`];
  const swarm = (name: string, host: string, grpcPort: number, metricsPort: number): Node => ({
    name,
    role: 'swarm',
    restarts: 0,
    delayMs: RESTART_DELAY_MS,
    metricsPort,
    args: ['swarm', ...LOCAL_DEFAULTS, ...passThrough, ...membership, `--node.name=${name}`, `--swarm.grpcHost=${host}`, `--swarm.grpcPort=${grpcPort}`, `--metrics.port=${metricsPort}`],
  });
  const nodes: Node[] = members.map((m, i) => swarm(m.name, loopback, config.swarm.grpcPort + i, config.metrics.port + 100 + i));
  for (let j = 0; j < layout.edges; j++) {
    nodes.push({
      name: `edge-${j}`,
      role: 'edge',
      restarts: 0,
      delayMs: RESTART_DELAY_MS,
      metricsPort: config.metrics.port + j,
      args: ['edge', ...LOCAL_DEFAULTS, ...passThrough, ...membership, `--node.name=edge-${j}`, `--port=${config.port + j}`, `--metrics.port=${config.metrics.port + j}`, `--udp.connectionIdKey=${key}`],
    });
  }
  /** A swarm added to the file later: its metrics port follows its number (swarm-7: metrics.port+107), else the next free one. */
  const swarmFor = (member: Member, taken: ReadonlySet<number>): Node => {
    const { host, port } = parseHostPort(member.address);
    const number = /^swarm-(\d+)$/.exec(member.name);
    let metricsPort = number ? config.metrics.port + 100 + Number(number[1]) : 0;
    if (metricsPort === 0 || taken.has(metricsPort)) {
      metricsPort = config.metrics.port + 100;
      while (taken.has(metricsPort)) metricsPort++;
    }
    return swarm(member.name, host, port, metricsPort);
  };
  return { nodes, members, swarmFor };
}

export async function runCluster(config: Config, layout: ClusterLayout, passThrough: readonly string[], logger: Logger): Promise<number> {
  const directory = mkdtempSync(join(tmpdir(), 'tracker-cluster-'));
  const membersFile = join(directory, 'members');
  const { nodes, members, swarmFor } = planCluster(config, layout, passThrough, membersFile);
  writeMembersFile(membersFile, members);
  const killAfterMs = stopTimeoutMs(config, passThrough);
  let stopping = false;

  const launch = (node: Node): void => {
    const child = spawn(process.execPath, [MAIN, ...node.args], { stdio: ['ignore', 'inherit', 'inherit'] });
    const startedAt = Date.now();
    node.child = child;
    child.on('exit', (code, signal) => {
      if (stopping || node.removed) return;
      node.restarts++;
      node.delayMs = Date.now() - startedAt > HEALTHY_AFTER_MS ? RESTART_DELAY_MS : Math.min(node.delayMs * 2, RESTART_DELAY_MAX_MS);
      logger.warn('cluster process exited; restarting it', { node: node.name, code, signal, restarts: node.restarts, inMs: node.delayMs });
      setTimeout(() => {
        if (!stopping && !node.removed) launch(node);
      }, node.delayMs);
    });
  };

  /** Runs a swarm for every line of the file, and stops those whose line is gone. */
  const rescale = (): void => {
    if (stopping) return;
    let listed: Member[];
    try {
      const parsed = parseMembersFile(readFileSync(membersFile, 'utf8'), `members file "${membersFile}"`);
      listed = [...parsed.members, ...parsed.draining];
    } catch (error) {
      // The children keep their previous members too, and say why.
      logger.warn('members file not usable; the cluster stays as it is', { error: (error as Error).message });
      return;
    }
    const swarms = nodes.filter((n) => n.role === 'swarm' && !n.removed);
    const taken = new Set(swarms.map((n) => n.metricsPort));
    for (const member of listed) {
      if (swarms.some((n) => n.name === member.name)) continue;
      const node = swarmFor(member, taken);
      taken.add(node.metricsPort);
      nodes.push(node);
      logger.info('members file lists a new swarm: starting it', { node: node.name, address: member.address, metricsPort: node.metricsPort });
      launch(node);
    }
    for (const node of swarms) {
      if (listed.some((m) => m.name === node.name)) continue;
      node.removed = true;
      logger.info('members file no longer lists a swarm: stopping it', { node: node.name });
      void stopAll([node], killAfterMs);
    }
  };

  // Swarms first, so edges find them on their first connect.
  for (const node of nodes) launch(node);
  const watch = watchFiles([membersFile], rescale, { debounceMs: 100, pollIntervalMs: 2000, logger });
  logger.info('cluster started', {
    membersFile,
    edges: nodes.filter((n) => n.role === 'edge').map((n, j) => ({ name: n.name, port: config.port + j, metricsPort: config.metrics.port + j })),
    swarms: members.map((m, i) => ({ ...m, metricsPort: config.metrics.port + 100 + i })),
  });

  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      watch.close();
      logger.info('stopping cluster', { signal });
      // Edges first: they drain their clients while the swarms still answer.
      const edges = nodes.filter((n) => n.role === 'edge');
      const swarms = nodes.filter((n) => n.role === 'swarm' && !n.removed);
      void stopAll(edges, killAfterMs)
        .then((edgesClean) => stopAll(swarms, killAfterMs).then((swarmsClean) => edgesClean && swarmsClean))
        .then((clean) => {
          rmSync(directory, { recursive: true, force: true });
          resolve(clean ? 0 : 1);
        });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      for (const node of nodes) node.child?.kill('SIGHUP');
    });
  });
}

async function stopAll(nodes: readonly Node[], killAfterMs: number): Promise<boolean> {
  const results = await Promise.all(
    nodes.map(
      (node) =>
        new Promise<boolean>((resolve) => {
          const child = node.child;
          if (!child || child.exitCode !== null || child.signalCode !== null) {
            resolve(true);
            return;
          }
          const force = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
          child.once('exit', (code) => {
            clearTimeout(force);
            resolve(code === 0);
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  return results.every(Boolean);
}
