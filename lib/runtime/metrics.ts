/**
 * Every metric the tracker exports is declared here, once. Dashboards and
 * alerts refer to these names, so renaming one is a breaking change.
 */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { CounterChild, FastCounter, FastHistogram, HistogramChild, ReadThroughCounter } from './fast-metrics.js';

export type Protocol = 'udp' | 'http' | 'ws';
export type RequestAction = 'connect' | 'announce' | 'scrape' | 'answer' | 'invalid';
/**
 * ok: answered normally. error: answered with a protocol error/failure.
 * dropped: no reply on purpose (bad connection id, unparsable datagram).
 * denied: refused by the access list. unavailable: the swarm could not answer.
 */
export type RequestResult = 'ok' | 'error' | 'dropped' | 'denied' | 'unavailable';

/** Latency buckets in seconds: from 50 µs (in-process) to 2.5 s (a stuck swarm). */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5];

export interface StoreStatsSource {
  stats(): { torrents: number; peers: { v4: { seeders: number; leechers: number }; v6: { seeders: number; leechers: number } } };
}

export interface AccessListStatsSource {
  readonly size: number;
  readonly reloadsOk: number;
  readonly reloadsFailed: number;
}

export class TrackerMetrics {
  readonly registry = new Registry();
  private readonly requests: FastCounter;
  private readonly latency: FastHistogram;
  private readonly relayed: FastCounter;
  private readonly batchSize: FastHistogram;
  private readonly roundTrip: FastHistogram;
  private readonly wsDropped: FastCounter;
  private readonly internalErrors: FastCounter;
  private readonly limitHits: FastCounter;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.requests = new FastCounter(
      'tracker_requests_total',
      'Client requests by protocol, action and result',
      ['protocol', 'action', 'result'],
      this.registry,
    );
    this.latency = new FastHistogram(
      'tracker_request_duration_seconds',
      'Time from receiving a request to sending its reply',
      ['protocol', 'action'],
      LATENCY_BUCKETS,
      this.registry,
    );
    this.batchSize = new FastHistogram(
      'tracker_swarm_batch_requests',
      'Requests per message between edge and swarm (label swarm="self" on a swarm: batches it answered)',
      ['swarm'],
      [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
      this.registry,
    );
    this.roundTrip = new FastHistogram(
      'tracker_swarm_round_trip_seconds',
      'Edge-measured time from sending a batch to a swarm to its replies',
      ['swarm'],
      LATENCY_BUCKETS,
      this.registry,
    );
    this.relayed = new FastCounter('tracker_ws_relayed_total', 'WebTorrent offers and answers delivered to sockets', ['kind'], this.registry);
    this.wsDropped = new FastCounter(
      'tracker_ws_dropped_total',
      'WebTorrent messages or sockets dropped, by reason',
      ['reason'],
      this.registry,
    );
    this.internalErrors = new FastCounter(
      'tracker_internal_errors_total',
      'Exceptions caught on request paths, by component (each is also logged, rate-limited)',
      ['component'],
      this.registry,
    );
    this.limitHits = new FastCounter(
      'tracker_limit_hits_total',
      'Times a configured limit refused or cut something, by the config key of the limit',
      ['limit'],
      this.registry,
    );
  }

  /** Caught failures of one component (see lib/runtime/failures.ts). */
  internalErrorCounter(component: string): CounterChild {
    return this.internalErrors.child({ component });
  }

  /**
   * One configured limit being hit: `limit` is its config key, e.g.
   * "http.maxConnections", so an alert names the setting to look at.
   * Bind at start-up; incrementing is a field write.
   */
  limitCounter(limit: string): CounterChild {
    return this.limitHits.child({ limit });
  }

  /** Bind once per (protocol, action, result); updating the child is a field increment. */
  requestCounter(protocol: Protocol, action: RequestAction, result: RequestResult): CounterChild {
    return this.requests.child({ protocol, action, result });
  }

  latencyHistogram(protocol: Protocol | 'grpc', action: RequestAction | 'batch'): HistogramChild {
    return this.latency.child({ protocol, action });
  }

  /** WebTorrent relay counters: offers and answers delivered to sockets, and what was dropped. */
  relayCounter(kind: 'offer' | 'answer'): CounterChild {
    return this.relayed.child({ kind });
  }

  /** reason: backpressure (slow reader), gone (socket closed before delivery), oversize (message too big). */
  wsDropCounter(reason: 'backpressure' | 'gone' | 'oversize'): CounterChild {
    return this.wsDropped.child({ reason });
  }

  observeWebSockets(source: () => number): void {
    new Gauge({
      name: 'tracker_ws_sockets',
      help: 'Open WebTorrent WebSockets',
      registers: [this.registry],
      collect() {
        this.set(source());
      },
    });
  }

  observeWebTorrent(source: () => { torrents: number; seeders: number; leechers: number; pendingOffers: number }): void {
    new Gauge({
      name: 'tracker_webtorrent_peers',
      help: 'WebTorrent peers by kind',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      collect() {
        const s = source();
        this.set({ kind: 'seeder' }, s.seeders);
        this.set({ kind: 'leecher' }, s.leechers);
      },
    });
    new Gauge({
      name: 'tracker_webtorrent_torrents',
      help: 'Torrents with at least one WebTorrent peer',
      registers: [this.registry],
      collect() {
        this.set(source().torrents);
      },
    });
    new Gauge({
      name: 'tracker_webtorrent_pending_offers',
      help: 'Relayed offers waiting for an answer',
      registers: [this.registry],
      collect() {
        this.set(source().pendingOffers);
      },
    });
  }

  // ------------------------------------------------------------ cluster (edge side)

  /** Per-swarm histograms an edge's gRPC transport feeds: requests per message, and round-trip time. */
  swarmClient(swarm: string): { batchSize: HistogramChild; roundTrip: HistogramChild } {
    return { batchSize: this.batchSize.child({ swarm }), roundTrip: this.roundTrip.child({ swarm }) };
  }

  observeSwarmClients(source: () => readonly { swarm: string; up: boolean; inFlight: number }[]): void {
    new Gauge({
      name: 'tracker_swarm_stream_up',
      help: 'Whether the edge has an open stream to the swarm (1) or not (0)',
      labelNames: ['swarm'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of source()) this.set({ swarm: s.swarm }, s.up ? 1 : 0);
      },
    });
    new Gauge({
      name: 'tracker_swarm_inflight_requests',
      help: 'Requests sent to the swarm and not answered yet',
      labelNames: ['swarm'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of source()) this.set({ swarm: s.swarm }, s.inFlight);
      },
    });
  }

  observeSlotTable(source: () => { epoch: number; members: number }): void {
    new Gauge({
      name: 'tracker_slot_table_epoch',
      help: 'Version of the slot table (increases with every membership change)',
      registers: [this.registry],
      collect() {
        this.set(source().epoch);
      },
    });
    new Gauge({
      name: 'tracker_slot_table_members',
      help: 'Swarms that own slots',
      registers: [this.registry],
      collect() {
        this.set(source().members);
      },
    });
  }

  // ------------------------------------------------------------ cluster (swarm side)

  /** Requests per batch a swarm answered, and how long answering took. */
  swarmServerBatch(): { size: HistogramChild; seconds: HistogramChild } {
    return { size: this.batchSize.child({ swarm: 'self' }), seconds: this.latency.child({ protocol: 'grpc', action: 'batch' }) };
  }

  observeEdges(source: () => number): void {
    new Gauge({
      name: 'tracker_edges_connected',
      help: 'Edges with an open stream to this swarm',
      registers: [this.registry],
      collect() {
        this.set(source());
      },
    });
  }

  /** Gauges read from the store when scraped (O(1) there). */
  observeStore(store: StoreStatsSource): void {
    new Gauge({
      name: 'tracker_torrents',
      help: 'Torrents with at least one peer',
      registers: [this.registry],
      collect() {
        this.set(store.stats().torrents);
      },
    });
    new Gauge({
      name: 'tracker_peers',
      help: 'Peers by address family and kind',
      labelNames: ['family', 'kind'] as const,
      registers: [this.registry],
      collect() {
        const { peers } = store.stats();
        this.set({ family: 'ipv4', kind: 'seeder' }, peers.v4.seeders);
        this.set({ family: 'ipv4', kind: 'leecher' }, peers.v4.leechers);
        this.set({ family: 'ipv6', kind: 'seeder' }, peers.v6.seeders);
        this.set({ family: 'ipv6', kind: 'leecher' }, peers.v6.leechers);
      },
    });
  }

  /** Swarm: source prefixes whose new-torrent rate is tracked (bounded by store.maxNewTorrentPrefixes). */
  observeNewTorrentPrefixes(source: () => number): void {
    new Gauge({
      name: 'tracker_new_torrent_prefixes',
      help: 'Source prefixes whose rate of new torrents is being tracked',
      registers: [this.registry],
      collect() {
        this.set(source());
      },
    });
  }

  observeAccessList(source: () => AccessListStatsSource): void {
    new Gauge({
      name: 'tracker_access_list_hashes',
      help: 'Info-hashes in the loaded access list',
      registers: [this.registry],
      collect() {
        this.set(source().size);
      },
    });
    new ReadThroughCounter(
      'tracker_access_list_reloads_total',
      'Access list reloads by result (a failed reload keeps the previous list)',
      () => {
        const s = source();
        return [
          { labels: { result: 'ok' }, value: s.reloadsOk },
          { labels: { result: 'failed' }, value: s.reloadsFailed },
        ];
      },
      this.registry,
    );
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * One protocol's request counters, bound on first use (or up front, so the
 * series exist before any request) and then reached by two property reads
 * instead of building a label key per request.
 */
export class RequestCounters {
  private readonly byAction: Partial<Record<RequestAction, Partial<Record<RequestResult, CounterChild>>>> = {};

  constructor(
    private readonly metrics: TrackerMetrics,
    private readonly protocol: Protocol,
    upFront: readonly (readonly [RequestAction, RequestResult])[] = [],
  ) {
    for (const [action, result] of upFront) this.counter(action, result);
  }

  inc(action: RequestAction, result: RequestResult): void {
    (this.byAction[action]?.[result] ?? this.counter(action, result)).inc();
  }

  private counter(action: RequestAction, result: RequestResult): CounterChild {
    const row = (this.byAction[action] ??= {});
    return (row[result] ??= this.metrics.requestCounter(this.protocol, action, result));
  }
}
