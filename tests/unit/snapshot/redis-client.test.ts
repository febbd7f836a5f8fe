/**
 * snapshot.* settings -> ioredis options, for the three modes, and what
 * ioredis itself makes of them (clients built with lazyConnect, so nothing
 * connects). A real standalone, Sentinel and Cluster are exercised in
 * tests/integration/snapshot-redis.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { defaultConfig } from '../../../lib/runtime/config.js';
import { createRedisClient, readOnlyReply, redisClientPlan, type RedisSettings } from '../../../services/swarm/snapshot/redis-client.js';

function settings(overrides: Partial<RedisSettings>): RedisSettings {
  return { ...defaultConfig().snapshot, ...overrides };
}

/** The failure behaviour every mode must have: fail fast, never resend, reconnect forever with a capped backoff. */
function assertFailsFast(options: RedisOptions, capMs: number): void {
  assert.equal(options.maxRetriesPerRequest, 0);
  assert.equal(options.autoResendUnfulfilledCommands, false);
  assert.equal(options.commandTimeout, 2000);
  assert.equal(options.connectionName, 'tracker-snapshots');
  assert.equal(typeof options.reconnectOnError, 'function');
  if (options.retryStrategy) {
    assert.equal(options.retryStrategy(1), 100);
    assert.equal(options.retryStrategy(5), 500);
    assert.equal(options.retryStrategy(10_000), capMs, 'the backoff is capped and never gives up');
  }
}

function lazy<T extends Redis | Cluster>(client: T, check: (client: T) => void): void {
  try {
    check(client);
  } finally {
    client.disconnect();
  }
}

describe('redisClientPlan: standalone', () => {
  test('the URL goes to ioredis as written; ioredis reads host, port, user, password, db and rediss:// from it', () => {
    const url = 'rediss://snap%3Auser:p%40ss@cache.example.com:6380/2?family=6';
    const plan = redisClientPlan(settings({ redisUrl: ` ${url} ` }));
    assert.equal(plan.mode, 'standalone');
    if (plan.mode !== 'standalone') return;
    assert.equal(plan.url, url);
    assert.equal(plan.options.enableOfflineQueue, false, 'no offline queue: a command while disconnected fails at once');
    assert.equal(plan.options.enableAutoPipelining, true);
    assertFailsFast(plan.options, 2000);
    lazy(createRedisClient(plan, { lazyConnect: true }) as Redis, (client) => {
      assert.equal(client.options.host, 'cache.example.com');
      assert.equal(client.options.port, 6380);
      assert.equal(client.options.username, 'snap:user');
      assert.equal(client.options.password, 'p@ss');
      assert.equal(client.options.db, 2);
      assert.ok(client.options.tls, 'rediss:// means TLS');
      assert.equal(client.options.family, 6, 'query options are ioredis\'s');
      assert.equal(client.options.enableOfflineQueue, false);
      assert.equal(client.options.commandTimeout, 2000);
    });
  });

  test('the reconnect cap and command timeout are the settings\'', () => {
    const plan = redisClientPlan(settings({ redisUrl: 'redis://h', commandTimeoutMs: 300, reconnectMaxDelayMs: 700 }));
    assert.equal(plan.mode === 'standalone' && plan.options.retryStrategy!(100), 700);
    assert.equal(plan.mode === 'standalone' && plan.options.commandTimeout, 300);
    assert.equal(plan.mode === 'standalone' && plan.options.connectTimeout, 1000, 'connecting gets at least a second');
  });

  test('a READONLY reply (a master demoted by failover) makes ioredis reconnect; other errors do not', () => {
    assert.equal(readOnlyReply(new Error("READONLY You can't write against a read only replica.")), true);
    assert.equal(readOnlyReply(new Error('ERR wrong number of arguments')), false);
  });

  test('an empty URL is a programming error: snapshots are off then, nothing should connect', () => {
    assert.throws(() => redisClientPlan(settings({ redisUrl: '' })), /empty/);
  });
});

describe('redisClientPlan: Sentinel', () => {
  test('the URLs are the sentinels; user, password and db of the URL are the master\'s; the sentinel password is its own key', () => {
    const plan = redisClientPlan(
      settings({
        redisMode: 'sentinel',
        redisUrl: 'redis://:master%20pw@sentinel-0.redis:26379/1, redis://:master%20pw@[fd00::5]:26380/1,redis://:master%20pw@sentinel-2.redis/1',
        redisSentinelName: 'tracker',
        redisSentinelPassword: 'sentinel-pw',
      }),
    );
    assert.equal(plan.mode, 'sentinel');
    if (plan.mode !== 'sentinel') return;
    const o = plan.options;
    assert.deepEqual(o.sentinels, [
      { host: 'sentinel-0.redis', port: 26379 },
      { host: 'fd00::5', port: 26380 },
      { host: 'sentinel-2.redis', port: 26379 },
    ]);
    assert.equal(o.name, 'tracker');
    assert.equal(o.password, 'master pw');
    assert.equal(o.username, undefined);
    assert.equal(o.db, 1);
    assert.equal(o.sentinelPassword, 'sentinel-pw');
    assert.equal(o.tls, undefined);
    assert.equal(o.enableOfflineQueue, false);
    assert.equal(o.sentinelRetryStrategy!(10_000), 2000);
    assertFailsFast(o, 2000);
    lazy(createRedisClient(plan, { lazyConnect: true }) as Redis, (client) => {
      assert.equal((client as unknown as { connector: object }).connector.constructor.name, 'SentinelConnector');
      assert.equal(client.options.name, 'tracker');
      assert.deepEqual(client.options.sentinels, o.sentinels);
      assert.equal(client.options.password, 'master pw');
      assert.equal(client.options.db, 1);
    });
  });

  test('rediss:// means TLS to the master and to the sentinels; no sentinel password, none sent', () => {
    const plan = redisClientPlan(settings({ redisMode: 'sentinel', redisUrl: 'rediss://s0:26379' }));
    assert.equal(plan.mode, 'sentinel');
    if (plan.mode !== 'sentinel') return;
    assert.deepEqual(plan.options.tls, {});
    assert.deepEqual(plan.options.sentinelTLS, {});
    assert.equal(plan.options.enableTLSForSentinelMode, true);
    assert.equal(plan.options.sentinelPassword, undefined);
    assert.equal(plan.options.name, 'mymaster', 'the default group name');
    assert.equal(plan.options.db, undefined);
  });
});

describe('redisClientPlan: Cluster', () => {
  test('the URLs are seed nodes; credentials and TLS go to every node ioredis discovers', () => {
    const plan = redisClientPlan(settings({ redisMode: 'cluster', redisUrl: 'rediss://snap:pw@node-0.redis:7000,rediss://snap:pw@node-1.redis' }));
    assert.equal(plan.mode, 'cluster');
    if (plan.mode !== 'cluster') return;
    assert.deepEqual(plan.nodes, [
      { host: 'node-0.redis', port: 7000 },
      { host: 'node-1.redis', port: 6379 },
    ]);
    const o = plan.options;
    assert.equal(o.enableOfflineQueue, false);
    assert.equal(o.enableAutoPipelining, true, 'auto-pipelining groups one batch\'s commands per node');
    assert.equal(o.clusterRetryStrategy!(10_000), 2000);
    assert.equal(o.redisOptions?.username, 'snap');
    assert.equal(o.redisOptions?.password, 'pw');
    assert.deepEqual(o.redisOptions?.tls, {});
    assertFailsFast(o.redisOptions as RedisOptions, 2000);
    lazy(createRedisClient(plan, { lazyConnect: true }) as Cluster, (client) => {
      assert.equal(client.isCluster, true);
      assert.equal(client.options.redisOptions?.password, 'pw');
      assert.equal(client.options.enableOfflineQueue, false);
    });
  });
});
