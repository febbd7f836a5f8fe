import type { ScrapeRequest, TorrentStats } from '../../../lib/tracker/scrape.js';
import type { SwarmReply } from '../../../lib/tracker/swarm.js';
import {
  parseUdpRequest,
  UDP_SAFE_PAYLOAD,
  writeAnnounceReply,
  writeConnectReply,
  writeErrorReply,
  writeScrapeReply,
} from '../../../lib/protocol/udp/server.js';
import { isUsableUnicast } from '../../../lib/net/ip.js';
import { createBatchUdpSocket, nativeUdpStatus, type BatchUdpSocket, type ReceivedBatch, type UdpEndpoint } from '../../../lib/net/udp/index.js';
import type { Config } from '../../../lib/runtime/config.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import type { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import type { RequestPipeline } from '../pipeline/pipeline.js';
import { describeFailure } from '../../../lib/transport/replies.js';
import { clientAnnounceFromUdp } from './client-announce.js';
import type { ConnectionIds } from './connection-id.js';

export interface UdpFrontendOptions {
  host: string;
  port: number;
  maxScrapeHashes: number;
  socketBufferBytes: number;
  /** udp.batchedIo: auto (native recvmmsg/sendmmsg, else node:dgram with a warning), required (native or refuse to start), off (node:dgram). */
  batchedIo: Config['udp']['batchedIo'];
  connectionIds: ConnectionIds;
  /** Hooks, then the swarm: every announce and scrape goes through it. */
  pipeline: RequestPipeline;
  metrics: TrackerMetrics;
  logger: Logger;
}

const SCRAPE_EMPTY = 'full scrapes are not allowed';

/**
 * BEP 15 frontend. Parses datagrams, checks connection ids, hands each
 * announce and scrape to the request pipeline (hooks, then the swarm) and
 * writes replies; a hook's refusal is an error packet. Holds no peer state. Datagrams come
 * and go in batches (recvmmsg/sendmmsg through the native addon; one at a
 * time through node:dgram where the addon is not built).
 *
 * Replies are never sent to a source that has not proven it can receive at
 * its address (a valid connection id), except the 16-byte connect reply, so
 * the tracker cannot be used to amplify traffic at a spoofed victim.
 */
export class UdpFrontend {
  private socket: BatchUdpSocket | undefined;
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
    m.observeUdpBatchedIo(() => this.batched);
  }

  async start(): Promise<void> {
    const mode = this.options.batchedIo;
    if (mode !== 'off') {
      const status = nativeUdpStatus();
      if (!status.available) {
        const reason = status.error ?? 'unknown reason';
        if (mode === 'required') {
          throw new Error(
            `udp.batchedIo is "required" but the native UDP addon cannot be used: ${reason}. Build it with \`npm run build:native\` (needs a C compiler and Node's headers), or set udp.batchedIo=auto to fall back to node:dgram`,
          );
        }
        this.options.logger.warn('native UDP addon unavailable: falling back to node:dgram, one system call per datagram (udp.batchedIo=required makes this a start failure)', { reason });
      }
    }
    const socket = createBatchUdpSocket({
      implementation: mode === 'off' ? 'dgram' : mode === 'required' ? 'native' : 'auto',
      // "::" serves IPv4 too (reported as IPv4); a specific v6 address does not.
      ipv6Only: false,
      recvBufferSize: this.options.socketBufferBytes,
      sendBufferSize: this.options.socketBufferBytes,
      // BEP 15 requests are small; a scrape of 74 hashes is 1,496 bytes.
      maxDatagramSize: 2048,
      maxReplyLength: 2048,
    });
    socket.onBatch((batch) => this.onBatch(batch));
    socket.onError((error) => this.options.logger.error('udp socket error', { error }));
    await socket.bind(this.options.host, this.options.port);
    this.socket = socket;
    this.accepting = true;
    this.options.logger.debug('udp socket', { batched: socket.native });
  }

  get port(): number {
    return this.socket?.port ?? 0;
  }

  /** True when datagrams are read and written in batches by the native addon (recvmmsg/sendmmsg). */
  get batched(): boolean {
    return this.socket?.native ?? false;
  }

  /** Stops reading new datagrams, waits (bounded) for in-flight replies, closes. */
  async stop(deadlineMs: number): Promise<void> {
    this.accepting = false;
    this.socket?.setReceiving(false);
    const until = Date.now() + deadlineMs;
    while (this.pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      socket.flush();
      await socket.close();
    }
  }

  private onBatch(batch: ReceivedBatch): void {
    if (!this.accepting) return;
    const started = performance.now();
    for (let i = 0; i < batch.count; i++) this.onDatagram(batch, i, started);
  }

  /** `batch.data(i)` and `batch.address(i)` are views into reused memory: nothing here may keep them. */
  private onDatagram(batch: ReceivedBatch, i: number, started: number): void {
    const address = batch.address(i);
    // A spoofed multicast/broadcast/unspecified source: no reply may go
    // there (it would reach hosts that never asked) and no peer may carry it.
    if (!isUsableUnicast(address)) {
      this.c.invalidDropped.inc();
      return;
    }
    // A datagram longer than the receive slot arrives cut to its first
    // bytes (batch.truncated(i)); every request is read from its start and
    // trailing bytes are never needed, so it is parsed as it is: a scrape
    // of more hashes than fit is answered for the hashes that did.
    const request = parseUdpRequest(batch.data(i), this.options.maxScrapeHashes);
    switch (request.type) {
      case 'connect': {
        const id = this.connectionIdScratch;
        this.options.connectionIds.issue(address, id);
        const transactionId = request.transactionId;
        batch.reply(i, (out) => writeConnectReply(out, transactionId, id[0], id[1]));
        this.c.connectOk.inc();
        this.latency.connect.observe((performance.now() - started) / 1000);
        return;
      }
      case 'announce': {
        if (!this.options.connectionIds.verify(address, request.connectionIdHigh, request.connectionIdLow)) {
          this.c.announceDropped.inc();
          return;
        }
        const peerLength = address.length === 4 ? 6 : 18;
        const swarmRequest = clientAnnounceFromUdp(request, address);
        const transactionId = request.transactionId;
        // Answered within this call (hook refusal, in-process swarm): into this batch; later: to a copy of the source.
        let to: ReplyTarget | undefined;
        const answered = this.options.pipeline.announce(swarmRequest, (reply) => {
          if (to === undefined) {
            this.onAnnounceReply(reply, { batch, index: i }, transactionId, peerLength, started);
          } else {
            this.pending--;
            this.onAnnounceReply(reply, to, transactionId, peerLength, started);
          }
        });
        if (!answered) {
          to = batch.source(i);
          this.pending++;
        }
        return;
      }
      case 'scrape': {
        if (!this.options.connectionIds.verify(address, request.connectionIdHigh, request.connectionIdLow)) {
          this.c.scrapeDropped.inc();
          return;
        }
        if (request.infoHashes.length === 0) {
          this.replyError({ batch, index: i }, request.transactionId, SCRAPE_EMPTY);
          this.c.scrapeError.inc();
          return;
        }
        const transactionId = request.transactionId;
        const scrape: ScrapeRequest = { type: 'scrape', infoHashes: request.infoHashes };
        let to: ReplyTarget | undefined;
        const answered = this.options.pipeline.scrape(scrape, (reply) => {
          const target = to ?? { batch, index: i };
          if (to !== undefined) this.pending--;
          if (reply.type !== 'scrape') {
            const failure = describeFailure(reply);
            this.replyError(target, transactionId, failure.message);
            (failure.result === 'unavailable' ? this.c.scrapeUnavailable : this.c.scrapeError).inc();
            return;
          }
          this.replyScrape(target, transactionId, reply.files, started);
        });
        if (!answered) {
          to = batch.source(i);
          this.pending++;
        }
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
          this.replyError({ batch, index: i }, request.transactionId, request.reason);
          this.c.invalidError.inc();
        } else {
          this.c.invalidDropped.inc();
        }
      }
    }
  }

  private onAnnounceReply(reply: SwarmReply, to: ReplyTarget, transactionId: number, peerLength: 6 | 18, started: number): void {
    if (reply.type !== 'announce') {
      const failure = describeFailure(reply);
      this.replyError(to, transactionId, failure.message);
      (failure.result === 'denied' ? this.c.announceDenied : failure.result === 'error' ? this.c.announceError : this.c.announceUnavailable).inc();
      return;
    }
    let peers = reply.peers;
    if (20 + peers.length > UDP_SAFE_PAYLOAD) {
      // A configured default numwant larger than a datagram holds: cut at a whole entry.
      peers = peers.subarray(0, Math.floor((UDP_SAFE_PAYLOAD - 20) / peerLength) * peerLength);
    }
    const { interval, incomplete, complete } = reply;
    this.reply(to, (out) => writeAnnounceReply(out, transactionId, interval, incomplete, complete, peers), 20 + peers.length);
    this.c.announceOk.inc();
    this.latency.announce.observe((performance.now() - started) / 1000);
  }

  private replyScrape(to: ReplyTarget, transactionId: number, files: readonly TorrentStats[], started: number): void {
    this.reply(to, (out) => writeScrapeReply(out, transactionId, files), 8 + 12 * files.length);
    this.c.scrapeOk.inc();
    this.latency.scrape.observe((performance.now() - started) / 1000);
  }

  private replyError(to: ReplyTarget, transactionId: number, message: string): void {
    this.reply(to, (out) => writeErrorReply(out, transactionId, message), 8 + Buffer.byteLength(message));
  }

  /** Inside the batch handler replies join the batch's sendmmsg; later ones go out on the next flush. */
  private reply(to: ReplyTarget, write: (out: Uint8Array) => number, maxLength: number): void {
    if ('batch' in to) to.batch.reply(to.index, write, maxLength);
    // The socket is gone once stop() finished waiting; late replies are dropped.
    else this.socket?.send(to, write, maxLength);
  }
}

/** Where a reply goes: the datagram being handled (same batch), or a copied source for a later reply. */
type ReplyTarget = { readonly batch: ReceivedBatch; readonly index: number } | UdpEndpoint;

