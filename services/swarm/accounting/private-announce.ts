/**
 * One private announce's accounting, on the swarm that owns the torrent:
 * the peer's deltas (peer-accounts.ts), credited through the user's and the
 * torrent's multipliers (credit.ts), queued for the database (the writer:
 * users_main, transfer_history, transfer_ips, torrents, snatches) and, when
 * the recorder is on, one event line. Synchronous and never waits: the
 * writer and the recorder only queue.
 *
 * The store (peers, seeders and leechers counts) is not here: the swarm
 * calls `announce()` after its store answered, with the counts it has.
 */
import { formatIp } from '../../../lib/net/ip.js';
import type { Catalog } from '../../../lib/private/catalog/catalog.js';
import { NOT_FOUND } from '../../../lib/private/catalog/catalog.js';
import type { DatabaseWriter } from '../../../lib/private/db/writer.js';
import type { EventRecorder } from '../../../lib/private/recorder/event-recorder.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import { credited } from './credit.js';
import type { PeerAccounts } from './peer-accounts.js';

/** 127.0.0.1: where a user with TrackerHide is recorded. */
const HIDDEN_IPV4 = 0x7f000001;
const HIDDEN_ADDRESS = '127.0.0.1';
/** kuroneko's event names; a regular announce is "". */
const EVENT_NAMES = { [AnnounceEvent.None]: '', [AnnounceEvent.Completed]: 'completed', [AnnounceEvent.Started]: 'started', [AnnounceEvent.Stopped]: 'stopped' } as const;

/** What the swarm knows about one private announce. */
export interface PrivateAnnounce {
  /** 20 bytes as a latin1 string. */
  infoHash: string;
  peerId: string;
  /** Compact endpoint: 6 bytes (IPv4) or 18 bytes (IPv6). */
  endpoint: Uint8Array;
  event: AnnounceEvent;
  uploaded: number;
  downloaded: number;
  left: number;
  /** From the passkey, resolved on the edge. */
  userId: number;
  userUpMultiplier: number;
  userDownMultiplier: number;
  hideAddress: boolean;
  /** approved_clients.id of the peer_id's client. */
  clientId: number;
  /** The torrent's counts after this announce, as the store has them. */
  seeders: number;
  leechers: number;
}

export interface PrivateAccountingOptions {
  /** The catalog copy in use (CatalogReloader.current, read per announce). */
  catalog: () => Catalog;
  accounts: PeerAccounts;
  writer: DatabaseWriter;
  recorder: EventRecorder | null;
  /** Seconds clock. */
  now: () => number;
  /** private.peerInactivitySeconds */
  inactivitySeconds: number;
}

export class PrivateAccounting {
  /** Announces not credited because this process's catalog copy does not know the torrent (the edge's copy may be newer). */
  uncatalogued = 0;

  constructor(private readonly options: PrivateAccountingOptions) {}

  /** The last report of every private peer (snapshots and handoffs carry it by slot). */
  get accounts(): PeerAccounts {
    return this.options.accounts;
  }

  /** Private peers whose last report is held. */
  get peers(): number {
    return this.options.accounts.size;
  }

  /** Bytes of accounting state per private peer held. */
  bytesPerPeer(): number {
    return this.options.accounts.bytesPerPeer();
  }

  /** Accounts one announce; false (nothing accounted) when the torrent is not in the catalog. */
  announce(a: PrivateAnnounce): boolean {
    const { accounts, writer, recorder } = this.options;
    const catalog = this.options.catalog();
    const torrent = catalog.torrent(a.infoHash);
    if (torrent === NOT_FOUND) {
      this.uncatalogued++;
      return false;
    }
    const torrentId = catalog.torrentId(torrent);
    const now = this.options.now();
    const e = a.endpoint;
    const ipv4 = e.length === 6 ? ((e[0] << 24) | (e[1] << 16) | (e[2] << 8) | e[3]) >>> 0 : 0;
    const port = (e[e.length - 2] << 8) | e[e.length - 1];
    const c = accounts.announce({
      torrentId,
      userId: a.userId,
      peerId: a.peerId,
      slot: (a.infoHash.charCodeAt(0) << 8) | a.infoHash.charCodeAt(1),
      uploaded: a.uploaded,
      downloaded: a.downloaded,
      left: a.left,
      event: a.event,
      now,
    });
    const up = credited(c.rawUp, a.userUpMultiplier, catalog.torrentUpMultiplier(torrent));
    const down = credited(c.rawDown, a.userDownMultiplier, catalog.torrentDownMultiplier(torrent));
    if (c.rawUp > 0 || c.rawDown > 0) writer.addUser(a.userId, up, down, c.rawUp, c.rawDown);
    writer.addTransferHistory(a.userId, torrentId, c.rawUp, c.rawDown, c.seeding, c.seedTime, c.activeTime, a.left, !c.removed, c.firstSeen, now);
    writer.addTransferIp(a.userId, torrentId, a.hideAddress ? HIDDEN_IPV4 : ipv4, a.clientId, c.rawUp, c.rawDown, port, c.firstSeen, now);
    if (c.snatch) writer.addSnatch(a.userId, torrentId, now);
    writer.addTorrent(torrentId, a.infoHash, c.snatch ? 1 : 0, a.seeders, a.leechers, now, c.seeding && catalog.torrentPruned(torrent));
    if (recorder !== null) {
      const address = a.hideAddress ? HIDDEN_ADDRESS : formatIp(e.subarray(0, e.length - 2));
      recorder.record(torrentId, a.userId, address, port, EVENT_NAMES[a.event], c.seeding, c.rawUp, c.rawDown, a.uploaded, a.downloaded, a.left);
    }
    return true;
  }

  /** One budgeted step of forgetting peers silent past the inactivity limit; true when a pass over all peers ended. */
  purgeStep(budget: number): boolean {
    return this.options.accounts.purgeInactive(this.options.now() - this.options.inactivitySeconds, budget, () => {});
  }

  /** Marks transfer_history rows not announced within the inactivity limit inactive (kuroneko does it every 120 s). */
  markInactive(): Promise<number> {
    return this.options.writer.markInactive(this.options.now() - this.options.inactivitySeconds);
  }
}
