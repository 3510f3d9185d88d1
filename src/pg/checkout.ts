/**
 * Taking connections from the core and giving them back. Every path (`connect()`, `query()`,
 * `transaction()`) goes through here, so that none of them ever starts work on a connection
 * that is already known to be dead.
 */
import type { Pool as CorePool } from '../core/index.js';
import type { PgConnection } from './connection.js';
import { PgConnectionLostError } from './errors.js';

export class Checkout {
  readonly #core: CorePool<PgConnection>;
  readonly #onAcquired = (connection: PgConnection): PgConnection | Promise<PgConnection> =>
    this.#check(connection, undefined, 0);

  constructor(core: CorePool<PgConnection>) {
    this.#core = core;
  }

  acquire(signal?: AbortSignal): Promise<PgConnection> {
    if (signal === undefined) return this.#core.acquire().then(this.#onAcquired);
    return this.#core.acquire({ signal }).then((c) => this.#check(c, signal, 0));
  }

  /** With an error (anything truthy), the connection is destroyed instead of reused. */
  release(connection: PgConnection, error?: unknown): void {
    connection.checkedOut = false;
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
    return next.then((c) => this.#check(c, signal, discarded + 1));
  }
}
