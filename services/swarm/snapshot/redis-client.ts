/**
 * The snapshot.* settings turned into an ioredis client: standalone,
 * Sentinel or Cluster. `redisClientPlan` is the pure mapping (unit-tested
 * option by option); `createRedisClient` only calls the constructor.
 *
 * Every mode gets the same failure behaviour, because Redis is never in the
 * request path and an outage must not pile up work:
 * - no offline queue: a command sent while disconnected fails at once;
 * - a command timeout, and no resending of commands cut off by a dropped
 *   connection: the scheduler keeps the slot dirty and retries next pass;
 * - reconnection forever, with a capped backoff;
 * - auto-pipelining: the commands of one pass leave as one pipeline per
 *   node, which in Cluster mode is what groups keys by node.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { splitRedisUrls, type Config } from '../../../lib/runtime/config.js';

export type RedisSettings = Pick<Config['snapshot'], 'redisUrl' | 'redisMode' | 'redisSentinelName' | 'redisSentinelPassword' | 'commandTimeoutMs'> & {
  /** Longest wait between reconnection attempts. Default 2000 ms. */
  reconnectMaxDelayMs?: number;
};

export interface RedisNode {
  host: string;
  port: number;
}

export type RedisClientPlan =
  | { mode: 'standalone'; url: string; options: RedisOptions }
  | { mode: 'sentinel'; options: RedisOptions }
  | { mode: 'cluster'; nodes: RedisNode[]; options: ClusterOptions };

const DEFAULT_RECONNECT_MAX_DELAY_MS = 2000;
/** What `CLIENT LIST` shows for our connections. */
const CONNECTION_NAME = 'tracker-snapshots';
const SENTINEL_PORT = 26379;
const REDIS_PORT = 6379;

/** ioredis's options for `settings`; the URLs must have passed config validation. */
export function redisClientPlan(settings: RedisSettings): RedisClientPlan {
  const items = splitRedisUrls(settings.redisUrl);
  const urls = items.map((item) => new URL(item));
  if (urls.length === 0) throw new Error('snapshot.redisUrl is empty: no Redis to connect to');
  const cap = settings.reconnectMaxDelayMs ?? DEFAULT_RECONNECT_MAX_DELAY_MS;
  const backoff = (times: number): number => Math.min(100 * times, cap);
  const timeouts = {
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: Math.max(settings.commandTimeoutMs, 1000),
    // Notices a peer that vanished without closing (a NAT or LB dropping idle flows).
    keepAlive: 30_000,
  };
  const noResend = {
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectionName: CONNECTION_NAME,
    // A master demoted by a failover answers writes with READONLY: reconnect (through the sentinels) to the new one.
    reconnectOnError: readOnlyReply,
  };
  const first = urls[0];
  const credentials: RedisOptions = {};
  if (first.username !== '') credentials.username = decodeURIComponent(first.username);
  if (first.password !== '') credentials.password = decodeURIComponent(first.password);
  const tls = first.protocol === 'rediss:';

  switch (settings.redisMode) {
    case 'standalone':
      // The URL goes to ioredis as written: user, password, /db, rediss:// and query options are its own to read.
      return {
        mode: 'standalone',
        url: items[0],
        options: { ...timeouts, ...noResend, enableOfflineQueue: false, enableAutoPipelining: true, retryStrategy: backoff },
      };
    case 'sentinel': {
      const options: RedisOptions = {
        ...timeouts,
        ...noResend,
        ...credentials,
        enableOfflineQueue: false,
        enableAutoPipelining: true,
        retryStrategy: backoff,
        sentinels: urls.map((url) => node(url, SENTINEL_PORT)),
        name: settings.redisSentinelName,
        sentinelRetryStrategy: backoff,
        sentinelCommandTimeout: settings.commandTimeoutMs,
        // Not ioredis's failoverDetector: its sentinel connections have no error listener, so an
        // unreachable sentinel prints to the console on every retry. reconnectOnError covers failovers.
      };
      const db = database(first);
      if (db !== undefined) options.db = db;
      if (settings.redisSentinelPassword !== '') options.sentinelPassword = settings.redisSentinelPassword;
      if (tls) Object.assign(options, { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true });
      return { mode: 'sentinel', options };
    }
    case 'cluster': {
      const redisOptions: ClusterOptions['redisOptions'] = { ...timeouts, ...noResend, ...credentials };
      if (tls) redisOptions.tls = {};
      return {
        mode: 'cluster',
        nodes: urls.map((url) => node(url, REDIS_PORT)),
        options: { enableOfflineQueue: false, enableAutoPipelining: true, clusterRetryStrategy: backoff, redisOptions },
      };
    }
  }
}

/** A client for `plan`; it starts connecting at once unless `lazyConnect` is given. */
export function createRedisClient(plan: RedisClientPlan, extra: { lazyConnect?: boolean } = {}): Redis | Cluster {
  switch (plan.mode) {
    case 'standalone':
      return new Redis(plan.url, { ...plan.options, ...extra });
    case 'sentinel':
      return new Redis({ ...plan.options, ...extra });
    case 'cluster':
      return new Cluster(plan.nodes, { ...plan.options, ...extra });
  }
}

export function readOnlyReply(error: Error): boolean {
  return error.message.startsWith('READONLY');
}

function node(url: URL, defaultPort: number): RedisNode {
  // URL keeps IPv6 literals in brackets; sockets want them bare.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: url.port === '' ? defaultPort : Number(url.port) };
}

function database(url: URL): number | undefined {
  const db = url.pathname.replace(/^\//, '');
  return db === '' ? undefined : Number(db);
}
