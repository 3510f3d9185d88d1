/**
 * Measures a pool's load from its own counters: two `stats()` snapshots `sampleMillis` apart
 * give the arrival rate and the mean hold of the checkouts released in between. The p99 comes
 * from the lifetime histogram, which cannot be differenced. Figures are rounded to 0.01 (the
 * window to 1 ms): finer digits would be noise, and they clutter `--json`.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import type { PoolStats } from '../core/index.js';
import { round } from './advise-formulas.js';
import type { PoolSample } from './advise-types.js';

/** The part of a lifeguard/pg Pool the sampler reads. */
export interface StatsSource {
  readonly name: string;
  stats(): PoolStats;
}

export interface SampleClock {
  /** Monotonic milliseconds, for the window. */
  now(): number;
  /** Wall-clock milliseconds, for `since`. */
  wallNow(): number;
  sleep(millis: number): Promise<void>;
}

export const realClock: SampleClock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  // Not unref'd, unlike the pool's timers: the caller is awaiting this sample, and an unref'd
  // timer would let a process with nothing else to do exit in the middle of the advice.
  sleep: (millis) => sleep(millis),
};

export async function samplePool(
  pool: StatsSource,
  sampleMillis: number,
  since: number | undefined,
  clock: SampleClock = realClock,
): Promise<PoolSample> {
  if (sampleMillis === 0) {
    const stats = pool.stats();
    const window = since === undefined ? null : Math.max(0, clock.wallNow() - since);
    return sampleOf(pool.name, stats, zeroCounters, window);
  }
  const before = pool.stats();
  const startedAt = clock.now();
  await clock.sleep(sampleMillis);
  const after = pool.stats();
  return sampleOf(pool.name, after, before, clock.now() - startedAt);
}

type Counters = Pick<PoolStats, 'acquires' | 'waitedAcquires' | 'holdTime' | 'waitTime'>;

const zeroSummary = { count: 0, sum: 0, min: 0, max: 0, mean: 0, p50: 0, p99: 0 };
const zeroCounters: Counters = {
  acquires: 0,
  waitedAcquires: 0,
  holdTime: zeroSummary,
  waitTime: zeroSummary,
};

/** `after` minus `before` over `windowMillis` (`null`: the window is unknown). */
export function sampleOf(
  name: string,
  after: PoolStats,
  before: Counters,
  windowMillis: number | null,
): PoolSample {
  const acquires = after.acquires - before.acquires;
  const holds = after.holdTime.count - before.holdTime.count;
  const waits = after.waitTime.count - before.waitTime.count;
  // No release in the window (all checkouts still held, or none): the lifetime mean stands in.
  const holdMeanMillis =
    holds > 0
      ? (after.holdTime.sum - before.holdTime.sum) / holds
      : after.holdTime.count > 0
        ? after.holdTime.mean
        : null;
  return {
    name,
    max: after.max,
    min: after.min,
    total: after.total,
    inUse: after.inUse,
    waiting: after.waiting,
    windowMillis: windowMillis === null ? null : Math.round(windowMillis),
    acquires,
    arrivalPerSecond:
      windowMillis === null || windowMillis <= 0 ? null : round((acquires * 1000) / windowMillis),
    holdMeanMillis: holdMeanMillis === null ? null : round(holdMeanMillis),
    holdP99Millis: after.holdTime.count > 0 ? after.holdTime.p99 : null,
    waitMeanMillis: waits > 0 ? round((after.waitTime.sum - before.waitTime.sum) / waits) : null,
    waitedAcquires: after.waitedAcquires - before.waitedAcquires,
    timeouts: after.timeouts,
    shed: after.shed,
    rejectedQueueFull: after.rejectedQueueFull,
  };
}
