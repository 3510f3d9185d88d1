/**
 * The three things the exporters instrument: a pool (see source.ts), a ConnectionBudget, and a
 * router of pools (`lifeguard/routing`'s PoolRouter, or anything with `members()` and
 * `budget`). Typed structurally, so that `lifeguard/metrics` imports nothing from
 * `src/routing/` and a router of any making can be instrumented.
 */
import type { BudgetStats } from '../core/index.js';
import { MetricsError } from './errors.js';
import type { Instrumentable } from './source.js';

/** A ConnectionBudget, as far as the exporters read one: its name and `stats()`. */
export interface InstrumentableBudget {
  readonly name: string;
  stats(): BudgetStats;
  /** Only there to tell a budget from a pool; never called. */
  join(...args: never[]): unknown;
}

/** A router of pools: its member pools (which may change, see `MemberTracker`) and their budget. */
export interface InstrumentableRouter {
  readonly name: string;
  members(): ReadonlyMap<string, Instrumentable>;
  readonly budget: InstrumentableBudget | undefined;
}

export type InstrumentTarget = Instrumentable | InstrumentableBudget | InstrumentableRouter;

/**
 * A router first: a PoolRouter also has the `on`, `off`, `stats` and `name` of a core pool, and
 * read as one it would give sums and pg's event arguments in place of the core's.
 */
export function isRouter(target: unknown): target is InstrumentableRouter {
  return (
    typeof target === 'object' &&
    target !== null &&
    typeof (target as { members?: unknown }).members === 'function'
  );
}

export function isBudget(target: unknown): target is InstrumentableBudget {
  if (typeof target !== 'object' || target === null || 'core' in target) return false;
  const budget = target as Partial<Record<'join' | 'stats' | 'name', unknown>>;
  return (
    typeof budget.join === 'function' &&
    typeof budget.stats === 'function' &&
    typeof budget.name === 'string'
  );
}

/** Budgets instrumented into one registry or meter, by name; one budget may be claimed often. */
export class BudgetClaims {
  readonly #claims = new Map<string, { budget: InstrumentableBudget; refs: number }>();

  /**
   * Claims the budget's name. Returns true the first time (start exporting it), false when
   * the same budget is already exported (two routers sharing it); throws for another budget
   * of the same name.
   */
  claim(budget: InstrumentableBudget, where: string): boolean {
    const held = this.#claims.get(budget.name);
    if (held === undefined) {
      this.#claims.set(budget.name, { budget, refs: 1 });
      return true;
    }
    if (held.budget !== budget) {
      throw new MetricsError(
        'ERR_METRICS_DUPLICATE_BUDGET',
        `Another budget named ${JSON.stringify(budget.name)} is already instrumented ${where}; ` +
          'give each budget its own name (option `name`)',
      );
    }
    held.refs++;
    return false;
  }

  /** Gives one claim back; true when it was the last one (stop exporting the budget). */
  release(budget: InstrumentableBudget): boolean {
    const held = this.#claims.get(budget.name);
    if (held === undefined || held.budget !== budget) return false;
    if (--held.refs > 0) return false;
    this.#claims.delete(budget.name);
    return true;
  }

  get size(): number {
    return this.#claims.size;
  }
}

/**
 * Keeps a router's member pools instrumented as they come and go. Routers may add pools
 * after construction (a tenant router adds one per tenant, lazily) and there is no event for
 * that, so the exporters call `refresh()` whenever they collect: a pool found then is
 * instrumented from that moment on (its gauges at once, its histograms from its next event),
 * and a pool no longer among the members is no longer reported.
 */
export class MemberTracker {
  readonly #router: InstrumentableRouter;
  readonly #attach: (pool: Instrumentable) => () => void;
  readonly #attached = new Map<Instrumentable, () => void>();

  constructor(router: InstrumentableRouter, attach: (pool: Instrumentable) => () => void) {
    this.#router = router;
    this.#attach = attach;
  }

  /** Instruments every member now, or none: the first error (a duplicate name) is thrown. */
  start(): void {
    try {
      for (const pool of this.#router.members().values()) this.#add(pool);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /**
   * Follows the current members. Called during a collection, where throwing would fail the
   * whole scrape: a new member that cannot be instrumented (its name is taken) is left out,
   * and tried again at the next collection.
   */
  refresh(): void {
    let current: ReadonlyMap<string, Instrumentable>;
    try {
      current = this.#router.members();
    } catch {
      return; // a router mid-teardown: keep what we have until close()
    }
    const seen = new Set(current.values());
    for (const [pool, detach] of this.#attached) {
      if (seen.has(pool)) continue;
      detach();
      this.#attached.delete(pool);
    }
    for (const pool of seen) {
      if (this.#attached.has(pool)) continue;
      try {
        this.#add(pool);
      } catch {
        // Left out; see above.
      }
    }
  }

  get size(): number {
    return this.#attached.size;
  }

  close(): void {
    for (const detach of this.#attached.values()) detach();
    this.#attached.clear();
  }

  #add(pool: Instrumentable): void {
    this.#attached.set(pool, this.#attach(pool));
  }
}
