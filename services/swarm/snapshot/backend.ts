/**
 * Where slot snapshots are kept: one value per slot (0..65535), not per
 * swarm, so whichever swarm owns a slot next can read it. Implementations:
 * Redis (redis-backend.ts) and memory (memory-backend.ts); both pass the
 * same conformance suite (tests/support/snapshot-backend-conformance.ts).
 *
 * Nothing here is on a request path: the scheduler calls it on a timer, at
 * start and at shutdown. Calls fail fast instead of queueing while the store
 * is unreachable, so a caller never piles up work behind an outage.
 */

/** Slots are the first two bytes of an info-hash. */
export const SLOT_COUNT = 65536;

/** One slot's new snapshot, or null to delete it (the slot became empty). */
export interface SlotWrite {
  slot: number;
  value: Uint8Array | null;
}

export interface SnapshotBackend {
  /** True while calls can reach the store; false while it is unreachable (calls would fail at once). */
  readonly ready: boolean;
  /**
   * How many times the store became reachable since the backend was made
   * (a reconnect after an outage counts again). A change means what was
   * written before may be gone (a Redis restarted without persistence).
   */
  readonly connections: number;
  /** Resolves true once the store is reachable (at once if it is), false if `timeoutMs` passes first. */
  waitReady(timeoutMs: number): Promise<boolean>;
  /**
   * Stores each entry's value as its slot's snapshot, replacing any and
   * expiring after `ttlSeconds`, or deletes the slot's snapshot when the
   * value is null. Resolves with one result per entry, in order: null when
   * written, else that entry's Error. Never rejects. Batches are what make
   * this cheap: one round trip and a few commands for thousands of slots.
   */
  writeMany(entries: readonly SlotWrite[], ttlSeconds: number): Promise<Array<Error | null>>;
  /**
   * The snapshots of `slots`, in the same order: the bytes, null when the
   * slot has none (or it expired), or the Error that slot's read got. Never
   * rejects; one slot's failure does not hide the others' values.
   */
  readMany(slots: readonly number[]): Promise<Array<Uint8Array | null | Error>>;
  /** Lets go of connections and timers; calls after it fail. */
  close(): Promise<void>;
}

/** A RangeError for a slot outside 0..65535, else null. */
export function slotError(slot: number): RangeError | null {
  if (Number.isInteger(slot) && slot >= 0 && slot < SLOT_COUNT) return null;
  return new RangeError(`slot must be an integer 0..${SLOT_COUNT - 1}, got ${slot}`);
}

/** A RangeError unless the TTL is a positive number of seconds. */
export function ttlError(ttlSeconds: number): RangeError | null {
  return ttlSeconds > 0 && Number.isFinite(ttlSeconds) ? null : new RangeError(`ttlSeconds must be positive, got ${ttlSeconds}`);
}
