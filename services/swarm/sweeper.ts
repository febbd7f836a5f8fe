/**
 * Runs expiry: every `intervalMs` one step of every sweep task, each step
 * blocking the event loop for about `budgetMs` at most.
 *
 * One step per interval (4 ms a second by default) keeps up with peers that
 * time out one by one, but not with a flood: a million torrents announced
 * once expire together, and freeing ~1.5k per millisecond of sweeping
 * would leave them held for minutes. So while a task reports that it is
 * behind (its last step found much overdue and its pass is not over), more
 * steps follow within the same interval, each queued with setImmediate so
 * that I/O is served between two of them, until the steps of this interval
 * have taken `maxDutyPercent` of it. An interval that ends with a task
 * still behind is counted (the duty cap is the limit that was hit).
 *
 * A task that throws is reported to the failure sink and waits for the next
 * interval: expiry must never take the process down, nor fail silently.
 */
import { performance } from 'node:perf_hooks';
import type { FailureSink } from '../../lib/runtime/failures.js';
import { NOT_COUNTED, type LimitCounter } from './limits/limit-counter.js';

export interface SweepTask {
  /** Names the task in failure logs. */
  readonly name: string;
  /** Does at most about `budgetMs` of expiry; `behind` asks for another step soon. */
  step(budgetMs: number): { behind: boolean };
}

/** The timers the sweeper uses; injectable so tests drive intervals and chained steps by hand. */
export interface SweepTimers {
  /** Calls `fn` every `ms` until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
  /** Calls `fn` once after pending I/O, unless the returned function is called first. */
  soon(fn: () => void): () => void;
}

export interface SweeperOptions {
  intervalMs: number;
  budgetMs: number;
  /** Share (0..100) of each interval that steps may take while a task is behind; 0 = one step per interval. */
  maxDutyPercent: number;
  failures: FailureSink;
  /** Counted once per interval that ended with a task still behind. */
  saturated?: LimitCounter;
  /** Milliseconds of a monotonic clock. */
  clockMs?: () => number;
  timers?: SweepTimers;
}

/** Timers of the event loop, unref'd: expiry alone never keeps a process alive. */
export const EVENT_LOOP_TIMERS: SweepTimers = {
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return () => clearInterval(t);
  },
  soon(fn) {
    const t = setImmediate(fn);
    t.unref();
    return () => clearImmediate(t);
  },
};

interface TaskState {
  readonly task: SweepTask;
  /** Gets a step in the next round. */
  due: boolean;
}

export class Sweeper {
  private readonly tasks: TaskState[];
  private readonly intervalMs: number;
  private readonly budgetMs: number;
  private readonly dutyMs: number;
  private readonly failures: FailureSink;
  private readonly saturated: LimitCounter;
  private readonly clockMs: () => number;
  private readonly timers: SweepTimers;
  private cancelInterval: (() => void) | null = null;
  private cancelRound: (() => void) | null = null;
  /** Milliseconds spent in steps since the current interval began. */
  private spentMs = 0;

  constructor(tasks: readonly SweepTask[], options: SweeperOptions) {
    this.tasks = tasks.map((task) => ({ task, due: false }));
    this.intervalMs = Math.max(1, options.intervalMs);
    this.budgetMs = Math.max(0, options.budgetMs);
    this.dutyMs = (this.intervalMs * Math.min(100, Math.max(0, options.maxDutyPercent))) / 100;
    this.failures = options.failures;
    this.saturated = options.saturated ?? NOT_COUNTED;
    this.clockMs = options.clockMs ?? performance.now.bind(performance);
    this.timers = options.timers ?? EVENT_LOOP_TIMERS;
  }

  start(): void {
    this.stop();
    this.cancelInterval = this.timers.every(this.intervalMs, () => this.interval());
  }

  stop(): void {
    this.cancelInterval?.();
    this.cancelInterval = null;
    this.cancelRound?.();
    this.cancelRound = null;
  }

  /** A new interval: every task is due once, and the duty budget starts over. */
  private interval(): void {
    this.spentMs = 0;
    for (const t of this.tasks) t.due = true;
    // A round still queued from the last interval runs the tasks now due.
    if (this.cancelRound === null) this.round();
  }

  /** One step of every due task; queues the next round while a task is behind and the duty budget allows another step. */
  private readonly round = (): void => {
    this.cancelRound = null;
    let behind = false;
    for (const t of this.tasks) {
      if (!t.due) continue;
      const start = this.clockMs();
      try {
        t.due = t.task.step(this.budgetMs).behind;
      } catch (error) {
        t.due = false;
        this.failures.report(error, { task: t.task.name });
      }
      this.spentMs += this.clockMs() - start;
      if (t.due) behind = true;
    }
    if (!behind || this.cancelInterval === null) return;
    if (this.spentMs + this.budgetMs <= this.dutyMs) {
      this.cancelRound = this.timers.soon(this.round);
    } else {
      this.saturated.inc();
    }
  };
}
