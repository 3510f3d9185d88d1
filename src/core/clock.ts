/**
 * Monotonic milliseconds. Wall-clock time (`Date.now`) jumps with NTP and DST, which would
 * expire or keep resources at random; `performance.now()` only moves forward.
 *
 * Reading the clock is the most expensive thing on the acquire/release path: the global
 * `performance` is a lazy getter and `now()` re-validates its receiver each call. So each pool
 * captures the `performance` object once, when it is built. (That is also when test fake
 * timers, which replace `globalThis.performance`, take effect for that pool.)
 */
export type Clock = () => number;

export function monotonicClock(): Clock {
  const source = globalThis.performance;
  return () => source.now();
}
