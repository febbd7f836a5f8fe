/**
 * The rendered chart's swarms and edge started as local processes
 * (chart-pods.ts), each on a loopback address of its own, with a fake API
 * server serving the swarm Service's EndpointSlices from the swarms'
 * readiness probes, as the EndpointSlice controller would, to the edge and
 * to the swarms (which build the same slot table from them).
 *
 *   const cluster = await ChartCluster.start(scope, { namespace: 'tracker', swarms: 2, set: { 'redis.url': url } });
 *   cluster.edge, cluster.swarms, cluster.objects, await podMetrics(cluster.swarms[0])
 *
 * `objects` may add what the user creates next to the release (e.g. the
 * Secrets cert-manager writes): pods mount them like the chart's own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { find, renderChart, type KubeObject } from './chart.js';
import { LocalPod } from './chart-pods.js';
import { FakeKubeApi, type FakeEndpoint } from './fake-kube-api.js';
import { metricIn } from './cluster.js';
import { delay, findFreePort, httpStatus, type CleanupContext } from './tracker-process.js';

type Probe = 'startupProbe' | 'livenessProbe' | 'readinessProbe';

export function probeUrl(pod: LocalPod, probe: Probe): string {
  const get = pod.container[probe].httpGet;
  return `http://${pod.options.ip}:${typeof get.port === 'string' ? pod.port(get.port) : get.port}${get.path}`;
}

export async function probeStatus(pod: LocalPod, probe: Probe): Promise<number | null> {
  return httpStatus(probeUrl(pod, probe), 1000).catch(() => null);
}

/** Polls `check` until true; fails at once (with the pod's output) when a pod exits, or after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, pods: readonly LocalPod[], timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    const dead = pods.find((p) => p.exited() !== null);
    if (dead) throw new Error(dead.describe(`${dead.options.podName} exited (${JSON.stringify(dead.exited())}) while waiting for ${what}`));
    if (Date.now() > end) throw new Error([`timed out waiting for ${what}`, ...pods.map((p) => p.describe(''))].join('\n'));
    await delay(100);
  }
}

/** GET /metrics of a pod, on its own address. */
export async function podMetrics(pod: LocalPod): Promise<string> {
  const res = await fetch(`http://${pod.options.ip}:${pod.port('metrics')}/metrics`, { signal: AbortSignal.timeout(2000) });
  if (res.status !== 200) throw new Error(`${pod.options.podName} /metrics answered ${res.status}`);
  return res.text();
}

export interface PodNetwork {
  /** ips[0]: the edge, ips[1..]: the swarms. */
  ips: string[];
  tracker: number;
  metrics: number;
  grpc: number;
}

/** Distinct loopback addresses (one per pod) and ports free on them. */
async function podAddresses(pods: number): Promise<PodNetwork> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20 + Math.floor(Math.random() * 200);
    const ips = Array.from({ length: pods }, (_, i) => `127.0.${base}.${10 + i}`);
    try {
      const tracker = await findFreePort({ host: ips[0] });
      const metrics = await findFreePort({ host: ips[0], udp: false });
      const grpc = await findFreePort({ host: ips[1], udp: false });
      for (const ip of ips) {
        if ((await findFreePort({ host: ip, udp: false })) === 0) throw new Error('no port');
      }
      return { ips, tracker, metrics, grpc };
    } catch {
      // another address block
    }
  }
  throw new Error('no free loopback addresses and ports for the pods');
}

export interface ChartClusterOptions {
  namespace: string;
  swarms: number;
  /** Values for this run, over the ports, replica counts and fixed edge count the cluster sets. */
  set?: Record<string, string>;
  /** Objects the user creates next to the release (e.g. cert-manager's Secrets). */
  objects?: KubeObject[];
}

export class ChartCluster {
  readonly swarms: LocalPod[] = [];
  edge!: LocalPod;
  private publishing = true;

  private constructor(
    readonly objects: KubeObject[],
    readonly net: PodNetwork,
    readonly api: FakeKubeApi,
    readonly workDir: string,
  ) {}

  static async start(scope: CleanupContext, options: ChartClusterOptions): Promise<ChartCluster> {
    const net = await podAddresses(1 + options.swarms);
    const rendered = renderChart({
      namespace: options.namespace,
      set: {
        'ports.tracker': String(net.tracker),
        'ports.metrics': String(net.metrics),
        'ports.grpc': String(net.grpc),
        'swarm.replicaCount': String(options.swarms),
        'edge.autoscaling.enabled': 'false',
        'edge.replicaCount': '1',
        ...options.set,
      },
    });
    const workDir = mkdtempSync(join(tmpdir(), 'run-chart-'));
    scope.after(() => rmSync(workDir, { recursive: true, force: true }));
    const api = await FakeKubeApi.start(options.namespace);
    scope.after(() => api.close());
    const cluster = new ChartCluster([...rendered, ...(options.objects ?? [])], net, api, workDir);
    scope.after(() => cluster.stopPublishing());
    await cluster.startSwarms(scope, options.namespace);
    await cluster.startEdge(scope, options.namespace);
    return cluster;
  }

  /** Stops the EndpointSlice controller (the slices stay as they are). */
  stopPublishing(): void {
    this.publishing = false;
  }

  get edgeAddress(): string {
    return `${this.net.ips[0]}:${this.net.tracker}`;
  }

  private async startSwarms(scope: CleanupContext, namespace: string): Promise<void> {
    const sts = find(this.objects, 'StatefulSet');
    const swarmService = find(this.objects, 'Service', sts.spec.serviceName);
    const grpcPortName = swarmService.spec.ports[0].name;
    for (let i = 0; i < sts.spec.replicas; i++) {
      const ip = this.net.ips[1 + i];
      this.swarms.push(
        new LocalPod({
          objects: this.objects,
          podSpec: sts.spec.template.spec,
          podName: `${sts.metadata.name}-${i}`,
          namespace,
          ip,
          workDir: this.workDir,
          // Swarms watch the EndpointSlices too (what they own); their token reaches this API server.
          hostEnv: { TRACKER_METRICS__HOST: ip, TRACKER_SWARM__GRPC_HOST: ip, TRACKER_CLUSTER__KUBECONFIG: this.api.kubeconfigPath },
        }).start(scope),
      );
    }
    // The EndpointSlice controller: endpoints of the swarm Service follow the pods' readiness probes.
    let last = '';
    const publish = async (): Promise<void> => {
      const endpoints: FakeEndpoint[] = [];
      for (const pod of this.swarms) endpoints.push({ pod: pod.options.podName, ip: pod.options.ip, ready: (await probeStatus(pod, 'readinessProbe')) === 200 });
      const key = JSON.stringify(endpoints);
      if (key !== last) {
        last = key;
        this.api.putSlice(`${swarmService.metadata.name}-x1`, swarmService.metadata.name, endpoints, { [grpcPortName]: this.swarms[0].port(swarmService.spec.ports[0].targetPort) });
      }
    };
    void (async () => {
      while (this.publishing) {
        await publish();
        await delay(100);
      }
    })();
    await until('every swarm ready', async () => (await Promise.all(this.swarms.map((s) => probeStatus(s, 'readinessProbe')))).every((s) => s === 200), this.swarms);
  }

  private async startEdge(scope: CleanupContext, namespace: string): Promise<void> {
    const deployment = find(this.objects, 'Deployment');
    const ip = this.net.ips[0];
    this.edge = new LocalPod({
      objects: this.objects,
      podSpec: deployment.spec.template.spec,
      podName: `${deployment.metadata.name}-5f7d8-abcde`,
      namespace,
      ip,
      workDir: this.workDir,
      // In a pod: "::" is the pod's own address, and the service-account token reaches the API server.
      hostEnv: { TRACKER_HOST: ip, TRACKER_METRICS__HOST: ip, TRACKER_CLUSTER__KUBECONFIG: this.api.kubeconfigPath },
    }).start(scope);
    await until(`the edge ready, routing to all ${this.swarms.length} swarms`, async () => {
      if ((await probeStatus(this.edge, 'readinessProbe')) !== 200) return false;
      const text = await podMetrics(this.edge).catch(() => '');
      return metricIn(text, 'tracker_slot_table_members') === this.swarms.length && this.swarms.every((s) => metricIn(text, 'tracker_swarm_stream_up', { swarm: s.options.podName }) === 1);
    }, [this.edge, ...this.swarms]);
  }
}
