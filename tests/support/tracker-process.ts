/**
 * Runs our tracker as a real child process for end-to-end tests.
 *
 *   const tracker = await startTracker(t, { host: '127.0.0.1' });
 *   tracker.httpAnnounceUrl  // http://127.0.0.1:<port>/announce
 *   tracker.udpAnnounceUrl   // udp://127.0.0.1:<port>/announce
 *   await tracker.stop();    // SIGTERM, asserts exit code 0
 *
 * The tracker is the real build (<repo>/dist/services/tracker/main.js, made by
 * `npm run build`), started on free ports (UDP and TCP share one port), and
 * only handed out once GET /readyz on its metrics port answers 200. Its
 * stdout/stderr are kept (the tail) so every failure message can show them.
 * Whatever happens, the process is killed when the test ends (t.after) and,
 * as a last resort, when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The subset of node:test's TestContext this module needs. */
export interface CleanupContext {
  after(fn: () => unknown): void;
}

/**
 * A CleanupContext whose callbacks run last-registered-first when the test
 * ends (processes are killed before the directories they write to are
 * removed). Every callback runs even if an earlier one throws; the first
 * error is rethrown.
 */
export function cleanupScope(t: CleanupContext): CleanupContext {
  const callbacks: Array<() => unknown> = [];
  t.after(async () => {
    let firstError: unknown = null;
    while (callbacks.length > 0) {
      const callback = callbacks.pop()!;
      try {
        await callback();
      } catch (error) {
        firstError ??= error;
      }
    }
    if (firstError !== null) throw firstError;
  });
  return { after: (fn) => void callbacks.push(fn) };
}

// ---------------------------------------------------------------------------
// Repository layout

/** The repository root: the nearest directory above this file with a package.json. */
export const REPO_ROOT: string = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
}

/** The tracker entry point; TRACKER_E2E_ENTRY overrides it. */
export const TRACKER_ENTRY: string = process.env.TRACKER_E2E_ENTRY
  ? resolve(process.env.TRACKER_E2E_ENTRY)
  : join(REPO_ROOT, 'dist', 'services', 'tracker', 'main.js');

// ---------------------------------------------------------------------------
// Free ports

const handedOut = new Set<number>();

export interface FreePortOptions {
  /** Address to probe; '::' probes the dual-stack wildcard. Default '127.0.0.1'. */
  host?: string;
  /** The port must be free for TCP (default true). */
  tcp?: boolean;
  /** The port must be free for UDP (default true). */
  udp?: boolean;
}

/**
 * A port that is free on `host` for TCP and/or UDP right now: the kernel picks
 * one by binding port 0 (TCP first, or UDP when TCP is not needed), then the
 * other protocol is bound on the same number. Ports handed out earlier in this
 * process are never handed out again, so several calls in a row give distinct
 * ports even before anything listens on them.
 */
export async function findFreePort(options: FreePortOptions = {}): Promise<number> {
  const host = options.host ?? '127.0.0.1';
  const tcp = options.tcp ?? true;
  const udp = options.udp ?? true;
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = tcp ? await bindTcp(host, 0) : await bindUdp(host, 0);
    if (port === null || handedOut.has(port)) continue;
    if (tcp && udp && (await bindUdp(host, port)) === null) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`could not find a free ${tcp ? 'TCP' : ''}${tcp && udp ? '+' : ''}${udp ? 'UDP' : ''} port on ${host}`);
}

function bindTcp(host: string, port: number): Promise<number | null> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(null));
    server.listen({ host, port, exclusive: true, ipv6Only: false }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : null;
      server.close(() => resolvePort(bound));
    });
  });
}

function bindUdp(host: string, port: number): Promise<number | null> {
  return new Promise((resolvePort) => {
    const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', ipv6Only: false });
    socket.once('error', () => {
      socket.close();
      resolvePort(null);
    });
    socket.bind({ address: host, port, exclusive: true }, () => {
      const bound = socket.address().port;
      socket.close(() => resolvePort(bound));
    });
  });
}

// ---------------------------------------------------------------------------
// Output capture

/** Keeps the last `limit` characters written by a child process. */
export class OutputTail {
  private text = '';
  constructor(private readonly limit = 64 * 1024) {}

  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.limit) this.text = this.text.slice(this.text.length - this.limit);
  }

  toString(): string {
    return this.text;
  }
}

// ---------------------------------------------------------------------------
// Last-resort cleanup: children still alive when the test process exits

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Registers a child so it is SIGKILLed if the test process exits while it runs. */
export function killOnExit(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) {
        try {
          c.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
}

/**
 * Wraps a command so the kernel SIGKILLs it if this process dies without
 * cleaning up (util-linux `setpriv --pdeathsig`, which execs the command: the
 * pid, signals and exit code are the command's own). Without setpriv the
 * command runs as is.
 */
export function withParentDeathSignal(command: string, args: string[]): [string, string[]] {
  if (setprivPath === undefined) setprivPath = existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : null;
  return setprivPath ? [setprivPath, ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, args];
}
let setprivPath: string | null | undefined;

// ---------------------------------------------------------------------------
// Spawning tracker processes

/**
 * Configuration the test run imposes on every tracker it starts: CI sets
 * TRACKER_UDP__BATCHED_IO=required (.ci/run), so no test passes on a tracker
 * whose production UDP path fell back to node:dgram.
 */
const INHERITED_TRACKER_ENV = ['TRACKER_UDP__BATCHED_IO', 'TRACKER_HTTP__CONNECTION_GUARD'];

/** The environment without TRACKER_* variables (the tracker reads them as configuration) except INHERITED_TRACKER_ENV, plus `extra`. */
export function trackerEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TRACKER_') || INHERITED_TRACKER_ENV.includes(k)) env[k] = v;
  return Object.assign(env, extra);
}

export interface CapturedChild {
  readonly child: ChildProcess;
  /** Resolves with how the process ended; never rejects. */
  readonly exit: Promise<StopResult>;
}

/**
 * Spawns `command` in the repository with stdout and stderr kept in `tail`,
 * and SIGKILLed if the test process exits first. `onExit` runs on the 'exit'
 * event before `exit` resolves, so what it records is already set for
 * whoever awaits `exit`.
 */
export function spawnCaptured(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  tail: OutputTail,
  onExit: (result: StopResult) => void,
): CapturedChild {
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => tail.push(chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => tail.push(chunk));
  const exit = new Promise<StopResult>((resolveExit) => {
    child.once('exit', (code, signal) => {
      const result = { code, signal };
      onExit(result);
      resolveExit(result);
    });
  });
  return { child, exit };
}

// ---------------------------------------------------------------------------
// The tracker process

export interface TrackerOptions {
  /** --host: '127.0.0.1' (default) or '::' for dual-stack (needed for [::1] URLs). */
  host?: string;
  /** --accessList.mode / --accessList.file */
  accessList?: { mode: 'allow' | 'deny'; file: string };
  /** --log.level (default 'warn'; TRACKER_E2E_LOG_LEVEL overrides). */
  logLevel?: string;
  /** More --key=value flags. */
  extraArgs?: string[];
  /** How long to wait for /readyz (default 15 s). */
  readyTimeoutMs?: number;
  /** Start the process with this many file descriptors (soft and hard RLIMIT_NOFILE, via `ulimit -n`). */
  fdLimit?: number;
  /**
   * Environment for the child. Default: this process's environment without
   * TRACKER_* variables (the tracker reads those as configuration, and the
   * tests' own knobs are named TRACKER_E2E_*).
   */
  env?: NodeJS.ProcessEnv;
}

export interface StopResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface TrackerProcess {
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  readonly metricsPort: number;
  /** http://<loopback>:<port>/announce, <loopback> being 127.0.0.1 or [::1] (default: 127.0.0.1). */
  httpAnnounceUrl(family?: 4 | 6): string;
  /** udp://<loopback>:<port>/announce */
  udpAnnounceUrl(family?: 4 | 6): string;
  /** The captured stdout+stderr so far. */
  output(): string;
  /** Has the process exited? */
  exited(): boolean;
  /**
   * SIGTERM, then wait (bounded, default 15 s) for exit; SIGKILL if it does not.
   * With `expectCleanExit` (default true) rejects unless the exit code is 0.
   */
  stop(options?: { expectCleanExit?: boolean; timeoutMs?: number }): Promise<StopResult>;
  /** SIGKILL now (no-op after exit). */
  kill(): void;
  /** Send a signal (e.g. SIGHUP to reload the access list). */
  signal(signal: NodeJS.Signals): void;
}

/**
 * Starts the tracker on free ports and waits until it is ready. Registers
 * `t.after` to kill it when the test ends, whatever happened.
 */
export async function startTracker(t: CleanupContext | undefined, options: TrackerOptions = {}): Promise<TrackerProcess> {
  if (!existsSync(TRACKER_ENTRY)) {
    throw new Error(`tracker entry point ${TRACKER_ENTRY} does not exist: run \`npm run build\` first`);
  }
  const host = options.host ?? '127.0.0.1';
  const port = await findFreePort({ host, tcp: true, udp: true });
  const metricsPort = await findFreePort({ host: '127.0.0.1', tcp: true, udp: false });
  const args = [
    TRACKER_ENTRY,
    'all-in-one',
    `--host=${host}`,
    `--port=${port}`,
    `--metrics.port=${metricsPort}`,
    `--log.level=${process.env.TRACKER_E2E_LOG_LEVEL ?? options.logLevel ?? 'warn'}`,
    // Tests stop trackers with SIGTERM all the time; the drain delay is tested on its own.
    '--shutdown.drainDelaySeconds=0',
  ];
  if (options.accessList) {
    args.push(`--accessList.mode=${options.accessList.mode}`, `--accessList.file=${options.accessList.file}`);
  }
  args.push(...(options.extraArgs ?? []));

  const tail = new OutputTail();
  const [command, commandArgs] =
    options.fdLimit === undefined
      ? withParentDeathSignal(process.execPath, args)
      : withParentDeathSignal('/bin/sh', ['-c', `ulimit -n ${options.fdLimit} && exec "$0" "$@"`, process.execPath, ...args]);
  let exitInfo: StopResult | null = null;
  const { child, exit: exitPromise } = spawnCaptured(command, commandArgs, options.env ?? trackerEnv(), tail, (result) => {
    exitInfo = result;
  });
  let spawnError: Error | null = null;
  child.once('error', (error) => {
    spawnError = error;
  });

  const kill = (): void => {
    if (exitInfo === null) child.kill('SIGKILL');
  };
  t?.after(async () => {
    if (exitInfo !== null) return;
    child.kill('SIGKILL');
    await raceTimeout(exitPromise, 5000);
  });

  const describe = (): string =>
    `tracker (pid ${child.pid}) \`node ${args.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')}\``;
  const withOutput = (message: string): string =>
    `${message}\n--- ${describe()} output ---\n${tail.toString() || '(nothing)'}\n--- end of tracker output ---`;

  // Wait for /readyz, bounded; give up at once if the process dies.
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  const deadline = Date.now() + readyTimeoutMs;
  let lastProblem = 'no answer yet';
  for (;;) {
    if (spawnError) {
      kill();
      throw new Error(withOutput(`cannot spawn the tracker: ${(spawnError as Error).message}`));
    }
    if (exitInfo !== null) {
      const { code, signal } = exitInfo as StopResult;
      throw new Error(withOutput(`the tracker exited before it was ready (code ${code}, signal ${signal})`));
    }
    const status = await httpStatus(`http://127.0.0.1:${metricsPort}/readyz`, 1000).catch((error: Error) => {
      lastProblem = error.message;
      return null;
    });
    if (status === 200) break;
    if (status !== null) lastProblem = `HTTP ${status}`;
    if (Date.now() > deadline) {
      kill();
      await raceTimeout(exitPromise, 2000);
      throw new Error(withOutput(`the tracker was not ready within ${readyTimeoutMs} ms (GET /readyz on port ${metricsPort}: ${lastProblem})`));
    }
    await delay(50);
  }

  const loopback = (family: 4 | 6): string => {
    if (family === 6) {
      if (host !== '::' && host !== '::1') throw new Error(`the tracker listens on ${host}, not on [::1]; start it with host '::'`);
      return '[::1]';
    }
    if (host === '::1') throw new Error('the tracker listens on ::1 only; use family 6');
    return '127.0.0.1';
  };

  return {
    pid: child.pid!,
    host,
    port,
    metricsPort,
    httpAnnounceUrl: (family = 4) => `http://${loopback(family)}:${port}/announce`,
    udpAnnounceUrl: (family = 4) => `udp://${loopback(family)}:${port}/announce`,
    output: () => tail.toString(),
    exited: () => exitInfo !== null,
    kill,
    signal: (signal) => {
      if (exitInfo === null) child.kill(signal);
    },
    async stop({ expectCleanExit = true, timeoutMs = 15_000 } = {}) {
      if (exitInfo === null) {
        child.kill('SIGTERM');
        const result = await raceTimeout(exitPromise, timeoutMs);
        if (result === null) {
          child.kill('SIGKILL');
          await raceTimeout(exitPromise, 5000);
          throw new Error(withOutput(`the tracker did not exit within ${timeoutMs} ms of SIGTERM (killed it)`));
        }
      }
      const result = exitInfo as unknown as StopResult;
      if (expectCleanExit && result.code !== 0) {
        throw new Error(withOutput(`the tracker exited with code ${result.code} (signal ${result.signal}) after SIGTERM, expected 0`));
      }
      return result;
    },
  };
}

/** GET `url` and resolve with the status code (body discarded), bounded by `timeoutMs`. */
export function httpStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolveStatus(res.statusCode ?? 0));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.once('error', reject);
    req.end();
  });
}

/**
 * `promise`'s value, or null if it has not settled within `ms`. The timer is
 * cleared either way, so a finished wait never keeps the event loop alive.
 */
export async function raceTimeout<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<null>((resolveNull) => (timer = setTimeout(() => resolveNull(null), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolveDelay) => setTimeout(resolveDelay, ms));
}
