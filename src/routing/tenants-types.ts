/** The public shapes of `createTenants` (tenants.ts): its config, per-call option and reports. */
import type { ConnectionBudget } from '../core/index.js';
import type { PoolConfig } from '../pg/index.js';
import type { RouterStats } from './router.js';

/** How to reach one tenant: what `resolve(key)` returns. */
export interface TenantSettings {
  /** The tenant's database (one database per tenant). */
  database?: string;
  /** The login user of the tenant's connections (one login per tenant). */
  user?: string;
  password?: string;
  /** Taken with `SET ROLE` on each connection (one role per tenant, a shared login). */
  role?: string;
  /**
   * `search_path` set on each connection: one schema name, or several in order. Each name is
   * quoted as an identifier, never parsed: `'a, b'` is one schema named `a, b`.
   */
  searchPath?: string | readonly string[];
  /** Pool settings of this tenant over the shared ones (timeouts, `application_name`, ...). */
  config?: Omit<PoolConfig, 'budget' | 'name' | 'resetOnRelease'>;
}

export interface TenantsConfig extends Omit<PoolConfig, 'budget' | 'name' | 'min' | 'max'> {
  /** A tenant's settings from its key; called once per pool opened (not cached on failure). */
  resolve: (key: string) => TenantSettings | Promise<TenantSettings>;
  /** The cap on all tenants' connections: a number, or a `ConnectionBudget` shared with others. */
  budget: number | ConnectionBudget;
  /** Each tenant pool's limits. Default `{ max: 5, min: 0 }`. */
  perTenant?: { max?: number; min?: number };
  /** A tenant pool with nothing in use and nobody waiting this long is closed. Default 60 000. */
  idleCloseMillis?: number;
  /**
   * When a tenant holding no connection needs one, the budget is full and no idle tenant pool
   * can be closed for it: `'wait'` (default) for the budget's fair share of the slots that free
   * up, or `'fail'` at once with `ERR_ROUTING_BUDGET_EXHAUSTED`.
   */
  overflow?: 'wait' | 'fail';
  /** The router's name; each tenant pool is named `<name>.<key>`. Default `tenants`. */
  name?: string;
}

/** Per-call routing: `{ tenant }` in a query config or in transaction options. */
export interface TenantOption {
  tenant?: string;
}

/** Why a tenant pool was closed. */
export type TenantCloseReason = 'idle' | 'evicted' | 'end';

/** One live tenant, as `router.tenants()` lists it. */
export interface TenantInfo {
  readonly key: string;
  /** The member pool's name (`<router>.<key>`, sanitized). */
  readonly pool: string;
  /** `opening` while `resolve()` runs and the pool is made. */
  readonly state: 'opening' | 'open';
  /** When it was last used, as a `Date.now()` timestamp. */
  readonly lastUsed: number;
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

/** Counts of the tenant pools over the router's life. */
export interface TenantCounts {
  /** Tenant pools open now. */
  readonly live: number;
  readonly created: number;
  /** Closed to free budget slots for another tenant. */
  readonly evicted: number;
  /** Closed after `idleCloseMillis` with nothing to do. */
  readonly closedIdle: number;
}

export interface TenantRouterStats extends RouterStats {
  readonly tenants: TenantCounts;
}
