/**
 * The metrics/health port protects itself: a capped number of connections
 * (more are closed at once and counted), and connections that never send a
 * request do not stay.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { OpsServer } from '../../../lib/runtime/ops-server.js';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';

async function openIdle(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** Resolves with how long the server took to close `socket`; rejects after `ms`. */
function closedWithin(socket: net.Socket, ms: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the connection was still open after ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
    socket.resume();
  });
}

async function refusals(metrics: TrackerMetrics): Promise<number> {
  const { body } = await metrics.render();
  const line = body.split('\n').find((l) => l.startsWith('tracker_limit_hits_total{limit="metrics.maxConnections"}'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('ops server', () => {
  it('closes connections over metrics.maxConnections at once, counts them, and answers again once one goes', async (t) => {
    const metrics = new TrackerMetrics({ defaultMetrics: false });
    const ops = new OpsServer(metrics, { ready: () => true }, { maxConnections: 2 });
    const port = await ops.listen('127.0.0.1', 0);
    t.after(() => ops.close());

    const held = [await openIdle(port), await openIdle(port)];
    const third = await openIdle(port);
    await closedWithin(third, 3000);
    assert.equal(await refusals(metrics), 1);
    // Positive control: the two held connections were not closed meanwhile.
    assert.ok(held.every((s) => !s.destroyed && s.readyState === 'open'));

    held[0].destroy();
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
      // The server counts the close when its side sees it: retry briefly.
      status = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.status,
        () => 0,
      );
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 200);
    held[1].destroy();
  });

  it('closes a connection that sends no request (it cannot hold a place for long)', async (t) => {
    const ops = new OpsServer(new TrackerMetrics({ defaultMetrics: false }), { ready: () => true });
    const port = await ops.listen('127.0.0.1', 0);
    t.after(() => ops.close());
    const silent = await openIdle(port);
    silent.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'); // headers never finished
    const ms = await closedWithin(silent, 20_000);
    assert.ok(ms >= 4000, `closed after ${ms} ms: before headersTimeout, so something else closed it`);
  });
});
