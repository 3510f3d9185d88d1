/**
 * A drop-in replacement for `pg.Pool` built on lifeguard's core pool. Same constructor,
 * methods, events and counters; see docs/pg.md for what it adds and where it differs.
 */
import { EventEmitter } from 'node:events';

import type pg from 'pg';

import { Pool as CorePool, PoolClosedError, type HealthReport } from '../core/index.js';
import {
  callBackConnect,
  callBackQuery,
  deferCall,
  promisedAs,
  refuseConnect,
  type ConnectCallback,
  type QueryCallback,
} from './callbacks.js';
import { asPgPoolError, usedAfterEnd } from './callers.js';
import { Checkout } from './checkout.js';
import { PgClientFactory } from './client-factory.js';
import type { PgConnection } from './connection.js';
import { PooledDispatcher, type Dispatcher, type QueryValues } from './dispatch.js';
import { PgInvalidArgumentError, PgTransactionOnPoolError } from './errors.js';
import { checkPgHealth, type PgHealthOptions } from './health.js';
import { resolveOptions } from './options.js';
import { bridgeEvents } from './pool-events.js';
import { attachPoolLog } from './pool-log.js';
import { PipelineDispatcher } from './pipeline/dispatcher.js';
import { PreparePolicy } from './prepared/policy.js';
import { prepareSettings } from './prepared/settings.js';
import { lend } from './pooled-client.js';
import { queryTraced, traceQuery } from './query-channels.js';
import { Redactor } from './redact.js';
import { isSubmittable, submit } from './submit.js';
import { runTransaction } from './transaction.js';
import { transactionControl } from './transaction-control.js';
import type {
  PgLeaseInfo,
  PgPoolStats,
  PoolConfig,
  QueryArrayConfig,
  QueryConfig,
  TransactionClient,
  TransactionOptions,
} from './types.js';

const kEndTwice = 'Called end on pool more than once';

/**
 * @example
 * import { Pool } from 'lifeguard/pg';
 *
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
 * const { rows } = await pool.query('SELECT $1::int AS n', [1]);
 * await pool.transaction(async (client) => {
 *   await client.query('UPDATE accounts SET balance = balance - 10 WHERE id = $1', [1]);
 * }, { isolationLevel: 'serializable', retries: 3 });
 * await pool.end();
 */
export class Pool extends EventEmitter {
  /** The config as pg.Pool shows it, with defaults filled in; credentials not enumerable. */
  readonly options: pg.PoolOptions;
  readonly #core: CorePool<PgConnection>;
  readonly #checkout: Checkout;
  readonly #dispatcher: Dispatcher;
  /** Automatic prepared statements, or undefined with `prepareStatements: false`. */
  readonly #prepare: PreparePolicy | undefined;
  readonly #redactor: Redactor;
  readonly #endTimeoutMillis: number;
  readonly #log: ((...messages: unknown[]) => void) | undefined;
  #ending: Promise<void> | undefined;
  /** `pool.query()` calls, for `stats().queries` (a counter bump: free on the hot path). */
  #queries = 0;
  #ended = false;
  /** pg.Pool's `Promise` option: the class of the promises handed out, when not the global one. */
  readonly #Promise: PromiseConstructorLike | undefined;

  constructor(config?: PoolConfig) {
    super();
    const resolved = resolveOptions(config);
    this.options = resolved.pgOptions;
    this.#redactor = new Redactor(resolved.secrets);
    this.#endTimeoutMillis = resolved.endTimeoutMillis;
    this.#log = resolved.log;
    this.#Promise = resolved.Promise;
    const factory = new PgClientFactory(resolved, this.#redactor, (connection, error) =>
      this.#onIdleFailure(connection, error),
    );
    this.#core = new CorePool(factory, resolved.core);
    attachPoolLog(this.#core, resolved.log);
    const prepare = prepareSettings(config ?? {});
    this.#prepare = prepare === undefined ? undefined : new PreparePolicy(prepare, resolved.log);
    this.#checkout = new Checkout(this.#core, this.#prepare);
    const exclusive = new PooledDispatcher(this.#checkout, this.#redactor);
    this.#dispatcher =
      resolved.pipeline === undefined
        ? exclusive
        : new PipelineDispatcher(
            this.#checkout,
            this.#redactor,
            resolved.pipeline,
            exclusive,
            this.#core,
          );
    bridgeEvents(this, this.#core);
  }

  /**
   * The driver-agnostic pool underneath, for instrumentation (`lifeguard/metrics`, the
   * dashboard): its events and `stats()` describe the connections. With pipelining, one
   * acquire/release there is one lane checkout, not one query.
   */
  get core(): CorePool<PgConnection> {
    return this.#core;
  }
  /** The pool's name (config `name`), as metrics and diagnostics report it. */
  get name(): string {
    return this.#core.name;
  }

  // --- counters, as pg.Pool has them ----------------------------------------------------------

  /** Connections open or being opened. */
  get totalCount(): number {
    return this.#core.total + this.#core.pendingCreates;
  }
  /** Idle connections, emptied pipeline lanes not yet given back to the core included. */
  get idleCount(): number {
    return this.#core.idle + this.#dispatcher.counts().idle;
  }
  /**
   * Callers waiting for a connection, pipelined queries waiting for a lane included. As with
   * pg.Pool, a caller for whom a connection is being opened is not counted: only those that
   * wait beyond the connections being opened (the core's waiters minus its pending creates).
   */
  get waitingCount(): number {
    const core = this.#core;
    const dispatcher = this.#dispatcher.counts();
    const queued = core.waiting - core.pendingCreates - dispatcher.acquiring;
    return Math.max(0, queued) + dispatcher.waiting;
  }
  /** Checked-out connections past `maxLifetimeSeconds`, to be closed when released. */
  get expiredCount(): number {
    return this.#core.expiredCount;
  }
  get ending(): boolean {
    return this.#ending !== undefined;
  }
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Gauges, counters and latency summaries of the underlying pool, plus `queries` (every
   * `pool.query()` call). `shed`, `timeouts` and `rejectedQueueFull` include pipelined queries
   * that met that fate waiting for a lane (outside the core's queue).
   */
  stats(): PgPoolStats {
    const core = this.#core.stats();
    const dispatcher = this.#dispatcher.counts();
    return {
      ...core,
      shed: core.shed + dispatcher.shed,
      timeouts: core.timeouts + dispatcher.timeouts,
      rejectedQueueFull: core.rejectedQueueFull + dispatcher.rejectedQueueFull,
      queries: this.#queries,
      preparedStatements: this.#prepare?.stats(),
    };
  }

  /**
   * The connections checked out right now, longest-held first: the client, how long it has
   * been held, and the stack where it was acquired (captured only while `leakDetectionMillis`
   * or `leakReclaimMillis` is set). `pipelined` marks connections lent to pipelined
   * `pool.query()` traffic rather than to a caller of `connect()` or `transaction()`.
   */
  leases(): PgLeaseInfo[] {
    return this.#core.leases().map(({ resource, heldMillis, uses, stack }) => ({
      client: resource.client,
      heldMillis,
      uses,
      stack,
      pipelined: resource.lane,
    }));
  }

  /**
   * Runs `SELECT 1` through the pool and reports `ok`, `degraded` or `down`, with its latency,
   * the stats and the circuit state. Answers within `timeoutMillis` (default 5 s) and never
   * rejects; concurrent calls share one check. See docs/health.md.
   */
  health(options?: PgHealthOptions): Promise<HealthReport> {
    return checkPgHealth(this, options);
  }

  // --- connect ----------------------------------------------------------------------------------

  /**
   * Checks out a client for several statements. Give it back with `client.release()`; a
   * client released inside a transaction is rolled back first. `release(err)` destroys it.
   */
  connect(): Promise<pg.PoolClient>;
  connect(callback: ConnectCallback): void;
  connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    if (this.#ending !== undefined) {
      const refused = usedAfterEnd();
      if (callback === undefined) return this.#promised(Promise.reject(refused));
      refuseConnect(refused, callback);
      return;
    }
    const checkout = this.#checkout;
    const client = checkout.acquire().then((connection) => lend(connection, checkout));
    if (callback === undefined) return this.#promised(client);
    callBackConnect(client, callback);
  }

  // --- query --------------------------------------------------------------------------------------

  /**
   * Runs one statement on a pooled connection. pg's forms, plus `statementTimeout` and
   * `lockTimeout` in the config object (applied with `SET LOCAL`).
   */
  query<T extends pg.Submittable>(queryStream: T): T;
  query<R extends unknown[] = unknown[], I = unknown[]>(
    queryConfig: QueryArrayConfig<I>,
    values?: pg.QueryConfigValues<I>,
  ): Promise<pg.QueryArrayResult<R>>;
  query<R extends pg.QueryResultRow = pg.QueryResultRow, I = unknown[]>(
    queryConfig: QueryConfig<I>,
  ): Promise<pg.QueryResult<R>>;
  query<R extends pg.QueryResultRow = pg.QueryResultRow, I = unknown[]>(
    queryTextOrConfig: string | QueryConfig<I>,
    values?: pg.QueryConfigValues<I>,
  ): Promise<pg.QueryResult<R>>;
  query<R extends unknown[] = unknown[], I = unknown[]>(
    queryConfig: QueryArrayConfig<I>,
    callback: QueryCallback<pg.QueryArrayResult<R>>,
  ): void;
  query<R extends pg.QueryResultRow = pg.QueryResultRow, I = unknown[]>(
    queryTextOrConfig: string | QueryConfig<I>,
    callback: QueryCallback<pg.QueryResult<R>>,
  ): void;
  query<R extends pg.QueryResultRow = pg.QueryResultRow, I = unknown[]>(
    queryText: string,
    values: pg.QueryConfigValues<I>,
    callback: QueryCallback<pg.QueryResult<R>>,
  ): void;
  query(
    text: unknown,
    values?: unknown,
    callback?: QueryCallback<pg.QueryResult>,
  ): Promise<pg.QueryResult> | pg.Submittable | undefined {
    if (typeof values === 'function') {
      callback = values as QueryCallback<pg.QueryResult>;
      values = undefined;
    } else if (typeof text === 'function' && callback === undefined) {
      // pg.Pool calls such a function back with the error, as if it were the callback.
      callback = text as QueryCallback<pg.QueryResult>;
    }
    this.#queries++;
    if (isSubmittable(text)) return submit(this.#checkout, text);
    const refusal = this.#refusal(text);
    const result =
      refusal !== undefined
        ? Promise.reject(refusal)
        : queryTraced()
          ? traceQuery(this, this.#core.name, queryText(text), () =>
              this.#dispatcher.dispatch(text as string | QueryConfig, values as QueryValues),
            )
          : this.#dispatcher.dispatch(text as string | QueryConfig, values as QueryValues);
    if (callback === undefined) return this.#promised(result);
    callBackQuery(result, callback);
    return undefined;
  }

  // --- transaction --------------------------------------------------------------------------------

  /**
   * Runs `fn` inside BEGIN/COMMIT on one connection; rolls back if it throws. With `retries`,
   * runs it again after a serialization failure (40001) or deadlock (40P01).
   *
   * @example
   * const total = await pool.transaction(async (client) => {
   *   const { rows } = await client.query('SELECT sum(balance) AS total FROM accounts');
   *   return rows[0].total;
   * }, { isolationLevel: 'serializable', readOnly: true, retries: 3, statementTimeout: 5_000 });
   */
  transaction<R>(
    fn: (client: TransactionClient) => Promise<R> | R,
    options?: TransactionOptions,
  ): Promise<R> {
    if (this.#ending !== undefined) return this.#promised(Promise.reject(usedAfterEnd()));
    return this.#promised(runTransaction(this.#checkout, this.#redactor, fn, options));
  }

  // --- end ------------------------------------------------------------------------------------------

  /**
   * Closes the pool, losing no work: new calls are refused at once; queries and `connect()`
   * calls already made are still served, and in-flight ones finish; then every connection is
   * closed. Connections still checked out after `endTimeoutMillis` (default 30 s) are closed
   * anyway, and what still waits then fails with `ERR_POOL_CLOSED`. The promise never
   * rejects; as with pg.Pool, calling `end()` again is an error ('Called end on pool more than
   * once').
   */
  end(): Promise<void>;
  end(callback: (err?: Error) => void): void;
  end(callback?: (err?: Error) => void): Promise<void> | void {
    if (this.#ending !== undefined) {
      // As pg.Pool: the second call is an error (the first one's promise still settles).
      const error = asPgPoolError(kEndTwice, new PoolClosedError(kEndTwice));
      if (callback === undefined) return this.#promised(Promise.reject(error));
      deferCall(() => callback(error));
      return;
    }
    this.#log?.('ending');
    this.#ending = this.#shutdown();
    // As pg.Pool: a pool with nothing open or waiting is ended at once.
    if (this.#nothingOpen()) this.#ended = true;
    if (callback === undefined) return this.#promised(this.#ending);
    void this.#ending.then(() => deferCall(() => callback()));
  }

  /**
   * Pipelined queries are answered first (their lanes come and go through the core, which is
   * still open for them), then the core drains its own queue and closes.
   */
  async #shutdown(): Promise<void> {
    const timeout = this.#endTimeoutMillis;
    const startedAt = performance.now();
    await this.#dispatcher.whenIdle(timeout);
    this.#dispatcher.close();
    const left = Math.max(0, timeout - (performance.now() - startedAt));
    await this.#core.end({ timeoutMillis: left });
    this.#ended = true;
  }

  /** `promise` as an instance of the `Promise` option's class, when one was given. */
  #promised<T>(promise: Promise<T>): Promise<T> {
    return promisedAs(this.#Promise, promise);
  }

  #nothingOpen(): boolean {
    const core = this.#core;
    return (
      core.total + core.pendingCreates + core.waiting === 0 &&
      this.#dispatcher.counts().waiting === 0
    );
  }

  /** Why `query(text)` must not run, or undefined when it may. */
  #refusal(text: unknown): Error | undefined {
    if (typeof text === 'function') {
      const message = 'Passing a function as the first parameter to pool.query is not supported';
      return asPgPoolError(message, new PgInvalidArgumentError('query', message, true));
    }
    if (this.#ending !== undefined) return usedAfterEnd();
    const statement = transactionControl(text);
    return statement === undefined ? undefined : new PgTransactionOnPoolError(statement);
  }

  // --- events ---------------------------------------------------------------------------------------

  /**
   * An idle connection broke (server restart, `pg_terminate_backend`, network loss). It is
   * removed at once ('remove', from the core's 'destroy') and replaced if callers wait or
   * `min` requires; one being validated or reset is removed when that ends. Then 'error', as
   * pg.Pool does (removed first, so listeners see the counts without it). With no 'error'
   * listener nothing is thrown: unlike pg.Pool, an idle error does not crash the process.
   */
  #onIdleFailure(connection: PgConnection, error: Error): void {
    // As pg.Pool: the error names its client (a plain property, as pg-pool sets it).
    (error as Error & { client?: pg.ClientBase }).client = connection.client;
    this.#log?.('idle client error', error.message);
    this.#core.evict(connection, error);
    if (this.listenerCount('error') > 0) this.emit('error', error, connection.client);
  }
}

/** The statement text of `query()`'s first argument, for tracing. */
function queryText(text: unknown): string {
  if (typeof text === 'string') return text;
  const config = text as { text?: unknown } | null | undefined;
  return typeof config?.text === 'string' ? config.text : '';
}
