/**
 * Finds and loads the native addon (native/udp-batch, built by
 * `npm run build:native`) once per process, and says why when it cannot.
 * TRACKER_UDP_NATIVE_ADDON=/path/udp_batch.node loads a build from elsewhere
 * (or, pointed at a missing file, simulates a machine without the addon).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
const ADDON_RELATIVE = path.join('native', 'udp-batch', 'build', 'Release', 'udp_batch.node');

export interface NativeUdpStatus {
  available: boolean;
  path?: string;
  error?: string;
}

let loaded: { module: NativeModule | null; status: NativeUdpStatus } | undefined;

function findAddon(): string | undefined {
  const override = process.env[ADDON_PATH_ENV];
  if (override) return override;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = path.join(dir, ADDON_RELATIVE);
    if (existsSync(candidate)) return candidate;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** The addon module (null when it cannot be used) and its status; loaded on first call. */
export function loadNativeAddon(): { module: NativeModule | null; status: NativeUdpStatus } {
  if (loaded) return loaded;
  if (process.platform !== 'linux') {
    loaded = { module: null, status: { available: false, error: `not supported on ${process.platform}` } };
    return loaded;
  }
  const file = findAddon();
  if (!file) {
    loaded = { module: null, status: { available: false, error: `not built (${ADDON_RELATIVE}; npm run build:native)` } };
    return loaded;
  }
  try {
    const mod = createRequire(import.meta.url)(file) as NativeModule;
    if (typeof mod.UdpBatchSocket !== 'function' || mod.abiVersion !== ADDON_ABI) {
      throw new Error(`unexpected addon (abiVersion ${String(mod.abiVersion)}, want ${ADDON_ABI})`);
    }
    loaded = { module: mod, status: { available: true, path: file } };
  } catch (error) {
    // The first line says what failed; require() appends its "Require stack".
    loaded = { module: null, status: { available: false, path: file, error: (error as Error).message.split('\n')[0] } };
  }
  return loaded;
}

/** Whether the native addon can be used here, and why not. */
export function nativeUdpStatus(): NativeUdpStatus {
  return { ...loadNativeAddon().status };
}

