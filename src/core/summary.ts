import type { Summary } from './types.js';

/**
 * A latency summary cheap enough to update on every acquire and release: count, sum, min,
 * max, and a histogram with power-of-two buckets (bucket i holds values in [2^(i-1), 2^i) ms,
 * bucket 0 holds values below 1 ms) from which p50/p99 are read to within a factor of two.
 */
const kBuckets = 32;

export class LatencySummary {
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = 0;
  readonly #buckets = new Float64Array(kBuckets);

  record(millis: number): void {
    this.#count++;
    this.#sum += millis;
    if (millis < this.#min) this.#min = millis;
    if (millis > this.#max) this.#max = millis;
    // 32 - clz32(n) is the bit length of n: 0 for n < 1, 1 for [1,2), 2 for [2,4) ...
    const index = 32 - Math.clz32(millis);
    this.#buckets[index < kBuckets ? index : kBuckets - 1]!++;
  }

  snapshot(): Summary {
    const count = this.#count;
    return {
      count,
      sum: this.#sum,
      min: count === 0 ? 0 : this.#min,
      max: this.#max,
      mean: count === 0 ? 0 : this.#sum / count,
      p50: this.#quantile(0.5),
      p99: this.#quantile(0.99),
    };
  }

  /** The upper bound of the bucket holding the q-quantile, clamped to the observed max. */
  #quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.ceil(q * this.#count);
    let seen = 0;
    for (let i = 0; i < kBuckets; i++) {
      seen += this.#buckets[i]!;
      if (seen >= rank) return Math.min(i === 0 ? 1 : 2 ** i, this.#max);
    }
    return this.#max;
  }
}
