/**
 * The event recorder (lib/private/recorder): kuroneko's line format, hourly
 * files rotated by the announce's time (injected clock), bounded buffer with
 * counted drops, write failures reported without stopping it, and close()
 * writing what is buffered.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventRecorder } from '../../../lib/private/recorder/event-recorder.js';
import { Failures } from '../../../lib/runtime/failures.js';
import { silentLogger } from '../../../lib/runtime/logger.js';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import type { CleanupContext } from '../../support/tracker-process.js';

function setup(t: CleanupContext, options: { swarm?: string; maxBufferBytes?: number; folder?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tracker-events-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const metrics = new TrackerMetrics({ defaultMetrics: false });
  const failures = new Failures(silentLogger, (component) => metrics.internalErrorCounter(component));
  let now = Date.UTC(2026, 11, 2, 10, 59, 58);
  const folder = options.folder ?? join(dir, 'events');
  const recorder = new EventRecorder({
    folder,
    swarm: options.swarm ?? '',
    maxBufferBytes: options.maxBufferBytes ?? 1024 * 1024,
    failures: failures.for('private-recorder'),
    dropped: metrics.limitCounter('private.recordBufferBytes'),
    now: () => now,
    flushMs: 3_600_000,
  });
  metrics.observePrivateRecorder(recorder);
  t.after(() => recorder.close());
  return { recorder, metrics, folder, dir, advance: (ms: number) => (now += ms) };
}

describe('event recorder', () => {
  test("one JSON array per announce in kuroneko's field order, in the announce's hourly file", async (t) => {
    const { recorder, folder, advance } = setup(t);
    assert.equal(recorder.record(7, 42, '10.0.0.1', 6881, 'started', false, 0, 0, 0, 0, 1000), true);
    assert.equal(recorder.record(7, 43, '2001:db8::1', 51413, '', true, 1024, 0, 4096, 0, 0), true);
    advance(2000); // 11:00:00: a new hour
    recorder.record(8, 42, '10.0.0.1', 6881, 'completed', true, 10, 1000, 10, 1000, 0);
    await recorder.close();
    assert.deepEqual(readdirSync(folder).sort(), ['events_2026-12-02T10.json', 'events_2026-12-02T11.json']);
    const ten = readFileSync(join(folder, 'events_2026-12-02T10.json'), 'utf8');
    assert.equal(ten, '[7,42,"10.0.0.1",6881,"started",0,0,0,0,0,1000]\n[7,43,"2001:db8::1",51413,"",1,1024,0,4096,0,0]\n');
    const lines = readFileSync(join(folder, 'events_2026-12-02T11.json'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(lines, [[8, 42, '10.0.0.1', 6881, 'completed', 1, 10, 1000, 10, 1000, 0]]);
    assert.equal(recorder.recorded, 3);
    assert.equal(recorder.record(1, 1, '10.0.0.1', 1, '', false, 0, 0, 0, 0, 0), false, 'nothing after close');
  });

  test('a swarm names its files; a file is appended to across flushes', async (t) => {
    const { recorder, folder } = setup(t, { swarm: 'swarm-1' });
    recorder.record(1, 1, '10.0.0.1', 1, '', false, 0, 0, 0, 0, 5);
    await recorder.flush();
    recorder.record(1, 1, '10.0.0.1', 1, '', false, 0, 0, 0, 0, 4);
    await recorder.close();
    assert.deepEqual(readdirSync(folder), ['events_2026-12-02T10_swarm-1.json']);
    assert.equal(readFileSync(join(folder, 'events_2026-12-02T10_swarm-1.json'), 'utf8').split('\n').length - 1, 2);
  });

  test('a full buffer drops lines and counts them; the request never waits', async (t) => {
    const { recorder, metrics } = setup(t, { maxBufferBytes: 200 });
    let kept = 0;
    for (let i = 0; i < 10; i++) if (recorder.record(i, i, '10.0.0.1', 6881, '', false, 0, 0, 0, 0, 0)) kept++;
    assert.ok(kept >= 3 && kept < 10, `kept ${kept}`);
    const text = (await metrics.render()).body;
    assert.match(text, new RegExp(`tracker_limit_hits_total\\{limit="private\\.recordBufferBytes"\\} ${10 - kept}`));
    assert.match(text, /tracker_private_events_buffered_bytes [1-9]/);
    await recorder.flush();
    assert.equal(recorder.bufferedBytes, 0);
    assert.equal(recorder.record(1, 1, '10.0.0.1', 6881, '', false, 0, 0, 0, 0, 0), true, 'room again once written');
  });

  test('a failing write is reported, its lines are lost, and recording goes on', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tracker-events-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const blocked = join(dir, 'not-a-folder');
    writeFileSync(blocked, 'a file where the folder should be');
    const { recorder, metrics } = setup(t, { folder: blocked });
    recorder.record(1, 1, '10.0.0.1', 1, '', false, 0, 0, 0, 0, 0);
    await recorder.flush();
    assert.equal(recorder.recorded, 0);
    assert.match((await metrics.render()).body, /tracker_internal_errors_total\{component="private-recorder"\} 1/);
    assert.equal(recorder.record(1, 1, '10.0.0.1', 1, '', false, 0, 0, 0, 0, 0), true);
  });
});
