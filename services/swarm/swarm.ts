import { Failures, type FailureSink } from '../../lib/runtime/failures.js';
import { createLogger } from '../../lib/runtime/logger.js';
import type { SwarmReply, SwarmRequest } from '../../lib/tracker/swarm.js';
import type { SwarmService } from '../../lib/transport/transport.js';
import { answerEach, INTERNAL_ERROR } from '../../lib/transport/replies.js';
import type { AnnounceReply, AnnounceRequest } from '../../lib/tracker/announce.js';
import { AnnounceEvent } from '../../lib/tracker/events.js';
import type { PrivateAccounting, PrivateAnnounce } from './accounting/private-announce.js';
import { SlotAccounts } from './accounting/slot-accounts.js';
import type { NewTorrentLimiter } from './limits/new-torrent-limiter.js';
import { EdgeIncarnations } from './store/edge-incarnations.js';
import { SlotChanges } from './store/slot-changes.js';
import { SlotState } from './store/slot-state.js';
import type { SwarmStore } from './store/swarm-store.js';
import type { WebTorrentSwarms } from './store/webtorrent-swarms.js';
import { Sweeper, type SweeperOptions, type SweepTask } from './sweeper.js';

export interface SwarmOptions {
  /** Seconds; injectable for tests. */
  now?: () => number;
  /** Where exceptions caught while answering go (counted and logged). Default: logged to stderr. */
  failures?: FailureSink;
  /** Its idle prefixes are forgotten by the sweeper. */
  newTorrents?: NewTorrentLimiter;
  /** Where the two stores stamp changes to slots: the one they were built with. Default: a new one (then nothing is stamped in it). */
  changes?: SlotChanges;
  /** Private mode: credits private announces (userId != 0) and purges silent private peers. */
  accounting?: PrivateAccounting;
}

/**
 * A packed-store sweep step is behind when at least this share of what it
 * examined had expired (peers removed, torrents deleted): steady expiry (a pass finds ~pass length / peer
 * timeout of its peers expired, well under 1%) never chains steps; a flood
 * that expires together (a removal for every record and torrent examined
 * is a share of 1/2) does.
 */
const BEHIND_SHARE = 1 / 8;
/** A WebTorrent sweep step is behind when it removed at least this many peers and offers. */
const WT_BEHIND_REMOVALS = 128;
/** Refilled prefixes the limiter forgets per sweep step at most. */
const PREFIX_DROPS_PER_STEP = 4096;
/** Private peers examined for inactivity per sweep step: a pass over a million takes ~4 minutes, well inside private.peerInactivitySeconds. */
const PRIVATE_PURGE_PER_STEP = 4096;

/**
 * What a swarm pod (or the swarm half of all-in-one) serves: UDP/HTTP peers
 * from the packed store and WebTorrent peers from their own tables, behind
 * the one SwarmService interface the transports carry.
 */
export class Swarm implements SwarmService {
  /** Changes to slots, stamped by the stores; snapshots and handoffs read them through cursors. */
  readonly changes: SlotChanges;
  /** The edge process each WebTorrent peer was announced through. */
  readonly edges = new EdgeIncarnations();
  /** Export, import and drop by slot. */
  readonly slots: SlotState;
  private sweeper: Sweeper | undefined;
  private readonly now: () => number;
  private readonly failures: FailureSink;
  private readonly newTorrents: NewTorrentLimiter | undefined;
  readonly accounting: PrivateAccounting | undefined;
  private readonly privateAnnounce: PrivateAnnounce = {
    infoHash: '',
    peerId: '',
    endpoint: new Uint8Array(0),
    event: AnnounceEvent.None,
    uploaded: 0,
    downloaded: 0,
    left: 0,
    userId: 0,
    userUpMultiplier: 1,
    userDownMultiplier: 1,
    hideAddress: false,
    clientId: 0,
    seeders: 0,
    leechers: 0,
  };

  constructor(
    readonly peers: SwarmStore,
    readonly webtorrent: WebTorrentSwarms,
    options: SwarmOptions = {},
  ) {
    this.now = options.now ?? (() => Date.now() / 1000);
    this.failures = options.failures ?? new Failures(createLogger({ level: 'error' })).for('swarm');
    this.newTorrents = options.newTorrents;
    this.accounting = options.accounting;
    this.changes = options.changes ?? new SlotChanges();
    this.slots = new SlotState(peers, webtorrent, {
      edges: this.edges,
      now: this.now,
      accounts: options.accounting ? new SlotAccounts(options.accounting.accounts) : undefined,
    });
  }

  /**
   * An edge opened a stream as process `nonce`. Peers imported for another
   * process of that edge (before it connected) are dropped: their sockets
   * are gone. Returns how many.
   */
  edgeConnected(edge: string, nonce: string): number {
    return this.edges.connected(edge, nonce) ? this.webtorrent.dropEdge(edge) : 0;
  }

  /** An edge went away or restarted: its WebTorrent peers go. Returns how many. */
  edgeGone(edge: string): number {
    this.edges.gone(edge);
    return this.webtorrent.dropEdge(edge);
  }

  handle(requests: readonly SwarmRequest[]): SwarmReply[] {
    const now = this.now();
    return answerEach(requests, (r) => this.answerOrReport(r, now));
  }

  handleOne(request: SwarmRequest): SwarmReply {
    return this.answerOrReport(request, this.now());
  }

  /** The reply, or "internal error" with the exception reported: a bug must show, and must not fail the batch. */
  private answerOrReport(r: SwarmRequest, now: number): SwarmReply {
    try {
      return this.answer(r, now);
    } catch (error) {
      this.failures.report(error, { request: typeof r === 'object' && r !== null ? r.type : typeof r });
      return INTERNAL_ERROR;
    }
  }

  private answer(r: SwarmRequest, now: number): SwarmReply {
    switch (r.type) {
      case 'announce': {
        const reply = this.peers.announce(r, now);
        // Credited after the store took the announce (its counts are in the reply) and before the reply is encoded.
        if (this.accounting !== undefined && r.userId !== undefined && r.userId !== 0 && reply.type === 'announce') this.credit(r, reply);
        return reply;
      }
      case 'scrape':
        return this.peers.scrape(r);
      case 'wt-announce':
        return this.webtorrent.announce(r, now);
      case 'wt-answer':
        return this.webtorrent.answer(r, now);
      case 'wt-disconnect':
        return this.webtorrent.disconnect(r);
      case 'wt-scrape':
        return this.webtorrent.scrape(r);
      default:
        return { type: 'error', message: 'unknown request type' };
    }
  }

  /** One private announce into the accounting, through a reused record: the hot path allocates nothing for it. */
  private credit(r: AnnounceRequest, reply: AnnounceReply): void {
    const p = this.privateAnnounce;
    p.infoHash = r.infoHash;
    p.peerId = r.peerId;
    p.endpoint = r.endpoint;
    p.event = r.event;
    p.uploaded = r.uploaded ?? 0;
    p.downloaded = r.downloaded ?? 0;
    p.left = r.left;
    p.userId = r.userId ?? 0;
    p.userUpMultiplier = r.userUpMultiplier ?? 1;
    p.userDownMultiplier = r.userDownMultiplier ?? 1;
    p.hideAddress = r.hideAddress === true;
    p.clientId = r.clientId ?? 0;
    p.seeders = reply.complete;
    p.leechers = reply.incomplete;
    // Not credited when the torrent is not in this swarm's catalog copy (counted there).
    this.accounting!.announce(p);
  }

  /** The expiry tasks of this swarm: packed peers, WebTorrent peers and offers, idle new-torrent prefixes. */
  sweepTasks(): SweepTask[] {
    const tasks: SweepTask[] = [
      {
        name: 'peers',
        step: (budgetMs) => {
          const r = this.peers.sweepStep(budgetMs);
          return { behind: !r.done && r.removed + r.deleted >= r.visited * BEHIND_SHARE };
        },
      },
      {
        name: 'webtorrent',
        step: (budgetMs) => {
          // sweepStep is synchronous: what the counts lost meanwhile is what it removed.
          const before = this.webtorrent.stats();
          const done = this.webtorrent.sweepStep(budgetMs, this.now());
          const after = this.webtorrent.stats();
          const removed = before.seeders + before.leechers - after.seeders - after.leechers + before.pendingOffers - after.pendingOffers;
          return { behind: !done && removed >= WT_BEHIND_REMOVALS };
        },
      },
    ];
    const limiter = this.newTorrents;
    if (limiter) {
      tasks.push({
        name: 'new-torrent-prefixes',
        step: () => ({ behind: !limiter.dropRefilled(this.now(), PREFIX_DROPS_PER_STEP) }),
      });
    }
    const accounting = this.accounting;
    if (accounting) {
      // One bounded step per interval: silence is measured in minutes, so a pass never needs to hurry.
      tasks.push({ name: 'private-accounts', step: () => (accounting.purgeStep(PRIVATE_PURGE_PER_STEP), { behind: false }) });
    }
    return tasks;
  }

  /** Runs expiry on the event loop (see Sweeper) until `stopSweeper`. */
  startSweeper(options: Omit<SweeperOptions, 'failures'> & { failures?: FailureSink }): void {
    this.stopSweeper();
    this.sweeper = new Sweeper(this.sweepTasks(), { ...options, failures: options.failures ?? this.failures });
    this.sweeper.start();
  }

  stopSweeper(): void {
    this.sweeper?.stop();
    this.sweeper = undefined;
  }
}
