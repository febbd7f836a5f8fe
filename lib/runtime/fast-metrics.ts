/**
 * Counters and histograms cheap enough for the request hot path.
 *
 * prom-client hashes the label set on every `inc()`/`observe()`, which costs
 * more than parsing a UDP announce. Here a labelled child is bound once (at
 * start-up) and updating it is a plain field or typed-array write; prom-client
 * only reads the values when /metrics is scraped. The objects implement the
 * shape prom-client's Registry expects from a metric (`name`, `help`, `type`,
 * `get()`), so they sit in the same registry as prom-client's own metrics.
 */
import type { Registry } from 'prom-client';

type Labels = Readonly<Record<string, string>>;

interface MetricValue {
  value: number;
  labels: Labels;
  metricName?: string;
}

interface MetricSnapshot {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: MetricValue[];
  aggregator: 'sum';
}

function labelKey(labelNames: readonly string[], labels: Labels): string {
  let key = '';
  for (const name of labelNames) {
    const value = labels[name];
    if (value === undefined) throw new Error(`metric label "${name}" is missing`);
    key += `${value}\u0000`;
  }
  return key;
}

export class CounterChild {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(by = 1): void {
    this.value += by;
  }
}

export class FastCounter {
  readonly type = 'counter' as const;
  private readonly children = new Map<string, CounterChild>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** Returns the child for these labels, creating it once. Bind at start-up, not per request. */
  child(labels: Labels): CounterChild {
    const key = labelKey(this.labelNames, labels);
    let child = this.children.get(key);
    if (!child) {
      child = new CounterChild({ ...labels });
      this.children.set(key, child);
    }
    return child;
  }

  async get(): Promise<MetricSnapshot> {
    const values: MetricValue[] = [];
    for (const child of this.children.values()) values.push({ value: child.value, labels: child.labels });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  reset(): void {
    for (const child of this.children.values()) child.value = 0;
  }
}

export class HistogramChild {
  /** counts[i] = observations <= bounds[i] but > bounds[i-1]; last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    private readonly bounds: Float64Array,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

export class FastHistogram {
  readonly type = 'histogram' as const;
  private readonly children = new Map<string, HistogramChild>();
  private readonly bounds: Float64Array;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    buckets: readonly number[],
    registry: Registry,
  ) {
    this.bounds = Float64Array.from([...buckets].sort((a, b) => a - b));
    registry.registerMetric(this as never);
  }

  child(labels: Labels): HistogramChild {
    const key = labelKey(this.labelNames, labels);
    let child = this.children.get(key);
    if (!child) {
      child = new HistogramChild({ ...labels }, this.bounds);
      this.children.set(key, child);
    }
    return child;
  }

  async get(): Promise<MetricSnapshot> {
    const values: MetricValue[] = [];
    for (const child of this.children.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += child.counts[i];
        values.push({ metricName: `${this.name}_bucket`, value: cumulative, labels: { ...child.labels, le: String(this.bounds[i]) } });
      }
      values.push({ metricName: `${this.name}_bucket`, value: child.count, labels: { ...child.labels, le: '+Inf' } });
      values.push({ metricName: `${this.name}_sum`, value: child.sum, labels: child.labels });
      values.push({ metricName: `${this.name}_count`, value: child.count, labels: child.labels });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  reset(): void {
    for (const child of this.children.values()) {
      child.counts.fill(0);
      child.sum = 0;
      child.count = 0;
    }
  }
}

/**
 * A counter whose values live elsewhere (e.g. reload counts kept by the
 * access-list reloader) and are read only when scraped.
 */
export class ReadThroughCounter {
  readonly type = 'counter' as const;
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => ReadonlyArray<{ labels: Labels; value: number }>,
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  async get(): Promise<MetricSnapshot> {
    const values = this.read().map(({ labels, value }) => ({ labels, value }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  reset(): void {}
}
