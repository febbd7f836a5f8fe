/**
 * The swarm side of the edge <-> swarm wire (tracker.v1.Swarm/Exchange).
 *
 * Each edge keeps one bidirectional stream open and names itself in the call
 * metadata (edge id + boot nonce). Every EdgeBatch is answered at once with
 * one SwarmBatch (SwarmService.handle is synchronous). Relayed WebTorrent
 * offers/answers (RelaySink.deliver) are queued per edge stream and written
 * with the next reply batch to that edge, or on their own at the end of the
 * tick. When a write is refused (`write() === false`) the server stops
 * reading that stream until 'drain', so HTTP/2 flow control pushes back on
 * the edge.
 *
 * Edge identity: with `auth`, a stream must prove the edge id it claims
 * (client certificate and/or token, see edge-auth.ts) or it is refused
 * (UNAUTHENTICATED / PERMISSION_DENIED) before it can touch any state: an
 * unproven stream never replaces an edge's streams or drops its peers.
 * Refusals are counted by reason and reported to `onStreamRejected`.
 *
 * Edge lifecycle:
 * - a stream from an edge id with a different boot nonce than the streams
 *   it has means the edge restarted: the old streams are ended and the old
 *   incarnation's WebTorrent peers dropped at once (`onEdgeGone`), before
 *   the new stream's requests run;
 * - more streams with the same id and nonce (a reconnect racing the old
 *   stream's teardown, or two transports in one edge) coexist; relays go to
 *   the newest;
 * - when an edge's last stream ends, `onEdgeGone(edgeId)` runs after
 *   `edgeGoneGraceMs` unless the same edge process (same nonce) is back by
 *   then (a stream blip must not wipe the WebTorrent peers of live sockets).
 *
 * Slot ownership: with `slotOwner`, a batch stamped with another table
 * identity than the swarm's own is checked request by request, and the
 * requests for slots this swarm does not own are answered "moved" (see
 * slot-owner.ts) instead of reaching the service.
 *
 * Exceptions caught on these paths (SwarmService.handle, onEdgeGone, a
 * write) go to `failures`: counted and logged, rate-limited.
 */
import * as grpc from '@grpc/grpc-js';
import type { Http2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { FailureSink } from '../../runtime/failures.js';
import type { SwarmReply, SwarmRequest } from '../../tracker/swarm.js';
import type { RelaySink, SocketRef, WtRelayMessage } from '../../tracker/webtorrent.js';
import type { SwarmService } from '../transport.js';
import type { DecodedEdgeBatch, Relay } from './codec.js';
import { METADATA, PROTOCOL_VERSION, swarmServiceDefinition, type OutgoingSwarmBatch, type WireCodec } from './service.js';
import type { EdgeAuthenticator } from './edge-auth.js';
import { movedReply, mustCheck, type SlotOwner } from '../slot-owner.js';

export interface GrpcSwarmServerOptions {
  /** Default '0.0.0.0'. IPv6 literals may be given with or without brackets. */
  host?: string;
  /** Default 0: any free port (listen() returns it). */
  port?: number;
  /** This swarm's member name, sent to edges in the stream's initial metadata. */
  swarmId?: string;
  /** An edge's streams are all gone (or it restarted): drop its WebTorrent peers. */
  onEdgeGone?: (edgeId: string) => void;
  /** A stream from an edge was accepted; `proof` says how its identity was proven ("none" without `auth`). */
  onEdgeConnected?: (edgeId: string, bootNonce: string, proof: string) => void;
  /** Who may claim which edge id; default: every claim is believed. */
  auth?: EdgeAuthenticator;
  /** The slots this swarm owns; requests for others are answered "moved". Default: serve everything. */
  slotOwner?: SlotOwner;
  /** A stream was refused (the edge is told `details` too). */
  onStreamRejected?: (reason: StreamRejection, details: string, edgeId: string) => void;
  /** Where exceptions caught on the stream paths go. */
  failures?: FailureSink;
  /** Default 5000; 0 = call onEdgeGone as soon as the stream ends. */
  edgeGoneGraceMs?: number;
  /** Relays waiting for one blocked edge stream, at most (more are dropped and counted). Default 10000. */
  maxPendingRelaysPerEdge?: number;
  /** Relays dropped because maxPendingRelaysPerEdge were already waiting. */
  onRelayBacklogFull?: () => void;
  /** Defaults 10000 / 5000. */
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** Default 64 MiB each way. */
  maxMessageBytes?: number;
  /**
   * HTTP/2 receive window for edge streams; grpc-js has no server option for
   * it, so it is applied to each new session (best effort). Default 16 MiB;
   * 0 leaves Node's default (64 KiB).
   */
  flowControlWindow?: number;
  credentials?: grpc.ServerCredentials;
  /** Extra grpc.Server options (override the derived ones). */
  serverOptions?: grpc.ServerOptions;
  codec?: WireCodec;
  /** More services on the same port (the swarm <-> swarm handoff service). */
  services?: ReadonlyArray<{ definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation }>;
  /** Metrics hook: one EdgeBatch handled (requests, seconds spent in SwarmService.handle). */
  onBatch?: (requests: number, seconds: number) => void;
}

/** Why a stream was refused: no/unproven identity, identity not allowed, bad metadata, or the swarm is stopping. */
export type StreamRejection = 'unauthenticated' | 'permission-denied' | 'invalid' | 'shutting-down';

export interface GrpcSwarmServerStats {
  edges: number;
  streamsAccepted: number;
  /** All refused streams; by reason below. */
  streamsRejected: number;
  rejectedUnauthenticated: number;
  rejectedPermissionDenied: number;
  rejectedInvalid: number;
  rejectedShuttingDown: number;
  /** Streams ended because their edge came back with a new boot nonce. */
  streamsReplaced: number;
  edgesGone: number;
  batches: number;
  requests: number;
  /** Requests of a type this build does not know (answered with ErrorReply). */
  unsupported: number;
  /** Requests answered "moved": their slot is not this swarm's under its table. */
  moved: number;
  /** SwarmService.handle threw (its batch got ErrorReplies). */
  handleErrors: number;
  relaysSent: number;
  /** Relays for an edge with no stream, or beyond the per-edge bound (the two below). */
  relaysDropped: number;
  relaysDroppedNoStream: number;
  relaysDroppedBacklog: number;
  writeBlocked: number;
}

type ExchangeCall = grpc.ServerDuplexStream<DecodedEdgeBatch, OutgoingSwarmBatch>;

interface EdgeStream {
  readonly edgeId: string;
  readonly bootNonce: string;
  readonly call: ExchangeCall;
  relays: Relay[];
  flushScheduled: boolean;
  blocked: boolean;
  ended: boolean;
}

const NO_IDS: number[] = [];
const NO_REPLIES: SwarmReply[] = [];
const UNSUPPORTED: SwarmReply = Object.freeze({ type: 'error', message: 'unsupported request type' });
/** What an edge id may look like (node.name's rule): it becomes a map key and a certificate name. */
const EDGE_ID = /^[A-Za-z0-9._-]{1,253}$/;
const REJECTION_STAT = {
  unauthenticated: 'rejectedUnauthenticated',
  'permission-denied': 'rejectedPermissionDenied',
  invalid: 'rejectedInvalid',
  'shutting-down': 'rejectedShuttingDown',
} as const satisfies Record<StreamRejection, keyof GrpcSwarmServerStats>;

function metadataString(metadata: grpc.Metadata, key: string): string {
  const value = metadata.get(key)[0];
  if (value === undefined) return '';
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

export class GrpcSwarmServer implements RelaySink {
  private readonly server: grpc.Server;
  /** Live streams per edge id, oldest first (all with the same boot nonce). */
  private readonly edgeStreams = new Map<string, EdgeStream[]>();
  /** Edges whose stream ended, waiting out the grace period: nonce + timer. */
  private readonly goneTimers = new Map<string, { bootNonce: string; timer: NodeJS.Timeout }>();
  private readonly windowRaised = new WeakSet<Http2Session>();
  private readonly graceMs: number;
  private readonly maxPendingRelays: number;
  private readonly window: number;
  private readonly swarmMetadata: grpc.Metadata;
  private shuttingDown = false;
  private port = 0;
  private readonly s: GrpcSwarmServerStats = {
    edges: 0, streamsAccepted: 0, streamsRejected: 0, rejectedUnauthenticated: 0, rejectedPermissionDenied: 0,
    rejectedInvalid: 0, rejectedShuttingDown: 0, streamsReplaced: 0, edgesGone: 0, batches: 0, requests: 0,
    unsupported: 0, moved: 0, handleErrors: 0, relaysSent: 0, relaysDropped: 0, relaysDroppedNoStream: 0, relaysDroppedBacklog: 0,
    writeBlocked: 0,
  };

  constructor(
    private readonly service: SwarmService,
    private readonly options: GrpcSwarmServerOptions = {},
  ) {
    this.graceMs = Math.max(0, options.edgeGoneGraceMs ?? 5000);
    this.maxPendingRelays = Math.max(1, options.maxPendingRelaysPerEdge ?? 10_000);
    this.window = options.flowControlWindow ?? 16 * 1024 * 1024;
    const maxMessage = options.maxMessageBytes ?? 64 * 1024 * 1024;
    this.server = new grpc.Server({
      'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? 10_000,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? 5_000,
      'grpc.max_receive_message_length': maxMessage,
      'grpc.max_send_message_length': maxMessage,
      // channelz stays on here (unlike the edge's channel): with it off,
      // grpc-js 1.14.7 no longer ends open streams on forceShutdown (the
      // "swarm breaks" tests in tests/unit/transport catch it).
      ...options.serverOptions,
    });
    this.swarmMetadata = new grpc.Metadata();
    this.swarmMetadata.set(METADATA.swarmId, Buffer.from(options.swarmId ?? '', 'utf8'));
    this.swarmMetadata.set(METADATA.protocol, PROTOCOL_VERSION);
    this.server.addService(swarmServiceDefinition(options.codec), {
      exchange: (call: ExchangeCall) => this.accept(call),
    });
    for (const service of options.services ?? []) this.server.addService(service.definition, service.implementation);
  }

  /** Binds and starts serving; resolves with the bound port. */
  listen(): Promise<number> {
    let host = this.options.host ?? '0.0.0.0';
    if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
    const target = `${host}:${this.options.port ?? 0}`;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(target, this.options.credentials ?? grpc.ServerCredentials.createInsecure(), (error, port) => {
        if (error) reject(error);
        else resolve((this.port = port));
      });
    });
  }

  get boundPort(): number {
    return this.port;
  }

  /** RelaySink: queue an offer/answer for the edge holding `to`; dropped (and counted) if that edge has no stream. */
  deliver(to: SocketRef, message: WtRelayMessage): void {
    const streams = this.edgeStreams.get(to.edge);
    const stream = streams?.[streams.length - 1];
    if (!stream || stream.ended) {
      this.s.relaysDropped++;
      this.s.relaysDroppedNoStream++;
      return;
    }
    if (stream.relays.length >= this.maxPendingRelays) {
      this.s.relaysDropped++;
      this.s.relaysDroppedBacklog++;
      this.options.onRelayBacklogFull?.();
      return;
    }
    stream.relays.push({ socket: to.socket, message });
    if (!stream.flushScheduled) {
      stream.flushScheduled = true;
      queueMicrotask(() => this.flushRelays(stream));
    }
  }

  /** Edge ids with a live stream. */
  connectedEdges(): string[] {
    return [...this.edgeStreams.keys()];
  }

  stats(): GrpcSwarmServerStats {
    return { ...this.s, edges: this.edgeStreams.size };
  }

  /**
   * Stops accepting streams, ends every edge stream (edges then fail fast and
   * reconnect elsewhere or later), waits up to `graceMs` for the connections
   * to close, then forces them. onEdgeGone is not called during shutdown.
   */
  async shutdown(graceMs = 5000): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { timer } of this.goneTimers.values()) clearTimeout(timer);
    this.goneTimers.clear();
    for (const stream of [...this.edgeStreams.values()].flat()) {
      this.flushRelays(stream, true);
      stream.ended = true;
      try {
        stream.call.end();
      } catch {
        // already gone
      }
    }
    this.edgeStreams.clear();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, Math.max(0, graceMs));
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  /** Ends everything at once (tests, fatal errors). */
  forceShutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.goneTimers.values()) clearTimeout(timer);
    this.goneTimers.clear();
    this.edgeStreams.clear();
    this.server.forceShutdown();
  }

  // ------------------------------------------------------------ streams

  private accept(call: ExchangeCall): void {
    const edgeId = metadataString(call.metadata, METADATA.edgeId);
    const bootNonce = metadataString(call.metadata, METADATA.bootNonce);
    if (this.shuttingDown) return this.reject(call, 'shutting-down', grpc.status.UNAVAILABLE, 'swarm is shutting down', edgeId);
    if (edgeId === '') return this.reject(call, 'invalid', grpc.status.INVALID_ARGUMENT, `missing ${METADATA.edgeId} metadata`, edgeId);
    if (!EDGE_ID.test(edgeId)) {
      return this.reject(call, 'invalid', grpc.status.INVALID_ARGUMENT, `${METADATA.edgeId} must be 1-253 letters, digits, ".", "-" or "_"`, '');
    }
    let proof = 'none';
    if (this.options.auth?.required) {
      const verdict = this.options.auth.check({
        edgeId,
        bootNonce,
        proof: metadataString(call.metadata, METADATA.edgeProof),
        verifiedCertificate: call.getAuthContext().sslPeerCertificate,
        tlsProblem: GrpcSwarmServer.tlsProblemOf(call),
      });
      if (!verdict.ok) return this.reject(call, verdict.reason, verdict.code, verdict.details, edgeId);
      proof = verdict.proof;
    }
    this.raiseWindow(call);
    this.s.streamsAccepted++;

    // The same edge process coming back within the grace period keeps its peers;
    // a restarted one (new nonce) loses the old incarnation's peers now.
    const gone = this.goneTimers.get(edgeId);
    if (gone) {
      clearTimeout(gone.timer);
      this.goneTimers.delete(edgeId);
      if (gone.bootNonce !== bootNonce) this.edgeGone(edgeId);
    }
    let streams = this.edgeStreams.get(edgeId);
    if (streams && streams[0].bootNonce !== bootNonce) {
      this.edgeStreams.delete(edgeId);
      for (const previous of streams) {
        this.s.streamsReplaced++;
        previous.ended = true;
        previous.relays = [];
        try {
          previous.call.end();
        } catch {
          // already gone
        }
      }
      this.edgeGone(edgeId);
      streams = undefined;
    }

    const stream: EdgeStream = { edgeId, bootNonce, call, relays: [], flushScheduled: false, blocked: false, ended: false };
    if (streams) streams.push(stream);
    else this.edgeStreams.set(edgeId, [stream]);
    call.sendMetadata(this.swarmMetadata);
    call.on('data', (batch: DecodedEdgeBatch) => this.onBatch(stream, batch));
    call.on('drain', () => {
      stream.blocked = false;
      if (stream.relays.length > 0) this.flushRelays(stream);
      if (!stream.blocked) call.resume();
    });
    call.on('end', () => {
      // The edge closed its side: close ours (a stream has no use half-open).
      this.streamEnded(stream);
      try {
        call.end();
      } catch {
        // already finished
      }
    });
    call.on('cancelled', () => this.streamEnded(stream));
    call.on('error', () => this.streamEnded(stream));
    call.on('close', () => this.streamEnded(stream));
    this.options.onEdgeConnected?.(edgeId, bootNonce, proof);
  }

  /** Refuses a stream before it touches any state; counted by reason. */
  private reject(call: ExchangeCall, reason: StreamRejection, code: grpc.status, details: string, edgeId: string): void {
    this.s.streamsRejected++;
    this.s[REJECTION_STAT[reason]]++;
    call.emit('error', { code, details });
    this.options.onStreamRejected?.(reason, details, edgeId);
  }

  private streamEnded(stream: EdgeStream): void {
    if (stream.ended) return;
    stream.ended = true;
    stream.relays = [];
    const streams = this.edgeStreams.get(stream.edgeId);
    const at = streams ? streams.indexOf(stream) : -1;
    if (!streams || at < 0) return; // its edge restarted: already handled
    streams.splice(at, 1);
    if (streams.length > 0) return; // the edge is still connected
    this.edgeStreams.delete(stream.edgeId);
    if (this.shuttingDown) return;
    if (this.graceMs === 0) {
      this.edgeGone(stream.edgeId);
      return;
    }
    const timer = setTimeout(() => {
      this.goneTimers.delete(stream.edgeId);
      if (!this.edgeStreams.has(stream.edgeId)) this.edgeGone(stream.edgeId);
    }, this.graceMs);
    timer.unref();
    this.goneTimers.set(stream.edgeId, { bootNonce: stream.bootNonce, timer });
  }

  private edgeGone(edgeId: string): void {
    this.s.edgesGone++;
    try {
      this.options.onEdgeGone?.(edgeId);
    } catch (error) {
      // The swarm's cleanup must not take the server down.
      this.options.failures?.report(error, { edge: edgeId, during: 'edge gone' });
    }
  }

  private onBatch(stream: EdgeStream, batch: DecodedEdgeBatch): void {
    if (stream.ended) return;
    const { ids, requests } = batch;
    const n = requests.length;
    this.s.batches++;
    this.s.requests += n;
    // Replies decided here, without the service: unknown types, and slots this swarm does not own.
    let early: (SwarmReply | undefined)[] | undefined;
    let earlyCount = 0;
    const owner = this.options.slotOwner;
    const check = owner !== undefined && mustCheck(owner, batch.tableIdentity);
    for (let i = 0; i < n; i++) {
      const r = requests[i];
      let reply: SwarmReply | undefined;
      if (r === undefined) {
        reply = UNSUPPORTED;
        this.s.unsupported++;
      } else if (check) {
        reply = movedReply(r, owner!);
        if (reply === undefined) continue;
        this.s.moved++;
      } else {
        continue;
      }
      (early ??= new Array<SwarmReply | undefined>(n))[i] = reply;
      earlyCount++;
    }
    const known = earlyCount === 0 ? (requests as SwarmRequest[]) : (requests.filter((_, i) => early![i] === undefined) as SwarmRequest[]);
    const started = this.options.onBatch ? performance.now() : 0;
    let replies: SwarmReply[];
    try {
      replies = known.length > 0 ? this.service.handle(known) : [];
      if (replies.length !== known.length) throw new Error('SwarmService.handle returned the wrong number of replies');
    } catch (error) {
      this.s.handleErrors++;
      this.options.failures?.report(error, { edge: stream.edgeId, requests: known.length });
      replies = new Array<SwarmReply>(known.length).fill({ type: 'error', message: 'internal error' });
    }
    if (this.options.onBatch) this.options.onBatch(n, (performance.now() - started) / 1000);
    if (earlyCount > 0) {
      const merged = new Array<SwarmReply>(n);
      for (let i = 0, k = 0; i < n; i++) merged[i] = early![i] ?? replies[k++];
      replies = merged;
    }
    // handle() may have relayed offers to this very edge: they ride along.
    this.write(stream, ids, replies);
  }

  private flushRelays(stream: EdgeStream, force = false): void {
    stream.flushScheduled = false;
    if (stream.ended || stream.relays.length === 0 || (stream.blocked && !force)) return;
    this.write(stream, NO_IDS, NO_REPLIES);
  }

  private write(stream: EdgeStream, ids: ArrayLike<number>, replies: readonly SwarmReply[]): void {
    const relays = stream.relays;
    if (relays.length > 0) {
      stream.relays = [];
      this.s.relaysSent += relays.length;
    }
    let ok: boolean;
    try {
      ok = stream.call.write({ ids, replies, relays });
    } catch (error) {
      // e.g. a reply the codec cannot encode: this stream's requests are lost, the edge times them out.
      this.options.failures?.report(error, { edge: stream.edgeId, during: 'write' });
      this.streamEnded(stream);
      return;
    }
    if (!ok && !stream.blocked) {
      stream.blocked = true;
      this.s.writeBlocked++;
      stream.call.pause(); // stop reading this edge until our replies drain
    }
  }

  /**
   * Why TLS did not verify the edge's certificate, for the refusal message
   * (the decision itself uses grpc-js's auth context). Reaches into grpc-js
   * internals, so anything unexpected gives no reason.
   */
  private static tlsProblemOf(call: ExchangeCall): string | undefined {
    try {
      const socket = (call as unknown as { call?: { stream?: { session?: { socket?: TLSSocket } } } }).call?.stream?.session?.socket;
      if (!socket || socket.authorized || typeof socket.getPeerCertificate !== 'function') return undefined;
      const peer = socket.getPeerCertificate();
      if (!peer || Object.keys(peer).length === 0) return 'no certificate presented';
      const error = socket.authorizationError as unknown;
      return error ? `certificate not trusted: ${error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : String(error)}` : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Raises the HTTP/2 receive window of the session this call runs on
   * (grpc-js only offers this for clients). Reaches into grpc-js internals,
   * so any failure just leaves the default window.
   */
  private raiseWindow(call: ExchangeCall): void {
    if (this.window <= 65535) return;
    try {
      const session = (call as unknown as { call?: { stream?: { session?: Http2Session } } }).call?.stream?.session;
      if (!session || this.windowRaised.has(session)) return;
      this.windowRaised.add(session);
      const window = Math.min(this.window, 2 ** 31 - 1);
      session.setLocalWindowSize(window);
      session.settings({ initialWindowSize: window });
    } catch {
      // best effort
    }
  }
}
