import dgram from 'node:dgram';
import { once } from 'node:events';
import type { AnnounceRequest, ScrapeRequest, SwarmReply, TorrentStats } from '../../../lib/transport/messages.js';
import {
  maxPeersForDatagram,
  parseUdpRequest,
  UDP_SAFE_PAYLOAD,
  writeAnnounceReply,
  writeConnectReply,
  writeErrorReply,
  writeScrapeReply,
} from '../../../lib/protocol/udp.js';
import { compactEndpoint, parseIp } from '../../../lib/net/ip.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import type { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import type { SwarmRouter } from '../router.js';
import { describeFailure } from '../../../lib/transport/replies.js';
import type { ConnectionIds } from './connection-id.js';
import { ScrapeSelection, type InfoHashPolicy } from '../info-hash-policy.js';

export interface UdpFrontendOptions {
  host: string;
  port: number;
  maxScrapeHashes: number;
  socketBufferBytes: number;
  connectionIds: ConnectionIds;
  router: SwarmRouter;
  policy: InfoHashPolicy;
  metrics: TrackerMetrics;
  logger: Logger;
}

const TORRENT_NOT_ALLOWED = 'torrent not allowed on this tracker';
const SCRAPE_EMPTY = 'full scrapes are not allowed';

/**
 * BEP 15 frontend. Parses datagrams, checks connection ids, asks the swarm
 * through the router and writes replies. Holds no peer state.
 *
 * Replies are never sent to a source that has not proven it can receive at
 * its address (a valid connection id), except the 16-byte connect reply, so
 * the tracker cannot be used to amplify traffic at a spoofed victim.
 */
export class UdpFrontend {
  private socket: dgram.Socket | undefined;
  private pending = 0;
  private accepting = false;
  private readonly connectionIdScratch = new Uint32Array(2);
  private readonly c;
  private readonly latency;

  constructor(private readonly options: UdpFrontendOptions) {
    const m = options.metrics;
    this.c = {
      connectOk: m.requestCounter('udp', 'connect', 'ok'),
      announceOk: m.requestCounter('udp', 'announce', 'ok'),
      announceDenied: m.requestCounter('udp', 'announce', 'denied'),
      announceDropped: m.requestCounter('udp', 'announce', 'dropped'),
      announceError: m.requestCounter('udp', 'announce', 'error'),
      announceUnavailable: m.requestCounter('udp', 'announce', 'unavailable'),
      scrapeOk: m.requestCounter('udp', 'scrape', 'ok'),
      scrapeError: m.requestCounter('udp', 'scrape', 'error'),
      scrapeDropped: m.requestCounter('udp', 'scrape', 'dropped'),
      scrapeUnavailable: m.requestCounter('udp', 'scrape', 'unavailable'),
      invalidError: m.requestCounter('udp', 'invalid', 'error'),
      invalidDropped: m.requestCounter('udp', 'invalid', 'dropped'),
    };
    this.latency = {
      connect: m.latencyHistogram('udp', 'connect'),
      announce: m.latencyHistogram('udp', 'announce'),
      scrape: m.latencyHistogram('udp', 'scrape'),
    };
  }

  async start(): Promise<void> {
    const { host, port } = this.options;
    const v6 = host.includes(':');
    const socket = dgram.createSocket({
      type: v6 ? 'udp6' : 'udp4',
      // "::" serves IPv4 too (as mapped addresses); a specific v6 address does not.
      ipv6Only: false,
      recvBufferSize: this.options.socketBufferBytes,
      sendBufferSize: this.options.socketBufferBytes,
    });
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (error) => this.options.logger.error('udp socket error', { error }));
    socket.bind({ address: host, port });
    await once(socket, 'listening');
    this.socket = socket;
    this.accepting = true;
  }

  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  /** Stops reading new datagrams, waits (bounded) for in-flight replies, closes. */
  async stop(deadlineMs: number): Promise<void> {
    this.accepting = false;
    const until = Date.now() + deadlineMs;
    while (this.pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (!this.accepting) return;
    const started = performance.now();
    const address = parseIp(rinfo.address);
    if (!address) return;
    const request = parseUdpRequest(msg, this.options.maxScrapeHashes);
    switch (request.type) {
      case 'connect': {
        const id = this.connectionIdScratch;
        this.options.connectionIds.issue(address, id);
        const out = Buffer.allocUnsafe(16);
        writeConnectReply(out, request.transactionId, id[0], id[1]);
        this.send(out, 16, rinfo);
        this.c.connectOk.inc();
        this.latency.connect.observe((performance.now() - started) / 1000);
        return;
      }
      case 'announce': {
        if (!this.options.connectionIds.verify(address, request.connectionIdHigh, request.connectionIdLow)) {
          this.c.announceDropped.inc();
          return;
        }
        if (!this.options.policy.allows(request.infoHash)) {
          this.sendError(request.transactionId, TORRENT_NOT_ALLOWED, rinfo);
          this.c.announceDenied.inc();
          return;
        }
        const swarmRequest: AnnounceRequest = {
          type: 'announce',
          infoHash: request.infoHash,
          peerId: request.peerId,
          endpoint: compactEndpoint(address, request.port),
          event: request.event,
          left: request.left,
          // Keep the reply inside one unfragmented datagram (79 IPv6 / 238 IPv4 peers).
          numwant: Math.min(request.numwant, maxPeersForDatagram(UDP_SAFE_PAYLOAD, address.length === 4 ? 6 : 18)),
        };
        const transactionId = request.transactionId;
        const now = this.options.router.trySync(swarmRequest);
        if (now) {
          this.onAnnounceReply(now, transactionId, rinfo, started);
          return;
        }
        this.pending++;
        this.options.router.request(swarmRequest, (reply) => {
          this.pending--;
          this.onAnnounceReply(reply, transactionId, rinfo, started);
        });
        return;
      }
      case 'scrape': {
        if (!this.options.connectionIds.verify(address, request.connectionIdHigh, request.connectionIdLow)) {
          this.c.scrapeDropped.inc();
          return;
        }
        if (request.infoHashes.length === 0) {
          this.sendError(request.transactionId, SCRAPE_EMPTY, rinfo);
          this.c.scrapeError.inc();
          return;
        }
        const transactionId = request.transactionId;
        const selection = new ScrapeSelection(request.infoHashes, this.options.policy);
        if (selection.allowed.length === 0) {
          this.replyScrape(transactionId, selection.spread([]), rinfo, started);
          return;
        }
        const scrape: ScrapeRequest = { type: 'scrape', infoHashes: selection.allowed };
        const onReply = (reply: SwarmReply): void => {
          if (reply.type !== 'scrape') {
            const failure = describeFailure(reply);
            this.sendError(transactionId, failure.message, rinfo);
            (failure.result === 'error' ? this.c.scrapeError : this.c.scrapeUnavailable).inc();
            return;
          }
          this.replyScrape(transactionId, selection.spread(reply.files), rinfo, started);
        };
        const now = this.options.router.trySync(scrape);
        if (now) {
          onReply(now);
          return;
        }
        this.pending++;
        this.options.router.request(scrape, (reply) => {
          this.pending--;
          onReply(reply);
        });
        return;
      }
      default: {
        // Only a client holding a valid connection id hears about its mistake.
        if (
          request.transactionId !== undefined &&
          request.connectionIdHigh !== undefined &&
          request.connectionIdLow !== undefined &&
          this.options.connectionIds.verify(address, request.connectionIdHigh, request.connectionIdLow)
        ) {
          this.sendError(request.transactionId, request.reason, rinfo);
          this.c.invalidError.inc();
        } else {
          this.c.invalidDropped.inc();
        }
      }
    }
  }

  private onAnnounceReply(reply: SwarmReply, transactionId: number, rinfo: dgram.RemoteInfo, started: number): void {
    if (reply.type !== 'announce') {
      const failure = describeFailure(reply);
      this.sendError(transactionId, failure.message, rinfo);
      (failure.result === 'error' ? this.c.announceError : this.c.announceUnavailable).inc();
      return;
    }
    let peers = reply.peers;
    if (20 + peers.length > UDP_SAFE_PAYLOAD) {
      // A configured default numwant larger than a datagram holds: cut at a whole entry.
      const entry = peerLengthOf(rinfo);
      peers = peers.subarray(0, Math.floor((UDP_SAFE_PAYLOAD - 20) / entry) * entry);
    }
    const out = Buffer.allocUnsafe(20 + peers.length);
    const length = writeAnnounceReply(out, transactionId, reply.interval, reply.incomplete, reply.complete, peers);
    this.send(out, length, rinfo);
    this.c.announceOk.inc();
    this.latency.announce.observe((performance.now() - started) / 1000);
  }

  private replyScrape(
    transactionId: number,
    files: readonly TorrentStats[],
    rinfo: dgram.RemoteInfo,
    started: number,
  ): void {
    const out = Buffer.allocUnsafe(8 + 12 * files.length);
    const length = writeScrapeReply(out, transactionId, files);
    this.send(out, length, rinfo);
    this.c.scrapeOk.inc();
    this.latency.scrape.observe((performance.now() - started) / 1000);
  }

  private sendError(transactionId: number, message: string, rinfo: dgram.RemoteInfo): void {
    const out = Buffer.allocUnsafe(8 + Buffer.byteLength(message));
    const length = writeErrorReply(out, transactionId, message);
    this.send(out, length, rinfo);
  }

  private send(out: Buffer, length: number, rinfo: dgram.RemoteInfo): void {
    // The socket is gone once stop() finished waiting; late replies are dropped.
    this.socket?.send(out, 0, length, rinfo.port, rinfo.address);
  }
}


/** IPv4 clients (including IPv4-mapped on a dual-stack socket) get 6-byte peers, IPv6 clients 18-byte peers. */
function peerLengthOf(rinfo: dgram.RemoteInfo): 6 | 18 {
  return rinfo.family === 'IPv4' || rinfo.address.startsWith('::ffff:') ? 6 : 18;
}
