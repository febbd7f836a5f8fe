import type { Config } from '../../lib/runtime/config.js';
import { parseCidrList } from '../../lib/runtime/cidr.js';
import type { Logger } from '../../lib/runtime/logger.js';
import { TrackerMetrics } from '../../lib/runtime/metrics.js';
import { OpsServer } from '../../lib/runtime/ops-server.js';
import { InProcessTransport } from '../../lib/transport/in-process.js';
import { SwarmStore } from '../swarm/store/swarm-store.js';
import { SingleDestination, SwarmRouter } from '../edge/router.js';
import { ConnectionIds } from '../edge/udp/connection-id.js';
import { UdpFrontend } from '../edge/udp/udp-frontend.js';
import { HttpFrontend } from '../edge/http/http-frontend.js';
import { ClientAddressResolver } from '../edge/http/client-address.js';
import { TcpServer } from '../edge/tcp-server.js';
import { AccessListReloader } from '../edge/access-list.js';
import { WsFrontend } from '../edge/ws/ws-frontend.js';
import { WebTorrentSwarms } from '../swarm/store/webtorrent-swarms.js';
import { Swarm } from '../swarm/swarm.js';

/** The edge id of the one in-process edge; gRPC edges use their pod name. */
const LOCAL_EDGE = 'local';

export interface RunningTracker {
  readonly udpPort: number;
  readonly tcpPort: number;
  readonly metricsPort: number;
  /** Re-reads the access list (what SIGHUP does). */
  reload(): Promise<void>;
  /** Graceful stop: not ready, stop accepting, finish in-flight (bounded), close. */
  stop(): Promise<void>;
}

/** Edge and swarm in one process, joined by the in-process transport. */
export async function startAllInOne(config: Config, logger: Logger): Promise<RunningTracker> {
  const metrics = new TrackerMetrics();
  let ready = false;
  const ops = config.metrics.enabled ? new OpsServer(metrics, { ready: () => ready }) : undefined;
  const metricsPort = ops ? await ops.listen(config.metrics.host, config.metrics.port) : 0;

  const accessList = new AccessListReloader({
    mode: config.accessList.mode,
    file: config.accessList.file,
    watch: config.accessList.watch,
    logger: logger.child({ component: 'access-list' }),
  });
  await accessList.start();
  metrics.observeAccessList(() => accessList);

  const store = new SwarmStore({
    intervalSeconds: config.announce.intervalSeconds,
    minIntervalSeconds: config.announce.minIntervalSeconds,
    intervalJitterSeconds: config.announce.intervalJitterSeconds,
    numwantDefault: config.announce.numwantDefault,
    numwantMax: config.announce.numwantMax,
    peerTimeoutSeconds: config.announce.peerTimeoutSeconds,
  });
  const webtorrent = new WebTorrentSwarms({
    intervalSeconds: config.webtorrent.intervalSeconds,
    peerTimeoutSeconds: config.webtorrent.peerTimeoutSeconds,
    offerTtlSeconds: config.webtorrent.offerTtlSeconds,
    maxPendingOffers: config.webtorrent.maxPendingOffers,
  });
  const swarm = new Swarm(store, webtorrent);
  swarm.startSweeper(config.store.sweepIntervalMs, config.store.sweepBudgetMs);
  metrics.observeStore(store);
  metrics.observeWebTorrent(() => webtorrent.stats());

  const transport = new InProcessTransport(swarm);
  const router = new SwarmRouter(new SingleDestination(transport), 256, (error) =>
    logger.error('reply handler failed', { error }),
  );
  const policy = accessList.list;

  let udp: UdpFrontend | undefined;
  if (config.udp.enabled) {
    let key: Uint8Array;
    if (config.udp.connectionIdKey === '') {
      key = ConnectionIds.randomKey();
      logger.info('udp.connectionIdKey is empty: using a random key; set it (the same on every edge) before running more than one edge');
    } else {
      key = Buffer.from(config.udp.connectionIdKey, 'hex');
    }
    udp = new UdpFrontend({
      host: config.host,
      port: config.port,
      maxScrapeHashes: config.udp.maxScrapeHashes,
      socketBufferBytes: config.udp.socketBufferBytes,
      connectionIds: new ConnectionIds({
        key,
        ttlSeconds: config.udp.connectionIdTtlSeconds,
        slackSeconds: config.udp.connectionIdSlackSeconds,
        futureSkewSeconds: config.udp.connectionIdFutureSkewSeconds,
      }),
      router,
      policy,
      metrics,
      logger: logger.child({ component: 'udp' }),
    });
    await udp.start();
  }

  let tcp: TcpServer | undefined;
  let http: HttpFrontend | undefined;
  let ws: WsFrontend | undefined;
  if (config.http.enabled || config.webtorrent.enabled) {
    tcp = new TcpServer(config.tls);
  }
  if (tcp && config.webtorrent.enabled) {
    ws = new WsFrontend({
      edgeId: LOCAL_EDGE,
      limits: config.webtorrent,
      router,
      policy,
      metrics,
      logger: logger.child({ component: 'ws' }),
    });
    webtorrent.setRelay(ws);
    ws.register(tcp.app);
  }
  if (tcp && config.http.enabled) {
    http = new HttpFrontend({
      maxQueryBytes: config.http.maxQueryBytes,
      maxScrapeHashes: config.http.maxScrapeHashes,
      clientAddress: new ClientAddressResolver(
        parseCidrList(config.http.trustedProxies),
        config.http.clientAddressHeader,
        config.http.trustedProxies.length > 0,
      ),
      router,
      policy,
      metrics,
      logger: logger.child({ component: 'http' }),
    });
    http.register(tcp.app);
  }
  await tcp?.listen(config.host, config.port);

  ready = true;
  const running: RunningTracker = {
    udpPort: udp?.port ?? 0,
    tcpPort: tcp?.port ?? 0,
    metricsPort,
    async reload() {
      await accessList.reload();
    },
    async stop() {
      ready = false;
      const deadline = config.shutdown.graceSeconds * 1000;
      tcp?.close();
      ws?.closeAll();
      router.flush();
      await udp?.stop(deadline);
      const until = Date.now() + deadline;
      while ((http?.inFlight ?? 0) + (ws?.inFlight ?? 0) > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      swarm.stopSweeper();
      await transport.close();
      await accessList.close();
      await ops?.close();
    },
  };
  logger.info('tracker listening', {
    host: config.host,
    udpPort: running.udpPort,
    tcpPort: running.tcpPort,
    metricsPort,
    webtorrent: config.webtorrent.enabled,
    tls: config.tls.certFile !== '',
    accessList: config.accessList.mode,
  });
  return running;
}
