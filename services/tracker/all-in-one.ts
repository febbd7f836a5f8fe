import { randomBytes } from 'node:crypto';
import type { Config } from '../../lib/runtime/config.js';
import type { Logger } from '../../lib/runtime/logger.js';
import { InProcessTransport } from '../../lib/transport/in-process.js';
import { SingleDestination, SwarmRouter } from '../edge/router.js';
import { Frontends } from '../edge/frontends.js';
import { startEdgePipeline } from '../edge/pipeline/create-pipeline.js';
import { createSwarm } from '../swarm/create-swarm.js';
import { startPrivateSwarm } from '../swarm/accounting/private-swarm.js';
import { createSwarmSnapshots } from '../swarm/snapshot/create-snapshots.js';
import { EVERY_SLOT } from '../swarm/snapshot/swarm-slot-source.js';
import { startOperations, type RunningTracker } from './operations.js';

/** The edge id of the one in-process edge; gRPC edges use their node name. */
const LOCAL_EDGE = 'local';

/** Edge and swarm in one process, joined by the in-process transport. */
export async function startAllInOne(config: Config, logger: Logger): Promise<RunningTracker> {
  const ops = await startOperations(config, logger);
  // Private mode: the database, the catalog and the writer come up first; readiness waits for the first catalog load.
  const priv = config.private.enabled ? await startPrivateSwarm(config, { metrics: ops.metrics, failures: ops.failures, logger, swarmName: '' }) : undefined;
  const swarm = createSwarm(config, ops.metrics, ops.failures, priv?.accounting);
  // This process is the one edge: WebTorrent peers restored from an earlier process had sockets that closed with it.
  swarm.edgeConnected(LOCAL_EDGE, randomBytes(8).toString('hex'));

  // Snapshots (snapshot.redisUrl): a restarted tracker gets its UDP/HTTP peers back. Restored before
  // anything listens, so no request sees a half-restored table; the final write comes after the last request.
  const snapshots = createSwarmSnapshots(config, swarm, EVERY_SLOT, { metrics: ops.metrics, failures: ops.failures, logger });
  await snapshots?.restore();

  const transport = new InProcessTransport(swarm, ops.failures.for('in-process'));
  const router = new SwarmRouter(new SingleDestination(transport), config.cluster.maxBatch, ops.failures.for('router'));
  let frontends: Frontends;
  let hooks: Awaited<ReturnType<typeof startEdgePipeline>>['hooks'];
  try {
    const edge = await startEdgePipeline(config, {
      router,
      accessList: ops.accessList.list,
      metrics: ops.metrics,
      failures: ops.failures.for('hooks'),
      logger,
      // Private mode, edge half: the passkey hook reads the swarm half's catalog (one pool, one copy in this process).
      catalog: priv ? () => priv.reloader.current : undefined,
    });
    hooks = edge.hooks;
    frontends = await Frontends.start({ config, edgeId: LOCAL_EDGE, pipeline: edge.pipeline, udpPipeline: edge.udpPipeline, metrics: ops.metrics, logger });
  } catch (error) {
    await snapshots?.close();
    await priv?.stop(0);
    throw error;
  }
  if (frontends.ws) swarm.webtorrent.setRelay(frontends.ws);
  snapshots?.start();

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
    readiness: priv,
    reload: () => hooks.reload(),
    async stop() {
      await frontends.stop(config.shutdown.graceSeconds * 1000);
      await hooks.close();
      await snapshots?.stop();
      // After the last reply: every credited row is written.
      await priv?.stop(config.shutdown.graceSeconds * 1000);
      swarm.stopSweeper();
      await transport.close();
    },
  });
}
