/**
 * The PoolError family. Every error the pool hands out is one of these, with a stable `code`
 * that callers can switch on, and the underlying failure chained as `cause`.
 *
 * `instanceof` is branded with `Symbol.for` (as undici does) so that it still works when two
 * copies of lifeguard end up in one process.
 */

const kPoolError = Symbol.for('lifeguard.PoolError');

export type PoolErrorCode =
  | 'ERR_POOL_ACQUIRE_TIMEOUT'
  | 'ERR_POOL_CLOSED'
  | 'ERR_POOL_QUEUE_FULL'
  | 'ERR_POOL_ABORTED'
  | 'ERR_POOL_CREATE_FAILED'
  | 'ERR_POOL_CREATE_TIMEOUT'
  | 'ERR_POOL_CIRCUIT_OPEN'
  | 'ERR_POOL_OVERLOADED'
  | 'ERR_POOL_RELEASE_INVALID'
  | 'ERR_POOL_INVALID_OPTION'
  | 'ERR_POOL_VALIDATION_FAILED'
  | 'ERR_POOL_DESTROY_FAILED'
  | 'ERR_POOL_RESET_FAILED'
  | 'ERR_POOL_LISTENER_FAILED';

/**
 * Layers built on the core (such as `lifeguard/pg`) add their own stable codes, all prefixed
 * `ERR_`, by passing a wider `Code`.
 */
export class PoolError<Code extends string = PoolErrorCode> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  override get name(): string {
    return this.constructor.name;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== PoolError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && kPoolError in value;
  }
}
Object.defineProperty(PoolError.prototype, kPoolError, { value: true });

/** A snapshot of the pool's gauges, carried by timeouts so they can say *why* they happened. */
export interface PoolCounts {
  readonly total: number;
  readonly idle: number;
  readonly inUse: number;
  readonly pendingCreates: number;
  readonly waiting: number;
}

function describeCounts(c: PoolCounts): string {
  return `total=${c.total} idle=${c.idle} inUse=${c.inUse} pendingCreates=${c.pendingCreates} waiting=${c.waiting}`;
}

/** A one-line description of anything thrown, without trusting it to stringify well. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? typeof error;
  } catch {
    return typeof error;
  }
}

function describeCause(cause: unknown): string {
  return cause === undefined ? '' : `; last create error: ${describeError(cause)}`;
}

export class AcquireTimeoutError extends PoolError {
  readonly waitedMillis: number;
  readonly counts: PoolCounts;

  /**
   * `headline`, when given, leads the message in place of the core's own words: a driver layer
   * keeps its driver's wording (pg.Pool's `timeout exceeded when trying to connect`), which
   * code in the wild matches on, and the pool's detail follows it.
   */
  constructor(
    waitedMillis: number,
    counts: PoolCounts,
    lastCreateError: unknown,
    headline?: string,
  ) {
    const waited = Math.round(waitedMillis);
    const detail = `(${describeCounts(counts)})${describeCause(lastCreateError)}`;
    super(
      'ERR_POOL_ACQUIRE_TIMEOUT',
      headline === undefined
        ? `Timed out after ${waited} ms waiting for a resource ${detail}`
        : `${headline}: waited ${waited} ms ${detail}`,
      lastCreateError === undefined ? undefined : { cause: lastCreateError },
    );
    this.waitedMillis = waitedMillis;
    this.counts = counts;
  }
}

/**
 * A waiter shed by queue management (`overloadTargetMillis`): the queue had not emptied for
 * `overloadIntervalMillis`, and this caller had already waited longer than the target, so
 * serving it would only have made everyone behind it later. Retrying at once adds to the
 * overload; back off, or answer "busy" upstream.
 */
export class OverloadedError extends PoolError {
  readonly waitedMillis: number;
  readonly counts: PoolCounts;

  constructor(waitedMillis: number, queueBusyMillis: number, counts: PoolCounts) {
    super(
      'ERR_POOL_OVERLOADED',
      `Shed after waiting ${Math.round(waitedMillis)} ms: the queue has not emptied for ${Math.round(queueBusyMillis)} ms, so the pool is overloaded (${describeCounts(counts)})`,
    );
    this.waitedMillis = waitedMillis;
    this.counts = counts;
  }
}

export class PoolClosedError extends PoolError {
  constructor(message = 'The pool is closed') {
    super('ERR_POOL_CLOSED', message);
  }
}

export class QueueFullError extends PoolError {
  readonly maxWaiting: number;
  constructor(maxWaiting: number) {
    super(
      'ERR_POOL_QUEUE_FULL',
      `The acquire queue is full (maxWaiting=${maxWaiting}); rejecting instead of queueing more callers`,
    );
    this.maxWaiting = maxWaiting;
  }
}

export class AbortedError extends PoolError {
  constructor(reason: unknown) {
    super('ERR_POOL_ABORTED', 'The acquire was aborted by its signal', { cause: reason });
  }
}

export class CreateFailedError extends PoolError {
  readonly attempt: number;
  constructor(cause: unknown, attempt: number) {
    const message = describeError(cause);
    super('ERR_POOL_CREATE_FAILED', `Creating a resource failed (attempt ${attempt}): ${message}`, {
      cause,
    });
    this.attempt = attempt;
  }
}

export class CreateTimeoutError extends PoolError {
  readonly timeoutMillis: number;
  constructor(timeoutMillis: number) {
    super('ERR_POOL_CREATE_TIMEOUT', `Creating a resource timed out after ${timeoutMillis} ms`);
    this.timeoutMillis = timeoutMillis;
  }
}

export class CircuitOpenError extends PoolError {
  readonly retryInMillis: number;
  /**
   * True when this caller was waiting while the creations failed, and was failed when the
   * circuit opened; false when it was refused on arrival, with no attempt made for it.
   */
  readonly waited: boolean;
  constructor(lastCreateError: unknown, retryInMillis: number, waited = false) {
    super(
      'ERR_POOL_CIRCUIT_OPEN',
      `Failing fast: resource creation keeps failing, next attempt in ${Math.max(0, Math.round(retryInMillis))} ms${describeCause(lastCreateError)}`,
      { cause: lastCreateError },
    );
    this.retryInMillis = retryInMillis;
    this.waited = waited;
  }
}

export class ReleaseError extends PoolError {
  constructor(message: string) {
    super('ERR_POOL_RELEASE_INVALID', message);
  }
}

export class InvalidOptionError extends PoolError {
  readonly option: string;
  constructor(option: string, message: string) {
    super('ERR_POOL_INVALID_OPTION', `Invalid pool option "${option}": ${message}`);
    this.option = option;
  }
}

/** A factory hook (validate, reset, destroy) that failed or did not answer in time. */
export class HookFailedError extends PoolError {
  readonly hook: 'validate' | 'reset' | 'destroy';
  constructor(hook: 'validate' | 'reset' | 'destroy', cause: unknown, timeoutMillis?: number) {
    const code =
      hook === 'validate'
        ? 'ERR_POOL_VALIDATION_FAILED'
        : hook === 'reset'
          ? 'ERR_POOL_RESET_FAILED'
          : 'ERR_POOL_DESTROY_FAILED';
    const why =
      timeoutMillis !== undefined
        ? `did not finish within ${timeoutMillis} ms`
        : `failed: ${describeError(cause)}`;
    super(code, `The factory's ${hook}() ${why}`, cause === undefined ? undefined : { cause });
    this.hook = hook;
  }
}

/** A listener of the pool's events threw; the pool carried on. */
export class ListenerError extends PoolError {
  readonly event: string;
  constructor(event: string, cause: unknown) {
    super('ERR_POOL_LISTENER_FAILED', `A listener for the "${event}" event threw`, { cause });
    this.event = event;
  }
}
