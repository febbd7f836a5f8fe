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
 *
 * Slots: each slot's torrents are linked in a list (slotHeads + slotNext),
 * so one slot can be exported, imported or dropped alone (slot-state.ts);
 * changes to a slot's peers are stamped in `options.changes`. Imports merge
 * by the rules of merge.ts and stamp nothing. Pending
 * offers are not part of a slot's state: they expire within a minute.
 */
import { performance } from 'node:perf_hooks';
import { defaultConfig } from '../../../lib/runtime/config.js';
import { AnnounceEvent } from '../../../lib/tracker/events.js';
import type { TorrentStats } from '../../../lib/tracker/scrape.js';
import type { ErrorReply } from '../../../lib/tracker/swarm.js';
import type { RelaySink, SocketRef, WtAnnounceReply, WtAnnounceRequest, WtAnswerReply, WtAnswerRequest, WtDisconnectReply, WtDisconnectRequest, WtScrapeReply, WtScrapeRequest } from '../../../lib/tracker/webtorrent.js';
import { PendingOffers } from './pending-offers.js';
import type { SlotChanges } from './slot-changes.js';
import { Merge } from './merge.js';

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
  /** Where changes to each slot's peers are stamped; default: nowhere. */
  changes?: SlotChanges;
}

const NOT_COUNTED: Counter = { inc: () => {} };
const DEFAULTS = defaultConfig().webtorrent;
const TORRENTS_FULL = 'tracker is full: not accepting new WebTorrent torrents, try again later';
const PEERS_FULL = 'tracker is full: not accepting new WebTorrent peers, try again later';

export interface WtPeer {
  readonly peerId: string;
  edge: string;
  socket: number;
  seeder: boolean;
  completed: boolean;
  /** Seconds (fractional). */
  lastSeen: number;
}

export class WtTorrent {
  /** Dense, for cheap random picks; `index` maps peer_id to position. */
  readonly peers: WtPeer[] = [];
  readonly index = new Map<string, number>();
  seeders = 0;
  downloaded = 0;
  /** The next torrent of the same slot. A deleted torrent keeps its link, so a reader paused on it can go on. */
  slotNext: WtTorrent | null = null;
  slotPrev: WtTorrent | null = null;
  deleted = false;

  constructor(readonly infoHash: string) {}

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

function slotOfHash(infoHash: string): number {
  return ((infoHash.charCodeAt(0) & 0xff) << 8) | (infoHash.charCodeAt(1) & 0xff);
}

function owns(peer: WtPeer, from: SocketRef): boolean {
  return peer.socket === from.socket && peer.edge === from.edge;
}

function fail(message: string): ErrorReply {
  return { type: 'error', message };
}

export class WebTorrentSwarms {
  private readonly torrents = new Map<string, WtTorrent>();
  /** First torrent of each slot that has any. */
  private readonly slotHeads = new Map<number, WtTorrent>();
  private readonly changes: SlotChanges | null;
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
    this.changes = options.changes ?? null;
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
      if (position >= 0) {
        this.removePeer(torrent, position);
        this.changes?.markHash(r.infoHash);
      }
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
      torrent = this.addTorrent(r.infoHash);
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
    this.changes?.markHash(r.infoHash);
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
        this.removePeer(torrent, position);
        this.changes?.markHash(infoHash);
        removed++;
      }
    }
    this.pending.dropSocket(r.from);
    return { type: 'wt-disconnect', removed };
  }

  /** An edge went away (its stream ended): drop every peer whose socket lived there, and their offers. */
  dropEdge(edge: string): number {
    let removed = 0;
    for (const torrent of this.torrents.values()) {
      for (let i = torrent.peers.length - 1; i >= 0; i--) {
        if (torrent.peers[i].edge === edge) {
          this.removePeer(torrent, i);
          this.changes?.markHash(torrent.infoHash);
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

  /** Peers of one torrent, copied (diagnostics and tests). */
  peersOf(infoHash: string): WtPeer[] {
    return (this.torrents.get(infoHash)?.peers ?? []).map((p) => ({ ...p }));
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
      const torrent = next.value[1];
      const before = torrent.peers.length;
      for (let i = before - 1; i >= 0; i--) {
        if (torrent.peers[i].lastSeen < cutoff) this.removeAt(torrent, i);
      }
      if (torrent.peers.length !== before) this.changes?.markHash(torrent.infoHash);
      if (torrent.peers.length === 0) this.deleteTorrent(torrent);
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
  private removePeer(torrent: WtTorrent, position: number): void {
    this.removeAt(torrent, position);
    if (torrent.peers.length === 0) this.deleteTorrent(torrent);
  }

  private addTorrent(infoHash: string): WtTorrent {
    const torrent = new WtTorrent(infoHash);
    this.torrents.set(infoHash, torrent);
    const slot = slotOfHash(infoHash);
    const head = this.slotHeads.get(slot);
    if (head) {
      torrent.slotNext = head;
      head.slotPrev = torrent;
    }
    this.slotHeads.set(slot, torrent);
    return torrent;
  }

  private deleteTorrent(torrent: WtTorrent): void {
    if (torrent.deleted) return;
    torrent.deleted = true;
    this.torrents.delete(torrent.infoHash);
    const { slotPrev: prev, slotNext: next } = torrent;
    if (prev) prev.slotNext = next;
    else if (next) this.slotHeads.set(slotOfHash(torrent.infoHash), next);
    else this.slotHeads.delete(slotOfHash(torrent.infoHash));
    if (next) next.slotPrev = prev;
    // slotNext stays: an export paused on this torrent goes on from it.
    torrent.slotPrev = null;
  }

  // ------------------------------------------------------------------ slots (driven by slot-state.ts)

  /** The first WebTorrent torrent of `slot`, or null; follow `slotNext`, skipping `deleted` ones. */
  firstInSlot(slot: number): WtTorrent | null {
    return this.slotHeads.get(slot) ?? null;
  }

  /** WebTorrent peers held in `slot`. */
  slotPeerCount(slot: number): number {
    let n = 0;
    for (let t = this.firstInSlot(slot); t !== null; t = t.slotNext) n += t.peers.length;
    return n;
  }

  /** Deletes up to `maxTorrents` torrents of `slot` with their peers (their offers expire by themselves). */
  dropFromSlot(slot: number, maxTorrents: number): { torrents: number; peers: number } {
    let torrents = 0;
    let peers = 0;
    for (let t = this.firstInSlot(slot); t !== null && torrents < maxTorrents; t = this.firstInSlot(slot)) {
      peers += t.peers.length;
      for (let i = t.peers.length - 1; i >= 0; i--) this.removeAt(t, i);
      this.deleteTorrent(t);
      torrents++;
    }
    return { torrents, peers };
  }

  /** The torrent imported peers merge into: held, or new when the cap allows (counted when not: null). */
  importTarget(infoHash: string): WtTorrent | null {
    const held = this.torrents.get(infoHash);
    if (held) return held;
    if (this.torrents.size >= this.maxTorrents) {
      this.hits.maxTorrents.inc();
      return null;
    }
    return this.addTorrent(infoHash);
  }

  mergeDownloaded(torrent: WtTorrent, downloaded: number): void {
    if (downloaded > torrent.downloaded) torrent.downloaded = downloaded;
  }

  /**
   * Merges one imported peer. Held already (same peer_id): the later
   * last-seen wins with its socket and seeder state (equal times: the
   * larger of seeder, edge, socket, so the order of imports does not
   * matter), and "completed" is kept if either side has it. New: added if
   * the peer cap allows (counted when not). The caller has dropped expired
   * peers and peers of edges that restarted since.
   */
  mergePeer(torrent: WtTorrent, peerId: string, edge: string, socket: number, lastSeen: number, seeder: boolean, completed: boolean): Merge {
    const position = torrent.index.get(peerId) ?? -1;
    if (position >= 0) {
      const peer = torrent.peers[position];
      if (lastSeen > peer.lastSeen || (lastSeen === peer.lastSeen && laterTie(seeder, edge, socket, peer))) {
        if (peer.seeder !== seeder) {
          const delta = seeder ? 1 : -1;
          torrent.seeders += delta;
          this.seederCount += delta;
          peer.seeder = seeder;
        }
        peer.edge = edge;
        peer.socket = socket;
        peer.lastSeen = lastSeen;
      }
      if (completed) peer.completed = true;
      return Merge.Merged;
    }
    if (this.peerCount >= this.maxPeers) {
      this.hits.maxPeers.inc();
      return Merge.Refused;
    }
    torrent.add({ peerId, edge, socket, seeder, completed, lastSeen });
    this.peerCount++;
    if (seeder) this.seederCount++;
    return Merge.Added;
  }

  /** Deletes `torrent` if it holds no peer (an import created it and every peer was refused). */
  dropIfEmpty(torrent: WtTorrent): void {
    if (torrent.peers.length === 0) this.deleteTorrent(torrent);
  }

  private statsOf(torrent: WtTorrent): TorrentStats {
    return { complete: torrent.seeders, incomplete: torrent.leechers, downloaded: torrent.downloaded };
  }

  private announceReply(stats: TorrentStats, offersRelayed: number): WtAnnounceReply {
    return { type: 'wt-announce', interval: this.config.intervalSeconds, complete: stats.complete, incomplete: stats.incomplete, offersRelayed };
  }
}

/** Whether (seeder, edge, socket) is larger than the peer's: how a tie of last-seen times is broken. */
function laterTie(seeder: boolean, edge: string, socket: number, peer: WtPeer): boolean {
  if (seeder !== peer.seeder) return seeder;
  if (edge !== peer.edge) return edge > peer.edge;
  return socket > peer.socket;
}
