/**
 * Snapshots for a swarm from its configuration: a Redis client, the
 * backend over it, and the scheduler, with metrics registered; null when
 * snapshot.redisUrl is empty (no Redis configured = no snapshots, nothing
 * else changes).
 *
 * How a role runs them: `restore()` before it serves anything (a request
 * must never see a half-restored table) and before it reports ready; then
 * `start()`; on stop, after the last request is answered, `stop()` (the
 * final write of every owned slot).
 */
import type { Config } from '../../../lib/runtime/config.js';
import type { Failures } from '../../../lib/runtime/failures.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import type { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import { createRedisClient, redisClientPlan } from './redis-client.js';
import { RedisSnapshotBackend } from './redis-backend.js';
import type { Swarm } from '../swarm.js';
import { SnapshotScheduler, type PassResult, type RestoreResult, type SlotSource } from './scheduler.js';
import { SwarmSlotSource, type SlotOwnership } from './swarm-slot-source.js';

/**
 * Added to the peer lifetime for a snapshot's TTL: the swarm that reads a
 * snapshot may run on a clock a little ahead of the writer's. Import drops
 * expired peers anyway; the TTL only keeps dead slots from piling up.
 */
export const TTL_SLACK_SECONDS = 60;

/** How long a written slot lives in Redis: the longest peer lifetime plus slack. */
export function snapshotTtlSeconds(config: Config): number {
  return Math.max(config.announce.peerTimeoutSeconds, config.webtorrent.peerTimeoutSeconds) + TTL_SLACK_SECONDS;
}

export interface Snapshots {
  /** Reads the owned slots into the source; call before reporting ready. */
  restore(): Promise<RestoreResult>;
  /** Starts the periodic writes of changed slots. */
  start(): void;
  /** Writes every owned slot (bounded by snapshot.shutdownDeadlineSeconds), then closes the connection. */
  stop(): Promise<PassResult | null>;
  /** Closes the connection without writing (the role failed to start). */
  close(): Promise<void>;
  readonly scheduler: SnapshotScheduler;
}

export interface SnapshotDeps {
  metrics: TrackerMetrics;
  /** Sinks "snapshot" (passes) and "redis" (connection) are taken from here. */
  failures: Failures;
  logger: Logger;
}

export function createSnapshots(config: Config, source: SlotSource, deps: SnapshotDeps): Snapshots | null {
  const c = config.snapshot;
  if (c.redisUrl === '') return null;
  const logger = deps.logger.child({ component: 'snapshot' });
  const client = createRedisClient(redisClientPlan(c));
  const backend = new RedisSnapshotBackend(client, { keyPrefix: c.keyPrefix, failures: deps.failures.for('redis'), logger });
  const scheduler = new SnapshotScheduler(source, backend, {
    intervalMs: c.intervalSeconds * 1000,
    ttlSeconds: snapshotTtlSeconds(config),
    maxBytesInFlight: c.maxBytesInFlight,
    budgetMs: c.exportBudgetMs,
    restoreDeadlineMs: c.restoreDeadlineSeconds * 1000,
    shutdownDeadlineMs: c.shutdownDeadlineSeconds * 1000,
    failures: deps.failures.for('snapshot'),
    deadlineHits: {
      restore: deps.metrics.limitCounter('snapshot.restoreDeadlineSeconds'),
      shutdown: deps.metrics.limitCounter('snapshot.shutdownDeadlineSeconds'),
    },
    logger,
  });
  deps.metrics.observeSnapshots(scheduler);
  return {
    scheduler,
    restore: () => scheduler.restore(),
    start: () => scheduler.start(),
    async stop() {
      try {
        return await scheduler.stop();
      } finally {
        await backend.close();
      }
    },
    close: () => backend.close(),
  };
}

/**
 * Snapshots of `swarm`'s slots that `ownership` says it owns, restoring at
 * start those `restoreOwnership` says it will own (default: the same);
 * null without snapshot.redisUrl.
 */
export function createSwarmSnapshots(config: Config, swarm: Swarm, ownership: SlotOwnership, deps: SnapshotDeps, restoreOwnership?: SlotOwnership): Snapshots | null {
  return createSnapshots(config, new SwarmSlotSource(swarm.slots, swarm.changes, ownership, restoreOwnership), deps);
}
