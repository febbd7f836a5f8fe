#!/usr/bin/env node
// Builds the batched-UDP addon (native/udp-batch) without any download:
//   1. node-gyp (the one npm ships, or a project / PATH copy) against the
//      Node headers already on the machine (--nodedir), else
//   2. a direct `cc -shared` against the same headers (an N-API module needs
//      no link against node), then
//   3. loads the result in a child node to prove it works.
// Any failure prints one warning and exits 0: lib/net/udp/ then
// falls back to node:dgram. `--required`, or TRACKER_UDP__BATCHED_IO=required
// (the tracker's udp.batchedIo, which then refuses to start without the
// addon), turns a failure into exit 1, so CI fails at the build.
// Skipped (exit 0) with TRACKER_UDP__BATCHED_IO=off.
// Up to date (the .node is newer than the sources and loads): does nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const output = path.join(here, 'build', 'Release', 'udp_batch.node');
// The tracker's udp.batchedIo as an environment variable (lib/runtime/config.ts).
const batchedIo = (process.env.TRACKER_UDP__BATCHED_IO ?? '').trim();
const required = process.argv.includes('--required') || batchedIo === 'required';
const force = process.argv.includes('--force');
const verbose = process.argv.includes('--verbose');

function log(line) {
  process.stderr.write(`udp-batch: ${line}\n`);
}

function done(ok, why) {
  if (ok) process.exit(0);
  log(`native addon not built (${why}); the UDP socket falls back to node:dgram`);
  process.exit(required ? 1 : 0);
}

function sourcesMtime() {
  const files = [path.join(here, 'binding.gyp'), ...readdirSync(path.join(here, 'src')).map((f) => path.join(here, 'src', f))];
  return Math.max(...files.map((f) => statSync(f).mtimeMs));
}

function loads() {
  const r = spawnSync(
    process.execPath,
    ['-e', `const m = require(${JSON.stringify(output)}); if (typeof m.UdpBatchSocket !== 'function') process.exit(3)`],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (r.status !== 0 && verbose) log(`load check failed: ${(r.stderr || r.error?.message || '').trim()}`);
  return r.status === 0;
}

/** Node's own headers on this machine: <prefix>/include/node with node_api.h and uv.h. */
function headersPrefix() {
  const candidates = [];
  if (process.env.npm_config_nodedir) candidates.push(process.env.npm_config_nodedir);
  try {
    candidates.push(path.resolve(path.dirname(realpathSync(process.execPath)), '..'));
  } catch {
    /* ignore */
  }
  candidates.push(path.resolve(path.dirname(process.execPath), '..'), '/usr', '/usr/local');
  for (const prefix of candidates) {
    const dir = path.join(prefix, 'include', 'node');
    if (existsSync(path.join(dir, 'node_api.h')) && existsSync(path.join(dir, 'uv.h'))) return prefix;
  }
  return undefined;
}

function nodeGypScript() {
  const candidates = [];
  const fromNpm = process.env.npm_config_node_gyp; // set by npm for lifecycle scripts
  if (fromNpm) candidates.push(fromNpm);
  try {
    candidates.push(createRequire(path.join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not a project dependency */
  }
  for (const exe of [process.execPath, safeRealpath(process.execPath)]) {
    if (!exe) continue;
    const prefix = path.resolve(path.dirname(exe), '..');
    candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  return candidates.find((c) => c.endsWith('.js') && existsSync(c));
}

function safeRealpath(p) {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

function run(cmd, args, env) {
  const r = spawnSync(cmd, args, { cwd: here, encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`;
  if (verbose) process.stderr.write(text);
  return { ok: r.status === 0, tail: text.trim().split('\n').slice(-8).join('\n') };
}

if (process.platform !== 'linux') done(false, `recvmmsg/sendmmsg need Linux, this is ${process.platform}`);
if (batchedIo === 'off') {
  log('skipped (TRACKER_UDP__BATCHED_IO=off)');
  process.exit(0);
}
if (!force && existsSync(output) && statSync(output).mtimeMs >= sourcesMtime() && loads()) process.exit(0);

const prefix = headersPrefix();
const failures = [];

const gyp = nodeGypScript();
if (!gyp) failures.push('node-gyp not found');
else {
  // --nodedir keeps node-gyp offline: without it, it would try to download headers.
  const args = [gyp, 'rebuild', '--release', ...(prefix ? [`--nodedir=${prefix}`] : [])];
  const r = run(process.execPath, args, { npm_config_loglevel: 'error' });
  if (r.ok && existsSync(output) && loads()) {
    log(`built with node-gyp${prefix ? ` against ${prefix}/include/node` : ''}`);
    done(true);
  }
  failures.push(`node-gyp failed: ${r.tail}`);
}

if (prefix) {
  const cc = process.env.CC || 'cc';
  mkdirSync(path.dirname(output), { recursive: true });
  const r = run(cc, [
    '-O2',
    '-Wall',
    '-shared',
    '-fPIC',
    '-fvisibility=hidden',
    '-DNAPI_VERSION=8',
    '-DNODE_GYP_MODULE_NAME=udp_batch',
    '-D_GNU_SOURCE',
    `-I${path.join(prefix, 'include', 'node')}`,
    '-o',
    output,
    path.join(here, 'src', 'udp_batch.c'),
  ]);
  if (r.ok && loads()) {
    log(`built with ${cc} (node-gyp path failed) against ${prefix}/include/node`);
    done(true);
  }
  failures.push(`${cc} failed: ${r.tail}`);
} else {
  failures.push('no Node headers (include/node/node_api.h) on this machine');
}

rmSync(output, { force: true }); // never leave a broken addon for the loader to trip on
for (const f of failures) log(f);
done(false, 'see above');
