/**
 * `loadtest ws --engine c` (the C generator's WebSocket mode, through the
 * command line) against the real tracker process: a short bounded run on
 * loopback gets announce replies, offers relayed to its peers, answers
 * relayed back and matched to its own offers, and no error of any kind.
 * Skipped when gcc is not installed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadSummary } from '../../bench/loadtest/stats.js';
import { LIFTED_CLIENT_LIMITS } from '../../bench/loadtest/lifted-limits.js';
import { REPO_ROOT, startTracker } from '../support/tracker-process.js';

const hasGcc = spawnSync('gcc', ['--version']).status === 0;
const CLI = join(REPO_ROOT, 'dist', 'bench', 'loadtest', 'cli.js');

/** Run the loadtest CLI to completion (killed after `limitMs`); its exit code and output. */
function runCli(args: string[], limitMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('loadtest ws --engine c against the tracker', { skip: !hasGcc && 'gcc not installed' }, () => {
  it('announces, offers relayed and answered, answers matched, no errors (2 s)', async (t) => {
    const tracker = await startTracker(t, { extraArgs: [...LIFTED_CLIENT_LIMITS] });
    const dir = mkdtempSync(join(tmpdir(), 'loadtest-ws-c-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const json = join(dir, 'summary.json');
    const { code, output } = await runCli(
      [
        'ws', '--engine', 'c', '--target', `127.0.0.1:${tracker.port}`, '--duration', '2', '--warmup', '0.5', '--workers', '2',
        '--connections', '16', '--window', '2', '--torrents-per-connection', '4', '--offers', '3',
        // A few hot torrents, so every swarm has other peers to relay offers to.
        '--torrents', '20', '--sources', '4', '--ports-per-source', '4', '--scrape-ratio', '10', '--quiet', '--json', json,
      ],
      30_000,
    );
    assert.equal(code, 0, output);
    const s = JSON.parse(readFileSync(json, 'utf8')) as LoadSummary & { errorMessages: Record<string, number> };
    assert.equal(s.engine, 'c');
    assert.equal(s.truncated, false);
    const c = s.counters;
    assert.ok(c.announces > 0 && c.scrapes > 0, JSON.stringify(c));
    assert.equal(c.errors + c.invalid + c.lost + c.socketErrors, 0, JSON.stringify({ c, errors: s.errorMessages }));
    const w = s.ws!.counters;
    assert.ok(w.offersReceived > 0 && w.answersSent === w.offersReceived, JSON.stringify(w));
    assert.ok(w.answersReceived > 0 && w.answersMatched > 0 && w.answersMatched <= w.answersReceived, JSON.stringify(w));
    assert.equal(w.answerErrors + w.reopened, 0, JSON.stringify(w));
    assert.deepEqual(s.errorMessages, {});
    await tracker.stop();
  });
});
