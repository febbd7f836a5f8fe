/**
 * The gRPC transport between edges and swarms (proto/tracker.proto).
 *
 * Edge: one GrpcTransport per swarm member; relayed WebTorrent messages
 *   arrive through `onRelay` and go to the WebSocket frontend:
 *     transport.onRelay((socket, m) => ws.deliver({ edge: edgeId, socket }, m));
 * Swarm: one GrpcSwarmServer wrapping the Swarm; it is the swarm's RelaySink:
 *     const server = new GrpcSwarmServer(swarm, { port, swarmId, onEdgeGone: (e) => swarm.webtorrent.dropEdge(e) });
 *     swarm.webtorrent.setRelay(server);
 *     await server.listen();            // ... on SIGTERM: await server.shutdown(5000)
 * Trust (optional): TLS from files that are re-read when they change
 * (tls-files.ts, credentials.ts), and the swarm's check of the edge id a
 * stream claims (edge-auth.ts: client certificate and/or a token proof,
 * edge-token.ts).
 */
export { GrpcTransport, STREAM_STATE_CODE, type GrpcTransportOptions, type GrpcTransportStats, type StreamState } from './client.js';
export { GrpcSwarmServer, type GrpcSwarmServerOptions, type GrpcSwarmServerStats, type StreamRejection } from './server.js';
export { EdgeAuthenticator, type EdgeAuthOptions } from './edge-auth.js';
export { EdgeProofVerifier, signEdgeProof } from './edge-token.js';
export { TlsFiles, TlsFilesError, type TlsFilesOptions } from './tls-files.js';
export { edgeChannelCredentials, swarmServerCredentials } from './credentials.js';
export { METADATA, PROTOCOL_VERSION, EXCHANGE_PATH, swarmServiceDefinition, type WireCodec } from './service.js';
