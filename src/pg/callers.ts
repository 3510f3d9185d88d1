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
  PoolError,
  type CreateErrorKind,
} from '../core/index.js';
import { PgConnectError } from './errors.js';

/** pg.Pool's words for a caller that waited too long (pg-pool/index.js), kept as our headline. */
export const kConnectTimeoutHeadline = 'timeout exceeded when trying to connect';

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

/** A timeout as the core raises it, reworded to lead with pg.Pool's text. */
function connectTimeout(error: AcquireTimeoutError): AcquireTimeoutError {
  if (error.message.startsWith(kConnectTimeoutHeadline)) return error;
  const reworded = new AcquireTimeoutError(
    error.waitedMillis,
    error.counts,
    error.cause,
    kConnectTimeoutHeadline,
  );
  // Where it was raised is the useful stack (with the caller's frames appended, if any).
  reworded.stack = `${reworded.name}: ${reworded.message}${framesOf(error)}`;
  return reworded;
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
