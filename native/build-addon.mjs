// Builds one of the project's N-API addons (native/<name>/) without any
// download:
//   1. node-gyp (the one npm ships, or a project / PATH copy) against the
//      Node headers already on the machine (--nodedir), else
//   2. a direct `cc -shared` against the same headers (an N-API module needs
//      no link against node), then
//   3. loads the result in a child node to prove it works.
// Any failure prints one warning and exits 0: the addon's JS loader then
// runs without it (each addon says what that means). `--required` (or the
// addon's own "required" setting) turns a failure into exit 1, for a CI that
// must have it. Skipped (exit 0) when not on Linux or when the addon's own
// setting says it is not wanted. Up to date (the .node is newer than the sources and
// loads): does nothing. `--force` rebuilds, `--verbose` shows compiler output.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * @param {object} addon
 * @param {string} addon.dir        the addon's directory (binding.gyp, src/)
 * @param {string} addon.target     target_name in binding.gyp: build/Release/<target>.node
 * @param {string} addon.export     a function the built module must export
 * @param {string} addon.linuxOnly  why it needs Linux (shown on other systems)
 * @param {string} addon.fallback   what happens without it, e.g. "the UDP socket falls back to node:dgram"
 * @param {string | undefined} addon.skip  why the build is not wanted (e.g. "TRACKER_UDP__BATCHED_IO=off"), or undefined
 * @param {boolean} addon.required  a failure exits 1 (also with --required)
 */
export function buildAddon(addon) {
  const { dir, target } = addon;
  const label = path.basename(dir);
  const output = path.join(dir, 'build', 'Release', `${target}.node`);
  const required = process.argv.includes('--required') || addon.required;
  const force = process.argv.includes('--force');
  const verbose = process.argv.includes('--verbose');
  const sourceDir = path.join(dir, 'src');
  const sources = readdirSync(sourceDir).map((f) => path.join(sourceDir, f));

  const log = (line) => process.stderr.write(`${label}: ${line}\n`);
  const done = (ok, why) => {
    if (ok) process.exit(0);
    log(`native addon not built (${why}); ${addon.fallback}`);
    process.exit(required ? 1 : 0);
  };

  const loads = () => {
    const r = spawnSync(
      process.execPath,
      ['-e', `const m = require(${JSON.stringify(output)}); if (typeof m[${JSON.stringify(addon.export)}] !== 'function') process.exit(3)`],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (r.status !== 0 && verbose) log(`load check failed: ${(r.stderr || r.error?.message || '').trim()}`);
    return r.status === 0;
  };

  const run = (cmd, args, env) => {
    const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });
    const text = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`;
    if (verbose) process.stderr.write(text);
    return { ok: r.status === 0, tail: text.trim().split('\n').slice(-8).join('\n') };
  };

  if (process.platform !== 'linux') done(false, `${addon.linuxOnly}, this is ${process.platform}`);
  if (addon.skip !== undefined) {
    log(`skipped (${addon.skip})`);
    process.exit(0);
  }
  const sourcesMtime = Math.max(...[path.join(dir, 'binding.gyp'), ...sources].map((f) => statSync(f).mtimeMs));
  if (!force && existsSync(output) && statSync(output).mtimeMs >= sourcesMtime && loads()) process.exit(0);

  const prefix = headersPrefix();
  const failures = [];

  const gyp = nodeGypScript();
  if (!gyp) failures.push('node-gyp not found');
  else {
    // --nodedir keeps node-gyp offline: without it, it would try to download headers.
    const r = run(process.execPath, [gyp, 'rebuild', '--release', ...(prefix ? [`--nodedir=${prefix}`] : [])], { npm_config_loglevel: 'error' });
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
      `-DNODE_GYP_MODULE_NAME=${target}`,
      '-D_GNU_SOURCE',
      `-I${path.join(prefix, 'include', 'node')}`,
      '-o',
      output,
      ...sources.filter((f) => f.endsWith('.c')),
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
}

/** Node's own headers on this machine: <prefix>/include/node with node_api.h and uv.h. */
function headersPrefix() {
  const candidates = [];
  if (process.env.npm_config_nodedir) candidates.push(process.env.npm_config_nodedir);
  const real = safeRealpath(process.execPath);
  if (real) candidates.push(path.resolve(path.dirname(real), '..'));
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
