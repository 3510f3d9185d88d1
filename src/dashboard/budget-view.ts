/**
 * The budget section of the dashboard: the ConnectionBudget's max and used, and one row per
 * member with what the budget knows of it (min, max, used, wanting, shedding) and, for the
 * members that are pools the dashboard watches, what the pool itself reports (waiting, in use).
 * A budget may have members the dashboard cannot see (pools of another router): their rows
 * have the budget's figures only.
 */
import type { BudgetMemberStats } from '../core/index.js';
import {
  corePoolOf,
  isRouter,
  waitingOf,
  type DashboardBudgetSource,
  type DashboardSource,
  type DashboardStats,
} from './source.js';

/**
 * A member's row: the budget's figures for it (`name` is the name of the pool that joined it;
 * `used` its slots: connections open, being opened, or closing), plus the pool's own when the
 * dashboard watches that pool.
 */
export interface DashboardBudgetMember extends BudgetMemberStats {
  /** The pool's own count of callers waiting; absent for a member the dashboard does not see. */
  readonly waiting?: number;
  /** The pool's connections in use; absent for a member the dashboard does not see. */
  readonly inUse?: number;
}

export interface DashboardBudget {
  readonly name: string;
  readonly max: number;
  readonly used: number;
  readonly members: readonly DashboardBudgetMember[];
}

interface PoolFigures {
  readonly waiting: number;
  readonly inUse: number;
}

/**
 * The figures of each pool the dashboard watches, by pool name, from the stats just read: a
 * router's `stats().members` when it reports them (so no member is asked twice), else the
 * member's own `stats()`.
 */
function poolFiguresOf(source: DashboardSource, stats: DashboardStats): Map<string, PoolFigures> {
  const figures = new Map<string, PoolFigures>();
  if (!isRouter(source)) {
    figures.set(corePoolOf(source).name, { waiting: waitingOf(source, stats), inUse: stats.inUse });
    return figures;
  }
  const byKey = (stats as ReturnType<typeof source.stats>).members;
  for (const [key, pool] of source.members()) {
    const own = byKey?.[key] ?? pool.stats();
    figures.set(corePoolOf(pool).name, { waiting: waitingOf(pool, own), inUse: own.inUse });
  }
  return figures;
}

/** The budget section for this sample. */
export function budgetViewOf(
  budget: DashboardBudgetSource,
  source: DashboardSource,
  stats: DashboardStats,
): DashboardBudget {
  const b = budget.stats();
  const pools = poolFiguresOf(source, stats);
  return {
    name: b.name,
    max: b.max,
    used: b.used,
    members: b.members.map((m) => {
      const pool = pools.get(m.name);
      return pool === undefined ? { ...m } : { ...m, waiting: pool.waiting, inUse: pool.inUse };
    }),
  };
}
