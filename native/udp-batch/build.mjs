#!/usr/bin/env node
// Builds the batched-UDP addon (native/udp-batch) offline; see
// native/build-addon.mjs for how. Without it lib/net/batch-udp-socket.ts
// falls back to node:dgram. TRACKER_UDP_NATIVE=0 skips the build;
// --required (or TRACKER_UDP_NATIVE_REQUIRED=1) makes a failure exit 1, for
// a CI that must measure the native path.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon } from '../build-addon.mjs';

buildAddon({
  dir: path.dirname(fileURLToPath(import.meta.url)),
  target: 'udp_batch',
  export: 'UdpBatchSocket',
  linuxOnly: 'recvmmsg/sendmmsg need Linux',
  fallback: 'the UDP socket falls back to node:dgram',
  switchEnv: 'TRACKER_UDP_NATIVE',
  requiredEnv: 'TRACKER_UDP_NATIVE_REQUIRED',
});
