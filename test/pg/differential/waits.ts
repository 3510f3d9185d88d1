/**
 * Waiting without assuming how fast the machine is. A scenario waits for the event that marks
 * a behaviour (a 'remove', a callback) with a generous limit, and the limit only decides how
 * long a missing event takes to show up as a difference: it never makes a passing run fail on
 * a slow machine. Timing is never part of a log.
 */
import type { EventEmitter } from 'node:events';

/** How long an expected event may take before the log says it did not come. */
export const kEventLimitMillis = 20_000;

export const kTimedOut = Symbol('timed out');

/**
 * Resolves with `capture(...args)` of the next `event` that `where` accepts, run inside the
 * listener so that counts read there are those of the moment the event fired; or with
 * `kTimedOut` after `limitMillis`.
 */
export function onNextEvent<T>(
  emitter: EventEmitter,
  event: string,
  capture: (...args: unknown[]) => T,
  where: (...args: unknown[]) => boolean = () => true,
  limitMillis = kEventLimitMillis,
): Promise<T | typeof kTimedOut> {
  return new Promise((resolve) => {
    const listener = (...args: unknown[]): void => {
      if (!where(...args)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(capture(...args));
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      resolve(kTimedOut);
    }, limitMillis);
    emitter.on(event, listener);
  });
}

/** Resolves with `promise`'s value, or `kTimedOut` if it has not settled after `limitMillis`. */
export function withinLimit<T>(
  promise: Promise<T>,
  limitMillis = kEventLimitMillis,
): Promise<T | typeof kTimedOut> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<typeof kTimedOut>((resolve) => {
    timer = setTimeout(() => resolve(kTimedOut), limitMillis);
    timer.unref();
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/**
 * Lets time pass in which pg.Pool does nothing (no timer is due), to see whether the other
 * implementation does something anyway, such as removing a client it should keep. Only an
 * absence is checked this way, so a slow machine can make it less strict but never flaky.
 */
export function quietPeriod(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves once `condition` holds (polled), or with `kTimedOut`; for state with no event. */
export async function until(
  condition: () => boolean,
  limitMillis = kEventLimitMillis,
): Promise<true | typeof kTimedOut> {
  const deadline = Date.now() + limitMillis;
  while (!condition()) {
    if (Date.now() > deadline) return kTimedOut;
    await quietPeriod(5);
  }
  return true;
}
