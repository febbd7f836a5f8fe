/**
 * The edge side of the edge <-> swarm wire: one GrpcTransport per swarm
 * member, carrying batches over ONE bidirectional gRPC stream
 * (tracker.v1.Swarm/Exchange, see proto/tracker.proto).
 *
 * - Batches go out as the router hands them over; several sends in one tick
 *   are coalesced into one EdgeBatch message (up to maxRequestsPerMessage).
 * - Every request carries an id (a wrapping uint32 counter; a batch takes a
 *   consecutive run), so replies are matched whatever order they come in.
 * - At most maxMessagesInFlight messages are written and unanswered; batches
 *   handed over meanwhile wait in a queue and go out together in the next
 *   message, so messages grow with the load instead of multiplying (each
 *   costs the edge and the swarm tens of microseconds whatever its size).
 *   Beyond maxQueuedRequests waiting, sends are answered at once with
 *   ErrorReply("swarm <name> overloaded"). `write() === false` stops writing
 *   until 'drain'.
 * - Each request is answered within requestTimeoutMs, if need be with
 *   ErrorReply("swarm <name> timed out") (late replies are dropped).
 * - When the stream ends or fails, everything outstanding is answered with
 *   ErrorReply("swarm <name> unavailable") and, until a new stream is open,
 *   sends fail the same way at once instead of waiting. The stream is
 *   reopened by this class (short backoff, then as soon as the channel is
 *   READY); the channel reconnects by itself with a 100 ms .. 2 s backoff.
 * - WebTorrent offers/answers pushed by the swarm go to `onRelay` handlers.
 * - Exceptions thrown by `done` callbacks and relay handlers are caught (the
 *   transport carries on) and go to `failures`.
 * - Identity: with `authToken`, every stream carries a proof that this edge
 *   knows the token, bound to its edge id, boot nonce, the swarm's member
 *   name and the time (edge-token.ts); with TLS `credentials` carrying a
 *   client certificate, the certificate proves it. `tlsServerName` is the
 *   name the swarm's certificate must carry (swarms are dialled by IP).
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { FailureSink } from '../../runtime/failures.js';
import type { SwarmReply, SwarmRequest, WtRelayMessage } from '../messages.js';
import type { BatchCallback, Transport } from '../transport.js';
import { estimateRequestBytes, type DecodedSwarmBatch, type RequestRun } from './codec.js';
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
  /** Messages written and not yet answered, at most. Default 64. */
  maxMessagesInFlight?: number;
  /** Requests waiting behind the in-flight cap, at most; beyond: "overloaded". Default 65536. */
  maxQueuedRequests?: number;
  /**
   * Coalescing never builds a message with more requests than this, or of
   * more than about maxMessageBytes / 8 (estimated); one big batch still
   * goes whole. Default 4096.
   */
  maxRequestsPerMessage?: number;
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
  /** Metrics hooks: called with plain numbers. */
  onMessageSent?: (requests: number, batches: number) => void;
  /** Round trip of one batch (written -> last reply), in seconds. */
  onRoundTrip?: (seconds: number, requests: number) => void;
  /** `reason`: why the stream went down (as stats().lastError); '' for other states. */
  onStateChange?: (state: StreamState, reason: string) => void;
  /** Requests refused because maxQueuedRequests were already waiting. */
  onOverloaded?: (requests: number) => void;
  /** Where exceptions thrown by `done` callbacks and relay handlers go (the transport carries on). */
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
  inFlightBatches: number;
  inFlightRequests: number;
  queuedBatches: number;
  queuedRequests: number;
  messagesSent: number;
  batchesSent: number;
  requestsSent: number;
  messagesReceived: number;
  repliesReceived: number;
  relaysReceived: number;
  /** Replies that matched no outstanding request (late after a timeout, or duplicates). */
  repliesUnmatched: number;
  /** Requests answered with an ErrorReply by this transport, by cause. */
  timedOut: number;
  unavailable: number;
  overloaded: number;
  /** Times write() returned false. */
  writeBlocked: number;
  callbackErrors: number;
  /** Round trips of answered batches: count, sum and max in seconds. */
  rttCount: number;
  rttSumSeconds: number;
  rttMaxSeconds: number;
  lastError: string;
}

type RelayHandler = (socket: number, message: WtRelayMessage) => void;

/** One message on the wire: how many of its batches are still unanswered. */
interface InFlightMessage {
  unanswered: number;
}

interface PendingBatch extends RequestRun {
  /** The message that carried it; undefined while queued and once answered. */
  message: InFlightMessage | undefined;
  requests: readonly SwarmRequest[];
  done: BatchCallback;
  readonly deadline: number;
  replies: SwarmReply[] | undefined;
  remaining: number;
  /** performance.now() when written; 0 while queued. */
  sentAt: number;
  finished: boolean;
  /** Estimated encoded size; -1 until needed. */
  bytes: number;
}

type ExchangeCall = grpc.ClientDuplexStream<readonly RequestRun[], DecodedSwarmBatch>;

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
  private readonly maxQueuedRequests: number;
  private readonly maxRequestsPerMessage: number;
  private readonly maxBytesPerMessage: number;
  private readonly requestTimeoutMs: number;
  private readonly streamOpenTimeoutMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly relayHandlers: RelayHandler[] = [];
  private readonly stateWaiters = new Set<() => void>();

  private call: ExchangeCall | undefined;
  private state: StreamState = 'down';
  private blocked = false;
  private closed = false;
  private nextId = 1;
  /** Every accepted, unanswered batch by first id; insertion order = deadline order. */
  private readonly pending = new Map<number, PendingBatch>();
  /** Batches not written yet (finished ones are skipped). */
  private queue: PendingBatch[] = [];
  private queueHead = 0;
  private cursor: PendingBatch | undefined;
  private pumpScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private openTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private requests = 0;
  private inFlightMessages = 0;
  private readonly s: GrpcTransportStats;

  constructor(private readonly options: GrpcTransportOptions) {
    this.name = options.name;
    this.edgeId = options.edgeId;
    this.bootNonce = options.bootNonce ?? randomBytes(16).toString('hex');
    this.maxMessagesInFlight = Math.max(1, options.maxMessagesInFlight ?? 64);
    this.maxQueuedRequests = Math.max(0, options.maxQueuedRequests ?? 65536);
    this.maxRequestsPerMessage = Math.max(1, options.maxRequestsPerMessage ?? 4096);
    this.requestTimeoutMs = Math.max(1, options.requestTimeoutMs ?? 2000);
    this.streamOpenTimeoutMs = Math.max(1, options.streamOpenTimeoutMs ?? 2000);
    this.initialBackoffMs = options.initialReconnectBackoffMs ?? 100;
    this.maxBackoffMs = Math.max(this.initialBackoffMs, options.maxReconnectBackoffMs ?? 2000);
    this.backoffMs = this.initialBackoffMs;
    const maxMessage = options.maxMessageBytes ?? 64 * 1024 * 1024;
    this.maxBytesPerMessage = Math.max(1, Math.floor(maxMessage / 8));
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
      state: 'down', stateCode: 0, streamsOpened: 0, streamFailures: 0, inFlightBatches: 0, inFlightRequests: 0,
      queuedBatches: 0, queuedRequests: 0, messagesSent: 0, batchesSent: 0, requestsSent: 0, messagesReceived: 0,
      repliesReceived: 0, relaysReceived: 0, repliesUnmatched: 0, timedOut: 0, unavailable: 0, overloaded: 0,
      writeBlocked: 0, callbackErrors: 0, rttCount: 0, rttSumSeconds: 0, rttMaxSeconds: 0, lastError: '',
    };
    this.openStream();
  }

  // ------------------------------------------------------------ Transport

  /** Requests accepted and not answered yet (queued or on the wire). */
  get inFlight(): number {
    return this.requests;
  }

  send(batch: SwarmRequest[], done: BatchCallback): void {
    const n = batch.length;
    if (this.closed) return this.failSoon(n, SHUTTING_DOWN, done);
    if (n === 0) return this.failSoon(0, '', done);
    if (this.state === 'down') {
      this.s.unavailable += n;
      return this.failSoon(n, `swarm ${this.name} unavailable`, done);
    }
    if (this.s.queuedRequests > 0 && this.s.queuedRequests + n > this.maxQueuedRequests) {
      this.s.overloaded += n;
      this.options.onOverloaded?.(n);
      return this.failSoon(n, `swarm ${this.name} overloaded`, done);
    }
    const firstId = this.nextId;
    this.nextId = (firstId + n) >>> 0;
    const pending: PendingBatch = {
      firstId,
      requests: batch,
      done,
      deadline: Date.now() + this.requestTimeoutMs,
      replies: undefined,
      remaining: n,
      sentAt: 0,
      message: undefined,
      finished: false,
      bytes: -1,
    };
    this.pending.set(firstId, pending);
    this.queue.push(pending);
    this.requests += n;
    this.s.queuedBatches++;
    this.s.queuedRequests += n;
    if (!this.timer) this.armTimer();
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      queueMicrotask(this.pumpTask);
    }
  }

  /**
   * Stops sending. With `graceMs` > 0, batches already accepted get up to
   * that long to be answered; what is left is answered with ErrorReply.
   */
  async close(graceMs = 0): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (graceMs > 0 && this.pending.size > 0 && this.call) {
      this.pump();
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
    if (this.timer) clearTimeout(this.timer);
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    if (this.openTimer) clearTimeout(this.openTimer);
    this.timer = this.reopenTimer = this.openTimer = undefined;
    this.failAll(SHUTTING_DOWN);
    const call = this.call;
    this.call = undefined;
    if (call) {
      call.end();
      call.cancel();
    }
    this.client.close();
    for (const waiter of [...this.stateWaiters]) waiter();
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
    return { ...this.s, state: this.state, stateCode: STREAM_STATE_CODE[this.state], inFlightRequests: this.requests };
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
      this.pump();
    });
    call.on('error', (error: grpc.ServiceError) => this.onStreamEnd(call, error));
    call.on('end', () => this.onStreamEnd(call, undefined));
    // Batches accepted while the previous stream was being replaced.
    this.pump();
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

  private readonly pumpTask = (): void => {
    this.pumpScheduled = false;
    this.pump();
  };

  /** Writes queued batches while the stream takes them and the in-flight cap allows. */
  private pump(): void {
    const call = this.call;
    if (!call || this.blocked) return;
    const queue = this.queue;
    const now = performance.now();
    while (this.queueHead < queue.length && this.inFlightMessages < this.maxMessagesInFlight) {
      const runs: PendingBatch[] = [];
      const message: InFlightMessage = { unanswered: 0 };
      let count = 0;
      let bytes = 0;
      while (this.queueHead < queue.length) {
        const b = queue[this.queueHead];
        if (b.finished) {
          this.queueHead++;
          continue;
        }
        if (b.bytes < 0) b.bytes = estimateRequestBytes(b.requests);
        if (runs.length > 0 && (count + b.requests.length > this.maxRequestsPerMessage || bytes + b.bytes > this.maxBytesPerMessage)) break;
        this.queueHead++;
        bytes += b.bytes;
        b.sentAt = now;
        b.message = message;
        runs.push(b);
        count += b.requests.length;
        this.s.inFlightBatches++;
        this.s.queuedBatches--;
        this.s.queuedRequests -= b.requests.length;
      }
      if (runs.length === 0) break;
      message.unanswered = runs.length;
      this.inFlightMessages++;
      this.s.messagesSent++;
      this.s.batchesSent += runs.length;
      this.s.requestsSent += count;
      this.options.onMessageSent?.(count, runs.length);
      if (!call.write(runs)) {
        this.blocked = true;
        this.s.writeBlocked++;
        break;
      }
    }
    if (this.queueHead === queue.length) {
      // Emptied in place: a queue array old enough to be in old space would
      // otherwise keep every batch it held reachable for scavenges.
      queue.length = 0;
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > queue.length) {
      this.queue = queue.slice(this.queueHead);
      this.queueHead = 0;
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
    s.repliesReceived += replies.length;
    const freedBefore = this.inFlightMessages;
    for (let i = 0; i < ids.length; i++) this.resolve(ids[i], replies[i]);
    if (this.inFlightMessages < freedBefore) this.pump();
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
      if (!b || b.sentAt === 0) {
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

  /** Answers a batch: its replies so far, `error` for the missing ones. */
  private finish(b: PendingBatch, error: string): void {
    b.finished = true;
    this.pending.delete(b.firstId);
    const n = b.requests.length;
    this.requests -= n;
    if (b.sentAt > 0) {
      this.s.inFlightBatches--;
      if (b.message && --b.message.unanswered === 0) this.inFlightMessages--;
      b.message = undefined;
      if (error === '') {
        const seconds = (performance.now() - b.sentAt) / 1000;
        this.s.rttCount++;
        this.s.rttSumSeconds += seconds;
        if (seconds > this.s.rttMaxSeconds) this.s.rttMaxSeconds = seconds;
        this.options.onRoundTrip?.(seconds, n);
      }
    } else {
      this.s.queuedBatches--;
      this.s.queuedRequests -= n;
    }
    let replies = b.replies;
    if (error !== '') {
      const reply: SwarmReply = unavailableReply(error);
      if (!replies) replies = new Array<SwarmReply>(n).fill(reply);
      else for (let i = 0; i < n; i++) replies[i] ??= reply;
    }
    const done = b.done;
    // A batch that lived through a scavenge sits in old space until the next
    // full GC; cleared fields keep it from holding this batch's young
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

  /** Answers a batch that was never accepted, asynchronously. */
  private failSoon(n: number, message: string, done: BatchCallback): void {
    const replies: SwarmReply[] = n === 0 ? [] : errorReplies(n, message);
    queueMicrotask(() => this.deliver(done, replies));
  }

  private failAll(message: string): void {
    for (const b of this.pending.values()) this.finish(b, message);
    this.queue = [];
    this.queueHead = 0;
    this.cursor = undefined;
  }

  private armTimer(): void {
    const head = this.pending.values().next();
    if (head.done) return;
    this.timer = setTimeout(this.onTimer, Math.max(0, head.value.deadline - Date.now()) + 1);
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    const now = Date.now();
    let freed = false;
    for (const b of this.pending.values()) {
      if (b.deadline > now) break;
      const missing = b.remaining;
      if (b.sentAt > 0) freed = true;
      this.s.timedOut += missing;
      this.finish(b, `swarm ${this.name} timed out`);
    }
    if (freed) this.pump();
    this.armTimer();
  };
}
