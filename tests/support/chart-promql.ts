/**
 * Every PromQL expression the chart ships, parsed with Prometheus's own
 * grammar (@prometheus-io/lezer-promql, the one its web UI uses): the alert
 * rules of a rendered PrometheusRule, the KEDA Prometheus triggers of
 * rendered ScaledObjects, the Grafana dashboard's targets (variables
 * substituted as Grafana does before it sends a query) and the
 * prometheus-adapter rules of the chart README (templates filled in as the
 * adapter does). prometheus-operator's admission webhook refuses a rule that
 * does not parse; Grafana and KEDA just show or scale on nothing.
 *
 *   const queries = [...renderedQueries(objects, 'values "defaults"'), ...dashboardQueries(), ...adapterQueries()];
 *   queries.flatMap(promqlProblems)   // [] when every one parses
 *   metricSelectors(expr)             // [{ name, hasMatchers }] of each vector selector
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { parser } from '@prometheus-io/lezer-promql';
import { CHART_DIR, type KubeObject } from './chart.js';

/** One expression and where it comes from, for messages. */
export interface ChartQuery {
  /** File the expression is written in (relative to the repository). */
  file: string;
  /** Which rule, panel or trigger, and for which values when rendered. */
  where: string;
  expr: string;
  /** False where a metric name alone is the point (Grafana's label_values(metric, label)). */
  scoped: boolean;
}

const ALERTS_FILE = 'charts/tracker/templates/_alerts.tpl';
const DASHBOARD_FILE = 'charts/tracker/files/dashboard.json';
const README_FILE = 'charts/tracker/README.md';

/** Alert/recording rules of PrometheusRules and Prometheus triggers of ScaledObjects in a render. */
export function renderedQueries(objects: readonly KubeObject[], rendering: string): ChartQuery[] {
  const out: ChartQuery[] = [];
  for (const o of objects) {
    if (o.kind === 'PrometheusRule') {
      for (const group of o.spec.groups) {
        for (const rule of group.rules) {
          out.push({ file: ALERTS_FILE, where: `${rendering}, group ${group.name}, ${rule.alert ? `alert ${rule.alert}` : `record ${rule.record}`}`, expr: String(rule.expr), scoped: true });
        }
      }
    }
    if (o.kind === 'ScaledObject') {
      o.spec.triggers.forEach((trigger: any, i: number) => {
        if (trigger.type !== 'prometheus') return;
        const template = `charts/tracker/templates/${o.metadata.name.endsWith('-swarm') ? 'swarm' : 'edge'}-scaledobject.yaml`;
        out.push({ file: template, where: `${rendering}, ScaledObject/${o.metadata.name} trigger ${i}`, expr: String(trigger.metadata.query), scoped: true });
      });
    }
  }
  return out;
}

/** Grafana's own variables, with a value of the form Grafana gives them. */
const GRAFANA_BUILTINS: Record<string, string> = {
  __rate_interval: '2m0s',
  __interval: '30s',
  __interval_ms: '30000',
  __range: '3600s',
  __range_s: '3600',
  __range_ms: '3600000',
};

/**
 * A dashboard target's expression as Grafana sends it: `$var`, `${var}`,
 * `${var:format}` and `[[var]]` replaced by a value of the variable (a
 * single-value query variable: `sample`; multi-value or "All": a regex
 * alternation, as Grafana writes for Prometheus). A variable the dashboard
 * does not define is left as written (and then does not parse).
 */
export function grafanaInterpolate(expr: string, variables: readonly any[], sample = 'tracker'): string {
  const values = new Map<string, string>(Object.entries(GRAFANA_BUILTINS));
  for (const v of variables) {
    if (v.type === 'datasource') continue;
    values.set(v.name, v.multi || v.includeAll ? `(${sample}|${sample}-2)` : sample);
  }
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (whole, a, b, c) => values.get(a ?? b ?? c) ?? whole);
}

/** Every target of the dashboard, and its query variables' series. */
export function dashboardQueries(file = join(CHART_DIR, 'files', 'dashboard.json')): ChartQuery[] {
  const dashboard = JSON.parse(readFileSync(file, 'utf8'));
  const variables = dashboard.templating?.list ?? [];
  const out: ChartQuery[] = [];
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      out.push({ file: DASHBOARD_FILE, where: `panel ${panel.id} "${panel.title}" target ${target.refId}`, expr: grafanaInterpolate(String(target.expr), variables), scoped: true });
    }
  }
  for (const v of variables) {
    // label_values(series, label): the series selector is PromQL.
    const m = /^label_values\((.*),\s*\w+\)$/.exec(String(v.definition ?? ''));
    if (m) out.push({ file: DASHBOARD_FILE, where: `variable $${v.name}`, expr: grafanaInterpolate(m[1], variables), scoped: false });
  }
  return out;
}

/**
 * The prometheus-adapter rules the chart README gives (its ```yaml blocks
 * holding seriesQuery/metricsQuery), with the adapter's templates filled in
 * as it fills them for an HPA's Pods metric.
 */
export function adapterQueries(file = join(CHART_DIR, 'README.md')): ChartQuery[] {
  const out: ChartQuery[] = [];
  for (const block of readFileSync(file, 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)) {
    const rules = YAML.parse(block[1]);
    if (!Array.isArray(rules)) continue;
    for (const rule of rules) {
      if (!rule?.seriesQuery) continue;
      const series = /^\^?(\w+)\$?$/.exec(String(rule.name?.matches ?? ''))?.[1] ?? 'tracker_x';
      const where = `prometheus-adapter rule ${rule.name?.as ?? rule.seriesQuery}`;
      out.push({ file: README_FILE, where: `${where} seriesQuery`, expr: String(rule.seriesQuery), scoped: true });
      if (rule.metricsQuery) {
        const filled = String(rule.metricsQuery)
          .replaceAll('<<.Series>>', series)
          .replaceAll('<<.LabelMatchers>>', 'namespace="tracker",pod=~"tracker-edge-a|tracker-edge-b"')
          .replaceAll('<<.GroupBy>>', 'pod');
        out.push({ file: README_FILE, where: `${where} metricsQuery`, expr: filled, scoped: true });
      }
    }
  }
  return out;
}

/** line:column (1-based) of an offset in a (possibly multi-line) expression. */
function position(expr: string, offset: number): string {
  const before = expr.slice(0, offset).split('\n');
  return `${before.length}:${before.at(-1)!.length + 1}`;
}

/**
 * What Prometheus would refuse in one expression, each as "<file>: <where>:
 * <what> at line:col ... in: <expr>": parse errors, variables left
 * unsubstituted, and a range-vector function given something else.
 */
export function promqlProblems(query: ChartQuery): string[] {
  const problems: string[] = [];
  if (query.expr.trim() === '') return [`${query.file}: ${query.where}: empty expression`];
  const unresolved = /\$\{?[A-Za-z_]\w*|\[\[\w+\]\]|<<\.\w+>>/.exec(query.expr);
  if (unresolved) problems.push(`${query.file}: ${query.where}: ${unresolved[0]} at ${position(query.expr, unresolved.index)} is not a variable the dashboard defines or the adapter fills in`);
  const tree = parser.parse(query.expr);
  tree.iterate({
    enter: (node) => {
      if (!node.type.isError || problems.length > 3) return;
      const near = query.expr.slice(Math.max(0, node.from - 10), node.to + 10).replace(/\n/g, ' ');
      problems.push(`${query.file}: ${query.where}: parse error at ${position(query.expr, node.from)} near \`${near}\` in: ${query.expr}`);
    },
  });
  if (problems.length > 0) return problems;
  // The grammar does not check argument types; Prometheus's parser (and so the webhook) refuses e.g. rate() of an instant vector.
  tree.iterate({
    enter: (node) => {
      if (node.name !== 'FunctionCall') return;
      const identifier = node.node.getChild('FunctionIdentifier');
      const fn = identifier ? query.expr.slice(identifier.from, identifier.to) : '';
      const index = Object.hasOwn(RANGE_ARGUMENT, fn) ? RANGE_ARGUMENT[fn] : undefined;
      if (index === undefined) return;
      const args: string[] = [];
      for (let arg = node.node.getChild('FunctionCallBody')?.firstChild ?? null; arg; arg = arg.nextSibling) args.push(arg.name);
      if (args[index] !== 'MatrixSelector' && args[index] !== 'SubqueryExpr') {
        problems.push(`${query.file}: ${query.where}: ${fn}() at ${position(query.expr, node.from)} needs a range vector (e.g. x{...}[5m]) as argument ${index + 1}, got ${args[index] ?? 'none'}, in: ${query.expr}`);
      }
    },
  });
  return problems;
}

/** Functions over a range vector, and which argument (0-based) it is. */
const RANGE_ARGUMENT: Record<string, number> = {
  rate: 0, irate: 0, increase: 0, delta: 0, idelta: 0, deriv: 0, predict_linear: 0, changes: 0, resets: 0,
  avg_over_time: 0, min_over_time: 0, max_over_time: 0, sum_over_time: 0, count_over_time: 0, stddev_over_time: 0,
  stdvar_over_time: 0, last_over_time: 0, present_over_time: 0, absent_over_time: 0, mad_over_time: 0, quantile_over_time: 1,
};

export interface MetricSelector {
  /** The metric name (or the __name__="..." matcher's); "" when the selector has neither. */
  name: string;
  /** Whether it has a {...} part (possibly empty). */
  hasMatchers: boolean;
}

/** Every vector selector of an expression, from the parse tree's metric-name nodes. */
export function metricSelectors(expr: string): MetricSelector[] {
  const out: MetricSelector[] = [];
  const cursor = parser.parse(expr).cursor();
  do {
    if (cursor.name !== 'VectorSelector') continue;
    const selector = cursor.node;
    const identifier = selector.getChild('Identifier');
    const matchers = selector.getChild('LabelMatchers');
    let name = identifier ? expr.slice(identifier.from, identifier.to) : '';
    if (!name && matchers) {
      const byName = /__name__\s*=\s*"([^"]+)"/.exec(expr.slice(matchers.from, matchers.to));
      name = byName?.[1] ?? '';
    }
    out.push({ name, hasMatchers: matchers !== null });
  } while (cursor.next());
  return out;
}
