import type { Config } from '../../lib/runtime/config.js';
import type { Logger } from '../../lib/runtime/logger.js';
import { TrackerMetrics } from '../../lib/runtime/metrics.js';
import { OpsServer } from '../../lib/runtime/ops-server.js';
import { Failures } from '../../lib/runtime/failures.js';
import { AccessListReloader } from '../edge/access-list.js';

export interface RunningTracker {
  readonly udpPort: number;
  readonly tcpPort: number;
  readonly metricsPort: number;
  /** Re-reads the access list and what the role's hooks load, e.g. JWT keys (what SIGHUP does). */
  reload(): Promise<void>;
  /** Fails /readyz from now on (load balancers stop sending new clients); everything keeps serving. */
  unready(): void;
  /** Graceful stop: not ready, stop accepting, finish in-flight (bounded), close. */
  stop(): Promise<void>;
}

/** A condition readiness also waits for, with its /readyz detail line. */
export interface ReadinessGate {
  ready(): boolean;
  detail(): string;
}

/** One gate that is ready when every one of `gates` is; its detail joins theirs. */
export function allGates(...gates: readonly ReadinessGate[]): ReadinessGate {
  return {
    ready: () => gates.every((g) => g.ready()),
    detail: () => gates.map((g) => g.detail()).filter((d) => d !== '').join('\n'),
  };
}

/**
 * What every role has: metrics and probes on the ops port, and the access
 * list (edges enforce it; a swarm loads none). Readiness turns on when the
 * role calls `running()` (and its own condition holds) and off when it
 * starts stopping.
 */
export async function startOperations(config: Config, logger: Logger, options: { accessList?: boolean } = {}) {
  const metrics = new TrackerMetrics();
  const failures = new Failures(logger, (component) => metrics.internalErrorCounter(component));
  let ready = false;
  /** What else readiness waits for (an edge's streams to its swarms at start, private mode's catalog); set by running(). */
  let gate: ReadinessGate | undefined;
  const readiness = { ready: () => ready && (gate?.ready() ?? true), detail: () => gate?.detail() ?? '' };
  const ops = config.metrics.enabled ? new OpsServer(metrics, readiness, { maxConnections: config.metrics.maxConnections }) : undefined;
  const metricsPort = ops ? await ops.listen(config.metrics.host, config.metrics.port) : 0;
  const useAccessList = options.accessList !== false;
  const accessList = new AccessListReloader({
    mode: useAccessList ? config.accessList.mode : 'off',
    file: useAccessList ? config.accessList.file : '',
    watch: config.accessList.watch,
    logger: logger.child({ component: 'access-list' }),
  });
  try {
    await accessList.start();
  } catch (error) {
    await ops?.close();
    throw error;
  }
  if (useAccessList) metrics.observeAccessList(() => accessList);

  return {
    metrics,
    /** Rate-limited logging and counting of caught exceptions, one sink per component. */
    failures,
    metricsPort,
    accessList,
    /** Marks the process ready and wraps the role's own stop with the shared teardown. */
    running(role: { udpPort: number; tcpPort: number; reload?(): Promise<void>; stop(): Promise<void>; readiness?: ReadinessGate }): RunningTracker {
      ready = true;
      gate = role.readiness;
      return {
        udpPort: role.udpPort,
        tcpPort: role.tcpPort,
        metricsPort,
        async reload() {
          await accessList.reload();
          await role.reload?.();
        },
        unready() {
          ready = false;
        },
        async stop() {
          ready = false;
          await role.stop();
          await accessList.close();
          await ops?.close();
        },
      };
    },
  };
}
