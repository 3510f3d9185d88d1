import { ConnectionBudget } from '../core/index.js';
import { Pool, type PoolConfig, type TransactionOptions } from '../pg/index.js';
import { RoutingError } from './errors.js';
import { PoolRouter, type Routed } from './router.js';

/** One lane: its own pool settings over the shared ones. */
export interface LaneConfig extends Omit<PoolConfig, 'budget' | 'name'> {
  /** Connections kept for this lane whatever the others do (the budget reserves them). */
  min?: number;
  /** The most this lane may hold. Default: the budget's max. */
  max?: number;
  /** `statement_timeout` for every statement of this lane, in milliseconds (sent as SQL). */
  statementTimeout?: number;
  /**
   * How long a caller of this lane waits for a connection before `ERR_POOL_TIMEOUT`, in
   * milliseconds; lifeguard/pg's `acquireTimeoutMillis`.
   */
  queueTimeout?: number;
}

export interface LanesConfig extends Omit<PoolConfig, 'budget' | 'min' | 'max'> {
  /** The lanes by name, e.g. `{ api: {...}, reports: {...} }`. */
  lanes: Readonly<Record<string, LaneConfig>>;
  /** The lane of calls that name none. Default: the first lane. */
  default?: string;
  /**
   * The cap on all lanes' connections together: a number, or a `ConnectionBudget` shared with
   * other routers or pools. Default: the sum of the lanes' `max`.
   */
  budget?: number | ConnectionBudget;
  /** The router's name; each lane's pool is named `<name>.<lane>`. Default `lanes`. */
  name?: string;
}

/** Per-call routing: `{ lane }` in a query config or in transaction options. */
export interface LaneOption {
  lane?: string;
}

/**
 * Lanes: separate pools for separate kinds of work (fast API queries, slow reports, batch
 * jobs) under one connection budget, so that a flood of slow work cannot take the
 * connections the fast work needs. Each lane has its own `min` (kept for it), `max`,
 * statement timeout and queue timeout. pg.Pool-shaped: calls that name no lane go to the
 * default one.
 *
 * @example
 * const db = createLanes({
 *   connectionString: process.env.DATABASE_URL,
 *   budget: 20,
 *   lanes: {
 *     api: { min: 12, max: 20, statementTimeout: 2_000, queueTimeout: 1_000 },
 *     reports: { max: 8, statementTimeout: 600_000 },
 *   },
 * });
 * await db.query('SELECT 1');                                   // api
 * await db.query({ text: 'SELECT * FROM big_report', lane: 'reports' });
 * await db.lane('reports').query('SELECT ...');
 */
export function createLanes(config: LanesConfig): LaneRouter {
  return new LaneRouter(config);
}

export class LaneRouter extends PoolRouter<LaneOption> {
  readonly #lanes = new Map<string, Pool>();
  readonly #default: Pool;

  constructor(config: LanesConfig) {
    const { lanes, default: defaultLane, budget, name = 'lanes', ...shared } = checked(config);
    const laneMax = Object.values(lanes).map((lane) => lane.max ?? 10);
    const cap =
      budget instanceof ConnectionBudget
        ? budget
        : new ConnectionBudget({ max: budget ?? laneMax.reduce((a, b) => a + b, 0), name });
    super(name, cap);
    for (const [lane, settings] of Object.entries(lanes)) {
      this.#lanes.set(lane, new Pool(laneConfig(name, lane, shared, settings, cap)));
    }
    const first = Object.keys(lanes)[0]!;
    this.#default = this.lane(defaultLane ?? first);
  }

  /** The pool of one lane, for calls that should go there. */
  lane(name: string): Pool {
    const pool = this.#lanes.get(name);
    if (pool === undefined) {
      throw new RoutingError(
        'ERR_ROUTING_UNKNOWN_ROUTE',
        `Unknown lane ${JSON.stringify(name)}; the lanes are ${[...this.#lanes.keys()].join(', ')}`,
      );
    }
    return pool;
  }

  override members(): ReadonlyMap<string, Pool> {
    return this.#lanes;
  }

  protected override routeQuery(query: unknown): Routed<unknown> {
    if (typeof query !== 'object' || query === null || !('lane' in query)) {
      return { pool: this.#default, query };
    }
    const { lane, ...rest } = query as LaneOption & Record<string, unknown>;
    return { pool: lane === undefined ? this.#default : this.lane(lane), query: rest };
  }

  protected override routeConnect(): Pool {
    return this.#default;
  }

  protected override routeTransaction(
    options: (TransactionOptions & LaneOption) | undefined,
  ): Routed<TransactionOptions | undefined> {
    if (options === undefined || !('lane' in options))
      return { pool: this.#default, query: options };
    const { lane, ...rest } = options;
    return { pool: lane === undefined ? this.#default : this.lane(lane), query: rest };
  }
}

function checked(config: LanesConfig): LanesConfig {
  if (typeof config !== 'object' || config === null) {
    throw new RoutingError('ERR_ROUTING_INVALID_CONFIG', 'createLanes() needs a config object');
  }
  const names = Object.keys(config.lanes ?? {});
  if (names.length === 0) {
    throw new RoutingError('ERR_ROUTING_INVALID_CONFIG', 'createLanes() needs at least one lane');
  }
  if (config.default !== undefined && !names.includes(config.default)) {
    throw new RoutingError(
      'ERR_ROUTING_INVALID_CONFIG',
      `The default lane ${JSON.stringify(config.default)} is not one of ${names.join(', ')}`,
    );
  }
  return config;
}

/** A lane's pool config: the shared settings, then the lane's, with its aliases resolved. */
function laneConfig(
  router: string,
  lane: string,
  shared: Omit<LanesConfig, 'lanes' | 'default' | 'budget' | 'name'>,
  settings: LaneConfig,
  budget: ConnectionBudget,
): PoolConfig {
  const { queueTimeout, max, ...rest } = settings;
  const config: PoolConfig = {
    ...shared,
    ...rest,
    name: `${router}.${lane}`,
    max: max ?? budget.max,
    budget,
  };
  if (queueTimeout !== undefined) config.acquireTimeoutMillis = queueTimeout;
  return config;
}
