/**
 * Whether a stream may speak for the edge id it claims: the swarm's side of
 * edge <-> swarm trust.
 *
 * An edge id matters: relays for that edge's WebTorrent sockets go to its
 * stream, and a stream with a known id and a new boot nonce drops every
 * WebTorrent peer of the previous incarnation. So a swarm that requires
 * proof refuses a stream before it touches any state:
 *
 * - certificate (mutual TLS): the edge presented a certificate that the
 *   swarm's CA verified (else UNAUTHENTICATED), and the certificate carries
 *   the name `certificateName` with "{id}" replaced by the claimed edge id,
 *   as a DNS subject alternative name or, without any, as its CN; wildcards
 *   match one label, as in HTTPS (else PERMISSION_DENIED). With a
 *   certificate per edge pod (cert-manager csi-driver, dns-names
 *   "${POD_NAME}") that pins the id; a certificate shared by a Deployment,
 *   e.g. "*.tracker-edge.ns.svc" with certificateName
 *   "{id}.tracker-edge.ns.svc", proves "one of our edges", like a token
 *   (Node takes no wildcard directly under a one-label domain).
 * - token: a valid proof of the shared token for this id, boot nonce and
 *   swarm (edge-token.ts), else UNAUTHENTICATED.
 *
 * With both configured, both are required. I/O-free.
 *
 * Swarms calling each other (slot handoff) are checked by the same class
 * with `caller` set: the certificate must carry the name their cluster.tls
 * .serverName gives the claimed member name, the token proof is a swarm's.
 */
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { status } from '@grpc/grpc-js';
import type { EdgeProofVerifier } from './edge-token.js';

export interface EdgeAuthOptions {
  /** Require a verified client certificate naming the edge: this template, "{id}" = the claimed edge id. */
  certificateName?: string;
  /** Require a token proof. */
  token?: EdgeProofVerifier;
  /** Who calls, for messages: default edges (an edge id, cluster.tls.edgeName). */
  caller?: { noun: string; nameKey: string };
}

const EDGE_CALLER = { noun: 'edge', nameKey: 'cluster.tls.edgeName' } as const;

export interface EdgeCredentials {
  edgeId: string;
  bootNonce: string;
  /** The tracker-edge-proof metadata ('' when absent). */
  proof: string;
  /** The client certificate, only if the swarm's CA verified it. */
  verifiedCertificate: PeerCertificate | undefined;
  /** Why TLS did not verify a certificate, when known (e.g. "no certificate", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"). */
  tlsProblem?: string;
}

export type EdgeRefusal = 'unauthenticated' | 'permission-denied';

export type EdgeAuthResult =
  | { ok: true; /** How the identity was proven, for logs. */ proof: string }
  | { ok: false; code: status; reason: EdgeRefusal; details: string };

export const EDGE_NAME_PLACEHOLDER = '{id}';

export class EdgeAuthenticator {
  constructor(private readonly options: EdgeAuthOptions = {}) {}

  /** Whether any proof is required (false: every claim is believed, as without this class). */
  get required(): boolean {
    return this.options.certificateName !== undefined || this.options.token !== undefined;
  }

  check(c: EdgeCredentials): EdgeAuthResult {
    const { noun, nameKey } = this.options.caller ?? EDGE_CALLER;
    const proven: string[] = [];
    const name = this.options.certificateName;
    if (name !== undefined) {
      const cert = c.verifiedCertificate;
      if (!cert) {
        const why = c.tlsProblem ? ` (${c.tlsProblem})` : '';
        return refuse('unauthenticated', `${noun} "${c.edgeId}" not proven: no client certificate signed by this swarm's cluster.tls.caFile${why}; give the ${noun} cluster.tls.certFile and keyFile`);
      }
      const expected = name.split(EDGE_NAME_PLACEHOLDER).join(c.edgeId);
      if (checkServerIdentity(expected, cert) !== undefined) {
        return refuse(
          'permission-denied',
          `${noun} "${c.edgeId}" not allowed: its client certificate (${describe(cert)}) does not carry the name "${expected}" (${nameKey} "${name}")`,
        );
      }
      proven.push(`certificate ${describe(cert)}`);
    }
    const token = this.options.token;
    if (token) {
      const result = token.verify(c.proof, c.edgeId, c.bootNonce);
      if (!result.ok) return refuse('unauthenticated', `${noun} "${c.edgeId}" not proven: ${result.why}`);
      proven.push('token');
    }
    return { ok: true, proof: proven.length > 0 ? proven.join(' + ') : 'none' };
  }
}

function refuse(reason: EdgeRefusal, details: string): EdgeAuthResult {
  return { ok: false, code: reason === 'unauthenticated' ? status.UNAUTHENTICATED : status.PERMISSION_DENIED, reason, details };
}

/** Subject CN, alternative names and serial: enough to find the certificate. */
function describe(cert: PeerCertificate): string {
  const parts: string[] = [];
  const cn = cert.subject?.CN;
  if (cn) parts.push(`CN=${Array.isArray(cn) ? cn.join(',') : cn}`);
  if (cert.subjectaltname) parts.push(cert.subjectaltname);
  if (cert.serialNumber) parts.push(`serial ${cert.serialNumber}`);
  return parts.join('; ') || 'no names';
}
