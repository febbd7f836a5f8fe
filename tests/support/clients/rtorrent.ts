/**
 * rtorrent (Debian `rtorrent`, 0.9.8 / libtorrent 0.13.8) run headless from a
 * generated config: `rtorrent -n -o import=<rc>` with `system.daemon.set = true`.
 *
 * It speaks UDP (and HTTP) trackers without DHT, over IPv4 only: 0.9.8 refuses
 * an IPv6 bind address ("not an af_inet address") and cannot use peers6 or
 * 18-byte UDP peers. It keeps one candidate per IP address: against trackers
 * that return the announcer in its own peer list (opentracker, the npm
 * bittorrent-tracker) two rtorrents on 127.0.0.1 only ever dial themselves
 * ("is self"). Ours leaves the announcer out, so one address works, but the
 * tests bind the seeder to 127.0.0.2 anyway: still loopback, and the tracker
 * must then use each packet's source address to tell the peers apart.
 */
import { writeFile, mkdir, access } from 'node:fs/promises';
import { join } from 'node:path';
import { findFreePort, type CleanupContext } from '../tracker-process.js';
import { ManagedProcess, pollUntil, requireBinary } from './common.js';

export interface RtorrentOptions {
  torrentPath: string;
  /** Download directory (for a seeder: the directory holding the payload). */
  dir: string;
  /** Working directory for config, session and log; must exist. */
  workDir: string;
  /** IPv4 loopback address to bind to (default 127.0.0.1). */
  bindAddress?: string;
  /** Peer port; a free one by default. */
  listenPort?: number;
  name?: string;
}

export class RtorrentClient {
  constructor(
    readonly proc: ManagedProcess,
    readonly listenPort: number,
    readonly logFile: string,
    private readonly doneMarker: string,
  ) {}

  /** Resolves when rtorrent logged a tracker reply ("received N peers"). */
  waitForTrackerResponse(timeoutMs: number): Promise<string> {
    return this.proc.waitForLine((line) => /tracker_list: received \d+ peers/.test(line), timeoutMs, 'a tracker reply in its log', {
      files: [this.logFile],
    });
  }

  /** Resolves when the download finished (event.download.finished fired); rejects after `timeoutMs`. */
  async waitForDownload(timeoutMs: number): Promise<void> {
    const done = await pollUntil(async () => {
      if (this.proc.exited()) return false;
      return (await access(this.doneMarker).then(() => true, () => undefined)) ?? undefined;
    }, timeoutMs);
    if (done !== true) {
      const why = done === false ? 'it exited first' : `not within ${timeoutMs} ms`;
      throw new Error(await this.proc.describe(`${this.proc.name}: the download did not finish (${why})`));
    }
  }

  stop(): Promise<unknown> {
    return this.proc.stop();
  }
}

/** rtorrent config strings are double-quoted with backslash escapes. */
function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export async function startRtorrent(scope: CleanupContext, role: 'seed' | 'leech', options: RtorrentOptions): Promise<RtorrentClient> {
  const rtorrent = requireBinary('rtorrent', 'rtorrent');
  const bindAddress = options.bindAddress ?? '127.0.0.1';
  if (bindAddress.includes(':')) throw new Error('rtorrent 0.9.8 cannot bind to IPv6 addresses');
  const listenPort = options.listenPort ?? (await findFreePort({ host: bindAddress, tcp: true, udp: false }));
  const base = join(options.workDir, `rtorrent-${role}-${listenPort}`);
  const sessionDir = `${base}.session`;
  await mkdir(sessionDir, { recursive: true });
  const logFile = `${base}.log`;
  const doneMarker = `${base}.done`;
  const rcFile = `${base}.rc`;
  const rc = [
    `directory.default.set = ${quote(options.dir)}`,
    `session.path.set = ${quote(sessionDir)}`,
    `network.port_range.set = ${listenPort}-${listenPort}`,
    'network.port_random.set = no',
    `network.bind_address.set = ${bindAddress}`,
    'dht.mode.set = disable',
    'protocol.pex.set = no',
    'trackers.use_udp.set = yes',
    'system.daemon.set = true',
    `log.open_file = "main", ${quote(logFile)}`,
    'log.add_output = "info", "main"',
    // Tracker requests/replies ("received N peers") and peer connections.
    'log.add_output = "tracker_info", "main"',
    'log.add_output = "connection_info", "main"',
    'log.add_output = "peer_info", "main"',
    // Touches the marker when a download completes (a leecher's signal to the test).
    `method.set_key = event.download.finished, e2e_done, ${quote(`execute.nothrow=touch,${doneMarker}`)}`,
    // Quit when the test process is gone (no orphans if the test runner dies).
    `schedule2 = e2e_watchdog, 2, 2, ${quote(`execute.nothrow=sh,-c,${quote(`kill -0 ${process.pid} 2>/dev/null || kill -TERM $PPID`)}`)}`,
    `load.start_verbose = ${quote(options.torrentPath)}`,
    '',
  ].join('\n');
  await writeFile(rcFile, rc);
  const managed = new ManagedProcess(scope, {
    name: options.name ?? `rtorrent ${role}er`,
    command: rtorrent,
    args: ['-n', '-o', `import=${rcFile}`],
    cwd: options.workDir,
    env: { ...process.env, HOME: options.workDir, TERM: process.env.TERM ?? 'dumb' },
    logFiles: [logFile, rcFile],
  });
  return new RtorrentClient(managed, listenPort, logFile, doneMarker);
}
