/**
 * The formulas the advisor combines, each on its own: the seed formula, Little's law and the
 * demand target drawn from it. Pure functions of numbers.
 */
import type { Demand, PoolSample } from './advise-types.js';

/** Share of the available connections the seed formula hands out; the rest is slack. */
const kSeedShare = 0.8;
/** Standard deviations of headroom above the mean demand (square-root staffing). */
const kStaffingSigmas = 3;

/** floor(available / instances * 0.8), clamped to [2, available] (to available when below 2). */
export function seedSize(available: number, appInstances: number): number {
  const share = Math.floor((available / appInstances) * kSeedShare);
  return clamp(share, Math.min(2, Math.max(0, available)), Math.max(0, available));
}

/** Little's law on the pool's checkouts: connections busy = arrivals per second × hold time. */
export function demandOf(pool: PoolSample | null): Demand | null {
  if (pool === null || pool.arrivalPerSecond === null || pool.holdMeanMillis === null) return null;
  const arrivalPerSecond = pool.arrivalPerSecond;
  const holdMeanMillis = pool.holdMeanMillis;
  const holdP99Millis = pool.holdP99Millis ?? holdMeanMillis;
  return {
    arrivalPerSecond,
    holdMeanMillis,
    holdP99Millis,
    meanConnections: round((arrivalPerSecond * holdMeanMillis) / 1000),
    p99Connections: round((arrivalPerSecond * holdP99Millis) / 1000),
  };
}

/**
 * The connections demand calls for: the mean plus three standard deviations of a Poisson
 * count (L + 3√L), but no more than the pessimistic p99 bound, and always above the mean.
 */
export function demandTarget(demand: Demand): number {
  const mean = demand.meanConnections;
  const staffed = mean + kStaffingSigmas * Math.sqrt(mean);
  return Math.max(2, Math.ceil(Math.min(staffed, Math.max(demand.p99Connections, mean + 1))));
}

export function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

export function round(value: number): number {
  return Math.round(value * 100) / 100;
}
