/**
 * What the dashboard watches: a core `Pool`, or anything that wraps one the way `lifeguard/pg`'s
 * `Pool` does (`.core`, `.name`, `.stats()`). Typed structurally so that this module imports
 * nothing from `src/pg/` and a pool of any driver can be shown.
 */
import type { Pool as CorePool, PoolStats } from '../core/index.js';

/**
 * `stats()` as the dashboard reads it. `queries` and `errors` are optional: a layer that counts
 * its own queries and the errors it hands out (as `lifeguard/pg` does) reports them; without
 * them the dashboard falls back to the core's checkouts and failure counters.
 */
export type DashboardStats = PoolStats & {
  /** Cumulative operations run through the pool (queries for `lifeguard/pg`). */
  readonly queries?: number;
  /** Cumulative errors handed to callers, by stable code. */
  readonly errors?: Readonly<Record<string, number>>;
};

/** A pool built on the core, such as `lifeguard/pg`'s `Pool`. */
export interface WrappingPool {
  // `any`: a wrapper's resource type (PgConnection, ...) is none of the dashboard's business,
  // and `Pool<unknown>` would not accept `Pool<PgConnection>` (T appears in listener arguments).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly core: CorePool<any>;
  readonly name: string;
  stats(): DashboardStats;
  /** pg.Pool's count of callers waiting, pipelined queries waiting for a lane included. */
  readonly waitingCount?: number;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type DashboardSource = CorePool<any> | WrappingPool;

/** The core pool underneath `source`: where the `acquire` events come from. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function corePoolOf(source: DashboardSource): CorePool<any> {
  return 'core' in source ? source.core : source;
}

/**
 * Callers waiting, as the application sees them: the wrapper's own count when it has one (for
 * `lifeguard/pg` this includes queries queued for a pipeline lane, which the core never sees),
 * otherwise the core's queue.
 */
export function waitingOf(source: DashboardSource, stats: DashboardStats): number {
  if ('core' in source && typeof source.waitingCount === 'number') return source.waitingCount;
  return stats.waiting;
}

/** The core counters that stand for errors handed to callers, by the code those errors carry. */
const kDerivedErrorCodes = [
  ['timeouts', 'ERR_POOL_ACQUIRE_TIMEOUT'],
  ['aborts', 'ERR_POOL_ABORTED'],
  ['rejectedQueueFull', 'ERR_POOL_QUEUE_FULL'],
  ['circuitRejections', 'ERR_POOL_CIRCUIT_OPEN'],
  ['shed', 'ERR_POOL_OVERLOADED'],
] as const satisfies readonly (readonly [keyof PoolStats, string])[];

/** Errors by code: the layer's own tally when it keeps one, else derived from core counters. */
export function errorsOf(stats: DashboardStats): Record<string, number> {
  if (stats.errors !== undefined) return { ...stats.errors };
  const errors: Record<string, number> = {};
  for (const [counter, code] of kDerivedErrorCodes) {
    const count = stats[counter];
    if (count > 0) errors[code] = count;
  }
  return errors;
}

/** What throughput counts: queries when the layer reports them, else core checkouts. */
export function throughputCounterOf(stats: DashboardStats): {
  unit: 'queries' | 'checkouts';
  value: number;
} {
  return typeof stats.queries === 'number'
    ? { unit: 'queries', value: stats.queries }
    : { unit: 'checkouts', value: stats.acquires };
}
