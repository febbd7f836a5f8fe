/**
 * Edge <-> swarm trust from the configuration: TLS credentials (cluster.tls.*,
 * files re-read when they change) and the shared token (cluster.authToken or
 * cluster.authTokenFile), for each role.
 *
 * - An edge speaks TLS when cluster.tls.caFile is set: it verifies each swarm
 *   against that CA and the name cluster.tls.serverName ("{name}" = the
 *   swarm's member name: swarms are dialled by IP, their identity is their
 *   name), and presents cluster.tls.certFile as its client certificate.
 * - A swarm serves TLS when cluster.tls.certFile is set; with
 *   cluster.tls.caFile too, every edge must present a certificate signed by
 *   that CA and naming the edge id it claims (cluster.tls.edgeName).
 * - With a token, every stream must carry a proof of it bound to the edge id
 *   (lib/transport/grpc/edge-token.ts).
 * - Nothing configured: plain gRPC and every claimed edge id believed, as
 *   `npm start` and local clusters need.
 * - Swarms calling each other (slot handoff) use the same settings: the
 *   caller verifies the callee as an edge does and presents its own
 *   certificate, which must carry the name cluster.tls.serverName gives the
 *   caller's member name; with a token, each call carries a swarm's proof.
 */
import { readFileSync } from 'node:fs';
import { credentials as grpcCredentials, type ChannelCredentials, type ServerCredentials } from '@grpc/grpc-js';
import type { Config } from '../../lib/runtime/config.js';
import type { Logger } from '../../lib/runtime/logger.js';
import type { TrackerMetrics } from '../../lib/runtime/metrics.js';
import { edgeChannelCredentials, swarmServerCredentials } from '../../lib/transport/grpc/credentials.js';
import { EdgeAuthenticator } from '../../lib/transport/grpc/edge-auth.js';
import { EdgeProofVerifier, SWARM_PROOF_LABEL } from '../../lib/transport/grpc/edge-token.js';
import type { HandoffPeerTrust } from '../swarm/handoff/handoff-peers.js';
import { TlsFiles, TlsFilesError } from '../../lib/transport/grpc/tls-files.js';

const LABELS = { certFile: 'cluster.tls.certFile', keyFile: 'cluster.tls.keyFile', caFile: 'cluster.tls.caFile' } as const;
const MEMBER_PLACEHOLDER = '{name}';

/** The shared token, from cluster.authToken or the file cluster.authTokenFile ('' = none). */
export function readAuthToken(config: Config): string {
  if (config.cluster.authTokenFile === '') return config.cluster.authToken;
  let token: string;
  try {
    token = readFileSync(config.cluster.authTokenFile, 'utf8').trim();
  } catch (error) {
    throw new Error(`config key "cluster.authTokenFile": cannot read "${config.cluster.authTokenFile}": ${(error as Error).message}`);
  }
  if (token.length < 32) throw new Error(`config key "cluster.authTokenFile": the token in "${config.cluster.authTokenFile}" has ${token.length} characters; at least 32 are needed`);
  return token;
}

async function loadTls(config: Config, logger: Logger, metrics: TrackerMetrics): Promise<TlsFiles> {
  try {
    const files = await TlsFiles.load({ ...config.cluster.tls, labels: LABELS, logger: logger.child({ component: 'cluster-tls' }) });
    metrics.observeClusterTls(() => files);
    return files;
  } catch (error) {
    if (error instanceof TlsFilesError) throw new Error(`config: ${error.message}`);
    throw error;
  }
}

export interface EdgeTrust {
  credentials?: ChannelCredentials;
  /** The name swarm `member`'s certificate must carry; undefined without TLS or for "the address's host". */
  serverNameFor(member: string): string | undefined;
  /** '' = none. */
  authToken: string;
  /** For the start-up log line. */
  readonly summary: string;
  close(): void;
}

export async function edgeTrust(config: Config, logger: Logger, metrics: TrackerMetrics): Promise<EdgeTrust> {
  const tls = config.cluster.tls;
  const authToken = readAuthToken(config);
  if (tls.caFile === '' && tls.certFile !== '') {
    throw new Error('config key "cluster.tls.caFile": an edge with cluster.tls.certFile needs cluster.tls.caFile to verify the swarms (TLS is on when it is set)');
  }
  const files = tls.caFile !== '' ? await loadTls(config, logger, metrics) : undefined;
  const parts = [files ? (files.hasIdentity ? 'mutual TLS' : 'TLS') : 'plain gRPC', authToken !== '' ? 'token' : ''].filter(Boolean);
  return {
    credentials: files ? edgeChannelCredentials(files) : undefined,
    serverNameFor: (member) => (files && tls.serverName !== '' ? tls.serverName.split(MEMBER_PLACEHOLDER).join(member) : undefined),
    authToken,
    summary: parts.join(' + '),
    close: () => files?.close(),
  };
}

export interface SwarmTrust {
  credentials?: ServerCredentials;
  auth: EdgeAuthenticator;
  /** Handoff: how this swarm calls other swarms, and who may call it. */
  peers: HandoffPeerTrust;
  peerAuth: EdgeAuthenticator;
  readonly summary: string;
  close(): void;
}

export async function swarmTrust(config: Config, name: string, logger: Logger, metrics: TrackerMetrics): Promise<SwarmTrust> {
  const tls = config.cluster.tls;
  const authToken = readAuthToken(config);
  if (tls.certFile === '' && tls.caFile !== '') {
    throw new Error('config key "cluster.tls.certFile": a swarm with cluster.tls.caFile needs cluster.tls.certFile and cluster.tls.keyFile to serve TLS');
  }
  const files = tls.certFile !== '' ? await loadTls(config, logger, metrics) : undefined;
  const auth = new EdgeAuthenticator({
    certificateName: files?.hasCa ? tls.edgeName : undefined,
    token: authToken !== '' ? new EdgeProofVerifier(authToken, name) : undefined,
  });
  // A calling swarm's certificate names it as edges name the swarms they dial ("" = its member name itself).
  const peerName = tls.serverName === '' ? '{id}' : tls.serverName.split(MEMBER_PLACEHOLDER).join('{id}');
  const peerAuth = new EdgeAuthenticator({
    certificateName: files?.hasCa ? peerName : undefined,
    token: authToken !== '' ? new EdgeProofVerifier(authToken, name, { label: SWARM_PROOF_LABEL }) : undefined,
    caller: { noun: 'swarm', nameKey: 'cluster.tls.serverName' },
  });
  const parts = [files ? (files.hasCa ? 'mutual TLS' : 'TLS') : 'plain gRPC', authToken !== '' ? 'token' : ''].filter(Boolean);
  return {
    credentials: files ? swarmServerCredentials(files) : undefined,
    auth,
    peerAuth,
    peers: {
      // Without a CA a swarm's TLS is verified against the system's roots.
      credentials: files ? (files.hasCa ? edgeChannelCredentials(files) : grpcCredentials.createSsl()) : undefined,
      serverNameFor: (member) => (files && tls.serverName !== '' ? tls.serverName.split(MEMBER_PLACEHOLDER).join(member) : undefined),
      authToken,
    },
    summary: parts.join(' + '),
    close: () => files?.close(),
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** What to warn about at a swarm's start: edges nobody authenticates, on an address others can reach. */
export function swarmTrustWarning(config: Config, auth: EdgeAuthenticator): string | undefined {
  if (auth.required || isLoopback(config.swarm.grpcHost)) return undefined;
  return `swarm gRPC listens on ${config.swarm.grpcHost} without edge authentication: anyone who reaches port ${config.swarm.grpcPort} can pose as any edge (and drop its WebTorrent peers) or as a swarm (and pull or push peers); set cluster.tls.caFile with cluster.tls.certFile/keyFile (mutual TLS) or cluster.authToken`;
}
