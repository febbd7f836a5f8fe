import { randomBytes } from 'node:crypto';
import type { Config } from '../../lib/runtime/config.js';
import type { Logger } from '../../lib/runtime/logger.js';
import { GrpcTransport, type StreamState } from '../../lib/transport/grpc/client.js';
import { SwarmRouter } from '../edge/router.js';
import { Frontends } from '../edge/frontends.js';
import { startEdgePipeline } from '../edge/pipeline/create-pipeline.js';
import { startEdgeCatalog } from '../edge/edge-catalog.js';
import { allGates } from './operations.js';
import { SlotDestinations } from '../edge/slot-destinations.js';
import { StartupReadiness } from '../edge/startup-readiness.js';
import { FileMembership } from '../../lib/cluster/membership/file.js';
import { createMembership, nodeName } from './cluster-config.js';
import { edgeTrust } from './cluster-trust.js';
import { startOperations, type RunningTracker } from './operations.js';

/**
 * A stateless edge: the client protocols, routing every request by the slot
 * of its info-hash to the owning swarm over one gRPC stream per swarm.
 */
export async function startEdge(config: Config, logger: Logger): Promise<RunningTracker> {
  const edgeId = nodeName(config);
  // One per process, the same on the stream to every swarm: a WebTorrent peer handed from one swarm to
  // another is known by (edge id, boot nonce), and kept only while that edge process lives.
  const bootNonce = randomBytes(16).toString('hex');
  const ops = await startOperations(config, logger);
  const trust = await edgeTrust(config, logger, ops.metrics);
  const membership = await createMembership(config, logger);
  await membership.start();

  const clientFailures = ops.failures.for('grpc-client');
  let frontends: Frontends | undefined;
  const destinations = new SlotDestinations(
    membership,
    (member) => {
      const client = ops.metrics.swarmClient(member.name);
      const transport = new GrpcTransport({
        name: member.name,
        address: member.address,
        edgeId,
        bootNonce,
        credentials: trust.credentials,
        tlsServerName: trust.serverNameFor(member.name),
        authToken: trust.authToken || undefined,
        requestTimeoutMs: config.cluster.requestTimeoutMs,
        maxMessagesInFlight: config.cluster.maxMessagesInFlight,
        onMessageSent: (requests) => client.batchSize.observe(requests),
        onRoundTrip: (seconds) => client.roundTrip.observe(seconds),
        onStateChange: streamLogger(logger, member),
        failures: clientFailures,
      });
      transport.onRelay((socket, message) => frontends?.ws?.deliver({ edge: edgeId, socket }, message));
      return transport;
    },
    config.cluster.requestTimeoutMs,
    logger.child({ component: 'routing' }),
  );
  destinations.start();
  ops.metrics.observeSlotTable(() => destinations.tableInfo);
  if (membership instanceof FileMembership) ops.metrics.observeMembersFile(() => membership);

  // The one queue per swarm, and what to do with "moved" replies.
  const router = new SwarmRouter(destinations, config.cluster.maxBatch, ops.failures.for('router'), {
    maxQueuedRequests: config.cluster.maxQueuedRequests,
    requestTimeoutMs: config.cluster.requestTimeoutMs,
    maxMovedHops: config.cluster.maxMovedHops,
    movedWaitMs: config.cluster.movedWaitMs,
    limits: {
      maxQueuedRequests: ops.metrics.limitCounter('cluster.maxQueuedRequests'),
      maxMovedHops: ops.metrics.limitCounter('cluster.maxMovedHops'),
    },
  });
  ops.metrics.observeMoved(() => router.moves);
  const transports = (): { name: string; transport: GrpcTransport }[] =>
    destinations.swarms.map(({ name, transport }) => ({ name, transport: transport as GrpcTransport }));
  ops.metrics.observeSwarmClients(() =>
    transports().map(({ name, transport }) => ({ swarm: name, up: transport.streamState === 'open', inFlight: transport.inFlight + router.queuedFor(transport) })),
  );
  ops.metrics.observeSwarmClientFailures(() =>
    transports().map(({ name, transport }) => {
      const stats = transport.stats();
      const queue = router.countsFor(transport);
      return { ...stats, swarm: name, timedOut: stats.timedOut + queue.timedOut, overloaded: queue.overloaded };
    }),
  );

  // Private mode: the passkey hook's catalog loads before the edge listens; readiness waits for its first copy.
  const catalog = config.private.enabled ? await startEdgeCatalog(config, { metrics: ops.metrics, failures: ops.failures, logger }) : undefined;
  const { pipeline, udpPipeline, hooks } = await startEdgePipeline(config, {
    router,
    accessList: ops.accessList.list,
    metrics: ops.metrics,
    failures: ops.failures.for('hooks'),
    logger,
    catalog: catalog?.current,
  });
  frontends = await Frontends.start({ config, edgeId, pipeline, udpPipeline, metrics: ops.metrics, logger });
  const started = frontends;
  const readiness = new StartupReadiness({
    swarms: () => destinations.slotTable.members.map((name) => ({ name, open: (destinations.transportNamed(name) as GrpcTransport | undefined)?.streamState === 'open' })),
    waitMs: config.cluster.edgeReadyWaitSeconds * 1000,
    logger,
    waitRanOut: ops.metrics.limitCounter('cluster.edgeReadyWaitSeconds'),
  });

  logger.info('edge listening', {
    edgeId,
    host: config.host,
    udpPort: started.udpPort,
    tcpPort: started.tcpPort,
    metricsPort: ops.metricsPort,
    swarms: membership.members().map((m) => `${m.name}=${m.address}`),
    swarmTransport: trust.summary,
  });
  return ops.running({
    udpPort: started.udpPort,
    tcpPort: started.tcpPort,
    reload: () => hooks.reload(),
    readiness: catalog ? allGates(readiness, catalog) : readiness,
    async stop() {
      await started.stop(config.shutdown.graceSeconds * 1000);
      await hooks.close();
      await catalog?.stop();
      router.close();
      await destinations.close();
      await membership.stop();
      trust.close();
    },
  });
}

/**
 * Logs a swarm stream's state changes: open at info; down at warn with the
 * reason, once per distinct reason while it stays down (a stream refused for
 * a bad certificate is retried every couple of seconds and would otherwise
 * repeat the same line forever).
 */
function streamLogger(logger: Logger, member: { name: string; address: string }): (state: StreamState, reason: string) => void {
  let lastDownReason: string | undefined;
  return (state, reason) => {
    if (state === 'open') {
      lastDownReason = undefined;
      logger.info('swarm stream open', { swarm: member.name, address: member.address });
    } else if (state === 'down' && reason !== lastDownReason) {
      lastDownReason = reason;
      logger.warn('swarm stream down; retrying', { swarm: member.name, address: member.address, reason });
    } else {
      logger.debug('swarm stream', { swarm: member.name, address: member.address, state });
    }
  };
}
