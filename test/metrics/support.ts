/**
 * Reading back what each exporter exports, in one shape, so that the same assertions run
 * against prom-client and the OpenTelemetry SDK: a point is found by its OpenTelemetry name,
 * the pool name and its attributes; the Prometheus side finds it under the Prometheus name and
 * labels written out here by hand (not taken from the catalog, so a wrong mapping fails).
 */
import { MeterProvider, MetricReader, DataPointType } from '@opentelemetry/sdk-metrics';
import type { Histogram as OtelHistogram, MetricData } from '@opentelemetry/sdk-metrics';
import type { Registry } from 'prom-client';

import type { BudgetStats, PoolStats } from '../../src/core/index.js';

/** The logical attributes a point can have. */
export interface Attrs {
  state?: 'idle' | 'used';
  reason?: string;
}

export interface HistogramReading {
  count: number;
  sum: number;
  /** Per-bucket (not cumulative) counts, with the overflow bucket last. */
  counts: number[];
}

export interface Exported {
  /** A counter's, gauge's or up-down counter's value, undefined when there is no such point. */
  value(otelName: string, pool: string, attrs?: Attrs): number | undefined;
  histogram(otelName: string, pool: string): HistogramReading | undefined;
  /** A budget metric's value for the budget (and member, for the per-member ones). */
  budget(otelName: string, budget: string, member?: string): number | undefined;
  /** Every metric name exported (in that exporter's spelling). */
  names(): string[];
}

/** The Prometheus name of each OpenTelemetry name, spelled out. */
export const promNames: Record<string, string> = {
  'db.client.connection.count': 'db_client_connection_count',
  'db.client.connection.idle.max': 'db_client_connection_idle_max',
  'db.client.connection.idle.min': 'db_client_connection_idle_min',
  'db.client.connection.max': 'db_client_connection_max',
  'db.client.connection.pending_requests': 'db_client_connection_pending_requests',
  'db.client.connection.timeouts': 'db_client_connection_timeouts_total',
  'db.client.connection.create_time': 'db_client_connection_create_time_seconds',
  'db.client.connection.wait_time': 'db_client_connection_wait_time_seconds',
  'db.client.connection.use_time': 'db_client_connection_use_time_seconds',
  'lifeguard.pool.pending_creates': 'lifeguard_pool_pending_creates',
  'lifeguard.pool.create_failures': 'lifeguard_pool_create_failures_total',
  'lifeguard.pool.destroys': 'lifeguard_pool_destroys_total',
  'lifeguard.pool.circuit_state': 'lifeguard_pool_circuit_state',
  'lifeguard.pool.circuit_rejections': 'lifeguard_pool_circuit_rejections_total',
  'lifeguard.pool.leaks': 'lifeguard_pool_leaks_total',
  'lifeguard.pool.shed': 'lifeguard_pool_shed_total',
  'lifeguard.pool.queue_full_rejections': 'lifeguard_pool_queue_full_rejections_total',
};

/** The same for a budget's metrics. */
export const budgetPromNames: Record<string, string> = {
  'lifeguard.budget.connection.max': 'lifeguard_budget_connection_max',
  'lifeguard.budget.connection.used': 'lifeguard_budget_connection_used',
  'lifeguard.budget.connection.shedding': 'lifeguard_budget_connection_shedding',
  'lifeguard.budget.wanting': 'lifeguard_budget_wanting',
  'lifeguard.budget.member.min': 'lifeguard_budget_member_min',
  'lifeguard.budget.member.max': 'lifeguard_budget_member_max',
};

/** Labels (or attributes) have exactly the wanted keys, with the wanted values. */
function matches(labels: Record<string, unknown>, wanted: Record<string, unknown>): boolean {
  return (
    Object.keys(labels).length === Object.keys(wanted).length &&
    Object.entries(wanted).every(([k, v]) => labels[k] === v)
  );
}

export const histogramNames = [
  'db.client.connection.create_time',
  'db.client.connection.wait_time',
  'db.client.connection.use_time',
];

export async function readPrometheus(registry: Registry, prefix = ''): Promise<Exported> {
  const metrics = await registry.getMetricsAsJSON();
  const byName = new Map(metrics.map((m) => [m.name, m]));
  return {
    budget(otelName, budget, member) {
      const metric = byName.get(prefix + budgetPromNames[otelName]!);
      const wanted =
        member === undefined ? { budget_name: budget } : { budget_name: budget, member };
      return metric?.values.find((v) => matches(v.labels, wanted))?.value;
    },
    value(otelName, pool, attrs = {}) {
      const metric = byName.get(prefix + promNames[otelName]!);
      const wanted = { pool_name: pool, ...attrs };
      return metric?.values.find((v) => matches(v.labels, wanted))?.value;
    },
    histogram(otelName, pool) {
      const name = prefix + promNames[otelName]!;
      const all = (byName.get(name)?.values ?? []) as {
        value: number;
        labels: Record<string, unknown>;
        metricName?: string;
      }[];
      const values = all.filter((v) => v.labels.pool_name === pool);
      if (values.length === 0) return undefined;
      const cumulative = values
        .filter((v) => v.metricName === `${name}_bucket`)
        .map((v) => v.value);
      const counts = cumulative.map((c, i) => c - (i === 0 ? 0 : cumulative[i - 1]!));
      return {
        count: values.find((v) => v.metricName === `${name}_count`)!.value,
        sum: values.find((v) => v.metricName === `${name}_sum`)!.value,
        counts,
      };
    },
    names: () => metrics.map((m) => m.name),
  };
}

/** A reader the test collects from on demand. */
export class TestReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

export function otelSetup(): { reader: TestReader; provider: MeterProvider } {
  const reader = new TestReader();
  return { reader, provider: new MeterProvider({ readers: [reader] }) };
}

export async function readOpenTelemetry(
  reader: MetricReader,
): Promise<Exported & { metrics: MetricData[] }> {
  const { resourceMetrics, errors } = await reader.collect();
  if (errors.length > 0) throw new AggregateError(errors, 'OpenTelemetry collection failed');
  const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
  const byName = new Map(metrics.map((m) => [m.descriptor.name, m]));
  const toOtel = (pool: string, attrs: Attrs): Record<string, string> => {
    const out: Record<string, string> = { 'db.client.connection.pool.name': pool };
    if (attrs.state !== undefined) out['db.client.connection.state'] = attrs.state;
    if (attrs.reason !== undefined) out['lifeguard.destroy.reason'] = attrs.reason;
    return out;
  };
  const find = (otelName: string, pool: string, attrs: Attrs) => {
    const wanted = toOtel(pool, attrs);
    const metric = byName.get(otelName);
    return metric?.dataPoints.find((p) => matches(p.attributes, wanted));
  };
  return {
    metrics,
    budget(otelName, budget, member) {
      const wanted: Record<string, string> = { 'lifeguard.budget.name': budget };
      if (member !== undefined) wanted['lifeguard.budget.member'] = member;
      const point = byName.get(otelName)?.dataPoints.find((p) => matches(p.attributes, wanted));
      return point?.value as number | undefined;
    },
    value(otelName, pool, attrs = {}) {
      const metric = byName.get(otelName);
      if (metric?.dataPointType === DataPointType.HISTOGRAM)
        throw new Error(`${otelName} is a histogram`);
      return find(otelName, pool, attrs)?.value as number | undefined;
    },
    histogram(otelName, pool) {
      const point = find(otelName, pool, {});
      if (point === undefined) return undefined;
      const h = point.value as OtelHistogram;
      return { count: h.count, sum: h.sum ?? 0, counts: h.buckets.counts };
    },
    names: () => metrics.map((m) => m.descriptor.name),
  };
}

const circuitNumbers = { closed: 0, 'half-open': 1, open: 2 } as const;
const destroyReasons = [
  'idle',
  'lifetime',
  'uses',
  'validation',
  'error',
  'reset',
  'end',
  'leak',
  'budget',
] as const;

/**
 * What every observed metric should read for a pool, computed straight from its `stats()`
 * (the pool's own account of itself), independently of the metrics code.
 */
export function expectedFromStats(stats: PoolStats): [string, Attrs, number][] {
  return [
    ['db.client.connection.count', { state: 'idle' }, stats.idle],
    ['db.client.connection.count', { state: 'used' }, stats.total - stats.idle],
    ['db.client.connection.idle.max', {}, stats.max],
    ['db.client.connection.idle.min', {}, stats.min],
    ['db.client.connection.max', {}, stats.max],
    ['db.client.connection.pending_requests', {}, stats.waiting],
    ['db.client.connection.timeouts', {}, stats.timeouts],
    ['lifeguard.pool.pending_creates', {}, stats.pendingCreates],
    ['lifeguard.pool.create_failures', {}, stats.createFailures],
    ...destroyReasons.map((reason): [string, Attrs, number] => [
      'lifeguard.pool.destroys',
      { reason },
      stats.destroys[reason],
    ]),
    ['lifeguard.pool.circuit_state', {}, circuitNumbers[stats.circuit]],
    ['lifeguard.pool.circuit_rejections', {}, stats.circuitRejections],
    ['lifeguard.pool.leaks', {}, stats.leaks],
    ['lifeguard.pool.shed', {}, stats.shed],
    ['lifeguard.pool.queue_full_rejections', {}, stats.rejectedQueueFull],
  ];
}

/**
 * The pool's account of itself next to what the exporter shows, point by point, ready for
 * `expect(actual).toEqual(expected)`.
 */
export function againstStats(
  exported: Exported,
  pool: string,
  stats: PoolStats,
): {
  expected: [string, Attrs, number | undefined][];
  actual: [string, Attrs, number | undefined][];
} {
  const expected = expectedFromStats(stats);
  return {
    expected,
    actual: expected.map(([name, attrs]) => [name, attrs, exported.value(name, pool, attrs)]),
  };
}

/**
 * What every budget metric should read, straight from the budget's own `stats()`: one point
 * for its max, and one per member of each per-member metric, as [name, member, value].
 */
export function expectedFromBudget(stats: BudgetStats): [string, string | undefined, number][] {
  return [
    ['lifeguard.budget.connection.max', undefined, stats.max],
    ...stats.members.flatMap((m): [string, string | undefined, number][] => [
      ['lifeguard.budget.connection.used', m.name, m.used],
      ['lifeguard.budget.connection.shedding', m.name, m.shedding],
      ['lifeguard.budget.wanting', m.name, m.wanting],
      ['lifeguard.budget.member.min', m.name, m.min],
      ['lifeguard.budget.member.max', m.name, m.max],
    ]),
  ];
}
