/**
 * One pooled connection: the real `pg.Client` users get, plus what the pool must know about
 * it without a round trip. Is it still alive? Is a query in flight? Which transaction state
 * did the server last report (ReadyForQuery `I`, `T` or `E`)?
 *
 * The core pools `PgConnection`s; users only ever see `connection.client`.
 */
import type pg from 'pg';

import { typedReadTimeout } from './errors.js';
import type { StatementCache } from './prepared/statement-cache.js';
import type { Redactor } from './redact.js';

/**
 * The parts of pg's Client (lib/client.js) we read. All optional: a custom `Client` class
 * that lacks one is taken to be healthy on that count. pg-pool reads the same fields.
 */
interface ClientInternals {
  _ending?: boolean;
  _ended?: boolean;
  _queryable?: boolean;
  _activeQuery?: unknown;
  _queryQueue?: unknown[];
  /** pg >= 8.23 in pipeline mode: queries written to the socket, not yet the active one. */
  _sentQueryQueue?: unknown[];
  _pulsePipelinedQueryQueue?: unknown;
  pipeline?: boolean;
  readyForQuery?: boolean;
  connection?: {
    stream?: { destroyed?: boolean; writable?: boolean; destroy(): void };
    on?(event: 'readyForQuery', listener: (message: { status?: string }) => void): unknown;
  };
}

export type TransactionStatus = 'I' | 'T' | 'E';

export class PgConnection {
  readonly client: pg.Client;
  /** Held by a caller (`connect()`, `query()`, `transaction()`); maintained by `Checkout`. */
  checkedOut = false;
  /**
   * The pipeline lane holding it (pipeline/lane.ts), told at once about the failure that
   * breaks the connection: the lane must stop taking queries then, not when the first of its
   * queries calls back. Set exactly while it is a lane (`joinLane` / `leaveLane`).
   */
  /**
   * What the last `release()` was given, for pg.Pool's 'release' event: `null` after
   * `pool.query()` (pg.Pool hands on the query callback's `err`), `undefined` after `release()`.
   */
  releasedWith: unknown;
  /** Its named statements (prepared/), set at its first checkout when the pool prepares. */
  statements: StatementCache | undefined = undefined;
  #lane: ((error: Error) => void) | undefined;
  #failure: Error | undefined;
  #ended = false;
  #closed = false;
  #onClosed: (() => void) | undefined;

  /** Held by the pipelined dispatcher as a lane. */
  get lane(): boolean {
    return this.#lane !== undefined;
  }

  /** Becomes a lane: `onFailure` hears of the failure that breaks it, once. */
  joinLane(onFailure: (error: Error) => void): void {
    this.#lane = onFailure;
  }

  /** Is a lane no more. */
  leaveLane(): void {
    this.#lane = undefined;
  }

  /** Set once the pool decided to close it; later errors are expected, not news. */
  #removed = false;
  #txStatus: TransactionStatus = 'I';
  readonly #tracksStatus: boolean;
  /** pg's pipeline mode as the client was configured (pg's own `pipeline` option). */
  readonly #configuredPipeline: boolean;

  constructor(
    client: pg.Client,
    redactor: Redactor,
    onIdleFailure: (connection: PgConnection, error: Error) => void,
  ) {
    this.client = client;
    this.#configuredPipeline = (client as unknown as ClientInternals).pipeline === true;
    // Attached before connecting and never removed: an idle client that errors must not
    // crash the process for want of a listener (pg.Pool's behaviour between checkouts).
    client.on('error', (error: Error) => {
      // Masked here, synchronously: pg hands this same object to the queries it fails, on
      // the next tick.
      redactor.with(client.password).error(error);
      if (this.#failure !== undefined) return; // pg reports the FATAL, then the lost socket
      this.#failure = error;
      if (!this.checkedOut && !this.#removed) onIdleFailure(this, error);
      else this.#lane?.(error);
    });
    client.on('end', () => {
      this.#ended = true;
    });
    // The transaction status from each ReadyForQuery, for the release guard.
    const connection = (client as unknown as ClientInternals).connection;
    this.#tracksStatus = typeof connection?.on === 'function';
    connection?.on?.('readyForQuery', (message) => {
      const status = message.status;
      if (status === 'I' || status === 'T' || status === 'E') this.#txStatus = status;
    });
  }

  /** The error that broke the connection, if one did. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Usable for a new query, as far as this process can tell without a round trip. */
  get alive(): boolean {
    if (this.#failure !== undefined || this.#ended) return false;
    const c = this.client as unknown as ClientInternals;
    if (c._ending === true || c._ended === true || c._queryable === false) return false;
    const stream = c.connection?.stream;
    return stream === undefined || (stream.destroyed !== true && stream.writable !== false);
  }

  /** The socket can still carry a Terminate: a clean close is possible. */
  get socketOpen(): boolean {
    const c = this.client as unknown as ClientInternals;
    if (this.#ended || c._ended === true) return false;
    const stream = c.connection?.stream;
    return stream !== undefined && stream.destroyed !== true && stream.writable !== false;
  }

  /** A query is running or queued, or the reply to a failed one has not finished arriving. */
  get busy(): boolean {
    return (this.client as unknown as ClientInternals).readyForQuery === false || this.running;
  }

  /**
   * A statement is still executing or queued. pg keeps a query that hit its client-side
   * `query_timeout` as the active one until the server answers.
   */
  get running(): boolean {
    const c = this.client as unknown as ClientInternals;
    return (
      (c._activeQuery !== undefined && c._activeQuery !== null) ||
      (c._queryQueue?.length ?? 0) > 0 ||
      // In pipeline mode pg clears the active query before its callback runs and only then
      // promotes the next sent one: in between, this queue is the only trace of it.
      (c._sentQueryQueue?.length ?? 0) > 0
    );
  }

  /**
   * pg's client has its built-in pipeline mode (pg >= 8.23; not pg-native, not a mock), whether
   * it was configured on (pg's `pipeline: true`) or off.
   */
  get supportsPipeline(): boolean {
    const c = this.client as unknown as ClientInternals;
    return (
      typeof c.pipeline === 'boolean' &&
      Array.isArray(c._sentQueryQueue) &&
      typeof c._pulsePipelinedQueryQueue === 'function'
    );
  }

  /**
   * Switches pg's pipeline mode. pg reads the flag each time it sends, so switching is safe
   * only while nothing is queued, sent or active; callers check `busy` first.
   */
  setPipeline(on: boolean): void {
    (this.client as unknown as ClientInternals).pipeline = on;
  }

  /**
   * Puts pg's pipeline mode back as the client was configured, when the connection stops being
   * a lane: off by default, on for a pool given pg's own `pipeline: true`. Same care as
   * `setPipeline`.
   */
  restorePipeline(): void {
    this.setPipeline(this.#configuredPipeline);
  }

  /** `I` idle, `T` in a transaction, `E` in a failed transaction, as of the last reply. */
  get txStatus(): TransactionStatus {
    if (this.#tracksStatus) return this.#txStatus;
    const status = this.client.getTransactionStatus?.();
    return status === 'T' || status === 'E' ? status : 'I';
  }

  /** Resolves when pg has finished every query it holds (its `drain`); rejects if it breaks. */
  whenDrained(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const client = this.client;
      const done = (): void => {
        client.off('drain', done);
        client.off('end', failed);
        client.off('error', failed);
        if (this.alive) resolve();
        else reject(this.#failure ?? new Error('The connection closed while draining'));
      };
      const failed = (): void => done();
      client.on('drain', done);
      client.on('end', failed);
      client.on('error', failed);
    });
  }

  /** Marks it as being removed by the pool, so its closing errors are not reported. */
  markRemoved(): void {
    this.#removed = true;
  }

  /**
   * Calls `fn` (in a microtask) once the pool has closed this connection: pg.Pool emits
   * 'remove' when its client has ended, not when it decides to remove it. One listener (the
   * pool's event bridge).
   */
  whenClosed(fn: () => void): void {
    if (this.#closed) queueMicrotask(fn);
    else this.#onClosed = fn;
  }

  /** The close the pool asked for is done (ended cleanly, or its socket destroyed). */
  markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    const fn = this.#onClosed;
    this.#onClosed = undefined;
    // A microtask: after the code that released it, before `end()` resolves.
    if (fn !== undefined) queueMicrotask(fn);
  }

  /**
   * The pool took it back from a borrower who held it too long (leak reclaim): from now on
   * every `client.query` fails with `error()` instead of pg's untyped "not queryable".
   * The client is never pooled again, so replacing its method is safe.
   */
  revoke(error: () => Error): void {
    const client = this.client as unknown as { query: (...args: unknown[]) => unknown };
    client.query = (...args: unknown[]): unknown => {
      const last = args[args.length - 1];
      const first = args[0] as { callback?: unknown } | undefined;
      const callback =
        typeof last === 'function'
          ? last
          : typeof first?.callback === 'function'
            ? first.callback
            : undefined;
      const failure = error();
      if (callback !== undefined) {
        process.nextTick(callback, failure);
        return undefined;
      }
      return Promise.reject(failure);
    };
  }

  /**
   * With a pool-wide `query_timeout`, pg fails a late query with a bare
   * `Error('Query read timeout')`; on clients lent by `connect()` and `transaction()` it becomes
   * a `PgQueryTimeoutError` (`ERR_PG_QUERY_TIMEOUT`) like everywhere else. Installed only
   * then: such pools do not pipeline, so the wrapper is never on the pipelined hot path.
   */
  typeReadTimeouts(): void {
    const client = this.client as unknown as { query: (...args: unknown[]) => unknown };
    const query = client.query;
    client.query = function (this: unknown, ...args: unknown[]): unknown {
      const last = args.length - 1;
      const callback = args[last];
      if (typeof callback === 'function') {
        args[last] = (error: unknown, result: unknown) =>
          (callback as (e: unknown, r: unknown) => void)(
            error === null || error === undefined ? error : typedReadTimeout(error),
            result,
          );
        return query.apply(this, args);
      }
      const result = query.apply(this, args) as { then?: unknown } | undefined;
      const submittable = typeof (args[0] as { submit?: unknown } | null)?.submit === 'function';
      if (submittable || typeof result?.then !== 'function') return result;
      return (result as Promise<unknown>).then(undefined, (error: unknown) => {
        throw typedReadTimeout(error);
      });
    };
  }

  /** Closes the socket at once, without the Terminate message. */
  kill(): void {
    this.#removed = true;
    (this.client as unknown as ClientInternals).connection?.stream?.destroy();
  }
}
