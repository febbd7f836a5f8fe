/**
 * Slot snapshots in Redis (standalone, Sentinel or Cluster: whatever client
 * redis-client.ts built). One key per slot, `<prefix>slot:<0000-ffff>`,
 * holding the slot's binary snapshot with a TTL, so a slot nobody writes
 * again disappears once its peers would have expired anyway.
 *
 * Per command, ioredis costs ~15-20 us of CPU (measured here: 65,536 SETs
 * 1.4 s, GETs 1.0 s), far more than Redis does. So on one server
 * (standalone, Sentinel) a batch is a few commands: MGET for reads, one
 * small Lua script that SETs many keys with their TTL for writes, multi-key
 * DEL for deletes, each up to KEYS_PER_COMMAND keys (5-7x less CPU: 0.26 s
 * and 0.14 s for the same 65,536). A Redis Cluster refuses multi-key
 * commands across hash slots, and a user may be denied scripting: there
 * each key is its own command, sent as one pipeline per node by ioredis's
 * auto-pipelining.
 *
 * Connection trouble is reported to a FailureSink (counted, logged
 * rate-limited); ioredis reconnects by itself.
 */
import type { Cluster, Redis } from 'ioredis';
import type { FailureSink } from '../../../lib/runtime/failures.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import { slotError, ttlError, type SlotWrite, type SnapshotBackend } from './backend.js';

export interface RedisBackendOptions {
  /** Prepended to every key, e.g. "tracker:". */
  keyPrefix: string;
  /** Connection errors (refused, reset, timeouts outside a command). */
  failures: FailureSink;
  /** Connection state changes, once per change (not per retry). */
  logger?: Logger;
}

/** Keys per MGET, DEL or script call: ~1 ms of Redis time, so other clients of a shared Redis barely wait. */
export const KEYS_PER_COMMAND = 1024;

/** SET of every KEYS[i] to ARGV[i] with the TTL in the last ARGV. Keys are declared, as scripts must. */
const SET_WITH_TTL = "local ttl = ARGV[#ARGV] for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i], 'EX', ttl) end return #KEYS";

/** Errors that say scripting is not allowed for us (ACL, renamed or disabled EVAL), as opposed to a passing failure. */
const NO_SCRIPTING = /NOPERM|unknown command|disabled/i;

const CLOSED = 'the snapshot backend is closed';

/** `<prefix>slot:<4 lowercase hex digits>`. */
export function slotKey(prefix: string, slot: number): string {
  return `${prefix}slot:${slot.toString(16).padStart(4, '0')}`;
}

export class RedisSnapshotBackend implements SnapshotBackend {
  private wasReady = false;
  private closed = false;
  connections = 0;
  /** MGET and multi-key DEL: not on a Cluster (keys of one batch live on different nodes). */
  private readonly multiKey: boolean;
  /** Writes through the script: not on a Cluster, and no more once scripting was refused. */
  private scripts: boolean;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly options: RedisBackendOptions,
  ) {
    this.multiKey = !client.isCluster;
    this.scripts = this.multiKey;
    // Without an 'error' listener ioredis prints every failed reconnection to the console.
    client.on('error', (error: Error) => options.failures.report(error, { during: 'redis connection' }));
    client.on('ready', () => {
      this.connections++;
      if (!this.wasReady) options.logger?.info('snapshot redis ready');
      this.wasReady = true;
    });
    client.on('close', () => {
      // Closing it ourselves (shutdown) is no loss.
      if (this.wasReady && !this.closed) options.logger?.warn('snapshot redis connection lost; reconnecting (snapshots wait, serving goes on)');
      this.wasReady = false;
    });
  }

  /** Whether writes go through the script (true) or one SET per key (diagnostics and tests). */
  get scripted(): boolean {
    return this.scripts;
  }

  get ready(): boolean {
    return !this.closed && this.client.status === 'ready';
  }

  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    if (this.closed || this.client.status === 'end') return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        resolve(ok);
      };
      const onReady = (): void => done(true);
      const timer = setTimeout(() => done(this.ready), Math.max(0, timeoutMs));
      this.client.on('ready', onReady);
    });
  }

  async writeMany(entries: readonly SlotWrite[], ttlSeconds: number): Promise<Array<Error | null>> {
    const results = new Array<Error | null>(entries.length).fill(null);
    const ttl = Math.ceil(ttlSeconds);
    const badTtl = ttlError(ttlSeconds);
    const sets: number[] = [];
    const deletes: number[] = [];
    for (let i = 0; i < entries.length; i++) {
      const { slot, value } = entries[i];
      const problem = this.closed ? new Error(CLOSED) : (slotError(slot) ?? (value === null ? null : badTtl));
      if (problem !== null) results[i] = problem;
      else if (value === null) deletes.push(i);
      else sets.push(i);
    }
    const key = (i: number): string => slotKey(this.options.keyPrefix, entries[i].slot);
    const bytes = (i: number): Buffer => asBuffer(entries[i].value!);
    const fail = (indexes: readonly number[], error: Error): void => {
      for (const i of indexes) results[i] = error;
    };

    const pending: Promise<void>[] = [];
    if (this.scripts) {
      for (const group of groups(sets)) {
        pending.push(
          this.client.eval(SET_WITH_TTL, group.length, ...group.map(key), ...group.map(bytes), ttl).then(
            () => {},
            (error: Error) => {
              if (!NO_SCRIPTING.test(error.message)) return fail(group, error);
              this.stopScripts(error);
              return this.setEach(group, key, bytes, ttl, results);
            },
          ),
        );
      }
    } else {
      pending.push(this.setEach(sets, key, bytes, ttl, results));
    }
    for (const group of this.multiKey ? groups(deletes) : deletes.map((i) => [i])) {
      pending.push(this.client.del(...group.map(key)).then(() => {}, (error: Error) => fail(group, error)));
    }
    await Promise.all(pending);
    return results;
  }

  async readMany(slots: readonly number[]): Promise<Array<Uint8Array | null | Error>> {
    const results = new Array<Uint8Array | null | Error>(slots.length).fill(null);
    const valid: number[] = [];
    for (let i = 0; i < slots.length; i++) {
      const problem = this.closed ? new Error(CLOSED) : slotError(slots[i]);
      if (problem !== null) results[i] = problem;
      else valid.push(i);
    }
    const key = (i: number): string => slotKey(this.options.keyPrefix, slots[i]);
    const pending: Promise<void>[] = [];
    if (this.multiKey) {
      for (const group of groups(valid)) {
        pending.push(
          this.client.mgetBuffer(...group.map(key)).then(
            (values) => {
              for (let j = 0; j < group.length; j++) results[group[j]] = values[j];
            },
            (error: Error) => {
              for (const i of group) results[i] = error;
            },
          ),
        );
      }
    } else {
      for (const i of valid) {
        pending.push(
          this.client.getBuffer(key(i)).then(
            (value) => {
              results[i] = value;
            },
            (error: Error) => {
              results[i] = error;
            },
          ),
        );
      }
    }
    await Promise.all(pending);
    return results;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.client.status === 'end') return;
    // QUIT lets queued replies arrive; without a connection there is nothing to wait for.
    if (this.client.status === 'ready') {
      await this.client.quit().catch(() => this.client.disconnect());
    } else {
      this.client.disconnect();
    }
  }

  /** One SET per key (auto-pipelined); each failure lands on its own entry. */
  private setEach(indexes: readonly number[], key: (i: number) => string, bytes: (i: number) => Buffer, ttl: number, results: Array<Error | null>): Promise<void> {
    return Promise.all(
      indexes.map((i) =>
        this.client.set(key(i), bytes(i), 'EX', ttl).then(
          () => {},
          (error: Error) => {
            results[i] = error;
          },
        ),
      ),
    ).then(() => {});
  }

  private stopScripts(error: Error): void {
    if (!this.scripts) return;
    this.scripts = false;
    this.options.logger?.warn('snapshot redis refuses scripts: writing one command per slot from now on (more CPU per pass)', { error });
  }
}

/** A Buffer over the same memory: ioredis writes Buffers as raw bytes. */
function asBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** `indexes` in runs of at most KEYS_PER_COMMAND. */
function groups(indexes: readonly number[]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < indexes.length; i += KEYS_PER_COMMAND) out.push(indexes.slice(i, i + KEYS_PER_COMMAND));
  return out;
}
