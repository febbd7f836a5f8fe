/**
 * Edge <-> swarm trust on a real GrpcSwarmServer and real GrpcTransports
 * over 127.0.0.1, with certificates made by openssl:
 *
 * - mutual TLS: an edge with a certificate naming its id is served; one
 *   without a certificate, or with one from another CA, is refused
 *   (UNAUTHENTICATED); one with a valid certificate for another id claiming
 *   an edge's id is refused (PERMISSION_DENIED) and that edge's peers stay,
 *   while the real edge restarting (new nonce) still drops them;
 * - the edge verifies the swarm's name;
 * - token proofs: right token served, wrong or missing token refused, a
 *   proof for one edge / swarm / time cannot be used for another, nor twice;
 * - certificate files rotated in place are used by new connections while
 *   open streams carry on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { GrpcTransport, type GrpcTransportOptions } from '../../../lib/transport/grpc/client.js';
import { GrpcSwarmServer, type GrpcSwarmServerOptions } from '../../../lib/transport/grpc/server.js';
import { EdgeAuthenticator } from '../../../lib/transport/grpc/edge-auth.js';
import { EdgeProofVerifier, signEdgeProof } from '../../../lib/transport/grpc/edge-token.js';
import { TlsFiles, TlsFilesError } from '../../../lib/transport/grpc/tls-files.js';
import { edgeChannelCredentials, swarmServerCredentials } from '../../../lib/transport/grpc/credentials.js';
import type { SwarmReply, SwarmRequest } from '../../../lib/tracker/swarm.js';
import type { Transport } from '../../../lib/transport/transport.js';
import { EchoSwarm, binaryId } from '../../support/transport-conformance.js';
import { SecretVolume, TestCa, type IssuedCert } from '../../support/cluster-certs.js';

const TOKEN = 'k'.repeat(16) + 'e'.repeat(16) + 'y'.repeat(8);

let dir: string;
let ca: TestCa;
let rogueCa: TestCa;
const certs: Record<string, IssuedCert> = {};
const open: { close(): unknown }[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'grpc-auth-'));
  ca = TestCa.create(dir, 'cluster');
  rogueCa = TestCa.create(dir, 'rogue');
  certs.swarm = ca.issue('swarm-0', { dns: ['swarm-0'] });
  certs.swarmRotated = ca.issue('swarm-0-rotated', { dns: ['swarm-0'] });
  certs.edgeA = ca.issue('edge-a', { dns: ['edge-a'] });
  certs.edgeARotated = ca.issue('edge-a-rotated', { dns: ['edge-a'] });
  certs.edgeB = ca.issue('edge-b', { dns: ['edge-b'] });
  certs.rogueEdgeA = rogueCa.issue('rogue-edge-a', { dns: ['edge-a'] });
  certs.deployment = ca.issue('deployment', { cn: 'tracker-edge', dns: ['*.tracker-edge.tracker.svc'] });
});

after(async () => {
  for (const thing of open.splice(0)) await thing.close();
  rmSync(dir, { recursive: true, force: true });
});

const announce = (n: number): SwarmRequest => ({
  type: 'announce', infoHash: binaryId(n % 13), peerId: binaryId(1), endpoint: Uint8Array.of(10, 0, 0, n, 0x1a, 0xe1), event: 0, left: 1, numwant: n,
});
const send = (t: Transport, batch: SwarmRequest[]): Promise<SwarmReply[]> => new Promise((resolve) => t.send(batch, resolve));

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function tlsFiles(cert: IssuedCert | undefined, caFile: string, extra: { certFile?: string; keyFile?: string } = {}): Promise<TlsFiles> {
  const files = await TlsFiles.load({ certFile: cert?.certFile ?? '', keyFile: cert?.keyFile ?? '', caFile, watch: false, ...extra });
  open.push(files);
  return files;
}

interface SwarmUnderTest {
  server: GrpcSwarmServer;
  port: number;
  gone: string[];
  connected: string[];
}

async function startSwarm(options: GrpcSwarmServerOptions & { port?: number } = {}): Promise<SwarmUnderTest> {
  const gone: string[] = [];
  const connected: string[] = [];
  const server = new GrpcSwarmServer(new EchoSwarm(), {
    host: '127.0.0.1',
    port: 0,
    swarmId: 'swarm-0',
    edgeGoneGraceMs: 0,
    onEdgeGone: (edge) => gone.push(edge),
    onEdgeConnected: (edge, nonce, proof) => connected.push(`${edge}/${nonce}: ${proof}`),
    ...options,
  });
  const port = await server.listen();
  open.push({ close: () => server.forceShutdown() });
  return { server, port, gone, connected };
}

async function mtlsSwarm(options: GrpcSwarmServerOptions = {}): Promise<SwarmUnderTest> {
  const files = await tlsFiles(certs.swarm, ca.certFile);
  return startSwarm({ credentials: swarmServerCredentials(files), auth: new EdgeAuthenticator({ certificateName: '{id}' }), ...options });
}

function edge(port: number, options: Partial<GrpcTransportOptions> & { edgeId: string }): GrpcTransport {
  const transport = new GrpcTransport({ name: 'swarm-0', address: `127.0.0.1:${port}`, streamOpenTimeoutMs: 3000, ...options });
  open.push(transport);
  return transport;
}

async function tlsEdge(port: number, cert: IssuedCert | undefined, options: Partial<GrpcTransportOptions> & { edgeId: string }): Promise<GrpcTransport> {
  const files = await tlsFiles(cert, ca.certFile);
  return edge(port, { credentials: edgeChannelCredentials(files), tlsServerName: 'swarm-0', ...options });
}

/** Waits for the first stream failure and returns its reason. */
async function refusal(transport: GrpcTransport): Promise<string> {
  await until('the stream to be refused', () => transport.stats().streamFailures > 0);
  return transport.stats().lastError;
}

describe('mutual TLS between edge and swarm', () => {
  test('an edge with a certificate naming its id is served, and the swarm logs how it was proven', async () => {
    const swarm = await mtlsSwarm();
    const a = await tlsEdge(swarm.port, certs.edgeA, { edgeId: 'edge-a', bootNonce: 'n1' });
    assert.ok(await a.whenOpen(5000), a.stats().lastError);
    assert.equal((await send(a, [announce(3)]))[0].type, 'announce');
    assert.equal(swarm.connected.length, 1);
    assert.match(swarm.connected[0], new RegExp(`^edge-a/n1: certificate CN=edge-a; DNS:edge-a; serial ${certs.edgeA.serial}$`));
    await a.close();
  });

  test('an edge without a client certificate is refused: UNAUTHENTICATED, counted, nothing accepted', async () => {
    const swarm = await mtlsSwarm();
    const anonymous = await tlsEdge(swarm.port, undefined, { edgeId: 'edge-a' });
    const reason = await refusal(anonymous);
    assert.match(reason, /^UNAUTHENTICATED: edge "edge-a" not proven: no client certificate signed by this swarm's cluster.tls.caFile \(no certificate presented\)/);
    assert.equal(anonymous.streamState === 'open', false);
    assert.ok(swarm.server.stats().rejectedUnauthenticated >= 1);
    assert.equal(swarm.server.stats().streamsAccepted, 0);
    assert.deepEqual(swarm.server.connectedEdges(), []);
    await anonymous.close();
  });

  test('an edge whose certificate another CA signed is refused: UNAUTHENTICATED', async () => {
    const swarm = await mtlsSwarm();
    const rogue = await tlsEdge(swarm.port, certs.rogueEdgeA, { edgeId: 'edge-a' });
    const reason = await refusal(rogue);
    assert.match(reason, /^UNAUTHENTICATED: edge "edge-a" not proven: no client certificate signed by this swarm's cluster.tls.caFile \(certificate not trusted: /);
    assert.equal(swarm.server.stats().streamsAccepted, 0);
    await rogue.close();
  });

  test('a valid certificate for another edge cannot claim edge-a: PERMISSION_DENIED, and edge-a keeps its stream and peers; edge-a itself restarting still drops them', async () => {
    const swarm = await mtlsSwarm();
    const a = await tlsEdge(swarm.port, certs.edgeA, { edgeId: 'edge-a', bootNonce: 'n1' });
    assert.ok(await a.whenOpen(5000));

    const impostor = await tlsEdge(swarm.port, certs.edgeB, { edgeId: 'edge-a', bootNonce: 'forged' });
    const reason = await refusal(impostor);
    assert.match(reason, /^PERMISSION_DENIED: edge "edge-a" not allowed: its client certificate \(CN=edge-b; DNS:edge-b; serial [0-9A-F]+\) does not carry the name "edge-a"/);
    assert.ok(swarm.server.stats().rejectedPermissionDenied >= 1);
    assert.deepEqual(swarm.gone, [], 'edge-a\'s WebTorrent peers were not dropped');
    assert.equal(swarm.server.stats().streamsReplaced, 0);
    assert.deepEqual(swarm.server.connectedEdges(), ['edge-a']);
    assert.equal(a.streamState, 'open');
    assert.equal((await send(a, [announce(4)]))[0].type, 'announce', 'edge-a is still served on its stream');
    await impostor.close();

    // Positive control: the real edge-a, restarted (new nonce, proven), replaces its old incarnation.
    const restarted = await tlsEdge(swarm.port, certs.edgeA, { edgeId: 'edge-a', bootNonce: 'n2' });
    assert.ok(await restarted.whenOpen(5000));
    assert.deepEqual(swarm.gone, ['edge-a']);
    assert.equal(swarm.server.stats().streamsReplaced, 1);
    await restarted.close();
    await a.close();
  });

  test('a Deployment-wide wildcard certificate proves "one of our edges" when edgeName is "{id}.tracker-edge.tracker.svc"', async () => {
    const files = await tlsFiles(certs.swarm, ca.certFile);
    const swarm = await startSwarm({ credentials: swarmServerCredentials(files), auth: new EdgeAuthenticator({ certificateName: '{id}.tracker-edge.tracker.svc' }) });
    const pod = await tlsEdge(swarm.port, certs.deployment, { edgeId: 'edge-7d9f8-x2k4q' });
    assert.ok(await pod.whenOpen(5000), pod.stats().lastError);
    // The same certificate with the per-pod rule does not pass.
    const strict = await mtlsSwarm();
    const refused = await tlsEdge(strict.port, certs.deployment, { edgeId: 'edge-7d9f8-x2k4q' });
    assert.match(await refusal(refused), /^PERMISSION_DENIED/);
    await pod.close();
    await refused.close();
  });

  test('the edge verifies the swarm\'s name: a swarm certificate without the expected name gets no stream', async () => {
    const swarm = await mtlsSwarm();
    const wrongName = await tlsEdge(swarm.port, certs.edgeA, { edgeId: 'edge-a', tlsServerName: 'swarm-9' });
    assert.match(await refusal(wrongName), /^UNAVAILABLE: .*swarm-9/);
    assert.notEqual(wrongName.streamState, 'open');
    assert.equal((await send(wrongName, [announce(1)]))[0].type, 'error');
    assert.equal(swarm.server.stats().streamsAccepted, 0);
    await wrongName.close();
    // Positive control: the expected name (the member name) opens.
    const right = await tlsEdge(swarm.port, certs.edgeA, { edgeId: 'edge-a' });
    assert.ok(await right.whenOpen(5000));
    await right.close();
  });
});

describe('token proofs', () => {
  test('the right token is served; a missing or wrong one is refused and cannot drop the edge\'s peers; the edge restarting still does', async () => {
    const swarm = await startSwarm({ auth: new EdgeAuthenticator({ token: new EdgeProofVerifier(TOKEN, 'swarm-0') }) });
    const a = edge(swarm.port, { edgeId: 'edge-a', bootNonce: 'n1', authToken: TOKEN });
    assert.ok(await a.whenOpen(5000), a.stats().lastError);
    assert.match(swarm.connected[0], /^edge-a\/n1: token$/);

    const none = edge(swarm.port, { edgeId: 'edge-a', bootNonce: 'x1' });
    assert.match(await refusal(none), /^UNAUTHENTICATED: edge "edge-a" not proven: no tracker-edge-proof/);
    const wrong = edge(swarm.port, { edgeId: 'edge-a', bootNonce: 'x2', authToken: 'w'.repeat(40) });
    assert.match(await refusal(wrong), /^UNAUTHENTICATED: edge "edge-a" not proven: the token proof does not match/);
    assert.deepEqual(swarm.gone, []);
    assert.equal(swarm.server.stats().rejectedUnauthenticated, 2);
    assert.equal(a.streamState, 'open');

    const restarted = edge(swarm.port, { edgeId: 'edge-a', bootNonce: 'n2', authToken: TOKEN });
    assert.ok(await restarted.whenOpen(5000));
    assert.deepEqual(swarm.gone, ['edge-a']);
    for (const t of [a, none, wrong, restarted]) await t.close();
  });

  test('a proof holds only for its edge id, boot nonce, swarm and time, and only once', () => {
    let now = 1_700_000_000_000;
    const verifier = new EdgeProofVerifier(TOKEN, 'swarm-0', { now: () => now });
    const claim = { swarm: 'swarm-0', edgeId: 'edge-a', bootNonce: 'n1' };
    const proof = signEdgeProof(TOKEN, claim, now);
    assert.match(proof, /^v1\.\d+\.[A-Za-z0-9_-]{11}\.[A-Za-z0-9_-]{43}$/);
    assert.ok(!proof.includes(TOKEN));

    assert.equal(verifier.verify(proof, 'edge-b', 'n1').ok, false, 'another edge id');
    assert.equal(verifier.verify(proof, 'edge-a', 'n2').ok, false, 'another boot nonce');
    assert.equal(new EdgeProofVerifier(TOKEN, 'swarm-1', { now: () => now }).verify(proof, 'edge-a', 'n1').ok, false, 'another swarm');
    assert.equal(new EdgeProofVerifier('z'.repeat(40), 'swarm-0', { now: () => now }).verify(proof, 'edge-a', 'n1').ok, false, 'another token');
    assert.deepEqual(verifier.verify(proof, 'edge-a', 'n1'), { ok: true });
    assert.deepEqual(verifier.verify(proof, 'edge-a', 'n1'), { ok: false, why: 'the token proof was already used' });
    assert.deepEqual(verifier.verify(signEdgeProof(TOKEN, claim, now), 'edge-a', 'n1'), { ok: true }, 'a fresh proof for the same claim');

    const old = signEdgeProof(TOKEN, claim, now - 301_000);
    const check = verifier.verify(old, 'edge-a', 'n1');
    assert.equal(check.ok, false);
    assert.match(check.ok ? '' : check.why, /301 s behind this swarm's clock/);
    assert.equal(verifier.verify(signEdgeProof(TOKEN, claim, now + 299_000), 'edge-a', 'n1').ok, true, 'within the window ahead');
    assert.equal(verifier.verify('v1.1.2.3', 'edge-a', 'n1').ok, false);

    // Remembered proofs are forgotten once they could no longer be replayed.
    assert.equal(verifier.remembered, 3);
    now += 601_000;
    assert.equal(verifier.verify(signEdgeProof(TOKEN, claim, now), 'edge-a', 'n1').ok, true);
    assert.equal(verifier.remembered, 1);
  });

  test('mutual TLS and a token together: both are required', async () => {
    const files = await tlsFiles(certs.swarm, ca.certFile);
    const swarm = await startSwarm({
      credentials: swarmServerCredentials(files),
      auth: new EdgeAuthenticator({ certificateName: '{id}', token: new EdgeProofVerifier(TOKEN, 'swarm-0') }),
    });
    const noToken = await tlsEdge(swarm.port, certs.edgeA, { edgeId: 'edge-a' });
    assert.match(await refusal(noToken), /^UNAUTHENTICATED: .*no tracker-edge-proof/);
    const both = await tlsEdge(swarm.port, certs.edgeA, { edgeId: 'edge-a', authToken: TOKEN });
    assert.ok(await both.whenOpen(5000));
    assert.match(swarm.connected[0], /: certificate CN=edge-a.* \+ token$/);
    await noToken.close();
    await both.close();
  });

  test('stream metadata is checked before any proof: a malformed edge id is refused as invalid', async () => {
    const swarm = await startSwarm();
    const bad = edge(swarm.port, { edgeId: 'edge a/../x' });
    assert.match(await refusal(bad), /^INVALID_ARGUMENT: tracker-edge-id-bin must be 1-253 letters/);
    assert.equal(swarm.server.stats().rejectedInvalid, 1);
    await bad.close();
  });
});

describe('certificate files', () => {
  const peerSerial = (port: number, edgeCert: IssuedCert): Promise<string> =>
    new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port,
        servername: 'swarm-0',
        ca: readFileSync(ca.certFile),
        cert: readFileSync(edgeCert.certFile),
        key: readFileSync(edgeCert.keyFile),
        ALPNProtocols: ['h2'],
      });
      socket.once('secureConnect', () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.destroy();
      });
      socket.once('error', reject);
    });

  test('a swarm certificate rotated in place (Secret volume ..data swap) is used for new connections; the open stream carries on', async () => {
    const volume = new SecretVolume(join(dir, 'swarm-volume'));
    volume.writeFrom(certs.swarm, ca);
    const files = await tlsFiles(undefined, volume.path('ca.crt'), { certFile: volume.path('tls.crt'), keyFile: volume.path('tls.key') });
    const swarm = await startSwarm({ credentials: swarmServerCredentials(files), auth: new EdgeAuthenticator({ certificateName: '{id}' }) });
    const a = await tlsEdge(swarm.port, certs.edgeA, { edgeId: 'edge-a' });
    assert.ok(await a.whenOpen(5000));
    assert.equal(await peerSerial(swarm.port, certs.edgeA), certs.swarm.serial);

    volume.writeFrom(certs.swarmRotated, ca);
    await files.reload();
    assert.equal(files.reloadsOk, 1);
    assert.equal(await peerSerial(swarm.port, certs.edgeA), certs.swarmRotated.serial, 'new connections get the new certificate');
    assert.equal(a.streamState, 'open');
    assert.equal(a.stats().streamsOpened, 1, 'the edge\'s stream was not reopened');
    assert.equal(a.stats().streamFailures, 0);
    assert.equal((await send(a, [announce(5)]))[0].type, 'announce');
    await a.close();
  });

  test('an edge certificate rotated in place is presented on the next connection', async () => {
    const volume = new SecretVolume(join(dir, 'edge-volume'));
    volume.writeFrom(certs.edgeA, ca);
    const edgeFiles = await tlsFiles(undefined, volume.path('ca.crt'), { certFile: volume.path('tls.crt'), keyFile: volume.path('tls.key') });
    const swarmFiles = await tlsFiles(certs.swarm, ca.certFile);
    const auth = new EdgeAuthenticator({ certificateName: '{id}' });
    const first = await startSwarm({ credentials: swarmServerCredentials(swarmFiles), auth });
    const a = edge(first.port, { edgeId: 'edge-a', bootNonce: 'n1', credentials: edgeChannelCredentials(edgeFiles), tlsServerName: 'swarm-0', initialReconnectBackoffMs: 50, maxReconnectBackoffMs: 200 });
    assert.ok(await a.whenOpen(5000));
    assert.match(first.connected[0], new RegExp(`serial ${certs.edgeA.serial}$`));

    volume.writeFrom(certs.edgeARotated, ca);
    await edgeFiles.reload();
    assert.equal(edgeFiles.reloadsOk, 1);
    // The swarm restarts on the same port: the edge reconnects by itself, with the new certificate.
    first.server.forceShutdown();
    await until('the edge to notice', () => a.streamState !== 'open');
    const second = await startSwarm({ port: first.port, credentials: swarmServerCredentials(swarmFiles), auth });
    await until('the edge to reconnect', () => second.connected.length === 1, 10_000);
    assert.match(second.connected[0], new RegExp(`^edge-a/n1: certificate .*serial ${certs.edgeARotated.serial}$`));
    await a.close();
  });

  test('a half-written or mismatched set keeps the previous certificate; a bad set at start names the file', async () => {
    const volume = new SecretVolume(join(dir, 'bad-volume'));
    volume.writeFrom(certs.swarm, ca);
    const files = await tlsFiles(undefined, volume.path('ca.crt'), { certFile: volume.path('tls.crt'), keyFile: volume.path('tls.key') });
    const before = files.notAfter;
    // The new certificate with the old key: not a consistent set.
    volume.write({ 'tls.crt': readFileSync(certs.swarmRotated.certFile), 'tls.key': readFileSync(certs.swarm.keyFile), 'ca.crt': readFileSync(ca.certFile) });
    await files.reload();
    assert.equal(files.reloadsFailed, 1);
    assert.equal(files.reloadsOk, 0);
    assert.equal(files.notAfter, before);
    // Completed: taken.
    volume.writeFrom(certs.swarmRotated, ca);
    await files.reload();
    assert.equal(files.reloadsOk, 1);

    await assert.rejects(
      TlsFiles.load({ certFile: certs.swarm.certFile, keyFile: certs.edgeA.keyFile, caFile: '', watch: false, labels: { keyFile: 'cluster.tls.keyFile', certFile: 'cluster.tls.certFile' } }),
      (error: Error) => error instanceof TlsFilesError && /^cluster.tls.keyFile ".*edge-a.key" is not the key of cluster.tls.certFile ".*swarm-0.pem"$/.test(error.message),
    );
    await assert.rejects(
      TlsFiles.load({ certFile: '', keyFile: '', caFile: join(dir, 'missing.pem'), watch: false, labels: { caFile: 'cluster.tls.caFile' } }),
      /cluster.tls.caFile ".*missing.pem": file not found/,
    );
  });

  test('watching: replacing the files is noticed without an explicit reload', async () => {
    const volume = new SecretVolume(join(dir, 'watched-volume'));
    volume.writeFrom(certs.edgeA, ca);
    const files = await TlsFiles.load({ certFile: volume.path('tls.crt'), keyFile: volume.path('tls.key'), caFile: volume.path('ca.crt'), pollIntervalMs: 500 });
    open.push(files);
    const updates: string[] = [];
    files.addIdentityCertificateListener((update) => updates.push(update ? update.certificate.toString() : 'null'));
    await until('the initial update', () => updates.length === 1);
    volume.writeFrom(certs.edgeARotated, ca);
    await until('the rotated certificate', () => files.reloadsOk === 1, 10_000);
    await until('listeners told', () => updates.length === 2);
    assert.equal(updates[1], readFileSync(certs.edgeARotated.certFile, 'utf8'));
  });
});
