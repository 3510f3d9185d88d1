/**
 * What a caller of `lifeguard/pg` gets when the pool cannot give it a connection. Where
 * pg.Pool has an equivalent error, the caller gets pg.Pool's: code written for pg matches on
 * its class, `code` and message. The pool's own error, with its detail (counts, attempts,
 * circuit), rides along as the `cause`. Lifeguard's own codes remain for what pg.Pool has no
 * equivalent of: an open circuit that refused a caller on arrival, shedding, a full queue.
 */
import {
  AcquireTimeoutError,
  CircuitOpenError,
  CreateFailedError,
  CreateTimeoutError,
  PoolClosedError,
  PoolError,
  type CreateErrorKind,
} from '../core/index.js';
import { PgConnectError } from './errors.js';

/** pg.Pool's words for a caller that waited too long (pg-pool/index.js), kept as our headline. */
export const kConnectTimeoutHeadline = 'timeout exceeded when trying to connect';
/** pg.Pool's words for a caller whose own attempt to connect timed out. */
export const kAttemptTimeoutHeadline = 'Connection terminated due to connection timeout';
/** pg.Pool's words for any call on a pool after `end()`. */
export const kUsedAfterEnd = 'Cannot use a pool after calling end on the pool';
const kEndTwice = 'Called end on pool more than once';

/** The error to hand a caller for `error`, raised by the core pool or the dispatcher. */
export function callerError(error: unknown): unknown {
  if (error instanceof AcquireTimeoutError) return connectTimeout(error);
  // A connect that failed for this caller: pg.Pool hands over the driver's (or hook's) error.
  if (error instanceof CreateFailedError || (error instanceof CircuitOpenError && error.waited)) {
    const original = driverError(error);
    if (original === undefined) return error;
    // An attempt that failed for its one caller only (a hook, an unrecognized connect error)
    // is that caller's own error, the very object, as pg.Pool hands it over.
    if (error instanceof CreateFailedError && kindOf(error) === 'rejected') return original;
    return withPoolContext(original, error);
  }
  return error;
}

/** How the pg factory classified a failed creation (client-factory.ts). */
function kindOf(error: CreateFailedError): CreateErrorKind | undefined {
  const cause = error.cause;
  return cause instanceof PgConnectError ? cause.kind : undefined;
}

/**
 * A timeout as pg.Pool raises it: a plain `Error` without a `code`, whose message leads with
 * pg.Pool's text and goes on with the pool's counts and last connection error. The core's
 * `AcquireTimeoutError` (code `ERR_POOL_ACQUIRE_TIMEOUT`) is its `cause`.
 */
function connectTimeout(error: AcquireTimeoutError): Error {
  const headline = waitedForAttempt(error) ? kAttemptTimeoutHeadline : kConnectTimeoutHeadline;
  const detailed = error.message.startsWith(headline)
    ? error
    : new AcquireTimeoutError(error.waitedMillis, error.counts, error.cause, headline);
  return asPgPoolError(detailed.message, detailed, error);
}

/**
 * pg.Pool opens a client for each caller below `max`: a caller that times out then does so
 * because its own attempt to connect did. Ours waited on an attempt when one was still being
 * made, or when the last one had timed out (and the pool was backing off).
 */
function waitedForAttempt(error: AcquireTimeoutError): boolean {
  if (error.counts.pendingCreates > 0) return true;
  const last = error.cause;
  return last instanceof CreateFailedError && last.cause instanceof CreateTimeoutError;
}

/**
 * pg.Pool's error for a condition it also has: its class (`Error`), no `code`, its message.
 * Lifeguard's typed error, with its code and detail, is the `cause`; the stack is where
 * lifeguard raised it (with the caller's frames appended, if any).
 */
export function asPgPoolError(
  message: string,
  cause: PoolError<string>,
  raisedAs: Error = cause,
): Error {
  const error = new Error(message, { cause });
  error.stack = `Error: ${message}${framesOf(raisedAs)}`;
  return error;
}

/** pg.Pool's error for any call on a pool after `end()`; lifeguard's `ERR_POOL_CLOSED` as cause. */
export function usedAfterEnd(): Error {
  return asPgPoolError(kUsedAfterEnd, new PoolClosedError(kUsedAfterEnd));
}

/** pg.Pool's error for a second `end()`; lifeguard's `ERR_POOL_CLOSED` as cause. */
export function endCalledTwice(): Error {
  return asPgPoolError(kEndTwice, new PoolClosedError(kEndTwice));
}

/** Whether a caller's error is an acquire timeout, as raised by the core or handed on. */
export function isAcquireTimeout(error: unknown): boolean {
  return (
    error instanceof AcquireTimeoutError ||
    (error instanceof Error && error.cause instanceof AcquireTimeoutError)
  );
}

/** The first error down the `cause` chain that is not one of lifeguard's own. */
function driverError(error: PoolError): Error | undefined {
  let current: unknown = error.cause;
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    if (!(current instanceof PoolError)) return current;
    current = current.cause;
  }
  return undefined;
}

/**
 * A copy of `original` for one caller: the same prototype (so the same class), the same own
 * properties (`message`, `code`, `severity`, `detail`, `errno`, ...) and stack, with the pool's
 * error as its `cause`. A copy, not the original, because one failure may reach many callers,
 * and each gets a `cause` of its own.
 */
function withPoolContext(original: Error, context: PoolError): Error {
  const copy = Object.create(Object.getPrototypeOf(original) as object) as Error;
  for (const key of Reflect.ownKeys(original)) {
    if (key === 'stack' || key === 'cause') continue;
    Object.defineProperty(copy, key, Object.getOwnPropertyDescriptor(original, key)!);
  }
  const hidden = { writable: true, configurable: true, enumerable: false } as const;
  Object.defineProperty(copy, 'stack', { ...hidden, value: original.stack });
  Object.defineProperty(copy, 'cause', { ...hidden, value: context });
  return copy;
}

/** The frames of an error's stack, without its first line. */
function framesOf(error: Error): string {
  const stack = error.stack ?? '';
  const firstFrame = stack.indexOf('\n    at ');
  return firstFrame === -1 ? '' : stack.slice(firstFrame);
}
