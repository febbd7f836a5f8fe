/**
 * Writes a swarm's slots to a SnapshotBackend and reads them back at start.
 *
 * - Every `intervalMs`, a pass writes the owned slots that changed since
 *   they were last written (the source's dirty slots, plus any whose write
 *   failed before): their bytes, or a delete when the slot became empty.
 * - On shutdown, one last pass writes every non-empty owned slot (and the
 *   changed empty ones), within a deadline; slots owned at the previous
 *   pass count as owned, as a stopping swarm may have left the slot table.
 * - At start, `restore` reads every owned slot and imports it, within a
 *   deadline, so the swarm can report ready after it.
 * - After the backend reconnects (an outage, or a Redis restarted empty),
 *   the next pass writes every owned slot, as on shutdown: what was written
 *   before may be gone, and unchanged slots would otherwise not be written
 *   again until they change.
 *
 * The backend is never waited on by a request: passes run on a timer, fail
 * fast when it is unreachable, and a failed slot stays pending for the next
 * pass. Export and import run in steps of at most `budgetMs` per event-loop
 * turn (like the store's expiry sweep), so a pass never stalls serving;
 * written bytes not yet acknowledged stay under `maxBytesInFlight`.
 *
 * The store's slot export/import and slot ownership come from a SlotSource.
 */
import { performance } from 'node:perf_hooks';
import type { FailureSink } from '../../../lib/runtime/failures.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import type { SnapshotStatsSource } from '../../../lib/runtime/metrics.js';
import { SLOT_COUNT, type SlotWrite, type SnapshotBackend } from './backend.js';

/** What the scheduler needs from the swarm: ownership, change tracking, and the slot codec. */
export interface SlotSource {
  /** The slots this swarm owns now. */
  ownedSlots(): Iterable<number>;
  /**
   * The slots to read at start; default `ownedSlots()`. A starting swarm
   * may own nothing yet (it is not a ready member of the slot table until
   * it reports ready): it reads the slots it is about to own.
   */
  slotsToRestore?(): Iterable<number>;
  /** Slots changed (peers added, refreshed, removed, expired) since the last call; the source forgets them. */
  takeDirty(): Iterable<number>;
  /**
   * The slot's state as bytes, in parts made as they are asked for, so the
   * scheduler can give the event loop a turn between two; no parts when the
   * slot holds nothing (its snapshot is then deleted). The snapshot is the
   * parts one after the other.
   */
  exportSlot(slot: number): Iterable<Uint8Array>;
  /**
   * Merges a snapshot into the slot and returns how many peers it kept
   * (expired ones are not). Throws on bytes it cannot read. Must not mark
   * the slot dirty: what was just read is what Redis holds.
   */
  importSlot(slot: number, bytes: Uint8Array): number;
}

/** Time and turns, injectable so tests can run passes without waiting and measure blocking without wall time. */
export interface SchedulerClock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Resolves in a later event-loop turn, so I/O waiting meanwhile (requests) runs first. */
  yieldTurn(): Promise<void>;
}

export const systemClock: SchedulerClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  yieldTurn: () => new Promise((resolve) => setImmediate(resolve)),
};

export interface SchedulerOptions {
  /** Time between the end of one pass and the start of the next. */
  intervalMs: number;
  /** Lifetime of every written snapshot; about the peer lifetime. */
  ttlSeconds: number;
  /** Bytes handed to the backend and not yet acknowledged, at most (a bigger single slot still goes alone). */
  maxBytesInFlight: number;
  /** Longest run of export or import work in one event-loop turn. */
  budgetMs: number;
  restoreDeadlineMs: number;
  shutdownDeadlineMs: number;
  failures: FailureSink;
  /** Counted when a deadline cut the restore or the shutdown write short (metrics.limitCounter of its config key). */
  deadlineHits?: { restore: LimitHit; shutdown: LimitHit };
  logger?: Logger;
  clock?: SchedulerClock;
}

export interface LimitHit {
  inc(): void;
}

export interface PassResult {
  /** Every slot the pass set out to write was written. */
  complete: boolean;
  set: number;
  deleted: number;
  bytes: number;
  /** Slots that failed (backend down, slow or erroring; or their export threw). */
  failed: number;
  /** Slots still pending afterwards (failed, or not reached before a deadline or a stop). */
  pending: number;
  seconds: number;
}

export interface RestoreResult {
  /** Every owned slot was read (found or absent) before the deadline. */
  complete: boolean;
  slots: number;
  bytes: number;
  peers: number;
  /** Reads that failed. */
  failed: number;
  /** Values the source could not import. */
  corrupt: number;
  /** Owned slots not read: the backend was unreachable or the deadline passed. */
  unread: number;
  seconds: number;
}

/** Slots handed to the backend in one batch, at most, whatever their size. */
const MAX_SLOTS_PER_WRITE = 4096;
/** Slots read per request to the backend; the next chunk is read while this one is imported. */
export const READ_CHUNK_SLOTS = 1024;

export class SnapshotScheduler implements SnapshotStatsSource {
  // Counters read by metrics when scraped.
  pendingSlots = 0;
  lastPassSeconds = 0;
  passesComplete = 0;
  passesIncomplete = 0;
  slotsSet = 0;
  slotsDeleted = 0;
  bytesWritten = 0;
  writeFailures = 0;
  readFailures = 0;
  corruptSlots = 0;
  restoreSeconds = 0;
  restoredSlots = 0;
  restoredBytes = 0;
  restoredPeers = 0;

  private readonly clock: SchedulerClock;
  /** 1 = owned and changed since last written. */
  private readonly pending = new Uint8Array(SLOT_COUNT);
  private readonly owned = new Uint8Array(SLOT_COUNT);
  private lastCompleteAt: number;
  private timer: unknown = null;
  private current: Promise<PassResult> | null = null;
  private stopping = false;
  private stopped: Promise<PassResult | null> | null = null;
  /** backend.connections when last looked at: a change is a reconnect, after which every owned slot is owed. */
  private connectionsSeen: number;
  private fullPassOwed = false;

  constructor(
    private readonly source: SlotSource,
    private readonly backend: SnapshotBackend,
    private readonly options: SchedulerOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    // Age counts from creation: a scheduler that never completes a pass shows a growing age.
    this.lastCompleteAt = this.clock.now();
    this.connectionsSeen = backend.connections;
  }

  ageSeconds(): number {
    return Math.max(0, (this.clock.now() - this.lastCompleteAt) / 1000);
  }

  /** Starts the periodic passes. */
  start(): void {
    if (this.stopping || this.timer !== null) return;
    this.schedule();
  }

  /**
   * Runs one pass of changed slots now (the timer's job; tests call it
   * directly). Passes never overlap: a call while one runs gets that one.
   */
  runPass(): Promise<PassResult> {
    this.current ??= this.pass(false, Infinity).finally(() => {
      this.current = null;
    });
    return this.current;
  }

  /**
   * Stops the timer, lets a running pass finish, then writes every owned
   * slot; all within shutdownDeadlineMs. Null when the deadline passed
   * before the last pass could start. Calling it again returns the same.
   */
  stop(): Promise<PassResult | null> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  /**
   * Reads every owned slot and imports it, waiting for the backend to be
   * reachable first; gives up at restoreDeadlineMs (what was imported
   * stays). Call once, before serving.
   */
  async restore(): Promise<RestoreResult> {
    const clock = this.clock;
    const started = clock.now();
    const deadline = started + this.options.restoreDeadlineMs;
    const result: RestoreResult = { complete: false, slots: 0, bytes: 0, peers: 0, failed: 0, corrupt: 0, unread: 0, seconds: 0 };
    try {
      const slots = Array.from(this.source.slotsToRestore?.() ?? this.source.ownedSlots());
      result.unread = slots.length;
      result.complete = await this.readInto(slots, deadline, result);
    } catch (error) {
      // Whatever went wrong, the swarm starts: clients re-announce what was not restored.
      this.options.failures.report(error, { during: 'snapshot restore' });
    }
    if (!result.complete && clock.now() >= deadline) this.options.deadlineHits?.restore.inc();
    result.seconds = (clock.now() - started) / 1000;
    this.restoreSeconds = result.seconds;
    const fields = { ...result };
    if (result.complete && result.failed === 0 && result.corrupt === 0) this.options.logger?.info('snapshot restored', fields);
    else this.options.logger?.warn('snapshot restore incomplete: serving with what was restored; clients re-announce the rest', fields);
    return result;
  }

  /**
   * `slots` were handed to another swarm (handoff): their snapshots are the
   * new owner's to write from now on, so no pass here writes or deletes
   * them, the shutdown pass included, unless the source owns them again.
   */
  release(slots: Iterable<number>): void {
    for (const slot of slots) {
      this.owned[slot] = 0;
      this.clearPending(slot);
    }
  }

  // ------------------------------------------------------------------ internals

  /** Reads `slots` in chunks and imports them; true when every one was read before the deadline. */
  private async readInto(slots: readonly number[], deadline: number, result: RestoreResult): Promise<boolean> {
    const clock = this.clock;
    if (!(await this.backend.waitReady(Math.max(0, deadline - clock.now())))) {
      this.options.failures.report(new Error(`snapshot store not reachable within ${this.options.restoreDeadlineMs} ms; starting without a restore`), { during: 'snapshot restore' });
      return false;
    }
    // This connection's data is what is read now; only a later reconnect owes a full pass.
    this.connectionsSeen = this.backend.connections;
    // Awaiting a promise that is already settled does not let I/O run: only yieldTurn starts a new turn.
    let turnStart = clock.now();
    let next: Promise<Array<Uint8Array | null | Error>> | null = slots.length > 0 ? this.backend.readMany(slots.slice(0, READ_CHUNK_SLOTS)) : null;
    for (let offset = 0; next !== null; offset += READ_CHUNK_SLOTS) {
      const values = await this.until(next, deadline);
      if (values === null) {
        this.options.failures.report(new Error(`snapshot restore deadline (${this.options.restoreDeadlineMs} ms) passed with ${result.unread} slots unread`), { during: 'snapshot restore' });
        return false;
      }
      const end = Math.min(offset + READ_CHUNK_SLOTS, slots.length);
      next = end < slots.length ? this.backend.readMany(slots.slice(end, end + READ_CHUNK_SLOTS)) : null;
      let firstReadError: Error | null = null;
      for (let i = 0; i < values.length; i++) {
        if (clock.now() - turnStart >= this.options.budgetMs) {
          await clock.yieldTurn();
          turnStart = clock.now();
        }
        const slot = slots[offset + i];
        const value = values[i];
        result.unread--;
        if (value === null) continue;
        if (value instanceof Error) {
          result.failed++;
          this.readFailures++;
          firstReadError ??= value;
          continue;
        }
        try {
          const peers = this.source.importSlot(slot, value);
          result.slots++;
          result.bytes += value.byteLength;
          result.peers += peers;
          this.restoredSlots++;
          this.restoredBytes += value.byteLength;
          this.restoredPeers += peers;
        } catch (error) {
          result.corrupt++;
          this.corruptSlots++;
          this.options.failures.report(error, { during: 'snapshot import', slot, bytes: value.byteLength });
        }
      }
      if (firstReadError !== null) this.options.failures.report(firstReadError, { during: 'snapshot restore read' });
    }
    return true;
  }

  private schedule(): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      // pass() reports its own failures and does not reject; the catch is for the impossible.
      void this.runPass()
        .catch((error: unknown) => this.options.failures.report(error, { during: 'snapshot pass' }))
        .finally(() => {
          if (!this.stopping) this.schedule();
        });
    }, this.options.intervalMs);
  }

  private async shutdown(): Promise<PassResult | null> {
    this.stopping = true;
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    const deadline = this.clock.now() + this.options.shutdownDeadlineMs;
    if (this.current !== null && (await this.until(this.current, deadline)) === null) {
      this.options.deadlineHits?.shutdown.inc();
      this.options.logger?.warn('snapshot on shutdown skipped: the running pass did not finish within the deadline', {
        deadlineMs: this.options.shutdownDeadlineMs,
        pendingSlots: this.pendingSlots,
      });
      return null;
    }
    const result = await this.pass(true, deadline);
    if (!result.complete && this.clock.now() >= deadline) this.options.deadlineHits?.shutdown.inc();
    const fields = { ...result };
    if (result.complete) this.options.logger?.info('snapshot written on shutdown', fields);
    else this.options.logger?.warn('snapshot on shutdown incomplete: some slots were not written', fields);
    return result;
  }

  /**
   * One pass. `full`: every owned slot (shutdown), otherwise the pending
   * ones. Stops early at `deadline`, when a write fails (the backend is
   * likely down: the rest would fail too) or, for a periodic pass, on stop.
   */
  private async pass(full: boolean, deadline: number): Promise<PassResult> {
    const clock = this.clock;
    const started = clock.now();
    const result: PassResult = { complete: false, set: 0, deleted: 0, bytes: 0, failed: 0, pending: 0, seconds: 0 };
    let finished = true;
    try {
      // On shutdown the table may already have given this swarm's slots away (it is draining); they
      // are still written: nobody else holds what it held.
      this.refreshOwned(this.stopping && full);
      this.collectDirty();
      if (this.backend.ready && this.backend.connections !== this.connectionsSeen) {
        this.connectionsSeen = this.backend.connections;
        this.fullPassOwed = true;
        this.options.logger?.info('snapshot store reconnected: writing every owned slot, in case it lost them');
      }
      if (this.fullPassOwed) full = true;
      if (this.pendingSlots > 0 || full) {
        if (!this.backend.ready) {
          // Exporting only to fail would cost CPU for nothing: every pending slot counts as a failed write.
          finished = false;
          result.failed = this.pendingSlots;
          this.writeFailures += this.pendingSlots;
          this.options.failures.report(new Error('snapshot store unreachable; changed slots wait for the next pass'), {
            during: 'snapshot write',
            pendingSlots: this.pendingSlots,
          });
        } else {
          finished = await this.writeSlots(full, deadline, result);
          if (finished && full) this.fullPassOwed = false;
        }
      }
    } catch (error) {
      // A bug in the source or the backend must not end the passes (or the process): count it, try again next time.
      finished = false;
      this.options.failures.report(error, { during: 'snapshot pass' });
    }

    result.pending = this.pendingSlots;
    result.complete = finished && result.failed === 0;
    result.seconds = (clock.now() - started) / 1000;
    this.lastPassSeconds = result.seconds;
    if (result.complete) {
      this.passesComplete++;
      this.lastCompleteAt = clock.now();
    } else {
      this.passesIncomplete++;
    }
    return result;
  }

  /**
   * Exports and writes the pass's slots in order; true when it went through
   * them all and every write was acknowledged before the deadline.
   */
  private async writeSlots(full: boolean, deadline: number, result: PassResult): Promise<boolean> {
    const clock = this.clock;
    const budget = this.options.budgetMs;
    const maxBytes = this.options.maxBytesInFlight;
    let batch: SlotWrite[] = [];
    let batchBytes = 0;
    let firstError: Error | null = null;

    /** Hands the batch over and books the outcome per slot; false when anything failed or the deadline passed. */
    const flush = async (): Promise<boolean> => {
      const entries = batch;
      batch = [];
      batchBytes = 0;
      const results = await this.until(this.backend.writeMany(entries, this.options.ttlSeconds), deadline);
      let ok = results !== null;
      for (let i = 0; i < entries.length; i++) {
        const { slot, value } = entries[i];
        const error = results === null ? null : results[i];
        if (results !== null && error === null) {
          this.clearPending(slot);
          if (value === null) {
            result.deleted++;
            this.slotsDeleted++;
          } else {
            result.set++;
            result.bytes += value.byteLength;
            this.slotsSet++;
            this.bytesWritten += value.byteLength;
          }
        } else {
          // Not acknowledged (failed, or still unanswered at the deadline): owed to the next pass.
          this.markPending(slot);
          result.failed++;
          this.writeFailures++;
          firstError ??= error;
          ok = false;
        }
      }
      return ok;
    };

    // Awaiting a promise that is already settled does not let I/O run: only yieldTurn starts a new turn.
    let turnStart = clock.now();
    let ok = true;
    let slot = 0;
    for (; slot < SLOT_COUNT; slot++) {
      if (full ? this.owned[slot] === 0 : this.pending[slot] === 0) continue;
      if ((this.stopping && !full) || clock.now() >= deadline) break;
      if (clock.now() - turnStart >= budget) {
        await clock.yieldTurn();
        turnStart = clock.now();
      }
      let value: Uint8Array | null;
      try {
        const parts: Uint8Array[] = [];
        for (const part of this.source.exportSlot(slot)) {
          parts.push(part);
          if (clock.now() - turnStart >= budget) {
            await clock.yieldTurn();
            turnStart = clock.now();
          }
        }
        value = parts.length === 0 ? null : parts.length === 1 ? parts[0] : Buffer.concat(parts);
      } catch (error) {
        result.failed++;
        this.writeFailures++;
        this.markPending(slot);
        this.options.failures.report(error, { during: 'snapshot export', slot });
        continue;
      }
      if (value === null && this.pending[slot] === 0) continue; // empty and unchanged: nothing to delete
      const bytes = value === null ? 0 : value.byteLength;
      if ((batchBytes > 0 && batchBytes + bytes > maxBytes) || batch.length >= MAX_SLOTS_PER_WRITE) {
        ok = await flush();
        if (!ok) break;
      }
      batch.push({ slot, value });
      batchBytes += bytes;
    }
    const wentThrough = slot >= SLOT_COUNT;
    if (ok && batch.length > 0) ok = await flush();
    if (firstError !== null) {
      this.options.failures.report(firstError, { during: 'snapshot write', failedSlots: result.failed, pendingSlots: this.pendingSlots });
    }
    return wentThrough && ok;
  }

  /**
   * Owned slots now (and, with `keep`, those owned before too); pending
   * slots no longer owned are dropped (their new owner writes them).
   */
  private refreshOwned(keep = false): void {
    if (!keep) this.owned.fill(0);
    for (const slot of this.source.ownedSlots()) this.owned[slot] = 1;
    for (let slot = 0; slot < SLOT_COUNT; slot++) {
      if (this.pending[slot] !== 0 && this.owned[slot] === 0) {
        this.pending[slot] = 0;
        this.pendingSlots--;
      }
    }
  }

  private collectDirty(): void {
    for (const slot of this.source.takeDirty()) if (this.owned[slot] === 1) this.markPending(slot);
  }

  private clearPending(slot: number): void {
    if (this.pending[slot] !== 0) {
      this.pending[slot] = 0;
      this.pendingSlots--;
    }
  }

  private markPending(slot: number): void {
    if (this.pending[slot] === 0) {
      this.pending[slot] = 1;
      this.pendingSlots++;
    }
  }

  /** `promise`'s value, or null once `deadline` (on the scheduler's clock) passes first. */
  private until<T>(promise: Promise<T>, deadline: number): Promise<T | null> {
    if (deadline === Infinity) return promise;
    const remaining = deadline - this.clock.now();
    if (remaining <= 0) return Promise.resolve(null);
    return new Promise<T | null>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => resolve(null), remaining);
      promise.then(
        (value) => {
          this.clock.clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          this.clock.clearTimeout(timer);
          reject(error);
        },
      );
    });
  }
}
