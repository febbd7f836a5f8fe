/**
 * Redis snapshots against real redis-server processes started by the test:
 * the backend conformance suite on standalone, Sentinel and a 3-node
 * Cluster; an outage and a stall in the middle of a run; and a restore of
 * all 65,536 slots (its timing is printed as a diagnostic, not asserted).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { defaultConfig, type Config } from '../../lib/runtime/config.js';
import { SLOT_COUNT } from '../../services/swarm/snapshot/backend.js';
import { RedisSnapshotBackend, slotKey } from '../../services/swarm/snapshot/redis-backend.js';
import { createRedisClient, redisClientPlan, type RedisSettings } from '../../services/swarm/snapshot/redis-client.js';
import { SnapshotScheduler, type SchedulerOptions } from '../../services/swarm/snapshot/scheduler.js';
import { slotValue, snapshotBackendConformance, writeAll } from '../support/snapshot-backend-conformance.js';
import { FakeSlotSource, RecordingSink } from '../support/snapshot-fakes.js';
import { startRedisCluster, startRedisServer, type RedisServer } from '../support/redis-server.js';
import type { CleanupContext } from '../support/tracker-process.js';
import { eventually } from '../support/integration-helpers.js';
import { metricIn } from '../support/cluster.js';
import { createLogger } from '../../lib/runtime/logger.js';
import { Failures } from '../../lib/runtime/failures.js';
import { TrackerMetrics } from '../../lib/runtime/metrics.js';
import { createSnapshots, snapshotTtlSeconds } from '../../services/swarm/snapshot/create-snapshots.js';

/** Cleanups for a describe block, run (last first) after its tests; call it in the describe body. */
function suiteScope(): CleanupContext {
  const callbacks: Array<() => unknown> = [];
  after(async () => {
    while (callbacks.length > 0) await callbacks.pop()!();
  });
  return { after: (fn) => void callbacks.push(fn) };
}

let prefixes = 0;
const uniquePrefix = (): string => `t${process.pid}-${prefixes++}:`;

function settings(overrides: Partial<RedisSettings>): RedisSettings {
  const c: Config['snapshot'] = defaultConfig().snapshot;
  return { ...c, commandTimeoutMs: 1000, reconnectMaxDelayMs: 200, ...overrides };
}

interface Connected {
  backend: RedisSnapshotBackend;
  failures: RecordingSink;
  prefix: string;
  close(): Promise<void>;
}

function connect(s: RedisSettings, prefix = uniquePrefix()): Connected {
  const client = createRedisClient(redisClientPlan(s));
  const failures = new RecordingSink();
  const backend = new RedisSnapshotBackend(client, { keyPrefix: prefix, failures });
  return {
    backend,
    failures,
    prefix,
    close: async () => {
      await backend.close();
      client.disconnect();
    },
  };
}

/** A plain client for looking at what the backend wrote. */
function inspector(scope: CleanupContext, url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {}); // the tests stop Redis on purpose
  scope.after(() => client.disconnect());
  return client;
}

function conformanceOn(name: string, s: () => RedisSettings, raw: () => Redis | { pttl(key: string): Promise<number> }): void {
  snapshotBackendConformance(name, async () => {
    const c = connect(s());
    return {
      backend: c.backend,
      ttlMs: async (slot) => {
        const ms = await raw().pttl(slotKey(c.prefix, slot));
        return ms < 0 ? null : ms;
      },
      cleanup: c.close,
    };
  });
}

describe('Redis snapshot backend, standalone', () => {
  const scope = suiteScope();
  let redis: RedisServer;
  let raw: Redis;
  before(async () => {
    redis = await startRedisServer(scope);
    raw = inspector(scope, redis.url);
  });

  conformanceOn('redis standalone', () => settings({ redisUrl: redis.url }), () => raw);

  test('one key per slot, <prefix>slot:<4 hex digits>, holding the raw bytes', async () => {
    const c = connect(settings({ redisUrl: redis.url }), 'layout:');
    try {
      assert.equal(await c.backend.waitReady(5000), true);
      await writeAll(c.backend, [
        { slot: 0x00ab, value: Uint8Array.of(0, 1, 0xff) },
        { slot: 0xffff, value: Uint8Array.of(7) },
      ]);
      assert.deepEqual((await raw.keys('layout:*')).sort(), ['layout:slot:00ab', 'layout:slot:ffff']);
      assert.deepEqual(await raw.getBuffer('layout:slot:00ab'), Buffer.from([0, 1, 0xff]));
    } finally {
      await c.close();
    }
  });

  test('a user denied scripting still gets its snapshots written, one SET per slot, and reads stay batched', async () => {
    assert.match(await redis.command('ACL', 'SETUSER', 'noscript', 'on', '>pw', '~*', '&*', '+@all', '-@scripting'), /^\+OK/);
    const c = connect(settings({ redisUrl: `redis://noscript:pw@127.0.0.1:${redis.port}` }));
    try {
      assert.equal(await c.backend.waitReady(5000), true);
      assert.equal(c.backend.scripted, true, 'it starts with the script');
      const slots = Array.from({ length: 1500 }, (_, i) => i * 40);
      await writeAll(c.backend, slots.map((slot) => ({ slot, value: slotValue(slot) })));
      assert.equal(c.backend.scripted, false, 'the refusal switched it to one SET per slot');
      await writeAll(c.backend, [{ slot: 1, value: slotValue(1) }]);
      const got = await c.backend.readMany([...slots, 1]);
      got.forEach((value, i) => assert.deepEqual(value, Buffer.from(slotValue(i < slots.length ? slots[i] : 1)), `slot ${i}`));
      assert.ok((await raw.pttl(slotKey(c.prefix, 40))) > 590_000, 'the TTL is set in this mode too');
    } finally {
      await c.close();
    }
  });

  test('the database number in the URL is used', async () => {
    const c = connect(settings({ redisUrl: `${redis.url}/3` }), 'db3:');
    try {
      assert.equal(await c.backend.waitReady(5000), true);
      await writeAll(c.backend, [{ slot: 1, value: Uint8Array.of(1) }]);
      assert.equal(await raw.exists('db3:slot:0001'), 0, 'not in database 0');
      const db3 = inspector(scope, `${redis.url}/3`);
      assert.equal(await db3.exists('db3:slot:0001'), 1);
    } finally {
      await c.close();
    }
  });
});

describe('Redis snapshot backend, Sentinel', () => {
  const scope = suiteScope();
  let master: RedisServer;
  let raw: Redis;
  let sentinels: RedisServer[];
  before(async () => {
    master = await startRedisServer(scope);
    raw = inspector(scope, master.url);
    sentinels = [
      await startRedisServer(scope, { sentinelOf: { port: master.port, name: 'tracker-master' } }),
      await startRedisServer(scope, { sentinelOf: { port: master.port, name: 'tracker-master' } }),
    ];
  });

  conformanceOn(
    'redis sentinel',
    () => settings({ redisMode: 'sentinel', redisSentinelName: 'tracker-master', redisUrl: sentinels.map((s) => s.url).join(',') }),
    () => raw,
  );

  test('a sentinel that is down is skipped for the next one', async () => {
    const c = connect(
      settings({ redisMode: 'sentinel', redisSentinelName: 'tracker-master', redisUrl: `redis://127.0.0.1:1,${sentinels[1].url}` }),
    );
    try {
      assert.equal(await c.backend.waitReady(10_000), true);
      await writeAll(c.backend, [{ slot: 5, value: Uint8Array.of(5) }]);
      assert.equal(await raw.exists(slotKey(c.prefix, 5)), 1, 'written to the master the sentinel named');
    } finally {
      await c.close();
    }
  });
});

describe('Redis snapshot backend, Cluster (3 masters)', () => {
  const scope = suiteScope();
  let nodes: RedisServer[];
  let cluster: ReturnType<typeof createRedisClient>;
  before(async () => {
    nodes = await startRedisCluster(scope, 3);
    cluster = createRedisClient(redisClientPlan(settings({ redisMode: 'cluster', redisUrl: nodes[0].url })));
    cluster.on('error', () => {});
    scope.after(() => cluster.disconnect());
  });

  conformanceOn(
    'redis cluster',
    // Seeded with one node: the others are found through CLUSTER SLOTS.
    () => settings({ redisMode: 'cluster', redisUrl: nodes[0].url }),
    () => cluster,
  );

  test('one read spans all nodes: the slots\' keys are spread over the three masters', async () => {
    const c = connect(settings({ redisMode: 'cluster', redisUrl: nodes.map((n) => n.url).join(',') }));
    try {
      assert.equal(await c.backend.waitReady(10_000), true);
      const slots = Array.from({ length: 300 }, (_, i) => i * 211);
      await writeAll(c.backend, slots.map((slot) => ({ slot, value: slotValue(slot) })));
      const counts = await Promise.all(nodes.map(async (node) => Number((await node.command('DBSIZE')).slice(1))));
      assert.ok(counts.every((n) => n > 50), `keys per node: ${counts.join(', ')}`);
      const got = await c.backend.readMany(slots);
      for (let i = 0; i < slots.length; i++) assert.deepEqual(got[i], Buffer.from(slotValue(slots[i])), `slot ${slots[i]}`);
    } finally {
      await c.close();
    }
  });
});

describe('snapshots through Redis outages', () => {
  function scheduler(source: FakeSlotSource, backend: RedisSnapshotBackend, options: Partial<SchedulerOptions> = {}) {
    const failures = new RecordingSink();
    const s = new SnapshotScheduler(source, backend, {
      intervalMs: 100,
      ttlSeconds: 600,
      maxBytesInFlight: 1 << 20,
      budgetMs: 4,
      restoreDeadlineMs: 10_000,
      shutdownDeadlineMs: 5_000,
      failures,
      ...options,
    });
    return { scheduler: s, failures };
  }

  test('Redis stopped: writes fail fast and are counted, slots stay pending; Redis back: it reconnects and the next interval writes them', async (t) => {
    const redis = await startRedisServer(t);
    const raw = inspector(t, redis.url);
    const c = connect(settings({ redisUrl: redis.url }));
    t.after(c.close);
    const source = new FakeSlotSource().own(1, 2, 3);
    const { scheduler: s } = scheduler(source, c.backend);
    assert.equal(await c.backend.waitReady(5000), true);
    source.change(1, slotValue(1));
    assert.equal((await s.runPass()).complete, true);

    await redis.stop();
    await eventually(() => (c.backend.ready ? undefined : true), 5000, 'the client to notice Redis is gone');
    source.change(2, slotValue(2));
    source.change(3, slotValue(3));
    const started = performance.now();
    const failed = await s.runPass();
    const ms = performance.now() - started;
    assert.equal(failed.complete, false);
    assert.equal(failed.failed, 2);
    assert.ok(ms < 1000, `a pass against a stopped Redis returns at once (${ms.toFixed(1)} ms)`);
    assert.equal(s.pendingSlots, 2);
    assert.equal(s.writeFailures, 2);
    await eventually(() => (c.failures.count >= 1 ? true : undefined), 5000, 'refused reconnections to be reported');

    await redis.start(); // empty: no persistence
    s.start();
    t.after(() => s.stop());
    // Pending clears when the pass books the reply, a moment after Redis holds the keys.
    await eventually(() => (s.pendingSlots === 0 ? true : undefined), 15_000, 'a pass to write the pending slots after Redis came back');
    assert.equal(await raw.exists(slotKey(c.prefix, 2), slotKey(c.prefix, 3)), 2);
    assert.deepEqual(await raw.getBuffer(slotKey(c.prefix, 3)), Buffer.from(slotValue(3)));
  });

  test('Redis stalled (SIGSTOP): writes time out within the command timeout, are counted, and go through once it resumes', async (t) => {
    const redis = await startRedisServer(t);
    const raw = inspector(t, redis.url);
    const c = connect(settings({ redisUrl: redis.url, commandTimeoutMs: 300 }));
    t.after(c.close);
    const source = new FakeSlotSource().own(1, 2);
    const { scheduler: s, failures } = scheduler(source, c.backend);
    assert.equal(await c.backend.waitReady(5000), true);

    redis.pause();
    t.after(() => redis.resume());
    source.change(1, slotValue(1));
    source.change(2, slotValue(2));
    const started = performance.now();
    const stalled = await s.runPass();
    const ms = performance.now() - started;
    assert.equal(stalled.complete, false);
    assert.equal(stalled.failed, 2);
    assert.ok(ms < 5000, `the pass ended by the 300 ms command timeout, not by Redis (${ms.toFixed(0)} ms)`);
    assert.equal(s.pendingSlots, 2);
    assert.match(String((failures.reports[0]?.error as Error)?.message), /timed out/i);

    redis.resume();
    await eventually(async () => ((await s.runPass()).complete ? true : undefined), 10_000, 'a complete pass after the stall');
    assert.deepEqual(await raw.getBuffer(slotKey(c.prefix, 1)), Buffer.from(slotValue(1)));
    assert.equal(s.pendingSlots, 0);
  });

  test('no Redis at start: restore gives up at its deadline and the swarm goes on', async (t) => {
    const c = connect(settings({ redisUrl: 'redis://127.0.0.1:1' }));
    t.after(c.close);
    const source = new FakeSlotSource().own(1, 2);
    const { scheduler: s } = scheduler(source, c.backend, { restoreDeadlineMs: 500 });
    const started = performance.now();
    const result = await s.restore();
    assert.ok(performance.now() - started < 5000);
    assert.equal(result.complete, false);
    assert.equal(result.unread, 2);
  });

  test('all 65,536 slots: written on shutdown and restored by the next owner (timing recorded)', async (t) => {
    const redis = await startRedisServer(t);
    const writer = connect(settings({ redisUrl: redis.url }));
    t.after(writer.close);
    // ~1M peers over 65,536 slots: about 16 peers of ~12 bytes each per slot.
    const valueBytes = 200;
    const source = new FakeSlotSource();
    for (let slot = 0; slot < SLOT_COUNT; slot++) {
      source.own(slot);
      source.state.set(slot, slotValue(slot, valueBytes));
    }
    const { scheduler: w } = scheduler(source, writer.backend, { shutdownDeadlineMs: 60_000, maxBytesInFlight: 8 << 20 });
    assert.equal(await writer.backend.waitReady(5000), true);
    const written = await w.stop();
    assert.ok(written !== null);
    assert.equal(written.complete, true);
    assert.equal(written.set, SLOT_COUNT);

    const reader = connect(settings({ redisUrl: redis.url }), writer.prefix);
    t.after(reader.close);
    const next = new FakeSlotSource();
    for (let slot = 0; slot < SLOT_COUNT; slot++) next.own(slot);
    const { scheduler: r } = scheduler(next, reader.backend, { restoreDeadlineMs: 60_000 });
    const restored = await r.restore();
    assert.equal(restored.complete, true);
    assert.deepEqual([restored.failed, restored.corrupt, restored.unread], [0, 0, 0]);
    assert.equal(restored.slots, SLOT_COUNT);
    assert.equal(restored.bytes, SLOT_COUNT * valueBytes);
    assert.deepEqual(next.imported.get(0xbeef), slotValue(0xbeef, valueBytes));
    t.diagnostic(
      `65,536 slots x ${valueBytes} B (${((SLOT_COUNT * valueBytes) / 1048576).toFixed(1)} MiB): shutdown write ${(written.seconds * 1000).toFixed(0)} ms, restore ${(restored.seconds * 1000).toFixed(0)} ms`,
    );
  });
});

describe('createSnapshots: from the configuration', () => {
  const scope = suiteScope();
  let redis: RedisServer;
  let raw: Redis;
  before(async () => {
    redis = await startRedisServer(scope);
    raw = inspector(scope, redis.url);
  });

  function deps() {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', stream: { write: (line: string) => lines.push(line) } });
    const metrics = new TrackerMetrics({ defaultMetrics: false });
    return { lines, metrics, deps: { metrics, logger, failures: new Failures(logger, (component) => metrics.internalErrorCounter(component)) } };
  }

  test('no Redis configured: no snapshots, no snapshot metrics', async () => {
    const d = deps();
    assert.equal(createSnapshots(defaultConfig(), new FakeSlotSource(), d.deps), null);
    assert.doesNotMatch((await d.metrics.render()).body, /tracker_snapshot_/);
  });

  test('with a URL: restore, periodic writes and the shutdown write go to that Redis, with a TTL of the peer lifetime plus slack, and are measured', async () => {
    const config = defaultConfig();
    config.snapshot.redisUrl = redis.url;
    config.snapshot.keyPrefix = 'configured:';
    const seed = new Redis(redis.url);
    await seed.set('configured:slot:0007', Buffer.from(slotValue(7)));
    seed.disconnect();
    const source = new FakeSlotSource().own(7, 8);
    const d = deps();
    const snapshots = createSnapshots(config, source, d.deps);
    assert.ok(snapshots !== null);
    const restored = await snapshots.restore();
    assert.equal(restored.slots, 1);
    assert.deepEqual(source.imported.get(7), slotValue(7));
    snapshots.start();
    source.change(8, slotValue(8));
    const stopped = await snapshots.stop();
    assert.equal(stopped?.complete, true);
    assert.deepEqual(await raw.getBuffer('configured:slot:0008'), Buffer.from(slotValue(8)));
    const ttl = await raw.pttl('configured:slot:0008');
    assert.equal(snapshotTtlSeconds(config), config.announce.peerTimeoutSeconds + 60);
    assert.ok(ttl > (snapshotTtlSeconds(config) - 10) * 1000 && ttl <= snapshotTtlSeconds(config) * 1000, `PTTL ${ttl}`);
    const text = (await d.metrics.render()).body;
    assert.equal(metricIn(text, 'tracker_snapshot_restored_slots_total'), 1);
    assert.equal(metricIn(text, 'tracker_snapshot_slots_written_total', { op: 'set' }), 1, 'slot 8; slot 7 was not imported as changed');
    assert.match(d.lines.join(''), /snapshot restored/);
    assert.match(d.lines.join(''), /snapshot written on shutdown/);
  });
});
