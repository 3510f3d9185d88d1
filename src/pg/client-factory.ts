/**
 * The core's `Factory` for PostgreSQL: how a connection is opened, checked, cleaned up on
 * return (the release guard) and closed. The core decides *when*; this file knows *how*.
 */
import type pg from 'pg';

import type { DestroyReason, Factory } from '../core/index.js';
import { connectFailure } from './classify.js';
import { PgConnection } from './connection.js';
import { PgClientReclaimedError, PgConnectError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import type { Redactor } from './redact.js';

/** How long a graceful close (Terminate, then FIN) may take before the socket is destroyed. */
const kCloseGraceMillis = 1_000;

/** `ref`/`unref` exist on pg.Client (lib/client.js) but not in @types/pg. */
interface Referable {
  ref?(): void;
  unref?(): void;
}

export class PgClientFactory implements Factory<PgConnection> {
  readonly #options: ResolvedOptions;
  readonly #redactor: Redactor;
  readonly #onIdleFailure: (connection: PgConnection, error: Error) => void;
  readonly #closeGraceMillis: number;
  readonly #leakReclaimMillis: number;
  /** A pool-wide `query_timeout` is set: clients' read timeouts are made typed errors. */
  readonly #typesReadTimeouts: boolean;

  constructor(
    options: ResolvedOptions,
    redactor: Redactor,
    onIdleFailure: (connection: PgConnection, error: Error) => void,
  ) {
    this.#options = options;
    this.#redactor = redactor;
    this.#onIdleFailure = onIdleFailure;
    this.#leakReclaimMillis = options.core.leakReclaimMillis ?? 0;
    const readTimeout = options.clientConfig['query_timeout'];
    this.#typesReadTimeouts = typeof readTimeout === 'number' && readTimeout > 0;
    this.#closeGraceMillis = Math.min(
      kCloseGraceMillis,
      (options.core.destroyTimeoutMillis ?? 5_000) / 2,
    );
  }

  /**
   * Connects, applies the per-pool `SET`s and runs `onConnect`. The abort signal (create
   * timeout, pool ended) destroys the socket, which makes whichever step is running fail.
   */
  async create(signal: AbortSignal): Promise<PgConnection> {
    const options = this.#options;
    let client: pg.Client;
    try {
      client = new options.Client(options.clientConfig);
    } catch (error) {
      throw this.#connectError(error, undefined); // e.g. an unparsable connection string
    }
    const connection = new PgConnection(client, this.#redactor, this.#onIdleFailure);
    if (this.#typesReadTimeouts) connection.typeReadTimeouts();
    const abort = (): void => connection.kill();
    signal.addEventListener('abort', abort, { once: true });
    try {
      await client.connect();
      if (options.setupSql !== undefined) await client.query(options.setupSql);
      if (options.onConnect !== undefined) await options.onConnect(client);
      return connection;
    } catch (error) {
      connection.kill();
      throw this.#connectError(error, client);
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }

  /** A clean close when the connection is healthy (the server logs no "unexpected EOF"). */
  destroy(connection: PgConnection, reason?: DestroyReason): Promise<void> | void {
    connection.markRemoved();
    if (reason === 'leak') {
      // Taken from a borrower who may still be using it: cut it off now, mid-query or not.
      const limit = this.#leakReclaimMillis;
      connection.revoke(() => new PgClientReclaimedError(limit));
      connection.kill();
      return;
    }
    if (!connection.alive) {
      connection.kill();
      return;
    }
    return new Promise<void>((resolve) => {
      // A black-holed peer never acknowledges the close; do not wait for it forever.
      const timer = setTimeout(() => connection.kill(), this.#closeGraceMillis);
      timer.unref();
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      connection.client.end().then(done, done);
    });
  }

  /**
   * Run by the core only on connections idle longer than `validateAfterIdleMillis`, so a
   * connection in steady use costs no round trip. A dead one fails without any.
   */
  validate(connection: PgConnection): Promise<boolean> | boolean {
    if (!connection.alive || connection.busy) return false;
    // The empty query: the cheapest round trip the protocol has (EmptyQueryResponse).
    return connection.client.query('').then(
      () => connection.alive && connection.txStatus === 'I',
      () => false,
    );
  }

  /**
   * The release guard. A client comes back with nothing in flight and outside a transaction
   * (the common case: synchronous, no round trip), or it is brought there: queries still in
   * flight are waited for, an open or failed transaction is rolled back. If that cannot be
   * done, throwing makes the core destroy it. Never handed on carrying state.
   */
  reset(connection: PgConnection): Promise<void> | void {
    if (!connection.alive) {
      throw connection.failure ?? new Error('The connection was closed while checked out');
    }
    if (connection.busy) return connection.whenDrained().then(() => this.reset(connection));
    if (connection.txStatus === 'I') return;
    return rollback(connection);
  }

  /**
   * Lets the core fail waiting callers at once on a connect error that retrying cannot fix
   * (wrong password, unknown database, bad configuration): pg.Pool reports those immediately,
   * and so do we, instead of making callers wait through the backoff.
   */
  retryable(error: unknown): boolean {
    return !(error instanceof PgConnectError) || error.retryable;
  }

  unref(connection: PgConnection): void {
    (connection.client as Referable).unref?.();
  }

  ref(connection: PgConnection): void {
    (connection.client as Referable).ref?.();
  }

  #connectError(error: unknown, client: pg.Client | undefined): PgConnectError {
    // A password from a function, PGPASSWORD or the connection string is known once parsed.
    const redactor = this.#redactor.with(client?.password);
    redactor.error(error);
    const details = connectFailure(error);
    const reason = error instanceof Error ? error.message : String(error);
    const code = details.sqlState ?? details.errno;
    const message = `Could not connect to PostgreSQL: ${reason}${code === undefined ? '' : ` (${code})`}`;
    return new PgConnectError(redactor.text(message), details, error);
  }
}

async function rollback(connection: PgConnection): Promise<void> {
  const before = connection.txStatus;
  await connection.client.query('ROLLBACK');
  if (connection.txStatus !== 'I') {
    throw new Error(
      `The connection was still in transaction state ${connection.txStatus} after ROLLBACK (was ${before})`,
    );
  }
}
