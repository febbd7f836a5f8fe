import type { HttpRequest, TemplatedApp, WebSocket } from 'uWebSockets.js';
import {
  encodeAnnounceReply,
  encodeAnswer,
  encodeOffer,
  encodeScrapeReply,
  encodeWtFailure,
  parseWtMessage,
  type WtAnnounceMessage,
  type WtScrapeMessage,
} from '../../../lib/protocol/webtorrent.js';
import {
  AnnounceEvent,
  type RelaySink,
  type SocketRef,
  type SwarmReply,
  type SwarmRequest,
  type WtRelayMessage,
} from '../../../lib/transport/messages.js';
import type { Config } from '../../../lib/runtime/config.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import { RequestCounters, type RequestAction, type RequestResult, type TrackerMetrics } from '../../../lib/runtime/metrics.js';
import type { CounterChild, HistogramChild } from '../../../lib/runtime/fast-metrics.js';
import type { SwarmRouter } from '../router.js';
import { describeFailure } from '../../../lib/transport/replies.js';
import { ScrapeSelection, type InfoHashPolicy } from '../info-hash-policy.js';

export interface WsFrontendOptions {
  /** This edge's stable id; swarms address relayed messages to (edge, socket). */
  edgeId: string;
  limits: Config['webtorrent'];
  router: SwarmRouter;
  policy: InfoHashPolicy;
  metrics: TrackerMetrics;
  logger: Logger;
}

interface SocketState {
  id: number;
  closed: boolean;
  /**
   * The peers this socket announced, keyed by info-hash + peer_id. One socket
   * may hold several peer_ids in one torrent: WebTorrent shares a socket per
   * tracker URL between all the clients of a page or process.
   */
  peers: Map<string, { readonly infoHash: string; readonly peerId: string }>;
  /** Relayed offers/answers waiting for the end of this event-loop turn, and their kinds. */
  outbox: string[];
  outboxKinds: ('offer' | 'answer')[];
}

type Ws = WebSocket<SocketState>;

/** RFC 6455 4.1: an upgrade asks for one (Upgrade lists "websocket", case-insensitive) and carries a key. */
function isWebSocketUpgrade(req: HttpRequest): boolean {
  if (req.getHeader('sec-websocket-key') === '') return false;
  return /(^|,)\s*websocket\s*(,|$)/i.test(req.getHeader('upgrade'));
}

/** uWebSockets.js send() results. */
const SEND_DROPPED = 2;

/**
 * WebTorrent tracking over WebSocket. A socket may carry many torrents; its
 * peers live on the swarms, and this frontend remembers which (info-hash,
 * peer_id) pairs each socket announced so that closing the socket removes
 * them all at once. Relayed offers and answers arrive through `deliver`.
 *
 * Backpressure: a socket that does not read is given `maxBackpressureBytes`
 * of queued output; past that uWebSockets.js drops the message and this
 * frontend closes the socket, so a slow reader cannot grow memory.
 */
export class WsFrontend implements RelaySink {
  private readonly sockets = new Map<number, Ws>();
  private nextSocketId = 1;
  /** Sockets with relayed messages in their outbox, flushed once per event-loop turn. */
  private flushQueue: { ws: Ws; state: SocketState }[] = [];
  private pending = 0;
  private readonly counters: RequestCounters;
  private readonly latency: Record<'announce' | 'scrape', HistogramChild>;
  private readonly relayed: Record<'offer' | 'answer', CounterChild>;
  private readonly dropped: Record<'backpressure' | 'gone' | 'oversize', CounterChild>;

  constructor(private readonly options: WsFrontendOptions) {
    const m = options.metrics;
    this.counters = new RequestCounters(m, 'ws');
    this.latency = { announce: m.latencyHistogram('ws', 'announce'), scrape: m.latencyHistogram('ws', 'scrape') };
    this.relayed = { offer: m.relayCounter('offer'), answer: m.relayCounter('answer') };
    this.dropped = { backpressure: m.wsDropCounter('backpressure'), gone: m.wsDropCounter('gone'), oversize: m.wsDropCounter('oversize') };
    m.observeWebSockets(() => this.sockets.size);
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  get inFlight(): number {
    return this.pending;
  }

  register(app: TemplatedApp): void {
    const limits = this.options.limits;
    app.ws<SocketState>('/*', {
      maxPayloadLength: limits.maxMessageBytes,
      idleTimeout: limits.idleTimeoutSeconds,
      maxBackpressure: limits.maxBackpressureBytes,
      closeOnBackpressureLimit: 0, // send() reports the drop and this frontend closes the socket itself
      sendPingsAutomatically: true,
      // uWebSockets.js runs the WebSocket route before any HTTP route and
      // upgrades whatever carries a Sec-WebSocket-Key. A plain GET /announce
      // with a stray key is an announce: pass it on to the HTTP routes.
      upgrade: (res, req, context) => {
        if (!isWebSocketUpgrade(req)) {
          req.setYield(true);
          return;
        }
        res.upgrade(
          {} as SocketState,
          req.getHeader('sec-websocket-key'),
          req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      },
      open: (ws) => {
        const state = ws.getUserData();
        state.id = this.nextSocketId++;
        state.closed = false;
        state.peers = new Map();
        state.outbox = [];
        state.outboxKinds = [];
        this.sockets.set(state.id, ws);
      },
      message: (ws, message) => this.onMessage(ws, Buffer.from(message).toString('utf8')),
      close: (ws, code, reason) => this.onClose(ws, code, reason),
    });
  }

  /** Closes every socket (shutdown); their peers are removed as each closes. */
  closeAll(): void {
    for (const ws of [...this.sockets.values()]) {
      if (!ws.getUserData().closed) ws.end(1001, 'tracker shutting down');
    }
  }

  deliver(to: SocketRef, message: WtRelayMessage): void {
    const ws = to.edge === this.options.edgeId ? this.sockets.get(to.socket) : undefined;
    if (!ws || ws.getUserData().closed) {
      this.dropped.gone.inc();
      return;
    }
    const text =
      message.kind === 'offer'
        ? encodeOffer({ infoHash: message.infoHash, fromPeerId: message.fromPeerId, offerId: message.offerId, offer: message.offer })
        : encodeAnswer({ infoHash: message.infoHash, fromPeerId: message.fromPeerId, offerId: message.offerId, answer: message.answer });
    // Held to the end of the turn: the offers and answers a socket gets from
    // many announces then leave in one corked write (one syscall) instead of
    // one each.
    const state = ws.getUserData();
    if (state.outbox.length === 0) {
      if (this.flushQueue.length === 0) setImmediate(this.flushRelays);
      this.flushQueue.push({ ws, state });
    }
    state.outbox.push(text);
    state.outboxKinds.push(message.kind);
  }

  private readonly flushRelays = (): void => {
    const queue = this.flushQueue;
    this.flushQueue = [];
    for (const { ws, state } of queue) {
      const { outbox, outboxKinds } = state;
      // Our own flag, not the socket: uWS throws on any use of a closed one.
      if (state.closed) this.dropped.gone.inc(outbox.length);
      else {
        ws.cork(() => {
          for (let i = 0; i < outbox.length; i++) if (this.send(ws, outbox[i])) this.relayed[outboxKinds[i]].inc();
        });
      }
      // Emptied in place (send never adds to an outbox): no new arrays per turn.
      outbox.length = 0;
      outboxKinds.length = 0;
    }
  };

  private count(action: RequestAction, result: RequestResult): void {
    this.counters.inc(action, result);
  }

  private onMessage(ws: Ws, text: string): void {
    const started = performance.now();
    const limits = this.options.limits;
    const message = parseWtMessage(text, { maxOffers: limits.maxOffersPerAnnounce, maxScrapeHashes: limits.maxScrapeHashes });
    switch (message.type) {
      case 'invalid':
        this.send(ws, encodeWtFailure(message.reason, { action: message.action, infoHash: message.infoHash }));
        this.count('invalid', 'error');
        return;
      case 'scrape':
        this.onScrape(ws, message, started);
        return;
      case 'announce':
        if (message.answer) this.onAnswer(ws, message);
        else this.onAnnounce(ws, message, started);
    }
  }

  private onAnnounce(ws: Ws, message: WtAnnounceMessage, started: number): void {
    const state = ws.getUserData();
    const { infoHash, peerId } = message;
    const failure = (reason: string, result: RequestResult): void => {
      this.send(ws, encodeWtFailure(reason, { action: 'announce', infoHash }));
      this.count('announce', result);
    };
    if (!this.options.policy.allows(infoHash)) {
      failure('torrent not allowed on this tracker', 'denied');
      return;
    }
    const key = infoHash + peerId;
    const known = state.peers.has(key);
    const stopping = message.event === AnnounceEvent.Stopped;
    if (!known && !stopping) {
      if (state.peers.size >= this.options.limits.maxTorrentsPerSocket) {
        failure(`too many torrents on one connection (limit ${this.options.limits.maxTorrentsPerSocket})`, 'error');
        return;
      }
      // Recorded before the swarm answers, so a close racing this announce still removes the peer.
      state.peers.set(key, { infoHash, peerId });
    }
    const request: SwarmRequest = {
      type: 'wt-announce',
      infoHash,
      peerId,
      from: { edge: this.options.edgeId, socket: state.id },
      event: message.event,
      seeder: message.left === 0,
      offers: message.offers,
    };
    this.dispatch(request, (reply) => {
      if (reply.type !== 'wt-announce') {
        if (!known) state.peers.delete(key);
        if (state.closed) return;
        const why = describeFailure(reply);
        failure(why.message, why.result);
        return;
      }
      if (stopping) state.peers.delete(key);
      if (state.closed) return;
      this.send(ws, encodeAnnounceReply({ infoHash, interval: reply.interval, complete: reply.complete, incomplete: reply.incomplete }));
      this.count('announce', 'ok');
      this.latency.announce.observe((performance.now() - started) / 1000);
    });
  }

  private onAnswer(ws: Ws, message: WtAnnounceMessage): void {
    const state = ws.getUserData();
    const answer = message.answer!;
    if (!this.options.policy.allows(message.infoHash)) {
      this.send(ws, encodeWtFailure('torrent not allowed on this tracker', { action: 'announce', infoHash: message.infoHash }));
      this.count('answer', 'denied');
      return;
    }
    const request: SwarmRequest = {
      type: 'wt-answer',
      infoHash: message.infoHash,
      peerId: message.peerId,
      from: { edge: this.options.edgeId, socket: state.id },
      toPeerId: answer.toPeerId,
      offerId: answer.offerId,
      answer: answer.answer,
    };
    this.dispatch(request, (reply) => {
      if (reply.type === 'wt-answer') {
        this.count('answer', 'ok');
        return;
      }
      const why = describeFailure(reply);
      this.count('answer', why.result);
      if (!state.closed) this.send(ws, encodeWtFailure(why.message, { action: 'announce', infoHash: message.infoHash }));
    });
  }

  private onScrape(ws: Ws, message: WtScrapeMessage, started: number): void {
    const state = ws.getUserData();
    if (message.infoHashes.length === 0) {
      this.send(ws, encodeWtFailure('full scrapes are not allowed', { action: 'scrape' }));
      this.count('scrape', 'error');
      return;
    }
    const selection = new ScrapeSelection(message.infoHashes, this.options.policy);
    const respond = (files: readonly { complete: number; incomplete: number; downloaded: number }[]): void => {
      if (state.closed) return;
      const stats = selection.spread(files);
      this.send(ws, encodeScrapeReply(selection.hashes.map((hash, i) => [hash, stats[i]] as const)));
      this.count('scrape', 'ok');
      this.latency.scrape.observe((performance.now() - started) / 1000);
    };
    if (selection.allowed.length === 0) {
      respond([]);
      return;
    }
    this.dispatch({ type: 'wt-scrape', infoHashes: selection.allowed }, (reply) => {
      if (reply.type === 'wt-scrape') {
        respond(reply.files);
      } else {
        const why = describeFailure(reply);
        this.count('scrape', why.result);
        if (!state.closed) this.send(ws, encodeWtFailure(why.message, { action: 'scrape' }));
      }
    });
  }

  private onClose(ws: Ws, code: number, reason: ArrayBuffer): void {
    const state = ws.getUserData();
    state.closed = true;
    this.sockets.delete(state.id);
    // uWebSockets.js reports a frame over maxPayloadLength as 1006 with this text (not 1009).
    if (code === 1009 || (code === 1006 && Buffer.from(reason).toString() === 'Received too big message')) this.dropped.oversize.inc();
    if (state.peers.size === 0) return;
    const peers = [...state.peers.values()];
    state.peers.clear();
    this.dispatch({ type: 'wt-disconnect', from: { edge: this.options.edgeId, socket: state.id }, peers }, (reply) => {
      if (reply.type === 'error') this.options.logger.warn('could not remove the peers of a closed socket', { error: reply.message });
    });
  }

  private dispatch(request: SwarmRequest, onReply: (reply: SwarmReply) => void): void {
    const now = this.options.router.trySync(request);
    if (now) {
      onReply(now);
      return;
    }
    this.pending++;
    this.options.router.request(request, (reply) => {
      this.pending--;
      onReply(reply);
    });
  }

  /** Sends unless the socket is gone; a slow reader over its backpressure budget is closed. */
  private send(ws: Ws, text: string): boolean {
    const state = ws.getUserData();
    if (state.closed) {
      this.dropped.gone.inc();
      return false;
    }
    if (ws.send(text, false) === SEND_DROPPED) {
      this.dropped.backpressure.inc();
      // Closing runs the close handler at once, which would change the swarm
      // while it may still be relaying this very announce: close just after.
      state.closed = true;
      setImmediate(() => ws.end(1013, 'too slow: messages dropped'));
      return false;
    }
    return true;
  }
}
