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
 * denied: refused by a request hook (access list, client approval, token...). unavailable: the swarm could not answer.
 */
export type RequestResult = 'ok' | 'error' | 'dropped' | 'denied' | 'unavailable';

/** Latency buckets in seconds: from 50 µs (in-process) to 2.5 s (a stuck swarm). */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5];

export interface StoreStatsSource {
  stats(): { torrents: number; peers: { v4: { seeders: number; leechers: number }; v6: { seeders: number; leechers: number } } };
}

/** An edge's view of one swarm's transport (GrpcTransportStats fields). */
export interface SwarmClientFailures {
  swarm: string;
  timedOut: number;
  unavailable: number;
  overloaded: number;
  streamFailures: number;
  repliesUnmatched: number;
}

/** A swarm's gRPC server counters (GrpcSwarmServerStats fields). */
export interface EdgeStreamCounts {
  rejectedUnauthenticated: number;
  rejectedPermissionDenied: number;
  rejectedInvalid: number;
  rejectedShuttingDown: number;
  edgesGone: number;
  relaysDroppedNoStream: number;
  relaysDroppedBacklog: number;
  unsupported: number;
}

export interface AccessListStatsSource {
  readonly size: number;
  readonly reloadsOk: number;
  readonly reloadsFailed: number;
}

/** What a swarm's snapshot scheduler counts (services/swarm/snapshot/scheduler.ts); read when scraped. */
export interface SnapshotStatsSource {
  /** Seconds since the last pass that left no changed owned slot unwritten. */
  ageSeconds(): number;
  readonly pendingSlots: number;
  readonly lastPassSeconds: number;
  readonly passesComplete: number;
  readonly passesIncomplete: number;
  readonly slotsSet: number;
  readonly slotsDeleted: number;
  readonly bytesWritten: number;
  readonly writeFailures: number;
  readonly readFailures: number;
  readonly corruptSlots: number;
  readonly restoreSeconds: number;
  readonly restoredSlots: number;
  readonly restoredBytes: number;
  readonly restoredPeers: number;
}

/** What a swarm's slot export and import did (services/swarm/store/slot-state.ts): snapshots and handoffs; read when scraped. */
export interface SlotTransferStatsSource {
  readonly exportChunks: number;
  readonly exportBytes: number;
  readonly exportPeers: number;
  readonly exportSeconds: number;
  readonly importChunks: number;
  readonly importBytes: number;
  readonly importSeconds: number;
  readonly importPeers: number;
  readonly importExpired: number;
  readonly importStale: number;
  readonly importRefused: number;
  readonly refusedVersion: number;
  readonly refusedCorrupt: number;
}

/** What a swarm's slot handoffs counted (services/swarm/handoff/handoff-stats.ts); read when scraped. */
export interface HandoffStatsSource {
  readonly slotsPulled: number;
  readonly peersPulled: number;
  readonly slotsServed: number;
  readonly peersServed: number;
  readonly slotsPushed: number;
  readonly peersPushed: number;
  readonly slotsUnchanged: number;
  readonly slotsReceived: number;
  readonly peersReceived: number;
  readonly unsentPeers: number;
  readonly pendingSlots: number;
  readonly inProgress: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly rejected: Readonly<Record<string, number>>;
  readonly complete: Readonly<Record<string, number>>;
  readonly incomplete: Readonly<Record<string, number>>;
  readonly lastSeconds: Readonly<Record<string, number>>;
}

/** Private mode's catalog reloader (lib/private/catalog/reloader.ts); read when scraped. */
export interface PrivateCatalogStatsSource {
  readonly users: number;
  readonly torrents: number;
  readonly clients: number;
  readonly globalFreeleech: boolean;
  readonly reloadsOk: number;
  readonly reloadsFailed: number;
  readonly lastReloadSeconds: number;
  ageSeconds(): number;
}

/** One table's write queue in private mode (lib/private/db/writer.ts). */
export interface PrivateTableStats {
  readonly table: string;
  readonly queued: number;
  readonly rowsWritten: number;
  readonly retries: number;
  readonly failures: number;
  /** Age of the oldest queued row in seconds; 0 when the queue is empty. */
  readonly lagSeconds: number;
}

/** Private mode's database writer; read when scraped. */
export interface PrivateWriterStatsSource {
  tables(): readonly PrivateTableStats[];
  readonly flushSecondsTotal: number;
  readonly lastFlushSeconds: number;
}

/** Private mode's event recorder (lib/private/recorder/); read when scraped. */
export interface PrivateRecorderStatsSource {
  readonly recorded: number;
  readonly bufferedBytes: number;
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
  /** Created when the first hook binds its counter: a process that runs no hooks exports none. */
  private hookRefusals: FastCounter | undefined;
  private readonly scrapeHooks: Array<() => void> = [];

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

  /** 1 while the UDP socket moves datagrams in batches through the native addon, 0 on the node:dgram fallback. */
  observeUdpBatchedIo(source: () => boolean): void {
    this.gauge('tracker_udp_batched_io', 'Whether UDP datagrams are read and sent in batches by the native addon (1) or one system call each through node:dgram (0)', () => source() ? 1 : 0);
  }

  observeWebSockets(source: () => number): void {
    this.gauge('tracker_ws_sockets', 'Open WebTorrent WebSockets', () => source());
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
    this.gauge('tracker_webtorrent_torrents', 'Torrents with at least one WebTorrent peer', () => source().torrents);
    this.gauge('tracker_webtorrent_pending_offers', 'Relayed offers waiting for an answer', () => source().pendingOffers);
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

  /** Edge and swarm: the slot table in force. */
  observeSlotTable(source: () => { epoch: number; members: number; identity: number }): void {
    this.gauge('tracker_slot_table_epoch', 'Version of the slot table (increases with every membership change)', () => source().epoch);
    this.gauge('tracker_slot_table_members', 'Swarms that own slots', () => source().members);
    this.gauge('tracker_slot_table_identity', 'Identity of the slot table (a hash of the member names): the same on every edge and swarm that sees the same members', () => source().identity);
  }

  // ------------------------------------------------------------ slot ownership and moved requests

  /** Swarm: slots it owns under its table, and requests it answered "moved". */
  observeOwnership(source: () => { ownedSlots: number; movedSent: number }): void {
    this.gauge('tracker_owned_slots', 'Swarm: slots (of 65536) this swarm owns under its slot table', () => source().ownedSlots);
    new ReadThroughCounter(
      'tracker_moved_replies_sent_total',
      'Swarm: requests answered "moved" because their slot is not this swarm\'s under its table (the edge sends them again)',
      () => [{ labels: {}, value: source().movedSent }],
      this.registry,
    );
  }

  /** Edge: "moved" replies received, and how the requests were sent again (giving up counts as limit cluster.maxMovedHops). */
  observeMoved(source: () => { received: number; reroutedByTable: number; reroutedByHint: number; reroutedAfterWait: number }): void {
    new ReadThroughCounter(
      'tracker_moved_replies_received_total',
      'Edge: "moved" replies from swarms (a swarm and this edge disagreed about who owns a slot)',
      () => [{ labels: {}, value: source().received }],
      this.registry,
    );
    new ReadThroughCounter(
      'tracker_moved_reroutes_total',
      'Edge: moved requests sent again, by what chose the swarm: table (this edge\'s table had changed), hint (the owner the reply named), wait (the table, after waiting up to cluster.movedWaitMs)',
      () => {
        const s = source();
        return [
          { labels: { via: 'table' }, value: s.reroutedByTable },
          { labels: { via: 'hint' }, value: s.reroutedByHint },
          { labels: { via: 'wait' }, value: s.reroutedAfterWait },
        ];
      },
      this.registry,
    );
  }

  /** Edge and swarm with cluster.membership=file: reloads of the members file by result. */
  observeMembersFile(source: () => { reloadsOk: number; reloadsFailed: number }): void {
    new ReadThroughCounter(
      'tracker_members_file_reloads_total',
      'Reloads of cluster.membersFile by result (a failed reload keeps the previous members)',
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

  // ------------------------------------------------------------ cluster (swarm side)

  /** Requests per batch a swarm answered, and how long answering took. */
  swarmServerBatch(): { size: HistogramChild; seconds: HistogramChild } {
    return { size: this.batchSize.child({ swarm: 'self' }), seconds: this.latency.child({ protocol: 'grpc', action: 'batch' }) };
  }

  observeEdges(source: () => number): void {
    this.gauge('tracker_edges_connected', 'Edges with an open stream to this swarm', () => source());
  }

  // ------------------------------------------------------------ cluster failures and trust (read when scraped)

  /** Edge: requests its gRPC transports failed themselves, by swarm and reason; stream failures; replies matching nothing. */
  observeSwarmClientFailures(source: () => readonly SwarmClientFailures[]): void {
    new ReadThroughCounter(
      'tracker_swarm_requests_failed_total',
      'Edge: requests answered with a failure by the edge itself, by swarm and reason (timeout, unavailable: no stream, overloaded: cluster.maxQueuedRequests)',
      () =>
        source().flatMap((s) => [
          { labels: { swarm: s.swarm, reason: 'timeout' }, value: s.timedOut },
          { labels: { swarm: s.swarm, reason: 'unavailable' }, value: s.unavailable },
          { labels: { swarm: s.swarm, reason: 'overloaded' }, value: s.overloaded },
        ]),
      this.registry,
    );
    new ReadThroughCounter(
      'tracker_swarm_stream_failures_total',
      'Edge: streams to the swarm that failed, ended or were refused (the edge reopens them)',
      () => source().map((s) => ({ labels: { swarm: s.swarm }, value: s.streamFailures })),
      this.registry,
    );
    new ReadThroughCounter(
      'tracker_swarm_replies_unmatched_total',
      'Edge: replies from the swarm that matched no waiting request (late after a timeout, or duplicates)',
      () => source().map((s) => ({ labels: { swarm: s.swarm }, value: s.repliesUnmatched })),
      this.registry,
    );
  }

  /** Swarm: edge streams refused, edges restarted or gone, relays dropped, requests of unknown types. */
  observeEdgeStreams(source: () => EdgeStreamCounts): void {
    new ReadThroughCounter(
      'tracker_edge_streams_rejected_total',
      'Swarm: edge streams refused, by reason (unauthenticated, permission-denied: edge identity not proven or not allowed; invalid; shutting-down)',
      () => {
        const s = source();
        return [
          { labels: { reason: 'unauthenticated' }, value: s.rejectedUnauthenticated },
          { labels: { reason: 'permission-denied' }, value: s.rejectedPermissionDenied },
          { labels: { reason: 'invalid' }, value: s.rejectedInvalid },
          { labels: { reason: 'shutting-down' }, value: s.rejectedShuttingDown },
        ];
      },
      this.registry,
    );
    new ReadThroughCounter(
      'tracker_edges_gone_total',
      'Swarm: times an edge went away or restarted and its WebTorrent peers were dropped',
      () => [{ labels: {}, value: source().edgesGone }],
      this.registry,
    );
    new ReadThroughCounter(
      'tracker_edge_relays_dropped_total',
      'Swarm: WebTorrent offers/answers not sent to an edge, by reason (no-stream, backlog: swarm.maxPendingRelaysPerEdge)',
      () => {
        const s = source();
        return [
          { labels: { reason: 'no-stream' }, value: s.relaysDroppedNoStream },
          { labels: { reason: 'backlog' }, value: s.relaysDroppedBacklog },
        ];
      },
      this.registry,
    );
    new ReadThroughCounter(
      'tracker_edge_requests_unsupported_total',
      'Swarm: requests of a type this build does not know (a newer edge), answered with a failure',
      () => [{ labels: {}, value: source().unsupported }],
      this.registry,
    );
  }

  /** Edge <-> swarm TLS files: reloads by result, and when the certificate in force expires. */
  observeClusterTls(source: () => { reloadsOk: number; reloadsFailed: number; notAfter: number }): void {
    new ReadThroughCounter(
      'tracker_cluster_tls_reloads_total',
      'Reloads of the cluster.tls files by result (a failed reload keeps the previous certificate)',
      () => {
        const s = source();
        return [
          { labels: { result: 'ok' }, value: s.reloadsOk },
          { labels: { result: 'failed' }, value: s.reloadsFailed },
        ];
      },
      this.registry,
    );
    this.gauge('tracker_cluster_tls_certificate_expiry_timestamp_seconds', 'When the cluster.tls.certFile certificate in force expires (Unix time; 0 without one)', () => source().notAfter);
  }

  // ------------------------------------------------------------ snapshots (swarm side, only when Redis is configured)

  /** Snapshot writes and the start-up restore; everything is read from `source` when scraped. */
  observeSnapshots(source: SnapshotStatsSource): void {
    const gauge = this.gauge.bind(this);
    const counter = (name: string, help: string, read: () => ReadonlyArray<{ labels: Record<string, string>; value: number }>): void => {
      new ReadThroughCounter(name, help, read, this.registry);
    };
    gauge('tracker_snapshot_age_seconds', 'Seconds since the last snapshot pass that wrote every changed slot (grows while Redis is down)', () => source.ageSeconds());
    gauge('tracker_snapshot_pending_slots', 'Owned slots changed since their last successful write', () => source.pendingSlots);
    gauge('tracker_snapshot_last_pass_seconds', 'Duration of the last snapshot pass, export and writes', () => source.lastPassSeconds);
    counter('tracker_snapshot_passes_total', 'Snapshot passes by result: complete (every changed slot written) or incomplete', () => [
      { labels: { result: 'complete' }, value: source.passesComplete },
      { labels: { result: 'incomplete' }, value: source.passesIncomplete },
    ]);
    counter('tracker_snapshot_slots_written_total', 'Slot snapshots written (set) or removed because the slot became empty (delete)', () => [
      { labels: { op: 'set' }, value: source.slotsSet },
      { labels: { op: 'delete' }, value: source.slotsDeleted },
    ]);
    counter('tracker_snapshot_bytes_written_total', 'Bytes of slot snapshots written to Redis', () => [{ labels: {}, value: source.bytesWritten }]);
    counter('tracker_snapshot_failures_total', 'Slot snapshots not written or read (Redis down, slow or erroring), or unreadable (corrupt)', () => [
      { labels: { op: 'write' }, value: source.writeFailures },
      { labels: { op: 'read' }, value: source.readFailures },
      { labels: { op: 'corrupt' }, value: source.corruptSlots },
    ]);
    gauge('tracker_snapshot_restore_seconds', 'Time the start-up restore took', () => source.restoreSeconds);
    counter('tracker_snapshot_restored_slots_total', 'Slots restored from Redis at start', () => [{ labels: {}, value: source.restoredSlots }]);
    counter('tracker_snapshot_restored_bytes_total', 'Bytes of slot snapshots restored at start', () => [{ labels: {}, value: source.restoredBytes }]);
    counter('tracker_snapshot_restored_peers_total', 'Peers restored at start (expired ones are not)', () => [{ labels: {}, value: source.restoredPeers }]);
  }

  /** Slot export and import (snapshots, handoffs): chunks, bytes, time spent, peers by outcome, chunks refused. */
  observeSlotTransfers(source: SlotTransferStatsSource): void {
    const byOp = (exported: number, imported: number) => [
      { labels: { op: 'export' }, value: exported },
      { labels: { op: 'import' }, value: imported },
    ];
    new ReadThroughCounter('tracker_slot_chunks_total', 'Slot chunks exported or imported (snapshots, handoffs)', () => byOp(source.exportChunks, source.importChunks), this.registry);
    new ReadThroughCounter('tracker_slot_chunk_bytes_total', 'Bytes of slot chunks exported or imported', () => byOp(source.exportBytes, source.importBytes), this.registry);
    new ReadThroughCounter(
      'tracker_slot_chunk_seconds_total',
      'Event-loop time spent exporting or importing slot chunks (its rate is the share of a core it takes)',
      () => byOp(source.exportSeconds, source.importSeconds),
      this.registry,
    );
    new ReadThroughCounter(
      'tracker_slot_peers_total',
      'Peers in slot chunks: exported; imported (added or merged); or not imported: expired, stale (WebTorrent peer of an edge process that is gone), refused (a store cap, see tracker_limit_hits_total)',
      () => [
        { labels: { op: 'export', result: 'exported' }, value: source.exportPeers },
        { labels: { op: 'import', result: 'imported' }, value: source.importPeers },
        { labels: { op: 'import', result: 'expired' }, value: source.importExpired },
        { labels: { op: 'import', result: 'stale' }, value: source.importStale },
        { labels: { op: 'import', result: 'refused' }, value: source.importRefused },
      ],
      this.registry,
    );
    new ReadThroughCounter(
      'tracker_slot_chunks_refused_total',
      'Slot chunks not imported at all: version (written by another release), corrupt',
      () => [
        { labels: { reason: 'version' }, value: source.refusedVersion },
        { labels: { reason: 'corrupt' }, value: source.refusedCorrupt },
      ],
      this.registry,
    );
  }

  /** Slot handoff between swarms (services/swarm/handoff/): read from `source` when scraped. */
  observeHandoff(source: HandoffStatsSource): void {
    const counter = (name: string, help: string, read: () => ReadonlyArray<{ labels: Record<string, string>; value: number }>): void => {
      new ReadThroughCounter(name, help, read, this.registry);
    };
    const byOp = (ops: Record<string, number>) => Object.entries(ops).map(([op, value]) => ({ labels: { op }, value }));
    const byLabel = (label: string, values: Readonly<Record<string, number>>) => Object.entries(values).map(([k, value]) => ({ labels: { [label]: k }, value }));
    counter('tracker_handoff_slots_total', 'Slots handed between swarms: pulled (received while joining), served (sent to a joining swarm), pushed (sent to their new owner), received (pushed here), unchanged (left out of a push: the new owner had pulled them)', () =>
      byOp({ pulled: source.slotsPulled, served: source.slotsServed, pushed: source.slotsPushed, received: source.slotsReceived, unchanged: source.slotsUnchanged }),
    );
    counter('tracker_handoff_peers_total', 'Peers in the slots handed between swarms, by the same op as tracker_handoff_slots_total', () =>
      byOp({ pulled: source.peersPulled, served: source.peersServed, pushed: source.peersPushed, received: source.peersReceived }),
    );
    counter('tracker_handoff_failures_total', 'Handoff calls or handoffs that failed: unreachable, leaving (the other swarm refused: it is leaving), refused (identity not proven), deadline, no-successor, import (chunks refused)', () =>
      byLabel('reason', source.failures),
    );
    counter('tracker_handoff_calls_rejected_total', 'Handoff calls from other swarms refused here: unauthenticated, permission-denied, invalid, leaving, unknown-pull', () => byLabel('reason', source.rejected));
    counter('tracker_handoffs_total', 'Handoffs run by this swarm by kind (join: pulled before ready, rebalance: after a table change, stop: on SIGTERM) and result', () => [
      ...Object.entries(source.complete).map(([kind, value]) => ({ labels: { kind, result: 'complete' }, value })),
      ...Object.entries(source.incomplete).map(([kind, value]) => ({ labels: { kind, result: 'incomplete' }, value })),
    ]);
    counter('tracker_handoff_unsent_peers_total', 'Peers a stopping swarm could not hand off (kept by the final Redis snapshot when there is one, else back with their next announce)', () => [{ labels: {}, value: source.unsentPeers }]);
    new Gauge({
      name: 'tracker_handoff_last_seconds',
      help: 'Duration of the last handoff of each kind',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      collect() {
        for (const [kind, value] of Object.entries(source.lastSeconds)) this.set({ kind }, value);
      },
    });
    this.gauge('tracker_handoff_in_progress', 'Handoffs running now', () => source.inProgress);
    this.gauge('tracker_handoff_pending_slots', 'Slots held here that belong to another swarm and were not handed off yet', () => source.pendingSlots);
  }

  /** Gauges read from the store when scraped (O(1) there). */
  observeStore(store: StoreStatsSource): void {
    this.gauge('tracker_torrents', 'Torrents with at least one peer', () => store.stats().torrents);
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
    this.gauge('tracker_new_torrent_prefixes', 'Source prefixes whose rate of new torrents is being tracked', () => source());
  }

  observeAccessList(source: () => AccessListStatsSource): void {
    this.gauge('tracker_access_list_hashes', 'Info-hashes in the loaded access list', () => source().size);
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

  // ------------------------------------------------------------ private mode (only when private.enabled)

  /** The in-memory copy of users, torrents and approved clients, and how its background reloads go. */
  observePrivateCatalog(source: PrivateCatalogStatsSource): void {
    new Gauge({
      name: 'tracker_private_catalog_entries',
      help: 'Entries in the catalog copy in use, by kind (users, torrents, clients)',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      collect() {
        this.set({ kind: 'users' }, source.users);
        this.set({ kind: 'torrents' }, source.torrents);
        this.set({ kind: 'clients' }, source.clients);
      },
    });
    this.gauge('tracker_private_catalog_age_seconds', 'Seconds since the catalog copy in use was loaded (grows while the database is down); -1 = never loaded', () => source.ageSeconds());
    this.gauge('tracker_private_catalog_last_reload_seconds', 'Duration of the last catalog reload, successful or not', () => source.lastReloadSeconds);
    this.gauge('tracker_private_global_freeleech', 'Whether global freeleech (mod_core) is on in the catalog copy in use (1) or not (0)', () => (source.globalFreeleech ? 1 : 0));
    new ReadThroughCounter(
      'tracker_private_catalog_reloads_total',
      'Catalog reloads by result (a failed reload keeps the previous copy)',
      () => [
        { labels: { result: 'ok' }, value: source.reloadsOk },
        { labels: { result: 'failed' }, value: source.reloadsFailed },
      ],
      this.registry,
    );
  }

  /** Rows queued for the database and written, per table. */
  observePrivateWriter(source: PrivateWriterStatsSource): void {
    const perTable = (read: (t: PrivateTableStats) => number) => () => source.tables().map((t) => ({ labels: { table: t.table }, value: read(t) }));
    const labelledGauge = (name: string, help: string, read: (t: PrivateTableStats) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['table'] as const,
        registers: [this.registry],
        collect() {
          for (const t of source.tables()) this.set({ table: t.table }, read(t));
        },
      });
    };
    labelledGauge('tracker_private_db_queue_rows', 'Rows waiting to be written, per table (bounded by database.<table>Queue)', (t) => t.queued);
    labelledGauge('tracker_private_db_flush_lag_seconds', 'Age of the oldest row waiting to be written, per table (0 = none waiting)', (t) => t.lagSeconds);
    new ReadThroughCounter('tracker_private_db_rows_written_total', 'Rows written to the database, per table', perTable((t) => t.rowsWritten), this.registry);
    new ReadThroughCounter('tracker_private_db_retries_total', 'Writes retried after a deadlock (1213) or lock-wait timeout (1205), per table', perTable((t) => t.retries), this.registry);
    new ReadThroughCounter('tracker_private_db_write_failures_total', 'Writes that failed (rows stay queued for the next flush), per table', perTable((t) => t.failures), this.registry);
    new ReadThroughCounter('tracker_private_db_flush_seconds_total', 'Time spent flushing queued rows', () => [{ labels: {}, value: source.flushSecondsTotal }], this.registry);
    this.gauge('tracker_private_db_last_flush_seconds', 'Duration of the last flush of all tables', () => source.lastFlushSeconds);
  }

  /** The event recorder's lines (drops are tracker_limit_hits_total{limit="private.recordBufferBytes"}). */
  observePrivateRecorder(source: PrivateRecorderStatsSource): void {
    new ReadThroughCounter('tracker_private_events_recorded_total', 'Announce events written to the hourly event files', () => [{ labels: {}, value: source.recorded }], this.registry);
    this.gauge('tracker_private_events_buffered_bytes', 'Event lines waiting for the disk (bounded by private.recordBufferBytes)', () => source.bufferedBytes);
  }

  /** Private peers whose last report the swarm holds (services/swarm/accounting/peer-accounts.ts), and what each costs. */
  observePrivateAccounts(source: { readonly peers: number; readonly uncatalogued: number; bytesPerPeer(): number }): void {
    this.gauge('tracker_private_peers', 'Private peers (torrent, user, peer_id) whose last uploaded/downloaded report this swarm holds', () => source.peers);
    this.gauge('tracker_private_peer_bytes', 'Bytes of accounting state per private peer held (columns, hash table, growth slack), on top of the store row', () => source.bytesPerPeer());
    new ReadThroughCounter(
      'tracker_private_uncatalogued_announces_total',
      "Private announces served but not credited: the swarm's catalog copy did not know the torrent (yet); persistent growth means its reloads fail",
      () => [{ labels: {}, value: source.uncatalogued }],
      this.registry,
    );
  }

  // ------------------------------------------------------------ request hooks (edge)

  /** Announces (and torrents of scrapes and WebTorrent answers) refused by the request hook `hook`; bound once per hook at start. */
  hookRefusalCounter(hook: string): CounterChild {
    this.hookRefusals ??= new FastCounter('tracker_hook_refusals_total', 'Requests refused by a request hook (hooks.order), by hook', ['hook'], this.registry);
    return this.hookRefusals.child({ hook });
  }

  /** The JWT hook: keys in force, tokens it remembers as verified, signatures it checked, key reloads. */
  observeJwt(source: () => { keys: number; cachedTokens: number; verifications: number; reloadsOk: number; reloadsFailed: number }): void {
    this.gauge('tracker_jwt_keys', 'Signature keys the JWT hook accepts tokens from (hooks.jwt.jwksFile or jwksUrl)', () => source().keys);
    this.gauge('tracker_jwt_cached_tokens', 'Tokens the JWT hook remembers as verified (bounded by hooks.jwt.cacheSize)', () => source().cachedTokens);
    new ReadThroughCounter('tracker_jwt_verifications_total', 'Token signatures the JWT hook verified (tokens not in its cache)', () => [{ labels: {}, value: source().verifications }], this.registry);
    new ReadThroughCounter(
      'tracker_jwt_key_reloads_total',
      'JWK Set reloads by result (a failed reload keeps the keys in force)',
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

  // ------------------------------------------------------------ tracker-port connections (edge)

  /** Whether native/tcp-guard counts and caps tracker-port connections (1) or the port runs without (0). */
  observeTcpGuard(enabled: boolean): void {
    new Gauge({
      name: 'tracker_tcp_guard_enabled',
      help: 'Whether tracker-port connections are counted and capped and fd exhaustion is handled (1) or not (0)',
      registers: [this.registry],
    }).set(enabled ? 1 : 0);
  }

  observeTcpConnections(source: () => { open: number; max: number; emfile: number; enfile: number }): void {
    this.gauge('tracker_tcp_connections', 'Open TCP connections on the tracker port (HTTP and WebSocket)', () => source().open);
    this.gauge('tracker_tcp_connections_max', 'Effective cap on tracker_tcp_connections: http.maxConnections, lowered to fit the file-descriptor limit', () => source().max);
    new ReadThroughCounter(
      'tracker_tcp_fd_exhausted_total',
      'Times accepting on the tracker port failed for lack of file descriptors (process EMFILE, system ENFILE); pending connections were reset',
      () => {
        const s = source();
        return [
          { labels: { errno: 'EMFILE' }, value: s.emfile },
          { labels: { errno: 'ENFILE' }, value: s.enfile },
        ];
      },
      this.registry,
    );
  }

  /** Runs `fn` before every scrape: for counts kept outside JS (native code) to be copied into bound counters. */
  beforeScrape(fn: () => void): void {
    this.scrapeHooks.push(fn);
  }

  /** A gauge without labels whose value is read from `read` when scraped. */
  private gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    for (const hook of this.scrapeHooks) hook();
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
