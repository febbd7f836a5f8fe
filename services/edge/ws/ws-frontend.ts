import { performance } from 'node:perf_hooks';
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import {
  encodeAnnounceReply,
  encodeAnswer,
  encodeOffer,
  encodeScrapeReply,
  encodeWtFailure,
  parseWtMessage,
  type WtAnnounceMessage,
  type WtScrapeMessage,
} from '../../../lib/protocol/webtorrent/server.js';
import { QueryParams } from '../../../lib/protocol/query.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { PathOnly, type RequestParams } from '../../../lib/tracker/params.js';
import type { SwarmReply } from '../../../lib/tracker/swarm.js';
import type { ClientWtAnnounce, RelaySink, SocketRef, WtAnswerRequest, WtDisconnectRequest, WtRelayMessage, WtScrapeRequest } from '../../../lib/tracker/webtorrent.js';
import type { Config } from '../../../lib/runtime/config.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import { RequestCounters, type RequestAction, type RequestResult, type TrackerMetrics } from '../../../lib/runtime/metrics.js';
import type { CounterChild, HistogramChild } from '../../../lib/runtime/fast-metrics.js';
import type { RequestPipeline } from '../pipeline/pipeline.js';
import { describeFailure } from '../../../lib/transport/replies.js';
import type { ClientAddressResolver } from '../http/client-address.js';
import { AddressLimits, addressKey, type AddressUsage } from './address-limits.js';
import { MessageRateLimit, type MessageBucket } from './message-rate.js';

export interface WsFrontendOptions {
  /** This edge's stable id; swarms address relayed messages to (edge, socket). */
  edgeId: string;
  limits: Config['webtorrent'];
  /** Where an upgrade request really came from (the socket, or a trusted proxy's header). */
  clientAddress: ClientAddressResolver;
  /** Hooks, then the swarm: every announce, answer, scrape and disconnect goes through it. */
  pipeline: RequestPipeline;
  metrics: TrackerMetrics;
  logger: Logger;
  /** Milliseconds, monotonic; for tests. Default performance.now. */
  clock?: () => number;
}

/**
 * uWebSockets.js's own idle timeout: it sees frames, and with automatic
 * pings a live peer always answers, so it only finds dead connections.
 * Sockets silent in tracker messages are closed by this frontend's sweep
 * (webtorrent.idleTimeoutSeconds).
 */
const TRANSPORT_IDLE_SECONDS = 120;
/** The idle sweep looks at every socket this often (at most), so a socket closes at most this late. */
const IDLE_SWEEP_MAX_MS = 15_000;

/** Record of sockets between upgrade and open; replaced when the socket opens. */
const NOT_OPEN: AddressUsage = Object.freeze({ key: '', sockets: 0, peers: 0 }) as AddressUsage;

interface SocketState extends MessageBucket {
  id: number;
  closed: boolean;
  /** This socket's client address (see address-limits.ts), known at upgrade. */
  addressKey: string;
  /** The client's address itself (4 or 16 bytes), for the announces' hooks. */
  address: Uint8Array;
  /** The upgrade request's path and query, which the announces' params fall back to. */
  params: RequestParams;
  /** Its address's sockets and peers on this edge. */
  usage: AddressUsage;
  /** Clock reading of the last tracker message (announce, answer or scrape), or of the open. */
  lastMessageAt: number;
  /**
   * The peers this socket announced, keyed by info-hash + peer_id. One socket
   * may hold several peer_ids in one torrent: WebTorrent shares a socket per
   * tracker URL between all the clients of a page or process.
   */
  peers: Map<string, AnnouncedPeer>;
  /** Relayed offers/answers waiting for the end of this event-loop turn, and their kinds. */
  outbox: string[];
  outboxKinds: ('offer' | 'answer')[];
}

type Ws = WebSocket<SocketState>;

/** A peer a socket announced. */
interface AnnouncedPeer {
  readonly infoHash: string;
  readonly peerId: string;
  /** Clock reading of its last announce the swarm accepted; -Infinity before the first (the announce-rate floor reads it). */
  announcedAt: number;
}

/** What a socket's upgrade request carried: its path, and its query when it has one. */
function upgradeParams(path: string, query: string): RequestParams {
  return query === '' ? new PathOnly(path) : new QueryParams(path, query, null);
}

/** RFC 6455 4.1: an upgrade asks for one (Upgrade lists "websocket", case-insensitive) and carries a key. */
function isWebSocketUpgrade(req: HttpRequest): boolean {
  if (req.getHeader('sec-websocket-key') === '') return false;
  return /(^|,)\s*websocket\s*(,|$)/i.test(req.getHeader('upgrade'));
}

/** uWebSockets.js send() results. */
const SEND_DROPPED = 2;

/** The limits this frontend counts in tracker_limit_hits_total, by config key. */
const COUNTED_LIMITS = [
  'maxSocketsPerAddress',
  'maxPeersPerAddress',
  'maxMessagesPerSecond',
  'idleTimeoutSeconds',
  'maxTorrentsPerSocket',
  'maxOffersPerAnnounce',
  'maxScrapeHashes',
  'maxMessageBytes',
  'maxBackpressureBytes',
] as const;

/**
 * WebTorrent tracking over WebSocket. A socket may carry many torrents; its
 * peers live on the swarms, and this frontend remembers which (info-hash,
 * peer_id) pairs each socket announced so that closing the socket removes
 * them all at once. Relayed offers and answers arrive through `deliver`.
 *
 * Backpressure: a socket that does not read is given `maxBackpressureBytes`
 * of queued output; past that uWebSockets.js drops the message and this
 * frontend closes the socket, so a slow reader cannot grow memory.
 *
 * Abuse: sockets and peers are capped per client address (refused at the
 * upgrade with HTTP 429, and with a failure per announce); each socket has
 * a message budget (a token bucket) and is closed with 1008 when it spends
 * more; a socket that sends no tracker message for `idleTimeoutSeconds` is
 * closed by a coarse periodic sweep. Every refusal is counted under its
 * config key in tracker_limit_hits_total.
 */
export class WsFrontend implements RelaySink {
  private readonly sockets = new Map<number, Ws>();
  private readonly addresses: AddressLimits;
  private readonly rate: MessageRateLimit;
  private readonly clock: () => number;
  private readonly idleMs: number;
  private idleSweep: NodeJS.Timeout | undefined;
  private readonly hits: Record<(typeof COUNTED_LIMITS)[number], CounterChild>;
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
    this.hits = Object.fromEntries(COUNTED_LIMITS.map((key) => [key, m.limitCounter(`webtorrent.${key}`)])) as WsFrontend['hits'];
    m.observeWebSockets(() => this.sockets.size);
    const limits = options.limits;
    this.addresses = new AddressLimits(limits.maxSocketsPerAddress, limits.maxPeersPerAddress);
    this.rate = new MessageRateLimit(limits.maxMessagesPerSecond, limits.messageBurst);
    this.clock = options.clock ?? (() => performance.now());
    this.idleMs = limits.idleTimeoutSeconds * 1000;
  }

  /** Client addresses with an open socket (each holds one small record). */
  get openAddresses(): number {
    return this.addresses.addresses;
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
      idleTimeout: TRANSPORT_IDLE_SECONDS,
      maxBackpressure: limits.maxBackpressureBytes,
      closeOnBackpressureLimit: 0, // send() reports the drop and this frontend closes the socket itself
      sendPingsAutomatically: true,
      // uWebSockets.js runs the WebSocket route before any HTTP route and
      // upgrades whatever carries a Sec-WebSocket-Key; onUpgrade passes a
      // plain GET with a stray key on to the HTTP routes.
      upgrade: (res, req, context) => this.onUpgrade(res, req, context),
      open: (ws) => {
        const state = ws.getUserData();
        state.id = this.nextSocketId++;
        // Counted here, not at the upgrade: a socket that never opens never closes either.
        state.usage = this.addresses.opened(state.addressKey);
        const now = this.clock();
        state.lastMessageAt = now;
        this.rate.fill(state, now);
        this.sockets.set(state.id, ws);
      },
      message: (ws, message) => {
        const state = ws.getUserData();
        if (state.closed) return;
        const now = this.clock();
        if (!this.rate.take(state, now)) {
          this.hits.maxMessagesPerSecond.inc();
          ws.end(1008, `too many messages: over ${limits.maxMessagesPerSecond} per second`);
          return;
        }
        this.onMessage(ws, state, Buffer.from(message).toString('utf8'), now);
      },
      close: (ws, code, reason) => this.onClose(ws, code, reason),
    });
    const sweepMs = Math.min(IDLE_SWEEP_MAX_MS, Math.max(1000, this.idleMs / 8));
    this.idleSweep = setInterval(() => this.closeIdle(this.clock()), sweepMs);
    this.idleSweep.unref();
  }

  /** Closes every socket (shutdown); their peers are removed as each closes. */
  closeAll(): void {
    if (this.idleSweep) clearInterval(this.idleSweep);
    this.idleSweep = undefined;
    for (const ws of [...this.sockets.values()]) {
      if (!ws.getUserData().closed) ws.end(1001, 'tracker shutting down');
    }
  }

  /**
   * Refuses the upgrade (HTTP 429, connection closed) when the client's
   * address already has maxSocketsPerAddress sockets open here.
   */
  private onUpgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    if (!isWebSocketUpgrade(req)) {
      // A plain GET /announce with a stray key is an announce (RFC 6455 4.1).
      req.setYield(true);
      return;
    }
    const address = this.options.clientAddress.resolve(new Uint8Array(res.getRemoteAddress()), req);
    const key = addressKey(address);
    if (!this.addresses.canOpen(key)) {
      this.hits.maxSocketsPerAddress.inc();
      res
        .writeStatus('429 Too Many Requests')
        .writeHeader('Retry-After', '60')
        .writeHeader('Content-Type', 'text/plain')
        .end(`too many WebSocket connections from your address (limit ${this.addresses.maxSockets}); close some or try again later\n`, true);
      return;
    }
    const state: SocketState = {
      id: 0,
      closed: false,
      addressKey: key,
      address,
      params: upgradeParams(req.getUrl(), req.getQuery() ?? ''),
      usage: NOT_OPEN,
      lastMessageAt: 0,
      tokens: 0,
      refilledAt: 0,
      peers: new Map(),
      outbox: [],
      outboxKinds: [],
    };
    res.upgrade(state, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
  }

  /**
   * Closes sockets that sent no tracker message for idleTimeoutSeconds. One
   * pass over the sockets per sweep, no timer per socket: pings answered by
   * the client's WebSocket stack do not count.
   */
  closeIdle(now: number): number {
    const cutoff = now - this.idleMs;
    let idle: Ws[] | undefined;
    for (const ws of this.sockets.values()) {
      const state = ws.getUserData();
      if (!state.closed && state.lastMessageAt < cutoff) (idle ??= []).push(ws);
    }
    if (!idle) return 0;
    // Closed after the pass: closing runs the close handler, which edits the map.
    for (const ws of idle) {
      this.hits.idleTimeoutSeconds.inc();
      ws.end(1000, `idle: no tracker message for ${this.options.limits.idleTimeoutSeconds} s`);
    }
    return idle.length;
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

  private onMessage(ws: Ws, state: SocketState, text: string, started: number): void {
    const limits = this.options.limits;
    const message = parseWtMessage(text, { maxOffers: limits.maxOffersPerAnnounce, maxScrapeHashes: limits.maxScrapeHashes }, state.params);
    // Only tracker messages keep a socket open; junk gets failures and does not.
    if (message.type !== 'invalid') state.lastMessageAt = started;
    switch (message.type) {
      case 'invalid':
        this.send(ws, encodeWtFailure(message.reason, { action: message.action, infoHash: message.infoHash }));
        this.count('invalid', 'error');
        return;
      case 'scrape':
        if (message.truncated) this.hits.maxScrapeHashes.inc();
        this.onScrape(ws, message, started);
        return;
      case 'announce':
        if (message.answer) this.onAnswer(ws, message);
        else {
          if (message.offersTruncated) this.hits.maxOffersPerAnnounce.inc();
          this.onAnnounce(ws, message, started);
        }
    }
  }

  private onAnnounce(ws: Ws, message: WtAnnounceMessage, started: number): void {
    const state = ws.getUserData();
    const { infoHash, peerId } = message;
    const failure = (reason: string, result: RequestResult): void => {
      this.send(ws, encodeWtFailure(reason, { action: 'announce', infoHash }));
      this.count('announce', result);
    };
    const key = infoHash + peerId;
    let peer = state.peers.get(key);
    const known = peer !== undefined;
    const stopping = message.event === AnnounceEvent.Stopped;
    if (!known && !stopping) {
      const limits = this.options.limits;
      if (state.peers.size >= limits.maxTorrentsPerSocket) {
        this.hits.maxTorrentsPerSocket.inc();
        failure(`too many torrents on one connection (limit ${limits.maxTorrentsPerSocket})`, 'error');
        return;
      }
      if (!this.addresses.tryAddPeer(state.usage)) {
        this.hits.maxPeersPerAddress.inc();
        failure(`too many peers announced from your address (limit ${limits.maxPeersPerAddress}); stop some torrents or try again later`, 'error');
        return;
      }
      // Recorded before the swarm answers, so a close racing this announce still removes the peer.
      peer = { infoHash, peerId, announcedAt: -Infinity };
      state.peers.set(key, peer);
    }
    const request: ClientWtAnnounce = {
      type: 'wt-announce',
      infoHash,
      peerId,
      from: { edge: this.options.edgeId, socket: state.id },
      event: message.event,
      seeder: message.left === 0,
      offers: message.offers,
      left: message.left,
      uploaded: message.uploaded,
      downloaded: message.downloaded,
      address: state.address,
      params: message.params,
      sinceLastAnnounce: peer === undefined ? Infinity : (started - peer.announcedAt) / 1000,
    };
    this.dispatch(request, (reply) => {
      if (reply.type !== 'wt-announce') {
        if (!known) this.forgetPeer(state, key);
        if (state.closed) return;
        const why = describeFailure(reply);
        failure(why.message, why.result);
        return;
      }
      if (stopping) this.forgetPeer(state, key);
      else if (peer !== undefined) peer.announcedAt = started;
      if (state.closed) return;
      this.send(ws, encodeAnnounceReply({ infoHash, interval: reply.interval, complete: reply.complete, incomplete: reply.incomplete }));
      this.count('announce', 'ok');
      this.latency.announce.observe((this.clock() - started) / 1000);
    });
  }

  private onAnswer(ws: Ws, message: WtAnnounceMessage): void {
    const state = ws.getUserData();
    const answer = message.answer!;
    const request: WtAnswerRequest = {
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
    const hashes = message.infoHashes;
    this.dispatch({ type: 'wt-scrape', infoHashes: hashes }, (reply) => {
      if (reply.type === 'wt-scrape') {
        if (state.closed) return;
        const files = reply.files;
        this.send(ws, encodeScrapeReply(hashes.map((hash, i) => [hash, files[i]] as const)));
        this.count('scrape', 'ok');
        this.latency.scrape.observe((this.clock() - started) / 1000);
      } else {
        const why = describeFailure(reply);
        this.count('scrape', why.result);
        if (!state.closed) this.send(ws, encodeWtFailure(why.message, { action: 'scrape' }));
      }
    }, state.params);
  }

  /** Drops one of the socket's peers from its own and its address's counts (a no-op once the socket closed). */
  private forgetPeer(state: SocketState, key: string): void {
    if (state.peers.delete(key)) this.addresses.removePeer(state.usage);
  }

  private onClose(ws: Ws, code: number, reason: ArrayBuffer): void {
    const state = ws.getUserData();
    state.closed = true;
    this.sockets.delete(state.id);
    this.addresses.closed(state.usage, state.peers.size);
    // uWebSockets.js reports a frame over maxPayloadLength as 1006 with this text (not 1009).
    if (code === 1009 || (code === 1006 && Buffer.from(reason).toString() === 'Received too big message')) {
      this.dropped.oversize.inc();
      this.hits.maxMessageBytes.inc();
    }
    if (state.peers.size === 0) return;
    const peers = [...state.peers.values()];
    state.peers.clear();
    this.dispatch({ type: 'wt-disconnect', from: { edge: this.options.edgeId, socket: state.id }, peers }, (reply) => {
      if (reply.type === 'error') this.options.logger.warn('could not remove the peers of a closed socket', { error: reply.message });
    });
  }

  /** Hands `request` to the pipeline; counts it in flight while a swarm over gRPC answers. */
  /** `params`: the socket's upgrade path and query (a scrape's passkey). */
  private dispatch(request: ClientWtAnnounce | WtAnswerRequest | WtScrapeRequest | WtDisconnectRequest, onReply: (reply: SwarmReply) => void, params?: RequestParams): void {
    let later = false;
    const answer = (reply: SwarmReply): void => {
      if (later) this.pending--;
      onReply(reply);
    };
    const pipeline = this.options.pipeline;
    let answered: boolean;
    switch (request.type) {
      case 'wt-announce':
        answered = pipeline.wtAnnounce(request, answer);
        break;
      case 'wt-answer':
        answered = pipeline.wtAnswer(request, answer);
        break;
      case 'wt-scrape':
        answered = pipeline.scrape(request, answer, params);
        break;
      case 'wt-disconnect':
        answered = pipeline.wtDisconnect(request, answer);
    }
    if (answered) return;
    later = true;
    this.pending++;
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
      this.hits.maxBackpressureBytes.inc();
      // Closing runs the close handler at once, which would change the swarm
      // while it may still be relaying this very announce: close just after.
      state.closed = true;
      setImmediate(() => ws.end(1013, 'too slow: messages dropped'));
      return false;
    }
    return true;
  }
}
