/**
 * Access list (allow / deny) against a real tracker process: SIGHUP reloads,
 * a bad reload keeps the old list, a bad file stops startup.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAnnounceQuery } from '../../lib/protocol/http/client.js';
import {
  UdpTestClient,
  bdecodeDict,
  bytesToText,
  eventually,
  httpGet,
  launchTracker,
  metricValue,
  randomId20,
  runTrackerCli,
  scrapeMetrics,
  toHex,
  type LaunchedTracker,
} from '../support/integration-helpers.js';

const NOT_ALLOWED = /not allowed/;

const dir = mkdtempSync(join(tmpdir(), 'tracker-access-list-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  udp: 'ok' | string;
  http: 'ok' | string;
}

/** Announces `infoHash` over UDP and HTTP; 'ok' or the error/failure text for each. */
async function tryAnnounce(tracker: LaunchedTracker, udp: UdpTestClient, infoHash: string): Promise<Outcome> {
  const port = 20000 + Math.floor(Math.random() * 40000);
  const reply = await udp.announce({ infoHash, peerId: randomId20(), port });
  const udpOutcome = reply.type === 'announce' ? 'ok' : reply.type === 'error' ? reply.message : `unexpected ${reply.type}`;
  const res = await httpGet('127.0.0.1', tracker.httpPort, `/announce?${buildAnnounceQuery({ infoHash, peerId: randomId20(), port, left: 1 })}`);
  assert.equal(res.status, 200);
  const dict = bdecodeDict(res.body);
  const httpOutcome = dict['failure reason'] === undefined ? 'ok' : bytesToText(dict['failure reason']);
  return { udp: udpOutcome, http: httpOutcome };
}

function assertAllowed(outcome: Outcome, what: string): void {
  assert.deepEqual(outcome, { udp: 'ok', http: 'ok' }, `${what} should be served`);
}

function assertDenied(outcome: Outcome, what: string): void {
  assert.match(outcome.udp, NOT_ALLOWED, `${what}: UDP error reply`);
  assert.match(outcome.http, NOT_ALLOWED, `${what}: HTTP failure`);
}

async function reloads(tracker: LaunchedTracker): Promise<{ ok: number; failed: number }> {
  const samples = await scrapeMetrics(tracker.metricsPort);
  return {
    ok: metricValue(samples, 'tracker_access_list_reloads_total', { result: 'ok' }) ?? NaN,
    failed: metricValue(samples, 'tracker_access_list_reloads_total', { result: 'failed' }) ?? NaN,
  };
}

describe('access list: allow mode', () => {
  const file = join(dir, 'allow.txt');
  const A = randomId20();
  const B = randomId20();
  let tracker: LaunchedTracker;
  let udp: UdpTestClient;

  before(async () => {
    writeFileSync(file, `# allowed torrents\n${toHex(A)}\n`);
    // watch=false: only SIGHUP reloads, so each step below is caused by the signal.
    tracker = await launchTracker(['--accessList.mode=allow', `--accessList.file=${file}`, '--accessList.watch=false']);
    udp = await UdpTestClient.open('127.0.0.1', tracker.udpPort);
  });

  after(async () => {
    udp?.close();
    await tracker?.stop();
  });

  it('serves a listed hash and refuses an unlisted one (UDP error reply, HTTP failure)', async () => {
    assertAllowed(await tryAnnounce(tracker, udp, A), 'A');
    assertDenied(await tryAnnounce(tracker, udp, B), 'B');
    const samples = await scrapeMetrics(tracker.metricsPort);
    assert.equal(metricValue(samples, 'tracker_access_list_hashes'), 1);
    assert.ok((metricValue(samples, 'tracker_requests_total', { protocol: 'udp', action: 'announce', result: 'denied' }) ?? 0) >= 1);
    assert.ok((metricValue(samples, 'tracker_requests_total', { protocol: 'http', action: 'announce', result: 'denied' }) ?? 0) >= 1);
  });

  it('SIGHUP after adding B to the file: B is served', async () => {
    writeFileSync(file, `${toHex(A)}\n${toHex(B).toUpperCase()}   # upper case and a trailing comment\n`);
    tracker.signal('SIGHUP');
    await eventually(async () => ((await reloads(tracker)).ok === 1 ? true : undefined), 10_000, 'a successful reload on /metrics');
    assertAllowed(await tryAnnounce(tracker, udp, B), 'B after reload');
    assertAllowed(await tryAnnounce(tracker, udp, A), 'A after reload');
  });

  it('SIGHUP with a bad line: the old list stays in force and the failure is counted', async () => {
    const before = await reloads(tracker);
    writeFileSync(file, `${toHex(A)}\nthis is not a hash\n`);
    tracker.signal('SIGHUP');
    await eventually(async () => ((await reloads(tracker)).failed === before.failed + 1 ? true : undefined), 10_000, 'reloads_total{result="failed"} to increment');
    assert.equal((await reloads(tracker)).ok, before.ok);
    assertAllowed(await tryAnnounce(tracker, udp, B), 'B (still listed in the old list)');
    assertAllowed(await tryAnnounce(tracker, udp, A), 'A');
    assert.equal(metricValue(await scrapeMetrics(tracker.metricsPort), 'tracker_access_list_hashes'), 2);
    assert.match(tracker.output(), /line 2/, 'the log names the bad line');
    assert.equal(tracker.running(), true, 'still running');
  });

  it('a later good reload replaces the list again (B removed)', async () => {
    writeFileSync(file, `${toHex(A)}\n`);
    tracker.signal('SIGHUP');
    await eventually(async () => ((await reloads(tracker)).ok === 2 ? true : undefined), 10_000, 'a second successful reload');
    assertDenied(await tryAnnounce(tracker, udp, B), 'B after removal');
  });
});

describe('access list: deny mode', () => {
  const file = join(dir, 'deny.txt');
  const C = randomId20();
  const D = randomId20();
  let tracker: LaunchedTracker;
  let udp: UdpTestClient;

  before(async () => {
    writeFileSync(file, `${toHex(C)}\n`);
    tracker = await launchTracker(['--accessList.mode=deny', `--accessList.file=${file}`, '--accessList.watch=false']);
    udp = await UdpTestClient.open('127.0.0.1', tracker.udpPort);
  });

  after(async () => {
    udp?.close();
    await tracker?.stop();
  });

  it('refuses a listed hash and serves any other', async () => {
    assertDenied(await tryAnnounce(tracker, udp, C), 'C');
    assertAllowed(await tryAnnounce(tracker, udp, D), 'D');
  });

  it('SIGHUP after adding D: D is refused too', async () => {
    writeFileSync(file, `${toHex(C)}\n\n# and now\n${toHex(D)}\n`);
    tracker.signal('SIGHUP');
    await eventually(async () => ((await reloads(tracker)).ok === 1 ? true : undefined), 10_000, 'a successful reload');
    assertDenied(await tryAnnounce(tracker, udp, D), 'D after reload');
    assertAllowed(await tryAnnounce(tracker, udp, randomId20()), 'an unlisted hash');
  });
});

describe('access list: a bad file at startup', () => {
  it('a bad line stops startup with a non-zero exit naming the file and the line', async () => {
    const file = join(dir, 'bad-line.txt');
    writeFileSync(file, `${toHex(randomId20())}\n# fine so far\nnot-a-hash\n`);
    const result = await runTrackerCli(['all-in-one', '--port=0', '--metrics.port=0', '--accessList.mode=allow', `--accessList.file=${file}`]);
    assert.equal(result.timedOut, false, 'the process exits by itself');
    assert.notEqual(result.code, 0);
    const output = result.stdout + result.stderr;
    assert.ok(output.includes(file), `output names ${file}: ${output}`);
    assert.match(output, /line 3/);
  });

  it('a missing file stops startup with a non-zero exit naming the file', async () => {
    const file = join(dir, 'does-not-exist.txt');
    const result = await runTrackerCli(['all-in-one', '--port=0', '--metrics.port=0', '--accessList.mode=deny', `--accessList.file=${file}`]);
    assert.equal(result.timedOut, false);
    assert.notEqual(result.code, 0);
    assert.ok((result.stdout + result.stderr).includes(file));
  });

  it('mode allow without a file is a config error naming accessList.file', async () => {
    const result = await runTrackerCli(['all-in-one', '--port=0', '--metrics.port=0', '--accessList.mode=allow']);
    assert.equal(result.timedOut, false);
    assert.notEqual(result.code, 0);
    assert.match(result.stdout + result.stderr, /accessList\.file/);
  });
});
