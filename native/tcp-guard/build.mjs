#!/usr/bin/env node
// Builds the TCP connection guard (native/tcp-guard) offline; see
// native/build-addon.mjs for how. Without it the tracker port runs with no
// connection caps and can spin when file descriptors run out (the tracker
// says so at start). TRACKER_TCP_GUARD_BUILD=0 skips the build; --required
// (or TRACKER_TCP_GUARD_REQUIRED=1) makes a failure exit 1.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon } from '../build-addon.mjs';

buildAddon({
  dir: path.dirname(fileURLToPath(import.meta.url)),
  target: 'tcp_guard',
  export: 'hook',
  linuxOnly: 'it patches an ELF shared object',
  fallback: 'the tracker port runs without connection caps (http.maxConnections, http.maxConnectionsPerAddress)',
  skip: process.env.TRACKER_TCP_GUARD_BUILD === '0' ? 'TRACKER_TCP_GUARD_BUILD=0' : undefined,
  required: process.env.TRACKER_TCP_GUARD_REQUIRED === '1',
});
