/**
 * libtorrent-rasterbar 2.0 (the engine of qBittorrent and Deluge) through
 * Debian's `python3-libtorrent`, driven by a small script embedded below.
 *
 * It is the client here that does UDP trackers over IPv6: it announces to
 * udp://[::1] from its [::1] listen socket and understands 18-byte peers. It
 * also does HTTP trackers, IPv4 and IPv6, and accepts loopback peers (which
 * Transmission 3.00 drops as "martian"). DHT, LSD, UPnP, NAT-PMP, uTP and all
 * extensions (PEX, metadata) are off; `serveMetadata` turns ut_metadata (BEP 9)
 * on, so that clients added by magnet link can fetch the info dictionary.
 *
 * The script prints one JSON object per line (see LibtorrentEvent); a leecher
 * exits 0 once the download completed and verified, 3 when its deadline passes.
 * A 'partial-seed' downloads only the files whose priority is not 0, then
 * stays as a BEP 21 partial seed until stopped (see startLibtorrent).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { findFreePort, type CleanupContext } from '../tracker-process.js';
import { INSTALL_HINT, ManagedProcess, pollUntil } from './common.js';

const SCRIPT = String.raw`
import json, os, signal, sys, time
import libtorrent as lt

cfg = json.loads(sys.argv[1])
def out(kind, **kw):
    kw['event'] = kind
    kw['t'] = round(time.time(), 3)
    print(json.dumps(kw), flush=True)

cat = lt.alert.category_t
settings = {
    'listen_interfaces': cfg['listen'],
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'enable_incoming_utp': False, 'enable_outgoing_utp': False,
    'allow_multiple_connections_per_ip': True,
    'announce_to_all_trackers': True, 'announce_to_all_tiers': True,
    'alert_mask': cat.status_notification | cat.error_notification | cat.tracker_notification
        | cat.peer_notification | cat.connect_notification,
    'user_agent': 'tracker-e2e libtorrent/' + lt.__version__,
}
ses = lt.session(settings, 0)  # 0: no default plugins (no ut_pex, ut_metadata, smart_ban)
if cfg['serve_metadata']:
    ses.add_extension('ut_metadata')
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(cfg['torrent'])
atp.save_path = cfg['dir']
if cfg['file_priorities'] is not None:
    atp.file_priorities = cfg['file_priorities']
h = ses.add_torrent(atp)

stopping = False
def on_signal(*_):
    global stopping
    stopping = True
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

deadline = time.time() + cfg['deadline']
parent = cfg['parent']
finished = False
next_status = 0
while not stopping and time.time() < deadline:
    if os.getppid() != parent:
        out('parent_gone')
        break
    ses.wait_for_alert(200)
    for a in ses.pop_alerts():
        name = type(a).__name__
        if name == 'tracker_reply_alert':
            out('tracker_reply', url=a.url, num_peers=a.num_peers, local=str(a.local_endpoint))
        elif name == 'tracker_error_alert':
            out('tracker_error', url=a.url, failure_reason=a.failure_reason(), message=a.message())
        elif name == 'tracker_warning_alert':
            out('tracker_warning', url=a.url, message=a.message())
        elif name == 'tracker_announce_alert':
            # libtorrent's event_t, numbered as BEP 15 numbers UDP events (4: paused) and sent as is
            out('tracker_announce', url=a.url, tracker_event=int(a.event), message=a.message())
        elif name == 'peer_connect_alert':
            out('peer_connect', endpoint=str(a.endpoint), message=a.message())
        elif name == 'torrent_finished_alert':
            finished = True
            out('finished')
            if cfg['role'] == 'partial-seed':
                # Finishing without becoming a seed sends no announce: ask for
                # the next one now rather than an interval later. Finished but
                # not a seed, libtorrent sends it with event=paused (BEP 21).
                h.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
        elif name in ('listen_succeeded_alert', 'listen_failed_alert', 'torrent_checked_alert',
                      'torrent_error_alert', 'file_error_alert', 'peer_disconnected_alert', 'peer_error_alert'):
            out(name[:-len('_alert')], message=a.message())
    s = h.status()
    if time.time() >= next_status:
        next_status = time.time() + 1
        out('status', state=str(s.state), progress=s.progress, num_peers=s.num_peers,
            total_wanted_done=s.total_wanted_done, is_seeding=s.is_seeding, is_finished=s.is_finished)
    if cfg['role'] == 'leech' and finished and s.is_seeding:
        break

code = 0
if cfg['role'] != 'seed' and not finished:
    out('timeout' if not stopping else 'stopped_early')
    code = 3
# Remove the torrent so that a 'stopped' announce goes out (bounded wait).
ses.remove_torrent(h)
end = time.time() + 1.5
while time.time() < end:
    ses.wait_for_alert(100)
    if any(type(a).__name__ in ('tracker_reply_alert', 'tracker_error_alert') for a in ses.pop_alerts()):
        break
out('exit', code=code)
sys.exit(code)
`;

/** One line of the driver script's output. */
export interface LibtorrentEvent {
  /** tracker_announce, tracker_reply, tracker_error, tracker_warning, peer_connect, peer_disconnected, finished, status, exit, ... */
  event: string;
  /** Unix time, seconds. */
  t: number;
  url?: string;
  /** tracker_announce: the event sent (0 none, 1 completed, 2 started, 3 stopped, 4 paused: BEP 15 numbering). */
  tracker_event?: number;
  num_peers?: number;
  failure_reason?: string;
  message?: string;
  endpoint?: string;
  progress?: number;
  [key: string]: unknown;
}

let cachedPython: string | null = null;

/** The python3 that can `import libtorrent` (Debian's /usr/bin/python3 first), or throws with the install hint. */
export function requireLibtorrentPython(): string {
  if (cachedPython) return cachedPython;
  const candidates = [process.env.TRACKER_E2E_PYTHON, '/usr/bin/python3', 'python3'].filter((c): c is string => !!c);
  for (const python of candidates) {
    if (python.startsWith('/') && !existsSync(python)) continue;
    const probe = spawnSync(python, ['-c', 'import libtorrent; print(libtorrent.__version__)'], { encoding: 'utf8', timeout: 10_000 });
    if (probe.status === 0) {
      cachedPython = python;
      return python;
    }
  }
  throw new Error(`no python3 with the libtorrent module (tried ${candidates.join(', ')}; Debian package python3-libtorrent): ${INSTALL_HINT}`);
}

export interface LibtorrentOptions {
  torrentPath: string;
  /** Download directory (for a seeder: the directory holding the payload). */
  dir: string;
  /** Address to listen on: '127.0.0.1' (default) or '::1'. Tracker requests leave from it too. */
  bindAddress?: string;
  listenPort?: number;
  /** The script gives up after this long (default 60 s). */
  deadlineMs?: number;
  name?: string;
  /** Serve the info dictionary to peers added by magnet link (ut_metadata, BEP 9). */
  serveMetadata?: boolean;
  /** Per-file download priorities (0 = skip), in the torrent's file order. */
  filePriorities?: number[];
}

/**
 * 'seed' seeds until stopped; 'leech' downloads everything and exits 0;
 * 'partial-seed' downloads the files `filePriorities` selects, re-announces at
 * once (libtorrent sends BEP 21 event=paused: 4 over UDP, as every announce
 * of a finished non-seed) and stays, serving what it has, until stopped.
 */
export type LibtorrentRole = 'seed' | 'leech' | 'partial-seed';

export class LibtorrentClient {
  readonly events: LibtorrentEvent[] = [];
  constructor(
    readonly proc: ManagedProcess,
    readonly listenPort: number,
  ) {
    proc.onLine((line) => {
      if (!line.startsWith('{')) return;
      try {
        this.events.push(JSON.parse(line) as LibtorrentEvent);
      } catch {
        // not one of ours
      }
    });
  }

  /** Resolves with the first event (already seen or future) that matches, rejects after `timeoutMs` or on exit. */
  async waitForEvent(predicate: (event: LibtorrentEvent) => boolean, timeoutMs: number, what: string): Promise<LibtorrentEvent> {
    const line = await this.proc.waitForLine(
      (l) => {
        if (!l.startsWith('{')) return false;
        try {
          return predicate(JSON.parse(l) as LibtorrentEvent);
        } catch {
          return false;
        }
      },
      timeoutMs,
      what,
    );
    return JSON.parse(line) as LibtorrentEvent;
  }

  /**
   * Waits for the first tracker_announce that matches `predicate`, then for
   * what came of it: the next tracker_reply or tracker_error from the same
   * URL (libtorrent sends one request at a time per tracker). Bounded by
   * `timeoutMs` in all; rejects, described, on timeout.
   */
  async waitForAnnounceAnswer(
    predicate: (announce: LibtorrentEvent) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<{ announce: LibtorrentEvent; answer: LibtorrentEvent }> {
    const found = await pollUntil(() => {
      const at = this.events.findIndex((e) => e.event === 'tracker_announce' && predicate(e));
      if (at < 0) return undefined;
      const announce = this.events[at]!;
      const answer = this.events.slice(at + 1).find((e) => (e.event === 'tracker_reply' || e.event === 'tracker_error') && e.url === announce.url);
      return answer ? { announce, answer } : undefined;
    }, timeoutMs);
    if (!found) throw new Error(await this.proc.describe(`${this.proc.name}: waited ${timeoutMs} ms for ${what} and the tracker's answer to it`));
    return found;
  }

  /** Resolves on the first successful tracker reply. */
  waitForTrackerResponse(timeoutMs: number): Promise<LibtorrentEvent> {
    return this.waitForEvent((e) => e.event === 'tracker_reply', timeoutMs, 'a tracker reply');
  }

  /** Waits for a leecher to finish (exit code 0). */
  waitForDownload(timeoutMs: number): Promise<void> {
    return this.proc.waitForCleanExit(timeoutMs);
  }

  stop(): Promise<unknown> {
    return this.proc.stop();
  }
}

export async function startLibtorrent(scope: CleanupContext, role: LibtorrentRole, options: LibtorrentOptions): Promise<LibtorrentClient> {
  if (role === 'partial-seed' && !options.filePriorities?.includes(0)) throw new Error('a partial seed needs filePriorities that skip a file (0)');
  const python = requireLibtorrentPython();
  const bindAddress = options.bindAddress ?? '127.0.0.1';
  const listenPort = options.listenPort ?? (await findFreePort({ host: bindAddress, tcp: true, udp: true }));
  const listen = bindAddress.includes(':') ? `[${bindAddress}]:${listenPort}` : `${bindAddress}:${listenPort}`;
  const config = {
    role,
    torrent: options.torrentPath,
    dir: options.dir,
    listen,
    deadline: (options.deadlineMs ?? 60_000) / 1000,
    parent: process.pid,
    serve_metadata: options.serveMetadata ?? false,
    file_priorities: options.filePriorities ?? null,
  };
  const managed = new ManagedProcess(scope, {
    name: options.name ?? (role === 'partial-seed' ? 'libtorrent partial seed' : `libtorrent ${role}er`),
    command: python,
    args: ['-u', '-c', SCRIPT, JSON.stringify(config)],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    display: `${python} -u -c <libtorrent driver script> '${JSON.stringify(config)}'`,
  });
  return new LibtorrentClient(managed, listenPort);
}
