/**
 * The image, without Docker: the Dockerfile's runtime stage done by hand.
 * Production dependencies are installed into a clean folder as the `deps`
 * stage does (npm ci --omit=dev), the files the runtime stage COPYs are
 * copied (read from the Dockerfile, so the test follows it), the folder is
 * made read-only, and the tracker is started as the stage's numeric USER
 * (setpriv, root only) from that folder alone. It must serve UDP and HTTP,
 * answer /readyz, load the native UDP addon from where the image puts it,
 * and exit 0 on SIGTERM.
 */
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { httpAnnounce, udpAnnounce } from '../support/clients/raw-tracker.js';
import { cleanupScope, delay, findFreePort, httpStatus, OutputTail, raceTimeout, REPO_ROOT, spawnCaptured, withParentDeathSignal, type CapturedChild } from '../support/tracker-process.js';

const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');

/** Instructions of one stage (`FROM ... AS name` up to the next FROM), continuation lines joined. */
function stage(name: string): string[] {
  const lines = dockerfile.replace(/\\\n\s*/g, ' ').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const start = lines.findIndex((l) => new RegExp(`^FROM\\s+\\S+\\s+AS\\s+${name}$`, 'i').test(l));
  assert.ok(start >= 0, `the Dockerfile has no stage ${name}`);
  const end = lines.findIndex((l, i) => i > start && /^FROM\s/i.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

const canSwitchUser = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv');

describe('the runtime image stage, emulated', { skip: canSwitchUser ? false : 'needs root and setpriv (util-linux) to run as the image user' }, () => {
  const cleanups: Array<() => unknown> = [];
  const scope = cleanupScope({ after: (fn) => cleanups.push(fn) });
  let root: string;
  let app: string;
  let uid: number;
  let gid: number;
  let tracker: CapturedChild;
  const tail = new OutputTail();
  let port: number;
  let metricsPort: number;

  before(async () => {
    const runtime = stage('runtime');
    const user = runtime.find((l) => l.startsWith('USER '))?.slice(5).trim() ?? '';
    assert.match(user, /^\d+:\d+$/, 'the runtime stage runs as a numeric user:group (runAsNonRoot can check it)');
    [uid, gid] = user.split(':').map(Number);
    assert.notEqual(uid, 0);
    const workdir = runtime.find((l) => l.startsWith('WORKDIR '))!.slice(8).trim();

    root = mkdtempSync(join(tmpdir(), 'image-'));
    chmodSync(root, 0o755);
    scope.after(() => rmSync(root, { recursive: true, force: true }));

    // The deps stage: production dependencies only, from the lock file.
    const deps = stage('deps');
    const install = deps.find((l) => l.startsWith('RUN npm ci'));
    assert.ok(install?.includes('--omit=dev'), 'the deps stage installs production dependencies only');
    const depsDir = join(root, 'deps');
    mkdirSync(depsDir);
    for (const l of deps.filter((x) => x.startsWith('COPY '))) {
      const parts = l.split(/\s+/).slice(1);
      const target = parts.pop()!;
      for (const source of parts) cpSync(join(REPO_ROOT, source), target.endsWith('/') ? join(depsDir, source) : join(depsDir, target), { recursive: true });
    }
    const npm = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: depsDir, encoding: 'utf8', timeout: 300_000 });
    assert.equal(npm.status, 0, `npm ci --omit=dev failed:\n${npm.stdout}\n${npm.stderr}`);
    for (const dev of ['typescript', 'bittorrent-tracker', '@aws-cdk/lambda-layer-kubectl-v31']) {
      assert.ok(!existsSync(join(depsDir, 'node_modules', dev)), `devDependency ${dev} must not be in the image`);
    }

    // The runtime stage's COPY lines, into <root>/app (its WORKDIR).
    app = join(root, workdir.replace(/^\//, ''));
    mkdirSync(app, { recursive: true });
    for (const l of runtime.filter((x) => x.startsWith('COPY '))) {
      const [, from, source, target] = /^COPY\s+--from=(\S+)\s+(\S+)\s+(\S+)$/.exec(l) ?? [];
      assert.ok(from, `unexpected COPY in the runtime stage: ${l}`);
      if (!target.startsWith('/') || target.startsWith(workdir)) {
        const local = from === 'deps' ? join(depsDir, source.replace(/^\/app\//, '')) : join(REPO_ROOT, source.replace(/^\/src\//, ''));
        assert.ok(existsSync(local), `${l}: ${local} does not exist (run \`npm run build\`)`);
        const dest = target.startsWith('/') ? join(root, target) : join(app, target);
        mkdirSync(dirname(dest), { recursive: true });
        cpSync(local, dest, { recursive: true, dereference: true });
      }
      // Files outside the app folder (the init) come from the build image; here the process is started directly.
    }
    // Read-only for everyone (the image user owns nothing there either).
    assert.equal(spawnSync('chmod', ['-R', 'a-w,a+rX', app]).status, 0);

    port = await findFreePort({ host: '127.0.0.1' });
    metricsPort = await findFreePort({ host: '127.0.0.1', udp: false });
    const entrypoint = JSON.parse(runtime.find((l) => l.startsWith('ENTRYPOINT '))!.slice(11)) as string[];
    const main = entrypoint[entrypoint.length - 1];
    assert.ok(main.startsWith(`${workdir}/`), `the ENTRYPOINT runs ${main} from the app folder`);
    const args = [
      '--reuid', String(uid), '--regid', String(gid), '--clear-groups', '--',
      process.execPath, join(app, main.slice(workdir.length + 1)), 'all-in-one',
      '--host=127.0.0.1', `--port=${port}`, '--metrics.host=127.0.0.1', `--metrics.port=${metricsPort}`, '--shutdown.drainDelaySeconds=0',
    ];
    const [command, commandArgs] = withParentDeathSignal('/usr/bin/setpriv', args);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', NODE_ENV: 'production' };
    tracker = spawnCaptured(command, commandArgs, env, tail, () => {});
    scope.after(async () => {
      tracker.child.kill('SIGKILL');
      await raceTimeout(tracker.exit, 5000);
    });
    const until = Date.now() + 30_000;
    while ((await httpStatus(`http://127.0.0.1:${metricsPort}/readyz`, 1000).catch(() => null)) !== 200) {
      if (tracker.child.exitCode !== null || Date.now() > until) assert.fail(`the tracker did not become ready as uid ${uid}:\n${tail}`);
      await delay(100);
    }
  });

  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  it('runs as the image user from a read-only app folder with production dependencies only, and loads the UDP addon', () => {
    const status = readFileSync(`/proc/${tracker.child.pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
    assert.match(status, /^CapEff:\s+0+$/m, 'no capabilities');
    const maps = readFileSync(`/proc/${tracker.child.pid}/maps`, 'utf8');
    assert.ok(maps.includes(join(app, 'native', 'udp-batch', 'build', 'Release', 'udp_batch.node')), 'the batched UDP addon is loaded from where the image puts it');
  });

  it('serves UDP and HTTP announces', async () => {
    const infoHash = Buffer.alloc(20, 0x5a);
    const udp = await udpAnnounce(`udp://127.0.0.1:${port}/announce`, { infoHash, port: 40001, left: 0 });
    assert.equal(udp.failure, undefined);
    assert.equal(udp.complete, 1);
    const http = await httpAnnounce(`http://127.0.0.1:${port}/announce`, { infoHash, port: 40002, left: 5 });
    assert.equal(http.failure, undefined);
    assert.deepEqual([http.complete, http.incomplete], [1, 1]);
    assert.deepEqual(http.peers, ['127.0.0.1:40001']);
  });

  it('exits 0 on SIGTERM', async () => {
    tracker.child.kill('SIGTERM');
    const result = await raceTimeout(tracker.exit, 20_000);
    assert.deepEqual(result, { code: 0, signal: null }, String(tail));
  });
});
