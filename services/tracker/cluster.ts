/**
 * `tracker cluster`: N edges and M swarms as separate processes on loopback,
 * wired by static membership: the pods of a Kubernetes deployment, on one
 * machine, for development and tests. Like a kubelet, it restarts a process
 * that dies, under the same name and ports, so a swarm comes back owning the
 * same slots.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../lib/runtime/config.js';
import type { Logger } from '../../lib/runtime/logger.js';
import { formatMemberList } from '../../lib/cluster/membership/static.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
/** First restart delay; doubles while a process keeps dying quickly, up to RESTART_DELAY_MAX_MS. */
/**
 * Settings every child gets before the user's own flags (which win): no
 * load balancer sits in front of a local cluster, so nothing waits for one.
 */
const LOCAL_DEFAULTS = ['--shutdown.drainDelaySeconds=0'];

const RESTART_DELAY_MS = 500;
const RESTART_DELAY_MAX_MS = 10_000;
/** A process that ran this long counts as healthy: its next restart is quick again. */
const HEALTHY_AFTER_MS = 10_000;

export interface ClusterLayout {
  edges: number;
  swarms: number;
}

interface Node {
  name: string;
  role: 'edge' | 'swarm';
  args: string[];
  child?: ChildProcess;
  restarts: number;
  delayMs: number;
}

/** Ports: edge j serves port+j (metrics metrics.port+j); swarm i listens on grpcPort+i (metrics metrics.port+100+i). */
export function planCluster(config: Config, layout: ClusterLayout, passThrough: readonly string[]) {
  const loopback = config.host === '::' || config.host === '::1' ? '::1' : '127.0.0.1';
  const grpcHost = loopback === '::1' ? '[::1]' : '127.0.0.1';
  const members = Array.from({ length: layout.swarms }, (_, i) => ({ name: `swarm-${i}`, address: `${grpcHost}:${config.swarm.grpcPort + i}` }));
  const key = config.udp.connectionIdKey !== '' ? config.udp.connectionIdKey : randomBytes(32).toString('hex');
  const nodes: Node[] = [];
  for (let i = 0; i < layout.swarms; i++) {
    nodes.push({
      name: `swarm-${i}`,
      role: 'swarm',
      restarts: 0,
      delayMs: RESTART_DELAY_MS,
      args: ['swarm', ...LOCAL_DEFAULTS, ...passThrough, `--node.name=swarm-${i}`, `--swarm.grpcHost=${loopback}`, `--swarm.grpcPort=${config.swarm.grpcPort + i}`, `--metrics.port=${config.metrics.port + 100 + i}`],
    });
  }
  for (let j = 0; j < layout.edges; j++) {
    nodes.push({
      name: `edge-${j}`,
      role: 'edge',
      restarts: 0,
      delayMs: RESTART_DELAY_MS,
      args: [
        'edge',
        ...LOCAL_DEFAULTS,
        ...passThrough,
        `--node.name=edge-${j}`,
        `--port=${config.port + j}`,
        `--metrics.port=${config.metrics.port + j}`,
        '--cluster.membership=static',
        `--cluster.members=${formatMemberList(members)}`,
        `--udp.connectionIdKey=${key}`,
      ],
    });
  }
  return { nodes, members };
}

export async function runCluster(config: Config, layout: ClusterLayout, passThrough: readonly string[], logger: Logger): Promise<number> {
  const { nodes, members } = planCluster(config, layout, passThrough);
  let stopping = false;

  const launch = (node: Node): void => {
    const child = spawn(process.execPath, [MAIN, ...node.args], { stdio: ['ignore', 'inherit', 'inherit'] });
    const startedAt = Date.now();
    node.child = child;
    child.on('exit', (code, signal) => {
      if (stopping) return;
      node.restarts++;
      node.delayMs = Date.now() - startedAt > HEALTHY_AFTER_MS ? RESTART_DELAY_MS : Math.min(node.delayMs * 2, RESTART_DELAY_MAX_MS);
      logger.warn('cluster process exited; restarting it', { node: node.name, code, signal, restarts: node.restarts, inMs: node.delayMs });
      setTimeout(() => {
        if (!stopping) launch(node);
      }, node.delayMs);
    });
  };
  // Swarms first, so edges find them on their first connect.
  for (const node of nodes) launch(node);
  logger.info('cluster started', {
    edges: nodes.filter((n) => n.role === 'edge').map((n, j) => ({ name: n.name, port: config.port + j, metricsPort: config.metrics.port + j })),
    swarms: members.map((m, i) => ({ ...m, metricsPort: config.metrics.port + 100 + i })),
  });

  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      logger.info('stopping cluster', { signal });
      // Edges first: they drain their clients while the swarms still answer.
      const edges = nodes.filter((n) => n.role === 'edge');
      const swarms = nodes.filter((n) => n.role === 'swarm');
      void stopAll(edges)
        .then(() => stopAll(swarms))
        .then((clean) => resolve(clean ? 0 : 1));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      for (const node of nodes) node.child?.kill('SIGHUP');
    });
  });
}

async function stopAll(nodes: readonly Node[]): Promise<boolean> {
  const results = await Promise.all(
    nodes.map(
      (node) =>
        new Promise<boolean>((resolve) => {
          const child = node.child;
          if (!child || child.exitCode !== null || child.signalCode !== null) {
            resolve(true);
            return;
          }
          const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
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
