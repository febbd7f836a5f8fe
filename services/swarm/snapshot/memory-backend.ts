/**
 * Snapshots kept in this process's memory. It survives nothing, so it is
 * a stand-in, not a deployment option: tests run the scheduler against it,
 * and it is the reference the Redis backend is checked against (one
 * conformance suite for both). Values are copied in and out, as they would
 * be over a socket, and expire like Redis keys.
 */
import { slotError, ttlError, type SlotWrite, type SnapshotBackend } from './backend.js';

interface Entry {
  value: Uint8Array;
  /** Milliseconds on `now`'s clock. */
  expiresAt: number;
}

export interface MemoryBackendOptions {
  /** Milliseconds clock for expiry; default Date.now. */
  now?: () => number;
}

const CLOSED = 'the snapshot backend is closed';

export class MemorySnapshotBackend implements SnapshotBackend {
  private readonly entries = new Map<number, Entry>();
  private readonly now: () => number;
  private closed = false;

  constructor(options: MemoryBackendOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  get ready(): boolean {
    return !this.closed;
  }

  /** Reachable from the start, and never lost. */
  readonly connections = 1;

  async waitReady(): Promise<boolean> {
    return !this.closed;
  }

  async writeMany(entries: readonly SlotWrite[], ttlSeconds: number): Promise<Array<Error | null>> {
    const badTtl = ttlError(ttlSeconds);
    return entries.map(({ slot, value }) => {
      const problem = this.closed ? new Error(CLOSED) : (slotError(slot) ?? (value === null ? null : badTtl));
      if (problem !== null) return problem;
      if (value === null) this.entries.delete(slot);
      else this.entries.set(slot, { value: Uint8Array.from(value), expiresAt: this.now() + ttlSeconds * 1000 });
      return null;
    });
  }

  async readMany(slots: readonly number[]): Promise<Array<Uint8Array | null | Error>> {
    return slots.map((slot) => {
      const problem = this.closed ? new Error(CLOSED) : slotError(slot);
      if (problem !== null) return problem;
      const entry = this.live(slot);
      return entry ? Uint8Array.from(entry.value) : null;
    });
  }

  /** Milliseconds the slot's snapshot has left, or null when it has none (diagnostics and tests). */
  ttlMs(slot: number): number | null {
    const entry = this.live(slot);
    return entry ? entry.expiresAt - this.now() : null;
  }

  /** Slots holding a snapshot now. */
  get size(): number {
    let n = 0;
    for (const slot of this.entries.keys()) if (this.live(slot)) n++;
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.entries.clear();
  }

  private live(slot: number): Entry | undefined {
    const entry = this.entries.get(slot);
    if (entry && entry.expiresAt <= this.now()) {
      this.entries.delete(slot);
      return undefined;
    }
    return entry;
  }
}
