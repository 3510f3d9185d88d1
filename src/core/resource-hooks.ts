import { boundedCall } from './bounded-call.js';
import { HookFailedError } from './errors.js';
import type { Factory } from './types.js';

/**
 * The factory's `validate` and `reset` hooks, run so that they can neither throw nor hang:
 * each outcome is either success or a `HookFailedError` naming the hook, bounded by its timeout.
 */

/** Resolves to true when the resource may be handed out, or to why not (undefined: it said no). */
export function runValidate<T>(
  factory: Factory<T>,
  resource: T,
  timeoutMillis: number,
): Promise<true | HookFailedError | undefined> {
  return boundedCall(
    () => factory.validate!(resource),
    timeoutMillis,
    () => new HookFailedError('validate', undefined, timeoutMillis),
  ).then(
    (ok) => (ok ? true : undefined),
    (error: unknown) => asHookError('validate', error),
  );
}

/**
 * Runs `reset`. A reset that answers synchronously (nothing to undo) returns its outcome at
 * once, so that the resource is handed on with no promise hops between a release and the next
 * waiter; an asynchronous one returns a promise of it. `undefined` means success.
 */
export function runReset<T>(
  factory: Factory<T>,
  resource: T,
  timeoutMillis: number,
): HookFailedError | undefined | Promise<HookFailedError | undefined> {
  let outcome: Promise<void> | void;
  try {
    outcome = factory.reset!(resource);
  } catch (error) {
    return asHookError('reset', error);
  }
  if (!(outcome instanceof Promise)) return undefined;
  const pending = outcome;
  return boundedCall(
    () => pending,
    timeoutMillis,
    () => new HookFailedError('reset', undefined, timeoutMillis),
  ).then(
    () => undefined,
    (error: unknown) => asHookError('reset', error),
  );
}

function asHookError(hook: 'validate' | 'reset', error: unknown): HookFailedError {
  return error instanceof HookFailedError ? error : new HookFailedError(hook, error);
}
