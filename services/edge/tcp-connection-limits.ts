/**
 * Connection caps on the tracker's TCP port, set up once at start: reads the
 * file-descriptor limit, fits http.maxConnections under it, installs the
 * native guard (lib/net/tcp-guard.ts) and exports what it counts.
 *
 * The caps stay below the descriptor limit so that a flood of connections
 * never leaves the process without descriptors for the metrics port, UDP,
 * gRPC to swarms and files; the guard also handles the case where those use
 * them up anyway (EMFILE) without spinning.
 */
import type { Config } from '../../lib/runtime/config.js';
import { parseCidr } from '../../lib/runtime/cidr.js';
import type { Logger } from '../../lib/runtime/logger.js';
import type { TrackerMetrics } from '../../lib/runtime/metrics.js';
import { raiseFdLimit, TcpGuard, type TcpGuardStats } from '../../lib/net/tcp-guard.js';

/** Descriptors kept for everything but tracker-port clients: a quarter of a small limit, 1024 of a big one. */
export function fdReserve(fdLimit: number): number {
  return Math.min(1024, Math.floor(fdLimit / 4));
}

export interface ConnectionCaps {
  /** http.maxConnections after fitting it under the descriptor limit. */
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** Descriptors left for everything else (0 when the limit is unknown). */
  reserve: number;
  /** True when http.maxConnections was lowered. */
  clamped: boolean;
}

/** The caps to enforce given the configured ones and the soft descriptor limit (undefined: unknown). */
export function connectionCaps(http: Pick<Config['http'], 'maxConnections' | 'maxConnectionsPerAddress'>, fdLimit: number | undefined): ConnectionCaps {
  if (fdLimit === undefined || !Number.isFinite(fdLimit)) {
    return { maxConnections: http.maxConnections, maxConnectionsPerAddress: http.maxConnectionsPerAddress, reserve: 0, clamped: false };
  }
  const reserve = fdReserve(fdLimit);
  const maxConnections = Math.max(1, Math.min(http.maxConnections, fdLimit - reserve));
  return { maxConnections, maxConnectionsPerAddress: http.maxConnectionsPerAddress, reserve, clamped: maxConnections < http.maxConnections };
}

export interface TcpConnectionLimitsDeps {
  http: Config['http'];
  metrics: TrackerMetrics;
  logger: Logger;
  /** Installs the native guard; replaceable in tests to simulate a machine without it. */
  install?: typeof TcpGuard.install;
}

const UNPROTECTED =
  'tracker-port connections are not counted or capped (http.maxConnections, http.maxConnectionsPerAddress) and running out of file descriptors makes the process spin';

export class TcpConnectionLimits {
  private constructor(
    readonly caps: ConnectionCaps,
    /** Undefined when the guard is off. */
    private readonly guard: TcpGuard | undefined,
  ) {}

  get enabled(): boolean {
    return this.guard !== undefined;
  }

  /** Call before the TCP server listens, so no connection is ever accepted uncounted. */
  static start({ http, metrics, logger, install = (options) => TcpGuard.install(options) }: TcpConnectionLimitsDeps): TcpConnectionLimits {
    const fdLimit = raiseFdLimit();
    const caps = connectionCaps(http, fdLimit?.soft);
    if (caps.clamped) {
      logger.warn(
        `http.maxConnections (${http.maxConnections}) does not fit the file-descriptor limit (${fdLimit!.soft}, ${caps.reserve} kept for everything else): using ${caps.maxConnections}; raise the limit (ulimit -n, systemd LimitNOFILE=, the container's nofile ulimit) to allow more`,
      );
    }

    let guard: TcpGuard | undefined;
    if (http.connectionGuard === 'off') {
      logger.warn(`http.connectionGuard is off: ${UNPROTECTED}`);
    } else {
      try {
        guard = install({
          maxConnections: caps.maxConnections,
          maxConnectionsPerAddress: caps.maxConnectionsPerAddress,
          exempt: http.trustedProxies.map(parseCidr),
        });
      } catch (error) {
        if (http.connectionGuard === 'required') {
          throw new Error(
            `http.connectionGuard is "required" but the connection guard cannot be installed: ${(error as Error).message}. Build it with npm run build:native, or set http.connectionGuard=auto to run without it`,
          );
        }
        logger.warn(`${UNPROTECTED}: ${(error as Error).message}`);
      }
    }

    metrics.observeTcpGuard(guard !== undefined);
    if (guard) {
      const stats = (): TcpGuardStats => guard.stats();
      metrics.observeTcpConnections(() => ({ ...stats(), max: caps.maxConnections }));
      // The guard counts refusals in native code; copy the increase into the
      // limit counters whenever they are scraped.
      const total = metrics.limitCounter('http.maxConnections');
      const perAddress = metrics.limitCounter('http.maxConnectionsPerAddress');
      let seen = stats();
      metrics.beforeScrape(() => {
        const now = stats();
        total.inc(now.refusedTotal - seen.refusedTotal);
        perAddress.inc(now.refusedPerAddress - seen.refusedPerAddress);
        seen = now;
      });
    }

    logger.info('tracker-port connection limits', {
      fdLimit: fdLimit?.soft,
      fdLimitRaisedFrom: fdLimit && fdLimit.before !== fdLimit.soft ? fdLimit.before : undefined,
      maxConnections: caps.maxConnections,
      maxConnectionsPerAddress: caps.maxConnectionsPerAddress,
      fdReserve: caps.reserve,
      guard: guard ? 'on' : 'off',
    });
    return new TcpConnectionLimits(caps, guard);
  }
}
