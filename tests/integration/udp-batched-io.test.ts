/**
 * udp.batchedIo: which UDP path a real tracker process runs, and that
 * `required` really refuses to start without the native addon. CI sets
 * TRACKER_UDP__BATCHED_IO=required for every tracker the tests start
 * (.ci/run, inherited through tests/support/tracker-process.ts), so there the
 * first test also proves the suite ran against the batched path.
 *
 * A missing addon is simulated with TRACKER_UDP_NATIVE_ADDON pointing at a
 * file that does not exist (the loader's own override).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nativeUdpStatus } from '../../lib/net/udp/index.js';
import { UdpTestClient, eventually, metricValue, runTrackerCli, scrapeMetrics } from '../support/integration-helpers.js';
import { startTracker, trackerEnv } from '../support/tracker-process.js';

const MISSING_ADDON = { TRACKER_UDP_NATIVE_ADDON: '/nonexistent/udp_batch.node' };
const inCi = process.env.TRACKER_UDP__BATCHED_IO?.trim() === 'required';
const addon = nativeUdpStatus();
const noAddon = addon.available ? false : `the native addon is not available here (${addon.error}); CI builds it`;

async function batchedGauge(metricsPort: number): Promise<number | undefined> {
  return metricValue(await scrapeMetrics(metricsPort), 'tracker_udp_batched_io');
}

/** A connect round trip: the socket serves, whichever path it runs. */
async function servesUdp(port: number): Promise<void> {
  const c = await UdpTestClient.open('127.0.0.1', port);
  try {
    await c.connect(5000);
  } finally {
    c.close();
  }
}

describe('udp.batchedIo', () => {
  it(`the tracker reports its UDP path in tracker_udp_batched_io${inCi ? ' (CI: it must be batched)' : ''}`, async (t) => {
    // The environment's udp.batchedIo, as every other test's tracker gets it.
    const tracker = await startTracker(t);
    const gauge = await batchedGauge(tracker.metricsPort);
    const mode = process.env.TRACKER_UDP__BATCHED_IO?.trim() || 'auto';
    const expected = mode === 'off' || !addon.available ? 0 : 1;
    assert.equal(gauge, expected, `udp.batchedIo=${mode}, addon ${addon.available ? 'available' : `unavailable: ${addon.error}`}`);
    if (inCi) assert.equal(gauge, 1, 'CI runs the tests against the batched (native) UDP path');
    await servesUdp(tracker.port);
    await tracker.stop();
  });

  it('required: a tracker whose addon cannot load refuses to start, naming the key and the reason; with the addon it starts', { skip: noAddon }, async (t) => {
    const refused = await runTrackerCli(['all-in-one', '--port=0', '--metrics.port=0', '--udp.batchedIo=required'], { env: MISSING_ADDON, timeoutMs: 15_000 });
    const output = refused.stdout + refused.stderr;
    assert.equal(refused.timedOut, false, `it must exit, not serve: ${output}`);
    assert.equal(refused.code, 1, output);
    assert.match(output, /udp\.batchedIo is \\?"required\\?" but the native UDP addon cannot be used/);
    assert.match(output, /\/nonexistent\/udp_batch\.node/, 'the reason names the file it could not load');
    assert.match(output, /npm run build:native/, 'and says what to do');

    // Positive control: the same setting with the addon in place starts and runs batched.
    const tracker = await startTracker(t, { extraArgs: ['--udp.batchedIo=required'] });
    assert.equal(await batchedGauge(tracker.metricsPort), 1);
    await servesUdp(tracker.port);
    await tracker.stop();
  });

  it('auto: without the addon it falls back to node:dgram with one warning naming the reason, and serves UDP', async (t) => {
    const tracker = await startTracker(t, { extraArgs: ['--udp.batchedIo=auto'], env: trackerEnv(MISSING_ADDON) });
    assert.equal(await batchedGauge(tracker.metricsPort), 0);
    await servesUdp(tracker.port);
    await tracker.stop();
    // Logged at start (stderr, read by now: the process has exited).
    const warnings = await eventually(() => {
      const lines = tracker.output().split('\n').filter((line) => line.includes('native UDP addon unavailable'));
      return lines.length > 0 ? lines : undefined;
    }, 5000, 'the fallback warning');
    assert.equal(warnings.length, 1, tracker.output());
    assert.match(warnings[0], /"level":"warn"/);
    assert.match(warnings[0], /\/nonexistent\/udp_batch\.node/);
  });

  it('off: node:dgram, without a warning', async (t) => {
    const tracker = await startTracker(t, { extraArgs: ['--udp.batchedIo=off'], env: trackerEnv(MISSING_ADDON) });
    assert.equal(await batchedGauge(tracker.metricsPort), 0);
    await servesUdp(tracker.port);
    await tracker.stop();
    // The same missing addon under auto does warn (previous test); off does not even look for it.
    assert.doesNotMatch(tracker.output(), /native UDP addon unavailable/);
  });
});
