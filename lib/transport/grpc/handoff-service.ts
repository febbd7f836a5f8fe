/**
 * The swarm <-> swarm service of proto/tracker.proto (tracker.v1.Handoff:
 * Pull and Push of slot chunks) as a grpc-js service definition. A cold path
 * (a few calls per membership change), so its messages go through the
 * protobufjs code generated from the .proto.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import * as generated from './generated/tracker.js';
import type { tracker } from './generated/tracker.types.js';

const pb = (generated as unknown as { tracker: typeof tracker }).tracker.v1;

/** Call metadata of handoff calls (see proto/tracker.proto, service Handoff). */
export const HANDOFF_METADATA = {
  /** The calling swarm's member name, UTF-8. */
  swarmId: 'tracker-swarm-id-bin',
  /** The calling swarm's boot nonce. */
  bootNonce: 'tracker-swarm-boot-bin',
  protocol: 'tracker-protocol',
  /** Token proof of the caller's name (edge-token.ts, SWARM_PROOF_LABEL); ASCII. */
  proof: 'tracker-swarm-proof',
  /** Push: only what changed since this pull, which the callee made. */
  pullId: 'tracker-pull-id',
} as const;

export const PULL_PATH = '/tracker.v1.Handoff/Pull';
export const PUSH_PATH = '/tracker.v1.Handoff/Push';

/** A callee refusing a push because it is leaving: hand the slots to the next owner. */
export const LEAVING_DETAILS = 'leaving';

export interface PullRequestMessage {
  slots: number[];
  pullId: string;
}

export interface SlotChunksMessage {
  chunks: Uint8Array[];
}

export interface PushReplyMessage {
  chunks: number;
  peers: number;
  refusedChunks: number;
}

export const encodePullRequest = (m: PullRequestMessage): Buffer => Buffer.from(pb.PullRequest.encode(m).finish());
export const decodePullRequest = (b: Buffer): PullRequestMessage => {
  const m = pb.PullRequest.decode(b);
  return { slots: m.slots, pullId: m.pullId };
};
export const encodeSlotChunks = (m: SlotChunksMessage): Buffer => Buffer.from(pb.SlotChunks.encode(m).finish());
export const decodeSlotChunks = (b: Buffer): SlotChunksMessage => ({ chunks: pb.SlotChunks.decode(b).chunks });
export const encodePushReply = (m: PushReplyMessage): Buffer => Buffer.from(pb.PushReply.encode(m).finish());
export const decodePushReply = (b: Buffer): PushReplyMessage => {
  const m = pb.PushReply.decode(b);
  return { chunks: m.chunks, peers: Number(m.peers), refusedChunks: m.refusedChunks };
};

const pull: MethodDefinition<PullRequestMessage, SlotChunksMessage> = {
  path: PULL_PATH,
  requestStream: false,
  responseStream: true,
  originalName: 'pull',
  requestSerialize: encodePullRequest,
  requestDeserialize: decodePullRequest,
  responseSerialize: encodeSlotChunks,
  responseDeserialize: decodeSlotChunks,
};

const push: MethodDefinition<SlotChunksMessage, PushReplyMessage> = {
  path: PUSH_PATH,
  requestStream: true,
  responseStream: false,
  originalName: 'push',
  requestSerialize: encodeSlotChunks,
  requestDeserialize: decodeSlotChunks,
  responseSerialize: encodePushReply,
  responseDeserialize: decodePushReply,
};

/** For `server.addService` (GrpcSwarmServerOptions.services) and `makeGenericClientConstructor`. */
export const handoffServiceDefinition = { pull, push } as unknown as ServiceDefinition;
