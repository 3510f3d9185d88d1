import type { Summary } from './types.js';

/**
 * A latency summary cheap enough to update on every acquire and release: count, sum, min,
 * max, and a histogram with power-of-two buckets (bucket i holds values in [2^(i-1), 2^i) ms,
 * bucket 0 holds values below 1 ms) from which p50/p99 are read to within a factor of two.
 */
const kBuckets = 32;

export class LatencySummary {
  private _count = 0;
  private _sum = 0;
  private _min = Infinity;
  private _max = 0;
  private readonly _buckets = new Float64Array(kBuckets);

  record(millis: number): void {
    this._count++;
    this._sum += millis;
    if (millis < this._min) this._min = millis;
    if (millis > this._max) this._max = millis;
    // 32 - clz32(n) is the bit length of n: 0 for n < 1, 1 for [1,2), 2 for [2,4) ...
    const index = 32 - Math.clz32(millis);
    this._buckets[index < kBuckets ? index : kBuckets - 1]!++;
  }

  snapshot(): Summary {
    const count = this._count;
    return {
      count,
      sum: this._sum,
      min: count === 0 ? 0 : this._min,
      max: this._max,
      mean: count === 0 ? 0 : this._sum / count,
      p50: this._quantile(0.5),
      p99: this._quantile(0.99),
    };
  }

  /** The upper bound of the bucket holding the q-quantile, clamped to the observed max. */
  private _quantile(q: number): number {
    if (this._count === 0) return 0;
    const rank = Math.ceil(q * this._count);
    let seen = 0;
    for (let i = 0; i < kBuckets; i++) {
      seen += this._buckets[i]!;
      if (seen >= rank) return Math.min(i === 0 ? 1 : 2 ** i, this._max);
    }
    return this._max;
  }
}
