/**
 * The access list: which info-hashes the tracker serves.
 *
 *   off    every torrent is served
 *   allow  only listed info-hashes are served
 *   deny   every torrent except the listed ones is served
 *
 * File format: one 40-hex info-hash per line (any case), blank lines and
 * `#` comments (whole-line or after the hash) allowed, whitespace trimmed.
 *
 * AccessListReloader loads the file at start (a bad file stops startup),
 * reloads it on demand (SIGHUP, wired by the caller) and, when watching, on
 * change - including a Kubernetes ConfigMap volume, where `list.txt` is a
 * symlink to `..data/list.txt` and `..data` is itself a symlink swapped
 * atomically to a new timestamped directory. A bad file never replaces a
 * good list: the old list stays and the failure (with its line) is logged
 * and counted.
 */
import { createHash } from 'node:crypto';
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import { silentLogger, type Logger } from '../../lib/runtime/logger.js';

/** Decides whether the tracker serves an info-hash (the access list implements it; hooks/torrent-approval.ts applies it). */
export interface InfoHashPolicy {
  allows(infoHash: string): boolean;
}

export type AccessListMode = 'off' | 'allow' | 'deny';

const ACCESS_LIST_MODES: readonly AccessListMode[] = ['off', 'allow', 'deny'];
const HEX40 = /^[0-9a-fA-F]{40}$/;

/** 40 hex characters -> the 20-character latin1 string the tracker uses for info-hashes. */
export function hexToInfoHash(hex: string): string {
  return Buffer.from(hex, 'hex').toString('latin1');
}

export class AccessList implements InfoHashPolicy {
  private hashes: ReadonlySet<string> = new Set();

  constructor(
    readonly mode: AccessListMode,
    hashes?: Iterable<string>,
  ) {
    if (!ACCESS_LIST_MODES.includes(mode)) throw new Error(`access list mode must be one of off, allow, deny; got ${JSON.stringify(mode)}`);
    if (hashes !== undefined) this.replace(hashes);
  }

  /** `infoHash` is the 20-character latin1 (binary) string. */
  allows(infoHash: string): boolean {
    switch (this.mode) {
      case 'off':
        return true;
      case 'allow':
        return this.hashes.has(infoHash);
      default:
        return !this.hashes.has(infoHash);
    }
  }

  /** Number of listed info-hashes (also in mode off, where they are not used). */
  get size(): number {
    return this.hashes.size;
  }

  /**
   * Swaps in a new list atomically. Entries are 20-character latin1 info-hashes
   * (as parseAccessListText returns them) or 40-character hex; a Set of the
   * former is adopted without copying.
   */
  replace(hashes: Iterable<string>): void {
    const set = hashes instanceof Set || Array.isArray(hashes) ? hashes : [...hashes];
    let adopt = set instanceof Set;
    for (const hash of set) {
      if (hash.length === 20) continue;
      if (hash.length === 40 && HEX40.test(hash)) {
        adopt = false;
        continue;
      }
      throw new Error(`access list entries must be 20-character binary or 40-character hex info-hashes, got ${JSON.stringify(hash)}`);
    }
    if (adopt) {
      this.hashes = set as Set<string>;
      return;
    }
    const next = new Set<string>();
    for (const hash of set) next.add(hash.length === 40 ? hexToInfoHash(hash) : hash);
    this.hashes = next;
  }
}

export type ParseAccessListResult = { ok: true; hashes: Set<string> } | { ok: false; line: number; error: string };

/**
 * Parses access-list text. `hashes` holds 20-character latin1 info-hashes
 * (ready for AccessList.replace). On a bad line: its 1-based number and why.
 */
export function parseAccessListText(text: string): ParseAccessListResult {
  const hashes = new Set<string>();
  let start = text.charCodeAt(0) === 0xfeff ? 1 : 0; // byte-order mark
  let lineNumber = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    lineNumber++;
    let line = text.slice(start, end);
    start = end + 1;
    const hash = line.indexOf('#');
    if (hash !== -1) line = line.slice(0, hash);
    line = line.trim();
    if (line === '') continue;
    if (line.length !== 40 || !HEX40.test(line)) {
      const shown = line.length > 60 ? `${line.slice(0, 57)}...` : line;
      let why = `expected a 40-character hex info-hash, got ${JSON.stringify(shown)}`;
      if (/\s/.test(line)) why += ' (one hash per line)';
      else if (/^[0-9a-fA-F]+$/.test(line)) why += ` (${line.length} characters)`;
      return { ok: false, line: lineNumber, error: why };
    }
    hashes.add(hexToInfoHash(line));
  }
  return { ok: true, hashes };
}

export class AccessListError extends Error {
  override readonly name = 'AccessListError';
  constructor(
    message: string,
    readonly file: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

type Loaded = { ok: true; hashes: Set<string>; digest: string } | { ok: false; error: string; line?: number; digest: string };

async function readAndParse(file: string): Promise<Loaded> {
  let content: Buffer;
  try {
    content = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
    const reason = code === 'ENOENT' ? 'file not found' : `cannot read it: ${(error as Error).message}`;
    return { ok: false, error: `access list "${file}": ${reason}`, digest: `error:${code}` };
  }
  const digest = createHash('sha256').update(content).digest('hex');
  const parsed = parseAccessListText(content.toString('utf8'));
  if (!parsed.ok) return { ok: false, error: `access list "${file}" line ${parsed.line}: ${parsed.error}`, line: parsed.line, digest };
  return { ok: true, hashes: parsed.hashes, digest };
}

/** Reads and parses an access-list file; throws AccessListError naming the file (and line). */
export async function loadAccessListFile(file: string): Promise<Set<string>> {
  const path = resolvePath(file);
  const loaded = await readAndParse(path);
  if (!loaded.ok) throw new AccessListError(loaded.error, path, loaded.line);
  return loaded.hashes;
}

export interface ReloadResult {
  ok: boolean;
  /** Hashes in the list now in force (the old one after a failure). */
  size?: number;
  /** Whether the file's content differed from the last one read. */
  changed?: boolean;
  error?: string;
}

export interface AccessListReloaderOptions {
  /** Ignored when `list` is given. Default "off". */
  mode?: AccessListMode;
  /** Path of the list; required unless the mode is off. Relative paths resolve against the working directory. */
  file: string;
  /** Reload when the file changes (fs.watch on its directory plus a periodic check). Default true. */
  watch?: boolean;
  logger?: Logger;
  /** Use this list instead of creating one. */
  list?: AccessList;
  /** Quiet time after a change event before re-reading. Default 200 ms. */
  debounceMs?: number;
  /** Periodic re-check while watching (fs.watch can miss events); 0 disables. Default 15 000 ms. */
  pollIntervalMs?: number;
  /** Use fs.watch while watching; false leaves only the periodic check. Default true. */
  fsWatch?: boolean;
}

type Trigger = 'start' | 'manual' | 'watch' | 'poll';

export class AccessListReloader {
  readonly list: AccessList;
  /** Absolute path of the file ("" when the mode is off and no file was given). */
  readonly file: string;
  private readonly logger: Logger;
  private readonly watchEnabled: boolean;
  private readonly debounceMs: number;
  private readonly pollIntervalMs: number;
  private readonly useFsWatch: boolean;

  private ok = 0;
  private failed = 0;
  private lastErrorText: string | undefined;
  private lastDigest = '';
  private started = false;
  private closed = false;
  private watcher: FSWatcher | null = null;
  private debounceTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(options: AccessListReloaderOptions) {
    this.list = options.list ?? new AccessList(options.mode ?? 'off');
    this.file = options.file ? resolvePath(options.file) : '';
    this.logger = options.logger ?? silentLogger;
    this.watchEnabled = options.watch ?? true;
    this.debounceMs = options.debounceMs ?? 200;
    this.pollIntervalMs = options.pollIntervalMs ?? 15_000;
    this.useFsWatch = options.fsWatch ?? true;
    if (this.list.mode !== 'off' && this.file === '') {
      throw new AccessListError(`access list mode "${this.list.mode}" needs a file`, '');
    }
  }

  get mode(): AccessListMode {
    return this.list.mode;
  }

  get size(): number {
    return this.list.size;
  }

  /** Successful reloads since start (the initial load is not counted). */
  get reloadsOk(): number {
    return this.ok;
  }

  /** Failed reloads since start; each kept the previous list. */
  get reloadsFailed(): number {
    return this.failed;
  }

  /** Why the latest reload failed; undefined once a reload succeeds. */
  get lastError(): string | undefined {
    return this.lastErrorText;
  }

  private get active(): boolean {
    return this.list.mode !== 'off';
  }

  /** Loads the file (throws AccessListError naming file and line) and starts watching. No-op in mode off. */
  async start(): Promise<void> {
    if (this.started) throw new Error('AccessListReloader.start() called twice');
    this.started = true;
    if (!this.active) return;
    const loaded = await readAndParse(this.file);
    if (!loaded.ok) throw new AccessListError(loaded.error, this.file, loaded.line);
    this.list.replace(loaded.hashes);
    this.lastDigest = loaded.digest;
    this.logger.info('access list loaded', { file: this.file, mode: this.list.mode, size: this.list.size });
    if (this.closed) return;
    if (this.watchEnabled) {
      if (this.useFsWatch) this.startWatcher();
      if (this.pollIntervalMs > 0) {
        this.pollTimer = setInterval(() => {
          if (this.useFsWatch && this.watcher === null) this.startWatcher();
          void this.enqueue('poll');
        }, this.pollIntervalMs);
        this.pollTimer.unref();
      }
    }
  }

  /** Re-reads the file now (what SIGHUP does). A bad file keeps the old list. Never throws. */
  reload(): Promise<ReloadResult> {
    if (!this.active) return Promise.resolve({ ok: true, size: this.list.size, changed: false });
    if (this.closed) return Promise.resolve({ ok: false, size: this.list.size, error: 'access list reloader is closed' });
    return this.enqueue('manual');
  }

  /** Stops watching; waits for a reload in progress. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.watcher) {
      this.watcher.close();
      this.watcher = null;
    }
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.debounceTimer = null;
    this.pollTimer = null;
    await this.chain.catch(() => undefined);
  }

  private startWatcher(): void {
    // Watch the directory, not the file: editors replace files by rename, and a
    // ConfigMap update swaps the `..data` symlink without touching `list.txt`.
    const directory = dirname(this.file);
    try {
      const watcher = fsWatch(directory, { persistent: false }, () => this.schedule());
      watcher.on('error', (error) => {
        this.logger.warn('access list directory watch failed; relying on the periodic check until it can be re-established', {
          file: this.file,
          error,
        });
        watcher.close();
        if (this.watcher === watcher) this.watcher = null;
        this.schedule();
      });
      this.watcher = watcher;
    } catch (error) {
      this.logger.warn('cannot watch the access list directory; relying on the periodic check', { directory, error });
      this.watcher = null;
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      void this.enqueue('watch');
    }, this.debounceMs);
    this.debounceTimer.unref();
  }

  /** Runs checks one at a time, in order. */
  private enqueue(trigger: Trigger): Promise<ReloadResult> {
    const run = this.chain.then(() => this.check(trigger));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async check(trigger: Trigger): Promise<ReloadResult> {
    if (this.closed && trigger !== 'manual') return { ok: true, size: this.list.size, changed: false };
    let loaded: Loaded;
    try {
      loaded = await readAndParse(this.file);
    } catch (error) {
      loaded = { ok: false, error: `access list "${this.file}": ${(error as Error).message}`, digest: 'error:unexpected' };
    }
    const changed = loaded.digest !== this.lastDigest;
    // Automatic checks act only on a change, so an unchanged bad file is reported once, not every poll.
    if (!changed && trigger !== 'manual') return { ok: loaded.ok, size: this.list.size, changed: false };
    this.lastDigest = loaded.digest;
    if (!loaded.ok) {
      this.failed++;
      this.lastErrorText = loaded.error;
      this.logger.error('access list reload failed; keeping the previous list', {
        file: this.file,
        line: loaded.line,
        error: loaded.error,
        trigger,
        size: this.list.size,
      });
      return { ok: false, size: this.list.size, changed, error: loaded.error };
    }
    const before = this.list.size;
    this.list.replace(loaded.hashes);
    this.ok++;
    this.lastErrorText = undefined;
    this.logger.info('access list reloaded', { file: this.file, size: this.list.size, previousSize: before, changed, trigger });
    return { ok: true, size: this.list.size, changed };
  }
}

