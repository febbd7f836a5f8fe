/**
 * cluster.membership=file: the members file's syntax, the shared membership
 * conformance suite (the file rewritten as a real user would, by rename),
 * and what a bad file does to a running provider (nothing but a log line
 * and a count).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileMembership, MembersFileError, parseMembersFile } from '../../../lib/cluster/membership/file.js';
import type { Member } from '../../../lib/cluster/membership/types.js';
import { formatMembersFile, writeMembersFile } from '../../../services/tracker/cluster.js';
import { membershipConformance, m, recordChanges, sleep, waitForSnapshot } from '../../support/membership-conformance.js';
import { createLogger } from '../../../lib/runtime/logger.js';

function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'members-file-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('parseMembersFile: members, draining ones, comments and blank lines', () => {
  const text = '# swarms\n\nswarm-1=127.0.0.1:7001\n  swarm-0=[::1]:7000   # the first\nswarm-2=127.0.0.1:7002 draining\n';
  const { members, draining } = parseMembersFile(text);
  assert.deepEqual(members, [m('swarm-0', '[::1]:7000'), m('swarm-1', '127.0.0.1:7001')]);
  assert.deepEqual(draining, [m('swarm-2', '127.0.0.1:7002')]);
  assert.deepEqual(parseMembersFile(''), { members: [], draining: [] });
  // What the cluster command writes reads back the same.
  assert.deepEqual(parseMembersFile(formatMembersFile(members, draining)), { members, draining });
});

test('parseMembersFile: a bad line is an error naming the line', () => {
  const cases: Array<[string, number | undefined, RegExp]> = [
    ['swarm-0=127.0.0.1:7000\nswarm-1', 2, /line 2: expected name=host:port/],
    ['swarm-0=127.0.0.1:7000 leaving', 1, /line 1: expected name=host:port, optionally followed by "draining"/],
    ['swarm-0=127.0.0.1', 1, /line 1: .*has no port/],
    ['=127.0.0.1:7000', 1, /line 1: expected name=host:port/],
    ['bad name=127.0.0.1:7000', 1, /line 1/],
    ['swarm-0=127.0.0.1:7000\nswarm-0=127.0.0.1:7001 draining', undefined, /duplicate member name "swarm-0"/],
    ['swarm-0=127.0.0.1:7000\nswarm-1=127.0.0.1:7000', undefined, /share address 127.0.0.1:7000/],
  ];
  for (const [text, line, re] of cases) {
    assert.throws(
      () => parseMembersFile(text, 'f'),
      (error: unknown) => error instanceof MembersFileError && error.line === line && re.test(error.message),
      JSON.stringify(text),
    );
  }
});

membershipConformance(
  'file',
  async (initial) => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, 'members');
    writeMembersFile(file, initial);
    const provider = new FileMembership({ file, debounceMs: 20, pollIntervalMs: 500 });
    return {
      provider,
      async setSource(members: readonly Member[], draining: readonly Member[] = []) {
        writeMembersFile(file, members, draining);
      },
      // Reads that found a new file: none may happen after stop().
      activity: () => provider.reloadsOk + provider.reloadsFailed,
      async cleanup() {
        cleanup();
      },
    };
  },
  { changeTimeoutMs: 5000, quietMs: 300 },
);

test('file: the periodic re-check alone (no fs.watch) notices a change', async () => {
  const { dir, cleanup } = tempDir();
  const file = join(dir, 'members');
  writeMembersFile(file, [m('swarm-0', '127.0.0.1:7000')]);
  const provider = new FileMembership({ file, fsWatch: false, pollIntervalMs: 100 });
  try {
    await provider.start();
    writeMembersFile(file, [m('swarm-0', '127.0.0.1:7000'), m('swarm-1', '127.0.0.1:7001')]);
    await waitForSnapshot(provider, (s) => s.members.length === 2, 5000, 'swarm-1 through the periodic check');
  } finally {
    await provider.stop();
    cleanup();
  }
});

test('file: start() fails on a missing or bad file, naming it and the line', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await assert.rejects(new FileMembership({ file: join(dir, 'nope') }).start(), /members file ".*nope": file not found/);
    const bad = join(dir, 'bad');
    writeFileSync(bad, 'swarm-0=127.0.0.1:7000\nswarm-1=oops\n');
    await assert.rejects(new FileMembership({ file: bad }).start(), (e: unknown) => e instanceof MembersFileError && e.line === 2 && /bad" line 2/.test(e.message));
  } finally {
    cleanup();
  }
});

test('file: a bad file while running keeps the previous members, is logged once and counted; a good one then applies', async () => {
  const { dir, cleanup } = tempDir();
  const file = join(dir, 'members');
  writeMembersFile(file, [m('swarm-0', '127.0.0.1:7000')]);
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', stream: { write: (line: string) => lines.push(line) } });
  const provider = new FileMembership({ file, debounceMs: 20, pollIntervalMs: 100, logger });
  try {
    await provider.start();
    const rec = recordChanges(provider);
    writeFileSync(`${file}.tmp`, 'swarm-0=127.0.0.1:7000\nswarm-1=127.0.0.1\n');
    renameSync(`${file}.tmp`, file);
    const until = Date.now() + 5000;
    while (provider.reloadsFailed === 0 && Date.now() < until) await sleep(20);
    assert.equal(provider.reloadsFailed, 1);
    await sleep(400); // several periodic checks of the same bad file
    assert.equal(provider.reloadsFailed, 1, 'the same bad file is counted once');
    assert.deepEqual(provider.members(), [m('swarm-0', '127.0.0.1:7000')]);
    assert.equal(rec.events.length, 0);
    assert.ok(lines.some((l) => /members file reload failed; keeping the previous members/.test(l) && /"line":2/.test(l)), lines.join('\n'));
    writeMembersFile(file, [m('swarm-0', '127.0.0.1:7000'), m('swarm-1', '127.0.0.1:7001')]);
    await waitForSnapshot(provider, (s) => s.members.length === 2, 5000, 'the fixed file');
    assert.equal(rec.events.length, 1);
    rec.stop();
  } finally {
    await provider.stop();
    cleanup();
  }
});
