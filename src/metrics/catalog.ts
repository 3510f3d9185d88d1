/**
 * Every metric `lifeguard/metrics` exports, defined once for both exporters: its OpenTelemetry
 * name, its Prometheus name (the OpenTelemetry name mapped the way the OpenTelemetry Prometheus
 * exporter maps it: dots to underscores, `_seconds` for unit `s`, `_total` on counters, `{...}`
 * units dropped), and how to read its value from a `PoolReading`.
 *
 * The `db.client.connection.*` metrics follow OpenTelemetry's semantic conventions for database
 * client connection pools; the `lifeguard.pool.*` ones are Lifeguard's own, and so are the
 * `lifeguard.budget.*` ones of a ConnectionBudget, read from `budget.stats()`.
 */
import type { BudgetStats, DestroyReason } from '../core/index.js';
import { MetricsError } from './errors.js';
import { circuitStateValue, type PoolReading } from './source.js';

/**
 * The attributes a point may carry besides the pool (or budget) name, by logical key. Each
 * exporter spells them its own way (see `otelAttribute` and `promLabel`).
 */
export interface PointAttributes {
  readonly state?: 'idle' | 'used';
  readonly reason?: DestroyReason;
  /** A budget member's name: the name of the pool that joined it. */
  readonly member?: string;
}
export type AttributeKey = keyof PointAttributes;

/** The pool's name: `db.client.connection.pool.name` in OpenTelemetry, `pool_name` in Prometheus. */
export const otelPoolNameAttribute = 'db.client.connection.pool.name';
export const promPoolNameLabel = 'pool_name';
/** The budget's name: `lifeguard.budget.name` in OpenTelemetry, `budget_name` in Prometheus. */
export const otelBudgetNameAttribute = 'lifeguard.budget.name';
export const promBudgetNameLabel = 'budget_name';

export const otelAttribute: Readonly<Record<AttributeKey, string>> = {
  state: 'db.client.connection.state',
  reason: 'lifeguard.destroy.reason',
  member: 'lifeguard.budget.member',
};
export const promLabel: Readonly<Record<AttributeKey, string>> = {
  state: 'state',
  reason: 'reason',
  member: 'member',
};

export interface Point {
  readonly attributes: PointAttributes;
  readonly value: number;
}

/**
 * A value read off the pool (or, for `R = BudgetStats`, off a budget) when metrics are collected. `updowncounter` is OpenTelemetry's
 * instrument for a count that goes up and down (a Prometheus gauge); `gauge` is a value that is
 * not a count (the circuit state); `counter` only ever grows.
 */
export interface ObservedMetric<R = PoolReading> {
  readonly kind: 'updowncounter' | 'gauge' | 'counter';
  readonly otelName: string;
  readonly promName: string;
  readonly unit: string;
  readonly description: string;
  readonly attributeKeys: readonly AttributeKey[];
  readonly points: (reading: R) => readonly Point[];
}

/** A duration recorded from a pool event, in seconds. */
export interface DurationHistogram {
  readonly otelName: string;
  readonly promName: string;
  readonly description: string;
  /** The pool event whose milliseconds it records. */
  readonly event: 'create' | 'acquire' | 'release';
}

const one = (value: number): readonly Point[] => [{ attributes: {}, value }];

const destroyReasons: readonly DestroyReason[] = [
  'idle',
  'lifetime',
  'uses',
  'validation',
  'error',
  'reset',
  'end',
  'leak',
  'budget',
];

export const observedMetrics: readonly ObservedMetric[] = [
  {
    kind: 'updowncounter',
    otelName: 'db.client.connection.count',
    promName: 'db_client_connection_count',
    unit: '{connection}',
    description:
      'The number of connections that are currently in state described by the state attribute',
    attributeKeys: ['state'],
    points: (r) => [
      { attributes: { state: 'idle' }, value: r.idle },
      { attributes: { state: 'used' }, value: r.used },
    ],
  },
  {
    kind: 'updowncounter',
    otelName: 'db.client.connection.idle.max',
    promName: 'db_client_connection_idle_max',
    unit: '{connection}',
    description:
      'The maximum number of idle open connections allowed (Lifeguard has no separate idle cap: max)',
    attributeKeys: [],
    points: (r) => one(r.max),
  },
  {
    kind: 'updowncounter',
    otelName: 'db.client.connection.idle.min',
    promName: 'db_client_connection_idle_min',
    unit: '{connection}',
    description: 'The minimum number of idle open connections allowed (the pool option min)',
    attributeKeys: [],
    points: (r) => one(r.min),
  },
  {
    kind: 'updowncounter',
    otelName: 'db.client.connection.max',
    promName: 'db_client_connection_max',
    unit: '{connection}',
    description: 'The maximum number of open connections allowed',
    attributeKeys: [],
    points: (r) => one(r.max),
  },
  {
    kind: 'updowncounter',
    otelName: 'db.client.connection.pending_requests',
    promName: 'db_client_connection_pending_requests',
    unit: '{request}',
    description: 'The number of current pending requests for an open connection',
    attributeKeys: [],
    points: (r) => one(r.pending),
  },
  {
    kind: 'counter',
    otelName: 'db.client.connection.timeouts',
    promName: 'db_client_connection_timeouts_total',
    unit: '{timeout}',
    description:
      'The number of connection timeouts that have occurred trying to obtain a connection from the pool',
    attributeKeys: [],
    points: (r) => one(r.stats.timeouts),
  },
  {
    kind: 'updowncounter',
    otelName: 'lifeguard.pool.pending_creates',
    promName: 'lifeguard_pool_pending_creates',
    unit: '{connection}',
    description: 'Connections being created right now',
    attributeKeys: [],
    points: (r) => one(r.pendingCreates),
  },
  {
    kind: 'counter',
    otelName: 'lifeguard.pool.create_failures',
    promName: 'lifeguard_pool_create_failures_total',
    unit: '{failure}',
    description: 'Connection creations that failed or timed out',
    attributeKeys: [],
    points: (r) => one(r.stats.createFailures),
  },
  {
    kind: 'counter',
    otelName: 'lifeguard.pool.destroys',
    promName: 'lifeguard_pool_destroys_total',
    unit: '{connection}',
    description: 'Connections closed by the pool, by reason',
    attributeKeys: ['reason'],
    points: (r) =>
      destroyReasons.map((reason) => ({ attributes: { reason }, value: r.stats.destroys[reason] })),
  },
  {
    kind: 'gauge',
    otelName: 'lifeguard.pool.circuit_state',
    promName: 'lifeguard_pool_circuit_state',
    unit: '{state}',
    description: 'The circuit breaker on connection creation: 0 closed, 1 half-open, 2 open',
    attributeKeys: [],
    points: (r) => one(circuitStateValue[r.circuit]),
  },
  {
    kind: 'counter',
    otelName: 'lifeguard.pool.circuit_rejections',
    promName: 'lifeguard_pool_circuit_rejections_total',
    unit: '{request}',
    description: 'Requests failed at once because the circuit was open',
    attributeKeys: [],
    points: (r) => one(r.stats.circuitRejections),
  },
  {
    kind: 'counter',
    otelName: 'lifeguard.pool.leaks',
    promName: 'lifeguard_pool_leaks_total',
    unit: '{leak}',
    description: 'Connections reported as held longer than leakDetectionMillis',
    attributeKeys: [],
    points: (r) => one(r.stats.leaks),
  },
  {
    kind: 'counter',
    otelName: 'lifeguard.pool.shed',
    promName: 'lifeguard_pool_shed_total',
    unit: '{request}',
    description: 'Waiting requests shed by overload protection (ERR_POOL_OVERLOADED)',
    attributeKeys: [],
    points: (r) => one(r.stats.shed),
  },
  {
    kind: 'counter',
    otelName: 'lifeguard.pool.queue_full_rejections',
    promName: 'lifeguard_pool_queue_full_rejections_total',
    unit: '{request}',
    description: 'Requests rejected at once because maxWaiting callers were already waiting',
    attributeKeys: [],
    points: (r) => one(r.stats.rejectedQueueFull),
  },
];

/** One point per member of the budget, carrying the member's name. */
function perMember(
  read: (member: BudgetStats['members'][number]) => number,
): (stats: BudgetStats) => readonly Point[] {
  return (stats) => stats.members.map((m) => ({ attributes: { member: m.name }, value: read(m) }));
}

/**
 * A ConnectionBudget's metrics, each point carrying the budget's name. Σ used over the members
 * is the budget's own count of slots taken, so it is not exported separately (a sum over a
 * metric that also held the total would count it twice).
 */
export const budgetMetrics: readonly ObservedMetric<BudgetStats>[] = [
  {
    kind: 'updowncounter',
    otelName: 'lifeguard.budget.connection.max',
    promName: 'lifeguard_budget_connection_max',
    unit: '{connection}',
    description: 'The most connections all members of the budget may hold together',
    attributeKeys: [],
    points: (s) => one(s.max),
  },
  {
    kind: 'updowncounter',
    otelName: 'lifeguard.budget.connection.used',
    promName: 'lifeguard_budget_connection_used',
    unit: '{connection}',
    description: 'Slots a member holds: connections open, being opened, or closing',
    attributeKeys: ['member'],
    points: perMember((m) => m.used),
  },
  {
    kind: 'updowncounter',
    otelName: 'lifeguard.budget.connection.shedding',
    promName: 'lifeguard_budget_connection_shedding',
    unit: '{connection}',
    description: "A member's connections asked to close for another member, not closed yet",
    attributeKeys: ['member'],
    points: perMember((m) => m.shedding),
  },
  {
    kind: 'updowncounter',
    otelName: 'lifeguard.budget.wanting',
    promName: 'lifeguard_budget_wanting',
    unit: '{request}',
    description: 'Callers of a member waiting for a connection the member could not open',
    attributeKeys: ['member'],
    points: perMember((m) => m.wanting),
  },
  {
    kind: 'updowncounter',
    otelName: 'lifeguard.budget.member.min',
    promName: 'lifeguard_budget_member_min',
    unit: '{connection}',
    description: 'Slots the budget keeps free for a member until it holds them (its min)',
    attributeKeys: ['member'],
    points: perMember((m) => m.min),
  },
  {
    kind: 'updowncounter',
    otelName: 'lifeguard.budget.member.max',
    promName: 'lifeguard_budget_member_max',
    unit: '{connection}',
    description: 'The most slots a member may hold (its max)',
    attributeKeys: ['member'],
    points: perMember((m) => m.max),
  },
];

export const durationHistograms: readonly DurationHistogram[] = [
  {
    otelName: 'db.client.connection.create_time',
    promName: 'db_client_connection_create_time_seconds',
    description: 'The time it took to create a new connection',
    event: 'create',
  },
  {
    otelName: 'db.client.connection.wait_time',
    promName: 'db_client_connection_wait_time_seconds',
    description: 'The time it took to obtain an open connection from the pool',
    event: 'acquire',
  },
  {
    otelName: 'db.client.connection.use_time',
    promName: 'db_client_connection_use_time_seconds',
    description: 'The time between borrowing a connection and returning it to the pool',
    event: 'release',
  },
];

/**
 * Bucket bounds in seconds for the duration histograms. The semantic conventions give none for
 * connection pools; these span a hand-over from the idle stack (well under 0.1 ms) to a caller
 * that waits out a 30 s acquire timeout.
 */
export const defaultDurationBuckets: readonly number[] = [
  0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/**
 * Throws unless `buckets` (when given) are usable bucket bounds, in seconds: finite, positive
 * and strictly increasing.
 */
export function checkBuckets(buckets: readonly number[] | undefined): void {
  if (buckets === undefined) return;
  const valid =
    buckets.length > 0 &&
    buckets.every(
      (b, i) => Number.isFinite(b) && b > 0 && (i === 0 || b > (buckets[i - 1] as number)),
    );
  if (!valid) {
    throw new MetricsError(
      'ERR_METRICS_INVALID_OPTION',
      'buckets must be finite, positive and strictly increasing (seconds)',
    );
  }
}
