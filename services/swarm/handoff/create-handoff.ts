/**
 * Slot handoff for a swarm from its configuration: the coordinator, the
 * service other swarms call, the clients it calls them with, and the
 * metrics; null for a swarm that owns every slot (no membership: nobody to
 * hand anything to).
 *
 * How the swarm role runs it: `handoff.start()` and then `handoff.join()`
 * after a Redis restore and before it serves or reports ready; the service
 * on the gRPC server; on stop, after the last request, `handoff.stop()`
 * before the final snapshot write, then `close()`.
 */
import { randomBytes } from 'node:crypto';
import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { MembershipProvider } from '../../../lib/cluster/membership/types.js';
import type { Config } from '../../../lib/runtime/config.js';
import type { Failures } from '../../../lib/runtime/failures.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import type { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import type { EdgeAuthenticator } from '../../../lib/transport/grpc/edge-auth.js';
import { handoffServiceDefinition } from '../../../lib/transport/grpc/handoff-service.js';
import type { Ownership } from '../ownership.js';
import type { Swarm } from '../swarm.js';
import { Handoff } from './handoff.js';
import { HandoffPeers, type HandoffPeerTrust } from './handoff-peers.js';
import { HandoffServer } from './handoff-server.js';
import { HandoffStats, type HandoffRejection } from './handoff-stats.js';
import { PullRecords } from './pull-records.js';

/** Refused handoff calls are logged at most this often (each one is counted). */
const REJECTION_LOG_INTERVAL_MS = 10_000;

export interface SwarmHandoff {
  readonly handoff: Handoff;
  /** For GrpcSwarmServerOptions.services. */
  readonly service: { definition: ServiceDefinition; implementation: UntypedServiceImplementation };
  /** Closes the clients to other swarms (after `handoff.stop()`). */
  close(): void;
}

export interface HandoffDepsFromRole {
  metrics: TrackerMetrics;
  failures: Failures;
  logger: Logger;
  /** How to call other swarms, and who may call this one (cluster-trust.ts). */
  trust: { peers: HandoffPeerTrust; peerAuth: EdgeAuthenticator };
}

export function createSwarmHandoff(config: Config, swarm: Swarm, ownership: Ownership, membership: MembershipProvider | undefined, deps: HandoffDepsFromRole): SwarmHandoff | null {
  if (!membership || !ownership.follows) return null;
  const stats = new HandoffStats();
  const records = new PullRecords(swarm.changes);
  const logger = deps.logger.child({ component: 'handoff' });
  const peers = new HandoffPeers(ownership.name, randomBytes(16).toString('hex'), deps.trust.peers);
  const handoff = new Handoff(
    {
      state: swarm.slots,
      changes: swarm.changes,
      ownership,
      members: () => membership.members(),
      dialer: peers,
      records,
      stats,
      logger: deps.logger,
      failures: deps.failures.for('handoff'),
      deadlineHit: deps.metrics.limitCounter('cluster.handoffDeadlineSeconds'),
    },
    { deadlineMs: config.cluster.handoffDeadlineSeconds * 1000, budgetMs: config.cluster.handoffBudgetMs },
  );
  const server = new HandoffServer({
    slots: swarm.slots,
    records,
    receiver: handoff,
    auth: deps.trust.peerAuth,
    budgetMs: config.cluster.handoffBudgetMs,
    stats,
    failures: deps.failures.for('handoff-server'),
    onRejected: rejectionLogger(logger),
  });
  deps.metrics.observeHandoff(stats);
  return {
    handoff,
    service: { definition: handoffServiceDefinition, implementation: server.implementation() },
    close: () => peers.close(),
  };
}

/** One line per REJECTION_LOG_INTERVAL_MS at most; pushes refused while leaving are expected and not logged. */
function rejectionLogger(logger: Logger): (reason: HandoffRejection, details: string, caller: string) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (reason, details, caller) => {
    if (reason === 'leaving' || reason === 'unknown-pull') return;
    const now = Date.now();
    if (now - last < REJECTION_LOG_INTERVAL_MS) {
      suppressed++;
      return;
    }
    last = now;
    logger.warn('handoff call refused', { reason, details, caller, ...(suppressed > 0 ? { suppressed } : {}) });
    suppressed = 0;
  };
}
