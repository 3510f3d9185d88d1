/**
 * Server-side timeouts as SQL. Startup parameters (pg's `statement_timeout` option) are refused
 * or ignored by PgBouncer, and a session-level `SET` leaks to other clients behind a
 * transaction-mode bouncer; `SET LOCAL` inside a transaction is correct everywhere.
 *
 * - per pool: `SET ...` once on each new connection (session scope; see docs/pg.md for
 *   PgBouncer's transaction mode);
 * - per transaction: `SET LOCAL ...` right after `BEGIN`, in the same round trip;
 * - per query: the query is wrapped in `BEGIN; SET LOCAL ...` / `COMMIT`.
 */
import { PgInvalidArgumentError } from './errors.js';
import type { Timeouts } from './types.js';

const settings = [
  ['statementTimeout', 'statement_timeout'],
  ['lockTimeout', 'lock_timeout'],
  ['idleInTransactionSessionTimeout', 'idle_in_transaction_session_timeout'],
] as const satisfies readonly (readonly [keyof Timeouts, string])[];

/** PostgreSQL stores these settings as a 32-bit count of milliseconds. */
const kMaxMillis = 2_147_483_647;

/**
 * The `SET` statements for the timeouts that are set, joined with `;` for one simple-query
 * round trip, or `undefined` when none is set. Values are validated here, since they are
 * interpolated into SQL.
 */
export function timeoutStatements(
  timeouts: Timeouts,
  scope: 'SET' | 'SET LOCAL',
  makeError: (name: string, message: string) => Error = invalidArgument,
): string | undefined {
  let sql: string | undefined;
  for (const [key, setting] of settings) {
    const value = timeouts[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > kMaxMillis) {
      throw makeError(key, `expected an integer number of milliseconds from 0 to ${kMaxMillis}`);
    }
    const statement = `${scope} ${setting} = ${value}`;
    sql = sql === undefined ? statement : `${sql}; ${statement}`;
  }
  return sql;
}

/** True when the object carries at least one timeout; cheap enough for the query path. */
export function hasTimeouts(config: Timeouts): boolean {
  return (
    config.statementTimeout !== undefined ||
    config.lockTimeout !== undefined ||
    config.idleInTransactionSessionTimeout !== undefined
  );
}

function invalidArgument(name: string, message: string): Error {
  return new PgInvalidArgumentError(name, message);
}
