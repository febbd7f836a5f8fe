import type {
  ScrapeReply,
  ScrapeRequest,
  SwarmReply,
  SwarmRequest,
  TorrentStats,
  WtDisconnectRequest,
  WtScrapeReply,
  WtScrapeRequest,
} from '../../lib/transport/messages.js';
import type { Transport } from '../../lib/transport/transport.js';
import type { FailureSink } from '../../lib/runtime/failures.js';
import { unavailableReply } from '../../lib/transport/replies.js';

export type ReplyCallback = (reply: SwarmReply) => void;

/** Which swarm owns an info-hash. All-in-one has exactly one. */
export interface Destinations {
  transportFor(infoHash: string): Transport;
}

export class SingleDestination implements Destinations {
  constructor(private readonly transport: Transport) {}
  transportFor(): Transport {
    return this.transport;
  }
}

interface Queue {
  requests: SwarmRequest[];
  callbacks: ReplyCallback[];
}

/**
 * Routes each request to the swarm that owns its info-hash and batches per
 * destination: a batch is sent when it reaches `maxBatch` or at the end of
 * the current event-loop turn, so a burst of datagrams read in one poll phase
 * travels as one batch. Frontends call `request` and get exactly one reply.
 * A reply callback that throws does not keep the rest of its batch from
 * their replies; the exception goes to `failures` (counted, logged
 * rate-limited).
 */
export class SwarmRouter {
  private readonly queues = new Map<Transport, Queue>();
  private flushScheduled = false;

  constructor(
    private readonly destinations: Destinations,
    private readonly maxBatch = 256,
    private readonly failures?: FailureSink,
  ) {}

  request(request: SwarmRequest, callback: ReplyCallback): void {
    switch (request.type) {
      case 'scrape':
      case 'wt-scrape':
        this.scrape(request, callback);
        return;
      case 'wt-disconnect':
        this.disconnect(request, callback);
        return;
      default:
        this.enqueue(this.destinations.transportFor(request.infoHash), request, callback);
    }
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

  /** Requests queued or sent but not answered yet, across destinations. */
  get inFlight(): number {
    let queued = 0;
    const transports = new Set<Transport>();
    for (const [transport, queue] of this.queues) {
      queued += queue.requests.length;
      transports.add(transport);
    }
    let sent = 0;
    for (const transport of transports) sent += transport.inFlight;
    return queued + sent;
  }

  /** Sends every queued batch now (used on shutdown). */
  flush(): void {
    this.flushScheduled = false;
    for (const [transport, queue] of this.queues) {
      if (queue.requests.length > 0) this.sendQueue(transport, queue);
    }
  }

  private scrape(request: ScrapeRequest | WtScrapeRequest, callback: ReplyCallback): void {
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
    );
  }

  private disconnect(request: WtDisconnectRequest, callback: ReplyCallback): void {
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
  ): void {
    const groups = new Map<Transport, number[]>();
    for (let i = 0; i < infoHashes.length; i++) {
      const transport = this.destinations.transportFor(infoHashes[i]);
      const group = groups.get(transport);
      if (group) group.push(i);
      else groups.set(transport, [i]);
    }
    if (groups.size === 0) {
      callback(merge([]));
      return;
    }
    const parts: { indexes: number[]; reply: SwarmReply }[] = [];
    let remaining = groups.size;
    for (const [transport, indexes] of groups) {
      this.enqueue(transport, part(indexes), (reply) => {
        parts.push({ indexes, reply });
        if (--remaining === 0) callback(merge(parts));
      });
    }
  }

  private enqueue(transport: Transport, request: SwarmRequest, callback: ReplyCallback): void {
    let queue = this.queues.get(transport);
    if (!queue) {
      queue = { requests: [], callbacks: [] };
      this.queues.set(transport, queue);
    }
    queue.requests.push(request);
    queue.callbacks.push(callback);
    if (queue.requests.length >= this.maxBatch) {
      this.sendQueue(transport, queue);
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private sendQueue(transport: Transport, queue: Queue): void {
    const { requests, callbacks } = queue;
    queue.requests = [];
    queue.callbacks = [];
    transport.send(requests, (replies) => {
      for (let i = 0; i < callbacks.length; i++) {
        try {
          callbacks[i](replies[i] ?? unavailableReply('no reply from swarm'));
        } catch (error) {
          // The reply's type, not the request's: the closure must not keep the requests alive.
          this.failures?.report(error, { reply: replies[i]?.type });
        }
      }
      // An array promoted while its batch was in flight would keep the
      // callbacks (and all they captured) alive until the next full GC.
      callbacks.length = 0;
    });
  }
}
