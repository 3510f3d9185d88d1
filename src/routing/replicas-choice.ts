/**
 * Which replica serves a read: power of two choices (Mitzenmacher) over load × latency. Two
 * candidates drawn at random, the cheaper one wins: nearly as good as always picking the best,
 * without every router herding onto the same replica between two measurements.
 */

export interface Choosable {
  /** Calls waiting for or holding one of its connections. */
  load(): number;
  /** Smoothed latency of its queries, in milliseconds (0 before any was measured). */
  latencyMillis(): number;
}

/**
 * A replica never measured counts as very fast, so that it is tried; the floor also keeps
 * an idle replica's cost from being 0 whatever its latency.
 */
const kLatencyFloorMillis = 0.05;

export function costOf(candidate: Choosable): number {
  return (candidate.load() + 1) * Math.max(candidate.latencyMillis(), kLatencyFloorMillis);
}

/** The cheaper of two distinct random candidates; undefined when there are none. */
export function pickTwo<T extends Choosable>(
  candidates: readonly T[],
  random: () => number,
): T | undefined {
  const n = candidates.length;
  if (n <= 1) return candidates[0];
  const i = Math.floor(random() * n);
  // A second index among the other n - 1, so the two are never the same candidate.
  let j = Math.floor(random() * (n - 1));
  if (j >= i) j++;
  const a = candidates[i]!;
  const b = candidates[j]!;
  return costOf(b) < costOf(a) ? b : a;
}

/** An exponentially weighted moving average of latency samples. */
export class Ewma {
  #value = 0;
  #seen = false;

  constructor(readonly weight = 0.2) {}

  get value(): number {
    return this.#value;
  }

  add(sample: number): void {
    this.#value = this.#seen ? this.#value + this.weight * (sample - this.#value) : sample;
    this.#seen = true;
  }
}
