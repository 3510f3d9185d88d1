/**
 * `pool.query()`: acquire → query → classify → release, in one place. This is the exclusive
 * path: one query per connection at a time. It is all of `pool.query()` with
 * `pipeline: false`, and otherwise the route for what cannot be pipelined (pipeline/pipelinable.ts);
 * the pipelined dispatcher (pipeline/dispatcher.ts) wraps it. Nothing else in `lifeguard/pg` runs a
 * pool-level query.
 *
 * Classification after a failure:
 * - the connection is still alive and the server did not end the session: a SQL error (or a
 *   client-side one, such as a bad parameter). The connection goes back to the pool (pg.Pool
 *   would discard it) and the caller gets pg's error unchanged (`code` is the SQLSTATE);
 * - otherwise the connection is destroyed. If the failure proves the statement was never
 *   written, the query is retried once on another connection; if not, the caller gets a
 *   `PgConnectionLostError` with `mayHaveRun: true`, never a silent retry.
 */
import type pg from 'pg';

import { explain, provesNotSent } from './classify.js';
import type { PgConnection } from './connection.js';
import {
  type PgConnectionLostError,
  PgTransactionOnPoolError,
  typedReadTimeout,
} from './errors.js';
import { connectionLost, kNotSentTwice, sessionSurvived } from './outcome.js';
import { queryOn } from './prepared/send.js';
import type { Redactor } from './redact.js';
import { hasTimeouts, timeoutStatements } from './timeouts.js';
import type { QueryConfig } from './types.js';

export type QueryInput = string | QueryConfig;
export type QueryValues = unknown[] | undefined;

export interface Dispatcher {
  dispatch(query: QueryInput, values: QueryValues): Promise<pg.QueryResult>;
  /** What the dispatcher holds and has counted itself, outside the core (see `DispatcherCounts`). */
  counts(): DispatcherCounts;
  /**
   * Resolves once the dispatcher holds nothing (no query waiting, no connection of its own),
   * or after `timeoutMillis`. `end()` waits for it before it closes the core.
   */
  whenIdle(timeoutMillis: number): Promise<void>;
  /** The pool is ending: fail what still waits here, keep nothing back from the core. */
  close(): void;
}

/** A snapshot of what a dispatcher holds and has counted, outside the core's own figures. */
export interface DispatcherCounts {
  /** Queries waiting inside the dispatcher itself, not in the core's queue. */
  readonly waiting: number;
  /** Connections the dispatcher is itself waiting for in the core's queue. */
  readonly acquiring: number;
  /**
   * Connections the dispatcher holds with nothing to do: checked out as far as the core knows,
   * idle as far as `idleCount` is concerned (the pipelined path keeps an emptied lane until the
   * end of the current turn of the event loop).
   */
  readonly idle: number;
  /** Queries the dispatcher shed as overload from its own queue (the core counts its own). */
  readonly shed: number;
  /** Queries that timed out waiting in the dispatcher's own queue. */
  readonly timeouts: number;
  /** Queries refused by `maxWaiting` at the dispatcher's own queue. */
  readonly rejectedQueueFull: number;
}

/** The exclusive path's counts: its callers wait in the core's queue, which counts them. */
const kNothing: DispatcherCounts = Object.freeze({
  waiting: 0,
  acquiring: 0,
  idle: 0,
  shed: 0,
  timeouts: 0,
  rejectedQueueFull: 0,
});

/**
 * Where the exclusive path takes connections from and gives them back: the pool's `Checkout`
 * (`connect()`-style checkouts), or, for isolated slow statements, lane-style checkouts that
 * put no pressure on the pipelined lanes (pipeline/isolation.ts).
 */
export interface ConnectionSource {
  acquire(): Promise<PgConnection>;
  release(connection: PgConnection, error?: unknown): void;
}

/** Where a wrapped query (per-query timeouts) was when it failed. */
type Stage = 'begin' | 'query' | 'commit';

export class PooledDispatcher implements Dispatcher {
  readonly #checkout: ConnectionSource;
  readonly #redactor: Redactor;

  constructor(checkout: ConnectionSource, redactor: Redactor) {
    this.#checkout = checkout;
    this.#redactor = redactor;
  }

  counts(): DispatcherCounts {
    return kNothing;
  }

  /** Its callers wait in the core's queue, which `end()` drains. */
  whenIdle(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {}

  dispatch(query: QueryInput, values: QueryValues): Promise<pg.QueryResult> {
    if (typeof query === 'object' && query !== null && hasTimeouts(query)) {
      let setup: string | undefined;
      try {
        setup = timeoutStatements(query, 'SET LOCAL');
      } catch (error) {
        return Promise.reject(error);
      }
      if (setup !== undefined) return this.#runWrapped(query, values, setup, true);
    }
    return this.#run(query, values, true);
  }

  /** The hot path: no allocation beyond pg's own and two closures. */
  #run(query: QueryInput, values: QueryValues, mayRetry: boolean): Promise<pg.QueryResult> {
    return this.#checkout.acquire().then((connection) =>
      queryOn(connection, query, values).then(
        (result) => {
          // Released either way; the release guard rolls back a transaction left open.
          const leftOpen = connection.txStatus !== 'I';
          // `null`, as pg.Pool releases with the query callback's `err` (its 'release' event).
          this.#checkout.release(connection, null);
          if (leftOpen) throw new PgTransactionOnPoolError(statementTextOf(query), true);
          return result;
        },
        (error: unknown) => {
          if (this.#releaseAfter(connection, error)) throw typedReadTimeout(error);
          const notSent = provesNotSent(error);
          if (notSent && mayRetry) return this.#run(query, values, false);
          throw this.#lost(explain(error, connection.failure), !notSent, 'query');
        },
      ),
    );
  }

  /**
   * A query with its own timeouts: `BEGIN; SET LOCAL ...` (one round trip), the query,
   * `COMMIT`. On a SQL error the release guard rolls the transaction back.
   */
  async #runWrapped(
    query: QueryConfig,
    values: QueryValues,
    setup: string,
    mayRetry: boolean,
  ): Promise<pg.QueryResult> {
    const connection = await this.#checkout.acquire();
    let stage: Stage = 'begin';
    try {
      await connection.client.query(`BEGIN; ${setup}`);
      stage = 'query';
      const result = await send(connection, query, values);
      stage = 'commit';
      await connection.client.query('COMMIT');
      this.#checkout.release(connection, null);
      return result;
    } catch (error) {
      if (this.#releaseAfter(connection, error)) throw typedReadTimeout(error);
      const notSent = stage === 'begin' || provesNotSent(error);
      if (notSent && mayRetry) return this.#runWrapped(query, values, setup, false);
      throw this.#lost(explain(error, connection.failure), !notSent, stage);
    }
  }

  /**
   * Releases the connection after a failure: kept when only the statement failed, destroyed
   * when the session did (or when the statement is still running there, after pg's
   * client-side `query_timeout`). Returns true when the session itself was fine, i.e. the
   * caller should get pg's error unchanged.
   */
  #releaseAfter(connection: PgConnection, error: unknown): boolean {
    const sessionOk = sessionSurvived(connection, error);
    if (sessionOk && !connection.running) this.#checkout.release(connection);
    else this.#checkout.release(connection, error ?? new Error('The query failed'));
    return sessionOk;
  }

  #lost(error: unknown, mayHaveRun: boolean, stage: Stage): PgConnectionLostError {
    const where = !mayHaveRun
      ? kNotSentTwice
      : stage === 'commit'
        ? 'during COMMIT; the query may or may not have been committed'
        : 'while the query ran; it may have taken effect';
    return connectionLost(this.#redactor, error, mayHaveRun, where);
  }
}

/** pg's client.query, with a synchronous throw (null query, bad config) made a rejection. */
function send(
  connection: PgConnection,
  query: QueryInput,
  values: QueryValues,
): Promise<pg.QueryResult> {
  try {
    return connection.client.query(query as pg.QueryConfig, values);
  } catch (error) {
    return Promise.reject(error);
  }
}

function statementTextOf(query: QueryInput): string {
  return typeof query === 'string' ? query : String(query.text);
}
