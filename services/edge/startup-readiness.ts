/**
 * When an edge first reports ready: once it has a stream open to every
 * swarm of its slot table, or `waitMs` after it started, whichever comes
 * first. Until then /readyz fails, so a load balancer (or kube-proxy, or a
 * test harness) does not send it clients it could only answer "swarm <name>
 * unavailable": an edge that starts before its swarms listen (a whole
 * cluster starting, `tracker cluster`) finds their ports closed, and its
 * streams stay down for up to the reconnect backoff after the swarms do
 * listen.
 *
 * Only the start is gated, and the gate latches: once ready, a stream going
 * down later never makes the edge unready (every edge would leave the
 * Service at once when one swarm dies, and a Service with no endpoints
 * loses its UDP conntrack entries), and a swarm that never comes up keeps
 * edges out for `waitMs` at most (counted once as that limit's hit).
 */
import type { Logger } from '../../lib/runtime/logger.js';
import type { Count } from './router.js';

/** A swarm of the edge's current table, and whether its stream is open now. */
export interface SwarmStream {
  readonly name: string;
  readonly open: boolean;
}

export interface StartupReadinessOptions {
  /** The members of the edge's current slot table (not the draining ones), with their streams' state. */
  swarms: () => readonly SwarmStream[];
  /** cluster.edgeReadyWaitSeconds in ms: ready after this long whatever the streams; 0 = ready at once. */
  waitMs: number;
  logger: Logger;
  /** Counted when the wait ran out first (metrics.limitCounter('cluster.edgeReadyWaitSeconds')). */
  waitRanOut: Count;
  /** Milliseconds clock; injectable for tests. */
  now?: () => number;
}

export class StartupReadiness {
  private latched = false;
  private readonly startedAt: number;
  private readonly now: () => number;

  constructor(private readonly options: StartupReadinessOptions) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    if (options.waitMs === 0) this.latched = true;
  }

  /** Whether the start is over (asked by each /readyz; cheap: one look at each swarm's stream). */
  ready(): boolean {
    if (this.latched) return true;
    const swarms = this.options.swarms();
    const down = swarms.filter((s) => !s.open).map((s) => s.name);
    const waitedMs = this.now() - this.startedAt;
    if (swarms.length > 0 && down.length === 0) {
      this.latched = true;
      this.options.logger.info('edge ready: a stream is open to every swarm', { swarms: swarms.map((s) => s.name), afterMs: waitedMs });
    } else if (waitedMs >= this.options.waitMs) {
      this.latched = true;
      this.options.waitRanOut.inc();
      this.options.logger.warn('edge ready without a stream to every swarm (cluster.edgeReadyWaitSeconds ran out): requests for their slots fail with "unavailable" until their streams open', {
        down: swarms.length === 0 ? 'no swarm is known yet' : down,
        waitedSeconds: waitedMs / 1000,
      });
    }
    return this.latched;
  }

  /** The /readyz detail line while the start is not over. */
  detail(): string {
    if (this.latched) return '';
    const down = this.options.swarms().filter((s) => !s.open).map((s) => s.name);
    return down.length === 0 ? 'waiting for the slot table' : `waiting for streams to ${down.join(', ')}`;
  }
}
