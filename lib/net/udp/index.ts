/**
 * A UDP socket that hands datagrams to JS in batches and sends replies in
 * batches: native (recvmmsg / sendmmsg, native/udp-batch) where the addon
 * loads, node:dgram otherwise. The contract is in types.ts.
 */
import { DgramBatchUdpSocket } from './dgram-socket.js';
import { loadNativeAddon } from './native-addon.js';
import { NativeBatchUdpSocket } from './native-socket.js';
import type { BatchUdpSocket, BatchUdpSocketOptions } from './types.js';

export { nativeUdpStatus, ADDON_PATH_ENV, type NativeUdpStatus } from './native-addon.js';
export type { BatchUdpSocket, BatchUdpSocketOptions, BatchUdpSocketStats, DatagramWriter, ReceivedBatch, UdpEndpoint } from './types.js';

/** Creates a socket: native when the addon loads (unless told otherwise), dgram otherwise. */
export function createBatchUdpSocket(options: BatchUdpSocketOptions = {}): BatchUdpSocket {
  const which = options.implementation ?? 'auto';
  if (which !== 'dgram') {
    const { module, status } = loadNativeAddon();
    if (module) return new NativeBatchUdpSocket(module, options);
    if (which === 'native') throw new Error(`native UDP batching unavailable: ${status.error ?? 'unknown reason'}`);
  }
  return new DgramBatchUdpSocket(options);
}
