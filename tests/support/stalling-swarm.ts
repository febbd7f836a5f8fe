/**
 * A swarm that accepts edge streams and never answers: requests sent to it
 * time out on the edge, and with a small in-flight cap the edge's queue
 * fills up (overload). It listens on 127.0.0.1 with plain gRPC.
 *
 *   const stall = await startStallingSwarm();
 *   ... --cluster.members=swarm-0=127.0.0.1:${stall.port} ...
 *   stall.requests()   // requests received so far
 *   stall.stop();
 */
import * as grpc from '@grpc/grpc-js';
import { swarmServiceDefinition } from '../../lib/transport/grpc/service.js';
import type { DecodedEdgeBatch } from '../../lib/transport/grpc/codec.js';

export interface StallingSwarm {
  readonly port: number;
  /** Requests received on every stream so far. */
  requests(): number;
  stop(): void;
}

export async function startStallingSwarm(): Promise<StallingSwarm> {
  const server = new grpc.Server();
  let received = 0;
  server.addService(swarmServiceDefinition(), {
    exchange: (call: grpc.ServerDuplexStream<DecodedEdgeBatch, unknown>) => {
      call.sendMetadata(new grpc.Metadata());
      call.on('data', (batch: DecodedEdgeBatch) => (received += batch.requests.length));
      call.on('error', () => {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { port, requests: () => received, stop: () => server.forceShutdown() };
}
