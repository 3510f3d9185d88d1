/**
 * What the dashboard watches: a core `Pool`, anything that wraps one the way `lifeguard/pg`'s
 * `Pool` does (`.core`, `.name`, `.stats()`), or a router of such pools (`lifeguard/routing`:
 * `.members()`, `.budget`). Typed structurally so that this module imports nothing from
 * `src/pg/` or `src/routing/`, and a pool of any driver can be shown.
 */
import type { BudgetStats, Pool as CorePool, PoolStats } from '../core/index.js';

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

/** A core pool of any resource type (see `WrappingPool.core`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCorePool = CorePool<any>;

export type DashboardPool = AnyCorePool | WrappingPool;

/** A ConnectionBudget, as far as the dashboard reads one. */
export interface DashboardBudgetSource {
  stats(): BudgetStats;
}

/**
 * A router of pools, such as `lifeguard/routing`'s lanes: shown as one pool (its `stats()`,
 * the members' sums), with a row per member of its budget. Members may come and go: they are
 * read again at every sample.
 */
export interface DashboardRouter {
  readonly name: string;
  /** The members' sums; `members`, when given, each member's stats by its key in `members()`. */
  stats(): DashboardStats & { readonly members?: Readonly<Record<string, DashboardStats>> };
  members(): ReadonlyMap<string, DashboardPool>;
  readonly budget: DashboardBudgetSource | undefined;
  /** Callers waiting on every member, as pg.Pool counts them. */
  readonly waitingCount?: number;
}

export type DashboardSource = DashboardPool | DashboardRouter;

export function isRouter(source: DashboardSource): source is DashboardRouter {
  return typeof (source as Partial<DashboardRouter>).members === 'function';
}

/** The core pool underneath `pool`: where the `acquire` events come from. */
export function corePoolOf(pool: DashboardPool): AnyCorePool {
  return 'core' in pool ? pool.core : pool;
}

/** The core pools the dashboard sees now: the pool's own, or each member's. */
export function corePoolsOf(source: DashboardSource): AnyCorePool[] {
  if (!isRouter(source)) return [corePoolOf(source)];
  return [...source.members().values()].map(corePoolOf);
}

/** The budget shown: the router's, or the one the pool joined (its `budget` option). */
export function budgetOf(source: DashboardSource): DashboardBudgetSource | undefined {
  if (isRouter(source)) return source.budget;
  return corePoolOf(source).options.budget;
}

/**
 * Callers waiting, as the application sees them: the wrapper's (or router's) own count when it
 * has one (for `lifeguard/pg` this includes queries queued for a pipeline lane, which the core
 * never sees), otherwise the core's queue.
 */
export function waitingOf(source: DashboardSource, stats: DashboardStats): number {
  if (!('core' in source) && !isRouter(source)) return stats.waiting;
  return typeof source.waitingCount === 'number' ? source.waitingCount : stats.waiting;
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
