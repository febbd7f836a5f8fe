/**
 * The Helm chart, offline: lint, render for several value sets, validate
 * every object against the Kubernetes schemas (unknown fields refused),
 * check that selectors, ports, probes, volumes, env and flags fit together
 * and are what the tracker's code reads, and that k8s/ is up to date.
 * tests/chart/run-chart.test.ts then runs the rendered containers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { configKeys, loadConfig } from '../../lib/runtime/config-loader.js';
import { CHART_DIR, find, helm, ofKind, renderChart, renderChartAsync, validateObject, type KubeObject, type RenderOptions } from '../support/chart.js';
import { REPO_ROOT } from '../support/tracker-process.js';
import { writeProjectedVolume } from '../support/chart-pods.js';
import { ChartLookupApi } from '../support/chart-lookup-api.js';
import { adapterQueries, dashboardQueries, grafanaInterpolate, promqlProblems, renderedQueries, type ChartQuery } from '../support/chart-promql.js';

const HASH_A = 'aa'.repeat(20);
const HASH_B = 'bb'.repeat(20);
const REDIS_URL = 'redis://:s3cret@redis-master.redis.svc:6379/2';
const ALL_MONITORING = { 'metrics.podMonitor.enabled': 'true', 'metrics.prometheusRule.enabled': 'true', 'metrics.dashboard.enabled': 'true' };

/** The value sets every structural check runs on. */
const VALUE_SETS: Record<string, RenderOptions> = {
  defaults: {},
  'monitoring on (kube-prometheus-stack)': { set: ALL_MONITORING },
  'KEDA requests/s': { set: { 'edge.autoscaling.requestsPerSecond.provider': 'keda' } },
  'prometheus-adapter requests/s': { set: { 'edge.autoscaling.requestsPerSecond.provider': 'prometheus-adapter' } },
  'existing Secret and ConfigMap': { set: { 'udpConnectionIdKey.existingSecret': 'my-key', 'accessList.existingConfigMap': 'my-list', 'accessList.mode': 'deny' } },
  'allow list, no autoscaling, ClusterIP, no network policy': {
    set: {
      'accessList.mode': 'allow',
      'accessList.hashes[0]': HASH_A,
      'accessList.hashes[1]': HASH_B,
      'edge.autoscaling.enabled': 'false',
      'edge.service.type': 'ClusterIP',
      'networkPolicy.enabled': 'false',
      'config.announce.intervalSeconds': '900',
      'config.announce.minIntervalSeconds': '600',
      'edge.config.http.maxScrapeHashes': '50',
    },
  },
  'Kubernetes 1.29 (preStop without the sleep action)': { kubeVersion: '1.29.0' },
  'release name containing the chart name, pinned digest': {
    release: 'tracker-prod',
    set: { 'image.digest': `sha256:${'0'.repeat(64)}` },
  },
  'snapshots to a Redis URL': { set: { 'redis.url': REDIS_URL, 'swarm.config.snapshot.shutdownDeadlineSeconds': '8' } },
  'snapshots to a Redis URL from an existing Secret': { set: { 'redis.existingSecret': 'my-redis', 'redis.secretKey': 'uri' } },
  'snapshots to the bundled Redis': { set: { 'redis.bundled.enabled': 'true' } },
  'handoff deadline 12 s': { set: { 'swarm.handoffDeadlineSeconds': '12' } },
  'no handoff': { set: { 'swarm.handoffDeadlineSeconds': '0' } },
  'cluster token from an existing Secret': { set: { 'clusterToken.existingSecret': 'my-token', 'clusterToken.secretKey': 'shared' } },
  'no cluster token': { set: { 'clusterToken.enabled': 'false' } },
  'private mode, database password from a Secret': {
    set: { 'config.private.enabled': 'true', 'config.database.host': 'mariadb.site.svc', 'config.database.name': 'gazelle', 'databasePassword.existingSecret': 'site-db', 'databasePassword.secretKey': 'pw' },
  },
  'mutual TLS between edges and swarms (cert-manager Secrets)': { set: { 'clusterTls.enabled': 'true', 'clusterTls.edge.existingSecret': 'tracker-edge-tls', 'clusterTls.swarm.existingSecret': 'tracker-swarm-tls' } },
  'swarm HPA on peers per pod (prometheus-adapter)': { set: { 'swarm.autoscaling.enabled': 'true', 'swarm.autoscaling.peersPerPod.provider': 'prometheus-adapter', 'swarm.autoscaling.minReplicas': '4' } },
  'swarm and edge autoscaling through KEDA': {
    set: { 'swarm.autoscaling.enabled': 'true', 'swarm.autoscaling.peersPerPod.provider': 'keda', 'edge.autoscaling.requestsPerSecond.provider': 'keda', ...ALL_MONITORING },
  },
  'snapshots with their own settings, alerts with a runbook URL': {
    set: {
      ...ALL_MONITORING,
      'redis.url': REDIS_URL,
      'metrics.prometheusRule.runbookUrl': 'https://wiki.example.com/tracker/operations',
      'metrics.prometheusRule.snapshotStaleIntervals': '3',
      'swarm.config.snapshot.intervalSeconds': '20',
      'swarm.config.snapshot.restoreDeadlineSeconds': '40',
    },
  },
};

function renderAll(): Map<string, KubeObject[]> {
  return new Map(Object.entries(VALUE_SETS).map(([name, options]) => [name, renderChart(options)]));
}
const rendered = renderAll();

function podTemplates(objects: readonly KubeObject[]): Array<{ owner: KubeObject; labels: Record<string, string>; spec: any }> {
  const out = [];
  for (const o of objects) {
    if (o.kind === 'Deployment' || o.kind === 'StatefulSet') out.push({ owner: o, labels: o.spec.template.metadata.labels, spec: o.spec.template.spec });
    if (o.kind === 'Pod') out.push({ owner: o, labels: o.metadata.labels ?? {}, spec: o.spec });
  }
  return out;
}

const matchesLabels = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('helm lint and the values schema', () => {
  it('helm lint --strict passes for every value set', () => {
    for (const [name, options] of Object.entries(VALUE_SETS)) {
      const args = ['lint', '--strict', CHART_DIR];
      for (const [k, v] of Object.entries(options.set ?? {})) args.push('--set', `${k}=${v}`);
      if (options.kubeVersion) args.push('--kube-version', options.kubeVersion);
      const r = helm(args);
      assert.equal(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
    }
  });

  it('refuses values the chart does not know, with the value named', () => {
    const refused: Array<[Record<string, string>, RegExp]> = [
      [{ 'edge.replicas': '3' }, /edge.*replicas/],
      [{ 'edge.autoscaling.requestsPerSecond.provider': 'both' }, /provider/],
      [{ 'accessList.mode': 'whitelist' }, /mode/],
      [{ 'accessList.hashes[0]': 'not-a-hash' }, /hashes/],
      // Tracker config keys are checked too: a typo, a bad value, and a key the chart sets itself.
      [{ 'config.announce.intervalSecond': '60' }, /intervalSecond/],
      [{ 'config.announce.numwantMax': '5000' }, /numwantMax/],
      [{ 'config.port': '7000' }, /port/],
      [{ 'edge.config.cluster.members': 'x=1.2.3.4:1' }, /cluster/],
      // The Redis URL may carry a password: it goes in `redis` (a Secret), never in the ConfigMap.
      [{ 'swarm.config.snapshot.redisUrl': 'redis://r:6379' }, /redisUrl/],
      [{ 'redis.url': 'http://r:6379' }, /url/],
      [{ 'redis.url': 'redis://r:6379', 'redis.bundled.enabled': 'true' }, /only one of redis.url, redis.existingSecret and redis.bundled.enabled/],
      // Swarms scale on peers per pod, which only Prometheus knows: no provider, no swarm HPA.
      [{ 'swarm.autoscaling.enabled': 'true' }, /swarm.autoscaling.enabled needs swarm.autoscaling.peersPerPod.provider: prometheus-adapter or keda/],
      [{ 'swarm.autoscaling.enabled': 'true', 'swarm.autoscaling.peersPerPod.provider': 'cpu' }, /provider/],
      // Mutual TLS needs each role's certificate; the names are host names with their placeholder.
      [{ 'clusterTls.enabled': 'true' }, /clusterTls.enabled needs clusterTls.(edge|swarm).existingSecret/],
      [{ 'clusterTls.enabled': 'true', 'clusterTls.edge.existingSecret': 'edge-tls' }, /clusterTls.enabled needs clusterTls.swarm.existingSecret: a kubernetes.io\/tls Secret with tls.crt, tls.key and ca.crt/],
      [{ 'clusterTls.serverName': 'swarm {name}' }, /serverName/],
      [{ 'clusterTls.edgeName': '{name}.edges' }, /edgeName/],
    ];
    for (const [set, message] of refused) {
      assert.throws(() => renderChart({ set }), message, JSON.stringify(set));
    }
  });

  it('values.schema.json offers every tracker config key the chart does not set itself', async () => {
    const schema = JSON.parse(spawnSync('cat', [join(CHART_DIR, 'values.schema.json')], { encoding: 'utf8' }).stdout);
    const { CHART_MANAGED } = (await import(pathToFileURL(join(REPO_ROOT, 'scripts', 'render-k8s.mjs')).href)) as { CHART_MANAGED: RegExp[] };
    for (const { key } of configKeys()) {
      const managed = { test: (k: string) => CHART_MANAGED.some((re) => re.test(k)) };
      const path = key.split('.');
      let node = schema.properties.config;
      for (const part of path) node = node?.properties?.[part];
      if (managed.test(key)) assert.equal(node, undefined, `${key} is set by the chart and must not be settable in config`);
      else assert.ok(node, `config.${key} is missing from values.schema.json: run \`npm run build && node scripts/render-k8s.mjs\``);
    }
  });
});

describe('rendered objects', () => {
  it('every object validates against its Kubernetes or CRD schema, unknown fields refused', () => {
    const problems: string[] = [];
    for (const [name, objects] of rendered) for (const o of objects) problems.push(...validateObject(o).map((p) => `${name}: ${p}`));
    assert.deepEqual(problems, []);
  });

  it('the validator does refuse an unknown field and a wrong type (positive control)', () => {
    const deployment = structuredClone(find(rendered.get('defaults')!, 'Deployment'));
    deployment.spec.template.spec.containers[0].imagePullPolcy = 'Always';
    deployment.spec.replicas = 'two';
    const problems = validateObject(deployment);
    assert.ok(problems.some((p) => p.includes('/spec/replicas')), problems.join('\n'));
    delete deployment.spec.replicas;
    assert.deepEqual(validateObject(deployment), [`Deployment/${deployment.metadata.name}: unknown field /spec/template/spec/containers/0/imagePullPolcy`]);
  });

  it('selectors match the labels of the pods they mean, and nothing else', () => {
    for (const [name, objects] of rendered) {
      const pods = podTemplates(objects).filter((p) => p.owner.kind !== 'Pod');
      const podsOf = (selector: Record<string, string>) => pods.filter((p) => matchesLabels(selector, p.labels)).map((p) => p.labels['app.kubernetes.io/component']);
      for (const o of objects) {
        const where = `${name}: ${o.kind}/${o.metadata.name}`;
        if (o.kind === 'Deployment' || o.kind === 'StatefulSet') {
          assert.ok(matchesLabels(o.spec.selector.matchLabels, o.spec.template.metadata.labels), `${where}: selector does not match its template`);
          assert.deepEqual(podsOf(o.spec.selector.matchLabels), [o.spec.template.metadata.labels['app.kubernetes.io/component']], where);
          for (const c of o.spec.template.spec.topologySpreadConstraints ?? []) assert.ok(matchesLabels(c.labelSelector.matchLabels, o.spec.template.metadata.labels), where);
        }
        if (o.kind === 'Service') assert.deepEqual(podsOf(o.spec.selector), [o.metadata.labels['app.kubernetes.io/component']], where);
        if (o.kind === 'PodDisruptionBudget' || o.kind === 'NetworkPolicy') {
          const selector = o.kind === 'PodDisruptionBudget' ? o.spec.selector.matchLabels : o.spec.podSelector.matchLabels;
          assert.deepEqual(podsOf(selector), [o.metadata.labels['app.kubernetes.io/component']], where);
        }
        if (o.kind === 'PodMonitor') assert.deepEqual(podsOf(o.spec.selector.matchLabels).sort(), ['edge', 'swarm'], where);
        if (o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject') {
          const target = find(objects, o.spec.scaleTargetRef.kind, o.spec.scaleTargetRef.name);
          assert.equal(target.apiVersion, o.spec.scaleTargetRef.apiVersion, where);
          assert.equal(target.spec.template.metadata.labels['app.kubernetes.io/component'], o.metadata.labels['app.kubernetes.io/component'], where);
          assert.equal(target.spec.replicas, undefined, `${where}: the autoscaler owns ${target.kind}/${target.metadata.name}'s replicas, an upgrade must not reset them`);
        }
        if (o.kind === 'StatefulSet') find(objects, 'Service', o.spec.serviceName);
      }
      const targets = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject').map((o) => `${o.spec.scaleTargetRef.kind}/${o.spec.scaleTargetRef.name}`);
      assert.equal(new Set(targets).size, targets.length, `${name}: two autoscalers for one target: ${targets.join(', ')}`);
    }
  });

  it('Service ports, probes, NetworkPolicy and PodMonitor ports name real container ports; mounts have volumes; references resolve', () => {
    for (const [name, objects] of rendered) {
      const templates = podTemplates(objects);
      const external = new Set([VALUE_SETS[name].set?.['udpConnectionIdKey.existingSecret'], VALUE_SETS[name].set?.['accessList.existingConfigMap'], VALUE_SETS[name].set?.['redis.existingSecret'], VALUE_SETS[name].set?.['clusterToken.existingSecret'], VALUE_SETS[name].set?.['clusterTls.edge.existingSecret'], VALUE_SETS[name].set?.['clusterTls.swarm.existingSecret'], VALUE_SETS[name].set?.['databasePassword.existingSecret']]);
      for (const { owner, labels, spec } of templates) {
        const where = `${name}: ${owner.kind}/${owner.metadata.name}`;
        const ports = new Map<string, any>();
        for (const c of spec.containers) for (const p of c.ports ?? []) ports.set(p.name, p);
        for (const c of spec.containers) {
          for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
            const port = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port;
            if (c[probe]) assert.ok(ports.has(port), `${where}: ${probe} port ${port}`);
          }
          for (const m of c.volumeMounts ?? []) {
            assert.ok(spec.volumes.some((v: any) => v.name === m.name), `${where}: mount ${m.name} has no volume`);
            assert.equal(m.subPath, undefined, `${where}: ${m.name} uses subPath (ConfigMap updates would never arrive)`);
          }
          for (const e of c.env ?? []) {
            const ref = e.valueFrom?.secretKeyRef;
            if (ref && !external.has(ref.name)) assert.ok(find(objects, 'Secret', ref.name).data[ref.key], `${where}: ${e.name}`);
          }
        }
        for (const v of spec.volumes ?? []) if (v.configMap && !external.has(v.configMap.name)) find(objects, 'ConfigMap', v.configMap.name);
        for (const v of spec.volumes ?? []) if (v.secret && !external.has(v.secret.secretName)) find(objects, 'Secret', v.secret.secretName);
        if (owner.kind === 'Pod') continue;
        for (const svc of ofKind(objects, 'Service').filter((s) => matchesLabels(s.spec.selector, labels))) {
          for (const p of svc.spec.ports) {
            const target = ports.get(p.targetPort);
            assert.ok(target, `${name}: Service ${svc.metadata.name} port ${p.name} -> ${p.targetPort}`);
            assert.equal(target.protocol, p.protocol, `${name}: Service ${svc.metadata.name} port ${p.name} protocol`);
          }
        }
        for (const np of ofKind(objects, 'NetworkPolicy').filter((n) => matchesLabels(n.spec.podSelector.matchLabels, labels))) {
          for (const rule of np.spec.ingress) for (const p of rule.ports) assert.equal(ports.get(p.port)?.protocol, p.protocol, `${name}: NetworkPolicy port ${p.port}`);
        }
        for (const pm of ofKind(objects, 'PodMonitor')) for (const e of pm.spec.podMetricsEndpoints) assert.ok(ports.has(e.port), `${name}: PodMonitor port ${e.port}`);
      }
    }
  });

  it('edge Service: UDP and TCP on one port under distinct names, externalTrafficPolicy Local by default', () => {
    const svc = find(rendered.get('defaults')!, 'Service', 'tracker-edge');
    assert.equal(svc.spec.type, 'LoadBalancer');
    assert.equal(svc.spec.externalTrafficPolicy, 'Local');
    assert.deepEqual(
      svc.spec.ports.map((p: any) => [p.name, p.protocol, p.port]),
      [
        ['udp', 'UDP', 6969],
        ['http', 'TCP', 6969],
      ],
    );
    const swarm = find(rendered.get('defaults')!, 'Service', 'tracker-swarm');
    assert.equal(swarm.spec.clusterIP, 'None');
  });

  it('autoscaling: CPU HPA by default; prometheus-adapter adds a Pods metric; KEDA replaces the HPA; never both', () => {
    const hpa = find(rendered.get('defaults')!, 'HorizontalPodAutoscaler');
    assert.deepEqual(hpa.spec.metrics.map((m: any) => m.type), ['Resource']);
    assert.equal(ofKind(rendered.get('defaults')!, 'ScaledObject').length, 0);

    const adapter = find(rendered.get('prometheus-adapter requests/s')!, 'HorizontalPodAutoscaler');
    assert.deepEqual(adapter.spec.metrics.map((m: any) => m.type), ['Resource', 'Pods']);
    assert.equal(adapter.spec.metrics[1].pods.metric.name, 'tracker_requests_per_second');

    const keda = rendered.get('KEDA requests/s')!;
    assert.equal(ofKind(keda, 'HorizontalPodAutoscaler').length, 0);
    const scaled = find(keda, 'ScaledObject');
    assert.deepEqual(scaled.spec.triggers.map((t: any) => t.type), ['cpu', 'prometheus']);
    assert.match(scaled.spec.triggers[1].metadata.query, /tracker_requests_total\{namespace="tracker", pod=~"tracker-edge-\.\*"\}/);

    const fixed = rendered.get('allow list, no autoscaling, ClusterIP, no network policy')!;
    assert.equal(ofKind(fixed, 'HorizontalPodAutoscaler').length + ofKind(fixed, 'ScaledObject').length, 0);
    assert.equal(find(fixed, 'Deployment').spec.replicas, 2);
  });

  it('swarm autoscaling: off by default; on peers per pod from prometheus-adapter or KEDA, scaling the StatefulSet, slowly down', () => {
    const defaults = rendered.get('defaults')!;
    assert.deepEqual(ofKind(defaults, 'HorizontalPodAutoscaler').map((o) => o.spec.scaleTargetRef.kind), ['Deployment']);
    assert.equal(find(defaults, 'StatefulSet', 'tracker-swarm').spec.replicas, 3);

    const adapter = rendered.get('swarm HPA on peers per pod (prometheus-adapter)')!;
    const hpa = ofKind(adapter, 'HorizontalPodAutoscaler').find((o) => o.spec.scaleTargetRef.kind === 'StatefulSet')!;
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'tracker-swarm' });
    assert.deepEqual(hpa.spec.metrics, [{ type: 'Pods', pods: { metric: { name: 'tracker_peers_per_pod' }, target: { type: 'AverageValue', averageValue: '10000000' } } }]);
    assert.equal(hpa.spec.minReplicas, 4);
    // Each change moves ~1/N of the peers: one pod at a time, and down only after an hour below target.
    assert.ok(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds >= 3600, JSON.stringify(hpa.spec.behavior));
    assert.deepEqual(hpa.spec.behavior.scaleDown.policies, [{ type: 'Pods', value: 1, periodSeconds: 600 }]);
    assert.equal(ofKind(adapter, 'ScaledObject').length, 0);

    const keda = rendered.get('swarm and edge autoscaling through KEDA')!;
    assert.equal(ofKind(keda, 'HorizontalPodAutoscaler').length, 0, 'KEDA makes the HPAs');
    const scaled = find(keda, 'ScaledObject', 'tracker-swarm');
    assert.deepEqual(scaled.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'tracker-swarm' });
    assert.deepEqual(scaled.spec.triggers.map((t: any) => [t.type, t.metricType, t.metadata.threshold]), [['prometheus', 'AverageValue', '10000000']]);
    assert.equal(scaled.spec.triggers[0].metadata.query, 'sum(tracker_peers{namespace="tracker", pod=~"tracker-swarm-[0-9]+"})');
    assert.equal(scaled.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds, 3600);
    // The swarm query does not count the edge pods, nor another StatefulSet whose name starts the same.
    const podPattern = new RegExp(`^${/pod=~"([^"]+)"/.exec(scaled.spec.triggers[0].metadata.query)![1]}$`);
    assert.ok(podPattern.test('tracker-swarm-11') && !podPattern.test('tracker-swarm-redis-0') && !podPattern.test('tracker-edge-5f7d8-abcde'));

    // Alerts count the swarms the autoscaler keeps at least.
    const missing = find(renderChart({ set: { ...VALUE_SETS['swarm HPA on peers per pod (prometheus-adapter)'].set, ...ALL_MONITORING } }), 'PrometheusRule')
      .spec.groups.flatMap((g: any) => g.rules)
      .find((r: any) => r.alert === 'TrackerSwarmsMissing');
    assert.match(missing.expr, /< 4$/);
    assert.match(missing.annotations.summary, /swarm.autoscaling.minReplicas \(4\)/);
  });

  it('monitoring objects only when asked, with the release label kube-prometheus-stack selects on', () => {
    for (const kind of ['PodMonitor', 'PrometheusRule']) assert.equal(ofKind(rendered.get('defaults')!, kind).length, 0, kind);
    // A cluster without the prometheus-operator or KEDA CRDs installs the defaults.
    const builtIn = /^(v1|apps\/v1|autoscaling\/v2|policy\/v1|networking\.k8s\.io\/v1|rbac\.authorization\.k8s\.io\/v1)$/;
    assert.deepEqual(rendered.get('defaults')!.filter((o) => !builtIn.test(o.apiVersion)).map((o) => `${o.apiVersion} ${o.kind}`), []);
    assert.ok(!builtIn.test(find(rendered.get('monitoring on (kube-prometheus-stack)')!, 'PodMonitor').apiVersion), 'positive control');
    const on = rendered.get('monitoring on (kube-prometheus-stack)')!;
    for (const kind of ['PodMonitor', 'PrometheusRule']) assert.equal(find(on, kind).metadata.labels.release, 'kube-prometheus-stack');
    const dashboard = find(on, 'ConfigMap', 'tracker-dashboard');
    assert.equal(dashboard.metadata.labels.grafana_dashboard, '1');
    assert.equal(JSON.parse(dashboard.data['tracker.json']).uid, 'tracker-overview');
  });

  it('the UDP key Secret is 64 hex digits, a valid udp.connectionIdKey; an existing Secret is used instead', () => {
    const secret = find(rendered.get('defaults')!, 'Secret', 'tracker-udp-key');
    const key = Buffer.from(secret.data.key, 'base64').toString();
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.equal(loadConfig({ argv: [], env: { TRACKER_UDP__CONNECTION_ID_KEY: key } }).config.udp.connectionIdKey, key);
    const existing = rendered.get('existing Secret and ConfigMap')!;
    assert.equal(ofKind(existing, 'Secret').filter((s) => s.metadata.name.endsWith('-udp-key')).length, 0);
    const env = find(existing, 'Deployment').spec.template.spec.containers[0].env;
    assert.equal(env.find((e: any) => e.name === 'TRACKER_UDP__CONNECTION_ID_KEY').valueFrom.secretKeyRef.name, 'my-key');
    assert.equal(find(existing, 'Deployment').spec.template.spec.volumes.find((v: any) => v.name === 'access-list').configMap.name, 'my-list');
  });

  it('edge <-> swarm token: generated like the UDP key, the same Secret for both roles; an existing Secret instead; off on request', () => {
    const tokenRef = (objects: KubeObject[], kind: string) => find(objects, kind).spec.template.spec.containers[0].env.find((e: any) => e.name === 'TRACKER_CLUSTER__AUTH_TOKEN')?.valueFrom.secretKeyRef;
    const defaults = rendered.get('defaults')!;
    const secret = find(defaults, 'Secret', 'tracker-cluster-token');
    assert.match(Buffer.from(secret.data.token, 'base64').toString(), /^[0-9a-f]{64}$/);
    assert.notEqual(secret.data.token, find(defaults, 'Secret', 'tracker-udp-key').data.key, 'two secrets, not one');
    for (const kind of ['Deployment', 'StatefulSet']) assert.deepEqual(tokenRef(defaults, kind), { name: 'tracker-cluster-token', key: 'token' }, kind);
    const existing = rendered.get('cluster token from an existing Secret')!;
    assert.equal(ofKind(existing, 'Secret').filter((s) => s.metadata.name.endsWith('-cluster-token')).length, 0);
    for (const kind of ['Deployment', 'StatefulSet']) assert.deepEqual(tokenRef(existing, kind), { name: 'my-token', key: 'shared' }, kind);
    const off = rendered.get('no cluster token')!;
    for (const kind of ['Deployment', 'StatefulSet']) assert.equal(tokenRef(off, kind), undefined, kind);
    assert.equal(ofKind(off, 'Secret').filter((s) => s.metadata.name.endsWith('-cluster-token')).length, 0);
  });

  it('private mode: the database password Secret is mounted as a file on both roles and named by database.passwordFile; never in a ConfigMap', () => {
    const of = (objects: KubeObject[], kind: string) => {
      const spec = find(objects, kind).spec.template.spec;
      const c = spec.containers[0];
      return {
        volume: spec.volumes.find((v: any) => v.name === 'database-password'),
        mount: c.volumeMounts.find((m: any) => m.name === 'database-password'),
        file: c.env.find((e: any) => e.name === 'TRACKER_DATABASE__PASSWORD_FILE')?.value,
      };
    };
    const on = rendered.get('private mode, database password from a Secret')!;
    for (const kind of ['Deployment', 'StatefulSet']) {
      const { volume, mount, file } = of(on, kind);
      assert.deepEqual(volume.secret, { secretName: 'site-db', items: [{ key: 'pw', path: 'pw' }] }, kind);
      assert.equal(mount.readOnly, true, kind);
      assert.equal(file, `${mount.mountPath}/pw`, kind);
    }
    for (const kind of ['Deployment', 'StatefulSet']) assert.deepEqual(of(rendered.get('defaults')!, kind), { volume: undefined, mount: undefined, file: undefined }, `${kind}: nothing without the Secret`);
    // A password in `config` would land in a ConfigMap: the schema refuses it.
    assert.throws(() => renderChart({ set: { 'config.database.password': 'hunter2' } }), /password/);
  });

  it('mutual TLS: off by default; on, each role mounts its own cert-manager-shaped Secret as a directory, and names its peers as the Certificates must', () => {
    const tlsOf = (objects: KubeObject[], kind: string) => {
      const spec = find(objects, kind).spec.template.spec;
      const c = spec.containers[0];
      return {
        volume: spec.volumes.find((v: any) => v.name === 'cluster-tls'),
        mount: c.volumeMounts.find((m: any) => m.name === 'cluster-tls'),
        env: Object.fromEntries(c.env.filter((e: any) => e.name.startsWith('TRACKER_CLUSTER__TLS__')).map((e: any) => [e.name, e.value])),
      };
    };
    for (const kind of ['Deployment', 'StatefulSet']) assert.deepEqual(tlsOf(rendered.get('defaults')!, kind), { volume: undefined, mount: undefined, env: {} }, kind);
    const on = rendered.get('mutual TLS between edges and swarms (cert-manager Secrets)')!;
    const edge = tlsOf(on, 'Deployment');
    const swarm = tlsOf(on, 'StatefulSet');
    assert.deepEqual(edge.volume, { name: 'cluster-tls', secret: { secretName: 'tracker-edge-tls' } });
    assert.deepEqual(swarm.volume, { name: 'cluster-tls', secret: { secretName: 'tracker-swarm-tls' } }, 'one Secret per role: an edge cannot pose as a swarm');
    for (const { mount } of [edge, swarm]) assert.deepEqual(mount, { name: 'cluster-tls', mountPath: '/etc/tracker/cluster-tls', readOnly: true }, 'a directory (no subPath): renewals arrive');
    const files = { TRACKER_CLUSTER__TLS__CERT_FILE: '/etc/tracker/cluster-tls/tls.crt', TRACKER_CLUSTER__TLS__KEY_FILE: '/etc/tracker/cluster-tls/tls.key', TRACKER_CLUSTER__TLS__CA_FILE: '/etc/tracker/cluster-tls/ca.crt' };
    assert.deepEqual(edge.env, { ...files, TRACKER_CLUSTER__TLS__SERVER_NAME: '{name}.tracker-swarm.tracker.svc' });
    assert.deepEqual(swarm.env, { ...files, TRACKER_CLUSTER__TLS__SERVER_NAME: '{name}.tracker-swarm.tracker.svc', TRACKER_CLUSTER__TLS__EDGE_NAME: '{id}.tracker-edge.tracker.svc' });
    // The names follow the release's object names and namespace, or are given.
    const other = renderChart({ release: 'big', namespace: 'trackers', set: { ...VALUE_SETS['mutual TLS between edges and swarms (cert-manager Secrets)'].set, 'clusterTls.edgeName': 'edge-{id}.example.org' } });
    assert.deepEqual(tlsOf(other, 'StatefulSet').env.TRACKER_CLUSTER__TLS__SERVER_NAME, '{name}.big-tracker-swarm.trackers.svc');
    assert.deepEqual(tlsOf(other, 'StatefulSet').env.TRACKER_CLUSTER__TLS__EDGE_NAME, 'edge-{id}.example.org');
    // The token stays on with TLS (both are then required).
    for (const kind of ['Deployment', 'StatefulSet']) assert.ok(find(on, kind).spec.template.spec.containers[0].env.some((e: any) => e.name === 'TRACKER_CLUSTER__AUTH_TOKEN'), kind);
  });

  it('security: non-root numeric user, read-only root, no capabilities, RuntimeDefault seccomp; edges and swarms get a token scoped to EndpointSlices', () => {
    const objects = rendered.get('defaults')!;
    for (const { owner, spec } of podTemplates(objects)) {
      assert.equal(spec.securityContext.runAsNonRoot, true, owner.metadata.name);
      assert.equal(spec.securityContext.runAsUser, 65532);
      assert.equal(spec.securityContext.seccompProfile.type, 'RuntimeDefault');
      for (const c of spec.containers) {
        assert.equal(c.securityContext.readOnlyRootFilesystem, true);
        assert.equal(c.securityContext.allowPrivilegeEscalation, false);
        assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
      }
    }
    const edge = find(objects, 'Deployment').spec.template.spec;
    const swarm = find(objects, 'StatefulSet').spec.template.spec;
    assert.equal(edge.automountServiceAccountToken, true);
    assert.equal(swarm.automountServiceAccountToken, true, 'swarms watch EndpointSlices too');
    assert.deepEqual(find(objects, 'Role').rules, [{ apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] }]);
    const binding = find(objects, 'RoleBinding');
    assert.deepEqual(binding.subjects.map((x: any) => x.name).sort(), [edge.serviceAccountName, swarm.serviceAccountName].sort());
    assert.notEqual(edge.serviceAccountName, swarm.serviceAccountName);
  });

  it('edges and swarms watch the same membership: the swarm Service\'s EndpointSlices, port grpc', () => {
    const objects = rendered.get('defaults')!;
    const service = ofKind(objects, 'Service').find((o: any) => o.spec.clusterIP === 'None')!;
    const envOf = (kind: string): Record<string, unknown> =>
      Object.fromEntries(find(objects, kind).spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
    for (const kind of ['Deployment', 'StatefulSet']) {
      const env = envOf(kind);
      assert.equal(env.TRACKER_CLUSTER__MEMBERSHIP, 'kubernetes', kind);
      assert.equal(env.TRACKER_CLUSTER__KUBERNETES_SERVICE, service.metadata.name, kind);
      assert.equal(env.TRACKER_CLUSTER__KUBERNETES_NAMESPACE, 'metadata.namespace', kind);
      assert.equal(env.TRACKER_CLUSTER__KUBERNETES_PORT_NAME, service.spec.ports[0].name, kind);
    }
  });

  it('drain: edges sleep in preStop while still ready, and the grace period covers preStop + drain delay + grace', () => {
    for (const [name, kubeVersion] of [['defaults', '1.31'], ['Kubernetes 1.29 (preStop without the sleep action)', '1.29']]) {
      const spec = find(rendered.get(name)!, 'Deployment').spec.template.spec;
      const preStop = spec.containers[0].lifecycle.preStop;
      if (kubeVersion === '1.31') assert.deepEqual(preStop, { sleep: { seconds: 10 } });
      else assert.deepEqual(preStop.exec.command, ['node', '-e', 'setTimeout(() => {}, 10000)']);
      assert.equal(spec.terminationGracePeriodSeconds, 10 + 5 + 10 + 5);
    }
    // The exec form's script is valid and ends by itself.
    const r = spawnSync(process.execPath, ['-e', 'setTimeout(() => {}, 100)'], { timeout: 5000 });
    assert.equal(r.status, 0);
    const swarm = find(rendered.get('defaults')!, 'StatefulSet').spec.template.spec;
    assert.equal(swarm.terminationGracePeriodSeconds, 5 + 10 + 30 + 5, 'a swarm: drain + grace + handoff deadline + 5');
  });

  it('a config change rolls edges and swarms; a change of labels only (a new chart version) does not, since every swarm roll is a handoff', () => {
    const checksums = (objects: KubeObject[]) => ['Deployment', 'StatefulSet'].map((kind) => find(objects, kind).spec.template.metadata.annotations['checksum/config']);
    const base = checksums(rendered.get('defaults')!);
    assert.deepEqual(checksums(renderChart({ set: { 'commonLabels.team': 'trackers' } })), base);
    const changed = checksums(renderChart({ set: { 'config.announce.intervalSeconds': '900' } }));
    assert.ok(changed.every((c, i) => c !== base[i]), 'positive control: config changed');
  });

  it('helm upgrade keeps the UDP key, the cluster token and the autoscalers\' replica counts (lookup, answered by an API server holding the installed release)', async () => {
    const autoscaled = { 'swarm.autoscaling.enabled': 'true', 'swarm.autoscaling.peersPerPod.provider': 'keda' };
    const installed = renderChart({ set: autoscaled });
    // The autoscalers have since moved the counts: edges to 5, swarms to 7.
    find(installed, 'Deployment').spec.replicas = 5;
    find(installed, 'StatefulSet').spec.replicas = 7;
    const api = await ChartLookupApi.start(installed);
    try {
      const upgraded = await renderChartAsync({ set: autoscaled, cluster: api.kubeconfigPath });
      for (const name of ['tracker-udp-key', 'tracker-cluster-token']) assert.deepEqual(find(upgraded, 'Secret', name).data, find(installed, 'Secret', name).data, name);
      assert.equal(find(upgraded, 'Deployment').spec.replicas, 5, 'the edge HPA\'s count is written back, not dropped (which would reset it to 1)');
      assert.equal(find(upgraded, 'StatefulSet').spec.replicas, 7, 'the swarm autoscaler\'s count is written back');
      assert.ok(api.requests.includes('/apis/apps/v1/namespaces/tracker/statefulsets/tracker-swarm'), api.requests.join(' '));
      // Turning autoscaling on for swarms keeps the count the chart had set.
      const fixed = await ChartLookupApi.start(renderChart({ set: { 'swarm.replicaCount': '4' } }));
      try {
        assert.equal(find(await renderChartAsync({ set: autoscaled, cluster: fixed.kubeconfigPath }), 'StatefulSet').spec.replicas, 4);
      } finally {
        await fixed.close();
      }
    } finally {
      await api.close();
    }
    // Positive control: a fresh install (nothing to look up) generates new secrets and leaves replicas to the autoscalers.
    const fresh = renderChart({ set: autoscaled });
    assert.notDeepEqual(find(fresh, 'Secret', 'tracker-udp-key').data, find(installed, 'Secret', 'tracker-udp-key').data);
    assert.equal(find(fresh, 'StatefulSet').spec.replicas, undefined);
  });

  it('handoff: swarms get swarm.handoffDeadlineSeconds, their grace period covers it, and they take gRPC from each other', () => {
    const spec = (name: string) => find(rendered.get(name)!, 'StatefulSet', 'tracker-swarm').spec.template.spec;
    const envOf = (name: string) => Object.fromEntries(spec(name).containers[0].env.map((e: any) => [e.name, e.value]));
    assert.equal(envOf('defaults').TRACKER_CLUSTER__HANDOFF_DEADLINE_SECONDS, '30');
    assert.equal(envOf('handoff deadline 12 s').TRACKER_CLUSTER__HANDOFF_DEADLINE_SECONDS, '12');
    assert.equal(spec('handoff deadline 12 s').terminationGracePeriodSeconds, 5 + 10 + 12 + 5);
    assert.equal(spec('no handoff').terminationGracePeriodSeconds, 5 + 10 + 5);
    assert.equal(envOf('no handoff').TRACKER_CLUSTER__HANDOFF_DEADLINE_SECONDS, '0');
    assert.equal(find(rendered.get('defaults')!, 'Deployment').spec.template.spec.containers[0].env.some((e: any) => e.name === 'TRACKER_CLUSTER__HANDOFF_DEADLINE_SECONDS'), false, 'edges hand nothing off');
    const objects = rendered.get('defaults')!;
    const swarmLabels = find(objects, 'StatefulSet', 'tracker-swarm').spec.template.metadata.labels;
    const edgeLabels = find(objects, 'Deployment').spec.template.metadata.labels;
    const policy = ofKind(objects, 'NetworkPolicy').find((n) => matchesLabels(n.spec.podSelector.matchLabels, swarmLabels))!;
    const grpcFrom = policy.spec.ingress.filter((rule: any) => rule.ports.some((p: any) => p.port === 'grpc')).flatMap((rule: any) => rule.from);
    assert.ok(grpcFrom.some((f: any) => matchesLabels(f.podSelector.matchLabels, edgeLabels)), 'edges reach swarms');
    assert.ok(grpcFrom.some((f: any) => matchesLabels(f.podSelector.matchLabels, swarmLabels)), 'swarms reach each other');
  });
});

describe('alert rules', () => {
  const rulesOf = (name: string): any[] => find(rendered.get(name)!, 'PrometheusRule').spec.groups.flatMap((g: any) => g.rules);
  const byName = (name: string): Map<string, any> => new Map(rulesOf(name).map((r) => [r.alert, r]));

  it('every alert has a severity, a summary, a description, and a section of docs/operations.md its runbook link points at', async () => {
    const { readFileSync } = await import('node:fs');
    const guide = readFileSync(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
    const sections = new Set([...guide.matchAll(/^### (Tracker\w+)$/gm)].map((m) => m[1]));
    const rules = rulesOf('snapshots with their own settings, alerts with a runbook URL');
    const names = rules.map((r) => r.alert);
    assert.equal(new Set(names).size, names.length, 'alert names are unique');
    for (const r of rules) {
      assert.ok(['critical', 'warning', 'info'].includes(r.labels.severity), r.alert);
      assert.ok(r.annotations.summary && r.annotations.description, r.alert);
      assert.equal(r.annotations.runbook_url, `https://wiki.example.com/tracker/operations#${r.alert.toLowerCase()}`);
      assert.ok(sections.has(r.alert), `docs/operations.md has no "### ${r.alert}" section`);
      // Several releases may share a Prometheus: every series an alert reads is this release's namespace.
      for (const m of String(r.expr).matchAll(/\b((?:tracker|nodejs|process)_[a-z0-9_]+|up)\{([^}]*)\}/g)) assert.match(m[2], /namespace="tracker"/, `${r.alert}: ${m[0]}`);
    }
    assert.deepEqual([...sections].filter((s) => !names.includes(s)), [], 'sections of docs/operations.md for alerts that do not exist');
    assert.equal(rulesOf('monitoring on (kube-prometheus-stack)')[0].annotations.runbook_url, undefined, 'no link without runbookUrl');
  });

  it('the issue\'s alerts are there: swarm down or unready, slots unowned, snapshot stale and failing, restore, handoff, ratios, stream storms, saturation', () => {
    const rules = byName('monitoring on (kube-prometheus-stack)');
    for (const alert of [
      'TrackerSwarmDown', 'TrackerSwarmsMissing', 'TrackerSwarmUnready', 'TrackerSlotsUnowned', 'TrackerSlotsOwnedTwice', 'TrackerSlotTablesDisagree',
      'TrackerSnapshotStale', 'TrackerSnapshotWritesFailing', 'TrackerSnapshotRestoreIncomplete', 'TrackerSnapshotRestoreSlow',
      'TrackerHandoffIncomplete', 'TrackerHandoffPeersUnsent', 'TrackerHandoffPending', 'TrackerHandoffCallsRefused',
      'TrackerUnavailableRatio', 'TrackerErrorRatio', 'TrackerStreamFlapping', 'TrackerEdgeSaturated', 'TrackerEdgeConnectionsNearLimit', 'TrackerSwarmSaturated',
    ]) assert.ok(rules.has(alert), alert);
    assert.equal(rules.get('TrackerSlotsUnowned').expr, 'sum by (namespace) (tracker_owned_slots{namespace="tracker", role="swarm"}) < 65536');
    // Stream storms are counted by the edge (every stream that failed), not sampled from the up/down gauge.
    assert.match(rules.get('TrackerStreamFlapping').expr, /increase\(tracker_swarm_stream_failures_total\{[^}]*\}\[10m\]\)\) > 4$/);
    // A Redis outage is the snapshot alerts' business, not a bug.
    assert.match(rules.get('TrackerInternalErrors').expr, /component!="redis"/);
  });

  it('snapshot thresholds follow the swarms\' snapshot settings', () => {
    const defaults = byName('monitoring on (kube-prometheus-stack)');
    assert.match(defaults.get('TrackerSnapshotStale').expr, /tracker_snapshot_age_seconds\{[^}]*\}\) > 120$/, '4 x the default 30 s interval');
    assert.match(defaults.get('TrackerSnapshotRestoreSlow').expr, /tracker_snapshot_restore_seconds\{[^}]*\}\) > 5\n/, 'half the default 10 s deadline');
    const set = byName('snapshots with their own settings, alerts with a runbook URL');
    assert.match(set.get('TrackerSnapshotStale').expr, /\) > 60$/, '3 x swarm.config.snapshot.intervalSeconds 20');
    assert.match(set.get('TrackerSnapshotStale').annotations.description, /3 x snapshot.intervalSeconds \(20 s\)/);
    assert.match(set.get('TrackerSnapshotRestoreSlow').expr, /\) > 20\n/, '0.5 x swarm.config.snapshot.restoreDeadlineSeconds 40');
  });
});

describe('PromQL: every expression the chart ships parses (prometheus-operator\'s webhook refuses a rule that does not; Grafana and KEDA show or scale on nothing)', () => {
  // Alerts and KEDA triggers for every value set, with the monitoring objects on.
  const renderedWithMonitoring = (): ChartQuery[] =>
    Object.entries(VALUE_SETS).flatMap(([name, options]) => renderedQueries(renderChart({ ...options, set: { ...options.set, ...ALL_MONITORING } }), `values "${name}"`));

  it('alert rules and KEDA queries for every value set, dashboard targets with Grafana\'s variables substituted, the README\'s prometheus-adapter rules', () => {
    const queries = [...renderedWithMonitoring(), ...dashboardQueries(), ...adapterQueries()];
    const count = (file: string) => queries.filter((q) => q.file.endsWith(file)).length;
    // Every source is there: a collector that silently finds nothing would pass anything.
    assert.ok(count('_alerts.tpl') >= 20 * Object.keys(VALUE_SETS).length, `${count('_alerts.tpl')} alert expressions`);
    assert.ok(count('edge-scaledobject.yaml') >= 1 && count('swarm-scaledobject.yaml') >= 1, 'KEDA triggers of both roles');
    assert.ok(count('dashboard.json') > 50, `${count('dashboard.json')} dashboard expressions`);
    assert.ok(count('README.md') >= 4, 'two adapter rules, seriesQuery and metricsQuery each');
    assert.deepEqual(queries.flatMap(promqlProblems), []);
  });

  it('a broken expression is reported with its file, its rule or panel, and the position (positive control)', () => {
    const objects = structuredClone(rendered.get('snapshots with their own settings, alerts with a runbook URL')!);
    const rule = find(objects, 'PrometheusRule').spec.groups[0].rules[0];
    rule.expr = 'sum by (namespace) (rate(tracker_requests_total{namespace="tracker"}[5m])\n  > 0';
    const [broken] = renderedQueries(objects, 'values "x"').flatMap(promqlProblems);
    assert.match(broken, new RegExp(`^charts/tracker/templates/_alerts.tpl: values "x", group tracker.availability, alert ${rule.alert}: parse error at 2:`));
    // A Grafana variable the dashboard does not define, and a function Prometheus does not have.
    const panel = { file: 'charts/tracker/files/dashboard.json', where: 'panel 1 "Requests/s" target A', scoped: true };
    const unknownVariable = promqlProblems({ ...panel, expr: grafanaInterpolate('sum(rate(tracker_requests_total{pod=~"$pod"}[$__rate_interval]))', [{ name: 'namespace', type: 'query' }]) });
    assert.match(unknownVariable[0], /dashboard.json: panel 1 "Requests\/s" target A: \$pod at 1:39 is not a variable/);
    assert.match(promqlProblems({ ...panel, expr: 'sum(rates(tracker_requests_total{}[5m]))' })[0], /parse error at 1:/);
    // What the grammar takes but Prometheus refuses: rate() of an instant vector.
    assert.match(promqlProblems({ ...panel, expr: 'sum(rate(tracker_requests_total{}))' })[0], /rate\(\) at 1:5 needs a range vector/);
    assert.deepEqual(promqlProblems({ ...panel, expr: 'quantile_over_time(0.9, rate(tracker_requests_total{}[5m])[1h:1m])' }), [], 'a subquery is a range vector');
    // Substituted, the same target parses.
    assert.deepEqual(promqlProblems({ ...panel, expr: grafanaInterpolate('sum(rate(tracker_requests_total{namespace=~"$namespace"}[$__rate_interval]))', [{ name: 'namespace', type: 'query' }]) }), []);
  });
});

describe('snapshots (redis)', () => {
  const env = (objects: KubeObject[]): any[] => find(objects, 'StatefulSet', 'tracker-swarm').spec.template.spec.containers[0].env;
  const named = (objects: KubeObject[], variable: string): any => env(objects).find((e: any) => e.name === variable);

  it('off by default: no Redis variable, no Redis objects, no member list on swarms', () => {
    const objects = rendered.get('defaults')!;
    assert.equal(named(objects, 'TRACKER_SNAPSHOT__REDIS_URL'), undefined);
    assert.equal(named(objects, 'TRACKER_CLUSTER__MEMBERS'), undefined);
    assert.deepEqual(objects.filter((o) => o.metadata.name.endsWith('-redis')), []);
  });

  it('a URL goes to the swarms through a Secret of the chart (it may carry a password), never through the ConfigMap', () => {
    const objects = rendered.get('snapshots to a Redis URL')!;
    const ref = named(objects, 'TRACKER_SNAPSHOT__REDIS_URL').valueFrom.secretKeyRef;
    assert.equal(Buffer.from(find(objects, 'Secret', ref.name).data[ref.key], 'base64').toString(), REDIS_URL);
    for (const cm of ofKind(objects, 'ConfigMap')) assert.ok(!JSON.stringify(cm.data).includes('s3cret'), `${cm.metadata.name} holds the password`);
    assert.equal(find(objects, 'Deployment').spec.template.spec.containers[0].env.some((e: any) => e.name.startsWith('TRACKER_SNAPSHOT')), false, 'edges do not snapshot');
    const existing = rendered.get('snapshots to a Redis URL from an existing Secret')!;
    assert.deepEqual(named(existing, 'TRACKER_SNAPSHOT__REDIS_URL').valueFrom.secretKeyRef, { name: 'my-redis', key: 'uri' });
    assert.equal(ofKind(existing, 'Secret').filter((x) => x.metadata.name.endsWith('-redis')).length, 0);
  });

  it('the grace period covers the final snapshot write (snapshot.shutdownDeadlineSeconds)', () => {
    const spec = (name: string) => find(rendered.get(name)!, 'StatefulSet', 'tracker-swarm').spec.template.spec;
    assert.equal(spec('snapshots to a Redis URL').terminationGracePeriodSeconds, 5 + 10 + 30 + 8 + 5);
    assert.equal(spec('snapshots to the bundled Redis').terminationGracePeriodSeconds, 5 + 10 + 30 + 5 + 5);
  });

  it('the bundled Redis: one pod without persistence, refusing writes when full, reachable from the swarms only', () => {
    const objects = rendered.get('snapshots to the bundled Redis')!;
    const sts = find(objects, 'StatefulSet', 'tracker-redis');
    const c = sts.spec.template.spec.containers[0];
    assert.equal(sts.spec.replicas, 1);
    assert.deepEqual(c.args, ['redis-server', '--save', '', '--appendonly', 'no', '--maxmemory', '256mb', '--maxmemory-policy', 'noeviction']);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    const svc = find(objects, 'Service', 'tracker-redis');
    assert.equal(named(objects, 'TRACKER_SNAPSHOT__REDIS_URL').value, `redis://${svc.metadata.name}.tracker.svc:${svc.spec.ports[0].port}`);
    assert.ok(matchesLabels(svc.spec.selector, sts.spec.template.metadata.labels));
    const policy = find(objects, 'NetworkPolicy', 'tracker-redis');
    assert.ok(matchesLabels(policy.spec.podSelector.matchLabels, sts.spec.template.metadata.labels));
    const from = policy.spec.ingress[0].from[0].podSelector.matchLabels;
    assert.ok(matchesLabels(from, find(objects, 'StatefulSet', 'tracker-swarm').spec.template.metadata.labels), 'swarms may connect');
    assert.ok(!matchesLabels(from, find(objects, 'Deployment').spec.template.metadata.labels), 'edges may not');
    // The swarm PDB and Service do not take the Redis pod for a swarm.
    for (const o of [...ofKind(objects, 'PodDisruptionBudget'), ...ofKind(objects, 'Service').filter((x) => x.metadata.name !== 'tracker-redis')]) {
      const selector = o.spec.selector.matchLabels ?? o.spec.selector;
      assert.ok(!matchesLabels(selector, sts.spec.template.metadata.labels), `${o.kind}/${o.metadata.name} selects the Redis pod`);
    }
  });
});

describe('what the chart gives the tracker is what the tracker reads', () => {
  // The variables `tracker --print-config` documents, read from the command itself.
  const printed = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'services', 'tracker', 'main.js'), '--print-config'], { encoding: 'utf8', timeout: 30_000 });
  const CONFIG_ENV = new Set([...printed.stdout.matchAll(/env (TRACKER_[A-Z0-9_]+);/g)].map((m) => m[1]));

  it('--print-config lists every config key with its variable (the list checked against)', () => {
    assert.equal(printed.status, 0, printed.stderr);
    assert.deepEqual([...CONFIG_ENV].sort(), configKeys().map((k) => k.env).sort());
  });

  it('every TRACKER_* variable is a config key; args are tracker commands; the config files load with the env', () => {
    for (const [name, objects] of rendered) {
      for (const { owner, spec } of podTemplates(objects).filter((p) => p.owner.kind !== 'Pod' && p.labels['app.kubernetes.io/component'] !== 'redis')) {
        const c = spec.containers[0];
        const where = `${name}: ${owner.metadata.name}`;
        assert.deepEqual(c.args, [c.name], `${where}: the container named after its role runs that command`);
        assert.ok(['edge', 'swarm'].includes(c.args[0]));
        for (const e of c.env) if (e.name.startsWith('TRACKER_') && e.name !== 'TRACKER_CONFIG') assert.ok(CONFIG_ENV.has(e.name), `${where}: ${e.name} is not a config key`);

        // The tracker's own loader, given the env and the ConfigMap as the pod has them.
        const dir = mkdtempSync(join(tmpdir(), 'chart-config-'));
        try {
          const configMap = find(objects, 'ConfigMap', spec.volumes.find((v: any) => v.name === 'config').configMap.name);
          writeProjectedVolume(join(dir, 'config'), configMap.data);
          writeFileSync(join(dir, 'list.txt'), '');
          // The TLS Secret's files (the loader checks they can be read; their contents are the tracker's business at start).
          writeProjectedVolume(join(dir, 'cluster-tls'), { 'tls.crt': 'crt', 'tls.key': 'key', 'ca.crt': 'ca' });
          // The database password Secret's file (database.passwordFile must exist), under the key the values name.
          writeProjectedVolume(join(dir, 'database'), { [VALUE_SETS[name].set?.['databasePassword.secretKey'] ?? 'password']: 'pw' });
          const env: NodeJS.ProcessEnv = {};
          for (const e of c.env) {
            if (e.value !== undefined) env[e.name] = String(e.value).replace('/etc/tracker/config', join(dir, 'config')).replace('/etc/tracker/access-list/list.txt', join(dir, 'list.txt')).replace('/etc/tracker/cluster-tls', join(dir, 'cluster-tls')).replace('/etc/tracker/database', join(dir, 'database'));
            else if (e.valueFrom.fieldRef) env[e.name] = e.valueFrom.fieldRef.fieldPath === 'metadata.name' ? `${owner.metadata.name}-0` : 'tracker';
            else if (e.valueFrom.secretKeyRef) {
              // What the Secret holds when the chart made it; a plausible value for one of the user's.
              const made = ofKind(objects, 'Secret').find((x) => x.metadata.name === e.valueFrom.secretKeyRef.name);
              env[e.name] = made ? Buffer.from(made.data[e.valueFrom.secretKeyRef.key], 'base64').toString() : e.name === 'TRACKER_SNAPSHOT__REDIS_URL' ? 'redis://redis.example:6379' : 'ab'.repeat(32);
            }
          }
          const loaded = loadConfig({ argv: c.args, env });
          assert.deepEqual(loaded.warnings, [], where);
          assert.equal(loaded.positionals[0], c.args[0]);
          const ports = new Map<string, number>(c.ports.map((p: any) => [p.name, p.containerPort]));
          assert.equal(loaded.config.metrics.port, ports.get('metrics'), `${where}: metrics.port = the metrics container port`);
          if (c.name === 'edge') {
            assert.equal(loaded.config.port, ports.get('tracker-udp'));
            assert.equal(loaded.config.port, ports.get('tracker-tcp'));
            assert.equal(loaded.config.cluster.membership, 'kubernetes');
            const swarms = ofKind(objects, 'StatefulSet').find((o) => o.spec.template.metadata.labels['app.kubernetes.io/component'] === 'swarm')!;
            assert.equal(loaded.config.cluster.kubernetesService, swarms.spec.serviceName);
            const swarmService = find(objects, 'Service', loaded.config.cluster.kubernetesService);
            assert.ok(swarmService.spec.ports.some((p: any) => p.name === loaded.config.cluster.kubernetesPortName));
          } else {
            assert.equal(loaded.config.swarm.grpcPort, ports.get('grpc'));
            assert.equal(loaded.config.snapshot.redisUrl !== '', name.startsWith('snapshots'), `${where}: snapshots on exactly when redis is set`);
            if (name === 'snapshots to a Redis URL') assert.equal(loaded.config.snapshot.redisUrl, REDIS_URL);
          }
          const made = ofKind(objects, 'Secret').find((x) => x.metadata.name.endsWith('-cluster-token'));
          const token = made ? Buffer.from(made.data.token, 'base64').toString() : name === 'no cluster token' ? '' : 'ab'.repeat(32);
          assert.equal(loaded.config.cluster.authToken, token, `${where}: the cluster token reaches both roles`);
          const tls = loaded.config.cluster.tls;
          if (name.startsWith('mutual TLS')) {
            const mounted = c.volumeMounts.find((m: any) => m.name === 'cluster-tls').mountPath;
            assert.deepEqual([tls.certFile, tls.keyFile, tls.caFile], ['tls.crt', 'tls.key', 'ca.crt'].map((f) => join(dir, 'cluster-tls', f)), `${where}: the files of the mounted Secret`);
            assert.equal(mounted, '/etc/tracker/cluster-tls');
            assert.equal(tls.serverName, '{name}.tracker-swarm.tracker.svc', `${where}: edges verify swarms, swarms each other, by the swarm pod's DNS name`);
            assert.equal(tls.edgeName, c.name === 'swarm' ? '{id}.tracker-edge.tracker.svc' : '{id}', where);
          } else assert.deepEqual([tls.certFile, tls.keyFile, tls.caFile], ['', '', ''], `${where}: no TLS unless clusterTls.enabled`);
          if (name.startsWith('allow list')) {
            assert.equal(loaded.config.announce.intervalSeconds, 900, 'config reaches both roles');
            assert.equal(loaded.config.http.maxScrapeHashes, c.name === 'edge' ? 50 : 100, 'edge.config reaches edges only');
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  });

  it('the loader does refuse a variable that is not a config key (positive control)', () => {
    assert.throws(() => loadConfig({ argv: ['edge'], env: { TRACKER_CLUSTER__KUBERNETES_SERVICE_NAME: 'x' } }), /unknown key/);
  });

  it('the access list ConfigMap holds the listed hashes, one per line, in the file format the edges parse', async () => {
    const { parseAccessListText } = await import('../../services/edge/access-list.js');
    const cm = find(rendered.get('allow list, no autoscaling, ClusterIP, no network policy')!, 'ConfigMap', 'tracker-access-list');
    const parsed = parseAccessListText(cm.data['list.txt']);
    assert.ok(parsed.ok);
    assert.equal(parsed.hashes.size, 2);
    const test = find(rendered.get('allow list, no autoscaling, ClusterIP, no network policy')!, 'Pod');
    assert.equal(test.spec.containers[0].env.find((e: any) => e.name === 'INFO_HASH').value, HASH_A, 'helm test announces a listed torrent');
  });
});

describe('the dashboard', () => {
  it('panels have unique ids, do not overlap, fit 24 columns, read the chosen data source and namespace, and cover what the issue asks for', async () => {
    const { readFileSync } = await import('node:fs');
    const dashboard = JSON.parse(readFileSync(join(CHART_DIR, 'files', 'dashboard.json'), 'utf8'));
    const ids = dashboard.panels.map((p: any) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const cells = new Map<string, number>();
    for (const p of dashboard.panels) {
      const { x, y, w, h } = p.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24, `panel ${p.id} "${p.title}" fits the 24 columns`);
      for (let i = x; i < x + w; i++) for (let j = y; j < y + h; j++) {
        const other = cells.get(`${i},${j}`);
        assert.equal(other, undefined, `panels ${other} and ${p.id} "${p.title}" overlap at ${i},${j}`);
        cells.set(`${i},${j}`, p.id);
      }
      if (p.type === 'row') continue;
      assert.equal(p.datasource.uid, '${datasource}', `panel ${p.id}`);
      const refIds = p.targets.map((t: any) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `panel ${p.id}: refIds are unique`);
      for (const t of p.targets) {
        assert.equal(t.datasource.uid, '${datasource}', `panel ${p.id} ${t.refId}`);
        for (const m of String(t.expr).matchAll(/\b[a-z_:][a-z0-9_:]*\{([^}]*)\}/g)) assert.match(m[1], /namespace=~"\$namespace"/, `panel ${p.id} "${p.title}": ${m[0]}`);
      }
    }
    const titles = dashboard.panels.map((p: any) => p.title);
    for (const row of ['Requests', 'Swarms', 'Slot ownership and edge <-> swarm streams', 'WebTorrent', 'Snapshots (Redis)', 'Slot handoff']) assert.ok(titles.includes(row), row);
    const used = new Set(dashboard.panels.flatMap((p: any) => (p.targets ?? []).flatMap((t: any) => [...String(t.expr).matchAll(/\b(tracker_[a-z0-9_]+)\{/g)].map((m) => m[1]))));
    for (const metric of [
      'tracker_owned_slots', 'tracker_moved_replies_sent_total', 'tracker_moved_reroutes_total',
      'tracker_snapshot_age_seconds', 'tracker_snapshot_last_pass_seconds', 'tracker_snapshot_bytes_written_total', 'tracker_snapshot_failures_total', 'tracker_snapshot_restore_seconds', 'tracker_snapshot_restored_peers_total',
      'tracker_handoff_slots_total', 'tracker_handoff_peers_total', 'tracker_handoff_last_seconds', 'tracker_handoff_failures_total', 'tracker_handoff_in_progress', 'tracker_handoff_pending_slots', 'tracker_handoff_unsent_peers_total',
    ]) assert.ok(used.has(metric), `no panel shows ${metric}`);
  });
});

describe('the chart README', () => {
  it('documents every value of values.yaml', async () => {
    const { readFileSync } = await import('node:fs');
    const YAML = (await import('yaml')).default;
    const readme = readFileSync(join(CHART_DIR, 'README.md'), 'utf8');
    const values = YAML.parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8'));
    // Maps whose keys are the user's (labels, resources, ...) count as one value.
    const opaque = /(resources|behavior|labels|Labels|annotations|Annotations|ecurityContext|nodeSelector|affinity|nodePorts|config)$/;
    const missing: string[] = [];
    const walk = (node: Record<string, unknown>, path: string): void => {
      for (const [key, value] of Object.entries(node)) {
        const here = path ? `${path}.${key}` : key;
        if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0 && !opaque.test(key)) walk(value as Record<string, unknown>, here);
        else if (!readme.includes(`\`${here}\``) && !readme.includes(`\`${path}.*\``)) missing.push(here);
      }
    };
    walk(values, '');
    assert.deepEqual(missing, []);
  });
});

describe('k8s/', () => {
  it('is what scripts/render-k8s.mjs generates from the chart (and values.schema.json too)', () => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'render-k8s.mjs'), '--check'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });

  it('plain manifests validate too, and carry no Secret (the key is created by hand, never committed)', async () => {
    const { readFileSync } = await import('node:fs');
    const { parseManifests } = await import('../support/chart.js');
    const objects = [...parseManifests(readFileSync(join(REPO_ROOT, 'k8s', 'tracker.yaml'), 'utf8')), ...parseManifests(readFileSync(join(REPO_ROOT, 'k8s', 'monitoring.yaml'), 'utf8'))];
    assert.deepEqual(objects.flatMap((o) => validateObject(o)), []);
    assert.equal(ofKind(objects, 'Secret').length, 0);
    assert.ok(objects.every((o) => !o.metadata.annotations?.['helm.sh/hook']), 'no helm test hook in plain manifests');
  });
});
