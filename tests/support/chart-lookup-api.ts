/**
 * A read-only Kubernetes API server on 127.0.0.1 for what `helm upgrade`
 * asks when the chart calls `lookup`: the version, API discovery, and GET
 * of single objects, served from the objects given (an installed release).
 * Rendering with it (`renderChart({ cluster })`, helm's `--dry-run=server`)
 * shows what an upgrade of that release would apply.
 *
 *   const api = await ChartLookupApi.start([...renderChart()]);   // "installed"
 *   const upgraded = renderChart({ cluster: api.kubeconfigPath });
 *   api.requests   // paths helm asked for
 *   await api.close();
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from './chart.js';

/** Plural resource names of the kinds the chart looks up or may render. */
const RESOURCES: Record<string, string> = {
  Secret: 'secrets',
  ConfigMap: 'configmaps',
  Service: 'services',
  ServiceAccount: 'serviceaccounts',
  Pod: 'pods',
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
};

function groupVersion(apiVersion: string): { path: string; group: string; version: string } {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  return { path: group === '' ? `/api/${version}` : `/apis/${group}/${version}`, group, version };
}

export class ChartLookupApi {
  readonly requests: string[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'chart-lookup-api-'));
  readonly kubeconfigPath = join(this.dir, 'kubeconfig');

  private constructor(
    private readonly server: Server,
    private readonly objects: readonly KubeObject[],
  ) {}

  static async start(objects: readonly KubeObject[], namespace = 'tracker'): Promise<ChartLookupApi> {
    let api: ChartLookupApi | undefined;
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      api!.requests.push(path);
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'GET') return send(405, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 405, message: 'read-only' });
      const found = api!.answer(path);
      if (found) return send(200, found);
      send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${path} not found` });
    });
    api = new ChartLookupApi(server, objects);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    writeFileSync(
      api.kubeconfigPath,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: lookup, cluster: {server: "http://127.0.0.1:${port}"}}]`,
        'users: [{name: lookup, user: {}}]',
        `contexts: [{name: lookup, context: {cluster: lookup, user: lookup, namespace: ${namespace}}}]`,
        'current-context: lookup',
        '',
      ].join('\n'),
    );
    return api;
  }

  private answer(path: string): unknown {
    if (path === '/version') return { major: '1', minor: '31', gitVersion: 'v1.31.0' };
    if (path === '/api') return { kind: 'APIVersions', versions: ['v1'] };
    const versions = [...new Set(Object.keys(RESOURCES).map((kind) => (kind === 'Deployment' || kind === 'StatefulSet' ? 'apps/v1' : 'v1')))];
    if (path === '/apis') {
      const groups = versions.filter((v) => v.includes('/')).map((v) => ({ name: v.split('/')[0], versions: [{ groupVersion: v, version: v.split('/')[1] }], preferredVersion: { groupVersion: v, version: v.split('/')[1] } }));
      return { kind: 'APIGroupList', apiVersion: 'v1', groups };
    }
    for (const v of versions) {
      if (path !== groupVersion(v).path) continue;
      const kinds = Object.keys(RESOURCES).filter((kind) => (kind === 'Deployment' || kind === 'StatefulSet' ? 'apps/v1' : 'v1') === v);
      return {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: v,
        resources: kinds.map((kind) => ({ name: RESOURCES[kind], singularName: kind.toLowerCase(), namespaced: true, kind, verbs: ['get', 'list'] })),
      };
    }
    return this.objects.find((o) => `${groupVersion(o.apiVersion).path}/namespaces/${o.metadata.namespace}/${RESOURCES[o.kind]}/${o.metadata.name}` === path);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
