/**
 * The core's `Factory` for PostgreSQL: how a connection is opened, checked, cleaned up on
 * return (the release guard) and closed. The core decides *when*; this file knows *how*.
 */
import type pg from 'pg';

import type { CreateErrorKind, CreateFailureCost, DestroyReason, Factory } from '../core/index.js';
import { connectFailure, connectFailureCost, isRecognizedOutage } from './classify.js';
import { PgConnection } from './connection.js';
import { PgClientReclaimedError, PgConnectError, type FailureDetails } from './errors.js';
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
   * Connects, applies the per-pool `SET`s and runs `onConnect`, then `verify`. The abort
   * signal (create timeout, pool ended) destroys the socket, which makes whichever step is
   * running fail.
   */
  async create(signal: AbortSignal): Promise<PgConnection> {
    const options = this.#options;
    let client: pg.Client;
    try {
      client = new options.Client(options.clientConfig);
    } catch (error) {
      throw this.#connectError(error, undefined, 'connect'); // e.g. an unparsable connection string
    }
    const connection = new PgConnection(client, this.#redactor, this.#onIdleFailure);
    if (this.#typesReadTimeouts) connection.typeReadTimeouts();
    const abort = (): void => connection.kill();
    signal.addEventListener('abort', abort, { once: true });
    let stage: ConnectStage = 'connect';
    try {
      options.log?.('connecting new client'); // pg.Pool's log lines, at the same points
      await connectClient(client);
      options.log?.('new client connected');
      stage = 'setup';
      if (options.setupSql !== undefined) await client.query(options.setupSql);
      stage = 'hook';
      if (options.onConnect !== undefined) await options.onConnect(client);
      if (options.verify !== undefined) await verifyClient(options.verify, client);
      return connection;
    } catch (error) {
      // Judged before the kill: did the session itself break, or only this step?
      const broken = stage !== 'connect' && !connection.alive;
      connection.kill();
      throw this.#connectError(error, client, broken ? 'connect' : stage, connection.failure);
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }

  /**
   * A clean close when the connection is healthy (the server logs no "unexpected EOF"), a cut
   * otherwise. However it ends, the connection is marked closed once, in the `finally`: at once
   * for a cut (before the first `await`, so still inside this call), when pg's `end()` settles
   * for a clean close.
   */
  async destroy(connection: PgConnection, reason?: DestroyReason): Promise<void> {
    connection.markRemoved();
    try {
      if (reason === 'leak') {
        // Taken from a borrower who may still be using it: cut it off now, mid-query or not.
        const limit = this.#leakReclaimMillis;
        connection.revoke(() => new PgClientReclaimedError(limit));
        connection.kill();
        return;
      }
      // A socket still open gets a clean close even after an error (pg.Pool ends such a client
      // too): the server sees a Terminate, not an unexpected EOF.
      if (!connection.socketOpen) {
        connection.kill();
        return;
      }
      await this.#end(connection);
    } finally {
      connection.markClosed();
    }
  }

  /** pg's `client.end()`, bounded: a black-holed peer never acknowledges the close. */
  #end(connection: PgConnection): Promise<void> {
    return new Promise<void>((resolve) => {
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
    const sessionReset = this.#options.resetOnRelease;
    if (sessionReset !== undefined) return resetSession(connection, sessionReset);
    if (connection.txStatus === 'I') return;
    return rollback(connection);
  }

  /**
   * Tells the core which failures are an outage. Only a database that cannot be reached backs
   * off and opens the circuit; an error of the user's own hook goes to the caller it was for,
   * and one retrying cannot fix (wrong password, unknown database, bad configuration) to every
   * caller at once, as pg.Pool reports those immediately.
   */
  classifyCreateError(error: unknown): CreateErrorKind {
    return error instanceof PgConnectError ? error.kind : 'unavailable';
  }

  /**
   * Tells the core what a failure cost the server, so that it backs off by cost: a refused
   * connect is probed again within a few hundred milliseconds, "starting up" (57P03) at a
   * fixed short interval, and only what reached a server process backs off exponentially.
   */
  createFailureCost(error: unknown): CreateFailureCost {
    return error instanceof PgConnectError ? error.cost : 'costly';
  }

  unref(connection: PgConnection): void {
    (connection.client as Referable).unref?.();
  }

  ref(connection: PgConnection): void {
    (connection.client as Referable).ref?.();
  }

  /**
   * The error of a failed creation, with what it means: `stage` is the step that failed
   * ('connect' also when a later step failed because the session broke, `failure`).
   */
  #connectError(
    error: unknown,
    client: pg.Client | undefined,
    stage: ConnectStage,
    failure?: Error,
  ): PgConnectError {
    // A password from a function, PGPASSWORD or the connection string is known once parsed.
    const redactor = this.#redactor.with(client?.password);
    redactor.error(error);
    const judged = stage === 'connect' && failure !== undefined ? failure : error;
    const details = connectFailure(judged);
    const reason = error instanceof Error ? error.message : String(error);
    const code = details.sqlState ?? details.errno;
    const message = `Could not connect to PostgreSQL: ${reason}${code === undefined ? '' : ` (${code})`}`;
    const kind = createErrorKind(stage, details, isRecognizedOutage(judged));
    const cost = stage === 'connect' ? connectFailureCost(judged) : 'costly';
    return new PgConnectError(redactor.text(message), details, error, kind, cost);
  }
}

/**
 * `client.connect()` in both styles pg.Pool supports: pg's Client takes a callback (and then
 * returns nothing), a custom `Client` class may take only a callback or only return a promise.
 * Settles once, on whichever answers first; a promise rejected after the callback answered is
 * handled here, never unhandled.
 */
function connectClient(client: pg.Client): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const callable = client as unknown as { connect(callback: (error?: unknown) => void): unknown };
    const returned = callable.connect((error) => (error ? reject(error) : resolve()));
    if (isThenable(returned)) returned.then(() => resolve(), reject);
  });
}

/**
 * pg.Pool's `verify(client, cb)`: `cb(err)` rejects with `err` as it is, `cb()` accepts. A verify
 * that throws, or returns a promise that rejects, rejects too (pg.Pool would hang).
 */
function verifyClient(
  verify: NonNullable<ResolvedOptions['verify']>,
  client: pg.Client,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const returned: unknown = verify(client as unknown as pg.PoolClient, (error) =>
      error ? reject(error) : resolve(),
    );
    if (isThenable(returned)) returned.then(undefined, reject);
  });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

/** The step of opening a connection: the TCP/TLS/startup handshake, the pool's SETs, hooks. */
type ConnectStage = 'connect' | 'setup' | 'hook';

/**
 * An outage is only what kept us from a working session; a bad password is permanent; a SET
 * the server refused is a configuration error (permanent); a hook that threw on a healthy
 * session (onConnect, verify) is the user's own error for that one caller.
 */
function createErrorKind(
  stage: ConnectStage,
  details: FailureDetails,
  recognizedOutage: boolean,
): CreateErrorKind {
  if (stage === 'hook') return 'rejected';
  if (stage === 'setup') return 'permanent';
  if (!details.retryable) return 'permanent';
  return recognizedOutage ? 'unavailable' : 'rejected';
}

/** A reset that deallocates prepared statements server-side, so pg's record of them must go. */
const kDeallocates = /\bdeallocate\s+(?:prepare\s+)?all\b|\bdiscard\s+all\b/i;

/**
 * `resetOnRelease`: only from a clean state. A connection left in a transaction is not rolled
 * back and reused here: what it did in the session before BEGIN is unknown, so it is destroyed
 * (throwing does that), as is one whose reset fails or leaves a transaction open.
 */
async function resetSession(
  connection: PgConnection,
  reset: NonNullable<ResolvedOptions['resetOnRelease']>,
): Promise<void> {
  if (connection.txStatus !== 'I') {
    throw new Error(`The connection was released inside a transaction (${connection.txStatus})`);
  }
  const client = connection.client;
  if (typeof reset === 'function') await reset(client);
  else {
    await client.query(reset);
    if (kDeallocates.test(reset)) forgetPreparedStatements(client);
  }
  if (!connection.alive || connection.txStatus !== 'I') {
    throw new Error('The session reset left the connection unusable or inside a transaction');
  }
}

/**
 * pg's Connection remembers which named statements it parsed (lib/query.js hasBeenParsed): after
 * a `DEALLOCATE ALL` that record must go, or pg would Bind statements the server dropped.
 */
export function forgetPreparedStatements(client: pg.Client): void {
  const internals = (client as unknown as { connection?: { parsedStatements?: object } })
    .connection;
  if (internals?.parsedStatements !== undefined) internals.parsedStatements = {};
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
