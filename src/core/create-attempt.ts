import { CreateTimeoutError } from './errors.js';
import type { Factory } from './types.js';

export interface CreateOutcome<T> {
  /** The attempt produced a resource in time. */
  created(resource: T): void;
  /** The attempt failed, timed out, or was aborted (by `end()`). */
  failed(error: unknown): void;
  /** A resource arrived after the attempt had already been given up: it must be destroyed. */
  late(resource: T): void;
}

/**
 * One call to `factory.create`, bounded by `timeoutMillis`. Exactly one of `created` or
 * `failed` is called; a resource that shows up after the timeout or abort goes to `late`, so
 * a slow connect can never leak a connection (puddle's rule: giving up on an attempt does not
 * cancel what it made, it disposes of it).
 *
 * Returns the controller (abort it to give up early) and a promise for `end()` to wait on: it
 * settles once the factory's own promise has, or `timeoutMillis` after an abort, since a
 * factory that ignores its signal might never settle.
 */
export function attemptCreate<T>(
  factory: Factory<T>,
  timeoutMillis: number,
  outcome: CreateOutcome<T>,
): { controller: AbortController; settled: Promise<void> } {
  const controller = new AbortController();
  const { signal } = controller;
  let decided = false;
  const timer = setTimeout(
    () => controller.abort(new CreateTimeoutError(timeoutMillis)),
    timeoutMillis,
  );
  timer.unref();
  const decide = (): boolean => {
    if (decided) return false;
    decided = true;
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    return true;
  };
  function onAbort(): void {
    if (decide()) outcome.failed(signal.reason);
  }
  signal.addEventListener('abort', onAbort, { once: true });

  let attempt: Promise<T>;
  try {
    attempt = Promise.resolve(factory.create(signal));
  } catch (error) {
    attempt = Promise.reject(error);
  }
  const factorySettled = attempt.then(
    (resource) => {
      if (decide()) outcome.created(resource);
      else outcome.late(resource);
    },
    (error: unknown) => {
      if (decide()) outcome.failed(error);
    },
  );
  const settled = new Promise<void>((resolve) => {
    let grace: NodeJS.Timeout | undefined;
    void factorySettled.then(() => {
      clearTimeout(grace);
      resolve();
    });
    signal.addEventListener(
      'abort',
      () => {
        grace = setTimeout(resolve, timeoutMillis);
        grace.unref();
      },
      { once: true },
    );
  });
  return { controller, settled };
}
