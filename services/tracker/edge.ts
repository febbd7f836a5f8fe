import type { Config } from '../../lib/runtime/config.js';
import type { Logger } from '../../lib/runtime/logger.js';
import { GrpcTransport } from '../../lib/transport/grpc/client.js';
import { SwarmRouter } from '../edge/router.js';
import { Frontends } from '../edge/frontends.js';
import { SlotDestinations } from '../edge/slot-destinations.js';
import { createMembership, nodeName } from './cluster-config.js';
import { startOperations, type RunningTracker } from './operations.js';

/**
 * A stateless edge: the client protocols, routing every request by the slot
 * of its info-hash to the owning swarm over one gRPC stream per swarm.
 */
export async function startEdge(config: Config, logger: Logger): Promise<RunningTracker> {
  const edgeId = nodeName(config);
  const ops = await startOperations(config, logger);
  const membership = await createMembership(config, logger);
  await membership.start();

  let frontends: Frontends | undefined;
  const destinations = new SlotDestinations(
    membership,
    (member) => {
      const client = ops.metrics.swarmClient(member.name);
      const transport = new GrpcTransport({
        name: member.name,
        address: member.address,
        edgeId,
        requestTimeoutMs: config.cluster.requestTimeoutMs,
        maxMessagesInFlight: config.cluster.maxMessagesInFlight,
        onMessageSent: (requests) => client.batchSize.observe(requests),
        onRoundTrip: (seconds) => client.roundTrip.observe(seconds),
        onStateChange: (state) => logger.info('swarm stream', { swarm: member.name, address: member.address, state }),
      });
      transport.onRelay((socket, message) => frontends?.ws?.deliver({ edge: edgeId, socket }, message));
      return transport;
    },
    config.cluster.requestTimeoutMs,
  );
  destinations.start();
  ops.metrics.observeSlotTable(() => destinations.tableInfo);
  ops.metrics.observeSwarmClients(() =>
    destinations.swarms.map(({ name, transport }) => ({
      swarm: name,
      up: (transport as GrpcTransport).streamState === 'open',
      inFlight: transport.inFlight,
    })),
  );

  const router = new SwarmRouter(destinations, config.cluster.maxBatch, (error) => logger.error('reply handler failed', { error }));
  frontends = await Frontends.start({ config, edgeId, router, policy: ops.accessList.list, metrics: ops.metrics, logger });
  const started = frontends;

  logger.info('edge listening', {
    edgeId,
    host: config.host,
    udpPort: started.udpPort,
    tcpPort: started.tcpPort,
    metricsPort: ops.metricsPort,
    swarms: membership.members().map((m) => `${m.name}=${m.address}`),
  });
  return ops.running({
    udpPort: started.udpPort,
    tcpPort: started.tcpPort,
    async stop() {
      await started.stop(config.shutdown.graceSeconds * 1000);
      await destinations.close();
      await membership.stop();
    },
  });
}
