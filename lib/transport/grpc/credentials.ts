/**
 * grpc-js credentials for edge <-> swarm TLS, built on TlsFiles so every new
 * connection uses the newest certificate files (grpc-js's certificate
 * provider API: the server swaps its secure context, the channel builds one
 * per connection attempt).
 */
import { experimental, type ChannelCredentials, type ServerCredentials } from '@grpc/grpc-js';
import type { TlsFiles } from './tls-files.js';

/**
 * A swarm's server credentials: its certificate, and with a CA, a request
 * for the edge's certificate. The handshake does not refuse an edge without
 * a valid certificate: EdgeAuthenticator refuses its stream instead, with
 * UNAUTHENTICATED and the reason, so the edge's logs and the swarm's
 * metrics say what is wrong instead of showing a bare connection failure.
 */
export function swarmServerCredentials(files: TlsFiles): ServerCredentials {
  if (!files.hasIdentity) throw new Error('a swarm serving TLS needs a certificate and key');
  // grpc-js 1.14 declares these parameters as (ca, identity, ...) but passes
  // them on as (identity, ca, ...): the first provider gives the server's
  // certificate, the second (or null) the CA that verifies clients.
  return experimental.createCertificateProviderServerCredentials(files, files.hasCa ? files : null, false);
}

/**
 * An edge's channel credentials: the CA that verifies swarms, and the edge's
 * client certificate when it has one. The name the swarm's certificate must
 * carry is a channel option (GrpcTransportOptions.tlsServerName).
 */
export function edgeChannelCredentials(files: TlsFiles): ChannelCredentials {
  if (!files.hasCa) throw new Error('an edge needs a CA bundle to verify swarms');
  return experimental.createCertificateProviderChannelCredentials(files, files.hasIdentity ? files : null);
}
