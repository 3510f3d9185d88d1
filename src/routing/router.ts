import { EventEmitter } from 'node:events';

import type pg from 'pg';

import type { ConnectionBudget, BudgetStats, HealthReport } from '../core/index.js';
import type {
  Pool,
  PgPoolStats,
  QueryConfig,
  TransactionClient,
  TransactionOptions,
} from '../pg/index.js';
import { endCalledTwice, usedAfterEnd } from '../pg/internal.js';
import { combineHealth, combineStats } from './combine.js';

/** The pg.Pool events a router passes on from its members, with the same arguments. */
const kMemberEvents = ['connect', 'acquire', 'release', 'remove', 'error'] as const;

/** A router's `stats()`: the members' sums, each member, and the budget they share. */
export interface RouterStats extends PgPoolStats {
  readonly members: Readonly<Record<string, PgPoolStats>>;
  readonly budget: BudgetStats | undefined;
}

/** A router's `health()`: its worst member decides, and every member's report is kept. */
export interface RouterHealthReport extends HealthReport {
  readonly members: Readonly<Record<string, HealthReport>>;
}

/** pg.Pool's `query`, plus a config form that carries a router's hints. */
export type RoutedQuery<Hints> = (<R extends pg.QueryResultRow = pg.QueryResultRow>(
  config: QueryConfig & Hints,
  values?: unknown[],
) => Promise<pg.QueryResult<R>>) &
  Pool['query'];

/**
 * What a call is handed to: a member pool, or a stand-in with the same three methods (a
 * router whose members are opened lazily hands calls to one that waits for the pool).
 */
export type RouteTarget = Pick<Pool, 'query' | 'connect' | 'transaction'>;

/** Where one call goes, and the statement as the member should see it (routing keys taken out). */
export interface Routed<Q> {
  readonly pool: RouteTarget;
  readonly query: Q;
}

/**
 * A pg.Pool-shaped front for several `lifeguard/pg` pools drawing on one `ConnectionBudget`,
 * the way undici's `Agent` is a dispatcher holding pools: code that takes a pg.Pool can take a
 * router. Subclasses decide where each call goes (`routeQuery`, `routeConnect`,
 * `routeTransaction`) and which pools they hold (`members`); this class supplies the rest of
 * the pg.Pool surface (counts, `end`, events) and lifeguard's (`stats`, `health`, `transaction`).
 * `Hints` are the per-call routing options a router reads from transaction options (and
 * query configs), such as `{ lane }`; it takes them out before the member sees the call.
 */
export abstract class PoolRouter<Hints extends object = object> extends EventEmitter {
  readonly #bridged = new Set<string>();
  #ending: Promise<void> | undefined;
  #ended = false;

  /**
   * @param name as `stats()` and `health()` report the router.
   * @param budget the cap the members share, if any (reported by `stats()`).
   */
  constructor(
    readonly name: string,
    readonly budget: ConnectionBudget | undefined,
  ) {
    super();
    this.on('newListener', (event: string | symbol) => {
      if (typeof event === 'string') this.#bridge(event);
    });
  }

  /** The pools the router holds now, by name. */
  abstract members(): ReadonlyMap<string, Pool>;

  /** Where a `query()` goes. `query` is its first argument (text, config or Submittable). */
  protected abstract routeQuery(query: unknown): Routed<unknown>;
  /** Where a `connect()` goes; a throw (no route) is the caller's error, as a rejection. */
  protected abstract routeConnect(): RouteTarget;
  /** Where a `transaction()` goes, and its options as the member should see them. */
  protected abstract routeTransaction(
    options: (TransactionOptions & Hints) | undefined,
  ): Routed<TransactionOptions | undefined>;

  // --- the pg.Pool surface --------------------------------------------------------------------

  /**
   * pg.Pool's `query`, in all its forms, run by the member the router picks; a query config
   * may carry the router's hints (`{ text, values, lane: 'reports' }`).
   */
  readonly query: RoutedQuery<Hints> = ((text: unknown, ...rest: unknown[]) => {
    const refused = this.#refusal();
    if (refused !== undefined) return this.#refuse(refused, text, rest);
    try {
      return this.dispatchQuery(text, rest);
    } catch (error) {
      return this.#refuse(error as Error, text, rest); // an unknown lane, say: as pg would fail
    }
  }) as RoutedQuery<Hints>;

  /**
   * Runs one `query()` call (`text` its first argument, `rest` the others, a callback
   * included) and returns what `query()` returns. By default: the member `routeQuery` picks
   * runs it. Routers that act on the answer (retry elsewhere, record a position) override it.
   */
  protected dispatchQuery(text: unknown, rest: unknown[]): unknown {
    const routed = this.routeQuery(text);
    return (routed.pool.query as (...args: unknown[]) => unknown)(routed.query, ...rest);
  }

  connect(): Promise<pg.PoolClient>;
  connect(callback: (err: Error | undefined, client?: pg.PoolClient, done?: unknown) => void): void;
  connect(
    callback?: (err: Error | undefined, client?: pg.PoolClient, done?: unknown) => void,
  ): Promise<pg.PoolClient> | void {
    const refused = this.#refusal();
    if (refused !== undefined) {
      if (callback === undefined) return Promise.reject(refused);
      process.nextTick(() => callback(refused));
      return;
    }
    let pool: RouteTarget;
    try {
      pool = this.routeConnect();
    } catch (error) {
      if (callback === undefined) return Promise.reject(error);
      process.nextTick(() => callback(error as Error));
      return;
    }
    if (callback === undefined) return pool.connect();
    pool.connect(callback as Parameters<Pool['connect']>[0] & object);
  }

  transaction<R>(
    fn: (client: TransactionClient) => Promise<R> | R,
    options?: TransactionOptions & Hints,
  ): Promise<R> {
    const refused = this.#refusal();
    if (refused !== undefined) return Promise.reject(refused);
    try {
      const routed = this.routeTransaction(options);
      return routed.pool.transaction(fn, routed.query);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Ends every member; as with pg.Pool, a second call is an error. */
  end(): Promise<void>;
  end(callback: (err?: Error) => void): void;
  end(callback?: (err?: Error) => void): Promise<void> | void {
    if (this.#ending !== undefined) {
      const error = endCalledTwice();
      if (callback === undefined) return Promise.reject(error);
      process.nextTick(() => callback(error));
      return;
    }
    this.#ending = this.shutdown().then(() => {
      this.#ended = true;
    });
    if (callback === undefined) return this.#ending;
    void this.#ending.then(() => process.nextTick(() => callback()));
  }

  get totalCount(): number {
    return this.#sum((pool) => pool.totalCount);
  }
  get idleCount(): number {
    return this.#sum((pool) => pool.idleCount);
  }
  get waitingCount(): number {
    return this.#sum((pool) => pool.waitingCount);
  }
  get expiredCount(): number {
    return this.#sum((pool) => pool.expiredCount);
  }
  get ending(): boolean {
    return this.#ending !== undefined;
  }
  get ended(): boolean {
    return this.#ended;
  }

  // --- lifeguard's surface --------------------------------------------------------------------

  stats(): RouterStats {
    const members: Record<string, PgPoolStats> = {};
    for (const [name, pool] of this.members()) members[name] = pool.stats();
    return { ...combineStats(Object.values(members)), members, budget: this.budget?.stats() };
  }

  /** Checks every member at once; the router is as healthy as its members allow. */
  async health(): Promise<RouterHealthReport> {
    const entries = [...this.members()];
    const reports = await Promise.all(entries.map(([, pool]) => pool.health()));
    const members: Record<string, HealthReport> = {};
    entries.forEach(([name], i) => (members[name] = reports[i]!));
    return { ...combineHealth(this.name, members, this.healthWeights()), members };
  }

  /**
   * Which members' health decides the router's: `required` members down make it `down`,
   * others only `degraded`. By default every member is required.
   */
  protected healthWeights(): ReadonlySet<string> | undefined {
    return undefined;
  }

  /** Ends the members; subclasses that hold more (monitors, timers) stop it first. */
  protected async shutdown(): Promise<void> {
    await Promise.all([...this.members().values()].map((pool) => pool.end()));
  }

  /** Subclasses call this for each member they add after construction (lazy members). */
  protected adopt(pool: Pool): void {
    for (const event of this.#bridged) this.#forward(pool, event);
  }

  // --- internals ------------------------------------------------------------------------------

  #refusal(): Error | undefined {
    if (this.#ending === undefined) return undefined;
    return usedAfterEnd();
  }

  #refuse(error: Error, text: unknown, rest: unknown[]): Promise<never> | undefined {
    const callback = [text, ...rest].find((arg) => typeof arg === 'function') as
      ((err: Error) => void) | undefined;
    if (callback === undefined) return Promise.reject(error);
    process.nextTick(() => callback(error));
    return undefined;
  }

  #sum(read: (pool: Pool) => number): number {
    let total = 0;
    for (const pool of this.members().values()) total += read(pool);
    return total;
  }

  /** Members' events of this name reach the router's listeners, from the first listener on. */
  #bridge(event: string): void {
    if (!(kMemberEvents as readonly string[]).includes(event) || this.#bridged.has(event)) return;
    this.#bridged.add(event);
    for (const pool of this.members().values()) this.#forward(pool, event);
  }

  #forward(pool: Pool, event: string): void {
    pool.on(event, (...args: unknown[]) => this.emit(event, ...args));
  }
}
