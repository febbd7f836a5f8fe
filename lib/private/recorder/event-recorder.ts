/**
 * kuroneko's event recorder: every successful private announce becomes one
 * line, a JSON array in the documented field order,
 *
 *   [torrentId, userId, ipAddr, port, event, seeding, deltaUp, deltaDown, up, down, left]
 *
 * appended to the hour's file `<folder>/events_YYYY-MM-DDTHH.json` (UTC; the
 * swarm's name is added before ".json" when one is given, so swarms of a
 * cluster never share a file). The hour is the announce's: lines are never
 * written to a later hour's file.
 *
 * `record()` only appends to a buffer and returns; a background write
 * empties it every `flushMs` (or when it holds 64 KiB). The buffer is bounded
 * (private.recordBufferBytes): a line that does not fit is dropped and
 * counted (tracker_limit_hits_total{limit="private.recordBufferBytes"}). A
 * failed write (disk full, folder gone) is reported through the FailureSink
 * and its lines are dropped; recording goes on. `close()` writes what is
 * buffered and closes the file.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { FailureSink } from '../../runtime/failures.js';

export interface EventRecorderOptions {
  folder: string;
  /** Swarm name for the file names; "" in all-in-one. */
  swarm: string;
  maxBufferBytes: number;
  failures: FailureSink;
  /** Counter of dropped lines (metrics.limitCounter('private.recordBufferBytes')). */
  dropped: { inc(): void };
  /** Milliseconds clock. Default Date.now. */
  now?: () => number;
  /** Background write period. Default 1000 ms. */
  flushMs?: number;
}

const WRITE_AT_BYTES = 64 * 1024;

interface Pending {
  file: string;
  lines: string[];
}

export class EventRecorder {
  recorded = 0;
  bufferedBytes = 0;
  private pending: Pending[] = [];
  private hourStart = -1;
  private hourFile = '';
  private handle: FileHandle | null = null;
  private handleFile = '';
  private writing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: EventRecorderOptions) {
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => void this.flush(), options.flushMs ?? 1000);
    this.timer.unref();
  }

  /** One successful announce. Never waits; returns false when the line was dropped (buffer full or closed). */
  record(
    torrentId: number,
    userId: number,
    ipAddr: string,
    port: number,
    event: string,
    seeding: boolean,
    deltaUp: number,
    deltaDown: number,
    up: number,
    down: number,
    left: number,
  ): boolean {
    if (this.closed) return false;
    const line = `[${torrentId},${userId},${JSON.stringify(ipAddr)},${port},${JSON.stringify(event)},${seeding ? 1 : 0},${deltaUp},${deltaDown},${up},${down},${left}]\n`;
    if (this.bufferedBytes + line.length > this.options.maxBufferBytes) {
      this.options.dropped.inc();
      return false;
    }
    const file = this.fileFor(this.now());
    let last = this.pending.length > 0 ? this.pending[this.pending.length - 1] : undefined;
    if (last === undefined || last.file !== file) this.pending.push((last = { file, lines: [] }));
    last.lines.push(line);
    this.bufferedBytes += line.length;
    if (this.bufferedBytes >= WRITE_AT_BYTES) void this.flush();
    return true;
  }

  /** Writes every buffered line; resolves when they are on their way to disk (or reported as failed). */
  flush(): Promise<void> {
    this.writing ??= this.writeAll().finally(() => {
      this.writing = null;
    });
    return this.writing;
  }

  /** Writes what is buffered, closes the file, and records nothing more. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    while (this.writing || this.pending.length > 0) await this.flush();
    await this.closeHandle();
  }

  /** The hour's file name for a time (ms); cached for the current hour. */
  private fileFor(ms: number): string {
    const hourStart = ms - (ms % 3_600_000);
    if (hourStart !== this.hourStart) {
      this.hourStart = hourStart;
      const hour = new Date(hourStart).toISOString().slice(0, 13); // YYYY-MM-DDTHH
      this.hourFile = join(this.options.folder, `events_${hour}${this.options.swarm === '' ? '' : `_${this.options.swarm}`}.json`);
    }
    return this.hourFile;
  }

  private async writeAll(): Promise<void> {
    while (this.pending.length > 0) {
      const chunk = this.pending.shift()!;
      const text = chunk.lines.join('');
      try {
        if (this.handleFile !== chunk.file) {
          await this.closeHandle();
          await mkdir(this.options.folder, { recursive: true });
          this.handle = await open(chunk.file, 'a');
          this.handleFile = chunk.file;
        }
        await this.handle!.appendFile(text);
        this.recorded += chunk.lines.length;
      } catch (error) {
        this.options.failures.report(error, { what: 'event recorder write; these lines are lost', file: chunk.file, lines: chunk.lines.length });
        await this.closeHandle();
      } finally {
        this.bufferedBytes -= text.length;
      }
    }
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    this.handleFile = '';
    if (handle !== null) await handle.close().catch((error: unknown) => this.options.failures.report(error, { what: 'event recorder close' }));
  }
}
