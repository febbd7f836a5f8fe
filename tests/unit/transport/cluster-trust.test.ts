/**
 * services/tracker/cluster-trust.ts: what each role makes of the cluster.tls
 * and token keys, the start-up errors that name the key to fix, and the
 * warning for a swarm that anyone on the network could talk to.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../../lib/runtime/config.js';
import { loadConfig } from '../../../lib/runtime/config-loader.js';
import { silentLogger } from '../../../lib/runtime/logger.js';
import { TrackerMetrics } from '../../../lib/runtime/metrics.js';
import { edgeTrust, readAuthToken, swarmTrust, swarmTrustWarning } from '../../../services/tracker/cluster-trust.js';
import { TestCa, type IssuedCert } from '../../support/cluster-certs.js';
import { metricIn } from '../../support/cluster.js';

let dir: string;
let ca: TestCa;
let cert: IssuedCert;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cluster-trust-unit-'));
  ca = TestCa.create(dir, 'cluster');
  cert = ca.issue('swarm-0', { dns: ['swarm-0'] });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const config = (...flags: string[]): Config => loadConfig({ argv: flags, env: {} }).config;
const metrics = (): TrackerMetrics => new TrackerMetrics({ defaultMetrics: false });
const tlsFlags = (): string[] => [`--cluster.tls.certFile=${cert.certFile}`, `--cluster.tls.keyFile=${cert.keyFile}`, `--cluster.tls.caFile=${ca.certFile}`];

describe('swarm', () => {
  test('no TLS, no token: plain gRPC, every claim believed, and a warning unless it listens on loopback only', async () => {
    const trust = await swarmTrust(config(), 'swarm-0', silentLogger, metrics());
    assert.equal(trust.credentials, undefined);
    assert.equal(trust.auth.required, false);
    assert.equal(trust.summary, 'plain gRPC');
    assert.match(swarmTrustWarning(config(), trust.auth) ?? '', /^swarm gRPC listens on :: without edge authentication: .*set cluster.tls.caFile .* or cluster.authToken$/);
    assert.equal(swarmTrustWarning(config('--swarm.grpcHost=127.0.0.1'), trust.auth), undefined);
    assert.equal(swarmTrustWarning(config('--swarm.grpcHost=::1'), trust.auth), undefined);
  });

  test('certificate and CA: mutual TLS, edges must prove their id; no warning; the certificate\'s expiry is a metric', async () => {
    const m = metrics();
    const trust = await swarmTrust(config(...tlsFlags()), 'swarm-0', silentLogger, m);
    try {
      assert.ok(trust.credentials);
      assert.equal(trust.auth.required, true);
      assert.equal(trust.summary, 'mutual TLS');
      assert.equal(swarmTrustWarning(config(...tlsFlags()), trust.auth), undefined);
      const body = (await m.render()).body;
      assert.ok((metricIn(body, 'tracker_cluster_tls_certificate_expiry_timestamp_seconds') ?? 0) > Date.now() / 1000);
      assert.equal(metricIn(body, 'tracker_cluster_tls_reloads_total', { result: 'ok' }), 0);
    } finally {
      trust.close();
    }
  });

  test('a certificate without a CA is TLS that anyone may use: still warned about', async () => {
    const flags = [`--cluster.tls.certFile=${cert.certFile}`, `--cluster.tls.keyFile=${cert.keyFile}`];
    const trust = await swarmTrust(config(...flags), 'swarm-0', silentLogger, metrics());
    try {
      assert.equal(trust.summary, 'TLS');
      assert.equal(trust.auth.required, false);
      assert.ok(swarmTrustWarning(config(...flags), trust.auth));
    } finally {
      trust.close();
    }
  });

  test('a token alone proves edges: "plain gRPC + token", no warning', async () => {
    const c = config(`--cluster.authToken=${'t'.repeat(32)}`);
    const trust = await swarmTrust(c, 'swarm-0', silentLogger, metrics());
    assert.equal(trust.summary, 'plain gRPC + token');
    assert.equal(trust.auth.required, true);
    assert.equal(swarmTrustWarning(c, trust.auth), undefined);
  });

  test('a CA without a certificate is an error naming cluster.tls.certFile', async () => {
    await assert.rejects(swarmTrust(config(`--cluster.tls.caFile=${ca.certFile}`), 'swarm-0', silentLogger, metrics()), /^Error: config key "cluster.tls.certFile": a swarm with cluster.tls.caFile needs/);
  });

  test('files that do not belong together are an error naming the key', async () => {
    const other = ca.issue('other');
    await assert.rejects(
      swarmTrust(config(`--cluster.tls.certFile=${cert.certFile}`, `--cluster.tls.keyFile=${other.keyFile}`), 'swarm-0', silentLogger, metrics()),
      /^Error: config: cluster.tls.keyFile ".*other.key" is not the key of cluster.tls.certFile/,
    );
  });
});

describe('edge', () => {
  test('a CA turns TLS on; the swarm\'s expected name is cluster.tls.serverName with {name} = its member name', async () => {
    const trust = await edgeTrust(config(`--cluster.tls.caFile=${ca.certFile}`), silentLogger, metrics());
    try {
      assert.ok(trust.credentials);
      assert.equal(trust.summary, 'TLS');
      assert.equal(trust.serverNameFor('swarm-3'), 'swarm-3');
    } finally {
      trust.close();
    }
    const fqdn = await edgeTrust(config(`--cluster.tls.caFile=${ca.certFile}`, '--cluster.tls.serverName={name}.tracker-swarm.ns.svc'), silentLogger, metrics());
    assert.equal(fqdn.serverNameFor('swarm-3'), 'swarm-3.tracker-swarm.ns.svc');
    fqdn.close();
    const byAddress = await edgeTrust(config(`--cluster.tls.caFile=${ca.certFile}`, '--cluster.tls.serverName='), silentLogger, metrics());
    assert.equal(byAddress.serverNameFor('swarm-3'), undefined, '"" leaves the address\'s host');
    byAddress.close();
    const plain = await edgeTrust(config(), silentLogger, metrics());
    assert.equal(plain.credentials, undefined);
    assert.equal(plain.serverNameFor('swarm-3'), undefined);
  });

  test('with a certificate: mutual TLS; a certificate without a CA is an error naming cluster.tls.caFile', async () => {
    const trust = await edgeTrust(config(...tlsFlags()), silentLogger, metrics());
    assert.equal(trust.summary, 'mutual TLS');
    trust.close();
    await assert.rejects(
      edgeTrust(config(`--cluster.tls.certFile=${cert.certFile}`, `--cluster.tls.keyFile=${cert.keyFile}`), silentLogger, metrics()),
      /^Error: config key "cluster.tls.caFile": an edge with cluster.tls.certFile needs cluster.tls.caFile/,
    );
  });
});

test('the token file is read and trimmed (a Secret often ends in a newline); a short one is an error naming the key', () => {
  const file = join(dir, 'token');
  writeFileSync(file, `${'s'.repeat(40)}\n`);
  assert.equal(readAuthToken(config(`--cluster.authTokenFile=${file}`)), 's'.repeat(40));
  writeFileSync(file, 'short\n');
  assert.throws(() => readAuthToken(config(`--cluster.authTokenFile=${file}`)), /^Error: config key "cluster.authTokenFile": the token in ".*token" has 5 characters; at least 32 are needed$/);
  assert.equal(readAuthToken(config(`--cluster.authToken=${'x'.repeat(32)}`)), 'x'.repeat(32));
});
