/**
 * Deliberate differences: the few places where lifeguard/pg is meant to behave otherwise than
 * pg.Pool. Each one names the slice of pg.Pool's log that differs and what lifeguard shows in
 * its place, exactly (asymmetric matchers such as `expect.stringMatching` are allowed on the
 * lifeguard side). The rest of the log must still be equal, so a scenario with a deliberate
 * difference fails as soon as lifeguard changes in any other way, and also when pg.Pool no
 * longer shows the slice it was declared against.
 */
import { isDeepStrictEqual } from 'node:util';

import type { Observation } from './observation.js';

export interface Difference {
  /** Consecutive entries of pg.Pool's log, exactly as they appear there. */
  readonly pgPool: readonly Observation[];
  /** What lifeguard's log has in their place (may be empty, or longer). */
  readonly lifeguard: readonly Observation[];
}

export interface Deliberate {
  /** Why lifeguard differs, ending with the docs/compat.md anchor that documents it. */
  readonly reason: string;
  readonly differences: readonly Difference[];
}

/** pg.Pool's log with each declared slice replaced: the log lifeguard must produce. */
export function expectedLifeguardLog(
  pgPoolLog: readonly Observation[],
  deliberate: Deliberate | undefined,
): Observation[] {
  let log = [...pgPoolLog];
  for (const difference of deliberate?.differences ?? []) {
    log = replaceSlice(log, difference);
  }
  return log;
}

function replaceSlice(log: Observation[], { pgPool, lifeguard }: Difference): Observation[] {
  const at = indexOfSlice(log, pgPool);
  if (at === -1) {
    throw new Error(
      `A deliberate difference no longer matches pg.Pool's log. Declared:\n${JSON.stringify(pgPool, null, 2)}\npg.Pool's log:\n${JSON.stringify(log, null, 2)}`,
    );
  }
  return [...log.slice(0, at), ...lifeguard, ...log.slice(at + pgPool.length)];
}

function indexOfSlice(log: readonly Observation[], slice: readonly Observation[]): number {
  if (slice.length === 0) throw new Error('A deliberate difference must name pg.Pool entries');
  for (let start = 0; start + slice.length <= log.length; start++) {
    if (slice.every((entry, i) => isDeepStrictEqual(log[start + i], entry))) return start;
  }
  return -1;
}

/**
 * An asymmetric matcher for the lifeguard side: any of `values`. For counts that depend on
 * timing the difference itself explains (an attempt still ending, a connection still opening).
 */
export function oneOf(...values: readonly unknown[]): unknown {
  return {
    asymmetricMatch: (actual: unknown) => values.some((value) => isDeepStrictEqual(actual, value)),
    toString: () => `oneOf(${values.map((value) => JSON.stringify(value)).join(', ')})`,
    toAsymmetricMatcher: () => `oneOf(${values.map((value) => JSON.stringify(value)).join(', ')})`,
  };
}

/** An asymmetric matcher for the lifeguard side: an integer from `low` to `high`. */
export function between(low: number, high: number): unknown {
  return {
    asymmetricMatch: (actual: unknown) =>
      Number.isInteger(actual) && (actual as number) >= low && (actual as number) <= high,
    toString: () => `between(${low}, ${high})`,
    toAsymmetricMatcher: () => `between(${low}, ${high})`,
  };
}
