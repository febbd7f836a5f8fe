/**
 * A fake Kubernetes API server on 127.0.0.1 for running tracker edges
 * against: it answers list and watch (NDJSON streaming) of
 * discovery.k8s.io/v1 EndpointSlices in one namespace, the way the API server
 * and @kubernetes/client-node's own tests do, and writes a kubeconfig that
 * points at it. (tests/unit/cluster/kubernetes-membership.test.ts has a fuller
 * one with fault injection for the membership provider itself.)
 *
 *   const api = await FakeKubeApi.start('tracker');
 *   api.putSlice('tracker-swarm-abc', 'tracker-swarm', [{ pod: 'tracker-swarm-0', ip: '127.0.0.5', ready: true }], { grpc: 7000 });
 *   api.kubeconfigPath   // for --cluster.kubeconfig
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeEndpoint {
  pod: string;
  ip: string;
  ready: boolean;
  terminating?: boolean;
}

interface Slice {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  metadata: { name: string; namespace: string; resourceVersion: string; labels: Record<string, string> };
  addressType: 'IPv4';
  endpoints: unknown[];
  ports: Array<{ name: string; port: number; protocol: 'TCP' }>;
}

export class FakeKubeApi {
  private readonly server: Server;
  private readonly slices = new Map<string, Slice>();
  private readonly watchers = new Set<{ res: ServerResponse; selector: Record<string, string> }>();
  private readonly dir = mkdtempSync(join(tmpdir(), 'fake-kube-api-'));
  private rv = 1;
  port = 0;
  readonly kubeconfigPath = join(this.dir, 'kubeconfig');
  /** Paths requested, for assertions (e.g. that the edge watched its namespace). */
  readonly requests: string[] = [];

  private constructor(readonly namespace: string) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  static async start(namespace: string): Promise<FakeKubeApi> {
    const api = new FakeKubeApi(namespace);
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
    api.port = (api.server.address() as AddressInfo).port;
    writeFileSync(
      api.kubeconfigPath,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: fake',
        `  cluster: {server: "http://127.0.0.1:${api.port}", insecure-skip-tls-verify: true}`,
        'users:',
        '- name: fake',
        '  user: {token: fake-token}',
        'contexts:',
        '- name: fake',
        `  context: {cluster: fake, user: fake, namespace: ${namespace}}`,
        'current-context: fake',
        '',
      ].join('\n'),
    );
    return api;
  }

  get path(): string {
    return `/apis/discovery.k8s.io/v1/namespaces/${this.namespace}/endpointslices`;
  }

  /** Creates or replaces a slice of `service`, as the EndpointSlice controller writes it for pods. */
  putSlice(name: string, service: string, endpoints: readonly FakeEndpoint[], ports: Record<string, number>): void {
    const existed = this.slices.has(name);
    const slice: Slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name,
        namespace: this.namespace,
        resourceVersion: String(++this.rv),
        labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
      },
      addressType: 'IPv4',
      endpoints: endpoints.map((e) => ({
        addresses: [e.ip],
        conditions: { ready: e.ready && !e.terminating, serving: e.ready, terminating: e.terminating === true },
        hostname: e.pod,
        targetRef: { kind: 'Pod', name: e.pod, namespace: this.namespace },
      })),
      ports: Object.entries(ports).map(([portName, port]) => ({ name: portName, port, protocol: 'TCP' })),
    };
    this.slices.set(name, slice);
    this.publish(existed ? 'MODIFIED' : 'ADDED', slice);
  }

  private publish(type: string, slice: Slice): void {
    for (const w of this.watchers) {
      if (matches(slice, w.selector)) w.res.write(`${JSON.stringify({ type, object: slice })}\n`);
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(url.pathname);
    if (req.method !== 'GET' || url.pathname !== this.path) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound', message: `${url.pathname} not found` }));
      return;
    }
    const selector = parseSelector(url.searchParams.get('labelSelector'));
    const items = [...this.slices.values()].filter((s) => matches(s, selector));
    if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      const from = Number(url.searchParams.get('resourceVersion') || '0');
      for (const s of items) if (Number(s.metadata.resourceVersion) > from) res.write(`${JSON.stringify({ type: 'MODIFIED', object: s })}\n`);
      const watcher = { res, selector };
      this.watchers.add(watcher);
      res.on('close', () => this.watchers.delete(watcher));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(this.rv) }, items }));
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function parseSelector(text: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    out[k] = v ?? '';
  }
  return out;
}

function matches(slice: Slice, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => slice.metadata.labels[k] === v);
}
