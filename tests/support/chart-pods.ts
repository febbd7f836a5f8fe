/**
 * Runs containers of the rendered chart as local processes, the way a
 * kubelet would start them, so a test exercises exactly what the chart
 * tells Kubernetes: the image's ENTRYPOINT (from the Dockerfile) with the
 * container's command and args, its env (values, fieldRefs, secretKeyRefs),
 * and its ConfigMap/Secret volumes laid out as the kubelet does (files behind
 * a `..data` symlink that an update swaps atomically).
 *
 * What stands in for the pod's own network namespace: each pod gets its own
 * loopback address (127.0.0.x), given to the process through `hostEnv`
 * (e.g. TRACKER_HOST), since in a pod "::" would be the pod's address alone.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OutputTail, REPO_ROOT, raceTimeout, spawnCaptured, trackerEnv, withParentDeathSignal, type CapturedChild, type CleanupContext, type StopResult } from './tracker-process.js';
import type { KubeObject } from './chart.js';

/** ENTRYPOINT of the runtime stage in the Dockerfile (the last ENTRYPOINT line), as an exec-form array. */
export function imageEntrypoint(): string[] {
  const lines = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').split('\n').filter((l) => /^ENTRYPOINT\s/.test(l));
  if (lines.length === 0) throw new Error('the Dockerfile has no ENTRYPOINT');
  const entrypoint = JSON.parse(lines.at(-1)!.replace(/^ENTRYPOINT\s+/, '')) as unknown;
  if (!Array.isArray(entrypoint)) throw new Error('ENTRYPOINT must be in exec form (a JSON array) so signals reach the process');
  return entrypoint as string[];
}

/** Where the Dockerfile puts the application in the image. */
export const IMAGE_APP_DIR = '/app';
/** The init the image runs as PID 1; here the process is spawned directly (signals go straight to it). */
export const IMAGE_INIT = '/usr/bin/tini';

/** An image command line as it runs here: no init, `node` = this Node, /app = the repository (its dist/ build). */
export function localArgv(argv: readonly string[], mounts: ReadonlyMap<string, string>): string[] {
  let rest = [...argv];
  if (rest[0] === IMAGE_INIT) rest = rest.slice(rest[1] === '--' ? 2 : 1);
  return rest.map((arg, i) => {
    if (i === 0 && arg === 'node') return process.execPath;
    if (arg === IMAGE_APP_DIR || arg.startsWith(`${IMAGE_APP_DIR}/`)) return REPO_ROOT + arg.slice(IMAGE_APP_DIR.length);
    return mapMounted(arg, mounts);
  });
}

function mapMounted(value: string, mounts: ReadonlyMap<string, string>): string {
  for (const [mountPath, local] of mounts) {
    if (value === mountPath || value.startsWith(`${mountPath}/`)) return local + value.slice(mountPath.length);
  }
  return value;
}

let generation = 0;

/** Writes `files` into `dir` as a kubelet's atomic writer does: dir/..<ts>/, dir/..data -> it, dir/<key> -> ..data/<key>. */
export function writeProjectedVolume(dir: string, files: Record<string, string | Buffer>): void {
  mkdirSync(dir, { recursive: true });
  const stamp = `..${Date.now()}_${++generation}`;
  mkdirSync(join(dir, stamp));
  for (const [key, content] of Object.entries(files)) writeFileSync(join(dir, stamp, key), content);
  const tmpLink = join(dir, '..data_tmp');
  rmSync(tmpLink, { force: true });
  symlinkSync(stamp, tmpLink);
  renameSync(tmpLink, join(dir, '..data')); // atomic swap, what the file watch must catch
  for (const key of Object.keys(files)) {
    try {
      symlinkSync(join('..data', key), join(dir, key));
    } catch {
      // the key's link exists already and points through ..data
    }
  }
}

export interface StartPodOptions {
  objects: readonly KubeObject[];
  /** A pod template's or Pod's spec. */
  podSpec: any;
  podName: string;
  namespace: string;
  /** This pod's loopback address. */
  ip: string;
  /** Folder for the pod's volumes. */
  workDir: string;
  containerName?: string;
  /** What the cluster would provide but a local process cannot find on its own (bind addresses, API server access). */
  hostEnv?: Record<string, string>;
  /** Rewrites env values the cluster would resolve (Service DNS names, Service ports). */
  resolve?: (name: string, value: string) => string;
}

export class LocalPod {
  private exitInfo: StopResult | null = null;
  readonly tail = new OutputTail(128 * 1024);
  private running!: CapturedChild;
  /** mountPath -> local folder. */
  readonly mounts = new Map<string, string>();
  argv: string[] = [];
  env: Record<string, string> = {};

  constructor(readonly options: StartPodOptions) {}

  get container(): any {
    const containers = this.options.podSpec.containers as any[];
    return this.options.containerName ? containers.find((c) => c.name === this.options.containerName) : containers[0];
  }

  /** Container port number by its name. */
  port(name: string): number {
    const p = (this.container.ports as any[] | undefined)?.find((x) => x.name === name);
    if (!p) throw new Error(`${this.options.podName}: no container port named ${name}`);
    return p.containerPort as number;
  }

  get pid(): number {
    return this.running.child.pid ?? 0;
  }

  exited(): StopResult | null {
    return this.exitInfo;
  }

  output(): string {
    return this.tail.toString();
  }

  describe(message: string): string {
    return `${message}\n--- pod ${this.options.podName} (${this.options.ip}) \`${this.argv.join(' ')}\` output ---\n${this.output() || '(nothing)'}\n--- end ---`;
  }

  /** The local folder of a volume (ConfigMap/Secret/emptyDir) by volume name. */
  volumeDir(volumeName: string): string {
    return join(this.options.workDir, this.options.podName, volumeName);
  }

  start(scope: CleanupContext): this {
    const { objects, podSpec, podName, namespace, ip } = this.options;
    const container = this.container;
    const byName = (kind: string, name: string): KubeObject => {
      const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
      if (!found) throw new Error(`${podName}: ${kind} ${name} is referenced but not rendered`);
      return found;
    };
    for (const mount of (container.volumeMounts ?? []) as any[]) {
      if (mount.subPath) throw new Error(`${podName}: volumeMount ${mount.name} uses subPath, which never sees ConfigMap updates`);
      const volume = (podSpec.volumes as any[]).find((v) => v.name === mount.name);
      if (!volume) throw new Error(`${podName}: volumeMount ${mount.name} has no volume`);
      const dir = this.volumeDir(volume.name);
      if (volume.configMap) writeProjectedVolume(dir, byName('ConfigMap', volume.configMap.name).data ?? {});
      else if (volume.secret) {
        const data = byName('Secret', volume.secret.secretName).data ?? {};
        writeProjectedVolume(dir, Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(String(v), 'base64')])));
      } else if (volume.emptyDir) mkdirSync(dir, { recursive: true });
      else throw new Error(`${podName}: volume ${volume.name} of an unsupported type`);
      this.mounts.set(mount.mountPath, dir);
    }

    const env: Record<string, string> = {};
    for (const e of (container.env ?? []) as any[]) {
      let value: string;
      if (e.value !== undefined) value = mapMounted(String(e.value), this.mounts);
      else if (e.valueFrom?.fieldRef) {
        const field = e.valueFrom.fieldRef.fieldPath as string;
        const fields: Record<string, string> = { 'metadata.name': podName, 'metadata.namespace': namespace, 'status.podIP': ip };
        if (fields[field] === undefined) throw new Error(`${podName}: env ${e.name}: fieldRef ${field} is not emulated`);
        value = fields[field];
      } else if (e.valueFrom?.secretKeyRef) {
        const ref = e.valueFrom.secretKeyRef;
        const data = byName('Secret', ref.name).data?.[ref.key];
        if (data === undefined) throw new Error(`${podName}: env ${e.name}: Secret ${ref.name} has no key ${ref.key}`);
        value = Buffer.from(String(data), 'base64').toString('utf8');
      } else if (e.valueFrom?.configMapKeyRef) {
        const ref = e.valueFrom.configMapKeyRef;
        value = String(byName('ConfigMap', ref.name).data?.[ref.key]);
      } else throw new Error(`${podName}: env ${e.name} has no value`);
      env[e.name] = this.options.resolve ? this.options.resolve(e.name, value) : value;
    }
    this.env = env;
    // Kubernetes: `command` replaces the image's ENTRYPOINT, `args` follow it.
    const imageArgv = [...((container.command as string[] | undefined) ?? imageEntrypoint()), ...((container.args ?? []) as string[])];
    this.argv = localArgv(imageArgv, this.mounts);

    const [command, args] = withParentDeathSignal(this.argv[0], this.argv.slice(1));
    this.running = spawnCaptured(command, args, trackerEnv({ ...env, ...this.options.hostEnv }), this.tail, (result) => {
      this.exitInfo = result;
    });
    scope.after(async () => {
      if (this.exitInfo === null) {
        this.running.child.kill('SIGKILL');
        await raceTimeout(this.running.exit, 5000);
      }
    });
    return this;
  }

  /** Resolves when the process exits (bounded); null on timeout. */
  waitExit(timeoutMs: number): Promise<StopResult | null> {
    return raceTimeout(this.running.exit, timeoutMs);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.exitInfo === null) this.running.child.kill(signal);
  }

  /** SIGTERM, then the exit (bounded); SIGKILL when it does not come. */
  async stop(timeoutMs = 20_000): Promise<StopResult> {
    this.signal('SIGTERM');
    const result = await this.waitExit(timeoutMs);
    if (result === null) {
      this.signal('SIGKILL');
      throw new Error(this.describe(`${this.options.podName} did not exit within ${timeoutMs} ms of SIGTERM`));
    }
    return result;
  }
}
