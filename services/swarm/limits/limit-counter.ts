/**
 * What a limit increments when it refuses or cuts something: in a running
 * tracker a `tracker_limit_hits_total{limit="<config key>"}` child bound at
 * start-up (TrackerMetrics.limitCounter), so the hot path does a field write.
 */
export interface LimitCounter {
  inc(): void;
}

/** For stores built without metrics (tests, benchmarks). */
export const NOT_COUNTED: LimitCounter = Object.freeze({ inc() {} });
