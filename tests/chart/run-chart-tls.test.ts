/**
 * The rendered chart with mutual TLS between edges and swarms
 * (`clusterTls`), run as local processes (tests/support/chart-cluster.ts):
 * one kubernetes.io/tls Secret per role, shaped as cert-manager writes them
 * with the names, usages and Secret names of the cert-manager Certificates
 * in docs/operations.md (read from it), issued by a test CA
 * (tests/support/cluster-certs.ts). Proves that the edge's streams come
 * up over mutual TLS, that a slot handoff between swarms passes their
 * certificate checks and keeps the peers, and that a stream without a
 * client certificate, or with a swarm's certificate posing as an edge, is
 * refused.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { validateObject, type KubeObject } from '../support/chart.js';
import { ChartCluster, podMetrics, until } from '../support/chart-cluster.js';
import { TestCa, type IssuedCert } from '../support/cluster-certs.js';
import { metricIn, metricSum } from '../support/cluster.js';
import { httpAnnounce } from '../support/clients/raw-tracker.js';
import { cleanupScope, REPO_ROOT } from '../support/tracker-process.js';
import { GrpcTransport } from '../../lib/transport/grpc/client.js';
import { edgeChannelCredentials } from '../../lib/transport/grpc/credentials.js';
import { TlsFiles } from '../../lib/transport/grpc/tls-files.js';

const NS = 'tracker';
const GUIDE = readFileSync(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');

/** The cert-manager objects of the operations guide's mutual TLS section. */
function guideCertManagerObjects(): KubeObject[] {
  const section = GUIDE.slice(GUIDE.indexOf('## Mutual TLS between edges and swarms'));
  const objects: KubeObject[] = [];
  for (const block of section.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    for (const doc of YAML.parseAllDocuments(block[1])) {
      const o = doc.toJS() as KubeObject | null;
      if (o?.apiVersion?.startsWith('cert-manager.io/')) objects.push(o);
    }
  }
  return objects;
}

/** The guide's Certificate whose Secret the guide's helm command gives a role. */
function guideCertificate(objects: readonly KubeObject[], role: 'edge' | 'swarm'): { secretName: string; dnsNames: string[]; usages: string[]; issuer: string } {
  const secretName = new RegExp(`--set clusterTls\\.${role}\\.existingSecret=(\\S+)`).exec(GUIDE)?.[1];
  assert.ok(secretName, `docs/operations.md has no helm command setting clusterTls.${role}.existingSecret`);
  const cert = objects.find((o) => o.kind === 'Certificate' && o.spec.secretName === secretName);
  assert.ok(cert, `docs/operations.md has no Certificate writing the Secret ${secretName}`);
  return { secretName, dnsNames: cert.spec.dnsNames, usages: cert.spec.usages, issuer: cert.spec.issuerRef.name };
}

/** A Secret as cert-manager writes it for a Certificate. */
function tlsSecret(name: string, cert: IssuedCert, ca: TestCa): KubeObject {
  const b64 = (file: string) => readFileSync(file).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name, namespace: NS },
    data: { 'tls.crt': b64(cert.certFile), 'tls.key': b64(cert.keyFile), 'ca.crt': b64(ca.certFile) },
  };
}

describe('the rendered chart with clusterTls, run as local processes', { timeout: 240_000 }, () => {
  const t = { after: (fn: () => unknown) => cleanups.push(fn) };
  const cleanups: Array<() => unknown> = [];
  let scope: ReturnType<typeof cleanupScope>;
  let cluster: ChartCluster;
  let ca: TestCa;
  let edgeCert: IssuedCert;
  let swarmCert: IssuedCert;
  const guide = guideCertManagerObjects();
  const edgeSpec = guideCertificate(guide, 'edge');
  const swarmSpec = guideCertificate(guide, 'swarm');

  before(async () => {
    scope = cleanupScope(t);
    const dir = mkdtempSync(join(tmpdir(), 'run-chart-tls-'));
    scope.after(() => rmSync(dir, { recursive: true, force: true }));
    ca = TestCa.create(dir, 'cluster');
    // The names docs/operations.md gives the two Certificates for release "tracker" in namespace "tracker".
    swarmCert = ca.issue('swarm', { dns: swarmSpec.dnsNames });
    edgeCert = ca.issue('edge', { dns: edgeSpec.dnsNames });
    cluster = await ChartCluster.start(scope, {
      namespace: NS,
      swarms: 2,
      set: {
        'clusterTls.enabled': 'true',
        'clusterTls.edge.existingSecret': edgeSpec.secretName,
        'clusterTls.swarm.existingSecret': swarmSpec.secretName,
        // A short drain, so the stopping swarm gets to its handoff soon.
        'swarm.drainDelaySeconds': '1',
        'swarm.graceSeconds': '1',
      },
      objects: [tlsSecret(edgeSpec.secretName, edgeCert, ca), tlsSecret(swarmSpec.secretName, swarmCert, ca)],
    });
  });

  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  it('the guide\'s cert-manager objects: one CA Issuer signs both roles\' Certificates, with the usages each role needs; the Secrets have the kubernetes.io/tls shape', () => {
    const issuer = guide.find((o) => o.kind === 'Issuer' && o.metadata.name === swarmSpec.issuer);
    assert.ok(issuer?.spec.ca?.secretName, `the swarms' issuer ${swarmSpec.issuer} is a CA Issuer`);
    assert.equal(edgeSpec.issuer, swarmSpec.issuer, 'edges and swarms trust each other only with one CA');
    assert.ok(guide.some((o) => o.kind === 'Certificate' && o.spec.isCA === true && o.spec.secretName === issuer.spec.ca.secretName), 'the CA Issuer\'s Secret is the CA Certificate\'s');
    assert.ok(swarmSpec.usages.includes('server auth') && swarmSpec.usages.includes('client auth'), 'swarms serve, and call each other for handoff');
    assert.ok(edgeSpec.usages.includes('client auth'));
    for (const o of guide) assert.equal(o.metadata.namespace, NS, `${o.kind}/${o.metadata.name}: in the release namespace (an Issuer is namespaced)`);
    for (const name of [edgeSpec.secretName, swarmSpec.secretName]) {
      const secret = cluster.objects.find((o) => o.kind === 'Secret' && o.metadata.name === name)!;
      assert.deepEqual(validateObject(secret), []);
    }
  });

  it('the edge\'s streams to both swarms are up over mutual TLS, with the Secrets\' files mounted as directories', async () => {
    const { edge, swarms } = cluster;
    for (const pod of [edge, ...swarms]) {
      assert.equal(pod.env.TRACKER_CLUSTER__TLS__CERT_FILE, join(pod.volumeDir('cluster-tls'), 'tls.crt'), pod.options.podName);
      // The certificate in force is the one of the role's Secret (the tracker loaded it).
      const expiry = metricIn(await podMetrics(pod), 'tracker_cluster_tls_certificate_expiry_timestamp_seconds');
      const own = pod === edge ? edgeCert : swarmCert;
      const notAfter = new Date(new X509Certificate(readFileSync(own.certFile)).validTo).getTime() / 1000;
      assert.equal(expiry, notAfter, `${pod.options.podName}: the certificate in force`);
    }
    assert.equal(swarms[0].env.TRACKER_CLUSTER__TLS__EDGE_NAME, '{id}.tracker-edge.tracker.svc');
    const text = await podMetrics(edge);
    for (const s of swarms) assert.equal(metricIn(text, 'tracker_swarm_stream_up', { swarm: s.options.podName }), 1, s.options.podName);
    for (const s of swarms) assert.equal(metricSum(await podMetrics(s), 'tracker_edge_streams_rejected_total'), 0, `${s.options.podName} refused a stream of the real edge`);
    // An announce travels edge -> swarm over it.
    const announced = await httpAnnounce(`http://${cluster.edgeAddress}/announce`, { infoHash: Buffer.alloc(20, 0x11), peerId: Buffer.alloc(20, 1), port: 52001, left: 0 });
    assert.equal(announced.failure, undefined, JSON.stringify(announced));
    assert.equal(announced.complete, 1);
  });

  it('a stream without a client certificate is refused (UNAUTHENTICATED), and a swarm\'s certificate does not pass for an edge (PERMISSION_DENIED)', async () => {
    const swarm = cluster.swarms[0];
    const files: TlsFiles[] = [];
    const streamWith = async (edgeId: string, cert: IssuedCert | undefined): Promise<{ state: string; reason: string }> => {
      const tls = await TlsFiles.load({ certFile: cert?.certFile ?? '', keyFile: cert?.keyFile ?? '', caFile: ca.certFile, watch: false });
      files.push(tls);
      let last = { state: 'connecting', reason: '' };
      const transport = new GrpcTransport({
        name: swarm.options.podName,
        address: `${swarm.options.ip}:${swarm.port('grpc')}`,
        edgeId,
        // The token is right: only the certificate is missing or wrong.
        authToken: swarm.env.TRACKER_CLUSTER__AUTH_TOKEN,
        credentials: edgeChannelCredentials(tls),
        tlsServerName: swarm.env.TRACKER_CLUSTER__TLS__SERVER_NAME.replace('{name}', swarm.options.podName),
        onStateChange: (state, reason) => {
          last = { state, reason };
        },
      });
      try {
        await until('the stream to settle', () => last.state === 'open' || last.state === 'down', [swarm], 15_000);
        return last;
      } finally {
        await transport.close();
      }
    };
    try {
      const before = await podMetrics(swarm);
      const anonymous = await streamWith('tracker-edge-6c9d4-zzzzz', undefined);
      assert.equal(anonymous.state, 'down');
      assert.match(anonymous.reason, /UNAUTHENTICATED.*no client certificate/);
      const posing = await streamWith('tracker-edge-6c9d4-zzzzz', swarmCert);
      assert.equal(posing.state, 'down');
      assert.match(posing.reason, /PERMISSION_DENIED.*tracker-edge-6c9d4-zzzzz\.tracker-edge\.tracker\.svc/);
      const after = await podMetrics(swarm);
      for (const reason of ['unauthenticated', 'permission-denied']) {
        const grew = (metricIn(after, 'tracker_edge_streams_rejected_total', { reason }) ?? 0) - (metricIn(before, 'tracker_edge_streams_rejected_total', { reason }) ?? 0);
        assert.ok(grew >= 1, `${reason} counted`);
      }
      // Positive control: the same stream with the edges' certificate is taken.
      assert.equal((await streamWith('tracker-edge-6c9d4-zzzzz', edgeCert)).state, 'open');
    } finally {
      for (const f of files) f.close();
    }
  });

  it('a swarm stopping hands its slots to the other over mutual TLS: every peer is still there afterwards', async () => {
    const { edge, swarms } = cluster;
    // Seeders of 32 torrents through the edge: some land on each swarm (slots hashed by pod name).
    const torrents = Array.from({ length: 32 }, (_, i) => Buffer.alloc(20, 0x80 + i));
    for (const [i, infoHash] of torrents.entries()) {
      const r = await httpAnnounce(`http://${cluster.edgeAddress}/announce`, { infoHash, peerId: Buffer.alloc(20, 0x40 + i), port: 53000 + i, left: 0 });
      assert.equal(r.failure, undefined, JSON.stringify(r));
    }
    const leaving = swarms[1];
    const held = metricSum(await podMetrics(leaving), 'tracker_peers');
    assert.ok(held > 0 && held < torrents.length, `${leaving.options.podName} holds ${held} of the ${torrents.length} peers: the handoff has something to move`);
    const stayingBefore = await podMetrics(swarms[0]);

    assert.deepEqual(await leaving.stop(60_000), { code: 0, signal: null }, leaving.describe('unclean exit'));
    await until('the edge routing to the one swarm left', async () => metricIn(await podMetrics(edge).catch(() => ''), 'tracker_slot_table_members') === 1, [edge, swarms[0]], 30_000);

    const staying = await podMetrics(swarms[0]);
    const received = (metricIn(staying, 'tracker_handoff_peers_total', { op: 'received' }) ?? 0) - (metricIn(stayingBefore, 'tracker_handoff_peers_total', { op: 'received' }) ?? 0);
    assert.equal(received, held, 'every peer of the leaving swarm was pushed and taken');
    assert.equal(metricSum(staying, 'tracker_handoff_calls_rejected_total'), 0, 'the push passed the certificate check');
    // Without the handoff (no Redis here), the leaving swarm's torrents would now have no seeder.
    for (const [i, infoHash] of torrents.entries()) {
      const r = await httpAnnounce(`http://${cluster.edgeAddress}/announce`, { infoHash, peerId: Buffer.alloc(20, 0x20 + i), port: 54000 + i, left: 1 });
      assert.equal(r.complete, 1, `torrent ${i}: ${JSON.stringify(r)}`);
    }
  });
});
