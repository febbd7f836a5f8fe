/**
 * A private redis-server for one test run, on a free loopback port, with no
 * persistence (`--save "" --appendonly no`): nothing survives a stop. Cluster
 * nodes and sentinels keep their state files in a temporary directory of
 * their own, removed at the end.
 *
 *   const redis = await startRedisServer(t);
 *   redis.url          // redis://127.0.0.1:<port>
 *   await redis.stop();  // an outage; await redis.start() brings it back on the same port, empty
 *   redis.pause();       // SIGSTOP: a Redis that accepts nothing and answers nothing (slow); resume() ends it
 *
 * The server is killed when the test ends (t.after) and, as a last resort,
 * when the test process dies. `scripts/install-test-deps.sh` installs
 * redis-server (Debian package redis-server); TRACKER_TEST_REDIS_SERVER
 * names another binary.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  OutputTail,
  delay,
  findFreePort,
  raceTimeout,
  spawnCaptured,
  withParentDeathSignal,
  type CapturedChild,
  type CleanupContext,
  type StopResult,
} from './tracker-process.js';

const REDIS_SERVER = process.env.TRACKER_TEST_REDIS_SERVER ?? 'redis-server';

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** Pid of the running server (changes after a restart). */
  readonly pid: number;
  /** Whether a server process is running (paused counts as running). */
  running(): boolean;
  /** Starts it again on the same port (empty: nothing persists); waits until it answers PING. */
  start(): Promise<void>;
  /** SIGTERM and wait for the exit (bounded; SIGKILL after). No-op when stopped. */
  stop(): Promise<void>;
  /** SIGSTOP: connections stay open, nothing is answered. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Sends one command (inline protocol, ASCII arguments) and returns the raw reply line(s). */
  command(...args: string[]): Promise<string>;
  /** The server's captured output. */
  output(): string;
}

export interface RedisServerOptions {
  /** Extra redis-server arguments, e.g. ['--maxmemory', '10mb']. */
  args?: string[];
  /** A Redis Cluster node (cluster-enabled, no slots yet: see startRedisCluster). */
  clusterNode?: boolean;
  /** A Sentinel monitoring this master (quorum 1) instead of a data server. */
  sentinelOf?: { port: number; name: string };
  /** How long to wait for the first PONG. Default 10 s. */
  readyTimeoutMs?: number;
}

/** Is redis-server installed? Tests that need it fail with this message rather than skip silently. */
export function redisServerMissing(): string | null {
  const probe = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    return `${REDIS_SERVER} is not installed: run \`bash scripts/install-test-deps.sh\` (Debian package redis-server)`;
  }
  return null;
}

export async function startRedisServer(t: CleanupContext, options: RedisServerOptions = {}): Promise<RedisServer> {
  const missing = redisServerMissing();
  if (missing !== null) throw new Error(missing);
  const port = await findFreePort({ host: '127.0.0.1', tcp: true, udp: false });
  // Its own directory: cluster and sentinel modes write their state files there.
  const dir = mkdtempSync(join(tmpdir(), 'tracker-redis-'));
  const args: string[] = [];
  if (options.sentinelOf) {
    // A sentinel rewrites its config file, so it needs one of its own.
    const conf = join(dir, 'sentinel.conf');
    const { port: masterPort, name } = options.sentinelOf;
    writeFileSync(conf, `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1\nsentinel down-after-milliseconds ${name} 60000\n`);
    args.push(conf, '--sentinel');
  }
  args.push('--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning');
  if (!options.sentinelOf) args.push('--save', '', '--appendonly', 'no');
  if (options.clusterNode) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'));
  args.push(...(options.args ?? []));
  const tail = new OutputTail(16 * 1024);
  let current: CapturedChild | null = null;
  let exited = true;
  let paused = false;

  const launch = async (): Promise<void> => {
    const [command, commandArgs] = withParentDeathSignal(REDIS_SERVER, args);
    exited = false;
    paused = false;
    const child = spawnCaptured(command, commandArgs, process.env, tail, () => {
      exited = true;
    });
    current = child;
    const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000);
    for (;;) {
      if (exited) throw new Error(`redis-server exited before it answered PING\n--- redis-server output ---\n${tail}`);
      const reply = await sendCommand(port, ['PING'], 1000).catch(() => null);
      if (reply?.startsWith('+PONG')) return;
      if (Date.now() > deadline) {
        child.child.kill('SIGKILL');
        throw new Error(`redis-server on port ${port} did not answer PING within ${options.readyTimeoutMs ?? 10_000} ms\n--- output ---\n${tail}`);
      }
      await delay(25);
    }
  };

  const stop = async (): Promise<void> => {
    const child = current;
    if (child === null || exited) return;
    if (paused) child.child.kill('SIGCONT');
    child.child.kill('SIGTERM');
    if ((await raceTimeout<StopResult>(child.exit, 10_000)) === null) {
      child.child.kill('SIGKILL');
      await raceTimeout(child.exit, 5000);
    }
  };

  t.after(async () => {
    const child = current;
    if (child !== null && !exited) {
      child.child.kill('SIGKILL');
      await raceTimeout(child.exit, 5000);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return current?.child.pid ?? -1;
    },
    running: () => !exited,
    start: async () => {
      if (!exited) return;
      await launch();
    },
    stop,
    pause: () => {
      if (!exited && !paused) {
        current!.child.kill('SIGSTOP');
        paused = true;
      }
    },
    resume: () => {
      if (!exited && paused) {
        current!.child.kill('SIGCONT');
        paused = false;
      }
    },
    command: (...commandArgs: string[]) => sendCommand(port, commandArgs, 5000),
    output: () => tail.toString(),
  };
}

/** One inline command on a fresh connection; resolves with the first complete reply's text. */
function sendCommand(port: number, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no reply to ${args[0]} within ${timeoutMs} ms`)), timeoutMs);
    socket.setEncoding('latin1');
    socket.once('connect', () => socket.write(`${args.join(' ')}\r\n`));
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (complete(text)) {
        clearTimeout(timer);
        socket.end();
        resolve(text);
      }
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (!complete(text)) reject(new Error(`connection closed before a reply to ${args[0]}`));
    });
  });
}

/** A simple reply (+ - :) is one line; a bulk string ($n) is two. Enough for the commands tests send. */
function complete(text: string): boolean {
  const end = text.indexOf('\r\n');
  if (end < 0) return false;
  if (text[0] !== '$') return true;
  const length = Number(text.slice(1, end));
  return length < 0 || text.length >= end + 2 + length + 2;
}

/**
 * A Redis Cluster of `masters` nodes (no replicas) on free loopback ports:
 * the 16,384 hash slots split evenly, nodes introduced with CLUSTER MEET,
 * returned once every node reports cluster_state:ok.
 */
export async function startRedisCluster(t: CleanupContext, masters = 3, timeoutMs = 20_000): Promise<RedisServer[]> {
  const nodes: RedisServer[] = [];
  for (let i = 0; i < masters; i++) nodes.push(await startRedisServer(t, { clusterNode: true }));
  const per = Math.ceil(16384 / masters);
  for (let i = 0; i < masters; i++) {
    const first = i * per;
    const last = Math.min(16383, first + per - 1);
    const reply = await nodes[i].command('CLUSTER', 'ADDSLOTSRANGE', String(first), String(last));
    if (!reply.startsWith('+OK')) throw new Error(`CLUSTER ADDSLOTSRANGE on port ${nodes[i].port}: ${reply.trim()}`);
  }
  for (let i = 1; i < masters; i++) {
    const reply = await nodes[0].command('CLUSTER', 'MEET', '127.0.0.1', String(nodes[i].port));
    if (!reply.startsWith('+OK')) throw new Error(`CLUSTER MEET: ${reply.trim()}`);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(nodes.map((node) => node.command('CLUSTER', 'INFO')));
    if (states.every((info) => info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${masters}`))) return nodes;
    if (Date.now() > deadline) throw new Error(`the Redis Cluster did not reach cluster_state:ok within ${timeoutMs} ms`);
    await delay(100);
  }
}
