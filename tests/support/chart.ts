/**
 * The Helm chart (charts/tracker) for tests, offline: helm and kubectl from
 * scripts/k8s-tools.mjs, rendered objects validated against the Kubernetes
 * schemas that the kubernetes-models packages ship.
 *
 *   const objects = renderChart({ set: { 'edge.autoscaling.enabled': 'false' } });
 *   find(objects, 'Deployment', 'tracker-edge')
 *   validateObject(obj)   // [] when it is valid, unknown fields included
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { ConfigMap, Namespace, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { PodMonitor, PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { REPO_ROOT } from './tracker-process.js';

export const CHART_DIR = join(REPO_ROOT, 'charts', 'tracker');

/** Any Kubernetes object as rendered. */
export type KubeObject = {
  apiVersion: string;
  kind: string;
  // Loosely typed on purpose: tests read whatever the chart rendered.
  metadata: { name: string; [key: string]: any };
  [key: string]: any;
};

const { k8sTools } = (await import(pathToFileURL(join(REPO_ROOT, 'scripts', 'k8s-tools.mjs')).href)) as {
  k8sTools(): { helm: string; kubectl: string };
};
export const tools = k8sTools();

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function helm(args: readonly string[], env: NodeJS.ProcessEnv = process.env): RunResult {
  const r = spawnSync(tools.helm, args, { encoding: 'utf8', cwd: REPO_ROOT, env, maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? r.error?.message ?? '' };
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** --set KEY=VALUE pairs (strings, as on the command line). */
  set?: Record<string, string>;
  /** Values files. */
  values?: string[];
  /** --kube-version (helm's default otherwise). */
  kubeVersion?: string;
  /** --api-versions (e.g. monitoring.coreos.com/v1). */
  apiVersions?: string[];
  /** A kubeconfig (e.g. ChartLookupApi's): render as an upgrade would, `lookup` answered by that API server (--dry-run=server); renderChartAsync only. */
  cluster?: string;
}

export function helmTemplateArgs(options: RenderOptions = {}): string[] {
  const args = ['template', options.release ?? 'tracker', CHART_DIR, '--namespace', options.namespace ?? 'tracker'];
  for (const [k, v] of Object.entries(options.set ?? {})) args.push('--set', `${k}=${v}`);
  for (const file of options.values ?? []) args.push('-f', file);
  if (options.kubeVersion) args.push('--kube-version', options.kubeVersion);
  for (const api of options.apiVersions ?? []) args.push('--api-versions', api);
  if (options.cluster) args.push('--dry-run=server');
  return args;
}

/** `helm template` output as objects; throws with helm's message when rendering fails. */
export function renderChart(options: RenderOptions = {}): KubeObject[] {
  if (options.cluster) throw new Error('renderChart blocks the event loop: use renderChartAsync with `cluster` (its API server may run in this process)');
  const args = helmTemplateArgs(options);
  const r = helm(args);
  if (r.status !== 0) throw new Error(`helm ${args.join(' ')} failed:\n${r.stderr}`);
  return parseManifests(r.stdout);
}

/** renderChart without blocking the event loop (for `cluster`: an API server in this process answers helm's lookups). */
export async function renderChartAsync(options: RenderOptions = {}): Promise<KubeObject[]> {
  const args = helmTemplateArgs(options);
  const env = options.cluster ? { ...process.env, KUBECONFIG: options.cluster } : process.env;
  try {
    const { stdout } = await promisify(execFile)(tools.helm, args, { encoding: 'utf8', cwd: REPO_ROOT, env, maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
    return parseManifests(stdout);
  } catch (error) {
    throw new Error(`helm ${args.join(' ')} failed:\n${(error as { stderr?: string }).stderr ?? (error as Error).message}`);
  }
}

export function parseManifests(text: string): KubeObject[] {
  return YAML.parseAllDocuments(text)
    .map((doc) => doc.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === 'object');
}

export function find(objects: readonly KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` named ${name}` : ''}, found ${found.length}: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found[0];
}

export function ofKind(objects: readonly KubeObject[], kind: string): KubeObject[] {
  return objects.filter((o) => o.kind === kind);
}

// ---------------------------------------------------------------------------
// Schema validation

type Model = new (data: any) => { validate(): void };

const MODELS: Record<string, Model> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Pod': Pod,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

interface AjvError {
  instancePath: string;
  message?: string;
}

function schemaErrors(model: Model, data: unknown): AjvError[] {
  try {
    new model(data).validate();
    return [];
  } catch (error) {
    const errors = (error as { errors?: AjvError[] }).errors;
    return errors ?? [{ instancePath: '', message: (error as Error).message }];
  }
}

/** JSON pointer of every key of every object inside `value` (not array positions themselves). */
function objectKeyPaths(value: unknown, path: string[] = [], out: string[][] = []): string[][] {
  if (Array.isArray(value)) value.forEach((item, i) => objectKeyPaths(item, [...path, String(i)], out));
  else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      out.push([...path, key]);
      objectKeyPaths(child, [...path, key], out);
    }
  }
  return out;
}

const pointer = (path: readonly string[]): string => path.map((p) => `/${p.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');

/**
 * Problems of one object against its Kubernetes (or CRD) schema, unknown
 * fields included, which the generated validators let through: each key is
 * replaced in turn by a value no schema type accepts (a function); a known
 * field then fails at exactly that path, an unknown one passes unnoticed.
 */
export function validateObject(obj: KubeObject): string[] {
  const id = `${obj.kind}/${obj.metadata?.name}`;
  const model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!model) return [`${id}: no schema for ${obj.apiVersion} ${obj.kind} (add it to MODELS in tests/support/chart.ts)`];
  const problems = schemaErrors(model, obj).map((e) => `${id}: ${e.instancePath || '/'} ${e.message}`);
  if (problems.length > 0) return problems;
  const notAType = (): void => {};
  for (const path of objectKeyPaths(obj)) {
    if (path.length === 1 && (path[0] === 'apiVersion' || path[0] === 'kind')) continue;
    const probe = structuredClone(obj) as any;
    let parent = probe;
    for (const part of path.slice(0, -1)) parent = parent[part];
    parent[path.at(-1)!] = notAType;
    const at = pointer(path);
    if (!schemaErrors(model, probe).some((e) => e.instancePath === at || e.instancePath.startsWith(`${at}/`))) {
      problems.push(`${id}: unknown field ${at}`);
    }
  }
  return problems;
}
