/**
 * Caught exceptions on request paths, made visible.
 *
 * A tracker under hostile load may hit the same bug a million times a second:
 * logging each would be its own outage, dropping them hides the bug. A
 * `FailureSink` counts every failure (exported as
 * `tracker_internal_errors_total{component}`) and logs at most `burst` lines
 * per component per `intervalMs`; the first line after a quiet period says
 * how many were left out meanwhile.
 *
 * lib/ code (transports, codecs) takes a FailureSink and never sees metrics
 * or loggers directly.
 */
import type { LogFields, Logger } from './logger.js';

export interface FailureSink {
  /** Counts one caught failure and logs it unless this component logged too much lately. */
  report(error: unknown, fields?: LogFields): void;
  /** Failures reported through this sink since start. */
  readonly count: number;
}

export interface FailureLogOptions {
  /** Lines per component per window. Default 5. */
  burst?: number;
  /** Window length. Default 10 s. */
  intervalMs?: number;
  /** Milliseconds clock, for tests. */
  now?: () => number;
}

/** The counter a sink increments; TrackerMetrics.internalErrorCounter returns one. */
export interface FailureCounter {
  inc(by?: number): void;
}

class RateLimitedSink implements FailureSink {
  count = 0;
  private windowStart = -Infinity;
  private loggedInWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly component: string,
    private readonly logger: Logger,
    private readonly counter: FailureCounter | undefined,
    private readonly burst: number,
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  report(error: unknown, fields?: LogFields): void {
    this.count++;
    this.counter?.inc();
    const t = this.now();
    if (t - this.windowStart >= this.intervalMs) {
      this.windowStart = t;
      this.loggedInWindow = 0;
    }
    if (this.loggedInWindow >= this.burst) {
      this.suppressed++;
      return;
    }
    this.loggedInWindow++;
    const line: LogFields = { component: this.component, ...fields, error };
    if (this.suppressed > 0) {
      line.suppressed = this.suppressed;
      this.suppressed = 0;
    }
    this.logger.error('caught failure', line);
  }
}

/** Hands out one rate-limited sink per component (the same sink for the same name). */
export class Failures {
  private readonly sinks = new Map<string, FailureSink>();
  private readonly burst: number;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly logger: Logger,
    private readonly counterFor: (component: string) => FailureCounter | undefined = () => undefined,
    options: FailureLogOptions = {},
  ) {
    this.burst = Math.max(1, options.burst ?? 5);
    this.intervalMs = Math.max(1, options.intervalMs ?? 10_000);
    this.now = options.now ?? Date.now;
  }

  /** The sink for `component` (e.g. "grpc-server", "swarm", "ws"): a label value, so keep the set small and fixed. */
  for(component: string): FailureSink {
    let sink = this.sinks.get(component);
    if (!sink) {
      sink = new RateLimitedSink(component, this.logger, this.counterFor(component), this.burst, this.intervalMs, this.now);
      this.sinks.set(component, sink);
    }
    return sink;
  }
}
