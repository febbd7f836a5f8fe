import type { ScrapeReply, ScrapeRequest, TorrentStats } from '../../lib/tracker/scrape.js';
import type { SwarmReply, SwarmRequest } from '../../lib/tracker/swarm.js';
import type { WtDisconnectRequest, WtScrapeReply, WtScrapeRequest } from '../../lib/tracker/webtorrent.js';
import type { Transport } from '../../lib/transport/transport.js';
import type { FailureSink } from '../../lib/runtime/failures.js';
import { unavailableReply } from '../../lib/transport/replies.js';
import { DestinationQueue, type Chunk, type ReplyCallback } from './destination-queue.js';

export type { ReplyCallback } from './destination-queue.js';

/** Which swarm owns an info-hash. All-in-one has exactly one. */
export interface Destinations {
  /** The transport of the swarm owning `infoHash` under the current table. */
  transportFor(infoHash: string): Transport;
  /** SlotTable.identity of the table `transportFor` uses: messages carry it. */
  readonly identity: number;
  /** The transport of member (or draining member) `name`, if this edge has one. */
  transportNamed(name: string): Transport | undefined;
  /** Runs `listener` after every change of table or transports. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
}

const NOTHING = (): void => {};

export class SingleDestination implements Destinations {
  readonly identity = 0;
  constructor(private readonly transport: Transport) {}
  transportFor(): Transport {
    return this.transport;
  }
  transportNamed(name: string): Transport | undefined {
    return name === this.transport.name ? this.transport : undefined;
  }
  onChange(): () => void {
    return NOTHING;
  }
}

/** Something counted, e.g. a bound tracker_limit_hits_total child. */
export interface Count {
  inc(by?: number): void;
}

export interface RouterOptions {
  /** Requests waiting for one swarm, at most; more are answered "swarm <name> overloaded" at once. Default 65536. */
  maxQueuedRequests?: number;
  /** A queued request not sent within this long is answered "swarm <name> timed out"; the transport's timeout counts from the same moment. Default 2000. */
  requestTimeoutMs?: number;
  /** How many times one request may be sent again after "moved" replies; one more is answered unavailable. Default 3. */
  maxMovedHops?: number;
  /** How long a moved request waits for this edge's table to change before it is routed by the table again. Default 500. */
  movedWaitMs?: number;
  /** Estimated bytes per message when WebTorrent requests (SDP) are queued, about; a bigger request still goes alone. Default 8 MiB. */
  maxBatchBytes?: number;
  /** Counted when a limit refuses a request: keyed like the config keys. */
  limits?: { maxQueuedRequests?: Count; maxMovedHops?: Count };
  /** Milliseconds clock (performance.now); injectable for tests. */
  now?: () => number;
}

/** Moved replies this router has handled. */
export interface MovedStats {
  received: number;
  /** Sent again at once, to the owner the edge's table names now (it changed since the request was routed). */
  reroutedByTable: number;
  /** Sent to the owner the moved reply named (the edge's table had not changed). */
  reroutedByHint: number;
  /** Sent by the edge's table after waiting for it to change (up to movedWaitMs). */
  reroutedAfterWait: number;
  /** Answered unavailable: moved more than maxMovedHops times. */
  gaveUp: number;
}

/** Requests a router itself answered with a failure, per swarm. */
export interface QueueCounts {
  overloaded: number;
  timedOut: number;
}

interface Parked {
  readonly request: SwarmRequest;
  readonly callback: ReplyCallback;
  readonly hops: number;
  readonly until: number;
}

const NO_REPLY = unavailableReply('no reply from swarm');

/**
 * Routes each request to the swarm that owns its info-hash and decides what
 * goes on the wire, in one place:
 *
 * - One queue per swarm (DestinationQueue). Every queue is drained by one
 *   function, `drain`, which runs at the end of the event-loop turn in
 *   which requests arrived (so a burst of datagrams read in one poll phase
 *   travels together) and again whenever the swarm's transport can take
 *   another message. Each message holds at most `maxBatch` requests; while
 *   the transport is at its cap of unanswered messages, requests wait in the
 *   queue and leave in full messages once replies free a slot, so messages
 *   grow with the load instead of multiplying. The queue is bounded
 *   (maxQueuedRequests) and so is the wait (requestTimeoutMs).
 * - Each message carries the identity of the slot table its requests were
 *   routed with. When the table changes, queued requests are routed again
 *   before anything else is sent, so a queue only ever holds requests
 *   routed by the current table.
 * - A "moved" reply (the swarm does not own the slot under its table) never
 *   reaches the caller: the request is sent again at once, to the owner the
 *   edge's table names if it changed since, else to the owner the reply
 *   named (the edge has not seen the change yet), else after waiting up to
 *   movedWaitMs for the edge's table to change. After maxMovedHops moved
 *   replies it is answered unavailable (counted as limit
 *   cluster.maxMovedHops).
 * - Scrapes and WebTorrent disconnects spanning swarms are split by owner
 *   and their replies merged in request order.
 *
 * Frontends call `request` and get exactly one reply, asynchronously. A
 * reply callback that throws does not keep the rest of its batch from their
 * replies; the exception goes to `failures` (counted, logged rate-limited).
 */
export class SwarmRouter {
  readonly moves: MovedStats = { received: 0, reroutedByTable: 0, reroutedByHint: 0, reroutedAfterWait: 0, gaveUp: 0 };
  private readonly queues = new Map<Transport, { queue: DestinationQueue; unsubscribe: () => void }>();
  private readonly counts = new WeakMap<Transport, QueueCounts>();
  private readonly maxQueued: number;
  private readonly timeoutMs: number;
  private readonly maxHops: number;
  private readonly waitMs: number;
  private readonly maxBatchBytes: number;
  private readonly now: () => number;
  private flushScheduled = false;
  /** When the requests of this turn were queued (read once per turn). */
  private stamp = 0;
  private parked: Parked[] = [];
  private parkTimer: NodeJS.Timeout | undefined;
  private queueTimer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly destinations: Destinations,
    private readonly maxBatch = 256,
    private readonly failures?: FailureSink,
    private readonly options: RouterOptions = {},
  ) {
    this.maxQueued = Math.max(1, options.maxQueuedRequests ?? 65536);
    this.timeoutMs = Math.max(1, options.requestTimeoutMs ?? 2000);
    this.maxHops = Math.max(0, options.maxMovedHops ?? 3);
    this.waitMs = Math.max(0, options.movedWaitMs ?? 500);
    this.maxBatchBytes = Math.max(1, options.maxBatchBytes ?? 8 * 1024 * 1024);
    this.now = options.now ?? (() => performance.now());
    this.unsubscribe = destinations.onChange(() => this.onDestinationsChange());
  }

  request(request: SwarmRequest, callback: ReplyCallback): void {
    this.route(request, callback, 0);
  }

  /**
   * The reply right now when the owning swarm is in-process, else undefined
   * (then use `request`). Requests spanning hashes qualify only if one swarm
   * owns them all.
   */
  trySync(request: SwarmRequest): SwarmReply | undefined {
    const transport = this.soleOwner(request);
    return transport?.handleNow ? transport.handleNow(request) : undefined;
  }

  /** Requests queued, sent or waiting to be sent again, and not answered yet, across swarms. */
  get inFlight(): number {
    let n = this.parked.length;
    for (const { queue } of this.queues.values()) n += queue.length + queue.transport.inFlight;
    return n;
  }

  /** Requests this router answered itself for `transport`'s swarm (overloaded, timed out in the queue). */
  countsFor(transport: Transport): QueueCounts {
    return this.counts.get(transport) ?? { overloaded: 0, timedOut: 0 };
  }

  /** Requests waiting in `transport`'s queue. */
  queuedFor(transport: Transport): number {
    return this.queues.get(transport)?.queue.length ?? 0;
  }

  /** Sends what every queue can send now (used on shutdown). */
  flush(): void {
    this.flushScheduled = false;
    for (const { queue } of this.queues.values()) if (queue.length > 0) this.drain(queue);
  }

  /**
   * Stops listening to destination changes and stops its timers; what still
   * waits here (queued behind a full transport, or for a table change) is
   * answered "tracker is shutting down". Flush first to send what can go.
   */
  close(): void {
    this.unsubscribe();
    if (this.parkTimer) clearTimeout(this.parkTimer);
    if (this.queueTimer) clearTimeout(this.queueTimer);
    this.parkTimer = this.queueTimer = undefined;
    const reply = unavailableReply('tracker is shutting down');
    const parked = this.parked;
    this.parked = [];
    for (const p of parked) this.deliver(p.callback, reply, p.request);
    for (const { queue, unsubscribe } of this.queues.values()) {
      unsubscribe();
      const { requests, callbacks } = queue.takeAll();
      for (let i = 0; i < callbacks.length; i++) this.deliver(callbacks[i], reply, requests[i]);
    }
    this.queues.clear();
  }

  // ------------------------------------------------------------ routing

  private route(request: SwarmRequest, callback: ReplyCallback, hops: number): void {
    switch (request.type) {
      case 'scrape':
      case 'wt-scrape':
        this.scrape(request, callback, hops);
        return;
      case 'wt-disconnect':
        this.disconnect(request, callback, hops);
        return;
      default:
        this.enqueue(this.destinations.transportFor(request.infoHash), request, callback, hops, false);
    }
  }

  private soleOwner(request: SwarmRequest): Transport | undefined {
    let hashes: readonly string[];
    switch (request.type) {
      case 'scrape':
      case 'wt-scrape':
        hashes = request.infoHashes;
        break;
      case 'wt-disconnect':
        hashes = request.peers.map((p) => p.infoHash);
        break;
      default:
        return this.destinations.transportFor(request.infoHash);
    }
    if (hashes.length === 0) return undefined;
    const transport = this.destinations.transportFor(hashes[0]);
    for (let i = 1; i < hashes.length; i++) {
      if (this.destinations.transportFor(hashes[i]) !== transport) return undefined;
    }
    return transport;
  }

  private scrape(request: ScrapeRequest | WtScrapeRequest, callback: ReplyCallback, hops: number): void {
    const infoHashes = request.infoHashes;
    this.fanOut(
      infoHashes,
      (indexes) => ({ type: request.type, infoHashes: indexes.map((i) => infoHashes[i]) }) as SwarmRequest,
      (parts) => {
        const files = new Array<TorrentStats>(infoHashes.length);
        for (const { indexes, reply } of parts) {
          if (reply.type !== request.type) return reply;
          const got = (reply as ScrapeReply | WtScrapeReply).files;
          for (let k = 0; k < indexes.length; k++) files[indexes[k]] = got[k];
        }
        return { type: request.type, files } as SwarmReply;
      },
      callback,
      request,
      hops,
    );
  }

  private disconnect(request: WtDisconnectRequest, callback: ReplyCallback, hops: number): void {
    this.fanOut(
      request.peers.map((p) => p.infoHash),
      (indexes) => ({ type: 'wt-disconnect', from: request.from, peers: indexes.map((i) => request.peers[i]) }),
      (parts) => {
        let removed = 0;
        for (const { reply } of parts) {
          if (reply.type !== 'wt-disconnect') return reply;
          removed += reply.removed;
        }
        return { type: 'wt-disconnect', removed };
      },
      callback,
      request,
      hops,
    );
  }

  /**
   * Splits a request over several info-hashes by owning swarm, sends one part
   * to each, and merges the replies (in the original order) once all are in.
   * With a single owner (always so all-in-one) the request goes as it is.
   */
  private fanOut(
    infoHashes: readonly string[],
    part: (indexes: number[]) => SwarmRequest,
    merge: (parts: { indexes: number[]; reply: SwarmReply }[]) => SwarmReply,
    callback: ReplyCallback,
    whole: SwarmRequest,
    hops: number,
  ): void {
    const groups = new Map<Transport, number[]>();
    for (let i = 0; i < infoHashes.length; i++) {
      const transport = this.destinations.transportFor(infoHashes[i]);
      const group = groups.get(transport);
      if (group) group.push(i);
      else groups.set(transport, [i]);
    }
    if (groups.size === 0) {
      queueMicrotask(() => this.deliver(callback, merge([]), whole));
      return;
    }
    if (groups.size === 1) {
      const [transport] = groups.keys();
      this.enqueue(transport, whole, callback, hops, false);
      return;
    }
    const parts: { indexes: number[]; reply: SwarmReply }[] = [];
    let remaining = groups.size;
    for (const [transport, indexes] of groups) {
      this.enqueue(transport, part(indexes), (reply) => {
        parts.push({ indexes, reply });
        if (--remaining === 0) callback(merge(parts));
      }, hops, false);
    }
  }

  // ------------------------------------------------------------ the queues

  private enqueue(transport: Transport, request: SwarmRequest, callback: ReplyCallback, hops: number, hinted: boolean): void {
    let entry = this.queues.get(transport);
    if (entry === undefined) {
      const queue = new DestinationQueue(transport);
      entry = { queue, unsubscribe: transport.onWritable(() => this.drain(queue)) };
      this.queues.set(transport, entry);
    }
    const queue = entry.queue;
    if (queue.length >= this.maxQueued) {
      this.countOf(transport).overloaded++;
      this.options.limits?.maxQueuedRequests?.inc();
      const reply = unavailableReply(`swarm ${transport.name} overloaded`);
      queueMicrotask(() => this.deliver(callback, reply, request));
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.stamp = this.now();
      setImmediate(this.flushTask);
    }
    queue.push(request, callback, this.stamp, hops);
    if (hinted) queue.hinted = true;
  }

  private readonly flushTask = (): void => this.flush();

  /** Sends from `queue` while its transport takes messages: at most maxBatch requests each. */
  private drain(queue: DestinationQueue): void {
    const transport = queue.transport;
    while (queue.length > 0 && transport.writable) {
      const identity = this.destinations.identity;
      const stamp = queue.hinted ? 0 : identity;
      const queuedAt = queue.oldest;
      const chunk = queue.take(this.maxBatch, this.maxBatchBytes);
      transport.send(chunk.requests, (replies) => this.answer(chunk, replies, transport, identity), stamp, queuedAt);
    }
    if (queue.length > 0 && this.queueTimer === undefined) this.armQueueTimer();
  }

  /** Hands each reply to its callback; moved ones are sent again instead. */
  private answer(chunk: Chunk, replies: SwarmReply[], from: Transport, routedWith: number): void {
    const { requests, callbacks, hops } = chunk;
    for (let i = 0; i < callbacks.length; i++) {
      const reply = replies[i] ?? NO_REPLY;
      if (reply.type === 'moved') {
        this.moved(requests[i], callbacks[i], hops === undefined ? 0 : hops[i], routedWith, from, reply.owner);
        continue;
      }
      try {
        callbacks[i](reply);
      } catch (error) {
        // The reply's type, not the request's: the closure must not keep the requests alive.
        this.failures?.report(error, { reply: reply.type });
      }
    }
    // An array promoted while its message was in flight would keep the
    // callbacks (and all they captured) alive until the next full GC.
    callbacks.length = 0;
  }

  private deliver(callback: ReplyCallback, reply: SwarmReply, request: SwarmRequest): void {
    try {
      callback(reply);
    } catch (error) {
      this.failures?.report(error, { reply: reply.type, request: request.type });
    }
  }

  private countOf(transport: Transport): QueueCounts {
    let c = this.counts.get(transport);
    if (!c) this.counts.set(transport, (c = { overloaded: 0, timedOut: 0 }));
    return c;
  }

  /** Answers "timed out" what has waited in a queue longer than requestTimeoutMs without being sent. */
  private armQueueTimer(): void {
    let oldest = Infinity;
    for (const { queue } of this.queues.values()) if (queue.length > 0 && queue.oldest < oldest) oldest = queue.oldest;
    if (oldest === Infinity) return;
    this.queueTimer = setTimeout(() => {
      this.queueTimer = undefined;
      const expired = this.now() - this.timeoutMs;
      for (const { queue } of this.queues.values()) {
        if (queue.oldest > expired) continue;
        const { requests, callbacks } = queue.takeQueuedBy(expired);
        this.countOf(queue.transport).timedOut += callbacks.length;
        const reply = unavailableReply(`swarm ${queue.transport.name} timed out`);
        for (let i = 0; i < callbacks.length; i++) this.deliver(callbacks[i], reply, requests[i]);
      }
      for (const { queue } of this.queues.values()) if (queue.length > 0) this.drain(queue);
      if (this.queueTimer === undefined) this.armQueueTimer();
    }, Math.max(0, oldest + this.timeoutMs - this.now()) + 1);
    this.queueTimer.unref();
  }

  // ------------------------------------------------------------ moved

  /**
   * A swarm answered "moved" for `request`, which was routed while the
   * table had identity `routedWith` and sent to `from`.
   */
  private moved(request: SwarmRequest, callback: ReplyCallback, hops: number, routedWith: number, from: Transport, owner: string | undefined): void {
    const m = this.moves;
    m.received++;
    if (hops >= this.maxHops) {
      m.gaveUp++;
      this.options.limits?.maxMovedHops?.inc();
      this.deliver(callback, unavailableReply('the swarms are changing who owns this torrent; try again in a moment'), request);
      return;
    }
    if (this.destinations.identity !== routedWith) {
      // This edge's table changed since: it is at least as new as what the swarm knew.
      m.reroutedByTable++;
      this.route(request, callback, hops + 1);
      return;
    }
    if (hops === 0 && owner !== undefined) {
      // The swarm has seen a change this edge has not: try the owner it names, once.
      const transport = this.destinations.transportNamed(owner);
      if (transport !== undefined && transport !== from) {
        m.reroutedByHint++;
        this.enqueue(transport, request, callback, hops + 1, true);
        return;
      }
    }
    // Nothing new to try: wait (bounded) for this edge's table to change, then route by it.
    this.parked.push({ request, callback, hops: hops + 1, until: this.now() + this.waitMs });
    if (this.parkTimer === undefined) this.armParkTimer();
  }

  private armParkTimer(): void {
    if (this.parked.length === 0) return;
    this.parkTimer = setTimeout(() => {
      this.parkTimer = undefined;
      const now = this.now();
      const due = this.parked.filter((p) => p.until <= now);
      this.parked = this.parked.filter((p) => p.until > now);
      this.moves.reroutedAfterWait += due.length;
      for (const p of due) this.route(p.request, p.callback, p.hops);
      this.armParkTimer();
    }, Math.max(0, this.parked[0].until - this.now()) + 1);
    this.parkTimer.unref();
  }

  /**
   * The table or the transports changed: what is queued was routed by the
   * previous table (possibly to a transport now closed), so route it again,
   * and what waits for the change goes now.
   */
  private onDestinationsChange(): void {
    const queued: Chunk[] = [];
    for (const { queue, unsubscribe } of this.queues.values()) {
      unsubscribe();
      if (queue.length > 0) queued.push(queue.takeAll());
    }
    this.queues.clear();
    for (const { requests, callbacks, hops } of queued) {
      for (let i = 0; i < requests.length; i++) this.route(requests[i], callbacks[i], hops === undefined ? 0 : hops[i]);
    }
    const parked = this.parked;
    this.parked = [];
    if (this.parkTimer) clearTimeout(this.parkTimer);
    this.parkTimer = undefined;
    this.moves.reroutedAfterWait += parked.length;
    for (const p of parked) this.route(p.request, p.callback, p.hops);
  }
}
