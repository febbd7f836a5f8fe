#!/usr/bin/env node
// Builds the batched-UDP addon (native/udp-batch) offline; see
// native/build-addon.mjs for how. Without it lib/net/udp/ falls back to
// node:dgram. The tracker's own setting udp.batchedIo, as the environment
// variable TRACKER_UDP__BATCHED_IO, decides: "off" skips the build,
// "required" (the tracker then refuses to start without the addon) makes a
// build failure exit 1, so CI fails at the build; so does --required.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon } from '../build-addon.mjs';

const batchedIo = (process.env.TRACKER_UDP__BATCHED_IO ?? '').trim();

buildAddon({
  dir: path.dirname(fileURLToPath(import.meta.url)),
  target: 'udp_batch',
  export: 'UdpBatchSocket',
  linuxOnly: 'recvmmsg/sendmmsg need Linux',
  fallback: 'the UDP socket falls back to node:dgram',
  skip: batchedIo === 'off' ? 'TRACKER_UDP__BATCHED_IO=off' : undefined,
  required: batchedIo === 'required',
});
