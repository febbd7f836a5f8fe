/**
 * KubernetesMembership against a fake API server on 127.0.0.1 that answers
 * list and watch (NDJSON streaming) for discovery.k8s.io/v1 EndpointSlices,
 * the way @kubernetes/client-node's own tests fake the API server.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { V1Endpoint, V1EndpointSlice } from '@kubernetes/client-node';
import { KubeConfig } from '@kubernetes/client-node';
import { GuardedWatch, KubernetesMembership, type KubernetesMembershipOptions } from '../../../lib/cluster/membership/kubernetes.js';
import { membershipFromEndpointSlices } from '../../../lib/cluster/membership/endpoint-slices.js';
import type { Member } from '../../../lib/cluster/membership/types.js';
import { m, membershipConformance, recordChanges, sleep, waitForSnapshot } from '../../support/membership-conformance.js';
import { eventually } from '../../support/waiting.js';

const NS = 'tracker';
const SERVICE = 'swarm';
const PATH = `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`;
const TIMEOUT = 3000;

// ---------------------------------------------------------------- fake API server

interface Watcher {
  res: ServerResponse;
  selector: Record<string, string>;
}

interface RequestRecord {
  at: number;
  watch: boolean;
  query: URLSearchParams;
  auth: string | undefined;
}

type Slice = V1EndpointSlice & { metadata: { name: string; namespace: string; resourceVersion?: string; labels: Record<string, string> } };

function parseSelector(s: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (s ?? '').split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    out[k] = v ?? '';
  }
  return out;
}

function matches(obj: Slice, sel: Record<string, string>): boolean {
  return Object.entries(sel).every(([k, v]) => obj.metadata.labels?.[k] === v);
}

interface SliceOptions {
  port?: number;
  portName?: string;
  addressType?: string;
  service?: string;
  extraPorts?: Array<{ name: string; port: number }>;
}

/** An EndpointSlice the way the EndpointSlice controller writes one. */
function makeSlice(name: string, rv: number, endpoints: V1Endpoint[], opts: SliceOptions = {}): Slice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: NS,
      resourceVersion: String(rv),
      labels: { 'kubernetes.io/service-name': opts.service ?? SERVICE, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: opts.addressType ?? 'IPv4',
    endpoints,
    ports: [...(opts.extraPorts ?? []).map((p) => ({ ...p, protocol: 'TCP' })), { name: opts.portName ?? 'grpc', port: opts.port ?? 7000, protocol: 'TCP' }],
  };
}

class FakeKubeApi {
  readonly server: Server;
  port = 0;
  rv = 100;
  /** Watches from a resourceVersion older than this get a 410 (compaction). */
  compactedRv = 0;
  readonly slices = new Map<string, Slice>();
  private readonly history: Array<{ rv: number; type: string; object: Slice }> = [];
  readonly watchers = new Set<Watcher>();
  readonly requests: RequestRecord[] = [];
  /** Fault injection. */
  failLists = 0;
  failListStatus = 500;
  failWatches = 0;
  failWatchStatus = 500;
  listDelayMs = 0;
  abortedLists = 0;
  /** When true, live events are not delivered to open watches (a stalled watch). */
  stalled = false;
  private dir = mkdtempSync(join(tmpdir(), 'fake-kube-'));
  kubeconfigPath = join(this.dir, 'kubeconfig');

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    writeFileSync(
      this.kubeconfigPath,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: fake',
        '  cluster:',
        `    server: http://127.0.0.1:${this.port}`,
        '    insecure-skip-tls-verify: true',
        'users:',
        '- name: fake',
        '  user:',
        '    token: fake-token',
        'contexts:',
        '- name: fake',
        '  context:',
        '    cluster: fake',
        '    user: fake',
        `    namespace: ${NS}`,
        'current-context: fake',
        '',
      ].join('\n'),
    );
    return this;
  }

  async close(): Promise<void> {
    this.closeWatches();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  get watchRequests(): number {
    return this.requests.filter((r) => r.watch).length;
  }

  get listRequests(): number {
    return this.requests.filter((r) => !r.watch).length;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    this.requests.push({ at: Date.now(), watch, query: url.searchParams, auth: req.headers.authorization });
    if (req.method !== 'GET' || url.pathname !== PATH) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound' }));
      return;
    }
    const selector = parseSelector(url.searchParams.get('labelSelector'));
    if (watch) this.serveWatch(url, selector, res);
    else void this.serveList(selector, res);
  }

  private status(res: ServerResponse, code: number, reason: string): void {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: reason, reason, code }));
  }

  private async serveList(selector: Record<string, string>, res: ServerResponse): Promise<void> {
    if (this.listDelayMs > 0) await sleep(this.listDelayMs);
    if (res.destroyed) {
      this.abortedLists++; // the client gave up (aborted) before we answered
      return;
    }
    if (this.failLists > 0) {
      this.failLists--;
      return this.status(res, this.failListStatus, this.failListStatus === 403 ? 'Forbidden' : 'InternalError');
    }
    const items = [...this.slices.values()].filter((s) => matches(s, selector));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(this.rv) }, items }));
  }

  private serveWatch(url: URL, selector: Record<string, string>, res: ServerResponse): void {
    if (this.failWatches > 0) {
      this.failWatches--;
      return this.status(res, this.failWatchStatus, this.failWatchStatus === 410 ? 'Expired' : 'InternalError');
    }
    const from = Number(url.searchParams.get('resourceVersion') || '0');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (from < this.compactedRv) {
      // What the API server does for a too-old resourceVersion on a watch.
      res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.compactedRv})`, reason: 'Expired', code: 410 } }) + '\n');
      return;
    }
    for (const ev of this.history) {
      if (ev.rv > from && matches(ev.object, selector)) res.write(JSON.stringify({ type: ev.type, object: ev.object }) + '\n');
    }
    const w: Watcher = { res, selector };
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
  }

  private publish(type: string, object: Slice): void {
    this.history.push({ rv: this.rv, type, object });
    if (this.stalled) return;
    for (const w of this.watchers) {
      if (matches(object, w.selector)) w.res.write(JSON.stringify({ type, object }) + '\n');
    }
  }

  /** Creates or replaces a slice (ADDED / MODIFIED). */
  put(name: string, endpoints: V1Endpoint[], opts: SliceOptions = {}): void {
    this.rv++;
    const existed = this.slices.has(name);
    const slice = makeSlice(name, this.rv, endpoints, opts);
    this.slices.set(name, slice);
    this.publish(existed ? 'MODIFIED' : 'ADDED', slice);
  }

  delete(name: string): void {
    const old = this.slices.get(name);
    if (!old) return;
    this.rv++;
    this.slices.delete(name);
    this.publish('DELETED', { ...old, metadata: { ...old.metadata, resourceVersion: String(this.rv) } });
  }

  /** The server ends every open watch (as on its timeout or a restart). */
  closeWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** Drops history so watches from older resourceVersions get 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
  }
}

/** An endpoint the way the EndpointSlice controller writes it for a pod. */
function ep(pod: string, ip: string, cond: { ready?: boolean; serving?: boolean; terminating?: boolean } | null = { ready: true, serving: true, terminating: false }, withTargetRef = true): V1Endpoint {
  return {
    addresses: [ip],
    ...(cond === null ? {} : { conditions: cond }),
    hostname: pod,
    ...(withTargetRef ? { targetRef: { kind: 'Pod', name: pod, namespace: NS, uid: `uid-${pod}` } } : {}),
  };
}

const READY = { ready: true, serving: true, terminating: false };
const NOT_READY = { ready: false, serving: false, terminating: false };
const DRAINING = { ready: false, serving: true, terminating: true };
const GONE = { ready: false, serving: false, terminating: true };

const servers: FakeKubeApi[] = [];
const providers: KubernetesMembership[] = [];
after(async () => {
  for (const p of providers) await p.stop();
  for (const s of servers) await s.close();
});

async function fakeApi(): Promise<FakeKubeApi> {
  const api = await new FakeKubeApi().listen();
  servers.push(api);
  return api;
}

const FAST: Partial<KubernetesMembershipOptions> = {
  debounceMs: 30,
  restartBackoffMs: 20,
  restartBackoffMaxMs: 100,
  minWatchIntervalMs: 10,
  syncTimeoutMs: 5000,
  relistIntervalMs: 0,
};

function provider(api: FakeKubeApi, opts: Partial<KubernetesMembershipOptions> = {}): KubernetesMembership {
  const p = new KubernetesMembership({ namespace: NS, service: SERVICE, portName: 'grpc', kubeconfigPath: api.kubeconfigPath, ...FAST, ...opts });
  providers.push(p);
  return p;
}

const names = (ms: readonly Member[]): string[] => ms.map((x) => x.name);

async function until(cond: () => boolean, what: string, timeoutMs = TIMEOUT): Promise<void> {
  await eventually(cond, timeoutMs, what, 5);
}

// ---------------------------------------------------------------- pure rules

test('rules: ready/serving/terminating, nil conditions, targetRef/hostname, ports by name', () => {
  const s1 = makeSlice('s1', 1, [
    ep('swarm-0', '10.0.0.10', READY),
    ep('swarm-1', '10.0.0.11', NOT_READY),
    ep('swarm-2', '10.0.0.12', DRAINING),
    ep('swarm-3', '10.0.0.13', GONE),
    ep('swarm-4', '10.0.0.14', null), // no conditions at all: nil ready = ready
    ep('swarm-5', '10.0.0.15', { ready: true, serving: false, terminating: false }), // publishNotReadyAddresses, pod not ready
    ep('swarm-6', '10.0.0.16', { ready: true, serving: true, terminating: true }), // publishNotReadyAddresses, terminating
    ep('swarm-7', '10.0.0.17', { ready: true }), // serving defers to ready; terminating nil = false
    ep('swarm-8', '10.0.0.18', READY, false), // no targetRef: hostname
    { addresses: ['10.0.0.19'], conditions: READY }, // no identity: skipped
  ], { extraPorts: [{ name: 'metrics', port: 9100 }], port: 7001 });
  const s2 = makeSlice('s2', 2, [ep('other-0', '10.0.1.1')], { portName: 'http' }); // no grpc port: skipped
  const r = membershipFromEndpointSlices([s1, s2], { portName: 'grpc' });
  assert.deepEqual(r.members, [m('swarm-0', '10.0.0.10:7001'), m('swarm-4', '10.0.0.14:7001'), m('swarm-7', '10.0.0.17:7001'), m('swarm-8', '10.0.0.18:7001')]);
  assert.deepEqual(r.draining, [m('swarm-2', '10.0.0.12:7001'), m('swarm-6', '10.0.0.16:7001')]);
  assert.equal(r.skipped.length, 2);
  const s3 = makeSlice('s3', 3, [ep('x-0', '10.0.2.1')], { portName: '' });
  assert.deepEqual(membershipFromEndpointSlices([s3], { portName: '' }).members, [m('x-0', '10.0.2.1:7000')]);
});

test('rules: dedupe by pod name across slices, order-independent', () => {
  const slices = [
    makeSlice('a', 1, [ep('swarm-0', '10.0.0.10'), ep('swarm-1', '10.0.0.11')]),
    makeSlice('b', 2, [ep('swarm-1', '10.0.0.11'), ep('swarm-2', '10.0.0.12')]), // swarm-1 in two slices
    makeSlice('v6', 3, [ep('swarm-0', 'fd00::10'), ep('swarm-3', 'fd00::13')], { addressType: 'IPv6' }),
    // Stale copy: swarm-2 also appears not ready in another slice (any ready copy wins) ...
    makeSlice('c', 4, [ep('swarm-2', '10.0.0.12', NOT_READY), ep('swarm-4', '10.0.0.14', READY)]),
    // ... but terminating anywhere wins over a ready copy.
    makeSlice('d', 5, [ep('swarm-4', '10.0.0.14', DRAINING)]),
  ];
  const expectMembers = [m('swarm-0', '10.0.0.10:7000'), m('swarm-1', '10.0.0.11:7000'), m('swarm-2', '10.0.0.12:7000'), m('swarm-3', '[fd00::13]:7000')];
  const r = membershipFromEndpointSlices(slices, { portName: 'grpc' });
  assert.deepEqual(r.members, expectMembers);
  assert.deepEqual(r.draining, [m('swarm-4', '10.0.0.14:7000')]);
  assert.deepEqual(membershipFromEndpointSlices([...slices].reverse(), { portName: 'grpc' }).members, expectMembers);
  assert.deepEqual(membershipFromEndpointSlices(slices, { portName: 'grpc', addressType: 'IPv6' }).members, [m('swarm-0', '[fd00::10]:7000'), m('swarm-3', '[fd00::13]:7000')]);
});

// ---------------------------------------------------------------- against the fake API server

test('initial list, then a watch from its resourceVersion, with the label selector and token', async () => {
  const api = await fakeApi();
  api.put('swarm-abc', [ep('swarm-0', '10.0.0.10'), ep('swarm-1', '10.0.0.11')]);
  api.put('other-xyz', [ep('web-0', '10.0.9.9')], { service: 'web' });
  const p = provider(api);
  await p.start();
  assert.deepEqual(p.members(), [m('swarm-0', '10.0.0.10:7000'), m('swarm-1', '10.0.0.11:7000')]);
  assert.deepEqual(p.draining(), []);
  await until(() => api.watchers.size === 1, 'a watch');
  const [list, watch] = api.requests;
  assert.equal(list.watch, false);
  assert.equal(list.query.get('labelSelector'), 'kubernetes.io/service-name=swarm');
  assert.equal(list.auth, 'Bearer fake-token');
  assert.equal(watch.watch, true);
  assert.equal(watch.query.get('resourceVersion'), String(api.rv));
  assert.equal(watch.query.get('labelSelector'), 'kubernetes.io/service-name=swarm');
  await p.stop();
});

test('ADDED / MODIFIED / DELETED events; ready=false excluded; serving+terminating drains', async () => {
  const api = await fakeApi();
  api.put('s1', [ep('swarm-0', '10.0.0.10'), ep('swarm-1', '10.0.0.11')]);
  const p = provider(api);
  await p.start();
  await until(() => api.watchers.size === 1, 'a watch');

  api.put('s2', [ep('swarm-2', '10.0.0.12')]); // ADDED
  let s = await waitForSnapshot(p, (x) => x.members.length === 3, TIMEOUT, 'ADDED');
  assert.deepEqual(names(s.members), ['swarm-0', 'swarm-1', 'swarm-2']);

  api.put('s2', [ep('swarm-2', '10.0.0.12', NOT_READY)]); // MODIFIED: not ready
  s = await waitForSnapshot(p, (x) => x.members.length === 2, TIMEOUT, 'not ready');
  assert.deepEqual(names(s.members), ['swarm-0', 'swarm-1']);

  api.put('s1', [ep('swarm-0', '10.0.0.10'), ep('swarm-1', '10.0.0.11', DRAINING)]); // terminating, still serving
  s = await waitForSnapshot(p, (x) => x.draining.length === 1, TIMEOUT, 'draining');
  assert.deepEqual(s.members, [m('swarm-0', '10.0.0.10:7000')]);
  assert.deepEqual(s.draining, [m('swarm-1', '10.0.0.11:7000')]);

  api.put('s1', [ep('swarm-0', '10.0.0.10'), ep('swarm-1', '10.0.0.11', GONE)]); // handoff over, not serving
  s = await waitForSnapshot(p, (x) => x.draining.length === 0, TIMEOUT, 'drained');
  assert.deepEqual(names(s.members), ['swarm-0']);

  api.delete('s1'); // DELETED
  s = await waitForSnapshot(p, (x) => x.members.length === 0, TIMEOUT, 'DELETED');
  assert.deepEqual(s.draining, []);
  assert.equal(api.listRequests, 1, 'all of this came through the one watch');
  await p.stop();
});

test('a pod in several slices counts once; moving between slices is not a change', async () => {
  const api = await fakeApi();
  api.put('a', [ep('swarm-0', '10.0.0.10'), ep('swarm-1', '10.0.0.11')]);
  api.put('b', [ep('swarm-1', '10.0.0.11')]);
  const p = provider(api);
  await p.start();
  assert.deepEqual(names(p.members()), ['swarm-0', 'swarm-1']);
  const rec = recordChanges(p);
  api.put('a', [ep('swarm-0', '10.0.0.10')]); // swarm-1 now only in b
  api.delete('b');
  api.put('c', [ep('swarm-1', '10.0.0.11')]);
  await until(() => p.stats.recomputes >= 2, 'the moves to be recomputed');
  assert.equal(rec.events.length, 0);
  // Positive control: a real change afterwards is announced, and it is the only announcement.
  api.put('d', [ep('swarm-2', '10.0.0.12')]);
  await waitForSnapshot(p, (x) => x.members.length === 3, TIMEOUT, 'swarm-2');
  assert.deepEqual(rec.events.map((e) => names(e.members)), [['swarm-0', 'swarm-1', 'swarm-2']]);
  rec.stop();
  await p.stop();
});

test('debounce: a burst of events gives one change', async () => {
  const api = await fakeApi();
  api.put('s', [ep('swarm-0', '10.0.0.10')]);
  const p = provider(api, { debounceMs: 80 });
  await p.start();
  await until(() => api.watchers.size === 1, 'a watch');
  const rec = recordChanges(p);
  for (let i = 1; i <= 20; i++) api.put('s', Array.from({ length: i + 1 }, (_, j) => ep(`swarm-${j}`, `10.0.0.${10 + j}`)));
  await waitForSnapshot(p, (x) => x.members.length === 21, TIMEOUT, '21 members');
  // Positive control: the next event after the burst is announced on its own; nothing came in between.
  api.put('t', [ep('swarm-99', '10.0.1.99')]);
  await waitForSnapshot(p, (x) => x.members.length === 22, TIMEOUT, '22 members');
  assert.deepEqual(rec.events.map((e) => e.members.length), [21, 22], 'one change for the burst, one for the event after it');
  rec.stop();
  await p.stop();
});

test('debounce is capped: a steady stream of events still produces changes', async () => {
  const api = await fakeApi();
  api.put('s', [ep('swarm-0', '10.0.0.10')]);
  // Events every ~25 ms never leave the 2 s debounce a quiet moment: only the 300 ms cap can produce a change during the stream.
  const DEBOUNCE_MS = 2000;
  const p = provider(api, { debounceMs: DEBOUNCE_MS, debounceMaxMs: 300 });
  await p.start();
  await until(() => api.watchers.size === 1, 'a watch');
  const rec = recordChanges(p);
  let last = Date.now();
  let longestGap = 0;
  for (let i = 1; i <= 400 && rec.events.length === 0; i++) {
    api.put('s', Array.from({ length: (i % 20) + 2 }, (_, j) => ep(`swarm-${j}`, `10.0.0.${10 + j}`)));
    await sleep(25);
    longestGap = Math.max(longestGap, Date.now() - last);
    last = Date.now();
  }
  assert.ok(longestGap < DEBOUNCE_MS, `the test's own event stream paused ${longestGap} ms: inconclusive`);
  assert.ok(rec.events.length >= 1, 'a change while the events kept coming');
  rec.stop();
  await p.stop();
});

test('410 Gone in the watch stream (compaction) -> relist, and changes made meanwhile arrive', async () => {
  const api = await fakeApi();
  api.put('s', [ep('swarm-0', '10.0.0.10')]);
  const p = provider(api);
  await p.start();
  await until(() => api.watchers.size === 1, 'a watch');
  api.stalled = true; // the watch misses this change ...
  api.put('s', [ep('swarm-0', '10.0.0.10'), ep('swarm-1', '10.0.0.11')]);
  api.stalled = false;
  api.compact(); // ... and its resourceVersion is now too old
  api.closeWatches(); // re-watch from the old rv -> ERROR 410 event -> relist
  const s = await waitForSnapshot(p, (x) => x.members.length === 2, TIMEOUT, 'relist after 410');
  assert.deepEqual(names(s.members), ['swarm-0', 'swarm-1']);
  assert.equal(api.listRequests, 2);
  assert.equal(p.stats.restarts, 0, 'handled by ListWatch itself, not as an error');
  await p.stop();
});

test('410 Gone as the HTTP status of a watch -> relist', async () => {
  const api = await fakeApi();
  api.put('s', [ep('swarm-0', '10.0.0.10')]);
  const p = provider(api);
  await p.start();
  await until(() => api.watchers.size === 1, 'a watch');
  api.failWatches = 1;
  api.failWatchStatus = 410;
  api.closeWatches();
  api.put('s', [ep('swarm-0', '10.0.0.10'), ep('swarm-2', '10.0.0.12')]);
  await waitForSnapshot(p, (x) => x.members.length === 2, TIMEOUT, 'relist after HTTP 410');
  await until(() => api.listRequests === 2 && api.watchers.size === 1, 'relist and re-watch');
  assert.equal(p.stats.restarts, 0);
  await p.stop();
});

test('500 on list -> error -> informer restarted with backoff -> recovers (also at start)', async () => {
  const api = await fakeApi();
  api.put('s', [ep('swarm-0', '10.0.0.10')]);
  api.failLists = 3;
  const warnings: Array<Record<string, unknown> | undefined> = [];
  const logger = { debug() {}, info() {}, error() {}, warn: (_msg: string, fields?: Record<string, unknown>) => void warnings.push(fields) };
  const p = provider(api, { logger });
  await p.start(); // retries until a list succeeds
  assert.equal(warnings.length, 3);
  assert.match(String(warnings[0]?.error), /^HTTP 500 InternalError/);
  assert.deepEqual(names(p.members()), ['swarm-0']);
  assert.equal(p.stats.listFailures, 3);
  assert.equal(p.stats.restarts, 3);
  await until(() => api.watchers.size === 1, 'a watch');

  // Later: the watch fails with 500, then the next list fails too.
  api.failWatches = 1;
  api.failLists = 1;
  api.closeWatches();
  api.put('s', [ep('swarm-0', '10.0.0.10'), ep('swarm-1', '10.0.0.11')]);
  await waitForSnapshot(p, (x) => x.members.length === 2, TIMEOUT, 'recovery after errors');
  assert.ok(p.stats.restarts >= 5, `restarts ${p.stats.restarts}`);
  await until(() => api.watchers.size === 1, 'a watch again');
  await p.stop();
});

test('the server closing the watch stream -> re-watch from the last resourceVersion (no relist)', async () => {
  const api = await fakeApi();
  api.put('s', [ep('swarm-0', '10.0.0.10')]);
  const p = provider(api);
  await p.start();
  await until(() => api.watchers.size === 1, 'a watch');
  api.put('s', [ep('swarm-0', '10.0.0.10'), ep('swarm-1', '10.0.0.11')]);
  await waitForSnapshot(p, (x) => x.members.length === 2, TIMEOUT, 'swarm-1');
  const rv = String(api.rv);
  for (let i = 0; i < 3; i++) {
    api.closeWatches();
    await until(() => api.watchers.size === 1, 're-watch');
  }
  const watches = api.requests.filter((r) => r.watch);
  assert.equal(watches.length, 4);
  assert.equal(watches[3].query.get('resourceVersion'), rv);
  api.put('s', [ep('swarm-1', '10.0.0.11')]);
  await waitForSnapshot(p, (x) => x.members.length === 1, TIMEOUT, 'swarm-0 gone via the new watch');
  assert.equal(api.listRequests, 1);
  assert.equal(p.stats.restarts, 0);
  await p.stop();
});

test('a server that keeps closing watches at once is not hammered (minWatchIntervalMs)', async () => {
  const api = await fakeApi();
  const INTERVAL_MS = 200;
  const p = provider(api, { minWatchIntervalMs: INTERVAL_MS });
  await p.start();
  await until(() => api.watchers.size === 1, 'a watch');
  // Positive control: it does keep re-watching (5 times), however slowly the machine runs.
  const w0 = api.watchRequests;
  await eventually(
    () => {
      api.closeWatches();
      return api.watchRequests - w0 >= 5;
    },
    20_000,
    'five re-watches',
    5,
  );
  // Never faster than one watch per interval (a lower bound: a busy machine only spaces them more).
  const starts = api.requests.filter((r) => r.watch).map((r) => r.at);
  const span = starts[starts.length - 1] - starts[0];
  const tolerance = 50; // arrival jitter of the first and last request on loopback
  assert.ok(span >= (starts.length - 1) * INTERVAL_MS - tolerance, `${starts.length} watch requests within ${span} ms`);
  await p.stop();
});

test('watchdog relist picks up changes a stalled watch never delivered', async () => {
  const api = await fakeApi();
  api.put('s', [ep('swarm-0', '10.0.0.10')]);
  const p = provider(api, { relistIntervalMs: 300 });
  await p.start();
  await until(() => api.watchers.size === 1, 'a watch');
  api.stalled = true; // the fake delivers no event to open watches from here on
  api.put('s', [ep('swarm-0', '10.0.0.10'), ep('swarm-1', '10.0.0.11')]);
  const relistsSeen: number[] = [];
  await waitForSnapshot(p, (x) => (relistsSeen.push(p.stats.watchdogRelists), x.members.length === 2), TIMEOUT, 'watchdog relist');
  // The change arrived with a watchdog relist (a clock bound on when would depend on how long start() took).
  assert.ok(relistsSeen[relistsSeen.length - 1] >= 1, 'through a watchdog relist');
  assert.ok(api.listRequests >= 2);
  await until(() => api.watchers.size === 1, 'the old watch closed, one new watch');
  await p.stop();
});

test('stop() is final: no requests afterwards, watches closed, late answers ignored', async () => {
  const api = await fakeApi();
  api.put('s', [ep('swarm-0', '10.0.0.10')]);
  const p = provider(api, { relistIntervalMs: 50 });
  await p.start();
  await until(() => api.watchers.size === 1, 'a watch');
  await p.stop();
  const n0 = api.requests.length;
  await until(() => api.watchers.size === 0, 'watch closed');
  api.put('s', [ep('swarm-1', '10.0.0.11')]);
  api.closeWatches();
  // Positive control: a twin started after the stop, with the same watchdog, keeps relisting.
  const api2 = await fakeApi();
  api2.put('s', [ep('swarm-0', '10.0.0.10')]);
  const twin = provider(api2, { relistIntervalMs: 50 });
  await twin.start();
  // By the twin's first relist, a list p sent just before stop() has landed (it is aborted).
  await until(() => twin.stats.watchdogRelists >= 1, "the twin's first watchdog relist");
  const n1 = api.requests.length;
  assert.ok(api.requests.slice(n0).every((r) => !r.watch), 'no watch after stop');
  await until(() => twin.stats.watchdogRelists >= 3, 'two more watchdog relists of the twin');
  assert.equal(api.requests.length, n1, 'no request after stop');
  assert.deepEqual(names(p.members()), ['swarm-0']);
  await twin.stop();
});

test('stop() while a list is in flight: no watch is opened afterwards', async () => {
  const api = await fakeApi();
  api.listDelayMs = 150;
  const p = provider(api);
  const started = p.start();
  await until(() => api.listRequests === 1, 'the list request');
  await p.stop();
  await assert.rejects(started, /stopped before the first EndpointSlice list/);
  // Positive control: a twin with the same slow list, started after the stop and not stopped, opens its watch.
  const api2 = await fakeApi();
  api2.listDelayMs = 150;
  const twin = provider(api2);
  await twin.start();
  await until(() => api2.watchRequests === 1, "the twin's watch");
  await until(() => api.abortedLists === 1, 'the aborted list to be answered');
  assert.equal(api.watchRequests, 0);
  assert.equal(api.requests.length, 1);
  await twin.stop();
});

test('stop() after an error, during the restart backoff: no restart', async () => {
  const setup = async () => {
    const api = await fakeApi();
    const p = provider(api, { restartBackoffMs: 150, restartBackoffMaxMs: 150 });
    await p.start();
    await until(() => api.watchers.size === 1, 'a watch');
    api.failWatches = 1;
    api.closeWatches();
    await until(() => p.stats.informerErrors === 1, 'the error');
    return { api, p };
  };
  const { api, p } = await setup();
  await p.stop();
  const n = api.requests.length;
  // Positive control: a twin in the same state, reached after p's, restarts when its backoff ends.
  const twin = await setup();
  await until(() => twin.p.stats.restarts === 1 && twin.api.listRequests === 2, "the twin's restart");
  assert.equal(api.requests.length, n);
  assert.equal(p.stats.restarts, 0);
  await twin.p.stop();
});

test('start() gives up after syncTimeoutMs when the API keeps failing, then stays stopped', async () => {
  const api = await fakeApi();
  api.failLists = 1_000_000;
  api.failListStatus = 403;
  const p = provider(api, { syncTimeoutMs: 300 });
  // Positive control: a twin against the same failing API, with a sync timeout nothing here waits out, keeps retrying.
  const api2 = await fakeApi();
  api2.failLists = 1_000_000;
  api2.failListStatus = 403;
  const twin = provider(api2, { syncTimeoutMs: 120_000 });
  const twinStarted = twin.start().catch(() => undefined);
  await assert.rejects(p.start(), /no EndpointSlice list within 300 ms .*last error: HTTP 403 Forbidden: Forbidden\)/);
  // By the twin's next retry, a list p sent just before its timeout has arrived.
  const t0 = api2.requests.length;
  await until(() => api2.requests.length >= t0 + 1, "the twin's next retry");
  const n = api.requests.length;
  assert.ok(n >= 2, 'it retried');
  await until(() => api2.requests.length >= t0 + 3, 'two more retries of the twin');
  assert.equal(api.requests.length, n);
  await twin.stop();
  await twinStarted;
});

test('GuardedWatch: a watch that dies during the auth step never rejects and sends nothing', async () => {
  const api = await fakeApi();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  const real = kc.applyToFetchOptions.bind(kc);
  // Slow auth (exec plugin, token refresh ...): held until the test lets it finish.
  let authStarted!: () => void;
  const inAuth = new Promise<void>((resolve) => (authStarted = resolve));
  let finishAuth!: () => void;
  const authGate = new Promise<void>((resolve) => (finishAuth = resolve));
  kc.applyToFetchOptions = async (opts) => {
    authStarted();
    await authGate;
    return real(opts);
  };
  let alive = true;
  const w = new GuardedWatch(kc, () => alive, 0);
  let doneCalls = 0;
  const pending = w.watch(PATH, { resourceVersion: '1' }, () => {}, () => doneCalls++);
  await inAuth;
  alive = false; // stop() lands while auth is being applied
  finishAuth();
  const controller = await pending; // resolves, does not reject
  assert.ok(controller instanceof AbortController);
  // Positive control: the same path with a live informer does send its request, after the dead one would have.
  const live = new GuardedWatch(kc, () => true, 0);
  const liveController = await live.watch(PATH, { resourceVersion: '1' }, () => {}, () => {});
  await until(() => api.requests.length >= 1, 'the live watch request');
  liveController.abort();
  assert.equal(api.requests.length, 1, 'only the live watch reached the server');
  assert.equal(doneCalls, 0);

  // Any other failure before the request becomes done(err), still without a rejection.
  const empty = new KubeConfig();
  const w2 = new GuardedWatch(empty, () => true, 0);
  let err: unknown;
  await w2.watch(PATH, {}, () => {}, (e) => (err = e));
  assert.match(String(err), /No currently active cluster/);
});

test('options are validated; in-cluster config is required without a kubeconfig', () => {
  assert.throws(() => new KubernetesMembership({ namespace: '', service: SERVICE, portName: 'grpc', kubeconfigPath: '/nonexistent' }), /namespace is required/);
  assert.throws(() => new KubernetesMembership({ namespace: NS, service: SERVICE, portName: 'grpc', debounceMs: -1, kubeconfigPath: '/nonexistent' }), /debounceMs must be/);
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  delete process.env.KUBERNETES_SERVICE_HOST;
  delete process.env.KUBERNETES_SERVICE_PORT;
  try {
    assert.throws(() => new KubernetesMembership({ namespace: NS, service: SERVICE, portName: 'grpc' }), /in-cluster Kubernetes config unavailable/);
  } finally {
    if (saved.host !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved.host;
    if (saved.port !== undefined) process.env.KUBERNETES_SERVICE_PORT = saved.port;
  }
});

// ---------------------------------------------------------------- conformance

function sliceFor(members: readonly Member[], draining: readonly Member[]): { slices: Map<string, V1Endpoint[]>; port: Map<string, number> } {
  // One slice per port (the fake writes one port per slice); hosts are 127.0.0.1.
  const slices = new Map<string, V1Endpoint[]>();
  const port = new Map<string, number>();
  const add = (x: Member, cond: typeof READY): void => {
    const [host, p] = [x.address.slice(0, x.address.lastIndexOf(':')), Number(x.address.slice(x.address.lastIndexOf(':') + 1))];
    const key = `swarm-p${p}`;
    port.set(key, p);
    slices.set(key, [...(slices.get(key) ?? []), ep(x.name, host, cond)]);
  };
  for (const x of members) add(x, READY);
  for (const x of draining) add(x, DRAINING);
  return { slices, port };
}

membershipConformance(
  'kubernetes',
  async (initial) => {
    const api = await fakeApi();
    const setSource = async (members: readonly Member[], draining: readonly Member[] = []): Promise<void> => {
      const { slices, port } = sliceFor(members, draining);
      for (const name of [...api.slices.keys()]) if (!slices.has(name)) api.delete(name);
      for (const [name, eps] of slices) api.put(name, eps, { port: port.get(name) });
    };
    await setSource(initial);
    const p = provider(api);
    return {
      provider: p,
      setSource,
      activity: () => api.requests.length,
      cleanup: async () => {
        await p.stop();
      },
    };
  },
  { changeTimeoutMs: TIMEOUT, quietMs: 150 },
);
