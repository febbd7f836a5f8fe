/**
 * Runs a load test with Node worker threads (or the C generator, see
 * cgen.ts) and returns the summary. Warm-up, then a measured window, a live
 * progress line on stderr every second, and a hard stop: whatever happens
 * to the target or a worker, `runLoadtest` settles no later than
 * warm-up + duration + grace.
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import type { LoadModelOptions } from './model.js';
import {
  LatencyHistogram,
  addCounters,
  addWsCounters,
  fmtInt,
  LIVE_ANSWERS_IN,
  LIVE_OFFERS_IN,
  summarize,
  summarizeWs,
  zeroCounters,
  zeroWsCounters,
  type LoadSummary,
  type WsCounters,
} from './stats.js';
import type { WsWorkerJob, WsWorkerResult } from './ws-client.js';
import {
  LIVE_ERRORS,
  LIVE_INVALID,
  LIVE_LOST,
  LIVE_REPLIES,
  LIVE_SENT,
  LIVE_SLOTS,
  liveBuffer,
  type FromWorker,
  type RunClock,
  type WorkerJob,
  type WorkerResult,
} from './worker-types.js';

/** WebTorrent (protocol 'ws') settings; see ws-client.ts. */
export interface WsRunOptions {
  /** Path of the WebSocket URL (default "/"). */
  readonly path: string;
  /** Torrents (peers) each connection hosts, all with the connection's one peer_id. */
  readonly torrentsPerConnection: number;
  /** Offers per announce. */
  readonly offers: number;
  readonly sdpMinBytes: number;
  readonly sdpMaxBytes: number;
  /** Pause per slot after each reply (0 = closed loop at full speed). */
  readonly intervalMs: number;
  /** Answer the offers received. */
  readonly answer: boolean;
}

export const DEFAULT_WS: WsRunOptions = Object.freeze({
  path: '/',
  torrentsPerConnection: 10,
  offers: 5,
  sdpMinBytes: 500,
  sdpMaxBytes: 1500,
  intervalMs: 0,
  answer: true,
});

export interface LoadtestConfig {
  readonly protocol: 'udp' | 'http' | 'ws';
  readonly engine: 'node' | 'c';
  readonly host: string;
  readonly port: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly workers: number;
  /** UDP sockets / HTTP or WebSocket connections, in total over all workers. */
  readonly sockets: number;
  /** UDP requests in flight per socket, WebSocket announces in flight per connection (HTTP: always 1). */
  readonly window: number;
  readonly timeoutMs: number;
  readonly reconnectAfterMs: number;
  readonly maxFailures: number;
  readonly connectionPerRequest: boolean;
  /**
   * HTTP keep-alive: requests one connection carries before the slot closes
   * it (the last one says Connection: close) and reconnects from its next
   * address (default DEFAULT_REQUESTS_PER_CONNECTION; --close means 1).
   */
  readonly requestsPerConnection?: number;
  readonly announcePath: string;
  readonly scrapePath: string;
  readonly model: LoadModelOptions;
  /** Print the live progress line on stderr. */
  readonly progress: boolean;
  readonly label?: string;
  /** protocol 'ws' only (DEFAULT_WS when absent). */
  readonly ws?: WsRunOptions;
}

export interface RunHooks {
  /** Called when the measured window starts (after warm-up). */
  onMeasureStart?(): void;
  /** Called when the measured window ends. */
  onMeasureEnd?(): void;
}

export interface RunResult {
  readonly summary: LoadSummary;
  /** Error reply texts seen (first few distinct ones, with counts). */
  readonly errorMessages: Record<string, number>;
}

/**
 * A keep-alive connection stands for one client address, so the slot moves
 * on to its next address now and then, by reconnecting: every 100 requests
 * puts a connection's setup cost at ~1% of the requests while a 10 s run
 * still announces from thousands of addresses.
 */
export const DEFAULT_REQUESTS_PER_CONNECTION = 100;

/** Requests per HTTP connection of a run: 1 with --close. */
export function requestsPerConnection(cfg: Pick<LoadtestConfig, 'connectionPerRequest' | 'requestsPerConnection'>): number {
  return cfg.connectionPerRequest ? 1 : cfg.requestsPerConnection ?? DEFAULT_REQUESTS_PER_CONNECTION;
}

export const now = (): number => performance.timeOrigin + performance.now();

/** Extra time after the measured window before workers are terminated. */
export function graceMs(cfg: Pick<LoadtestConfig, 'timeoutMs'>): number {
  return Math.min(10_000, cfg.timeoutMs + 3000);
}

/** Split `total` items over `parts` as evenly as possible: [first index, count] per part. */
export function split(total: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  let first = 0;
  for (let p = 0; p < parts; p++) {
    const n = Math.floor(total / parts) + (p < total % parts ? 1 : 0);
    out.push([first, n]);
    first += n;
  }
  return out;
}

export function modelRecord(m: LoadModelOptions): Record<string, unknown> {
  return { ...m };
}

/** "[  7s measuring] 123,456 replies/s ..." (ws runs add the offers and answers relayed to the generator per second). */
export function progressLine(
  elapsedS: number,
  phase: string,
  d: { replies: number; sent: number; errors: number; lost: number; invalid: number; offersIn?: number; answersIn?: number },
): string {
  return (
    `[${String(Math.round(elapsedS)).padStart(3)}s ${phase.padEnd(9)}] ${fmtInt(d.replies).padStart(9)} replies/s` +
    `  sent ${fmtInt(d.sent)}/s  errors ${fmtInt(d.errors)}  lost ${fmtInt(d.lost)}  invalid ${fmtInt(d.invalid)}` +
    (d.offersIn !== undefined ? `  offers in ${fmtInt(d.offersIn)}/s` : '') +
    (d.answersIn !== undefined ? `  answers in ${fmtInt(d.answersIn)}/s` : '')
  );
}

/** The worker job of a ws run for the connections [first, first + count). */
function wsJob(cfg: LoadtestConfig, w: number, live: SharedArrayBuffer, first: number, count: number): WsWorkerJob {
  const o = cfg.ws ?? DEFAULT_WS;
  return {
    protocol: 'ws',
    worker: w,
    live,
    model: cfg.model,
    ws: {
      host: cfg.host,
      port: cfg.port,
      path: o.path,
      connections: count,
      firstConnection: first,
      window: cfg.window,
      torrentsPerConnection: o.torrentsPerConnection,
      offers: o.offers,
      sdpMinBytes: o.sdpMinBytes,
      sdpMaxBytes: o.sdpMaxBytes,
      intervalMs: o.intervalMs,
      answer: o.answer,
      timeoutMs: cfg.timeoutMs,
    },
  };
}

/**
 * The protocol-specific parts of a summary, the same for both engines: the
 * HTTP mode, or the ws options and relay figures.
 */
export function completeSummary(
  summary: LoadSummary,
  cfg: LoadtestConfig,
  ws?: { counters: WsCounters; signalling: LatencyHistogram; measuredSeconds: number },
): LoadSummary {
  if (cfg.protocol === 'http') {
    summary.model = { ...summary.model, connectionPerRequest: cfg.connectionPerRequest, requestsPerConnection: requestsPerConnection(cfg) };
  }
  if (cfg.protocol === 'ws' && ws) {
    const o = cfg.ws ?? DEFAULT_WS;
    summary.model = { ...summary.model, ws: { ...o } };
    summary.ws = summarizeWs({
      counters: ws.counters,
      signalling: ws.signalling,
      measuredSeconds: ws.measuredSeconds,
      connections: cfg.sockets,
      torrentsPerConnection: o.torrentsPerConnection,
      offersPerAnnounce: o.offers,
      sdpBytes: [o.sdpMinBytes, o.sdpMaxBytes],
    });
  }
  return summary;
}

export async function runLoadtest(cfg: LoadtestConfig, hooks: RunHooks = {}): Promise<RunResult> {
  if (cfg.engine === 'c') {
    const { runCGenerator } = await import('./cgen.js');
    return runCGenerator(cfg, hooks);
  }
  const workers = Math.max(1, Math.min(cfg.workers, cfg.sockets));
  const live = liveBuffer(workers);
  const liveView = new Float64Array(live);
  const parts = split(cfg.sockets, workers);
  const threads: Worker[] = [];
  const results: (WorkerResult | undefined)[] = new Array(workers).fill(undefined);
  const errors: string[] = [];

  const ready: Promise<void>[] = [];
  const done: Promise<void>[] = [];
  for (let w = 0; w < workers; w++) {
    const [first, count] = parts[w];
    const job: WorkerJob | WsWorkerJob =
      cfg.protocol === 'ws'
        ? wsJob(cfg, w, live, first, count)
        : cfg.protocol === 'udp'
        ? {
            protocol: 'udp',
            worker: w,
            live,
            model: cfg.model,
            udp: {
              host: cfg.host,
              port: cfg.port,
              sockets: count,
              firstSocket: first,
              totalSockets: cfg.sockets,
              window: cfg.window,
              timeoutMs: cfg.timeoutMs,
              reconnectAfterMs: cfg.reconnectAfterMs,
              maxFailures: cfg.maxFailures,
            },
          }
        : {
            protocol: 'http',
            worker: w,
            live,
            model: cfg.model,
            http: {
              host: cfg.host,
              port: cfg.port,
              announcePath: cfg.announcePath,
              scrapePath: cfg.scrapePath,
              connections: count,
              firstConnection: first,
              totalConnections: cfg.sockets,
              connectionPerRequest: cfg.connectionPerRequest,
              requestsPerConnection: requestsPerConnection(cfg),
              timeoutMs: cfg.timeoutMs,
            },
          };
    const entry = cfg.protocol === 'ws' ? './ws-client.js' : './worker.js';
    const t = new Worker(new URL(entry, import.meta.url), { workerData: job });
    threads.push(t);
    let resolveReady!: () => void;
    let rejectReady!: (e: Error) => void;
    ready.push(
      new Promise<void>((res, rej) => {
        resolveReady = res;
        rejectReady = rej;
      }),
    );
    done.push(
      new Promise<void>((resolve) => {
        t.on('message', (m: FromWorker) => {
          if (m.type === 'ready') resolveReady();
          else if (m.type === 'failed') {
            errors.push(m.error);
            rejectReady(new Error(`worker ${w}: ${m.error}`));
            resolve();
          } else if (m.type === 'done') {
            results[w] = m.result;
            resolve();
          }
        });
        t.on('error', (e) => {
          errors.push(e.message);
          rejectReady(e);
          resolve();
        });
        t.on('exit', () => {
          rejectReady(new Error(`worker ${w} exited before it was ready`));
          resolve();
        });
      }),
    );
  }

  const terminateAll = async (): Promise<void> => {
    await Promise.all(threads.map((t) => t.terminate().catch(() => 0)));
  };

  // Workers must be ready (sockets bound) within 30 s.
  let readyTimer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.all(ready),
      new Promise<never>((_, rej) => {
        readyTimer = setTimeout(() => rej(new Error('workers not ready after 30 s')), 30_000);
      }),
    ]);
  } catch (e) {
    await terminateAll();
    throw e;
  } finally {
    clearTimeout(readyTimer);
  }

  const t0 = now() + 20;
  const clock: RunClock = {
    measureStart: t0 + cfg.warmupSeconds * 1000,
    measureEnd: t0 + (cfg.warmupSeconds + cfg.durationSeconds) * 1000,
  };
  for (const t of threads) t.postMessage({ type: 'start', clock });

  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let cpuAtEnd: NodeJS.CpuUsage | undefined;
  const timers: NodeJS.Timeout[] = [];
  timers.push(
    setTimeout(() => {
      cpuAtStart = process.cpuUsage();
      hooks.onMeasureStart?.();
    }, clock.measureStart - now()),
  );
  let windowEnded = false;
  const endWindow = (): void => {
    if (windowEnded) return;
    windowEnded = true;
    if (cpuAtStart) cpuAtEnd = process.cpuUsage(cpuAtStart);
    hooks.onMeasureEnd?.();
  };
  timers.push(setTimeout(endWindow, clock.measureEnd - now()));

  // Progress line once a second.
  const sum = (slot: number): number => {
    let s = 0;
    for (let w = 0; w < workers; w++) s += liveView[w * LIVE_SLOTS + slot];
    return s;
  };
  const isWs = cfg.protocol === 'ws';
  let prev = { replies: 0, sent: 0, errors: 0, lost: 0, invalid: 0, offersIn: 0, answersIn: 0, t: t0 };
  const tty = process.stderr.isTTY === true;
  if (cfg.progress) {
    timers.push(
      setInterval(() => {
        const t = now();
        const cur = {
          replies: sum(LIVE_REPLIES),
          sent: sum(LIVE_SENT),
          errors: sum(LIVE_ERRORS),
          lost: sum(LIVE_LOST),
          invalid: sum(LIVE_INVALID),
          offersIn: sum(LIVE_OFFERS_IN),
          answersIn: sum(LIVE_ANSWERS_IN),
          t,
        };
        const dt = (t - prev.t) / 1000;
        const phase = t < clock.measureStart ? 'warm-up' : t < clock.measureEnd ? 'measuring' : 'stopping';
        const line = progressLine((t - t0) / 1000, phase, {
          replies: (cur.replies - prev.replies) / dt,
          sent: (cur.sent - prev.sent) / dt,
          errors: cur.errors - prev.errors,
          lost: cur.lost - prev.lost,
          invalid: cur.invalid - prev.invalid,
          offersIn: isWs ? (cur.offersIn - prev.offersIn) / dt : undefined,
          answersIn: isWs ? (cur.answersIn - prev.answersIn) / dt : undefined,
        });
        process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
        prev = cur;
      }, 1000),
    );
  }

  // Hard stop.
  let truncated = false;
  const deadline = clock.measureEnd + graceMs(cfg);
  await Promise.race([
    Promise.all(done),
    new Promise<void>((resolve) => {
      const tm = setTimeout(resolve, deadline - now());
      timers.push(tm);
    }),
  ]);
  if (results.some((r) => r === undefined)) {
    truncated = true;
    for (const t of threads) t.postMessage({ type: 'stop' });
    await Promise.race([Promise.all(done), new Promise<void>((r) => timers.push(setTimeout(r, 1000)))]);
  }
  // Workers may report a hair before this thread's own end-of-window timer fires.
  if (!windowEnded && cpuAtStart) endWindow();
  for (const tm of timers) clearTimeout(tm);
  if (cfg.progress && tty) process.stderr.write('\n');
  await terminateAll();

  const counters = zeroCounters();
  const histogram = new LatencyHistogram();
  const wsCounters = zeroWsCounters();
  const signalling = new LatencyHistogram();
  const errorMessages: Record<string, number> = {};
  for (const r of results) {
    if (!r) continue;
    addCounters(counters, r.counters);
    histogram.merge(r.histogram);
    for (const [k, v] of Object.entries(r.errorMessages)) errorMessages[k] = (errorMessages[k] ?? 0) + v;
    const wr = (r as Partial<WsWorkerResult>).ws;
    if (wr) {
      addWsCounters(wsCounters, wr.counters);
      signalling.merge(wr.signalling);
    }
  }
  if (errors.length > 0) errorMessages[`worker failures: ${errors.join('; ')}`] = errors.length;
  const cpu = cpuAtEnd ? (cpuAtEnd.user + cpuAtEnd.system) / 1e6 : undefined;
  const summary = summarize({
    protocol: cfg.protocol,
    engine: 'node',
    target: `${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${cfg.port}`,
    seed: cfg.model.seed,
    workers,
    sockets: cfg.sockets,
    window: cfg.protocol === 'http' ? 1 : cfg.window,
    warmupSeconds: cfg.warmupSeconds,
    durationSeconds: cfg.durationSeconds,
    measuredSeconds: cfg.durationSeconds,
    counters,
    histogram,
    truncated: truncated || results.some((r) => r === undefined),
    model: modelRecord(cfg.model),
    label: cfg.label,
    generatorCpuSeconds: cpu,
  });
  completeSummary(summary, cfg, { counters: wsCounters, signalling, measuredSeconds: cfg.durationSeconds });
  return { summary, errorMessages };
}
