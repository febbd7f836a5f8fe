import type { Config } from '../../lib/runtime/config.js';
import type { Logger } from '../../lib/runtime/logger.js';
import { InProcessTransport } from '../../lib/transport/in-process.js';
import { SingleDestination, SwarmRouter } from '../edge/router.js';
import { Frontends } from '../edge/frontends.js';
import { createSwarm } from '../swarm/create-swarm.js';
import { startOperations, type RunningTracker } from './operations.js';

/** The edge id of the one in-process edge; gRPC edges use their node name. */
const LOCAL_EDGE = 'local';

/** Edge and swarm in one process, joined by the in-process transport. */
export async function startAllInOne(config: Config, logger: Logger): Promise<RunningTracker> {
  const ops = await startOperations(config, logger);
  const swarm = createSwarm(config, ops.metrics, ops.failures);
  const transport = new InProcessTransport(swarm, ops.failures.for('in-process'));
  const router = new SwarmRouter(new SingleDestination(transport), config.cluster.maxBatch, ops.failures.for('router'));
  const frontends = await Frontends.start({ config, edgeId: LOCAL_EDGE, router, policy: ops.accessList.list, metrics: ops.metrics, logger });
  if (frontends.ws) swarm.webtorrent.setRelay(frontends.ws);

  logger.info('tracker listening', {
    host: config.host,
    udpPort: frontends.udpPort,
    tcpPort: frontends.tcpPort,
    metricsPort: ops.metricsPort,
    webtorrent: config.webtorrent.enabled,
    tls: config.tls.certFile !== '',
    accessList: config.accessList.mode,
  });
  return ops.running({
    udpPort: frontends.udpPort,
    tcpPort: frontends.tcpPort,
    async stop() {
      await frontends.stop(config.shutdown.graceSeconds * 1000);
      swarm.stopSweeper();
      await transport.close();
    },
  });
}
