/**
 * Finds and loads the native addon (native/udp-batch, built by
 * `npm run build:native`) once per process, and says why when it cannot.
 * TRACKER_UDP_NATIVE_ADDON=/path/udp_batch.node loads a build from elsewhere
 * (or, pointed at a missing file, simulates a machine without the addon).
 */
import { loadAddon } from '../native-addon-loader.js';

/** The environment variable naming an addon file to load instead of the built one. */
export const ADDON_PATH_ENV = 'TRACKER_UDP_NATIVE_ADDON';

export interface NativeHandle {
  readonly recvData: ArrayBuffer;
  readonly recvMeta: ArrayBuffer;
  readonly sendData: ArrayBuffer;
  readonly sendMeta: ArrayBuffer;
  readonly control: ArrayBuffer;
  readonly recvStride: number;
  readonly batch: number;
  readonly slotSize: number;
  readonly sendSlots: number;
  bind(family: 4 | 6, address: Uint8Array, port: number, ipv6Only: boolean, reusePort: boolean, rcvbuf: number, sndbuf: number): number;
  flush(start: number, end: number): number;
  setReceiving(on: boolean): void;
  setRef(on: boolean): void;
  bufferSizes(): [number, number];
  close(): boolean;
}

export interface NativeModule {
  UdpBatchSocket: new (
    onEvent: (kind: number, n: number) => void,
    batch: number,
    slotSize: number,
    sendBytes: number,
    sendSlots: number,
  ) => NativeHandle;
  abiVersion: number;
}

const ADDON_ABI = 1;

export interface NativeUdpStatus {
  available: boolean;
  path?: string;
  error?: string;
}

let loaded: { module: NativeModule | null; status: NativeUdpStatus } | undefined;

/** The addon module (null when it cannot be used) and its status; loaded on first call. */
export function loadNativeAddon(): { module: NativeModule | null; status: NativeUdpStatus } {
  if (loaded) return loaded;
  const result = loadAddon<NativeModule>({ dir: 'udp-batch', target: 'udp_batch', abi: ADDON_ABI, overrideEnv: ADDON_PATH_ENV });
  if ('error' in result) loaded = { module: null, status: { available: false, path: result.path, error: result.error } };
  else if (typeof result.module.UdpBatchSocket !== 'function') {
    loaded = { module: null, status: { available: false, path: result.path, error: 'unexpected addon (no UdpBatchSocket)' } };
  } else loaded = { module: result.module, status: { available: true, path: result.path } };
  return loaded;
}

/** Whether the native addon can be used here, and why not. */
export function nativeUdpStatus(): NativeUdpStatus {
  return { ...loadNativeAddon().status };
}

