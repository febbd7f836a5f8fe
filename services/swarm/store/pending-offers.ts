/**
 * WebTorrent offers handed to a peer and not answered yet: what makes an
 * answer acceptable (it must match an offer sent to the answerer, by that
 * offerer, before it expired) and what an offering socket is charged for.
 *
 * Bounds, so that nobody's flood costs anybody else their offers:
 * - each offering socket (edge + socket number) may have `maxPerSocket`
 *   offers pending; past that its own oldest offer is forgotten, never
 *   another socket's;
 * - all sockets together may have `max` pending; when that is reached new
 *   offers are refused (the caller does not relay them) until old ones are
 *   answered or expire. Nothing pending is evicted to make room.
 *
 * Every offer sits in one Map in insertion order, which is expiry order
 * (the TTL is constant and a re-offered key moves to the back), so expiry
 * trims from the front. Each offering socket also keeps its offers in a
 * doubly linked list, oldest first, so its quota evicts in O(1) and its
 * offers go at once when its disconnect reaches this swarm (it does when
 * the socket still had a peer here; otherwise they expire with the TTL).
 * A socket's record exists only while it has offers pending.
 */
import type { SocketRef } from '../../../lib/tracker/webtorrent.js';

export interface PendingOfferLimits {
  /** Seconds an offer can be answered. */
  ttlSeconds: number;
  /** Offers pending across all sockets; new offers are refused at this bound. */
  max: number;
  /** Offers pending per offering socket; its own oldest goes first past this. */
  maxPerSocket: number;
}

/** Where refusals and evictions are counted (tracker_limit_hits_total children). */
export interface PendingOfferLimitHits {
  max: { inc(by?: number): void };
  maxPerSocket: { inc(by?: number): void };
}

interface PendingOffer {
  readonly key: string;
  /** The offering peer's peer_id. */
  readonly offerer: string;
  readonly expires: number;
  readonly queue: SocketOffers;
  older: PendingOffer | undefined;
  newer: PendingOffer | undefined;
}

/** One offering socket's pending offers, oldest first. Exists only while it has some. */
interface SocketOffers {
  readonly edge: string;
  readonly socket: number;
  size: number;
  oldest: PendingOffer | undefined;
  newest: PendingOffer | undefined;
}

export class PendingOffers {
  private readonly byKey = new Map<string, PendingOffer>();
  /** edge -> socket -> that socket's offers; both levels are deleted when they empty. */
  private readonly bySocket = new Map<string, Map<number, SocketOffers>>();
  /** Offers that expired unanswered, since start. */
  expired = 0;

  constructor(
    private readonly limits: Readonly<PendingOfferLimits>,
    private readonly hits: PendingOfferLimitHits,
  ) {}

  get size(): number {
    return this.byKey.size;
  }

  /** Sockets with at least one offer pending. */
  get sockets(): number {
    let n = 0;
    for (const sockets of this.bySocket.values()) n += sockets.size;
    return n;
  }

  /**
   * Records that `from` (the offerer's socket) handed offer `offerId` of
   * peer `offerer` to peer `answerer`. False when it must not be relayed:
   * the pool is full, or that answerer already holds an offer with this id
   * from another offerer (which is never displaced).
   */
  add(infoHash: string, answerer: string, offerId: string, offerer: string, from: SocketRef, now: number): boolean {
    const key = infoHash + answerer + offerId;
    const existing = this.byKey.get(key);
    if (existing) {
      if (existing.offerer !== offerer) return false;
      this.remove(existing); // offered again: it moves to the back with a new expiry
    }
    const mine = this.bySocket.get(from.edge)?.get(from.socket);
    if (mine && mine.size >= this.limits.maxPerSocket) {
      this.remove(mine.oldest!);
      this.hits.maxPerSocket.inc();
    }
    if (this.byKey.size >= this.limits.max) {
      this.expire(now);
      if (this.byKey.size >= this.limits.max) {
        this.hits.max.inc();
        return false;
      }
    }
    const queue = this.queueOf(from);
    const offer: PendingOffer = { key, offerer, expires: now + this.limits.ttlSeconds, queue, older: queue.newest, newer: undefined };
    if (queue.newest) queue.newest.newer = offer;
    else queue.oldest = offer;
    queue.newest = offer;
    queue.size++;
    this.byKey.set(key, offer);
    return true;
  }

  /**
   * Consumes the offer an answer refers to: true (and the offer is gone, so
   * it is answered at most once) when `answerer` was handed `offerId` by
   * `offerer` and it has not expired.
   */
  take(infoHash: string, answerer: string, offerId: string, offerer: string, now: number): boolean {
    const offer = this.byKey.get(infoHash + answerer + offerId);
    if (!offer || offer.offerer !== offerer || offer.expires < now) return false;
    this.remove(offer);
    return true;
  }

  /** The socket closed: its offers can no longer be answered usefully. */
  dropSocket(from: SocketRef): number {
    const queue = this.bySocket.get(from.edge)?.get(from.socket);
    return queue ? this.dropQueue(queue) : 0;
  }

  /** The edge went away: every offer made from its sockets goes. */
  dropEdge(edge: string): number {
    const sockets = this.bySocket.get(edge);
    if (!sockets) return 0;
    let dropped = 0;
    for (const queue of [...sockets.values()]) dropped += this.dropQueue(queue);
    return dropped;
  }

  /** Forgets offers past their TTL; cheap when nothing expired (it looks at the front only). */
  expire(now: number): number {
    let n = 0;
    for (const offer of this.byKey.values()) {
      if (offer.expires >= now) break;
      this.remove(offer);
      n++;
    }
    this.expired += n;
    return n;
  }

  private dropQueue(queue: SocketOffers): number {
    const n = queue.size;
    for (let offer = queue.oldest; offer; offer = offer.newer) this.byKey.delete(offer.key);
    queue.oldest = queue.newest = undefined;
    queue.size = 0;
    this.forgetQueue(queue);
    return n;
  }

  private queueOf(from: SocketRef): SocketOffers {
    let sockets = this.bySocket.get(from.edge);
    if (!sockets) {
      sockets = new Map();
      this.bySocket.set(from.edge, sockets);
    }
    let queue = sockets.get(from.socket);
    if (!queue) {
      queue = { edge: from.edge, socket: from.socket, size: 0, oldest: undefined, newest: undefined };
      sockets.set(from.socket, queue);
    }
    return queue;
  }

  private remove(offer: PendingOffer): void {
    this.byKey.delete(offer.key);
    const queue = offer.queue;
    if (offer.older) offer.older.newer = offer.newer;
    else queue.oldest = offer.newer;
    if (offer.newer) offer.newer.older = offer.older;
    else queue.newest = offer.older;
    if (--queue.size === 0) this.forgetQueue(queue);
  }

  private forgetQueue(queue: SocketOffers): void {
    const sockets = this.bySocket.get(queue.edge);
    if (!sockets || sockets.get(queue.socket) !== queue) return;
    sockets.delete(queue.socket);
    if (sockets.size === 0) this.bySocket.delete(queue.edge);
  }
}
