/**
 * Runs the rendered chart: each swarm and edge container of the rendered
 * StatefulSet and Deployment is started as a local process with its command,
 * args, env and mounted ConfigMaps/Secrets, on a loopback address of its
 * own, membership served by a fake API server from the swarms' readiness
 * (tests/support/chart-cluster.ts). The swarms snapshot to a private
 * redis-server through the chart's `redis.url` Secret, and hand slots off
 * (the chart's default), so their snapshot and handoff metrics exist; edges
 * and swarms prove themselves with the chart's generated token (its
 * default). Then a
 * real client (the npm bittorrent-tracker client) announces through the edge
 * port, the helm test pod's command passes against it, and every metric the
 * dashboard, the alert rules and the autoscalers use is one these processes
 * export.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { find, renderChart, tools, type KubeObject } from '../support/chart.js';
import { adapterQueries, dashboardQueries, metricSelectors, renderedQueries } from '../support/chart-promql.js';
import type { FakeKubectlState } from '../support/fake-kubectl.js';
import { LocalPod } from '../support/chart-pods.js';
import type { FakeKubeApi } from '../support/fake-kube-api.js';
import { ChartCluster, podMetrics, probeStatus, probeUrl, until, type PodNetwork } from '../support/chart-cluster.js';
import { metricIn } from '../support/cluster.js';
import { httpAnnounce } from '../support/clients/raw-tracker.js';
import { cleanupScope, REPO_ROOT } from '../support/tracker-process.js';
import { withTimeout } from '../support/integration-helpers.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { GrpcTransport, type StreamState } from '../../lib/transport/grpc/client.js';

const NS = 'tracker';
const DENIED = 'dd'.repeat(20);

interface TrackerClient extends EventEmitter {
  start(opts?: Record<string, unknown>): void;
  stop(opts?: Record<string, unknown>): void;
  destroy(cb?: (err?: unknown) => void): void;
}
type TrackerClientConstructor = new (opts: { infoHash: string; peerId: string; announce: string[]; port: number; getAnnounceOpts?: () => Record<string, unknown> }) => TrackerClient;
const CLIENT_SPECIFIER: string = 'bittorrent-tracker';
const Client = ((await import(CLIENT_SPECIFIER)) as { default: TrackerClientConstructor }).default;

describe('the rendered chart, run as local processes', () => {
  const t = { after: (fn: () => unknown) => cleanups.push(fn) };
  const cleanups: Array<() => unknown> = [];
  let scope: ReturnType<typeof cleanupScope>;
  let cluster: ChartCluster;
  let objects: KubeObject[];
  let api: FakeKubeApi;
  let workDir: string;
  let swarms: LocalPod[];
  let edge: LocalPod;
  let net: PodNetwork;
  let redis: RedisServer;

  before(async () => {
    scope = cleanupScope(t);
    redis = await startRedisServer(scope);
    cluster = await ChartCluster.start(scope, {
      namespace: NS,
      swarms: 2,
      set: {
        'accessList.mode': 'deny',
        'accessList.hashes[0]': DENIED,
        'metrics.podMonitor.enabled': 'true',
        'metrics.prometheusRule.enabled': 'true',
        'metrics.dashboard.enabled': 'true',
        'redis.url': redis.url,
        // Written within a second of an announce, so a test can see it arrive.
        'swarm.config.snapshot.intervalSeconds': '1',
      },
    });
    ({ objects, api, workDir, swarms, edge, net } = cluster);
  });

  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  it('every probe of every container answers 200 on the port and path the chart names', async () => {
    for (const pod of [edge, ...swarms]) {
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
        assert.equal(await probeStatus(pod, probe), 200, `${pod.options.podName} ${probe} ${probeUrl(pod, probe)}`);
      }
    }
    assert.ok(api.requests.some((p) => p === api.path), 'the edge listed the swarm Service EndpointSlices in its own namespace');
    // Every stream below is proven with the token: the same one in every pod, no stream refused.
    assert.deepEqual(new Set([edge, ...swarms].map((p) => p.env.TRACKER_CLUSTER__AUTH_TOKEN)).size, 1);
    assert.match(edge.env.TRACKER_CLUSTER__AUTH_TOKEN, /^[0-9a-f]{64}$/);
    for (const pod of swarms) assert.equal(metricIn(await podMetrics(pod), 'tracker_edge_streams_rejected_total', { reason: 'unauthenticated' }) ?? 0, 0);
  });

  it('the swarms build the edge\'s slot table from the same EndpointSlices and own every slot between them', async () => {
    const identity = metricIn(await podMetrics(edge), 'tracker_slot_table_identity');
    assert.ok(identity !== undefined && identity > 0);
    let owned: number[] = [];
    await until('both swarms on the edge\'s table', async () => {
      const texts = await Promise.all(swarms.map((s) => podMetrics(s).catch(() => '')));
      owned = texts.map((text) => metricIn(text, 'tracker_owned_slots') ?? -1);
      return texts.every((text) => metricIn(text, 'tracker_slot_table_identity') === identity);
    }, [edge, ...swarms]);
    assert.equal(owned[0] + owned[1], 65536, JSON.stringify(owned));
    assert.ok(owned.every((n) => n > 0), JSON.stringify(owned));
  });

  it('the chart\'s cluster token is enforced: a stream without its proof is refused, one with it is taken', async () => {
    const swarm = swarms[0];
    const openStream = async (authToken: string | undefined): Promise<{ state: StreamState; reason: string }> => {
      let last = { state: 'connecting' as StreamState, reason: '' };
      const transport = new GrpcTransport({
        name: swarm.options.podName,
        address: `${swarm.options.ip}:${swarm.port('grpc')}`,
        edgeId: `${authToken ? 'proven' : 'stranger'}-edge`,
        authToken,
        onStateChange: (state, reason) => {
          last = { state, reason };
        },
      });
      try {
        await until('the stream to settle', () => last.state === 'open' || last.state === 'down', [edge, ...swarms], 10_000);
        return last;
      } finally {
        await transport.close();
      }
    };
    const stranger = await openStream(undefined);
    assert.equal(stranger.state, 'down');
    assert.match(stranger.reason, /UNAUTHENTICATED/);
    assert.ok((metricIn(await podMetrics(swarm), 'tracker_edge_streams_rejected_total', { reason: 'unauthenticated' }) ?? 0) >= 1);
    assert.equal((await openStream(swarm.env.TRACKER_CLUSTER__AUTH_TOKEN)).state, 'open', 'positive control: the same stream with the token');
  });

  it('a real client announces through the edge port over UDP and HTTP and finds the other peer', async () => {
    const infoHash = Buffer.from(Array.from({ length: 20 }, (_, i) => 0x41 + i)).toString('hex');
    const clients: TrackerClient[] = [];
    try {
      const seeder = new Client({ infoHash, peerId: Buffer.from('-SE0001-seeder000000').toString('hex'), announce: [`udp://${net.ips[0]}:${net.tracker}`], port: 51001, getAnnounceOpts: () => ({ left: 0 }) });
      clients.push(seeder);
      const seeded = withTimeout(new Promise<any>((resolve) => seeder.once('update', resolve)), 10_000, 'the UDP seeder announce');
      seeder.on('warning', (e: Error) => assert.fail(`udp: ${e.message}`));
      seeder.start();
      assert.equal((await seeded).complete, 1);

      const leecher = new Client({ infoHash, peerId: Buffer.from('-LE0001-leecher00000').toString('hex'), announce: [`http://${net.ips[0]}:${net.tracker}/announce`], port: 51002, getAnnounceOpts: () => ({ left: 100 }) });
      clients.push(leecher);
      const peer = withTimeout(new Promise<string>((resolve) => leecher.once('peer', resolve)), 10_000, 'the seeder as a peer over HTTP');
      const updated = withTimeout(new Promise<any>((resolve) => leecher.once('update', resolve)), 10_000, 'the HTTP leecher announce');
      leecher.on('warning', (e: Error) => assert.fail(`http: ${e.message}`));
      leecher.start();
      assert.deepEqual([(await updated).complete, (await updated).incomplete], [1, 1]);
      assert.equal(await peer, '127.0.0.1:51001');
    } finally {
      for (const c of clients) c.destroy();
    }
  });

  it('with redis.url the swarms restore before ready and write the announced torrent\'s slot to Redis', async () => {
    const infoHash = Buffer.alloc(20, 0x5c);
    const announced = await httpAnnounce(`http://${net.ips[0]}:${net.tracker}/announce`, { infoHash, peerId: Buffer.alloc(20, 3), port: 51005, left: 1 });
    assert.equal(announced.failure, undefined, JSON.stringify(announced));
    await until('the slot 5c5c written to Redis', async () => (await redis.command('EXISTS', 'tracker:slot:5c5c')).startsWith(':1'), [edge, ...swarms]);
    for (const pod of swarms) {
      const text = await podMetrics(pod);
      assert.equal(metricIn(text, 'tracker_snapshot_failures_total', { op: 'read' }), 0, pod.options.podName);
      assert.ok((metricIn(text, 'tracker_snapshot_passes_total', { result: 'complete' }) ?? 0) > 0, `${pod.options.podName} completed no snapshot pass`);
    }
  });

  it('the access list from the chart is enforced (deny mode, the listed hash is refused)', async () => {
    const denied = await httpAnnounce(`http://${net.ips[0]}:${net.tracker}/announce`, { infoHash: Buffer.from(DENIED, 'hex'), peerId: Buffer.alloc(20, 7), port: 51003, left: 1 });
    assert.match(String(denied.failure ?? ''), /not (allowed|served|permitted)|denied|refused/i, JSON.stringify(denied));
  });

  it('the helm test pod\'s command passes against the edge', async () => {
    const testPod = find(objects, 'Pod');
    const edgeService = find(objects, 'Service', find(objects, 'Deployment').metadata.name);
    const pod = new LocalPod({
      objects,
      podSpec: testPod.spec,
      podName: testPod.metadata.name,
      namespace: NS,
      ip: '127.0.0.1',
      workDir,
      // Cluster DNS and kube-proxy: the Service name is the edge pod, the Service port its target port.
      resolve: (name, value) => {
        if (name === 'TARGET_HOST') {
          assert.equal(value, `${edgeService.metadata.name}.${NS}.svc`);
          return net.ips[0];
        }
        if (name === 'TARGET_PORT') {
          const port = edgeService.spec.ports.find((p: any) => String(p.port) === value && p.protocol === 'UDP');
          assert.ok(port, `TARGET_PORT ${value} is a port of the edge Service`);
          return String(edge.port(port.targetPort));
        }
        return value;
      },
    }).start(scope);
    const result = await pod.waitExit(60_000);
    assert.deepEqual(result, { code: 0, signal: null }, pod.describe('the helm test failed'));
    assert.match(pod.output(), /PASSED/);
  });

  it('every metric in the dashboard, the alert rules, the KEDA queries and the adapter rules is exported by the running edge or swarms', async () => {
    const exported = new Set<string>(['up']); // `up` is Prometheus's own, one per scrape target
    for (const pod of [edge, ...swarms]) {
      for (const line of (await podMetrics(pod)).split('\n')) {
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
        if (m && !line.startsWith('#')) exported.add(m[1]);
        // A family declared with no sample yet (a labelled counter nothing has hit) is exported too.
        const declared = /^# TYPE (\S+) (\S+)/.exec(line);
        if (declared?.[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(declared[1] + suffix);
        else if (declared) exported.add(declared[1]);
      }
    }
    const keda = renderChart({ namespace: NS, set: { 'edge.autoscaling.requestsPerSecond.provider': 'keda', 'swarm.autoscaling.enabled': 'true', 'swarm.autoscaling.peersPerPod.provider': 'keda' } });
    // The rules as rendered for these processes' namespace, both KEDA triggers, the dashboard and its variable, the README's adapter rules.
    const queries = [...renderedQueries(objects, 'run-chart values'), ...renderedQueries(keda, 'KEDA values'), ...dashboardQueries(), ...adapterQueries()];
    const missing = new Set<string>();
    let used = 0;
    for (const query of queries) {
      // The names come from the parse tree's vector selectors: a query that does not parse is chart.test.ts's failure.
      for (const { name, hasMatchers } of metricSelectors(query.expr)) {
        // Several releases may share a Prometheus: every series a query reads carries a selector ({namespace...}).
        assert.ok(hasMatchers || !query.scoped, `${query.file}: ${query.where}: ${name} without a label selector in: ${query.expr}`);
        used++;
        if (!exported.has(name)) missing.add(`${name} (${query.file}: ${query.where})`);
      }
    }
    assert.ok(used > 100, `found only ${used} metric references: the extraction is broken`);
    assert.deepEqual([...missing], [], 'metrics used but not exported');
    // Positive control: a misspelt name is found (also in a range vector, a __name__ matcher and under `on`) and is not exported.
    assert.deepEqual(
      metricSelectors('sum(rate(tracker_request_total{namespace="x"}[5m])) / on() group({__name__="tracker_peer"}) * up{}').map((s) => [s.name, s.hasMatchers]),
      [['tracker_request_total', true], ['tracker_peer', true], ['up', true]],
    );
    assert.ok(!exported.has('tracker_request_total') && !exported.has('tracker_peer'));
    assert.deepEqual(metricSelectors('tracker_peers > 0').map((s) => s.hasMatchers), [false], 'a bare selector is told apart');
  });

  it('kubectl tracker reload-access-list: updates the ConfigMap, reloads every edge, reports each pod\'s list size', async () => {
    const deployment = find(objects, 'Deployment');
    const configMap = deployment.spec.template.spec.volumes.find((v: any) => v.name === 'access-list').configMap.name;
    const dir = mkdtempSync(join(tmpdir(), 'kubectl-tracker-'));
    scope.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'kubectl'), `#!/bin/sh\nexec "${process.execPath}" "${join(REPO_ROOT, 'dist', 'tests', 'support', 'fake-kubectl.js')}" "$@"\n`);
    chmodSync(join(dir, 'kubectl'), 0o755);
    const statePath = join(dir, 'state.json');
    const initial: FakeKubectlState = {
      namespace: NS,
      realKubectl: tools.kubectl,
      pods: [
        {
          name: edge.options.podName,
          ip: edge.options.ip,
          pid: edge.pid,
          labels: deployment.spec.template.metadata.labels,
          object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: edge.options.podName, labels: deployment.spec.template.metadata.labels }, spec: deployment.spec.template.spec },
          mounts: Object.fromEntries(edge.mounts),
          configMapVolumes: { [edge.volumeDir('access-list')]: configMap },
        },
      ],
      configMaps: { [configMap]: find(objects, 'ConfigMap', configMap).data },
      calls: [],
    };
    writeFileSync(statePath, JSON.stringify(initial));
    const plugin = (listFile: string) =>
      spawnSync('bash', [join(REPO_ROOT, 'bin', 'kubectl-tracker'), 'reload-access-list', '-f', listFile, '-n', NS, '--release', 'tracker', '--timeout', '30'], {
        encoding: 'utf8',
        timeout: 90_000,
        env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, FAKE_KUBECTL_STATE: statePath },
      });
    const state = (): FakeKubectlState => JSON.parse(readFileSync(statePath, 'utf8'));
    const announce = (hex: string) => httpAnnounce(`http://${net.ips[0]}:${net.tracker}/announce`, { infoHash: Buffer.from(hex, 'hex'), peerId: Buffer.alloc(20, 9), port: 51004, left: 1 });

    // A bad line: refused before anything is touched.
    const NEW = 'ee'.repeat(20);
    writeFileSync(join(dir, 'bad.txt'), `${NEW}\nnot-a-hash\n`);
    const refused = plugin(join(dir, 'bad.txt'));
    assert.equal(refused.status, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /line 2: not-a-hash/);
    assert.deepEqual(state().configMaps, initial.configMaps);
    assert.ok(!state().calls.some((c) => c.includes('exec')));

    // A good list (with a comment and a duplicate in other case): two hashes, DENIED no longer listed.
    const list = `# deny list\n${NEW}\n${NEW.toUpperCase()}  # the same hash\n${'ff'.repeat(20)}\n`;
    writeFileSync(join(dir, 'list.txt'), list);
    assert.match(String((await announce(NEW)).failure ?? ''), /^$/, 'NEW is served before the reload');
    const r = plugin(join(dir, 'list.txt'));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`${edge.options.podName}\\s+2\\s+reloaded`), r.stdout);
    assert.equal(state().configMaps[configMap]['list.txt'], list);
    assert.ok(state().calls.some((c) => c[0] === '--namespace' && c.includes('annotate')), 'the pod was annotated (kubelet sync)');
    assert.equal(metricIn(await podMetrics(edge), 'tracker_access_list_hashes'), 2);
    assert.ok((await announce(NEW)).failure, 'NEW is now denied');
    assert.equal((await announce(DENIED)).failure, undefined, 'DENIED is now served');
  });

  it('SIGTERM: every process drains and exits 0', async () => {
    cluster.stopPublishing();
    const results = await Promise.all([edge, ...swarms].map((p) => p.stop()));
    for (const [i, r] of results.entries()) assert.deepEqual(r, { code: 0, signal: null }, [edge, ...swarms][i].describe('unclean exit'));
  });
});
