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
 */
export { GrpcTransport, STREAM_STATE_CODE, type GrpcTransportOptions, type GrpcTransportStats, type StreamState } from './client.js';
export { GrpcSwarmServer, type GrpcSwarmServerOptions, type GrpcSwarmServerStats } from './server.js';
export { METADATA, PROTOCOL_VERSION, EXCHANGE_PATH, swarmServiceDefinition, type WireCodec } from './service.js';
