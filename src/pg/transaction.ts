/**
 * `pool.transaction(fn, options)`: BEGIN, fn, COMMIT on one dedicated connection, with the
 * whole function run again after a serialization failure or deadlock when asked to.
 *
 * Rolling back is the release guard's job (client-factory.ts `reset`): a connection given
 * back inside an open or failed transaction is rolled back, or destroyed if that fails. So
 * every failure path here just releases, and cannot forget to roll back.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import type { Checkout } from './checkout.js';
import { explain, isSerializationFailure, provesNotSent } from './classify.js';
import type { PgConnection } from './connection.js';
import {
  PgInvalidArgumentError,
  PgTransactionAbortedError,
  PgTransactionRetriesExhaustedError,
} from './errors.js';
import { connectionLost, sessionSurvived } from './outcome.js';
import type { Redactor } from './redact.js';
import { timeoutStatements } from './timeouts.js';
import type { TransactionClient, TransactionOptions } from './types.js';

/** Full-jitter backoff between attempts: random(0, min(max, base * 2^n)). */
const kRetryBaseMillis = 10;
const kRetryMaxMillis = 1_000;

const isolationLevels = new Set([
  'serializable',
  'repeatable read',
  'read committed',
  'read uncommitted',
]);
const optionKeys = new Set([
  'isolationLevel',
  'readOnly',
  'deferrable',
  'retries',
  'signal',
  'statementTimeout',
  'lockTimeout',
  'idleInTransactionSessionTimeout',
]);

interface Plan {
  /** `BEGIN ...; SET LOCAL ...`: one round trip. */
  readonly begin: string;
  readonly retries: number;
  readonly signal: AbortSignal | undefined;
}

export async function runTransaction<R>(
  checkout: Checkout,
  redactor: Redactor,
  fn: (client: TransactionClient) => Promise<R> | R,
  options: TransactionOptions = {},
): Promise<R> {
  if (typeof fn !== 'function') {
    throw new PgInvalidArgumentError('fn', `expected a function, got ${typeof fn}`);
  }
  const plan = planOf(options);
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptOnce(checkout, redactor, fn, plan);
    } catch (error) {
      const sqlState = isSerializationFailure(error);
      if (sqlState === undefined) throw error;
      if (attempt > plan.retries) {
        if (plan.retries === 0) throw error;
        throw new PgTransactionRetriesExhaustedError(attempt, sqlState, error);
      }
      // Full-jitter backoff before the next attempt. Unlike the pool's own timers this one
      // stays ref'd: a caller is awaiting the transaction, and with allowExitOnIdle no socket
      // may be left to keep the process alive until the retry runs.
      await sleep(Math.random() * Math.min(kRetryMaxMillis, kRetryBaseMillis * 2 ** attempt));
    }
  }
}

async function attemptOnce<R>(
  checkout: Checkout,
  redactor: Redactor,
  fn: (client: TransactionClient) => Promise<R> | R,
  plan: Plan,
): Promise<R> {
  const connection = await begin(checkout, redactor, plan);
  let value: R;
  try {
    value = await fn(connection.client);
  } catch (error) {
    if (releaseAfter(checkout, connection, error)) throw error;
    throw lost(redactor, connection, error, false, 'inside the transaction; nothing was committed');
  }
  await commit(checkout, redactor, connection);
  return value;
}

const kBeforeCommit = 'before COMMIT was sent; nothing was committed';

/** COMMIT, then the connection given back, whatever the outcome. */
async function commit(
  checkout: Checkout,
  redactor: Redactor,
  connection: PgConnection,
): Promise<void> {
  if (!connection.alive) {
    // Broke after the function's last statement: COMMIT would not even be written.
    const failure = connection.failure ?? new Error('The connection was closed');
    checkout.release(connection, failure);
    throw connectionLost(redactor, failure, false, kBeforeCommit);
  }
  let command: string;
  try {
    command = (await connection.client.query('COMMIT')).command;
  } catch (error) {
    // A SQL error at COMMIT (serialization failure, deferred constraint): rolled back.
    if (releaseAfter(checkout, connection, error)) throw error;
    if (provesNotSent(error)) throw lost(redactor, connection, error, false, kBeforeCommit);
    const where = 'during COMMIT; the transaction may or may not have committed';
    throw lost(redactor, connection, error, true, where);
  }
  checkout.release(connection);
  // COMMIT of a failed transaction succeeds, answering ROLLBACK: fn swallowed an error.
  if (command === 'ROLLBACK') throw new PgTransactionAbortedError();
}

/**
 * A connection inside BEGIN. If the connection breaks under BEGIN, the function has not run
 * yet, so one more connection is tried.
 */
async function begin(checkout: Checkout, redactor: Redactor, plan: Plan): Promise<PgConnection> {
  for (let attempt = 1; ; attempt++) {
    const connection = await checkout.acquire(plan.signal);
    try {
      await connection.client.query(plan.begin);
      return connection;
    } catch (error) {
      if (releaseAfter(checkout, connection, error)) throw error;
      if (attempt >= 2) {
        throw lost(redactor, connection, error, false, 'at BEGIN, twice; nothing ran');
      }
    }
  }
}

/**
 * Gives `connection` back after `error` raised under one of our statements, and says whether
 * its session survived. If it did (a SQL error), it is kept: the release guard rolls back, and
 * the caller gets `error` unchanged. If not, it is destroyed, and the caller gets `lost(...)`.
 */
function releaseAfter(checkout: Checkout, connection: PgConnection, error: unknown): boolean {
  // Decided before releasing: destroying the connection makes it look dead at once.
  const survived = sessionSurvived(connection, error);
  checkout.release(connection, survived ? undefined : error);
  return survived;
}

/** The caller's error for `connection`, lost `where` under `error` (after `releaseAfter`). */
function lost(
  redactor: Redactor,
  connection: PgConnection,
  error: unknown,
  mayHaveRun: boolean,
  where: string,
): Error {
  return connectionLost(redactor, explain(error, connection.failure), mayHaveRun, where);
}

function planOf(options: TransactionOptions): Plan {
  if (typeof options !== 'object' || options === null) {
    throw new PgInvalidArgumentError('options', `expected an object, got ${typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (!optionKeys.has(key)) {
      throw new PgInvalidArgumentError(
        key,
        `unknown transaction option; known: ${[...optionKeys].join(', ')}`,
      );
    }
  }
  const modes: string[] = [];
  const { isolationLevel, readOnly, deferrable, retries = 0 } = options;
  if (isolationLevel !== undefined) {
    const level = typeof isolationLevel === 'string' ? isolationLevel.toLowerCase() : '';
    if (!isolationLevels.has(level)) {
      throw new PgInvalidArgumentError(
        'isolationLevel',
        `expected one of ${[...isolationLevels].join(', ')}`,
      );
    }
    modes.push(`ISOLATION LEVEL ${level.toUpperCase()}`);
  }
  if (readOnly !== undefined)
    modes.push(checkBoolean('readOnly', readOnly) ? 'READ ONLY' : 'READ WRITE');
  if (deferrable !== undefined) {
    modes.push(checkBoolean('deferrable', deferrable) ? 'DEFERRABLE' : 'NOT DEFERRABLE');
  }
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0) {
    throw new PgInvalidArgumentError('retries', `expected an integer >= 0, got ${String(retries)}`);
  }
  const setLocal = timeoutStatements(options, 'SET LOCAL');
  let sql = modes.length === 0 ? 'BEGIN' : `BEGIN ${modes.join(', ')}`;
  if (setLocal !== undefined) sql = `${sql}; ${setLocal}`;
  return { begin: sql, retries, signal: options.signal };
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new PgInvalidArgumentError(name, `expected a boolean, got ${typeof value}`);
  }
  return value;
}
