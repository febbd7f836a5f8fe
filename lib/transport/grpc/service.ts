/**
 * The gRPC service of proto/tracker.proto (tracker.v1.Swarm/Exchange) as a
 * grpc-js service definition whose serializers are our own codec: no
 * runtime .proto loading, no @grpc/proto-loader.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import * as fastCodec from './codec.js';
import type { DecodedEdgeBatch, DecodedSwarmBatch, OutgoingEdgeBatch, Relay } from './codec.js';
import type { SwarmReply } from '../../tracker/swarm.js';

/** Call metadata keys (see the header of proto/tracker.proto). */
export const METADATA = {
  edgeId: 'tracker-edge-id-bin',
  bootNonce: 'tracker-edge-boot-bin',
  protocol: 'tracker-protocol',
  swarmId: 'tracker-swarm-id-bin',
  /** Token proof of the edge's identity (edge-token.ts); ASCII. */
  edgeProof: 'tracker-edge-proof',
} as const;
export const PROTOCOL_VERSION = '1';

export const EXCHANGE_PATH = '/tracker.v1.Swarm/Exchange';

/** One outgoing SwarmBatch: replies[i] answers ids[i]; relays for this edge. */
export interface OutgoingSwarmBatch {
  readonly ids: ArrayLike<number>;
  readonly replies: readonly SwarmReply[];
  readonly relays: readonly Relay[];
}

/** Encoders/decoders for the two stream message types; codec.ts or pbjs-codec.ts. */
export interface WireCodec {
  encodeEdgeBatch(batch: OutgoingEdgeBatch): Buffer;
  decodeEdgeBatch(buf: Buffer): DecodedEdgeBatch;
  encodeSwarmBatch(ids: ArrayLike<number>, replies: readonly SwarmReply[], relays?: readonly Relay[]): Buffer;
  decodeSwarmBatch(buf: Buffer): DecodedSwarmBatch;
}

const cache = new WeakMap<WireCodec, ServiceDefinition>();

/**
 * The service definition, for `server.addService` and
 * `grpc.makeGenericClientConstructor`. The request side serializes
 * OutgoingEdgeBatch and deserializes DecodedEdgeBatch; the response side
 * serializes OutgoingSwarmBatch and deserializes DecodedSwarmBatch.
 */
export function swarmServiceDefinition(codec: WireCodec = fastCodec): ServiceDefinition {
  let definition = cache.get(codec);
  if (!definition) {
    const exchange: MethodDefinition<unknown, unknown> = {
      path: EXCHANGE_PATH,
      requestStream: true,
      responseStream: true,
      originalName: 'exchange',
      requestSerialize: (batch) => codec.encodeEdgeBatch(batch as OutgoingEdgeBatch),
      requestDeserialize: (buf) => codec.decodeEdgeBatch(buf),
      responseSerialize: (batch) => {
        const b = batch as OutgoingSwarmBatch;
        return codec.encodeSwarmBatch(b.ids, b.replies, b.relays);
      },
      responseDeserialize: (buf) => codec.decodeSwarmBatch(buf),
    };
    definition = { exchange } as ServiceDefinition;
    cache.set(codec, definition);
  }
  return definition;
}
