/**
 * Taking connections from the core and giving them back. Every path (`connect()`, `query()`,
 * `transaction()`) goes through here, so that none of them ever starts work on a connection
 * that is already known to be dead.
 *
 * Two kinds of checkout: exclusive ones (`acquire`: a caller has the connection to itself)
 * and pipeline lanes (`acquireLane`: the pipelined dispatcher shares it between `query()`
 * callers). Lanes would otherwise keep every connection under steady load, so an exclusive
 * caller that has to wait raises `onPressure`, and the dispatcher gives lanes back.
 */
import type { NormalizedOptions, Pool as CorePool, PoolCounts } from '../core/index.js';
import type { PgConnection } from './connection.js';
import { callerError } from './callers.js';
import { PgConnectionLostError } from './errors.js';
import type { PreparePolicy } from './prepared/policy.js';

export class Checkout {
  readonly #core: CorePool<PgConnection>;
  /** Exclusive acquires not yet settled; counted only while someone listens (`onPressure`). */
  #exclusiveWaiting = 0;
  readonly #doneWaiting = (connection: PgConnection): PgConnection => {
    this.#exclusiveWaiting--;
    return connection;
  };
  readonly #failedWaiting = (error: unknown): never => {
    this.#exclusiveWaiting--;
    throw error;
  };
  /**
   * Called, synchronously and before it queues, when an exclusive caller will have to wait
   * because every connection is checked out and no more may be opened.
   */
  onPressure: (() => void) | undefined;
  readonly #onAcquired = (connection: PgConnection): PgConnection | Promise<PgConnection> =>
    this.#check(connection, undefined, 0);
  /** The core's errors, as pg.Pool's callers know them (callers.ts). */
  readonly #onFailed = (error: unknown): never => {
    throw callerError(error);
  };

  /** Automatic prepared statements: each connection gets its cache at its first checkout. */
  readonly #prepare: PreparePolicy | undefined;

  constructor(core: CorePool<PgConnection>, prepare?: PreparePolicy) {
    this.#core = core;
    this.#prepare = prepare;
  }

  /** An exclusive checkout: `connect()`, `transaction()`, a query that cannot be pipelined. */
  acquire(signal?: AbortSignal): Promise<PgConnection> {
    const onPressure = this.onPressure;
    if (onPressure === undefined) return this.#acquire(signal);
    this.#exclusiveWaiting++;
    const core = this.#core;
    if (core.idle === 0 && core.total + core.pendingCreates >= core.options.max) onPressure();
    return this.#acquire(signal).then(this.#doneWaiting, this.#failedWaiting);
  }

  /** A checkout for a pipeline lane: never raises `onPressure`. */
  acquireLane(): Promise<PgConnection> {
    return this.#core.acquire().then(this.#onAcquired, this.#onFailed);
  }

  /** Exclusive callers waiting for a connection (0 unless `onPressure` is set). */
  get exclusiveWaiting(): number {
    return this.#exclusiveWaiting;
  }

  /** Callers in the core's queue, pipeline lanes being acquired included. */
  get coreWaiting(): number {
    return this.#core.waiting;
  }

  /** The core's validated options (`max`, `acquireTimeoutMillis`, ...). */
  get options(): NormalizedOptions {
    return this.#core.options;
  }

  /** The core's gauges, for an `AcquireTimeoutError` raised outside the core. */
  counts(): PoolCounts {
    const core = this.#core;
    return {
      total: core.total,
      idle: core.idle,
      inUse: core.inUse,
      pendingCreates: core.pendingCreates,
      waiting: core.waiting,
    };
  }

  #acquire(signal: AbortSignal | undefined): Promise<PgConnection> {
    if (signal === undefined) return this.#core.acquire().then(this.#onAcquired, this.#onFailed);
    return this.#core.acquire({ signal }).then((c) => this.#check(c, signal, 0), this.#onFailed);
  }

  /** With an error (anything truthy), the connection is destroyed instead of reused. */
  release(connection: PgConnection, error?: unknown): void {
    connection.checkedOut = false;
    connection.releasedWith = error;
    this.#core.release(connection, error);
  }

  /**
   * A connection that broke while idle, too recently for the core's idle validation to look
   * at it, is discarded here without a round trip; the caller gets another one. Bounded, so
   * that a server killing every new session cannot keep us looping.
   */
  #check(
    connection: PgConnection,
    signal: AbortSignal | undefined,
    discarded: number,
  ): PgConnection | Promise<PgConnection> {
    if (connection.alive) {
      connection.checkedOut = true;
      if (connection.statements === undefined && this.#prepare !== undefined) {
        connection.statements = this.#prepare.attach(connection.client);
      }
      return connection;
    }
    const failure = connection.failure ?? new Error('The connection was closed while idle');
    this.#core.release(connection, failure);
    if (discarded >= this.#core.options.max) {
      throw new PgConnectionLostError(
        `Every connection the pool handed out was already broken (${discarded + 1} in a row): ${failure.message}`,
        false,
        { retryable: true, sqlState: undefined, errno: undefined },
        failure,
      );
    }
    const next = signal === undefined ? this.#core.acquire() : this.#core.acquire({ signal });
    return next.then((c) => this.#check(c, signal, discarded + 1), this.#onFailed);
  }
}
