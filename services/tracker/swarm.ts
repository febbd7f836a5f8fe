import type { Config } from '../../lib/runtime/config.js';
import type { Logger } from '../../lib/runtime/logger.js';
import { GrpcSwarmServer } from '../../lib/transport/grpc/server.js';
import { createSwarm } from '../swarm/create-swarm.js';
import { nodeName } from './cluster-config.js';
import { startOperations, type RunningTracker } from './operations.js';

/** A swarm pod: peers in memory for the slots it owns, served to edges over gRPC. */
export async function startSwarm(config: Config, logger: Logger): Promise<RunningTracker> {
  const name = nodeName(config);
  const ops = await startOperations(config, logger, { accessList: false });
  const swarm = createSwarm(config, ops.metrics, ops.failures);
  const batch = ops.metrics.swarmServerBatch();
  const server = new GrpcSwarmServer(swarm, {
    host: config.swarm.grpcHost,
    port: config.swarm.grpcPort,
    swarmId: name,
    onEdgeGone: (edgeId) => {
      const removed = swarm.webtorrent.dropEdge(edgeId);
      logger.info('edge gone: its WebTorrent peers were removed', { edgeId, removed });
    },
    onEdgeConnected: (edgeId) => logger.info('edge connected', { edgeId }),
    onBatch: (requests, seconds) => {
      batch.size.observe(requests);
      batch.seconds.observe(seconds);
    },
  });
  swarm.webtorrent.setRelay(server);
  const port = await server.listen();
  ops.metrics.observeEdges(() => server.connectedEdges().length);
  logger.info('swarm listening', { name, grpcHost: config.swarm.grpcHost, grpcPort: port, metricsPort: ops.metricsPort });
  return ops.running({
    udpPort: 0,
    tcpPort: port,
    async stop() {
      await server.shutdown(config.shutdown.graceSeconds * 1000);
      swarm.stopSweeper();
    },
  });
}
