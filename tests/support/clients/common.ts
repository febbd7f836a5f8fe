/**
 * Shared plumbing for the real-client wrappers: locating binaries (a missing
 * client fails the test with the command that installs it), spawning with
 * captured output, bounded waits, and cleanup that always runs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { delay, killOnExit, raceTimeout, withParentDeathSignal, OutputTail, type CleanupContext, type StopResult } from '../tracker-process.js';

export const INSTALL_HINT = 'run `bash scripts/install-test-deps.sh` (as root, or with sudo) to install the e2e test clients';

/** Absolute path of `command` on PATH, or throws an Error naming the package and the install script. */
export function requireBinary(command: string, debianPackage: string): string {
  const result = spawnSync('sh', ['-c', `command -v "$1"`, 'sh', command], { encoding: 'utf8' });
  const path = result.stdout.trim();
  if (result.status !== 0 || path === '') {
    throw new Error(`${command} not found on PATH (Debian package ${debianPackage}): ${INSTALL_HINT}`);
  }
  return path;
}

export interface ManagedProcessOptions {
  /** Short name used in messages, e.g. "aria2c seeder". */
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Extra files (client logs) whose tails are included in failure messages. */
  logFiles?: string[];
  /** How to show the command in messages (default: the command line). */
  display?: string;
}

/** A child process whose output is kept and which dies when the test ends. */
export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  private readonly tail = new OutputTail();
  private exitInfo: StopResult | null = null;
  private spawnError: Error | null = null;
  private readonly exitPromise: Promise<StopResult>;
  private readonly lineListeners = new Set<(line: string) => void>();
  private partialLine = '';
  private readonly logFiles: string[];
  private readonly commandLine: string;

  constructor(scope: CleanupContext | undefined, options: ManagedProcessOptions) {
    this.name = options.name;
    this.logFiles = options.logFiles ?? [];
    this.commandLine = options.display ?? [options.command, ...options.args].map((a) => (/[\s"'$]/.test(a) ? JSON.stringify(a) : a)).join(' ');
    const [command, args] = withParentDeathSignal(options.command, options.args);
    this.child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    killOnExit(this.child);
    const onData = (chunk: string): void => {
      this.tail.push(chunk);
      const text = this.partialLine + chunk;
      const lines = text.split('\n');
      this.partialLine = lines.pop() ?? '';
      for (const line of lines) for (const listener of this.lineListeners) listener(line);
    };
    this.child.stdout!.setEncoding('utf8').on('data', onData);
    this.child.stderr!.setEncoding('utf8').on('data', onData);
    this.exitPromise = new Promise((resolveExit) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolveExit(this.exitInfo);
      });
      this.child.once('error', (error) => {
        this.spawnError = error;
        this.exitInfo ??= { code: null, signal: null };
        resolveExit(this.exitInfo);
      });
    });
    scope?.after(() => this.stop({ graceMs: 3000 }));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  exited(): StopResult | null {
    return this.exitInfo;
  }

  output(): string {
    return this.tail.toString();
  }

  /** Calls `listener` with every complete output line from now on. */
  onLine(listener: (line: string) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  /** A message with the command line, captured output and log tails: for assertion failures. */
  async describe(message: string): Promise<string> {
    const parts = [message, `--- ${this.name} (pid ${this.pid}) \`${this.commandLine}\``];
    if (this.spawnError) parts.push(`spawn error: ${this.spawnError.message}`);
    if (this.exitInfo) parts.push(`exited: code ${this.exitInfo.code}, signal ${this.exitInfo.signal}`);
    parts.push(`--- output (tail) ---\n${lastLines(this.output(), 60) || '(nothing)'}`);
    for (const file of this.logFiles) {
      const text = await readFile(file, 'utf8').catch((error: Error) => `(cannot read: ${error.message})`);
      parts.push(`--- ${file} (tail) ---\n${lastLines(text, 60)}`);
    }
    parts.push(`--- end of ${this.name} ---`);
    return parts.join('\n');
  }

  /** Waits (bounded) for the process to exit on its own. Rejects with a described error on timeout. */
  async waitForExit(timeoutMs: number): Promise<StopResult> {
    const result = await raceTimeout(this.exitPromise, timeoutMs);
    if (result === null) throw new Error(await this.describe(`${this.name} did not finish within ${timeoutMs} ms`));
    return result;
  }

  /** Like waitForExit, and rejects (described) unless the exit code is 0. */
  async waitForCleanExit(timeoutMs: number): Promise<void> {
    const result = await this.waitForExit(timeoutMs);
    if (result.code !== 0) {
      throw new Error(await this.describe(`${this.name} exited with code ${result.code} (signal ${result.signal})`));
    }
  }

  /**
   * Resolves once `predicate` holds for an output line (or a line of one of
   * `files`, polled), rejects on exit or after `timeoutMs`.
   */
  async waitForLine(
    predicate: (line: string) => boolean,
    timeoutMs: number,
    what: string,
    options: { files?: string[] } = {},
  ): Promise<string> {
    const existing = this.output().split('\n').find(predicate);
    if (existing !== undefined) return existing;
    let unsubscribe = (): void => {};
    let poll: NodeJS.Timeout | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const found = await new Promise<string | null>((resolveLine, reject) => {
        unsubscribe = this.onLine((line) => {
          if (predicate(line)) resolveLine(line);
        });
        timer = setTimeout(() => resolveLine(null), timeoutMs);
        this.exitPromise.then(() => {
          // Let the last output arrive before declaring the line missing.
          setTimeout(() => {
            void Promise.all((options.files ?? []).map((f) => readFile(f, 'utf8').catch(() => ''))).then((texts) => {
              const late = [this.output(), ...texts].flatMap((text) => text.split('\n')).find(predicate);
              if (late !== undefined) resolveLine(late);
              else reject(new Error('exited'));
            });
          }, 50);
        });
        if (options.files && options.files.length > 0) {
          const files = options.files;
          poll = setInterval(() => {
            void Promise.all(files.map((f) => readFile(f, 'utf8').catch(() => ''))).then((texts) => {
              for (const text of texts) {
                const line = text.split('\n').find(predicate);
                if (line !== undefined) resolveLine(line);
              }
            });
          }, 100);
        }
      }).catch(() => null);
      if (found === null) {
        const why = this.exitInfo ? 'it exited first' : `not within ${timeoutMs} ms`;
        throw new Error(await this.describe(`${this.name}: waited for ${what}, ${why}`));
      }
      return found;
    } finally {
      unsubscribe();
      clearTimeout(timer);
      if (poll) clearInterval(poll);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs` (default 3 s). Never rejects; resolves when gone (bounded). */
  async stop({ graceMs = 3000 }: { graceMs?: number } = {}): Promise<StopResult | null> {
    if (this.exitInfo) return this.exitInfo;
    this.child.kill('SIGTERM');
    const graceful = await raceTimeout(this.exitPromise, graceMs);
    if (graceful) return graceful;
    this.child.kill('SIGKILL');
    return raceTimeout(this.exitPromise, 5000);
  }
}

export function lastLines(text: string, count: number): string {
  const lines = text.split('\n');
  return lines.slice(Math.max(0, lines.length - count)).join('\n');
}

/** Polls `check` every `intervalMs` until it returns a non-undefined value or `timeoutMs` passes (then undefined). */
export async function pollUntil<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, intervalMs = 100): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await delay(intervalMs);
  }
}
