/**
 * A stand-in for `kubectl` against pods run by tests/support/chart-pods.ts,
 * for testing bin/kubectl-tracker. It does what the API server, the kubelet
 * and the container runtime would do for the handful of calls the plugin
 * makes, keeping its cluster in a JSON file (FAKE_KUBECTL_STATE). JSONPath
 * and `create --dry-run=client` are evaluated by the real kubectl (offline).
 *
 *   get pods -l SEL --field-selector=status.phase=Running -o jsonpath=<names>
 *   get pod NAME -o jsonpath=EXPR
 *   create configmap ... --dry-run=client ...       (the real kubectl)
 *   patch configmap NAME --type merge --patch-file F
 *   annotate pod NAME ...                            (the kubelet syncs the pod's ConfigMap volumes)
 *   exec POD -c C -- node -e SCRIPT FILE SHA URL PID TIMEOUT
 *       runs here with the pod's namespaces emulated: FILE through its mounts,
 *       127.0.0.1 in URL = the pod's address, PID 1 = the pod's process.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeProjectedVolume } from './chart-pods.js';

export interface FakeKubectlPod {
  name: string;
  ip: string;
  pid: number;
  labels: Record<string, string>;
  /** The Pod object (apiVersion, kind, metadata, spec). */
  object: unknown;
  /** mountPath -> local folder. */
  mounts: Record<string, string>;
  /** ConfigMap volumes: local folder -> ConfigMap name. */
  configMapVolumes: Record<string, string>;
}

export interface FakeKubectlState {
  namespace: string;
  realKubectl: string;
  pods: FakeKubectlPod[];
  configMaps: Record<string, Record<string, string>>;
  /** Every call, for assertions. */
  calls: string[][];
}

function main(argv: string[]): number {
  const statePath = process.env.FAKE_KUBECTL_STATE;
  if (!statePath) throw new Error('FAKE_KUBECTL_STATE is not set');
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as FakeKubectlState;
  state.calls.push(argv);
  const save = (): void => writeFileSync(statePath, JSON.stringify(state));

  // Global flags.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--namespace' || argv[i] === '-n') {
      if (argv[++i] !== state.namespace) return fail(`no such namespace ${argv[i]}`, save);
    } else if (argv[i] === '--context') i++;
    else args.push(argv[i]);
  }
  const flag = (name: string): string | undefined => {
    const at = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
    if (at < 0) return undefined;
    return args[at].includes('=') ? args[at].slice(args[at].indexOf('=') + 1) : args[at + 1];
  };
  const pod = (name: string): FakeKubectlPod | undefined => state.pods.find((p) => p.name === name);
  const real = (realArgs: string[], input?: string): number => {
    const r = spawnSync(state.realKubectl, realArgs, { encoding: 'utf8', input });
    process.stdout.write(r.stdout ?? '');
    process.stderr.write(r.stderr ?? '');
    return r.status ?? 1;
  };

  const [verb, resource, name] = args;
  if (verb === 'get' && resource === 'pods') {
    const selector = Object.fromEntries((flag('-l') ?? '').split(',').filter(Boolean).map((kv) => kv.split('=')));
    if (flag('-o') !== 'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}') return fail(`unexpected output format ${flag('-o')}`, save);
    for (const p of state.pods) if (Object.entries(selector).every(([k, v]) => p.labels[k] === v)) process.stdout.write(`${p.name}\n`);
    save();
    return 0;
  }
  if (verb === 'get' && resource === 'pod') {
    const p = pod(name);
    if (!p) return fail(`pods "${name}" not found`, save);
    const dir = mkdtempSync(join(tmpdir(), 'fake-kubectl-'));
    try {
      writeFileSync(join(dir, 'pod.json'), JSON.stringify(p.object));
      save();
      return real(['annotate', '--local', '-f', join(dir, 'pod.json'), 'fake-kubectl=1', '-o', flag('-o')!]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (verb === 'create' && resource === 'configmap') {
    save();
    return real(args);
  }
  if (verb === 'patch' && resource === 'configmap') {
    if (!state.configMaps[name]) return fail(`configmaps "${name}" not found`, save);
    if (flag('--type') !== 'merge') return fail('only merge patches are emulated', save);
    const patch = JSON.parse(readFileSync(flag('--patch-file')!, 'utf8')) as { data?: Record<string, string> };
    state.configMaps[name] = { ...state.configMaps[name], ...patch.data };
    save();
    process.stdout.write(`configmap/${name} patched\n`);
    return 0;
  }
  if (verb === 'annotate' && resource === 'pod') {
    const p = pod(name);
    if (!p) return fail(`pods "${name}" not found`, save);
    for (const [dir, configMap] of Object.entries(p.configMapVolumes)) writeProjectedVolume(dir, state.configMaps[configMap]);
    save();
    return 0;
  }
  if (verb === 'exec') {
    const p = pod(resource);
    if (!p) return fail(`pods "${resource}" not found`, save);
    const dash = args.indexOf('--');
    const command = args.slice(dash + 1);
    if (command[0] !== 'node' || command[1] !== '-e') return fail(`the image has no ${command[0]} (only node)`, save);
    const [script, file, sha, url, pid, timeout] = command.slice(2);
    const mount = Object.entries(p.mounts).find(([m]) => file.startsWith(`${m}/`));
    const localFile = mount ? mount[1] + file.slice(mount[0].length) : file;
    const localUrl = url.replace('//127.0.0.1:', `//${p.ip}:`);
    const localPid = pid === '1' ? String(p.pid) : pid;
    save();
    const r = spawnSync(process.execPath, ['-e', script, localFile, sha, localUrl, localPid, timeout], { encoding: 'utf8', timeout: 120_000 });
    process.stdout.write(r.stdout ?? '');
    process.stderr.write(r.stderr ?? '');
    return r.status ?? 1;
  }
  return fail(`fake kubectl: ${args.join(' ')} is not emulated`, save);
}

function fail(message: string, save: () => void): number {
  save();
  process.stderr.write(`Error from server: ${message}\n`);
  return 1;
}

if (process.env.FAKE_KUBECTL_STATE && process.argv[1]?.endsWith('fake-kubectl.js')) process.exitCode = main(process.argv.slice(2));
