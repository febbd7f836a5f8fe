/**
 * Stand-ins for what the snapshot scheduler talks to, so its tests need no
 * store (the real SlotSource, over a swarm, is tested in
 * tests/unit/snapshot/swarm-slot-source.test.ts): a SlotSource holding
 * opaque bytes per slot, a clock that moves only when told, a backend
 * wrapper that can fail, hang, reconnect and measure what is in flight, and
 * a FailureSink that keeps what it was given.
 */
import type { FailureSink } from '../../lib/runtime/failures.js';
import type { SlotWrite, SnapshotBackend } from '../../services/swarm/snapshot/backend.js';
import type { SchedulerClock, SlotSource } from '../../services/swarm/snapshot/scheduler.js';

/** What ioredis says when asked to send while disconnected with the offline queue off. */
const OFFLINE = "Stream isn't writeable and enableOfflineQueue options is false";

const CORRUPT = Buffer.from('CORRUPT!', 'latin1');

/** A value FakeSlotSource.importSlot refuses, as the store would refuse a snapshot it cannot read. */
export function corruptValue(length = 60): Uint8Array {
  const out = new Uint8Array(Math.max(length, CORRUPT.length));
  out.set(CORRUPT);
  return out;
}

export class FakeSlotSource implements SlotSource {
  readonly state = new Map<number, Uint8Array>();
  readonly owned = new Set<number>();
  readonly dirty = new Set<number>();
  readonly imported = new Map<number, Uint8Array>();
  exports = 0;
  /** Called on every export/import (e.g. to advance a fake clock by the work's cost). */
  onExport: (slot: number) => void = () => {};
  onImport: (slot: number) => void = () => {};
  /** Exports of these slots throw. */
  readonly brokenExports = new Set<number>();

  own(...slots: number[]): this {
    for (const slot of slots) this.owned.add(slot);
    return this;
  }

  /** What an announce or expiry does to a slot: new state (null = empty) and a dirty mark. */
  change(slot: number, value: Uint8Array | null): void {
    if (value === null) this.state.delete(slot);
    else this.state.set(slot, value);
    this.dirty.add(slot);
  }

  ownedSlots(): Iterable<number> {
    return this.owned;
  }

  takeDirty(): Iterable<number> {
    const slots = [...this.dirty];
    this.dirty.clear();
    return slots;
  }

  exportSlot(slot: number): Uint8Array[] {
    this.exports++;
    this.onExport(slot);
    if (this.brokenExports.has(slot)) throw new Error(`export of slot ${slot} broke`);
    const value = this.state.get(slot);
    return value ? [value] : [];
  }

  /** Peers kept = bytes / 6 (one compact IPv4 peer per 6 bytes, say). */
  importSlot(slot: number, bytes: Uint8Array): number {
    this.onImport(slot);
    if (bytes[0] === CORRUPT[0] && Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, CORRUPT.length)).equals(CORRUPT)) {
      throw new Error(`slot ${slot}: not a snapshot this version can read`);
    }
    this.imported.set(slot, Uint8Array.from(bytes));
    return Math.floor(bytes.byteLength / 6);
  }
}

interface Timer {
  at: number;
  fn: () => void;
}

/** Time moves only through `advance` (or the instrumented work that calls it). */
export class FakeClock implements SchedulerClock {
  t = 0;
  yields = 0;
  private readonly timers = new Set<Timer>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { at: this.t + ms, fn };
    this.timers.add(timer);
    return timer;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as Timer);
  }

  async yieldTurn(): Promise<void> {
    this.yields++;
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Moves time forward and runs the timers that came due, in order. */
  advance(ms: number): void {
    this.t += ms;
    for (;;) {
      let due: Timer | null = null;
      for (const timer of this.timers) if (timer.at <= this.t && (due === null || timer.at < due.at)) due = timer;
      if (due === null) return;
      this.timers.delete(due);
      due.fn();
    }
  }

  get pendingTimers(): number {
    return this.timers.size;
  }
}

/** Settles everything queued: promise callbacks and a few rounds of setImmediate. */
export async function drain(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

export interface BackendCall {
  op: 'set' | 'delete' | 'read';
  slot: number;
  bytes: number;
}

/**
 * Wraps a backend to misbehave on demand: `down` (unreachable: not ready and
 * every call fails at once, as ioredis does without an offline queue), `hang`
 * (calls never settle until `release`), per-slot write or read failures.
 * Records every call and the most bytes ever handed over and not settled.
 */
export class FaultyBackend implements SnapshotBackend {
  down = false;
  hang = false;
  readonly failWrites = new Set<number>();
  readonly failReads = new Set<number>();
  readonly calls: BackendCall[] = [];
  inFlightBytes = 0;
  maxInFlightBytes = 0;
  writeBatches = 0;
  private held: Array<() => void> = [];

  /** Reconnections simulated by `reconnect`. */
  private reconnects = 0;

  constructor(readonly inner: SnapshotBackend) {}

  get ready(): boolean {
    return !this.down && this.inner.ready;
  }

  get connections(): number {
    return this.inner.connections + this.reconnects;
  }

  /** The connection came back after an outage (what Redis coming back, perhaps empty, looks like). */
  reconnect(): void {
    this.down = false;
    this.reconnects++;
  }

  async waitReady(timeoutMs: number): Promise<boolean> {
    return this.down ? false : this.inner.waitReady(timeoutMs);
  }

  async writeMany(entries: readonly SlotWrite[], ttlSeconds: number): Promise<Array<Error | null>> {
    let bytes = 0;
    for (const { slot, value } of entries) {
      this.calls.push({ op: value === null ? 'delete' : 'set', slot, bytes: value?.byteLength ?? 0 });
      bytes += value?.byteLength ?? 0;
    }
    this.writeBatches++;
    if (this.down) return entries.map(() => new Error(OFFLINE));
    this.inFlightBytes += bytes;
    this.maxInFlightBytes = Math.max(this.maxInFlightBytes, this.inFlightBytes);
    try {
      if (this.hang) await new Promise<void>((resolve) => this.held.push(resolve));
      const passed = entries.filter((e) => !this.failWrites.has(e.slot));
      const innerResults = await this.inner.writeMany(passed, ttlSeconds);
      let j = 0;
      return entries.map((e) => (this.failWrites.has(e.slot) ? new Error(`write of slot ${e.slot} failed`) : innerResults[j++]));
    } finally {
      this.inFlightBytes -= bytes;
    }
  }

  async readMany(slots: readonly number[]): Promise<Array<Uint8Array | null | Error>> {
    for (const slot of slots) this.calls.push({ op: 'read', slot, bytes: 0 });
    if (this.down) return slots.map(() => new Error(OFFLINE));
    if (this.hang) await new Promise<void>((resolve) => this.held.push(resolve));
    const values = await this.inner.readMany(slots);
    return values.map((value, i) => (this.failReads.has(slots[i]) ? new Error(`read of slot ${slots[i]} failed`) : value));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Lets every hung call go on. */
  release(): void {
    const held = this.held;
    this.held = [];
    for (const go of held) go();
  }

  writes(): BackendCall[] {
    return this.calls.filter((c) => c.op !== 'read');
  }
}

/** A FailureSink that keeps every report. */
export class RecordingSink implements FailureSink {
  readonly reports: Array<{ error: unknown; fields: Record<string, unknown> | undefined }> = [];
  get count(): number {
    return this.reports.length;
  }
  report(error: unknown, fields?: Record<string, unknown>): void {
    this.reports.push({ error, fields });
  }
}
