/**
 * Counters, a mergeable latency histogram and the summary math of a run.
 * No I/O.
 */

/**
 * Log-linear histogram of integer microseconds (HdrHistogram-like, 5
 * significant bits: every bucket is at most 1/32 ~ 3% wide). Values below
 * 64 us have their own bucket each; values up to 2^31 us are bucketed; larger
 * values land in the last bucket. Percentiles are reported as the bucket's
 * upper bound, capped by the exact maximum (so never optimistic by more than
 * one bucket and never above the max).
 */
export const HISTOGRAM_BUCKETS = 64 + 25 * 32;

export function bucketOf(us: number): number {
  if (!(us > 0)) return 0;
  const v = us >= 0x7fff_ffff ? 0x7fff_ffff : Math.floor(us);
  if (v < 64) return v;
  const msb = 31 - Math.clz32(v); // 6..30
  const shift = msb - 5; // 1..25
  const mantissa = v >>> shift; // 32..63
  return 64 + (shift - 1) * 32 + (mantissa - 32);
}

/** Largest value (us) that falls into bucket `b`. */
export function bucketUpperBound(b: number): number {
  if (b < 64) return b;
  const shift = Math.floor((b - 64) / 32) + 1;
  const mantissa = ((b - 64) % 32) + 32;
  return (mantissa + 1) * 2 ** shift - 1;
}

export class LatencyHistogram {
  readonly counts: Float64Array;
  count = 0;
  sum = 0;
  max = 0;

  constructor(counts?: Float64Array) {
    this.counts = counts ?? new Float64Array(HISTOGRAM_BUCKETS);
    if (counts) {
      for (let b = 0; b < counts.length; b++) {
        const c = counts[b];
        if (c > 0) {
          this.count += c;
          this.max = bucketUpperBound(b);
        }
      }
    }
  }

  record(us: number): void {
    this.counts[bucketOf(us)]++;
    this.count++;
    this.sum += us;
    if (us > this.max) this.max = us;
  }

  merge(o: { counts: ArrayLike<number>; count: number; sum: number; max: number }): void {
    for (let b = 0; b < HISTOGRAM_BUCKETS; b++) this.counts[b] += o.counts[b] ?? 0;
    this.count += o.count;
    this.sum += o.sum;
    if (o.max > this.max) this.max = o.max;
  }

  /** Value (us) at quantile q in [0, 1]; 0 when empty. */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
      seen += this.counts[b];
      if (seen >= rank) return Math.min(bucketUpperBound(b), this.max);
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  toJSON(): { counts: number[]; count: number; sum: number; max: number } {
    return { counts: Array.from(this.counts), count: this.count, sum: this.sum, max: this.max };
  }
}

/** What one worker (or the C generator) counted during the measured window. */
export interface WindowCounters {
  /** Requests sent (announce + scrape + connect). */
  sent: number;
  announces: number;
  scrapes: number;
  connects: number;
  /** Error replies (BEP 15 action 3, HTTP "failure reason" or non-200 status). */
  errors: number;
  /** Requests that got no reply within the timeout. */
  lost: number;
  /** Replies that did not parse, or did not match a request in flight. */
  invalid: number;
  /** Peers received in announce replies (sum). */
  peers: number;
  /** Connections opened (HTTP) / reconnects issued (UDP, after the first connect). */
  reconnects: number;
  /** Transport errors (socket errors, resets, refused). */
  socketErrors: number;
}

export function zeroCounters(): WindowCounters {
  return {
    sent: 0,
    announces: 0,
    scrapes: 0,
    connects: 0,
    errors: 0,
    lost: 0,
    invalid: 0,
    peers: 0,
    reconnects: 0,
    socketErrors: 0,
  };
}

export function addCounters(into: WindowCounters, c: WindowCounters): WindowCounters {
  for (const k of Object.keys(into) as (keyof WindowCounters)[]) into[k] += c[k] ?? 0;
  return into;
}

/**
 * The measured-window bookkeeping shared by the node load loops (udp, http,
 * ws): live counters always, window counters and latencies only for events
 * inside [measureStart, measureEnd), plus a few sampled error messages.
 * Live slots are worker-types.ts's LIVE_SENT..LIVE_INVALID (0..4).
 */
export class WindowRecorder {
  readonly counters: WindowCounters = zeroCounters();
  readonly histogram = new LatencyHistogram();
  private measureStart = Infinity;
  private measureEnd = -Infinity;
  private readonly errorSamples = new Map<string, number>();

  constructor(readonly live: { add(slot: number, n: number): void }) {}

  /** Set the measured window (absolute ms, as in worker-types.ts's RunClock). */
  protected setWindow(clock: { readonly measureStart: number; readonly measureEnd: number }): void {
    this.measureStart = clock.measureStart;
    this.measureEnd = clock.measureEnd;
  }

  inWindow(t: number): boolean {
    return t >= this.measureStart && t < this.measureEnd;
  }

  sent(t: number): void {
    this.live.add(0, 1);
    if (this.inWindow(t)) this.counters.sent++;
  }

  reply(kind: 'announces' | 'scrapes', t: number, latencyUs: number, peers = 0): void {
    this.live.add(1, 1);
    if (this.inWindow(t)) {
      this.counters[kind]++;
      this.counters.peers += peers;
      this.histogram.record(latencyUs);
    }
  }

  count(k: keyof WindowCounters, t: number): void {
    if (k === 'errors') this.live.add(2, 1);
    else if (k === 'lost') this.live.add(3, 1);
    else if (k === 'invalid') this.live.add(4, 1);
    if (this.inWindow(t)) this.counters[k]++;
  }

  noteError(message: string): void {
    if (this.errorSamples.size < 8 || this.errorSamples.has(message)) {
      this.errorSamples.set(message, (this.errorSamples.get(message) ?? 0) + 1);
    }
  }

  errorMessages(): Record<string, number> {
    return Object.fromEntries(this.errorSamples);
  }
}

export interface LatencySummaryMs {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/**
 * WebTorrent (ws) signalling counters of one worker, in the measured window.
 * Offers and answers are counted where the generator sees them: "sent" in
 * its own messages, "received" when the tracker relayed one to it.
 */
export interface WsCounters {
  /** Offers carried by the announces sent. */
  offersSent: number;
  /** Offers the tracker relayed to our peers. */
  offersReceived: number;
  /** Answers sent (one per offer received, unless answering is off). */
  answersSent: number;
  /** Answers the tracker relayed to our peers. */
  answersReceived: number;
  /** Answers received for an offer this worker sent and still remembered (the signalling round trip is timed). */
  answersMatched: number;
  /** Failure replies to answers (e.g. the offerer left, or the tracker refuses an answer it cannot match). */
  answerErrors: number;
  /** WebSocket connections opened after the first one of each connection slot. */
  reopened: number;
}

/** Live counter slots of ws runs, next to worker-types.ts's LIVE_SENT..LIVE_INVALID (0..4). */
export const LIVE_OFFERS_IN = 5;
export const LIVE_ANSWERS_IN = 6;

export function zeroWsCounters(): WsCounters {
  return { offersSent: 0, offersReceived: 0, answersSent: 0, answersReceived: 0, answersMatched: 0, answerErrors: 0, reopened: 0 };
}

export function addWsCounters(into: WsCounters, c: Partial<WsCounters>): WsCounters {
  for (const k of Object.keys(into) as (keyof WsCounters)[]) into[k] += c[k] ?? 0;
  return into;
}

export interface WsSummary {
  counters: WsCounters;
  offersSentPerSecond: number;
  /** Offers relayed by the tracker (received by the generator's peers) per second. */
  offersReceivedPerSecond: number;
  answersSentPerSecond: number;
  /** Answers relayed by the tracker per second. */
  answersReceivedPerSecond: number;
  /** Offers + answers relayed by the tracker per second. */
  relayedPerSecond: number;
  /** Offers relayed / offers sent (a tracker relays at most numwant, and only to other peers of the torrent). */
  offerRelayRatio: number;
  /** Announce sent with an offer -> its answer received, for matched answers. */
  signallingMs: LatencySummaryMs;
  /** Configuration echo: connections, peers (torrents) per connection, offers per announce, SDP sizes. */
  connections: number;
  torrentsPerConnection: number;
  offersPerAnnounce: number;
  sdpBytes: [number, number];
}

export interface LoadSummary {
  protocol: 'udp' | 'http' | 'ws';
  engine: 'node' | 'c';
  target: string;
  label?: string;
  seed: number;
  workers: number;
  /** UDP sockets or HTTP connections, total. */
  sockets: number;
  /** Requests in flight per socket (HTTP: 1). */
  window: number;
  warmupSeconds: number;
  /** The measured window, as configured. */
  durationSeconds: number;
  /** The measured window, as actually elapsed (a hard stop may cut it). */
  measuredSeconds: number;
  /** announce + scrape replies (valid, non-error) per second of the measured window. */
  repliesPerSecond: number;
  replies: number;
  announcesPerSecond: number;
  counters: WindowCounters;
  /** Peers per announce reply, mean. */
  avgPeersPerAnnounce: number;
  /** Lost / sent, in the window. */
  lostRatio: number;
  latencyMs: LatencySummaryMs;
  /** True when a hard stop had to end the run (a worker or the target hung). */
  truncated: boolean;
  /** CPU seconds (user + system) the generator process used during the measured window. */
  generatorCpuSeconds?: number;
  model: Record<string, unknown>;
  /** WebTorrent runs only: offer / answer relay figures. */
  ws?: WsSummary;
}

const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export function latencySummary(h: LatencyHistogram): LatencySummaryMs {
  return {
    p50: round(h.percentile(0.5) / 1000, 3),
    p90: round(h.percentile(0.9) / 1000, 3),
    p99: round(h.percentile(0.99) / 1000, 3),
    max: round(h.max / 1000, 3),
    mean: round(h.mean() / 1000, 3),
  };
}

export function summarize(args: {
  protocol: 'udp' | 'http' | 'ws';
  engine: 'node' | 'c';
  target: string;
  seed: number;
  workers: number;
  sockets: number;
  window: number;
  warmupSeconds: number;
  durationSeconds: number;
  measuredSeconds: number;
  counters: WindowCounters;
  histogram: LatencyHistogram;
  truncated: boolean;
  model: Record<string, unknown>;
  label?: string;
  generatorCpuSeconds?: number;
}): LoadSummary {
  const c = args.counters;
  const secs = args.measuredSeconds > 0 ? args.measuredSeconds : 0;
  const replies = c.announces + c.scrapes;
  const s: LoadSummary = {
    protocol: args.protocol,
    engine: args.engine,
    target: args.target,
    seed: args.seed,
    workers: args.workers,
    sockets: args.sockets,
    window: args.window,
    warmupSeconds: args.warmupSeconds,
    durationSeconds: args.durationSeconds,
    measuredSeconds: round(secs, 3),
    repliesPerSecond: secs > 0 ? Math.round(replies / secs) : 0,
    replies,
    announcesPerSecond: secs > 0 ? Math.round(c.announces / secs) : 0,
    counters: { ...c },
    avgPeersPerAnnounce: c.announces > 0 ? round(c.peers / c.announces, 2) : 0,
    lostRatio: c.sent > 0 ? round(c.lost / c.sent, 6) : 0,
    latencyMs: latencySummary(args.histogram),
    truncated: args.truncated,
    model: args.model,
  };
  if (args.label !== undefined) s.label = args.label;
  if (args.generatorCpuSeconds !== undefined) s.generatorCpuSeconds = round(args.generatorCpuSeconds, 3);
  return s;
}

/** The ws part of a summary (per-second figures over `measuredSeconds`). */
export function summarizeWs(args: {
  counters: WsCounters;
  signalling: LatencyHistogram;
  measuredSeconds: number;
  connections: number;
  torrentsPerConnection: number;
  offersPerAnnounce: number;
  sdpBytes: [number, number];
}): WsSummary {
  const c = args.counters;
  const secs = args.measuredSeconds;
  const perS = (n: number): number => (secs > 0 ? Math.round(n / secs) : 0);
  return {
    counters: { ...c },
    offersSentPerSecond: perS(c.offersSent),
    offersReceivedPerSecond: perS(c.offersReceived),
    answersSentPerSecond: perS(c.answersSent),
    answersReceivedPerSecond: perS(c.answersReceived),
    relayedPerSecond: perS(c.offersReceived + c.answersReceived),
    offerRelayRatio: c.offersSent > 0 ? round(c.offersReceived / c.offersSent, 4) : 0,
    signallingMs: latencySummary(args.signalling),
    connections: args.connections,
    torrentsPerConnection: args.torrentsPerConnection,
    offersPerAnnounce: args.offersPerAnnounce,
    sdpBytes: args.sdpBytes,
  };
}

/** Integer with thin thousands separators ("123,456"). */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatSummary(s: LoadSummary): string {
  const c = s.counters;
  const l = s.latencyMs;
  const w = s.ws;
  const lines = [
    `${s.protocol === 'ws' ? 'WebTorrent (WS)' : s.protocol.toUpperCase()} load (${s.engine} generator) -> ${s.target}${s.label ? ` [${s.label}]` : ''}`,
    `  ${s.workers} worker(s), ${s.sockets} ${s.protocol === 'udp' ? 'sockets' : 'connections'} x ${s.window} ${s.protocol === 'ws' ? 'announce(s) ' : ''}in flight, ` +
      `warm-up ${s.warmupSeconds}s, measured ${s.measuredSeconds}s${s.truncated ? ' (HARD STOP)' : ''}`,
  ];
  if (w) {
    lines.push(
      `  peers          ${w.torrentsPerConnection} torrents per connection (one peer_id each), ${w.offersPerAnnounce} offers per announce, SDP ${w.sdpBytes[0]}-${w.sdpBytes[1]} bytes`,
    );
  }
  lines.push(
    `  replies/s      ${fmtInt(s.repliesPerSecond)}  (announce ${fmtInt(c.announces)}, scrape ${fmtInt(c.scrapes)}` +
      (s.protocol !== 'ws' ? `, connect ${fmtInt(c.connects)})` : ')'),
    `  errors         ${fmtInt(c.errors)}   lost ${fmtInt(c.lost)} (${(s.lostRatio * 100).toFixed(3)}%)   invalid ${fmtInt(c.invalid)}   socket errors ${fmtInt(c.socketErrors)}   reconnects ${fmtInt(c.reconnects)}`,
  );
  if (w) {
    const wc = w.counters;
    lines.push(
      `  offers/s       sent ${fmtInt(w.offersSentPerSecond)}   relayed to us ${fmtInt(w.offersReceivedPerSecond)} (${(w.offerRelayRatio * 100).toFixed(1)}% of sent)`,
      `  answers/s      sent ${fmtInt(w.answersSentPerSecond)}   relayed to us ${fmtInt(w.answersReceivedPerSecond)}` +
        ` (${wc.answersReceived > 0 ? ((wc.answersMatched / wc.answersReceived) * 100).toFixed(1) : '0.0'}% matched our offers)   answer failures ${fmtInt(wc.answerErrors)}`,
      `  relayed/s      ${fmtInt(w.relayedPerSecond)} (offers + answers)`,
      `  signalling ms  announce -> answer  p50 ${w.signallingMs.p50}  p90 ${w.signallingMs.p90}  p99 ${w.signallingMs.p99}  max ${w.signallingMs.max}`,
    );
  } else {
    lines.push(`  peers/announce ${s.avgPeersPerAnnounce}`);
  }
  lines.push(`  latency ms     ${s.protocol === 'ws' ? 'announce reply ' : ''}p50 ${l.p50}  p90 ${l.p90}  p99 ${l.p99}  max ${l.max}  mean ${l.mean}`);
  if (s.generatorCpuSeconds !== undefined) {
    const perM = s.replies > 0 ? (s.generatorCpuSeconds / s.replies) * 1e6 : 0;
    lines.push(`  generator CPU  ${s.generatorCpuSeconds}s (${perM.toFixed(2)} s per million replies)`);
  }
  return lines.join('\n');
}
