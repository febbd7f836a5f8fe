/**
 * What a swarm's slot handoffs did since start, read by metrics when
 * scraped (lib/runtime/metrics.ts observeHandoff).
 */

/** Why a handoff call, or a whole handoff, did not go through. */
export type HandoffFailure =
  /** The other swarm could not be reached, or the call broke off. */
  | 'unreachable'
  /** The other swarm refused a push: it is leaving or stopping. */
  | 'leaving'
  /** The other swarm refused the call: this swarm's identity was not proven (cluster.tls / cluster.authToken). */
  | 'refused'
  /** cluster.handoffDeadlineSeconds passed first. */
  | 'deadline'
  /** No other swarm was left to take the slots. */
  | 'no-successor'
  /** Chunks the receiver could not import (another format version, damaged). */
  | 'import';

export const HANDOFF_FAILURES: readonly HandoffFailure[] = ['unreachable', 'leaving', 'refused', 'deadline', 'no-successor', 'import'];

/** A handoff this swarm runs: pulling before it is ready, pushing after a table change, pushing on stop. */
export type HandoffKind = 'join' | 'rebalance' | 'stop';

export const HANDOFF_KINDS: readonly HandoffKind[] = ['join', 'rebalance', 'stop'];

/** Calls from other swarms this swarm refused. */
export type HandoffRejection = 'unauthenticated' | 'permission-denied' | 'invalid' | 'leaving' | 'unknown-pull';

export const HANDOFF_REJECTIONS: readonly HandoffRejection[] = ['unauthenticated', 'permission-denied', 'invalid', 'leaving', 'unknown-pull'];

export class HandoffStats {
  /** Slots and peers this swarm received by pulling (joining). */
  slotsPulled = 0;
  peersPulled = 0;
  /** Slots and peers it sent to swarms pulling from it. */
  slotsServed = 0;
  peersServed = 0;
  /** Slots and peers it pushed to their new owners. */
  slotsPushed = 0;
  peersPushed = 0;
  /** Slots a push left out: the new owner had pulled them and they had not changed since. */
  slotsUnchanged = 0;
  /** Slots and peers other swarms pushed to it. */
  slotsReceived = 0;
  peersReceived = 0;
  /** Peers held when it stopped in slots it could not hand off (left to the Redis snapshot if any, else lost until they re-announce). */
  unsentPeers = 0;
  /** Slots held that belong to another swarm and were not handed off yet. */
  pendingSlots = 0;
  /** Handoffs running now (0 or more of join, rebalance, stop). */
  inProgress = 0;
  readonly failures: Record<HandoffFailure, number> = { unreachable: 0, leaving: 0, refused: 0, deadline: 0, 'no-successor': 0, import: 0 };
  readonly rejected: Record<HandoffRejection, number> = { unauthenticated: 0, 'permission-denied': 0, invalid: 0, leaving: 0, 'unknown-pull': 0 };
  /** Handoffs by kind and whether they handed everything over. */
  readonly complete: Record<HandoffKind, number> = { join: 0, rebalance: 0, stop: 0 };
  readonly incomplete: Record<HandoffKind, number> = { join: 0, rebalance: 0, stop: 0 };
  /** Duration of the last handoff of each kind, seconds. */
  readonly lastSeconds: Record<HandoffKind, number> = { join: 0, rebalance: 0, stop: 0 };
}
