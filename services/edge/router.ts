import type { ScrapeReply, SwarmReply, SwarmRequest, TorrentStats } from '../../lib/transport/messages.js';
import type { Transport } from '../../lib/transport/transport.js';

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
 */
export class SwarmRouter {
  private readonly queues = new Map<Transport, Queue>();
  private flushScheduled = false;

  constructor(
    private readonly destinations: Destinations,
    private readonly maxBatch = 256,
    private readonly onCallbackError: (error: unknown) => void = () => {},
  ) {}

  request(request: SwarmRequest, callback: ReplyCallback): void {
    if (request.type === 'scrape') {
      this.scrape(request.infoHashes, callback);
      return;
    }
    this.enqueue(this.destinations.transportFor(request.infoHash), request, callback);
  }

  /**
   * The reply right now when the owning swarm is in-process, else undefined
   * (then use `request`). A scrape qualifies only if one swarm owns every hash.
   */
  trySync(request: SwarmRequest): SwarmReply | undefined {
    let transport: Transport;
    if (request.type === 'scrape') {
      if (request.infoHashes.length === 0) return { type: 'scrape', files: [] };
      transport = this.destinations.transportFor(request.infoHashes[0]);
      if (!transport.handleNow) return undefined;
      for (let i = 1; i < request.infoHashes.length; i++) {
        if (this.destinations.transportFor(request.infoHashes[i]) !== transport) return undefined;
      }
    } else {
      transport = this.destinations.transportFor(request.infoHash);
      if (!transport.handleNow) return undefined;
    }
    return transport.handleNow!(request);
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

  private scrape(infoHashes: readonly string[], callback: ReplyCallback): void {
    // Group by owner; a single owner (always so all-in-one) needs no merging.
    const groups = new Map<Transport, number[]>();
    for (let i = 0; i < infoHashes.length; i++) {
      const transport = this.destinations.transportFor(infoHashes[i]);
      const group = groups.get(transport);
      if (group) group.push(i);
      else groups.set(transport, [i]);
    }
    if (groups.size <= 1) {
      const [transport] = groups.keys();
      if (!transport) {
        callback({ type: 'scrape', files: [] });
        return;
      }
      this.enqueue(transport, { type: 'scrape', infoHashes }, callback);
      return;
    }
    const files = new Array<TorrentStats>(infoHashes.length);
    let remaining = groups.size;
    let failed: SwarmReply | undefined;
    for (const [transport, indexes] of groups) {
      const part = indexes.map((i) => infoHashes[i]);
      this.enqueue(transport, { type: 'scrape', infoHashes: part }, (reply) => {
        if (reply.type === 'scrape') {
          for (let k = 0; k < indexes.length; k++) files[indexes[k]] = reply.files[k];
        } else {
          failed ??= reply;
        }
        if (--remaining === 0) callback(failed ?? ({ type: 'scrape', files } satisfies ScrapeReply));
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
          callbacks[i](replies[i] ?? { type: 'error', message: 'no reply from swarm' });
        } catch (error) {
          this.onCallbackError(error);
        }
      }
    });
  }
}
