/**
 * WebTorrent swarms: peers that reach each other through the tracker by
 * exchanging WebRTC offers and answers over their WebSockets.
 *
 * They are kept apart from the packed UDP/HTTP tables: a WebTorrent peer is
 * keyed by its peer_id (it has no reachable address), carries the socket it
 * announced from, and is a different network from TCP/uTP peers, so the
 * counts are separate too. WebTorrent swarms are far smaller than public
 * UDP swarms, so one small object per peer is affordable here.
 *
 * Safety rules (the reference tracker breaks both):
 * - a peer_id belongs to the socket that announced it; another socket
 *   cannot announce, stop or answer as that peer_id;
 * - an answer is relayed only if it matches an offer that was handed to the
 *   answerer, for that offerer, and has not expired; each offer is answered
 *   at most once (see pending-offers.ts, which also bounds them per socket).
 *
 * Bounds: at most `maxTorrents` torrents and `maxPeers` peers. When full, an
 * announce that would add one gets a failure; peers already here keep
 * being served and nothing live is evicted to make room.
 */
import { performance } from 'node:perf_hooks';
import { defaultConfig } from '../../../lib/runtime/config.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import type { TorrentStats } from '../../../lib/tracker/scrape.js';
import type { ErrorReply } from '../../../lib/tracker/swarm.js';
import type { RelaySink, SocketRef, WtAnnounceReply, WtAnnounceRequest, WtAnswerReply, WtAnswerRequest, WtDisconnectReply, WtDisconnectRequest, WtScrapeReply, WtScrapeRequest } from '../../../lib/tracker/webtorrent.js';
import { PendingOffers } from './pending-offers.js';

export interface WebTorrentConfig {
  intervalSeconds: number;
  /** A peer whose socket went silent without a close is dropped after this long. */
  peerTimeoutSeconds: number;
  /** How long an offer can be answered. */
  offerTtlSeconds: number;
  /** Bound on offers awaiting an answer, across all sockets: at the bound new offers are not relayed. */
  maxPendingOffers: number;
  /** Offers one socket may have awaiting an answer; past it that socket's own oldest are forgotten. Default: the config schema's. */
  maxPendingOffersPerSocket?: number;
  /** Torrents held at most; an announce that would add one fails. Default: the config schema's. */
  maxTorrents?: number;
  /** Peers held at most; an announce that would add one fails. Default: the config schema's. */
  maxPeers?: number;
}

interface Counter {
  inc(by?: number): void;
}

/** Where each limit's refusals are counted, by its config key (TrackerMetrics.limitCounter). */
export interface WebTorrentLimitHits {
  maxTorrents: Counter;
  maxPeers: Counter;
  maxPendingOffers: Counter;
  maxPendingOffersPerSocket: Counter;
}

/** The limit counters of a WebTorrentSwarms, bound once to `tracker_limit_hits_total{limit="webtorrent.<key>"}`. */
export function webTorrentLimitHits(metrics: { limitCounter(limit: string): Counter }): WebTorrentLimitHits {
  return {
    maxTorrents: metrics.limitCounter('webtorrent.maxTorrents'),
    maxPeers: metrics.limitCounter('webtorrent.maxPeers'),
    maxPendingOffers: metrics.limitCounter('webtorrent.maxPendingOffers'),
    maxPendingOffersPerSocket: metrics.limitCounter('webtorrent.maxPendingOffersPerSocket'),
  };
}

export interface WebTorrentSwarmsOptions {
  /** For offer targets; tests pass a seeded one. */
  random?: () => number;
  limitHits?: WebTorrentLimitHits;
}

const NOT_COUNTED: Counter = { inc: () => {} };
const DEFAULTS = defaultConfig().webtorrent;
const TORRENTS_FULL = 'tracker is full: not accepting new WebTorrent torrents, try again later';
const PEERS_FULL = 'tracker is full: not accepting new WebTorrent peers, try again later';

interface WtPeer {
  readonly peerId: string;
  edge: string;
  socket: number;
  seeder: boolean;
  completed: boolean;
  lastSeen: number;
}

class WtTorrent {
  /** Dense, for cheap random picks; `index` maps peer_id to position. */
  readonly peers: WtPeer[] = [];
  readonly index = new Map<string, number>();
  seeders = 0;
  downloaded = 0;

  add(peer: WtPeer): void {
    this.index.set(peer.peerId, this.peers.length);
    this.peers.push(peer);
    if (peer.seeder) this.seeders++;
  }

  removeAt(position: number): void {
    const peer = this.peers[position];
    const last = this.peers.pop()!;
    if (last !== peer) {
      this.peers[position] = last;
      this.index.set(last.peerId, position);
    }
    this.index.delete(peer.peerId);
    if (peer.seeder) this.seeders--;
  }

  get leechers(): number {
    return this.peers.length - this.seeders;
  }
}

const ZERO: TorrentStats = Object.freeze({ complete: 0, incomplete: 0, downloaded: 0 });
const SWEEP_CHECK_EVERY = 64;

function owns(peer: WtPeer, from: SocketRef): boolean {
  return peer.socket === from.socket && peer.edge === from.edge;
}

function fail(message: string): ErrorReply {
  return { type: 'error', message };
}

export class WebTorrentSwarms {
  private readonly torrents = new Map<string, WtTorrent>();
  private readonly pending: PendingOffers;
  private relay: RelaySink | undefined;
  private sweepCursor: Iterator<[string, WtTorrent]> | undefined;
  private peerCount = 0;
  private seederCount = 0;
  private readonly maxTorrents: number;
  private readonly maxPeers: number;
  private readonly random: () => number;
  private readonly hits: WebTorrentLimitHits;
  /** Offers handed to peers and answers delivered, since start. */
  offersRelayed = 0;
  answersRelayed = 0;

  constructor(
    readonly config: Readonly<WebTorrentConfig>,
    options: WebTorrentSwarmsOptions = {},
  ) {
    this.random = options.random ?? Math.random;
    this.hits = options.limitHits ?? { maxTorrents: NOT_COUNTED, maxPeers: NOT_COUNTED, maxPendingOffers: NOT_COUNTED, maxPendingOffersPerSocket: NOT_COUNTED };
    this.maxTorrents = config.maxTorrents ?? DEFAULTS.maxTorrents;
    this.maxPeers = config.maxPeers ?? DEFAULTS.maxPeers;
    this.pending = new PendingOffers(
      {
        ttlSeconds: config.offerTtlSeconds,
        max: config.maxPendingOffers,
        maxPerSocket: config.maxPendingOffersPerSocket ?? DEFAULTS.maxPendingOffersPerSocket,
      },
      { max: this.hits.maxPendingOffers, maxPerSocket: this.hits.maxPendingOffersPerSocket },
    );
  }

  /** Where relayed offers and answers go: the local WebSocket frontend, or the edge streams of a swarm pod. */
  setRelay(relay: RelaySink): void {
    this.relay = relay;
  }

  announce(r: WtAnnounceRequest, now: number): WtAnnounceReply | ErrorReply {
    let torrent = this.torrents.get(r.infoHash);
    let position = torrent?.index.get(r.peerId) ?? -1;
    if (torrent && position >= 0 && !owns(torrent.peers[position], r.from)) {
      return fail('peer_id is in use by another connection');
    }
    if (r.event === AnnounceEvent.Stopped) {
      if (!torrent) return this.announceReply(ZERO, 0);
      if (position >= 0) this.removePeer(r.infoHash, torrent, position);
      return this.announceReply(this.statsOf(torrent), 0);
    }
    if (position < 0 && this.peerCount >= this.maxPeers) {
      this.hits.maxPeers.inc();
      return fail(PEERS_FULL);
    }
    if (!torrent) {
      if (this.torrents.size >= this.maxTorrents) {
        this.hits.maxTorrents.inc();
        return fail(TORRENTS_FULL);
      }
      torrent = new WtTorrent();
      this.torrents.set(r.infoHash, torrent);
    }
    let peer: WtPeer;
    if (position < 0) {
      peer = { peerId: r.peerId, edge: r.from.edge, socket: r.from.socket, seeder: r.seeder, completed: false, lastSeen: now };
      torrent.add(peer);
      position = torrent.peers.length - 1;
      this.peerCount++;
      if (peer.seeder) this.seederCount++;
    } else {
      peer = torrent.peers[position];
      if (peer.seeder !== r.seeder) {
        const delta = r.seeder ? 1 : -1;
        torrent.seeders += delta;
        this.seederCount += delta;
        peer.seeder = r.seeder;
      }
      peer.lastSeen = now;
    }
    if (r.event === AnnounceEvent.Completed && !peer.completed) {
      peer.completed = true;
      torrent.downloaded++;
    }
    const relayed = r.offers.length > 0 ? this.relayOffers(r, torrent, position, now) : 0;
    return this.announceReply(this.statsOf(torrent), relayed);
  }

  /**
   * Hands each offer to a different random peer, never the announcer; a
   * seeder's offers go to leechers only (two seeders have nothing to trade).
   */
  private relayOffers(r: WtAnnounceRequest, torrent: WtTorrent, self: number, now: number): number {
    const relay = this.relay;
    if (!relay) return 0;
    const peers = torrent.peers;
    const n = peers.length;
    const start = Math.floor(this.random() * n);
    // Targets are chosen before anything is delivered: a delivery may close a
    // slow socket and so remove peers from this very array.
    const targets: WtPeer[] = [];
    for (let k = 0; k < n && targets.length < r.offers.length; k++) {
      const i = (start + k) % n;
      if (i === self) continue;
      const target = peers[i];
      if (r.seeder && target.seeder) continue;
      targets.push(target);
    }
    let relayed = 0;
    for (let t = 0; t < targets.length; t++) {
      const { offerId, offer } = r.offers[t];
      // Not remembered (the pool is full): not relayed either, as its answer would be refused.
      if (!this.pending.add(r.infoHash, targets[t].peerId, offerId, r.peerId, r.from, now)) continue;
      relay.deliver({ edge: targets[t].edge, socket: targets[t].socket }, { kind: 'offer', infoHash: r.infoHash, fromPeerId: r.peerId, offerId, offer });
      relayed++;
    }
    this.offersRelayed += relayed;
    return relayed;
  }

  answer(r: WtAnswerRequest, now: number): WtAnswerReply | ErrorReply {
    const torrent = this.torrents.get(r.infoHash);
    const answererAt = torrent?.index.get(r.peerId) ?? -1;
    if (!torrent || answererAt < 0 || !owns(torrent.peers[answererAt], r.from)) {
      return fail('answer from a peer that has not announced on this connection');
    }
    if (!this.pending.take(r.infoHash, r.peerId, r.offerId, r.toPeerId, now)) {
      return fail('answer does not match an unexpired offer sent to this peer');
    }
    const offererAt = torrent.index.get(r.toPeerId) ?? -1;
    if (offererAt < 0) return fail('the offering peer has left');
    this.relay?.deliver(torrent.peers[offererAt], {
      kind: 'answer',
      infoHash: r.infoHash,
      fromPeerId: r.peerId,
      offerId: r.offerId,
      answer: r.answer,
    });
    this.answersRelayed++;
    return { type: 'wt-answer' };
  }

  /** A socket closed: remove the peers it owned (and only those) and the offers it made. */
  disconnect(r: WtDisconnectRequest): WtDisconnectReply {
    let removed = 0;
    for (const { infoHash, peerId } of r.peers) {
      const torrent = this.torrents.get(infoHash);
      const position = torrent?.index.get(peerId) ?? -1;
      if (torrent && position >= 0 && owns(torrent.peers[position], r.from)) {
        this.removePeer(infoHash, torrent, position);
        removed++;
      }
    }
    this.pending.dropSocket(r.from);
    return { type: 'wt-disconnect', removed };
  }

  /** An edge went away (its stream ended): drop every peer whose socket lived there, and their offers. */
  dropEdge(edge: string): number {
    let removed = 0;
    for (const [infoHash, torrent] of this.torrents) {
      for (let i = torrent.peers.length - 1; i >= 0; i--) {
        if (torrent.peers[i].edge === edge) {
          this.removePeer(infoHash, torrent, i);
          removed++;
        }
      }
    }
    this.pending.dropEdge(edge);
    return removed;
  }

  scrape(r: WtScrapeRequest): WtScrapeReply {
    return { type: 'wt-scrape', files: r.infoHashes.map((h) => this.torrentStats(h)) };
  }

  torrentStats(infoHash: string): TorrentStats {
    const torrent = this.torrents.get(infoHash);
    return torrent ? this.statsOf(torrent) : ZERO;
  }

  stats(): { torrents: number; seeders: number; leechers: number; pendingOffers: number } {
    return { torrents: this.torrents.size, seeders: this.seederCount, leechers: this.peerCount - this.seederCount, pendingOffers: this.pending.size };
  }

  /** Sockets with offers awaiting an answer (each has a small record while it does). */
  get offeringSockets(): number {
    return this.pending.sockets;
  }

  /**
   * Expires silent peers and stale offers, resuming where the last call
   * stopped; gives up the loop after `budgetMs`. Returns true when a full
   * pass over the torrents finished.
   */
  sweepStep(budgetMs: number, now: number): boolean {
    const deadline = performance.now() + Math.max(0, budgetMs);
    this.pending.expire(now);
    const cutoff = now - this.config.peerTimeoutSeconds;
    this.sweepCursor ??= this.torrents.entries();
    let credit = SWEEP_CHECK_EVERY;
    for (;;) {
      const next = this.sweepCursor.next();
      if (next.done) {
        this.sweepCursor = undefined;
        return true;
      }
      const [infoHash, torrent] = next.value;
      for (let i = torrent.peers.length - 1; i >= 0; i--) {
        if (torrent.peers[i].lastSeen < cutoff) this.removeAt(torrent, i);
      }
      if (torrent.peers.length === 0) this.torrents.delete(infoHash);
      credit -= 1 + torrent.peers.length;
      if (credit <= 0) {
        credit = SWEEP_CHECK_EVERY;
        if (performance.now() >= deadline) return false;
      }
    }
  }

  private removeAt(torrent: WtTorrent, position: number): void {
    if (torrent.peers[position].seeder) this.seederCount--;
    torrent.removeAt(position);
    this.peerCount--;
  }

  /** Removes a peer; a torrent left empty goes at once, so it stops counting against maxTorrents. */
  private removePeer(infoHash: string, torrent: WtTorrent, position: number): void {
    this.removeAt(torrent, position);
    if (torrent.peers.length === 0) this.torrents.delete(infoHash);
  }

  private statsOf(torrent: WtTorrent): TorrentStats {
    return { complete: torrent.seeders, incomplete: torrent.leechers, downloaded: torrent.downloaded };
  }

  private announceReply(stats: TorrentStats, offersRelayed: number): WtAnnounceReply {
    return { type: 'wt-announce', interval: this.config.intervalSeconds, complete: stats.complete, incomplete: stats.incomplete, offersRelayed };
  }
}
