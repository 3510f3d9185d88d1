/**
 * Monotonic milliseconds for the pool. Wall-clock time (`Date.now`) jumps with NTP and DST,
 * which would expire or keep resources at random; `performance.now()` only moves forward.
 *
 * Reading the clock was the most expensive step of acquire + release (about 45 ns a read on
 * this class of machine, two reads per cycle: a fifth of the whole cycle at 100 callers). So a
 * reading is shared by every pool call made in the same microtask batch: the first call reads
 * the clock and queues a microtask that marks the reading stale; calls that run before that
 * microtask reuse it. Times are therefore exact up to the synchronous work done between pool
 * calls in one batch, typically microseconds; every macrotask (timer, I/O callback) starts
 * with a fresh reading.
 *
 * The `performance` object is captured when the clock is built (that is also when test fake
 * timers, which replace `globalThis.performance`, take effect for a pool): the global is a lazy
 * getter, costly on a hot path.
 */
export type Clock = () => number;

export function monotonicClock(): Clock {
  const source = globalThis.performance;
  const settled = Promise.resolve();
  let reading = 0;
  let fresh = false;
  const markStale = (): void => {
    fresh = false;
  };
  return () => {
    if (fresh) return reading;
    fresh = true;
    // A reaction on a settled promise, not queueMicrotask(): Node's queueMicrotask allocates
    // an AsyncResource and a bound function per call, which cost more than the clock itself.
    void settled.then(markStale);
    return (reading = source.now());
  };
}

/** Node's timers take at most 2^31 - 1 ms; a longer delay silently becomes 1 ms. */
export const kMaxTimerMillis = 2_147_483_647;

/** A timer delay for a deadline `remaining` ms away: at least 1 ms, at most what Node accepts. */
export function timerDelay(remaining: number): number {
  return Math.min(kMaxTimerMillis, Math.max(1, Math.ceil(remaining)));
}
