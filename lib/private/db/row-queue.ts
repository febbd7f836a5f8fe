/**
 * One table's bounded queue of rows waiting to be written, coalesced by key:
 * a row queued again before the flush is merged into the queued one (counters
 * summed, states replaced: tables.ts), so a busy peer is one row per flush,
 * not one per announce.
 *
 * Bounded by distinct keys: a new key beyond `capacity` is refused (the
 * caller counts it) and never waits. Rows taken for a statement stay counted
 * against the bound until they are written (`done`) or put back (`restore`,
 * merged with whatever arrived for the same keys meanwhile), so a failing
 * database never grows the queue past its bound and never loses a row that
 * was accepted.
 */
import type { TableSpec } from './tables.js';

export type RowValue = number | string | null;
/** A row's key: its number for one key column, (a x 2^32 + b) for two small ones, a string otherwise. */
type RowKey = number | string;
/** Below this, a x 2^32 + b stays an exact integer (2^21 x 2^32 = 2^53). */
const NUMERIC_HIGH_LIMIT = 2 ** 21;

/** A queued row: its values in column order, and when its oldest data was queued (ms). */
export interface QueuedRow {
  values: RowValue[];
  queuedAt: number;
}

export class RowQueue {
  private rows = new Map<RowKey, QueuedRow>();
  private taken = 0;
  private readonly keyColumns: number[];

  constructor(
    readonly spec: TableSpec,
    readonly capacity: number,
  ) {
    this.keyColumns = spec.columns.flatMap((c, i) => (c.merge === 'key' ? [i] : []));
  }

  /** Rows waiting, plus rows taken and not yet written. */
  get length(): number {
    return this.rows.size + this.taken;
  }

  get waiting(): number {
    return this.rows.size;
  }

  /** When the oldest waiting row was queued (ms), or -1. */
  oldestQueuedAt(): number {
    for (const row of this.rows.values()) return row.queuedAt;
    return -1;
  }

  /**
   * Queues a row. `values` is the caller's scratch array: it is merged into
   * a queued row of the same key, or copied for a new one, so the common
   * case (a peer announcing again before the flush) allocates nothing but
   * at most a key string. Returns false, queuing nothing, when a new key
   * finds the queue full.
   */
  add(values: readonly RowValue[], now: number): boolean {
    const key = this.key(values);
    const queued = this.rows.get(key);
    if (queued !== undefined) {
      this.merge(queued.values, values);
      return true;
    }
    if (this.length >= this.capacity) return false;
    this.rows.set(key, { values: values.slice(), queuedAt: now });
    return true;
  }

  /** Takes up to `max` of the oldest rows for one statement; they stay counted until done() or restore(). */
  take(max: number): QueuedRow[] {
    const batch: QueuedRow[] = [];
    for (const [key, row] of this.rows) {
      if (batch.length === max) break;
      batch.push(row);
      this.rows.delete(key);
    }
    this.taken += batch.length;
    return batch;
  }

  /** The taken rows were written. */
  done(batch: readonly QueuedRow[]): void {
    this.taken -= batch.length;
  }

  /** The taken rows were not written: they go back first (they are the oldest), merged with newer rows of the same keys. */
  restore(batch: readonly QueuedRow[]): void {
    this.taken -= batch.length;
    const rows = new Map<RowKey, QueuedRow>();
    for (const row of batch) rows.set(this.key(row.values), row);
    for (const [key, newer] of this.rows) {
      const older = rows.get(key);
      if (older === undefined) rows.set(key, newer);
      else this.merge(older.values, newer.values);
    }
    this.rows = rows;
  }

  private key(values: readonly RowValue[]): RowKey {
    const k = this.keyColumns;
    if (k.length === 1) return values[k[0]] as number;
    if (k.length === 2) {
      const high = values[k[0]] as number;
      const low = values[k[1]] as number;
      if (high >= 0 && high < NUMERIC_HIGH_LIMIT && low >= 0 && low <= 0xffffffff) return high * 0x100000000 + low;
    }
    let key = '';
    for (const i of k) key += `${values[i]}/`;
    return key;
  }

  /** Merges `newer` into `into` (the older row of the same key). */
  private merge(into: RowValue[], newer: readonly RowValue[]): void {
    const columns = this.spec.columns;
    for (let i = 0; i < columns.length; i++) {
      switch (columns[i].merge) {
        case 'add':
          into[i] = (into[i] as number) + (newer[i] as number);
          break;
        case 'set':
          into[i] = newer[i];
          break;
        case 'min0':
          if (newer[i] === 0) into[i] = 0;
          break;
        default: // key, first: the older value stays
      }
    }
  }
}
