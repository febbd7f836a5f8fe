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
 *   at most once.
 */
import { performance } from 'node:perf_hooks';
import {
  AnnounceEvent,
  type ErrorReply,
  type RelaySink,
  type SocketRef,
  type TorrentStats,
  type WtAnnounceReply,
  type WtAnnounceRequest,
  type WtAnswerReply,
  type WtAnswerRequest,
  type WtDisconnectReply,
  type WtDisconnectRequest,
  type WtScrapeReply,
  type WtScrapeRequest,
} from '../../../lib/transport/messages.js';

export interface WebTorrentConfig {
  intervalSeconds: number;
  /** A peer whose socket went silent without a close is dropped after this long. */
  peerTimeoutSeconds: number;
  /** How long an offer can be answered. */
  offerTtlSeconds: number;
  /** Bound on offers awaiting an answer, across all torrents (oldest dropped first). */
  maxPendingOffers: number;
}

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

interface PendingOffer {
  readonly offerer: string;
  readonly expires: number;
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
  /** Insertion order is expiry order (constant TTL), so expiry trims from the front. */
  private readonly pending = new Map<string, PendingOffer>();
  private relay: RelaySink | undefined;
  private sweepCursor: Iterator<[string, WtTorrent]> | undefined;
  private peerCount = 0;
  private seederCount = 0;
  /** Offers handed to peers and answers delivered, since start. */
  offersRelayed = 0;
  answersRelayed = 0;
  offersExpired = 0;

  constructor(
    readonly config: Readonly<WebTorrentConfig>,
    private readonly random: () => number = Math.random,
  ) {}

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
      if (position >= 0) this.removeAt(torrent, position);
      return this.announceReply(this.statsOf(torrent), 0);
    }
    if (!torrent) {
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
    for (let t = 0; t < targets.length; t++) {
      const { offerId, offer } = r.offers[t];
      this.remember(r.infoHash, targets[t].peerId, offerId, r.peerId, now);
      relay.deliver({ edge: targets[t].edge, socket: targets[t].socket }, { kind: 'offer', infoHash: r.infoHash, fromPeerId: r.peerId, offerId, offer });
    }
    this.offersRelayed += targets.length;
    return targets.length;
  }

  private remember(infoHash: string, answerer: string, offerId: string, offerer: string, now: number): void {
    const key = infoHash + answerer + offerId;
    this.pending.delete(key); // re-inserted at the back: its expiry moved
    this.pending.set(key, { offerer, expires: now + this.config.offerTtlSeconds });
    if (this.pending.size > this.config.maxPendingOffers) {
      const oldest = this.pending.keys().next().value as string;
      this.pending.delete(oldest);
      this.offersExpired++;
    }
  }

  answer(r: WtAnswerRequest, now: number): WtAnswerReply | ErrorReply {
    const torrent = this.torrents.get(r.infoHash);
    const answererAt = torrent?.index.get(r.peerId) ?? -1;
    if (!torrent || answererAt < 0 || !owns(torrent.peers[answererAt], r.from)) {
      return fail('answer from a peer that has not announced on this connection');
    }
    const key = r.infoHash + r.peerId + r.offerId;
    const offer = this.pending.get(key);
    if (!offer || offer.offerer !== r.toPeerId || offer.expires < now) {
      return fail('answer does not match an unexpired offer sent to this peer');
    }
    this.pending.delete(key);
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

  /** A socket closed: remove the peers it owned (and only those). */
  disconnect(r: WtDisconnectRequest): WtDisconnectReply {
    let removed = 0;
    for (const { infoHash, peerId } of r.peers) {
      const torrent = this.torrents.get(infoHash);
      const position = torrent?.index.get(peerId) ?? -1;
      if (torrent && position >= 0 && owns(torrent.peers[position], r.from)) {
        this.removeAt(torrent, position);
        removed++;
      }
    }
    return { type: 'wt-disconnect', removed };
  }

  /** An edge went away (its stream ended): drop every peer whose socket lived there. */
  dropEdge(edge: string): number {
    let removed = 0;
    for (const torrent of this.torrents.values()) {
      for (let i = torrent.peers.length - 1; i >= 0; i--) {
        if (torrent.peers[i].edge === edge) {
          this.removeAt(torrent, i);
          removed++;
        }
      }
    }
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

  /**
   * Expires silent peers and stale offers, resuming where the last call
   * stopped; gives up the loop after `budgetMs`. Returns true when a full
   * pass over the torrents finished.
   */
  sweepStep(budgetMs: number, now: number): boolean {
    const deadline = performance.now() + Math.max(0, budgetMs);
    for (const [key, offer] of this.pending) {
      if (offer.expires >= now) break;
      this.pending.delete(key);
      this.offersExpired++;
    }
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

  private statsOf(torrent: WtTorrent): TorrentStats {
    return { complete: torrent.seeders, incomplete: torrent.leechers, downloaded: torrent.downloaded };
  }

  private announceReply(stats: TorrentStats, offersRelayed: number): WtAnnounceReply {
    return { type: 'wt-announce', interval: this.config.intervalSeconds, complete: stats.complete, incomplete: stats.incomplete, offersRelayed };
  }
}
