import { existsSync } from 'node:fs';
/**
 * aria2c (Debian `aria2`) as a seeder or leecher.
 *
 * HTTP trackers work over IPv4 and IPv6. aria2 sends UDP tracker requests only
 * through its IPv4 DHT socket, so with DHT off it ignores udp:// trackers;
 * `udpTrackers: true` turns DHT on with a fresh, empty routing table and no
 * entry point (it never contacts anyone it was not told about: the only nodes
 * it learns are loopback peers from the BitTorrent handshake). udp://[::1]
 * trackers do not work in aria2 1.36 at all ("Exception thrown while sending
 * UDP tracker request").
 */
import { join } from 'node:path';
import { findFreePort, type CleanupContext } from '../tracker-process.js';
import { ManagedProcess, requireBinary } from './common.js';

export interface Aria2Options {
  /** Path of the .torrent file, or ... */
  torrentPath?: string;
  /**
   * ... a magnet link (leechers): aria2 first fetches the info dictionary
   * from a peer (BEP 9), announcing meanwhile with left=0, then downloads.
   */
  magnet?: string;
  /** Download directory (for a seeder: the directory that holds the payload). */
  dir: string;
  /** Where aria2 keeps its log (and DHT files); must exist. */
  workDir: string;
  /** Address to bind peer (and tracker) sockets to: '127.0.0.1' (default) or '::1'. */
  bindAddress?: string;
  /** Peer port; a free one by default. */
  listenPort?: number;
  /** Enable an isolated DHT so that udp:// (IPv4) trackers are used. */
  udpTrackers?: boolean;
  /** Name used in messages. */
  name?: string;
  /**
   * Seeder: exit once it uploaded this many times the torrent's size (0, the
   * default, seeds until stopped). Exiting on its own, aria2c sends
   * event=stopped with its upload; on SIGTERM it shuts down at once and does not.
   */
  seedRatio?: number;
  /**
   * Leecher: minutes (fractional) to seed after the download before exiting
   * (default 0). Above 0 it announces event=completed first, then event=stopped.
   */
  seedTimeMinutes?: number;
}

export class Aria2Client {
  readonly listenPort: number;
  readonly logFile: string;
  constructor(readonly proc: ManagedProcess, listenPort: number, logFile: string) {
    this.listenPort = listenPort;
    this.logFile = logFile;
  }

  /** Resolves when aria2 logged an answer from a tracker (HTTP response or UDP announce reply). */
  async waitForTrackerResponse(timeoutMs: number): Promise<string> {
    return this.proc.waitForLine(
      (line) => /Response received:|UDPT received ANNOUNCE reply/.test(line),
      timeoutMs,
      'a tracker response in its log',
      { files: [this.logFile] },
    );
  }

  /** Waits for a leecher to exit (it exits after the download with --seed-time=0); rejects unless exit code 0. */
  async waitForDownload(timeoutMs: number, expectedFile?: string): Promise<void> {
    await this.proc.waitForCleanExit(timeoutMs);
    // Once seen in CI: exit 0 and no file. Keep aria2c's own account of it if that recurs.
    if (expectedFile !== undefined && !existsSync(expectedFile)) {
      throw new Error(await this.proc.describe(`aria2c exited 0 but ${expectedFile} does not exist`));
    }
  }

  stop(): Promise<unknown> {
    return this.proc.stop();
  }
}

export async function startAria2(scope: CleanupContext, role: 'seed' | 'leech', options: Aria2Options): Promise<Aria2Client> {
  if (!options.torrentPath === !options.magnet) throw new Error('startAria2 needs exactly one of torrentPath and magnet');
  if (role === 'seed' && options.magnet) throw new Error('an aria2c seeder needs the .torrent (torrentPath), not a magnet link');
  const aria2c = requireBinary('aria2c', 'aria2');
  const bindAddress = options.bindAddress ?? '127.0.0.1';
  const family = bindAddress.includes(':') ? 6 : 4;
  const listenPort = options.listenPort ?? (await findFreePort({ host: bindAddress, tcp: true, udp: false }));
  const logFile = join(options.workDir, `aria2-${role}-${listenPort}.log`);
  const args = [
    '--no-conf=true',
    `--stop-with-process=${process.pid}`,
    `--dir=${options.dir}`,
    `--listen-port=${listenPort}`,
    `--interface=${bindAddress}`,
    `--disable-ipv6=${family === 4 ? 'true' : 'false'}`,
    '--enable-peer-exchange=false',
    '--bt-enable-lpd=false',
    '--check-integrity=true',
    '--file-allocation=none',
    '--allow-overwrite=true',
    '--auto-file-renaming=false',
    '--bt-save-metadata=false',
    '--bt-tracker-connect-timeout=5',
    '--bt-tracker-timeout=5',
    '--summary-interval=0',
    '--console-log-level=warn',
    `--log=${logFile}`,
    '--log-level=info',
  ];
  if (options.udpTrackers) {
    if (family === 6) throw new Error('aria2c cannot use udp:// trackers over IPv6 (its UDP tracker client rides on the IPv4 DHT socket)');
    const dhtPort = await findFreePort({ host: bindAddress, tcp: false, udp: true });
    args.push(
      '--enable-dht=true',
      '--enable-dht6=false',
      `--dht-listen-port=${dhtPort}`,
      `--dht-file-path=${join(options.workDir, `dht-${role}-${listenPort}.dat`)}`,
    );
  } else {
    args.push('--enable-dht=false', '--enable-dht6=false');
  }
  if (role === 'seed') {
    // Seed until stopped.
    args.push(`--seed-ratio=${options.seedRatio ?? 0}`);
  } else {
    // Exit as soon as the download is complete (and verified).
    args.push(`--seed-time=${options.seedTimeMinutes ?? 0}`, '--bt-hash-check-seed=true');
  }
  args.push(options.torrentPath ?? options.magnet!);
  const managed = new ManagedProcess(scope, {
    name: options.name ?? `aria2c ${role}er`,
    command: aria2c,
    args,
    cwd: options.workDir,
    logFiles: [logFile],
  });
  return new Aria2Client(managed, listenPort, logFile);
}
