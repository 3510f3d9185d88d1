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
    const sessionOk = sessionSurvived(connection, error);
    checkout.release(connection, sessionOk ? undefined : error);
    if (sessionOk) throw error;
    throw connectionLost(
      redactor,
      explain(error, connection.failure),
      false,
      'inside the transaction; nothing was committed',
    );
  }
  if (!connection.alive) {
    // Broke after the function's last statement: COMMIT would not even be written.
    const failure = connection.failure ?? new Error('The connection was closed');
    checkout.release(connection, failure);
    throw connectionLost(redactor, failure, false, 'before COMMIT was sent; nothing was committed');
  }
  let command: string;
  try {
    command = (await connection.client.query('COMMIT')).command;
  } catch (error) {
    // A SQL error at COMMIT (serialization failure, deferred constraint): rolled back.
    if (sessionSurvived(connection, error)) {
      checkout.release(connection);
      throw error;
    }
    checkout.release(connection, error);
    const cause = explain(error, connection.failure);
    if (provesNotSent(error)) {
      throw connectionLost(redactor, cause, false, 'before COMMIT was sent; nothing was committed');
    }
    throw connectionLost(
      redactor,
      cause,
      true,
      'during COMMIT; the transaction may or may not have committed',
    );
  }
  checkout.release(connection);
  // COMMIT of a failed transaction succeeds, answering ROLLBACK: fn swallowed an error.
  if (command === 'ROLLBACK') throw new PgTransactionAbortedError();
  return value;
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
      const sessionOk = sessionSurvived(connection, error);
      checkout.release(connection, sessionOk ? undefined : error);
      if (sessionOk) throw error;
      if (attempt >= 2) {
        throw connectionLost(
          redactor,
          explain(error, connection.failure),
          false,
          'at BEGIN, twice; nothing ran',
        );
      }
    }
  }
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
