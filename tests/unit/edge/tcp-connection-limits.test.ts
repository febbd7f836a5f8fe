/**
 * Fitting the connection caps under the file-descriptor limit, and the
 * guard on a real uWebSockets.js listener in this process: what it refuses
 * shows in /metrics, what closes gives its place back, and when it is off
 * the operator is told what is unprotected.
 *
 * The guard is process-wide (node:test runs each file in its own process).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { TcpServer } from '../../../services/edge/tcp-server.js';
import { connectionCaps, fdReserve, TcpConnectionLimits } from '../../../services/edge/tcp-connection-limits.js';
import { defaultConfig, type Config } from '../../../lib/runtime/config.js';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import { createLogger } from '../../../lib/runtime/logger.js';
import { tcpGuardUnavailable } from '../../../lib/net/tcp-guard.js';

function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>> } {
  let text = '';
  const logger = createLogger({ level: 'info', stream: { write: (line: string) => (text += line) } });
  return {
    logger,
    lines: () =>
      text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

function http(overrides: Partial<Config['http']>): Config['http'] {
  return { ...defaultConfig().http, ...overrides };
}

async function metricValue(metrics: TrackerMetrics, prefix: string): Promise<number | undefined> {
  const { body } = await metrics.render();
  const line = body.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const until = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves when the server closes `socket` (an RST shows as ECONNRESET, on connect or after); rejects after 5 s. */
function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => reject(new Error('the connection over the cap was not closed within 5 s')), 5000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function connect(port: number, localAddress: string): net.Socket {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => {});
  return socket;
}

describe('connection caps under the descriptor limit', () => {
  it('keeps a reserve: a quarter of a small limit, 1024 of a big one', () => {
    assert.equal(fdReserve(256), 64);
    assert.equal(fdReserve(4096), 1024);
    assert.equal(fdReserve(1_048_576), 1024);
  });

  it('lowers http.maxConnections to the limit minus the reserve, and says so', () => {
    assert.deepEqual(connectionCaps({ maxConnections: 100_000, maxConnectionsPerAddress: 1024 }, 20_000), {
      maxConnections: 18_976,
      maxConnectionsPerAddress: 1024,
      reserve: 1024,
      clamped: true,
    });
    assert.deepEqual(connectionCaps({ maxConnections: 5000, maxConnectionsPerAddress: 10 }, 1_048_576), {
      maxConnections: 5000,
      maxConnectionsPerAddress: 10,
      reserve: 1024,
      clamped: false,
    });
    assert.equal(connectionCaps({ maxConnections: 100, maxConnectionsPerAddress: 10 }, undefined).maxConnections, 100, 'unknown limit: as configured');
  });
});

describe('the guard on a uWebSockets.js listener in this process', () => {
  it('off: warns naming what is unprotected and exports tracker_tcp_guard_enabled 0', async () => {
    const { logger, lines } = capturingLogger();
    const metrics = new TrackerMetrics({ defaultMetrics: false });
    const limits = TcpConnectionLimits.start({ http: http({ connectionGuard: 'off' }), metrics, logger });
    assert.equal(limits.enabled, false);
    const warning = lines().find((l) => l.level === 'warn' && String(l.msg).includes('http.connectionGuard is off'));
    assert.ok(warning, JSON.stringify(lines()));
    assert.match(String(warning.msg), /http\.maxConnections, http\.maxConnectionsPerAddress/);
    assert.equal(await metricValue(metrics, 'tracker_tcp_guard_enabled '), 0);
    assert.equal(await metricValue(metrics, 'tracker_tcp_connections '), undefined, 'no count is made up when nothing counts');
  });

  it('required: a guard that cannot be installed stops the start with the reason; auto only warns', () => {
    const missing = (): never => {
      throw new Error('native/tcp-guard is not built');
    };
    const { logger, lines } = capturingLogger();
    assert.throws(
      () => TcpConnectionLimits.start({ http: http({ connectionGuard: 'required' }), metrics: new TrackerMetrics({ defaultMetrics: false }), logger, install: missing }),
      /http\.connectionGuard is "required" but the connection guard cannot be installed: native\/tcp-guard is not built/,
    );
    // Positive control: the same missing guard under auto starts, unguarded, with a warning.
    const auto = TcpConnectionLimits.start({ http: http({ connectionGuard: 'auto' }), metrics: new TrackerMetrics({ defaultMetrics: false }), logger, install: missing });
    assert.equal(auto.enabled, false);
    assert.ok(lines().some((l) => l.level === 'warn' && String(l.msg).includes('native/tcp-guard is not built')));
  });

  it('on: refused connections are reset at once and counted by limit; closes give places back', { skip: tcpGuardUnavailable() }, async (t) => {
    const { logger, lines } = capturingLogger();
    const metrics = new TrackerMetrics({ defaultMetrics: false });
    const limits = TcpConnectionLimits.start({
      http: http({ maxConnections: 4, maxConnectionsPerAddress: 2, trustedProxies: ['127.0.0.9'] }),
      metrics,
      logger,
    });
    assert.equal(limits.enabled, true);
    assert.ok(lines().some((l) => l.msg === 'tracker-port connection limits' && l.maxConnections === 4 && l.guard === 'on'));
    const server = new TcpServer();
    const port = await server.listen('127.0.0.1', 0);
    t.after(() => server.close());
    const open = (): Promise<number | undefined> => metricValue(metrics, 'tracker_tcp_connections ');
    const hits = (limit: string): Promise<number | undefined> => metricValue(metrics, `tracker_limit_hits_total{limit="${limit}"}`);
    assert.equal(await metricValue(metrics, 'tracker_tcp_guard_enabled '), 1);
    assert.equal(await metricValue(metrics, 'tracker_tcp_connections_max '), 4);

    const a1 = connect(port, '127.0.0.1');
    const a2 = connect(port, '127.0.0.1');
    await eventually(async () => (await open()) === 2, '2 open connections');
    const a3 = connect(port, '127.0.0.1');
    await closed(a3);
    assert.equal(await hits('http.maxConnectionsPerAddress'), 1);
    assert.equal(a1.readyState, 'open', 'the connections within the cap stay');

    // The trusted proxy is exempt from the per-address cap, not from the total.
    const p1 = connect(port, '127.0.0.9');
    const p2 = connect(port, '127.0.0.9');
    await eventually(async () => (await open()) === 4, '4 open connections');
    const p3 = connect(port, '127.0.0.9');
    await closed(p3);
    assert.equal(await hits('http.maxConnections'), 1);
    assert.equal(await hits('http.maxConnectionsPerAddress'), 1);

    a1.destroy();
    await eventually(async () => (await open()) === 3, 'the closed connection to be released');
    const a4 = connect(port, '127.0.0.1');
    await eventually(async () => (await open()) === 4, 'a new connection in the freed place');
    assert.equal(await hits('http.maxConnections'), 1, 'nothing refused meanwhile');
    for (const s of [a2, a4, p1, p2]) s.destroy();
    await eventually(async () => (await open()) === 0, 'every connection released');
  });
});
