/**
 * Membership from a file, re-read when it changes: for local clusters
 * (`tracker cluster`, the tests' harness) that add and remove swarms while
 * they run. Every edge and swarm reads the same file.
 *
 *   # one member per line; blank lines and # comments are ignored
 *   swarm-0=127.0.0.1:7000
 *   swarm-1=[::1]:7001
 *   swarm-2=127.0.0.1:7002 draining
 *
 * A line ending in `draining` is a member that is leaving but still serving
 * (Kubernetes `serving && terminating`): it owns no slots and gets no new
 * requests, but edges keep their channel to it until its line is gone.
 *
 * The file is watched like the access list (lib/runtime/watch-files.ts):
 * its directory through fs.watch, plus a periodic re-check. start() rejects
 * when the file cannot be read or has a bad line (naming both); later, such
 * a file keeps the previous lists, is logged with its line and counted
 * (`reloadsFailed`). Replace the file atomically (write another file and
 * rename it over this one): a reader may otherwise see it half-written.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { silentLogger, type Logger } from '../../runtime/logger.js';
import { watchFiles, type FileWatch } from '../../runtime/watch-files.js';
import {
  EMPTY_SNAPSHOT,
  sameMembers,
  validateMembers,
  type Member,
  type MembershipEvents,
  type MembershipProvider,
  type MembershipSnapshot,
} from './types.js';

export class MembersFileError extends Error {
  override readonly name = 'MembersFileError';
  constructor(
    message: string,
    readonly file: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** Parses the file's text; throws MembersFileError (with the line) on a bad line or an inconsistent list. */
export function parseMembersFile(text: string, file = 'members file'): { members: readonly Member[]; draining: readonly Member[] } {
  const members: Member[] = [];
  const draining: Member[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const hash = lines[i].indexOf('#');
    const line = (hash < 0 ? lines[i] : lines[i].slice(0, hash)).trim();
    if (line === '') continue;
    const where = `${file} line ${i + 1}`;
    const words = line.split(/\s+/);
    if (words.length > 2 || (words.length === 2 && words[1] !== 'draining')) {
      throw new MembersFileError(`${where}: expected name=host:port, optionally followed by "draining", got ${JSON.stringify(line)}`, file, i + 1);
    }
    const eq = words[0].indexOf('=');
    if (eq <= 0 || eq === words[0].length - 1) {
      throw new MembersFileError(`${where}: expected name=host:port (e.g. swarm-0=127.0.0.1:7000), got ${JSON.stringify(words[0])}`, file, i + 1);
    }
    const member = { name: words[0].slice(0, eq), address: words[0].slice(eq + 1) };
    try {
      validateMembers([member], where);
    } catch (error) {
      throw new MembersFileError((error as Error).message, file, i + 1);
    }
    (words.length === 2 ? draining : members).push(member);
  }
  try {
    validateMembers([...members, ...draining], file);
  } catch (error) {
    throw new MembersFileError((error as Error).message, file);
  }
  return { members: validateMembers(members), draining: validateMembers(draining) };
}

export interface FileMembershipOptions {
  file: string;
  /** Quiet time after a change event before re-reading. Default 100 ms. */
  debounceMs?: number;
  /** Periodic re-check (fs.watch can miss events); 0 disables. Default 2000 ms. */
  pollIntervalMs?: number;
  /** Use fs.watch; false leaves only the periodic re-check. Default true. */
  fsWatch?: boolean;
  logger?: Logger;
}

export class FileMembership extends EventEmitter<MembershipEvents> implements MembershipProvider {
  readonly kind = 'file';
  /** Absolute path of the file. */
  readonly file: string;
  private current: MembershipSnapshot = EMPTY_SNAPSHOT;
  private readonly logger: Logger;
  private watch: FileWatch | undefined;
  private started = false;
  private stopped = false;
  private lastText: string | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private ok = 0;
  private failed = 0;

  constructor(private readonly options: FileMembershipOptions) {
    super();
    this.file = resolvePath(options.file);
    this.logger = options.logger ?? silentLogger;
  }

  /** Reloads that changed or confirmed the lists since start. */
  get reloadsOk(): number {
    return this.ok;
  }

  /** Reloads that found a bad or unreadable file (the previous lists stayed). */
  get reloadsFailed(): number {
    return this.failed;
  }

  async start(): Promise<void> {
    if (this.stopped) throw new Error('file membership: start() after stop()');
    if (this.started) return;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      throw new MembersFileError(`members file "${this.file}": ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message}`, this.file);
    }
    const { members, draining } = parseMembersFile(text, `members file "${this.file}"`);
    if (this.stopped) throw new Error('file membership: stopped while starting');
    this.started = true;
    this.lastText = text;
    this.current = Object.freeze({ version: 1, members, draining });
    this.watch = watchFiles([this.file], () => void this.reload(), {
      debounceMs: this.options.debounceMs ?? 100,
      pollIntervalMs: this.options.pollIntervalMs ?? 2000,
      fsWatch: this.options.fsWatch,
      logger: this.logger,
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.close();
    this.watch = undefined;
    await this.chain.catch(() => undefined);
  }

  members(): readonly Member[] {
    return this.current.members;
  }

  draining(): readonly Member[] {
    return this.current.draining;
  }

  snapshot(): MembershipSnapshot {
    return this.current;
  }

  /** Re-reads the file now (one read at a time); never throws. */
  reload(): Promise<void> {
    const run = this.chain.then(() => this.check());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async check(): Promise<void> {
    if (this.stopped || !this.started) return;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      this.fail(`cannot read it: ${(error as Error).message}`, undefined, `error:${(error as NodeJS.ErrnoException).code}`);
      return;
    }
    if (this.stopped || text === this.lastText) return;
    let parsed: { members: readonly Member[]; draining: readonly Member[] };
    try {
      parsed = parseMembersFile(text, `members file "${this.file}"`);
    } catch (error) {
      this.fail((error as Error).message, (error as MembersFileError).line, text);
      return;
    }
    this.lastText = text;
    this.ok++;
    const { members, draining } = parsed;
    if (sameMembers(members, this.current.members) && sameMembers(draining, this.current.draining)) return;
    this.current = Object.freeze({ version: this.current.version + 1, members, draining });
    this.emit('change', this.current);
  }

  /** A bad or unreadable file: logged and counted once per distinct content, the lists unchanged. */
  private fail(error: string, line: number | undefined, seen: string): void {
    if (seen === this.lastText) return;
    this.lastText = seen;
    this.failed++;
    this.logger.error('members file reload failed; keeping the previous members', { file: this.file, line, error, members: this.current.members.length });
  }
}
