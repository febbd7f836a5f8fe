import type { Config } from '../../lib/runtime/config.js';
import { parseCidrList } from '../../lib/runtime/cidr.js';
import type { Logger } from '../../lib/runtime/logger.js';
import type { TrackerMetrics } from '../../lib/runtime/metrics.js';
import type { RequestPipeline } from './pipeline/pipeline.js';
import { ConnectionIds } from './udp/connection-id.js';
import { UdpFrontend } from './udp/udp-frontend.js';
import { HttpFrontend } from './http/http-frontend.js';
import { ClientAddressResolver } from './http/client-address.js';
import { TcpServer } from './tcp-server.js';
import { TcpConnectionLimits } from './tcp-connection-limits.js';
import { WsFrontend } from './ws/ws-frontend.js';

export interface FrontendDeps {
  config: Config;
  /** Stable id of this edge; swarms address relayed WebTorrent messages to it. */
  edgeId: string;
  /** Hooks, then the swarm (through the router): what every frontend hands its requests to. */
  pipeline: RequestPipeline;
  /** UDP's own pipeline when it differs (private mode with private.udp = off refuses every UDP request). */
  udpPipeline?: RequestPipeline;
  metrics: TrackerMetrics;
  logger: Logger;
}

/**
 * Every client-facing listener of an edge: UDP, and HTTP + WebSocket on the
 * same TCP port. The same assembly serves all-in-one and edge pods; only the
 * router behind the pipeline differs.
 */
export class Frontends {
  private constructor(
    readonly udp: UdpFrontend | undefined,
    readonly tcp: TcpServer | undefined,
    readonly http: HttpFrontend | undefined,
    readonly ws: WsFrontend | undefined,
    private readonly pipeline: RequestPipeline,
  ) {}

  static async start(deps: FrontendDeps): Promise<Frontends> {
    const { config, pipeline, metrics, logger } = deps;
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
        batchedIo: config.udp.batchedIo,
        connectionIds: new ConnectionIds({
          key,
          ttlSeconds: config.udp.connectionIdTtlSeconds,
          slackSeconds: config.udp.connectionIdSlackSeconds,
          futureSkewSeconds: config.udp.connectionIdFutureSkewSeconds,
        }),
        pipeline: deps.udpPipeline ?? pipeline,
        metrics,
        logger: logger.child({ component: 'udp' }),
      });
      await udp.start();
    }

    const tcp = config.http.enabled || config.webtorrent.enabled ? new TcpServer(config.tls) : undefined;
    // HTTP announces and WebSocket upgrades behind a proxy: the same rule for both.
    const clientAddress = new ClientAddressResolver(
      parseCidrList(config.http.trustedProxies),
      config.http.clientAddressHeader,
      config.http.trustedProxies.length > 0,
    );
    let ws: WsFrontend | undefined;
    if (tcp && config.webtorrent.enabled) {
      ws = new WsFrontend({ edgeId: deps.edgeId, limits: config.webtorrent, clientAddress, pipeline, metrics, logger: logger.child({ component: 'ws' }) });
      ws.register(tcp.app);
    }
    let http: HttpFrontend | undefined;
    if (tcp && config.http.enabled) {
      http = new HttpFrontend({
        maxQueryBytes: config.http.maxQueryBytes,
        maxScrapeHashes: config.http.maxScrapeHashes,
        clientAddress,
        pipeline,
        passkeyRoutes: config.private.enabled,
        metrics,
        logger: logger.child({ component: 'http' }),
      });
      http.register(tcp.app);
    }
    if (tcp) TcpConnectionLimits.start({ http: config.http, metrics, logger: logger.child({ component: 'tcp' }) });
    await tcp?.listen(config.host, config.port);
    return new Frontends(udp, tcp, http, ws, pipeline);
  }

  get udpPort(): number {
    return this.udp?.port ?? 0;
  }

  get tcpPort(): number {
    return this.tcp?.port ?? 0;
  }

  /** Stops accepting, closes WebSockets (their peers leave), answers what is in flight within `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.tcp?.close();
    this.ws?.closeAll();
    this.pipeline.flush();
    await this.udp?.stop(graceMs);
    const until = Date.now() + graceMs;
    while ((this.http?.inFlight ?? 0) + (this.ws?.inFlight ?? 0) > 0 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}
