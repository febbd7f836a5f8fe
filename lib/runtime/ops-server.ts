import http from 'node:http';
import { once } from 'node:events';
import { defaultConfig } from './config.js';
import type { TrackerMetrics } from './metrics.js';

export interface Readiness {
  /** True once every frontend is listening and until shutdown begins. */
  ready(): boolean;
  /** Lines after "ready"/"not ready" on /readyz saying what the process waits for or serves from (never secrets). */
  detail?(): string;
}

export interface OpsServerOptions {
  /** metrics.maxConnections: connections held at once; more are closed as they arrive. */
  maxConnections?: number;
}

/**
 * The operations port: /metrics for Prometheus, /healthz (the process is
 * alive) and /readyz (route traffic here). Kept off the tracker port so it
 * can be firewalled separately and so client load cannot starve probes.
 *
 * Its own connections are capped and short-lived (a request must arrive
 * within seconds, idle keep-alive ends after 5 s), so whoever reaches this
 * port cannot hold file descriptors the tracker needs or keep Prometheus
 * and the kubelet out for long.
 */
export class OpsServer {
  private server: http.Server | undefined;
  private readonly maxConnections: number;

  constructor(
    private readonly metrics: TrackerMetrics,
    private readonly readiness: Readiness,
    options: OpsServerOptions = {},
  ) {
    this.maxConnections = options.maxConnections ?? defaultConfig().metrics.maxConnections;
  }

  async listen(host: string, port: number): Promise<number> {
    const server = http.createServer(
      // A connection that sends no complete request within headersTimeout is closed
      // (checked every connectionsCheckingInterval).
      { headersTimeout: 5_000, requestTimeout: 10_000, connectionsCheckingInterval: 1_000 },
      (req, res) => {
        void this.handle(req, res);
      },
    );
    server.keepAliveTimeout = 5_000;
    server.maxConnections = this.maxConnections;
    const refused = this.metrics.limitCounter('metrics.maxConnections');
    server.on('drop', () => refused.inc());
    server.listen({ host, port, ipv6Only: false });
    await once(server, 'listening');
    this.server = server;
    const address = server.address();
    return typeof address === 'object' && address ? address.port : port;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      } else if (path === '/metrics') {
        const { contentType, body } = await this.metrics.render();
        res.writeHead(200, { 'Content-Type': contentType }).end(body);
      } else if (path === '/healthz') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const ready = this.readiness.ready();
        const detail = this.readiness.detail?.() ?? '';
        res.writeHead(ready ? 200 : 503, { 'Content-Type': 'text/plain' }).end(`${ready ? 'ready' : 'not ready'}\n${detail === '' ? '' : `${detail}\n`}`);
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
      }
    } catch (error) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(error as Error).message}\n`);
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
