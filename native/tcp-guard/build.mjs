#!/usr/bin/env node
// Builds the TCP connection guard (native/tcp-guard) offline; see
// native/build-addon.mjs for how. Without it the tracker port runs with no
// connection caps and can spin when file descriptors run out (the tracker
// says so at start). TRACKER_HTTP__CONNECTION_GUARD (the tracker's
// http.connectionGuard) decides: "off" skips the build, "required" makes a
// failure exit 1 (the tracker then refuses to start without it); so does --required.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon } from '../build-addon.mjs';

// The tracker's own setting http.connectionGuard, as an environment variable.
const guard = (process.env.TRACKER_HTTP__CONNECTION_GUARD ?? '').trim();

buildAddon({
  dir: path.dirname(fileURLToPath(import.meta.url)),
  target: 'tcp_guard',
  export: 'hook',
  linuxOnly: 'it patches an ELF shared object',
  fallback: 'the tracker port runs without connection caps (http.maxConnections, http.maxConnectionsPerAddress)',
  skip: guard === 'off' ? 'TRACKER_HTTP__CONNECTION_GUARD=off' : undefined,
  required: guard === 'required',
});
