import type {
  CircuitState,
  HealthReason,
  HealthReport,
  HealthStatus,
  Summary,
} from '../core/index.js';
import type { PgPoolStats } from '../pg/index.js';

/** A pool's stats that are plain numbers (gauges and counters), which add up across pools. */
type NumericKey = {
  [K in keyof PgPoolStats]-?: PgPoolStats[K] extends number ? K : never;
}[keyof PgPoolStats];

const kNumeric: readonly NumericKey[] = [
  'total',
  'idle',
  'inUse',
  'pendingCreates',
  'waiting',
  'max',
  'min',
  'acquires',
  'waitedAcquires',
  'timeouts',
  'aborts',
  'rejectedQueueFull',
  'circuitRejections',
  'shed',
  'creates',
  'createFailures',
  'validationFailures',
  'leaks',
  'queries',
];

const kCircuitOrder: readonly CircuitState[] = ['closed', 'half-open', 'open'];
const kStatusOrder: readonly HealthStatus[] = ['ok', 'degraded', 'down'];

/**
 * Several pools' stats as one: gauges and counters add up, as do destroys by reason; the
 * circuit is the worst of them. Latency summaries keep their exact count, sum, min, max and
 * mean; their p50 and p99 are the highest of the members', an upper bound (the members'
 * histograms are not merged).
 */
export function combineStats(all: readonly PgPoolStats[]): PgPoolStats {
  const numbers = {} as Record<NumericKey, number>;
  for (const key of kNumeric) numbers[key] = all.reduce((sum, s) => sum + (s[key] ?? 0), 0);
  return {
    ...numbers,
    circuit: worst(
      all.map((s) => s.circuit),
      kCircuitOrder,
      'closed',
    ),
    destroys: sumRecords(all.map((s) => s.destroys)) as PgPoolStats['destroys'],
    waitTime: combineSummaries(all.map((s) => s.waitTime)),
    holdTime: combineSummaries(all.map((s) => s.holdTime)),
    createTime: combineSummaries(all.map((s) => s.createTime)),
  };
}

/**
 * A router's health from its members': a required member down makes it `down`; any other
 * member down, or any member degraded, makes it `degraded` (reasons merged, `member-down`
 * added for the first). `required` undefined: every member is required.
 */
export function combineHealth(
  name: string,
  members: Readonly<Record<string, HealthReport>>,
  required: ReadonlySet<string> | undefined,
): HealthReport {
  const reports = Object.entries(members);
  const reasons = new Set<HealthReason>();
  let status: HealthStatus = 'ok';
  let error: HealthReport['error'];
  for (const [member, report] of reports) {
    let own = report.status;
    if (own === 'down' && required !== undefined && !required.has(member)) {
      own = 'degraded';
      reasons.add('member-down');
    }
    for (const reason of report.reasons ?? []) reasons.add(reason);
    if (own === 'down') error ??= report.error;
    status = worst([status, own], kStatusOrder, 'ok');
  }
  const combined: HealthReport = {
    status,
    name,
    latencyMillis: Math.max(0, ...reports.map(([, r]) => r.latencyMillis)),
    circuit: worst(
      reports.map(([, r]) => r.circuit),
      kCircuitOrder,
      'closed',
    ),
    stats: combineStats(reports.map(([, r]) => r.stats as PgPoolStats)),
  };
  if (status === 'degraded' && reasons.size > 0) return { ...combined, reasons: [...reasons] };
  if (status === 'down' && error !== undefined) return { ...combined, error };
  return combined;
}

function worst<S>(values: readonly S[], order: readonly S[], none: S): S {
  let index = order.indexOf(none);
  for (const value of values) index = Math.max(index, order.indexOf(value));
  return order[index]!;
}

function sumRecords(records: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const record of records) {
    for (const [key, value] of Object.entries(record)) total[key] = (total[key] ?? 0) + value;
  }
  return total;
}

function combineSummaries(all: readonly Summary[]): Summary {
  const counted = all.filter((s) => s.count > 0);
  const count = counted.reduce((n, s) => n + s.count, 0);
  const sum = counted.reduce((n, s) => n + s.sum, 0);
  if (count === 0) return all[0] ?? { count: 0, sum: 0, min: 0, max: 0, mean: 0, p50: 0, p99: 0 };
  return {
    count,
    sum,
    min: Math.min(...counted.map((s) => s.min)),
    max: Math.max(...counted.map((s) => s.max)),
    mean: sum / count,
    p50: Math.max(...counted.map((s) => s.p50)),
    p99: Math.max(...counted.map((s) => s.p99)),
  };
}
