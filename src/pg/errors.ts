/**
 * Errors of `lifeguard/pg`. They extend the core's `PoolError` (so `instanceof PoolError` and
 * `err.code` work across the whole library) with stable `ERR_PG_*` codes.
 *
 * SQL errors are not here on purpose: a statement that fails on the server rejects with pg's
 * own `DatabaseError`, whose `code` is the SQLSTATE, exactly as with pg.Pool.
 */
import { PoolError, type CreateErrorKind, type CreateFailureCost } from '../core/index.js';

export type PgErrorCode =
  | 'ERR_PG_CONNECT_FAILED'
  | 'ERR_PG_CONNECTION_LOST'
  | 'ERR_PG_TRANSACTION_ABORTED'
  | 'ERR_PG_TRANSACTION_RETRIES_EXHAUSTED'
  | 'ERR_PG_INVALID_ARGUMENT'
  | 'ERR_PG_CLIENT_RECLAIMED'
  | 'ERR_PG_QUERY_TIMEOUT'
  | 'ERR_PG_TRANSACTION_ON_POOL';

/** What the classification found out about a connection-level failure. */
export interface FailureDetails {
  /** Whether trying again (on a new connection) can reasonably succeed. */
  readonly retryable: boolean;
  /** The server's SQLSTATE (`28P01`, `57P01`, ...), when the server said why. */
  readonly sqlState: string | undefined;
  /** The system error code (`ECONNREFUSED`, `ECONNRESET`, ...), when the OS said why. */
  readonly errno: string | undefined;
}

/**
 * Opening a connection failed: refused, timed out, bad credentials, unknown database, a hook
 * that threw. It is what the pool's 'error' event and the `cause` chains carry; callers get
 * the driver's own error (callers.ts), as with pg.Pool, with this one down its `cause`.
 */
export class PgConnectError extends PoolError<PgErrorCode> implements FailureDetails {
  readonly retryable: boolean;
  readonly sqlState: string | undefined;
  readonly errno: string | undefined;
  /** What the failure means to the pool: an outage, one caller's hook, or permanent. */
  readonly kind: CreateErrorKind;
  /**
   * What the attempt cost the server, which paces the next one: `'free'` (refused, never
   * reached it), `'starting'` (57P03) or `'costly'`.
   */
  readonly cost: CreateFailureCost;

  constructor(
    message: string,
    details: FailureDetails,
    cause: unknown,
    kind: CreateErrorKind = details.retryable ? 'unavailable' : 'permanent',
    cost: CreateFailureCost = 'costly',
  ) {
    super('ERR_PG_CONNECT_FAILED', message, { cause });
    this.kind = kind;
    this.cost = cost;
    this.retryable = details.retryable;
    this.sqlState = details.sqlState;
    this.errno = details.errno;
  }
}

/**
 * The connection failed under a query. `mayHaveRun` says whether the statement may have
 * reached the server (and so may have taken effect): when it is `false` the statement
 * certainly did not run, and `pool.query()` has already retried it once on another connection.
 */
export class PgConnectionLostError extends PoolError<PgErrorCode> implements FailureDetails {
  readonly mayHaveRun: boolean;
  readonly retryable: boolean;
  readonly sqlState: string | undefined;
  readonly errno: string | undefined;

  constructor(message: string, mayHaveRun: boolean, details: FailureDetails, cause: unknown) {
    super('ERR_PG_CONNECTION_LOST', message, { cause });
    this.mayHaveRun = mayHaveRun;
    // Retrying a statement that may have run is the caller's decision (is it idempotent?).
    this.retryable = details.retryable && !mayHaveRun;
    this.sqlState = details.sqlState;
    this.errno = details.errno;
  }
}

/**
 * `pool.transaction()`'s function returned normally, but a statement inside it had failed
 * (and the error was caught), so PostgreSQL rolled the transaction back at COMMIT.
 */
export class PgTransactionAbortedError extends PoolError<PgErrorCode> {
  constructor() {
    super(
      'ERR_PG_TRANSACTION_ABORTED',
      'The transaction was rolled back: a statement in it failed and the error was caught inside the transaction function',
    );
  }
}

/** Every attempt of `pool.transaction()` hit a serialization failure or a deadlock. */
export class PgTransactionRetriesExhaustedError extends PoolError<PgErrorCode> {
  readonly attempts: number;
  readonly sqlState: string | undefined;

  constructor(attempts: number, sqlState: string | undefined, cause: unknown) {
    super(
      'ERR_PG_TRANSACTION_RETRIES_EXHAUSTED',
      `The transaction failed ${attempts} times with a serialization failure or deadlock (SQLSTATE ${sqlState ?? 'unknown'})`,
      { cause },
    );
    this.attempts = attempts;
    this.sqlState = sqlState;
  }
}

/** A per-call argument (query config, transaction options) is invalid. */
export class PgInvalidArgumentError extends PoolError<PgErrorCode> {
  readonly argument: string;

  /** `verbatim`: the message is pg.Pool's own for the same mistake, kept word for word. */
  constructor(argument: string, message: string, verbatim = false) {
    super(
      'ERR_PG_INVALID_ARGUMENT',
      verbatim ? message : `Invalid argument "${argument}": ${message}`,
    );
    this.argument = argument;
  }
}

/**
 * The client was held past `leakReclaimMillis`, so the pool took it back and closed it; the
 * borrower used it afterwards. Whatever the borrower was doing with it did not complete.
 */
export class PgClientReclaimedError extends PoolError<PgErrorCode> {
  readonly leakReclaimMillis: number;

  constructor(leakReclaimMillis: number) {
    super(
      'ERR_PG_CLIENT_RECLAIMED',
      `This client was reclaimed by the pool: it was held longer than leakReclaimMillis (${leakReclaimMillis} ms) without being released, and has been closed. Release clients when done, and check out a new one`,
    );
    this.leakReclaimMillis = leakReclaimMillis;
  }
}

/**
 * pg's client-side `query_timeout` fired: no answer came in time. The statement may still be
 * running on the server (`mayHaveRun` is always true), and the connection is closed, not
 * reused: its session is in an unknown state. pg's own error is the `cause`.
 */
export class PgQueryTimeoutError extends PoolError<PgErrorCode> {
  readonly mayHaveRun = true;

  constructor(cause: unknown) {
    super(
      'ERR_PG_QUERY_TIMEOUT',
      'The query got no answer within query_timeout; it may still run on the server, and its connection is closed',
      { cause },
    );
  }
}

/** pg's bare `Error('Query read timeout')` (lib/client.js), made a typed error; others pass. */
export function typedReadTimeout(error: unknown): unknown {
  return error instanceof Error && error.message === 'Query read timeout' && !('code' in error)
    ? new PgQueryTimeoutError(error)
    : error;
}

/**
 * Transaction control went through `pool.query()`, where each call may run on another
 * connection (transaction-control.ts): refused before it ran, or, for a query that left a
 * transaction open, rolled back after it. Nothing of it was committed.
 */
export class PgTransactionOnPoolError extends PoolError<PgErrorCode> {
  readonly statement: string;

  constructor(statement: string, ranAndRolledBack = false) {
    const what = ranAndRolledBack
      ? `This query left a transaction open, so it was rolled back (nothing it did was committed)`
      : `pool.query() cannot run "${statement}"`;
    super(
      'ERR_PG_TRANSACTION_ON_POOL',
      `${what}: each pool.query() may run on a different connection, so a transaction cannot span several of them. Use pool.transaction(async (client) => { ... }), or const client = await pool.connect() and run BEGIN, the statements and COMMIT on that client, then client.release()`,
    );
    this.statement = statement;
  }
}
