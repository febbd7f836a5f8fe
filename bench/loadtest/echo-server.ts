/**
 * Trivial stateless targets for measuring the generator's ceiling (and for
 * tests): no swarm, every request gets a valid-looking reply at once.
 *
 * - UDP (Node dgram): connect -> connect reply echoing the transaction id,
 *   announce -> 20-byte announce header (+ `peers` fake peers), scrape ->
 *   zero stats, other -> error reply. Node pays one syscall and one callback
 *   per datagram, so for the UDP ceiling prefer the C echo
 *   (bench/loadtest/echo-server.c, `compileC('echo-server')`), which batches
 *   with recvmmsg/sendmmsg.
 * - HTTP: a fixed bencoded announce / scrape reply, keep-alive honoured, on
 *   a raw TCP server (see startHttpEcho).
 *
 * - WebTorrent: see ws-echo.ts (loaded only for `echo ws`, it needs uWebSockets.js).
 *
 * CLI: `loadtest echo udp|http|ws --port P [--host 127.0.0.1] [--peers N] [--max-seconds 600]`
 * (--peers: udp and http only).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  UDP_ACTION_ANNOUNCE,
  UDP_ACTION_CONNECT,
  UDP_ACTION_SCRAPE,
  UDP_PROTOCOL_ID_HIGH,
  UDP_PROTOCOL_ID_LOW,
  writeAnnounceReply,
  writeConnectReply,
  writeErrorReply,
  writeScrapeReply,
} from '../../lib/protocol/udp/server.js';
import { readUint32BE } from '../../lib/protocol/binary.js';
import { encodeAnnounceReply, encodeScrapeReply } from '../../lib/protocol/http/server.js';
import { UsageError, isLoopbackV4, parseArgv } from './options.js';

export interface EchoServer {
  readonly port: number;
  close(): Promise<void>;
}

function fakePeers(n: number): Buffer {
  const b = Buffer.alloc(6 * n);
  for (let i = 0; i < n; i++) {
    b.writeUInt32BE(0x7f000001, 6 * i);
    b.writeUInt16BE(10000 + i, 6 * i + 4);
  }
  return b;
}

/** Reply to one BEP 15 request datagram (pure; exported for tests). */
export function echoUdpReply(msg: Uint8Array, peers: Uint8Array, out: Buffer): number {
  if (msg.length < 16) return writeErrorReply(out, 0, 'short');
  const action = readUint32BE(msg, 8);
  const txid = readUint32BE(msg, 12);
  if (action === UDP_ACTION_CONNECT && readUint32BE(msg, 0) === UDP_PROTOCOL_ID_HIGH && readUint32BE(msg, 4) === UDP_PROTOCOL_ID_LOW) {
    return writeConnectReply(out, txid, 0x12345678, 0x9abcdef0);
  }
  if (action === UDP_ACTION_ANNOUNCE && msg.length >= 98) return writeAnnounceReply(out, txid, 1800, 0, 0, peers);
  if (action === UDP_ACTION_SCRAPE) {
    const n = Math.min(74, Math.floor((msg.length - 16) / 20));
    return writeScrapeReply(out, txid, new Array(n).fill({ complete: 0, incomplete: 0, downloaded: 0 }));
  }
  return writeErrorReply(out, txid, 'unknown action');
}

export async function startUdpEcho(host: string, port: number, peers = 0): Promise<EchoServer> {
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 22, sendBufferSize: 1 << 22 });
  const peerBytes = fakePeers(peers);
  sock.on('message', (msg, rinfo) => {
    const out = Buffer.allocUnsafe(20 + peerBytes.length + 900);
    const n = echoUdpReply(msg, peerBytes, out);
    sock.send(out, 0, n, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, host, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  sock.on('error', () => undefined);
  return {
    port: (sock.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

/**
 * HTTP echo on a raw TCP server (node:http costs more per request than the
 * generator does, so it would measure itself rather than the generator):
 * every request head (up to the blank line) gets a fixed 200 reply, the
 * scrape reply when the request line starts with "GET /scrape"; a request
 * carrying "Connection: close" gets its reply and then the server closes.
 */
export async function startHttpEcho(host: string, port: number, peers = 0): Promise<EchoServer> {
  const reply = (body: Buffer, close: boolean): Buffer =>
    Buffer.concat([
      Buffer.from(
        `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`,
        'latin1',
      ),
      body,
    ]);
  const announce = encodeAnnounceReply({ interval: 1800, complete: 0, incomplete: 0, peers: fakePeers(peers), peerLength: 6, compact: true });
  const scrape = encodeScrapeReply([]);
  const replies = {
    announce: reply(announce, false),
    announceClose: reply(announce, true),
    scrape: reply(scrape, false),
    scrapeClose: reply(scrape, true),
  };
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (sock) => {
    sockets.add(sock);
    let pending = '';
    sock.setEncoding('latin1');
    sock.on('data', (chunk: string) => {
      pending += chunk;
      let end: number;
      while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        const isScrape = head.startsWith('GET /scrape');
        const close = /\r\nconnection:\s*close/i.test(head);
        if (close) {
          sock.end(isScrape ? replies.scrapeClose : replies.announceClose);
          return;
        }
        sock.write(isScrape ? replies.scrape : replies.announce);
      }
      if (pending.length > 16_384) sock.destroy();
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, 4096, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** `echo udp|http|ws --port P ...`: serve until --max-seconds (default 600) or SIGINT/SIGTERM. */
export async function runEchoServer(argv: readonly string[]): Promise<number> {
  const { positional, opts } = parseArgv(argv, new Set());
  const kind = positional[0];
  if (kind !== 'udp' && kind !== 'http' && kind !== 'ws') throw new UsageError('echo needs udp, http or ws');
  const host = typeof opts.get('host') === 'string' ? (opts.get('host') as string) : '127.0.0.1';
  if (!isLoopbackV4(host)) throw new UsageError('echo --host must be a 127.0.0.0/8 address');
  const port = Number(opts.get('port') ?? NaN);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('echo needs --port');
  const peers = Number(opts.get('peers') ?? 0);
  const maxSeconds = Number(opts.get('max-seconds') ?? 600);
  if (!(maxSeconds > 0 && maxSeconds <= 86_400)) throw new UsageError('invalid --max-seconds');
  const server =
    kind === 'ws'
      ? await (await import('./ws-echo.js')).startWsEcho(host, port)
      : kind === 'udp'
        ? await startUdpEcho(host, port, peers)
        : await startHttpEcho(host, port, peers);
  process.stdout.write(`listening ${host}:${server.port}\n`);
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, maxSeconds * 1000);
    const stop = (): void => {
      clearTimeout(t);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
