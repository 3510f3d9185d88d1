/**
 * What a failed statement means for its connection, and the error a caller gets when the
 * connection is lost: one place for the exclusive path (dispatch.ts), transactions
 * (transaction.ts) and the pipelined path (pipeline/). Everything is structural (classify.ts):
 * no `instanceof pg.DatabaseError`, so a custom `Client` class or a second copy of pg in the
 * process classifies the same way.
 */
import { isFatalServerError, lostFailure, sqlStateOf } from './classify.js';
import type { PgConnection } from './connection.js';
import { PgConnectionLostError } from './errors.js';
import type { Redactor } from './redact.js';

/**
 * Whether the session survived `error`: the connection is still alive and the server did not
 * end the session (a FATAL or PANIC). Then only the statement failed (a SQL error, or a
 * client-side one such as a bad parameter), the caller gets that error unchanged, and the
 * connection may be reused. Decide it before releasing: destroying the connection makes it
 * look dead at once.
 */
export function sessionSurvived(connection: PgConnection, error: unknown): boolean {
  return connection.alive && !isFatalServerError(error);
}

/** The server answered with an ErrorResponse (a SQLSTATE): the statement ran to an answer. */
export function answeredByServer(error: unknown): boolean {
  return sqlStateOf(error) !== undefined;
}

/**
 * The caller's error for a connection lost under its statement: "The connection was lost
 * `where`: reason". `mayHaveRun` says whether the statement may have taken effect. The cause
 * is redacted first (it may quote the connection string).
 */
export function connectionLost(
  redactor: Redactor,
  cause: unknown,
  mayHaveRun: boolean,
  where: string,
): PgConnectionLostError {
  redactor.error(cause);
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new PgConnectionLostError(
    `The connection was lost ${where}: ${reason}`,
    mayHaveRun,
    lostFailure(cause),
    cause,
  );
}

/** `where` for a statement that never left, twice (the retry included). */
export const kNotSentTwice = 'before the query was sent, and again on retry';
