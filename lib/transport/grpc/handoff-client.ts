/**
 * The calling side of the swarm <-> swarm handoff service
 * (tracker.v1.Handoff, see proto/tracker.proto): one client per callee,
 * made for a handoff and closed after it.
 *
 * - `pull` streams the state of some slots from their owner; the caller's
 *   `onChunks` runs for each message in turn, and the stream is paused
 *   while it runs, so HTTP/2 flow control holds the sender back instead of
 *   messages piling up in memory.
 * - `push` sends messages of chunks as its source makes them, waiting for
 *   'drain' when grpc-js says its buffer is full, and resolves with the
 *   callee's summary once it has imported everything.
 * - Every call carries the caller's member name and boot nonce, a token
 *   proof when the cluster has a token (bound to the callee's name), and a
 *   deadline; a failure rejects with a HandoffCallError saying which swarm
 *   and why (its gRPC status code tells the caller what to do next).
 */
import * as grpc from '@grpc/grpc-js';
import { signEdgeProof, SWARM_PROOF_LABEL } from './edge-token.js';
import {
  HANDOFF_METADATA,
  handoffServiceDefinition,
  type PullRequestMessage,
  type PushReplyMessage,
  type SlotChunksMessage,
} from './handoff-service.js';
import { PROTOCOL_VERSION } from './service.js';

export interface HandoffClientOptions {
  /** This swarm's member name and boot nonce, which the callee checks. */
  self: string;
  bootNonce: string;
  /** The callee's member name (bound into the token proof) and host:port. */
  target: string;
  address: string;
  credentials?: grpc.ChannelCredentials;
  /** With TLS: the name the callee's certificate must carry. */
  tlsServerName?: string;
  /** The shared cluster token ('' or absent: none). */
  authToken?: string;
  /** Default 64 MiB each way. */
  maxMessageBytes?: number;
}

/** A handoff call that failed: `code` is its gRPC status. */
export class HandoffCallError extends Error {
  constructor(
    readonly target: string,
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(`handoff call to ${target} failed: ${grpc.status[code] ?? code}: ${details}`);
    this.name = 'HandoffCallError';
  }
}

type GenericClient = grpc.Client & {
  pull(request: PullRequestMessage, metadata: grpc.Metadata, options: grpc.CallOptions): grpc.ClientReadableStream<SlotChunksMessage>;
  push(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<PushReplyMessage>): grpc.ClientWritableStream<SlotChunksMessage>;
};

const HandoffGrpcClient = grpc.makeGenericClientConstructor(handoffServiceDefinition, 'tracker.v1.Handoff');

/** A gRPC failure as a HandoffCallError; anything else (the caller's own callback threw) as it is. */
function callError(target: string, error: unknown): unknown {
  if (error instanceof HandoffCallError) return error;
  const e = error as Partial<grpc.ServiceError> | undefined;
  if (typeof e?.code !== 'number') return error;
  return new HandoffCallError(target, e.code, e.details ?? e.message ?? String(error));
}

export class HandoffClient {
  private readonly client: GenericClient;

  constructor(private readonly options: HandoffClientOptions) {
    const maxMessage = options.maxMessageBytes ?? 64 * 1024 * 1024;
    this.client = new HandoffGrpcClient(options.address, options.credentials ?? grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': maxMessage,
      'grpc.max_receive_message_length': maxMessage,
      'grpc-node.flow_control_window': 16 * 1024 * 1024,
      // A handoff is retried by its caller, with the next owner if need be; grpc-js would only buffer copies.
      'grpc.enable_retries': 0,
      'grpc.use_local_subchannel_pool': 1,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      ...(options.tlsServerName ? { 'grpc.ssl_target_name_override': options.tlsServerName } : {}),
    }) as unknown as GenericClient;
  }

  get target(): string {
    return this.options.target;
  }

  /**
   * The state of `request.slots` as their owner holds it now: `onChunks` runs
   * for each message, one at a time. Resolves once every message is handled.
   */
  pull(request: PullRequestMessage, deadline: number, onChunks: (chunks: Uint8Array[]) => void | Promise<void>): Promise<void> {
    const call = this.client.pull(request, this.metadata(), { deadline });
    return new Promise<void>((resolve, reject) => {
      let handling: Promise<void> = Promise.resolve();
      let failed = false;
      const fail = (error: unknown): void => {
        if (failed) return;
        failed = true;
        call.cancel();
        reject(callError(this.options.target, error));
      };
      call.on('data', (message: SlotChunksMessage) => {
        call.pause();
        handling = handling
          .then(() => (failed ? undefined : onChunks(message.chunks)))
          .then(() => {
            if (!failed) call.resume();
          }, fail);
      });
      call.on('error', fail);
      call.on('end', () => {
        handling.then(() => {
          if (!failed) resolve();
        }, fail);
      });
    });
  }

  /**
   * Sends the messages `source` makes and resolves with the callee's
   * summary. `pullId`: the messages hold only what changed since that pull
   * (see proto/tracker.proto); the callee may refuse with FAILED_PRECONDITION.
   */
  async push(source: AsyncIterable<SlotChunksMessage>, deadline: number, pullId = ''): Promise<PushReplyMessage> {
    const metadata = this.metadata();
    if (pullId !== '') metadata.set(HANDOFF_METADATA.pullId, pullId);
    let call!: grpc.ClientWritableStream<SlotChunksMessage>;
    const reply = new Promise<PushReplyMessage>((resolve, reject) => {
      call = this.client.push(metadata, { deadline }, (error, value) => (error ? reject(callError(this.options.target, error)) : resolve(value!)));
    });
    let settled = false;
    const done = reply.then(
      () => void (settled = true),
      () => void (settled = true),
    );
    try {
      for await (const message of source) {
        if (settled) break;
        if (!call.write(message)) await Promise.race([new Promise((r) => call.once('drain', r)), done]);
      }
    } catch (error) {
      // The source failed (an export threw): nothing more can be sent; the callee keeps what it imported.
      call.cancel();
      await done;
      throw error;
    }
    call.end();
    return reply;
  }

  close(): void {
    this.client.close();
  }

  private metadata(): grpc.Metadata {
    const o = this.options;
    const metadata = new grpc.Metadata();
    metadata.set(HANDOFF_METADATA.swarmId, Buffer.from(o.self, 'utf8'));
    metadata.set(HANDOFF_METADATA.bootNonce, Buffer.from(o.bootNonce, 'utf8'));
    metadata.set(HANDOFF_METADATA.protocol, PROTOCOL_VERSION);
    if (o.authToken) metadata.set(HANDOFF_METADATA.proof, signEdgeProof(o.authToken, { swarm: o.target, edgeId: o.self, bootNonce: o.bootNonce }, Date.now(), SWARM_PROOF_LABEL));
    return metadata;
  }
}
