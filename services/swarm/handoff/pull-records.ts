/**
 * The pulls a swarm served, so that its push after the table change sends
 * only what changed since (services/swarm/handoff/handoff.ts).
 *
 * A joining swarm pulls its future slots from their owners before it
 * reports ready; once the edges switch to it, each old owner pushes what
 * changed since that pull and drops the slots. Each served pull is kept as
 * a record: the caller's pull id, a change cursor taken when the pull began
 * (slot-changes.ts: any change from then on, during the export included,
 * marks the slot) and the slots whose chunks were all written. A push to
 * that caller then leaves out the covered slots that did not change.
 *
 * The record is only a hint: the caller names the pull id back and refuses
 * the push (FAILED_PRECONDITION) unless it holds that pull complete (it may
 * have restarted, or lost the stream before the end), and the old owner
 * then pushes everything. One record per caller (a new pull replaces the
 * previous one); records older than `ttlMs` are forgotten.
 */
import { SLOT_COUNT } from '../../../lib/cluster/slot-table.js';
import type { SlotChangeCursor, SlotChanges } from '../store/slot-changes.js';

/** A pull served to one caller. */
export class PullRecord {
  /** 1 = every chunk of the slot was written to the caller. */
  readonly covered = new Uint8Array(SLOT_COUNT);
  /** 1 = changed since the pull began (filled from the cursor when asked). */
  private readonly changed = new Uint8Array(SLOT_COUNT);
  /** Every requested slot was written and the stream ended. */
  complete = false;

  constructor(
    readonly caller: string,
    readonly pullId: string,
    private readonly cursor: SlotChangeCursor,
    readonly startedAt: number,
  ) {}

  /** Takes the changes made since the last look (one scan of the slots' stamps). */
  refresh(): void {
    for (const s of this.cursor.take()) this.changed[s] = 1;
  }

  /** Whether `slot` was sent whole and had not changed at the last `refresh`. */
  unchanged(slot: number): boolean {
    return this.covered[slot] === 1 && this.changed[slot] === 0;
  }
}

/** What to push to a swarm that pulled before: `send`, named by `pullId`; `skipped` covered and unchanged. */
export interface DeltaPlan {
  pullId: string;
  send: number[];
  skipped: number[];
}

export class PullRecords {
  private readonly byCaller = new Map<string, PullRecord>();

  constructor(
    private readonly changes: SlotChanges,
    private readonly ttlMs = 10 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** A pull from `caller` begins: changes are tracked from now on. Replaces the caller's previous record. */
  begin(caller: string, pullId: string): PullRecord {
    const cursor = this.changes.cursor();
    // A cursor sees everything stamped in the epoch it starts in, earlier changes included: start a new one.
    cursor.take();
    const record = new PullRecord(caller, pullId, cursor, this.now());
    this.byCaller.set(caller, record);
    return record;
  }

  /**
   * The slots of `slots` to push to `target`, leaving out those it pulled
   * complete and unchanged since; undefined when no usable record exists
   * (push them all, without a pull id).
   */
  plan(target: string, slots: readonly number[]): DeltaPlan | undefined {
    const record = this.byCaller.get(target);
    if (!record || !record.complete || record.pullId === '') return undefined;
    if (this.now() - record.startedAt > this.ttlMs) {
      this.byCaller.delete(target);
      return undefined;
    }
    record.refresh();
    const send: number[] = [];
    const skipped: number[] = [];
    for (const slot of slots) (record.unchanged(slot) ? skipped : send).push(slot);
    return { pullId: record.pullId, send, skipped };
  }

  /** The target refused the delta (it does not hold that pull), or it was used up. */
  forget(target: string): void {
    this.byCaller.delete(target);
  }

  get size(): number {
    return this.byCaller.size;
  }
}
