/**
 * Shapes shared by the main thread (runner.ts) and the worker threads
 * (worker.ts), plus the shared live counters used by the progress line.
 */
import type { LoadModelOptions } from './model.js';
import type { WindowCounters } from './stats.js';

/** Absolute times (ms since the epoch, sub-ms precision) of the measured window. */
export interface RunClock {
  readonly measureStart: number;
  readonly measureEnd: number;
}

/** Live counter slots (running totals since start, read by the progress line). */
export const LIVE_SENT = 0;
export const LIVE_REPLIES = 1;
export const LIVE_ERRORS = 2;
export const LIVE_LOST = 3;
export const LIVE_INVALID = 4;
export const LIVE_SLOTS = 8;

/**
 * One worker's slice of a SharedArrayBuffer of float64 counters. Only that
 * worker writes its slice; the main thread reads it once a second (a torn
 * read is impossible for aligned float64 on the platforms we run on, and
 * would only affect a progress line anyway).
 */
export class LiveCounters {
  private readonly view: Float64Array;

  constructor(sab: SharedArrayBuffer, worker: number) {
    this.view = new Float64Array(sab, worker * LIVE_SLOTS * 8, LIVE_SLOTS);
  }

  add(slot: number, n: number): void {
    this.view[slot] += n;
  }

  get(slot: number): number {
    return this.view[slot];
  }
}

export function liveBuffer(workers: number): SharedArrayBuffer {
  return new SharedArrayBuffer(workers * LIVE_SLOTS * 8);
}

export interface HttpLoopOptions {
  readonly host: string;
  readonly port: number;
  readonly announcePath: string;
  readonly scrapePath: string;
  /** Connections run by this worker. */
  readonly connections: number;
  readonly firstConnection: number;
  /** Connections over all workers (the flows the addresses are shared among). */
  readonly totalConnections: number;
  /** New TCP connection for every request (sends Connection: close). */
  readonly connectionPerRequest: boolean;
  /** Requests per connection (1 with connectionPerRequest); the last says Connection: close. */
  readonly requestsPerConnection: number;
  readonly timeoutMs: number;
}

export interface UdpLoopOptions {
  readonly host: string;
  readonly port: number;
  readonly sockets: number;
  readonly firstSocket: number;
  /** Sockets over all workers (the flows the addresses are shared among). */
  readonly totalSockets: number;
  readonly window: number;
  readonly timeoutMs: number;
  readonly reconnectAfterMs: number;
  readonly maxFailures: number;
}

export type WorkerJob =
  | { readonly protocol: 'udp'; readonly udp: UdpLoopOptions; readonly model: LoadModelOptions; readonly worker: number; readonly live: SharedArrayBuffer }
  | { readonly protocol: 'http'; readonly http: HttpLoopOptions; readonly model: LoadModelOptions; readonly worker: number; readonly live: SharedArrayBuffer };

export type ToWorker = { readonly type: 'start'; readonly clock: RunClock } | { readonly type: 'stop' };

export interface WorkerResult {
  readonly counters: WindowCounters;
  readonly histogram: { counts: number[]; count: number; sum: number; max: number };
  readonly errorMessages: Record<string, number>;
}

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly error: string }
  | { readonly type: 'done'; readonly result: WorkerResult };
