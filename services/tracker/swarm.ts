import type { Config } from '../../lib/runtime/config.js';
import type { Logger } from '../../lib/runtime/logger.js';
import { GrpcSwarmServer, type StreamRejection } from '../../lib/transport/grpc/server.js';
import { createSwarm } from '../swarm/create-swarm.js';
import { startPrivateSwarm } from '../swarm/accounting/private-swarm.js';
import { createSwarmSnapshots } from '../swarm/snapshot/create-snapshots.js';
import { createSwarmHandoff } from '../swarm/handoff/create-handoff.js';
import { nodeName } from './cluster-config.js';
import { startSwarmOwnership } from './swarm-ownership.js';
import { swarmTrust, swarmTrustWarning } from './cluster-trust.js';
import { startOperations, type RunningTracker } from './operations.js';

/** Refused edge streams are logged at most this often (each one is counted in tracker_edge_streams_rejected_total). */
const REJECTION_LOG_INTERVAL_MS = 10_000;

/** A swarm pod: peers in memory for the slots it owns, served to edges over gRPC. */
export async function startSwarm(config: Config, logger: Logger): Promise<RunningTracker> {
  const name = nodeName(config);
  const ops = await startOperations(config, logger, { accessList: false });
  const trust = await swarmTrust(config, name, logger, ops.metrics);
  // Private mode: the database, the catalog and the writer come up before the swarm serves; readiness waits for the first catalog load.
  const priv = config.private.enabled ? await startPrivateSwarm(config, { metrics: ops.metrics, failures: ops.failures, logger, swarmName: name }) : undefined;
  const swarm = createSwarm(config, ops.metrics, ops.failures, priv?.accounting);

  // Ownership: the edges' membership provider and slot table. Batches routed
  // by another table are checked and what is not ours is answered "moved".
  const { ownership, membership, stop: stopOwnership } = await startSwarmOwnership(config, name, logger, ops.metrics);

  // Handoff (swarms with membership): the slots this swarm is about to own are pulled from their holders
  // after the Redis restore and before it serves; what it no longer owns goes to the new owner when the
  // table changes, and everything it holds on SIGTERM. Its snapshots write what it owns and has not
  // handed off (and, when stopping, what it could not hand off).
  const handoff = createSwarmHandoff(config, swarm, ownership, membership, { metrics: ops.metrics, failures: ops.failures, logger, trust });
  handoff?.handoff.start();

  // Snapshots (snapshot.redisUrl): restored before the gRPC server listens and before readiness, so no
  // request is answered from a half-restored table; the final write comes after the last request. A
  // starting swarm is not a ready member yet: it restores the slots the table gives it once it is.
  const joining = ownership.joiningTable();
  const snapshotOwnership = handoff ? { owns: (slot: number) => handoff.handoff.snapshotOwns(slot) } : ownership;
  const snapshots = createSwarmSnapshots(config, swarm, snapshotOwnership, { metrics: ops.metrics, failures: ops.failures, logger }, {
    owns: (slot) => joining.ownerOfSlot(slot) === name,
  });
  if (handoff && snapshots) handoff.handoff.releaseSnapshots = (slots) => snapshots.scheduler.release(slots);
  await snapshots?.restore();
  await handoff?.handoff.join();

  const batch = ops.metrics.swarmServerBatch();
  const relayBacklog = ops.metrics.limitCounter('swarm.maxPendingRelaysPerEdge');
  const server = new GrpcSwarmServer(swarm, {
    host: config.swarm.grpcHost,
    port: config.swarm.grpcPort,
    swarmId: name,
    credentials: trust.credentials,
    auth: trust.auth,
    slotOwner: ownership.follows ? ownership : undefined,
    maxPendingRelaysPerEdge: config.swarm.maxPendingRelaysPerEdge,
    onRelayBacklogFull: () => relayBacklog.inc(),
    onEdgeGone: (edgeId) => {
      const removed = swarm.edgeGone(edgeId);
      logger.info('edge gone: its WebTorrent peers were removed', { edgeId, removed });
    },
    onEdgeConnected: (edgeId, bootNonce, proof) => {
      // Peers restored for an earlier process of this edge had sockets that are gone.
      const stale = swarm.edgeConnected(edgeId, bootNonce);
      logger.info('edge connected', { edgeId, proof, ...(stale > 0 ? { staleWebTorrentPeersRemoved: stale } : {}) });
    },
    onStreamRejected: rejectionLogger(logger),
    onBatch: (requests, seconds) => {
      batch.size.observe(requests);
      batch.seconds.observe(seconds);
    },
    failures: ops.failures.for('grpc-server'),
    services: handoff ? [handoff.service] : [],
  });
  swarm.webtorrent.setRelay(server);
  let port: number;
  try {
    port = await server.listen();
  } catch (error) {
    await snapshots?.close();
    handoff?.close();
    await priv?.stop(0);
    throw error;
  }
  snapshots?.start();
  ops.metrics.observeEdges(() => server.connectedEdges().length);
  ops.metrics.observeEdgeStreams(() => server.stats());
  ops.metrics.observeOwnership(() => ({ ownedSlots: ownership.ownedCount, movedSent: server.stats().moved }));
  const warning = swarmTrustWarning(config, trust.auth);
  if (warning) logger.warn(warning);
  logger.info('swarm listening', { name, grpcHost: config.swarm.grpcHost, grpcPort: port, metricsPort: ops.metricsPort, edgeTransport: trust.summary });
  return ops.running({
    udpPort: 0,
    tcpPort: port,
    readiness: priv,
    async stop() {
      await server.shutdown(config.shutdown.graceSeconds * 1000);
      // After the last request: nothing changes any more. Before the final snapshot: what was handed off is not written.
      await handoff?.handoff.stop();
      handoff?.close();
      await snapshots?.stop();
      // After the last reply and the handoff: every row this swarm credited is written (handed-off slots' rows stay here).
      await priv?.stop(config.shutdown.graceSeconds * 1000);
      await stopOwnership();
      swarm.stopSweeper();
      trust.close();
    },
  });
}

/**
 * Logs refused edge streams, at most one line per REJECTION_LOG_INTERVAL_MS
 * (a misconfigured edge retries every couple of seconds, a scanner faster);
 * the line after a quiet spell says how many were left out.
 */
function rejectionLogger(logger: Logger): (reason: StreamRejection, details: string, edgeId: string) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (reason, details, edgeId) => {
    const now = Date.now();
    if (now - last < REJECTION_LOG_INTERVAL_MS) {
      suppressed++;
      return;
    }
    last = now;
    logger.warn('edge stream refused', { reason, details, edgeId, ...(suppressed > 0 ? { suppressed } : {}) });
    suppressed = 0;
  };
}
