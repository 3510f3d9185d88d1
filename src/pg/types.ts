/**
 * Public types of `lifeguard/pg`. The pg.Pool-compatible surface reuses `@types/pg`; what is
 * ours is the options on top and the per-query / per-transaction settings.
 */
import type pg from 'pg';

import type { PoolOptions as CorePoolOptions, PoolStats } from '../core/index.js';
import type { PreparedStatementStats } from './prepared/policy.js';

/**
 * Server-side timeouts in milliseconds (0 disables one). Unlike pg's startup parameters
 * (`statement_timeout`, ...), these are sent as SQL, so they also work behind PgBouncer.
 */
export interface Timeouts {
  /** `statement_timeout`: cancel a statement running longer than this. */
  statementTimeout?: number | undefined;
  /** `lock_timeout`: give up waiting for a lock after this long. */
  lockTimeout?: number | undefined;
  /** `idle_in_transaction_session_timeout`: end a session idle inside a transaction this long. */
  idleInTransactionSessionTimeout?: number | undefined;
}

/** The core's options that `lifeguard/pg` passes through as they are. */
export type CoreOptions = Pick<
  CorePoolOptions,
  | 'name'
  | 'acquireTimeoutMillis'
  | 'createTimeoutMillis'
  | 'destroyTimeoutMillis'
  | 'maxLifetimeJitter'
  | 'validateAfterIdleMillis'
  | 'validateTimeoutMillis'
  | 'resetTimeoutMillis'
  | 'maxWaiting'
  | 'createRetryBaseMillis'
  | 'createRetryMaxMillis'
  | 'createProbeIntervalMillis'
  | 'circuitBreakerThreshold'
  | 'leakDetectionMillis'
  | 'leakReclaimMillis'
  | 'overloadTargetMillis'
  | 'overloadIntervalMillis'
  | 'reapIntervalMillis'
  | 'asyncStackTraces'
  | 'warmMin'
  | 'budget'
>;

/**
 * Everything `pg.Pool` accepts (connection options go to each `pg.Client`), plus lifeguard's
 * options. See docs/pg.md for the table of defaults.
 */
export interface PoolConfig
  extends Omit<pg.PoolConfig, 'Client' | 'onConnect' | 'verify'>, CoreOptions, Timeouts {
  /**
   * Runs on each new client before anyone uses it; may return a promise (awaited, as pg.Pool
   * does). Throwing rejects that connection.
   */
  onConnect?: ((client: pg.ClientBase) => void | Promise<void>) | undefined;
  /**
   * pg.Pool's check of each new client, after `onConnect`: call `done()` to accept it, or
   * `done(err)` to reject it (it is closed, and the caller waiting for it gets `err`). The
   * client is not checked out yet: do not release it.
   */
  verify?: ((client: pg.PoolClient, done: (err?: Error | null) => void) => void) | undefined;
  /**
   * The Client class to instantiate, as with pg.Pool (it is called with the connection
   * config). @types/pg declares it without that argument; both forms are accepted.
   */
  Client?: (new (config: pg.ClientConfig) => pg.ClientBase) | (new () => pg.ClientBase) | undefined;
  /**
   * Returns each connection to a fresh session when it comes back to the pool, before anyone
   * else gets it: a SQL string (one simple-query round trip, which may hold several
   * statements) or a function given the client. Runs only after a clean release outside a
   * transaction; a connection released inside a transaction (or broken) is destroyed instead
   * of rolled back, and so is one whose reset fails. The pool's own `SET`s (`statementTimeout`,
   * ...) are re-applied in the same round trip; `onConnect` is not run again. A string that
   * deallocates prepared statements (`DEALLOCATE ALL`) also clears pg's record of them. Note
   * that `DISCARD ALL` cannot run in a multi-statement string (PostgreSQL refuses it inside
   * the implicit transaction); spell it out (see docs/pg.md). Default: none (pg.Pool's
   * behaviour: session state set by one user stays for the next).
   */
  resetOnRelease?: string | ((client: pg.ClientBase) => Promise<void>) | undefined;
  /** @deprecated pg-pool's old name for `max`. */
  poolSize?: number | undefined;
  /**
   * How long `end()` waits for checked-out clients before closing them anyway. Default 30 000;
   * `Infinity` waits forever, as pg.Pool does.
   */
  endTimeoutMillis?: number | undefined;
  /**
   * Pipelining of `pool.query()` across callers (default `true`): single statements are written
   * onto a shared connection without waiting for the previous answer, several in flight per
   * connection. `false` restores strictly one query per connection at a time, as pg.Pool does.
   * `connect()` and `transaction()` always get a connection of their own. Not to be confused
   * with pg's Client option `pipeline` (its pipeline mode for one client's own queries), which
   * is passed to the clients untouched, as pg.Pool does. See docs/pipelining.md.
   */
  pipelineQueries?: boolean | undefined;
  /** The most queries in flight on one pipelined connection. Default 256. */
  pipelineDepth?: number | undefined;
  /**
   * A pipelined connection whose oldest query has run longer than this takes no new queries,
   * so that they do not queue behind it. Default 10 ms; `Infinity` turns the check off.
   */
  pipelineSlowQueryMillis?: number | undefined;
  /**
   * A statement (by its text) seen in service longer than `pipelineSlowQueryMillis` on a
   * pipelined connection is no longer pipelined: it runs on a connection of its own, as with
   * `pipelineQueries: false`, so that fast queries are not written behind it, until its runs there are
   * fast again. Default `true`. See docs/pipelining.md.
   */
  pipelineIsolateSlowQueries?: boolean | undefined;
  /**
   * A pipelined connection whose oldest query's answer has brought in more than this many bytes
   * so far takes no new queries, and the statement is run apart from then on, as a slow one.
   * Default 1 MiB (1048576); 0 turns it off. See docs/pipelining.md.
   */
  pipelineLargeResultBytes?: number | undefined;
  /**
   * Automatic prepared statements for `pool.query()`: a query text pg sends with the extended
   * protocol (it has values) gets a named statement on each connection from its second use,
   * so that the server parses and plans it once. `'auto'` (the default) turns itself off
   * behind a connection pooler that loses them (PgBouncer in transaction mode before 1.21);
   * `true` keeps them on whatever happens; `false` sends every query unnamed, as pg.Pool
   * does. See docs/pg.md.
   */
  prepareStatements?: 'auto' | boolean | undefined;
  /** Named statements kept per connection; the least recently used is closed. Default 100. */
  preparedStatementCacheSize?: number | undefined;
}

/** `pool.query()`'s config object: pg's, plus per-query timeouts (run with `SET LOCAL`). */
export interface QueryConfig<I = unknown[]> extends pg.QueryConfig<I> {
  /** Cancel the query after this long (0 disables). Wraps it in a transaction. */
  statementTimeout?: number | undefined;
  /** Stop waiting for a lock after this long (0 disables). Wraps it in a transaction. */
  lockTimeout?: number | undefined;
  /** pg's client-side read timeout; the connection is closed when it fires. */
  query_timeout?: number | undefined;
}

export type QueryArrayConfig<I = unknown[]> = QueryConfig<I> & { rowMode: 'array' };

export type IsolationLevel =
  'serializable' | 'repeatable read' | 'read committed' | 'read uncommitted';

export interface TransactionOptions extends Timeouts {
  isolationLevel?: IsolationLevel | undefined;
  readOnly?: boolean | undefined;
  /** Only meaningful with `serializable` and `readOnly`. */
  deferrable?: boolean | undefined;
  /**
   * How many times to run the whole function again after a serialization failure (40001) or a
   * deadlock (40P01), with jittered exponential backoff. Default 0: the function may have side
   * effects outside the database, so retrying is opt-in.
   */
  retries?: number | undefined;
  /** Aborts waiting for a connection (not a running statement). */
  signal?: AbortSignal | undefined;
}

/** The client a transaction function gets: a real pg.Client, already inside BEGIN. */
export type TransactionClient = pg.ClientBase;

/** One checked-out connection, as `pool.leases()` lists it. */
export interface PgLeaseInfo {
  readonly client: pg.ClientBase;
  /** How long it has been held, in milliseconds. */
  readonly heldMillis: number;
  /** Checkouts of this connection so far, this one included. */
  readonly uses: number;
  /** Where it was acquired; captured only while `leakDetectionMillis` or `leakReclaimMillis` is set. */
  readonly stack: string | undefined;
  /** Lent to pipelined `pool.query()` traffic, not to a caller of `connect()`/`transaction()`. */
  readonly pipelined: boolean;
}

/** `pool.stats()` of lifeguard/pg: the core's snapshot, plus the queries run. */
export interface PgPoolStats extends PoolStats {
  /** `pool.query()` calls since the pool was made (pipelined or not, failed or not). */
  readonly queries: number;
  /** Automatic prepared statements (`prepareStatements`); undefined when turned off by option. */
  readonly preparedStatements?: PreparedStatementStats | undefined;
}
