import uWS from 'uWebSockets.js';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';

/**
 * The TCP side of the tracker port: one uWebSockets.js app that the HTTP
 * and WebSocket frontends register routes on.
 */
export class TcpServer {
  readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | undefined;
  private boundPort = 0;

  /** With a certificate and key the port speaks TLS (https:// and wss://); otherwise plain TCP. */
  constructor(tls: { certFile: string; keyFile: string } = { certFile: '', keyFile: '' }) {
    this.app = tls.certFile !== '' ? uWS.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile }) : uWS.App();
  }

  /** Call after every frontend registered its routes: the catch-all must come last. */
  async listen(host: string, port: number): Promise<number> {
    this.app.any('/*', (res) => {
      res.writeStatus('404 Not Found').writeHeader('Content-Type', 'text/plain').end('not found: this is a BitTorrent tracker, use /announce or /scrape\n');
    });
    const socket = await new Promise<us_listen_socket | false>((resolve) => this.app.listen(host, port, resolve));
    if (!socket) throw new Error(`cannot listen on TCP ${host}:${port} (address in use or not available)`);
    this.listenSocket = socket;
    this.boundPort = uWS.us_socket_local_port(socket as never);
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Stops accepting connections; open keep-alive connections idle out or end with the process. */
  close(): void {
    if (this.listenSocket) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
  }
}
