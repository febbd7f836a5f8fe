/**
 * Interval variation (chihaya `varinterval`): with a configured probability,
 * an announce reply's interval grows by 1 to `maxIncreaseSeconds` seconds
 * (and its min interval too, when asked), so clients that started together
 * (after an outage, a release) drift apart instead of re-announcing in step.
 * This comes on top of the swarm's own small variation
 * (announce.intervalJitterSeconds), and applies to WebTorrent's interval.
 */
import type { AnnounceContext, PreHook } from '../pipeline/hook.js';

export interface IntervalVariationOptions {
  /** Share of replies changed, 1-100 (%). */
  probabilityPercent: number;
  /** Seconds added at most (at least 1). */
  maxIncreaseSeconds: number;
  /** Move the min interval by the same amount. */
  modifyMinInterval: boolean;
  /** Uniform [0, 1); injectable for tests. */
  random?: () => number;
}

export class IntervalVariation implements PreHook {
  readonly name = 'intervalVariation';
  private readonly probability: number;
  private readonly random: () => number;

  constructor(private readonly options: IntervalVariationOptions) {
    this.probability = options.probabilityPercent / 100;
    this.random = options.random ?? Math.random;
  }

  announce(_announce: unknown, context: AnnounceContext): undefined {
    if (this.probability < 1 && this.random() >= this.probability) return undefined;
    const seconds = 1 + Math.floor(this.random() * this.options.maxIncreaseSeconds);
    context.intervalDelta += seconds;
    if (this.options.modifyMinInterval) context.minIntervalDelta += seconds;
    return undefined;
  }
}
