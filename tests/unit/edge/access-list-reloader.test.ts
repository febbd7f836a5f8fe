import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessList, AccessListError, AccessListReloader, loadAccessListFile } from '../../../services/edge/access-list.js';
import { createLogger } from '../../../lib/runtime/logger.js';
import { eventually } from '../../support/waiting.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const bin = (hex: string): string => Buffer.from(hex, 'hex').toString('latin1');

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  await eventually(condition, timeoutMs, what, 20);
}

function captureLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = { write: (chunk: string) => void lines.push(JSON.parse(chunk) as Record<string, unknown>) };
  return { lines, logger: createLogger({ level: 'debug', stream }) };
}

/** Writes via a temp file and rename, as editors and config tools do. */
function replaceFile(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

let dir: string;
const reloaders: AccessListReloader[] = [];
function track(r: AccessListReloader): AccessListReloader {
  reloaders.push(r);
  return r;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tracker-access-list-'));
});

afterEach(async () => {
  await Promise.all(reloaders.splice(0).map((r) => r.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('AccessListReloader start', () => {
  test('loads the file', async () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n${B}\n`);
    const r = track(new AccessListReloader({ mode: 'allow', file, watch: false }));
    await r.start();
    assert.equal(r.size, 2);
    assert.equal(r.list.allows(bin(A)), true);
    assert.equal(r.list.allows(bin(C)), false);
    assert.equal(r.reloadsOk, 0);
    assert.equal(r.reloadsFailed, 0);
    assert.equal(r.mode, 'allow');
  });

  test('a bad line stops startup with the file and line in the error', async () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n# ok\nnope\n`);
    const r = track(new AccessListReloader({ mode: 'deny', file, watch: false }));
    await assert.rejects(r.start(), (error: unknown) => {
      assert.ok(error instanceof AccessListError);
      assert.equal(error.file, file);
      assert.equal(error.line, 3);
      assert.ok(error.message.includes(file) && error.message.includes('line 3'), error.message);
      return true;
    });
  });

  test('a missing file stops startup naming the file', async () => {
    const file = join(dir, 'missing.txt');
    const r = track(new AccessListReloader({ mode: 'allow', file, watch: true }));
    await assert.rejects(r.start(), (error: unknown) => error instanceof AccessListError && error.message.includes(file) && /not found/.test(error.message));
  });

  test('mode off needs no file and allows everything', async () => {
    const r = track(new AccessListReloader({ mode: 'off', file: '', watch: true }));
    await r.start();
    assert.equal(r.list.allows(bin(A)), true);
    assert.deepEqual(await r.reload(), { ok: true, size: 0, changed: false });
  });

  test('allow/deny without a file is refused', () => {
    assert.throws(() => new AccessListReloader({ mode: 'allow', file: '' }), AccessListError);
  });

  test('loadAccessListFile', async () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n`);
    assert.deepEqual(await loadAccessListFile(file), new Set([bin(A)]));
    writeFileSync(file, `${A}\nx\n`);
    await assert.rejects(loadAccessListFile(file), (e: unknown) => e instanceof AccessListError && e.line === 2);
  });
});

describe('AccessListReloader reload', () => {
  test('picks up a good file and counts it', async () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n`);
    const r = track(new AccessListReloader({ mode: 'allow', file, watch: false }));
    await r.start();
    writeFileSync(file, `${B}\n${C}\n`);
    const result = await r.reload();
    assert.deepEqual(result, { ok: true, size: 2, changed: true });
    assert.equal(r.list.allows(bin(A)), false);
    assert.equal(r.list.allows(bin(C)), true);
    assert.equal(r.reloadsOk, 1);
    const again = await r.reload();
    assert.deepEqual(again, { ok: true, size: 2, changed: false }, 'an explicit reload of an unchanged file still succeeds');
    assert.equal(r.reloadsOk, 2);
  });

  test('a bad line keeps the old list, logs the line and counts the failure', async () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n${B}\n`);
    const { lines, logger } = captureLogger();
    const r = track(new AccessListReloader({ mode: 'allow', file, watch: false, logger }));
    await r.start();
    writeFileSync(file, `${C}\n\nbad line here\n`);
    const result = await r.reload();
    assert.equal(result.ok, false);
    assert.equal(result.size, 2);
    assert.match(result.error ?? '', /line 3/);
    assert.ok(result.error?.includes(file));
    assert.equal(r.list.allows(bin(A)), true, 'old list kept');
    assert.equal(r.list.allows(bin(C)), false, 'new list not applied');
    assert.equal(r.reloadsFailed, 1);
    assert.equal(r.reloadsOk, 0);
    assert.match(r.lastError ?? '', /line 3/);
    const logged = lines.find((l) => l.level === 'error');
    assert.ok(logged, 'failure logged');
    assert.equal(logged.line, 3);
    assert.equal(logged.file, file);

    writeFileSync(file, `${C}\n`);
    assert.equal((await r.reload()).ok, true);
    assert.equal(r.lastError, undefined);
    assert.equal(r.list.allows(bin(C)), true);
  });

  test('a deleted file keeps the old list', async () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n`);
    const r = track(new AccessListReloader({ mode: 'deny', file, watch: false }));
    await r.start();
    rmSync(file);
    const result = await r.reload();
    assert.equal(result.ok, false);
    assert.match(result.error ?? '', /not found/);
    assert.equal(r.list.allows(bin(A)), false);
    assert.equal(r.reloadsFailed, 1);
  });

  test('concurrent reloads run one at a time', async () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n`);
    const r = track(new AccessListReloader({ mode: 'allow', file, watch: false }));
    await r.start();
    const results = await Promise.all([r.reload(), r.reload(), r.reload()]);
    assert.ok(results.every((x) => x.ok));
    assert.equal(r.reloadsOk, 3);
  });

  test('an existing AccessList can be driven', async () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n`);
    const list = new AccessList('allow');
    const r = track(new AccessListReloader({ list, file, watch: false }));
    await r.start();
    assert.equal(r.list, list);
    assert.equal(list.allows(bin(A)), true);
  });

  test('after close, reload reports an error and changes nothing', async () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n`);
    const r = track(new AccessListReloader({ mode: 'allow', file, watch: false }));
    await r.start();
    await r.close();
    writeFileSync(file, `${B}\n`);
    assert.equal((await r.reload()).ok, false);
    assert.equal(r.list.allows(bin(A)), true);
  });
});

describe('AccessListReloader watch', () => {
  test('an edited file is picked up', async () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n`);
    const r = track(new AccessListReloader({ mode: 'allow', file, watch: true, debounceMs: 50, pollIntervalMs: 0 }));
    await r.start();
    writeFileSync(file, `${A}\n${B}\n`); // in place
    await waitFor('in-place edit', () => r.list.allows(bin(B)));
    replaceFile(file, `${C}\n`); // by rename
    await waitFor('rename edit', () => r.list.allows(bin(C)) && !r.list.allows(bin(A)));
    assert.ok(r.reloadsOk >= 2);
    assert.equal(r.reloadsFailed, 0);
  });

  test('a bad edit keeps the old list and is counted once, however often it is checked', async (t) => {
    // The periodic check runs on a mocked interval, so "several checks" is a count, not a hope about timing.
    t.mock.timers.enable({ apis: ['setInterval'] });
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n`);
    const r = track(new AccessListReloader({ mode: 'allow', file, watch: true, fsWatch: false, pollIntervalMs: 1000 }));
    await r.start();
    replaceFile(file, `${A}\noops\n`);
    t.mock.timers.tick(1000);
    await waitFor('failed reload', () => r.reloadsFailed === 1);
    for (let i = 0; i < 5; i++) t.mock.timers.tick(1000); // five more checks of the same bad content
    // A manual reload runs after them (one queue) and, being explicit, is counted.
    assert.equal((await r.reload()).ok, false);
    assert.equal(r.reloadsFailed, 2, 'the five periodic checks of unchanged content counted nothing');
    assert.equal(r.list.allows(bin(A)), true);
    // Positive control: the next periodic check does count content that changed, even if still bad.
    replaceFile(file, `${A}\noops again\n`);
    t.mock.timers.tick(1000);
    await waitFor('the changed bad content to be counted', () => r.reloadsFailed === 3);
    assert.equal(r.list.allows(bin(A)), true);
  });

  test('events in the directory that do not change the file do not reload', async () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n`);
    const r = track(new AccessListReloader({ mode: 'allow', file, watch: true, debounceMs: 20, pollIntervalMs: 0 }));
    await r.start();
    // Positive control: a twin watching another file in the same directory, started after r, does reload.
    const twinFile = join(dir, 'twin.txt');
    writeFileSync(twinFile, `${A}\n`);
    const twin = track(new AccessListReloader({ mode: 'allow', file: twinFile, watch: true, debounceMs: 20, pollIntervalMs: 0 }));
    await twin.start();
    writeFileSync(join(dir, 'other.txt'), 'x');
    writeFileSync(file, `${A}\n`); // same content
    replaceFile(twinFile, `${B}\n`);
    await waitFor('the twin to reload', () => twin.list.allows(bin(B)));
    // r saw the same directory events no later than the twin, so its debounced check is queued by now;
    // a manual reload runs after it and tells whether it had already read anything new.
    const manual = await r.reload();
    assert.deepEqual(manual, { ok: true, size: 1, changed: false });
    assert.equal(r.reloadsOk, 1, 'only the manual reload');
    assert.equal(r.reloadsFailed, 0);
  });

  test('a Kubernetes ConfigMap ..data symlink swap is picked up', async () => {
    // dir/..2026_01_01/list.txt, dir/..data -> ..2026_01_01, dir/list.txt -> ..data/list.txt
    mkdirSync(join(dir, '..2026_01_01'));
    writeFileSync(join(dir, '..2026_01_01', 'list.txt'), `${A}\n`);
    symlinkSync('..2026_01_01', join(dir, '..data'));
    symlinkSync('..data/list.txt', join(dir, 'list.txt'));
    const { lines, logger } = captureLogger();
    const r = track(new AccessListReloader({ mode: 'allow', file: join(dir, 'list.txt'), watch: true, debounceMs: 50, pollIntervalMs: 0, logger }));
    await r.start();
    assert.equal(r.list.allows(bin(A)), true);

    // What kubelet's atomic writer does: new timestamped dir, new ..data_tmp link, rename over ..data.
    mkdirSync(join(dir, '..2026_01_02'));
    writeFileSync(join(dir, '..2026_01_02', 'list.txt'), `${B}\n${C}\n`);
    symlinkSync('..2026_01_02', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2026_01_01'), { recursive: true });

    await waitFor('ConfigMap swap', () => r.list.allows(bin(B)));
    assert.equal(r.list.allows(bin(A)), false);
    assert.equal(r.size, 2);
    assert.equal(r.reloadsOk, 1, 'several directory events, one debounced reload');
    assert.ok(lines.some((l) => l.msg === 'access list reloaded' && l.size === 2));

    // And a second swap.
    mkdirSync(join(dir, '..2026_01_03'));
    writeFileSync(join(dir, '..2026_01_03', 'list.txt'), `${A}\n`);
    symlinkSync('..2026_01_03', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await waitFor('second swap', () => r.list.allows(bin(A)) && !r.list.allows(bin(B)));
  });

  test('the periodic check catches changes without fs.watch', async () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n`);
    const r = track(new AccessListReloader({ mode: 'allow', file, watch: true, fsWatch: false, pollIntervalMs: 50 }));
    await r.start();
    replaceFile(file, `${B}\n`);
    await waitFor('poll', () => r.list.allows(bin(B)));
    assert.equal(r.reloadsOk, 1);
  });

  test('watch off means no automatic reloads', async () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n`);
    const r = track(new AccessListReloader({ mode: 'allow', file, watch: false, debounceMs: 10, pollIntervalMs: 20 }));
    await r.start();
    // Positive control: the same file and settings with watch on, started after r, picks the change up.
    const watching = track(new AccessListReloader({ mode: 'allow', file, watch: true, debounceMs: 10, pollIntervalMs: 20 }));
    await watching.start();
    replaceFile(file, `${B}\n`);
    await waitFor('the watching twin to reload', () => watching.list.allows(bin(B)));
    assert.equal(r.list.allows(bin(B)), false);
    // A manual reload runs after anything queued: it is the first to read the new file.
    const manual = await r.reload();
    assert.equal(manual.changed, true, 'no automatic check had read the new file');
    assert.equal(r.reloadsOk, 1);
    assert.equal(r.list.allows(bin(B)), true);
  });

  test('close stops watching', async () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, `${A}\n`);
    const r = track(new AccessListReloader({ mode: 'allow', file, watch: true, debounceMs: 10, pollIntervalMs: 20 }));
    await r.start();
    await r.close();
    // Positive control: the same file and settings, not closed, started after r, picks the change up.
    const open = track(new AccessListReloader({ mode: 'allow', file, watch: true, debounceMs: 10, pollIntervalMs: 20 }));
    await open.start();
    replaceFile(file, `${B}\n`);
    await waitFor('the open twin to reload', () => open.list.allows(bin(B)));
    await r.close(); // waits for any check r might still have queued
    assert.equal(r.list.allows(bin(B)), false);
    assert.equal(r.reloadsOk, 0);
  });
});
