import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

import type pg from 'pg';

import { ConnectionBudget } from '../core/index.js';
import { Pool, type PoolConfig, type TransactionOptions } from '../pg/index.js';
import { forgetPreparedStatements, timeoutStatements, usedAfterEnd } from '../pg/internal.js';
import { RoutingError } from './errors.js';
import { PoolRouter, type RouteTarget, type Routed } from './router.js';
import { DeferredTarget, TenantHandle } from './tenants-handle.js';
import { TenantRegistry, type TenantEntry } from './tenants-registry.js';
import { checkKey, checked, poolName, withTenantLogin } from './tenants-config.js';
import { tenantResetSql, tenantSetupSql } from './tenants-session.js';
import type {
  TenantInfo,
  TenantOption,
  TenantRouterStats,
  TenantSettings,
  TenantsConfig,
} from './tenants-types.js';

const kDefaultPerTenantMax = 5;
const kDefaultIdleCloseMillis = 60_000;
/** The sweep runs this many times per `idleCloseMillis`, within these bounds (ms). */
const kSweepsPerIdleClose = 4;
const kSweepMinMillis = 10;
const kSweepMaxMillis = 5_000;

type SharedConfig = Omit<
  TenantsConfig,
  'resolve' | 'budget' | 'perTenant' | 'idleCloseMillis' | 'overflow' | 'name'
>;

/**
 * Tenants: one pool per tenant (its own database, login, or role and schema), opened on first
 * use and closed when idle, all under one connection budget, so that thousands of tenants can
 * share a server that takes a few dozen connections. When the budget is full, the least
 * recently used idle tenant pool is closed for a tenant that needs a connection. No session
 * state crosses tenants (each has its own connections) or users of one tenant: every
 * connection is reset on release (`DISCARD ALL`'s steps) and its tenant's role and
 * `search_path` are set again, in one round trip.
 *
 * A call names its tenant with `{ tenant }` in a query config or transaction options, through
 * `router.tenant(key)`, or by running inside `router.withTenant(key, fn)`; a call with no
 * tenant fails with `ERR_ROUTING_UNKNOWN_ROUTE`.
 *
 * @example
 * const db = createTenants({
 *   connectionString: process.env.DATABASE_URL,
 *   budget: 20,
 *   resolve: (key) => ({ role: `tenant_${key}`, searchPath: [`tenant_${key}`, 'public'] }),
 * });
 * await db.tenant('acme').query('SELECT * FROM orders');
 * await db.query({ text: 'SELECT 1', tenant: 'acme' });
 * await db.withTenant('acme', () => db.query('SELECT 1'));
 */
export function createTenants(config: TenantsConfig): TenantRouter {
  return new TenantRouter(config);
}

export class TenantRouter extends PoolRouter<TenantOption> {
  readonly #registry: TenantRegistry<Pool>;
  readonly #current = new AsyncLocalStorage<string>();
  readonly #resolve: TenantsConfig['resolve'];
  readonly #shared: SharedConfig;
  readonly #max: number;
  readonly #min: number;
  readonly #idleCloseMillis: number;
  readonly #overflow: 'wait' | 'fail';
  readonly #sweep: NodeJS.Timeout;
  readonly #finder = (key: string): RouteTarget => this.#target(key);
  /** A relief pass is scheduled (at most one at a time). */
  #reliefPending = false;
  readonly #relieve = (): void => this.#relieveStarved();

  constructor(config: TenantsConfig) {
    const { resolve, budget, perTenant, idleCloseMillis, overflow, name, ...shared } =
      checked(config);
    const routerName = name ?? 'tenants';
    const cap =
      budget instanceof ConnectionBudget
        ? budget
        : new ConnectionBudget({ max: budget, name: routerName });
    super(routerName, cap);
    this.#resolve = resolve;
    this.#shared = shared;
    this.#max = perTenant?.max ?? Math.min(kDefaultPerTenantMax, cap.max);
    this.#min = perTenant?.min ?? 0;
    this.#idleCloseMillis = idleCloseMillis ?? kDefaultIdleCloseMillis;
    this.#overflow = overflow ?? 'wait';
    this.#registry = new TenantRegistry<Pool>(
      () => performance.now(),
      { closed: (key, _pool, reason) => this.emit('tenantClosed', key, reason) },
      // Callers in the core's queue too: those a connection is being opened (or a budget slot
      // awaited) for, which pg.Pool's waitingCount leaves out.
      (pool) => pool.waitingCount + pool.core.waiting,
    );
    const every = Math.min(
      kSweepMaxMillis,
      Math.max(kSweepMinMillis, this.#idleCloseMillis / kSweepsPerIdleClose),
    );
    this.#sweep = setInterval(() => {
      this.#registry.sweep(this.#idleCloseMillis);
      this.#relieveStarved();
    }, every);
    this.#sweep.unref();
  }

  /** The tenant's pool, pg.Pool-shaped (`query`, `connect`, `transaction`); opened on use. */
  tenant(key: string): TenantHandle {
    checkKey(key);
    return new TenantHandle(key, this.#finder);
  }

  /** Runs `fn` with `key` as the tenant of every call made inside it that names none. */
  withTenant<R>(key: string, fn: () => R): R {
    checkKey(key);
    return this.#current.run(key, fn);
  }

  /** The live tenants, opening ones included. */
  tenants(): TenantInfo[] {
    const nowMono = performance.now();
    const nowWall = Date.now();
    const list: TenantInfo[] = [];
    for (const entry of this.#registry.entries()) {
      const pool = entry.pool;
      list.push({
        key: entry.key,
        pool: poolName(this.name, entry.key),
        state: pool === undefined ? 'opening' : 'open',
        lastUsed: Math.round(nowWall - (nowMono - entry.lastUsed)),
        totalCount: pool?.totalCount ?? 0,
        idleCount: pool?.idleCount ?? 0,
        waitingCount: pool?.waitingCount ?? 0,
      });
    }
    return list;
  }

  override stats(): TenantRouterStats {
    return { ...super.stats(), tenants: this.#registry.counts() };
  }

  override members(): ReadonlyMap<string, Pool> {
    return this.#registry.members();
  }

  protected override routeQuery(query: unknown): Routed<unknown> {
    if (typeof query !== 'object' || query === null || !('tenant' in query)) {
      return { pool: this.#target(this.#currentKey()), query };
    }
    if (typeof (query as { submit?: unknown }).submit === 'function') {
      return { pool: this.#target(this.#currentKey()), query }; // a pg.Query: not ours to copy
    }
    const { tenant, ...rest } = query as TenantOption & Record<string, unknown>;
    return { pool: this.#target(tenant ?? this.#currentKey()), query: rest };
  }

  protected override routeConnect(): RouteTarget {
    return this.#target(this.#currentKey());
  }

  protected override routeTransaction(
    options: (TransactionOptions & TenantOption) | undefined,
  ): Routed<TransactionOptions | undefined> {
    if (options === undefined || !('tenant' in options)) {
      return { pool: this.#target(this.#currentKey()), query: options };
    }
    const { tenant, ...rest } = options;
    return { pool: this.#target(tenant ?? this.#currentKey()), query: rest };
  }

  protected override async shutdown(): Promise<void> {
    clearInterval(this.#sweep);
    const opening: Promise<Pool>[] = [];
    for (const entry of this.#registry.entries()) if (entry.opening) opening.push(entry.opening);
    await Promise.allSettled(opening);
    const open = [...this.#registry.entries()];
    await Promise.all(open.map((entry) => this.#registry.close(entry, 'end')));
    await Promise.all(this.#registry.allClosing());
  }

  // --- routing ----------------------------------------------------------------------------------

  #currentKey(): string {
    const key = this.#current.getStore();
    if (key !== undefined) return key;
    throw new RoutingError(
      'ERR_ROUTING_UNKNOWN_ROUTE',
      `No tenant for this call on router "${this.name}": pass { tenant } in the query config or transaction options, use router.tenant(key), or call inside router.withTenant(key, fn)`,
    );
  }

  /** Where a call for `key` goes: its open pool (admitted now), or one that waits for it. */
  #target(key: string): RouteTarget {
    checkKey(key);
    if (this.ending) throw usedAfterEnd(); // pg.Pool's error, as the router's own methods give
    const registry = this.#registry;
    let entry = registry.get(key);
    if (entry?.pool !== undefined) {
      registry.touch(entry);
      this.#admit(entry, entry.pool);
      return entry.pool;
    }
    entry ??= this.#open(key);
    const waiting = entry;
    waiting.pending++;
    const admitted = waiting.opening!.then((pool) => {
      this.#admit(waiting, pool);
      return pool;
    });
    return new DeferredTarget(admitted, () => waiting.pending--);
  }

  /**
   * Before a call reaches a pool that would have to open a connection while the budget is
   * full: the least recently used idle tenant pool is closed to make room. If none can be,
   * the call waits for the budget, or with `overflow: 'fail'` fails when its tenant holds no
   * connection at all (one that holds some waits for its own, as any pool's callers do).
   */
  #admit(entry: TenantEntry<Pool>, pool: Pool): void {
    // A tenant holding connections queues (or pipelines) on them, and grows through the
    // budget's own sharing: closing whole pools for it would only make others start cold.
    if (pool.totalCount > 0) return;
    const budget = this.budget!;
    const registry = this.#registry;
    if (budget.used - registry.closingSlots < budget.max) return;
    if (registry.evict(entry, 1) > 0) return;
    if (this.#overflow === 'wait') return; // relieved as connections turn idle
    throw new RoutingError(
      'ERR_ROUTING_BUDGET_EXHAUSTED',
      `Tenant ${JSON.stringify(entry.key)} needs a connection, but the budget "${budget.name}" has all ${budget.max} in use and no idle tenant pool to close (overflow: 'fail')`,
    );
  }

  #budgetFull(): boolean {
    const budget = this.budget!;
    return budget.used - this.#registry.closingSlots >= budget.max;
  }

  /** Once per turn of the event loop at most, after the connections reset in it are idle. */
  #scheduleRelief(): void {
    if (this.#reliefPending) return;
    this.#reliefPending = true;
    setImmediate(this.#relieve);
  }

  /**
   * Run while the budget is full, after a connection of some tenant pool was reset (now idle)
   * and on each sweep: the budget moves slots only from pools above their share to pools
   * below it, so pools holding one idle connection each would keep their slots from a tenant
   * holding none until their idle timeout. Closing the least recently used idle pools, as many
   * slots as the waiting members want, gives the slots back now.
   */
  #relieveStarved(): void {
    this.#reliefPending = false;
    if (!this.#budgetFull()) return;
    const budget = this.budget!;
    // One slot for each member holding none: the others get theirs from the budget's sharing.
    let demand = 0;
    for (const m of budget.stats().members) if (m.wanting > 0 && m.used === 0) demand++;
    // A pipelined query waiting for its first lane may not have told the budget yet.
    if (demand === 0 && this.#registry.anyWaiting(1)) demand = 1;
    if (demand > 0) this.#registry.evict(undefined, demand);
  }

  // --- opening pools ----------------------------------------------------------------------------

  /** A new entry whose pool opens once any old pool of that key is gone and resolve() answered. */
  #open(key: string): TenantEntry<Pool> {
    const registry = this.#registry;
    const previous = registry.closing(key);
    const opening = (async (): Promise<Pool> => {
      if (previous !== undefined) await previous;
      const settings = await this.#resolve(key);
      return this.#makePool(key, settings);
    })();
    const entry = registry.add(key, opening);
    opening.then(
      (pool) => {
        registry.opened(entry, pool); // end() closes it with the others, if it came meanwhile
        this.adopt(pool);
        this.emit('tenantOpened', key);
      },
      () => registry.forget(entry), // not cached: the next call resolves again
    );
    return entry;
  }

  /**
   * The pool itself. Its minimum may not fit the budget beside the others' (a RangeError from
   * the budget): idle tenant pools are closed, least recently used first, until it does.
   */
  async #makePool(key: string, settings: TenantSettings): Promise<Pool> {
    const config = this.#poolConfig(key, settings);
    for (;;) {
      try {
        return new Pool(config);
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        if (this.#registry.evict(undefined, 0) === 0) {
          throw new RoutingError(
            'ERR_ROUTING_BUDGET_EXHAUSTED',
            `Tenant ${JSON.stringify(key)}: the tenants' minimums (perTenant.min) fill the budget "${this.budget!.name}" and no idle tenant pool can be closed`,
          );
        }
        await Promise.all(this.#registry.allClosing());
      }
    }
  }

  /**
   * A tenant pool's config: the shared settings, the tenant's, its SETs on connect, and the
   * reset on release, which ends with those SETs and the pool's timeouts (RESET ALL undid them).
   */
  #poolConfig(key: string, settings: TenantSettings): PoolConfig {
    const setup = tenantSetupSql(settings);
    const onConnect = settings.config?.onConnect ?? this.#shared.onConnect;
    const merged: PoolConfig = { ...this.#shared, ...settings.config };
    const timeouts = timeoutStatements(merged, 'SET');
    const tail = [setup, timeouts].filter((sql) => sql !== undefined).join('; ');
    const reset = tenantResetSql(tail === '' ? undefined : tail);
    const config: PoolConfig = {
      ...merged,
      name: poolName(this.name, key),
      max: this.#max,
      min: this.#min,
      budget: this.budget,
      resetOnRelease: async (client) => {
        await client.query(reset);
        forgetPreparedStatements(client as pg.Client);
        // This connection is about to be idle: a tenant the budget holds back may use its slot.
        if (this.#budgetFull()) this.#scheduleRelief();
      },
      onConnect: async (client) => {
        if (setup !== undefined) await client.query(setup);
        if (onConnect !== undefined) await onConnect(client);
      },
    };
    return withTenantLogin(config, settings);
  }
}
