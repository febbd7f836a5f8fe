/**
 * SIGTERM behind a load balancer: readiness fails first while the tracker
 * keeps serving every protocol and answering health and metrics for
 * shutdown.drainDelaySeconds; only then does it stop accepting and exit.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildAnnounceQuery } from '../../lib/protocol/http/client.js';
import {
  RawHttpConnection,
  UdpTestClient,
  eventually,
  fetchOps,
  launchTracker,
  randomId20,
} from '../support/integration-helpers.js';

describe('SIGTERM with a drain delay', () => {
  it('fails /readyz at once, keeps serving UDP, HTTP, /healthz and /metrics through the delay, then exits 0', async () => {
    const tracker = await launchTracker(['--shutdown.drainDelaySeconds=4']);
    const udp = await UdpTestClient.open('127.0.0.1', tracker.udpPort);
    try {
      assert.equal((await fetchOps(tracker.metricsPort, '/readyz')).status, 200, 'ready before the signal');
      tracker.signal('SIGTERM');
      await eventually(async () => ((await fetchOps(tracker.metricsPort, '/readyz')).status === 503 ? true : undefined), 3000, '/readyz to fail');

      // Still inside the delay: everything a client or a prober uses answers.
      assert.equal((await fetchOps(tracker.metricsPort, '/healthz')).status, 200);
      const metrics = await fetchOps(tracker.metricsPort, '/metrics');
      assert.equal(metrics.status, 200);
      assert.match(metrics.text, /tracker_requests_total/);
      await udp.announceOk({ infoHash: randomId20(), peerId: randomId20(), port: 42001 });
      const http = await RawHttpConnection.open('127.0.0.1', tracker.httpPort);
      try {
        const res = await http.get(`/announce?${buildAnnounceQuery({ infoHash: randomId20(), peerId: randomId20(), port: 42002 })}`);
        assert.equal(res.status, 200);
        assert.ok(!res.body.toString('latin1').includes('failure reason'), 'a normal announce reply');
      } finally {
        http.close();
      }
      assert.equal(tracker.running(), true, 'still running inside the drain delay');

      assert.deepEqual(await tracker.waitExit(20_000), { code: 0, signal: null });
      assert.match(tracker.output(), /"drainDelaySeconds":4/);
      assert.match(tracker.output(), /"msg":"stopped"/);
    } finally {
      udp.close();
      await tracker.stop().catch(() => undefined);
    }
  });

  it('SIGINT (Ctrl-C) skips the drain delay', async () => {
    const tracker = await launchTracker(['--shutdown.drainDelaySeconds=60']);
    try {
      tracker.signal('SIGINT');
      assert.deepEqual(await tracker.waitExit(10_000), { code: 0, signal: null });
      assert.match(tracker.output(), /"drainDelaySeconds":0/);
    } finally {
      await tracker.stop().catch(() => undefined);
    }
  });
});
