/**
 * The edge side of the edge <-> swarm wire: one GrpcTransport per swarm
 * member, carrying messages over ONE bidirectional gRPC stream
 * (tracker.v1.Swarm/Exchange, see proto/tracker.proto).
 *
 * - Each batch handed to `send` is written at once as one EdgeBatch message,
 *   stamped with the table identity it was routed with. Nothing is queued or
 *   coalesced here: the edge router holds the one queue per swarm and sizes
 *   the messages (cluster.maxBatch).
 * - Every request carries an id (a wrapping uint32 counter; a message takes
 *   a consecutive run), so replies are matched whatever order they come in.
 *   A reply message that answers one whole message in order (what our swarm
 *   sends) is handed to its callback as decoded, without a copy.
 * - `writable` is false while maxMessagesInFlight messages are unanswered,
 *   or after `write() === false` until 'drain'; `onWritable` listeners run
 *   when it turns true again (a reply, a timeout, 'drain', the stream going
 *   down), which is when the router writes its next message.
 * - Each request is answered within requestTimeoutMs of `queuedAt` (when
 *   the router queued it), if need be with ErrorReply("swarm <name> timed
 *   out") (late replies are dropped).
 * - When the stream ends or fails, everything outstanding is answered with
 *   ErrorReply("swarm <name> unavailable") and, until a new stream is open,
 *   sends fail the same way at once instead of waiting. The stream is
 *   reopened by this class (short backoff, then as soon as the channel is
 *   READY); the channel reconnects by itself with a 100 ms .. 2 s backoff.
 * - WebTorrent offers/answers pushed by the swarm go to `onRelay` handlers.
 * - Exceptions thrown by `done` callbacks, relay handlers and writable
 *   listeners are caught (the transport carries on) and go to `failures`.
 * - Identity: with `authToken`, every stream carries a proof that this edge
 *   knows the token, bound to its edge id, boot nonce, the swarm's member
 *   name and the time (edge-token.ts); with TLS `credentials` carrying a
 *   client certificate, the certificate proves it. `tlsServerName` is the
 *   name the swarm's certificate must carry (swarms are dialled by IP).
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { FailureSink } from '../../runtime/failures.js';
import type { SwarmReply, SwarmRequest } from '../../tracker/swarm.js';
import type { WtRelayMessage } from '../../tracker/webtorrent.js';
import type { BatchCallback, Transport } from '../transport.js';
import type { DecodedSwarmBatch, OutgoingEdgeBatch } from './codec.js';
import { METADATA, PROTOCOL_VERSION, swarmServiceDefinition, type WireCodec } from './service.js';
import { signEdgeProof } from './edge-token.js';
import { errorReplies, unavailableReply } from '../replies.js';

export interface GrpcTransportOptions {
  /** The swarm member's name: used in error messages and stats. */
  name: string;
  /** host:port of the swarm's gRPC listener (any grpc-js target works). */
  address: string;
  /** This edge's stable id (the `edge` of the SocketRefs it sends). */
  edgeId: string;
  /** Random per process start; default: 16 random bytes, hex. */
  bootNonce?: string;
  /** Messages written and not yet answered before `writable` turns false. Default 64. */
  maxMessagesInFlight?: number;
  /** Default 2000. */
  requestTimeoutMs?: number;
  /**
   * A stream the swarm has not acknowledged within this long is given up
   * (its requests fail as "unavailable") and reopened once the channel is
   * READY, so a black-holed address fails fast too. Default 2000.
   */
  streamOpenTimeoutMs?: number;
  /** HTTP/2 keepalive pings. Defaults 10000 / 5000. */
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** Channel reconnect backoff. Defaults 100 / 2000. */
  initialReconnectBackoffMs?: number;
  maxReconnectBackoffMs?: number;
  /** HTTP/2 flow-control window of the channel (grpc-node.flow_control_window). Default 16 MiB. */
  flowControlWindow?: number;
  /** Max message size each way. Default 64 MiB. */
  maxMessageBytes?: number;
  credentials?: grpc.ChannelCredentials;
  /** With TLS credentials: the name the swarm's certificate must carry (also sent as SNI). Default: the address's host. */
  tlsServerName?: string;
  /** Shared cluster token: each stream proves knowledge of it for this edge id (see edge-token.ts). */
  authToken?: string;
  /** Extra channel options (override the ones derived from the fields above). */
  channelOptions?: grpc.ChannelOptions;
  /** Wire codec; default the hand-written one (codec.ts). */
  codec?: WireCodec;
  /** Metrics hook: a message of `requests` requests was written. */
  onMessageSent?: (requests: number) => void;
  /** Round trip of one message (written -> last reply), in seconds. */
  onRoundTrip?: (seconds: number, requests: number) => void;
  /** `reason`: why the stream went down (as stats().lastError); '' for other states. */
  onStateChange?: (state: StreamState, reason: string) => void;
  /** Where exceptions thrown by `done` callbacks, relay handlers and writable listeners go (the transport carries on). */
  failures?: FailureSink;
}

/**
 * connecting: a stream was opened and not yet acknowledged (sends are
 *   written, grpc-js buffers them); open: the swarm acknowledged it;
 * down: no usable stream, sends fail at once; closed: close() was called.
 */
export type StreamState = 'connecting' | 'open' | 'down' | 'closed';
/** StreamState as a number, for gauges. */
export const STREAM_STATE_CODE: Readonly<Record<StreamState, number>> = { down: 0, connecting: 1, open: 2, closed: 3 };

export interface GrpcTransportStats {
  state: StreamState;
  stateCode: number;
  streamsOpened: number;
  streamFailures: number;
  /** Messages written and not answered yet. */
  inFlightMessages: number;
  inFlightRequests: number;
  messagesSent: number;
  requestsSent: number;
  messagesReceived: number;
  repliesReceived: number;
  relaysReceived: number;
  /** Replies that matched no outstanding request (late after a timeout, or duplicates). */
  repliesUnmatched: number;
  /** Requests answered with an ErrorReply by this transport, by cause. */
  timedOut: number;
  unavailable: number;
  /** Times write() returned false. */
  writeBlocked: number;
  callbackErrors: number;
  /** Round trips of answered messages: count, sum and max in seconds. */
  rttCount: number;
  rttSumSeconds: number;
  rttMaxSeconds: number;
  lastError: string;
}

type RelayHandler = (socket: number, message: WtRelayMessage) => void;

/** One message on the wire, until every request of it is answered. */
interface PendingMessage {
  readonly firstId: number;
  requests: readonly SwarmRequest[];
  done: BatchCallback;
  /** performance.now() ms by which every request must be answered. */
  readonly deadline: number;
  replies: SwarmReply[] | undefined;
  remaining: number;
  /** performance.now() when written. */
  readonly sentAt: number;
  finished: boolean;
}

type ExchangeCall = grpc.ClientDuplexStream<OutgoingEdgeBatch, DecodedSwarmBatch>;

const SHUTTING_DOWN = 'tracker is shutting down';
const NO_REQUESTS: readonly SwarmRequest[] = [];
const NO_CALLBACK: BatchCallback = () => {};

export class GrpcTransport implements Transport {
  readonly name: string;
  readonly edgeId: string;
  readonly bootNonce: string;
  /** The swarm's member name as it announced itself on the current stream ('' before). */
  swarmId = '';

  private readonly client: grpc.Client & { exchange(metadata: grpc.Metadata, options?: grpc.CallOptions): ExchangeCall };
  private readonly metadata: grpc.Metadata;
  private readonly maxMessagesInFlight: number;
  private readonly requestTimeoutMs: number;
  private readonly streamOpenTimeoutMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly relayHandlers: RelayHandler[] = [];
  private readonly writableListeners = new Set<() => void>();
  private readonly stateWaiters = new Set<() => void>();

  private call: ExchangeCall | undefined;
  private state: StreamState = 'down';
  private blocked = false;
  /** `writable` was false when last looked at: listeners are due when it turns true. */
  private full = false;
  private closed = false;
  private nextId = 1;
  /** Every written, unanswered message by first id. */
  private readonly pending = new Map<number, PendingMessage>();
  private cursor: PendingMessage | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Deadline the timer is armed for (Infinity: none). */
  private timerAt = Infinity;
  private reopenTimer: NodeJS.Timeout | undefined;
  private openTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private requests = 0;
  private readonly s: GrpcTransportStats;

  constructor(private readonly options: GrpcTransportOptions) {
    this.name = options.name;
    this.edgeId = options.edgeId;
    this.bootNonce = options.bootNonce ?? randomBytes(16).toString('hex');
    this.maxMessagesInFlight = Math.max(1, options.maxMessagesInFlight ?? 64);
    this.requestTimeoutMs = Math.max(1, options.requestTimeoutMs ?? 2000);
    this.streamOpenTimeoutMs = Math.max(1, options.streamOpenTimeoutMs ?? 2000);
    this.initialBackoffMs = options.initialReconnectBackoffMs ?? 100;
    this.maxBackoffMs = Math.max(this.initialBackoffMs, options.maxReconnectBackoffMs ?? 2000);
    this.backoffMs = this.initialBackoffMs;
    const maxMessage = options.maxMessageBytes ?? 64 * 1024 * 1024;
    const channelOptions: grpc.ChannelOptions = {
      'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? 10_000,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': this.initialBackoffMs,
      'grpc.max_reconnect_backoff_ms': this.maxBackoffMs,
      'grpc-node.flow_control_window': options.flowControlWindow ?? 16 * 1024 * 1024,
      'grpc.max_send_message_length': maxMessage,
      'grpc.max_receive_message_length': maxMessage,
      // A stream is never retried; the retry machinery would only buffer copies of what we send.
      'grpc.enable_retries': 0,
      // One connection per transport, not shared with other clients of the same address.
      'grpc.use_local_subchannel_pool': 1,
      // Nothing serves channelz here, and it stamps a Date on every message.
      'grpc.enable_channelz': 0,
      ...(options.tlsServerName ? { 'grpc.ssl_target_name_override': options.tlsServerName } : {}),
      ...options.channelOptions,
    };
    const Client = grpc.makeGenericClientConstructor(swarmServiceDefinition(options.codec), 'tracker.v1.Swarm');
    this.client = new Client(options.address, options.credentials ?? grpc.credentials.createInsecure(), channelOptions) as unknown as GrpcTransport['client'];
    this.metadata = new grpc.Metadata();
    this.metadata.set(METADATA.edgeId, Buffer.from(this.edgeId, 'utf8'));
    this.metadata.set(METADATA.bootNonce, Buffer.from(this.bootNonce, 'utf8'));
    this.metadata.set(METADATA.protocol, PROTOCOL_VERSION);
    this.s = {
      state: 'down', stateCode: 0, streamsOpened: 0, streamFailures: 0, inFlightMessages: 0, inFlightRequests: 0,
      messagesSent: 0, requestsSent: 0, messagesReceived: 0, repliesReceived: 0, relaysReceived: 0, repliesUnmatched: 0,
      timedOut: 0, unavailable: 0, writeBlocked: 0, callbackErrors: 0, rttCount: 0, rttSumSeconds: 0, rttMaxSeconds: 0,
      lastError: '',
    };
    this.openStream();
  }

  // ------------------------------------------------------------ Transport

  /** Requests written and not answered yet. */
  get inFlight(): number {
    return this.requests;
  }

  /** True when a message can be written within the cap, or when sends fail at once anyway (no stream, closed). */
  get writable(): boolean {
    return this.call === undefined || (!this.blocked && this.pending.size < this.maxMessagesInFlight);
  }

  onWritable(listener: () => void): () => void {
    this.writableListeners.add(listener);
    return () => this.writableListeners.delete(listener);
  }

  send(batch: SwarmRequest[], done: BatchCallback, tableIdentity = 0, queuedAt?: number): void {
    const n = batch.length;
    if (this.closed) return this.failSoon(n, SHUTTING_DOWN, done);
    if (n === 0) return this.failSoon(0, '', done);
    const call = this.call;
    if (!call) {
      this.s.unavailable += n;
      return this.failSoon(n, `swarm ${this.name} unavailable`, done);
    }
    const firstId = this.nextId;
    this.nextId = (firstId + n) >>> 0;
    const now = performance.now();
    const message: PendingMessage = {
      firstId,
      requests: batch,
      done,
      deadline: (queuedAt ?? now) + this.requestTimeoutMs,
      replies: undefined,
      remaining: n,
      sentAt: now,
      finished: false,
    };
    this.pending.set(firstId, message);
    this.requests += n;
    if (message.deadline < this.timerAt) this.armTimer(message.deadline);
    const s = this.s;
    s.messagesSent++;
    s.requestsSent += n;
    this.options.onMessageSent?.(n);
    if (!call.write({ firstId, requests: batch, tableIdentity })) {
      this.blocked = true;
      s.writeBlocked++;
    }
    if (!this.full && !this.writable) this.full = true;
  }

  /**
   * Stops sending. With `graceMs` > 0, messages already written get up to
   * that long to be answered; what is left is answered with ErrorReply.
   */
  async close(graceMs = 0): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (graceMs > 0 && this.pending.size > 0 && this.call) {
      await new Promise<void>((resolve) => {
        const deadline = setTimeout(resolve, graceMs);
        const check = (): void => {
          if (this.pending.size === 0 || !this.call) {
            clearTimeout(deadline);
            this.stateWaiters.delete(check);
            resolve();
          }
        };
        this.stateWaiters.add(check);
        check();
      });
    }
    this.setState('closed');
    this.disarmTimer();
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    if (this.openTimer) clearTimeout(this.openTimer);
    this.reopenTimer = this.openTimer = undefined;
    this.failAll(SHUTTING_DOWN);
    const call = this.call;
    this.call = undefined;
    if (call) {
      call.end();
      call.cancel();
    }
    this.client.close();
    for (const waiter of [...this.stateWaiters]) waiter();
    this.notifyWritable();
  }

  // ------------------------------------------------------------ extras

  /** Handles WebTorrent messages the swarm pushes (offers/answers for sockets on this edge). Returns an unsubscribe function. */
  onRelay(handler: RelayHandler): () => void {
    this.relayHandlers.push(handler);
    return () => {
      const i = this.relayHandlers.indexOf(handler);
      if (i >= 0) this.relayHandlers.splice(i, 1);
    };
  }

  get streamState(): StreamState {
    return this.state;
  }

  /** A snapshot of the counters and gauges (plain numbers). */
  stats(): GrpcTransportStats {
    return { ...this.s, state: this.state, stateCode: STREAM_STATE_CODE[this.state], inFlightMessages: this.pending.size, inFlightRequests: this.requests };
  }

  /** Resolves true once the stream is open (acknowledged by the swarm), false after `timeoutMs` or close. */
  whenOpen(timeoutMs: number): Promise<boolean> {
    if (this.state === 'open') return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), timeoutMs);
      const check = (): void => {
        if (this.state === 'open') finish(true);
        else if (this.closed) finish(false);
      };
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        this.stateWaiters.delete(check);
        resolve(ok);
      };
      this.stateWaiters.add(check);
    });
  }

  // ------------------------------------------------------------ stream

  private setState(state: StreamState): void {
    if (this.state === state) return;
    this.state = state;
    this.s.state = state;
    this.s.stateCode = STREAM_STATE_CODE[state];
    this.options.onStateChange?.(state, state === 'down' ? this.s.lastError : '');
    for (const waiter of [...this.stateWaiters]) waiter();
  }

  private openStream(): void {
    if (this.closed) return;
    const metadata = this.metadata.clone();
    if (this.options.authToken) {
      metadata.set(METADATA.edgeProof, signEdgeProof(this.options.authToken, { swarm: this.name, edgeId: this.edgeId, bootNonce: this.bootNonce }));
    }
    const call = this.client.exchange(metadata, {});
    this.call = call;
    this.blocked = false;
    this.full = false;
    this.s.streamsOpened++;
    this.setState('connecting');
    if (this.openTimer) clearTimeout(this.openTimer);
    this.openTimer = setTimeout(() => {
      this.openTimer = undefined;
      if (this.call === call && this.state === 'connecting') {
        this.onStreamEnd(call, undefined, `stream not acknowledged within ${this.streamOpenTimeoutMs} ms`);
      }
    }, this.streamOpenTimeoutMs);
    this.openTimer.unref();
    call.on('metadata', (metadata: grpc.Metadata) => {
      if (this.call !== call) return;
      if (this.openTimer) clearTimeout(this.openTimer);
      this.openTimer = undefined;
      const id = metadata.get(METADATA.swarmId)[0];
      this.swarmId = Buffer.isBuffer(id) ? id.toString('utf8') : '';
      this.backoffMs = this.initialBackoffMs;
      this.setState('open');
    });
    call.on('data', (batch: DecodedSwarmBatch) => this.onData(call, batch));
    call.on('drain', () => {
      if (this.call !== call) return;
      this.blocked = false;
      this.notifyWritable();
    });
    call.on('error', (error: grpc.ServiceError) => this.onStreamEnd(call, error));
    call.on('end', () => this.onStreamEnd(call, undefined));
  }

  private onStreamEnd(call: ExchangeCall, error: grpc.ServiceError | undefined, reason?: string): void {
    if (this.call !== call) return;
    this.call = undefined;
    this.blocked = false;
    if (this.openTimer) clearTimeout(this.openTimer);
    this.openTimer = undefined;
    this.s.streamFailures++;
    this.s.lastError = reason ?? (error ? `${grpc.status[error.code] ?? error.code}: ${error.details || error.message}` : 'stream ended by the swarm');
    try {
      call.end();
      call.cancel();
    } catch {
      // already finished
    }
    if (this.closed) return;
    this.setState('down');
    const outstanding = this.requests;
    this.failAll(`swarm ${this.name} unavailable`);
    this.s.unavailable += outstanding;
    this.scheduleReopen();
    // Sends fail at once now: whatever waits for a free message slot can be answered.
    this.notifyWritable();
  }

  private scheduleReopen(): void {
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      this.tryReopen();
    }, delay);
    this.reopenTimer.unref();
  }

  /** Opens a new stream as soon as the channel is READY (which grpc-js reaches with its own backoff). */
  private tryReopen(): void {
    if (this.closed || this.call) return;
    const channel = this.client.getChannel();
    const state = channel.getConnectivityState(true);
    if (state === grpc.connectivityState.READY) {
      this.openStream();
    } else if (state !== grpc.connectivityState.SHUTDOWN) {
      channel.watchConnectivityState(state, Date.now() + this.maxBackoffMs, () => this.tryReopen());
    }
  }

  private onData(call: ExchangeCall, batch: DecodedSwarmBatch): void {
    if (this.call !== call) return;
    const s = this.s;
    s.messagesReceived++;
    const { ids, replies, relays } = batch;
    if (relays.length > 0) {
      s.relaysReceived += relays.length;
      for (let i = 0; i < relays.length; i++) {
        const { socket, message } = relays[i];
        for (let h = 0; h < this.relayHandlers.length; h++) {
          try {
            this.relayHandlers[h](socket, message);
          } catch (error) {
            s.callbackErrors++;
            this.options.failures?.report(error, { swarm: this.name, callback: 'relay' });
          }
        }
      }
    }
    const n = ids.length;
    if (n === 0) return;
    s.repliesReceived += n;
    // What our swarm sends: one reply message per request message, in order.
    const whole = this.pending.get(ids[0]);
    if (whole !== undefined && whole.replies === undefined && whole.requests.length === n && idsRunFrom(ids, whole.firstId)) {
      whole.replies = replies;
      whole.remaining = 0;
      this.finish(whole, '');
    } else {
      for (let i = 0; i < n; i++) this.resolve(ids[i], replies[i]);
    }
    this.notifyWritable();
  }

  private resolve(id: number, reply: SwarmReply): void {
    let b = this.cursor;
    if (!b || b.finished || ((id - b.firstId) >>> 0) >= b.requests.length) {
      b = undefined;
      for (const candidate of this.pending.values()) {
        if (((id - candidate.firstId) >>> 0) < candidate.requests.length) {
          b = candidate;
          break;
        }
      }
      if (!b) {
        this.s.repliesUnmatched++;
        return;
      }
      this.cursor = b;
    }
    const index = (id - b.firstId) >>> 0;
    const replies = (b.replies ??= new Array<SwarmReply>(b.requests.length));
    if (replies[index] !== undefined) {
      this.s.repliesUnmatched++;
      return;
    }
    replies[index] = reply;
    if (--b.remaining === 0) this.finish(b, '');
  }

  // ------------------------------------------------------------ completion

  /** Answers a message: its replies so far, `error` for the missing ones. */
  private finish(b: PendingMessage, error: string): void {
    b.finished = true;
    this.pending.delete(b.firstId);
    if (this.cursor === b) this.cursor = undefined;
    const n = b.requests.length;
    this.requests -= n;
    if (error === '') {
      const seconds = (performance.now() - b.sentAt) / 1000;
      this.s.rttCount++;
      this.s.rttSumSeconds += seconds;
      if (seconds > this.s.rttMaxSeconds) this.s.rttMaxSeconds = seconds;
      this.options.onRoundTrip?.(seconds, n);
    }
    let replies = b.replies;
    if (error !== '') {
      const reply: SwarmReply = unavailableReply(error);
      if (!replies) replies = new Array<SwarmReply>(n).fill(reply);
      else for (let i = 0; i < n; i++) replies[i] ??= reply;
    }
    const done = b.done;
    // A message that lived through a scavenge sits in old space until the
    // next full GC; cleared fields keep it from holding this message's young
    // requests, replies and callbacks alive (and promoted) that long.
    b.requests = NO_REQUESTS;
    b.replies = undefined;
    b.done = NO_CALLBACK;
    this.deliver(done, replies!);
    if (this.stateWaiters.size > 0 && this.pending.size === 0) for (const waiter of [...this.stateWaiters]) waiter();
  }

  private deliver(done: BatchCallback, replies: SwarmReply[]): void {
    try {
      done(replies);
    } catch (error) {
      this.s.callbackErrors++;
      this.options.failures?.report(error, { swarm: this.name, callback: 'done' });
    }
  }

  /** Runs the writable listeners if `writable` was false and is true now. */
  private notifyWritable(): void {
    if (!this.full || !this.writable) return;
    this.full = false;
    for (const listener of this.writableListeners) {
      try {
        listener();
      } catch (error) {
        this.s.callbackErrors++;
        this.options.failures?.report(error, { swarm: this.name, callback: 'writable' });
      }
    }
  }

  /** Answers a batch that was never written, asynchronously. */
  private failSoon(n: number, message: string, done: BatchCallback): void {
    const replies: SwarmReply[] = n === 0 ? [] : errorReplies(n, message);
    queueMicrotask(() => this.deliver(done, replies));
  }

  private failAll(message: string): void {
    for (const b of this.pending.values()) this.finish(b, message);
    this.cursor = undefined;
  }

  private armTimer(at: number): void {
    this.disarmTimer();
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.max(0, at - performance.now()) + 1);
    this.timer.unref();
  }

  private disarmTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /** Times out every message past its deadline (at most maxMessagesInFlight are pending, so a full scan is cheap). */
  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const b of this.pending.values()) {
      if (b.deadline <= now) {
        this.s.timedOut += b.remaining;
        this.finish(b, `swarm ${this.name} timed out`);
      } else if (b.deadline < next) {
        next = b.deadline;
      }
    }
    if (next < Infinity && next < this.timerAt) this.armTimer(next);
    this.notifyWritable();
  };
}

/** True when ids are firstId, firstId + 1, ... (mod 2^32). */
function idsRunFrom(ids: readonly number[], firstId: number): boolean {
  for (let i = 0; i < ids.length; i++) if (ids[i] !== ((firstId + i) >>> 0)) return false;
  return true;
}
