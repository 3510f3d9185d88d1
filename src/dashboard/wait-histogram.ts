/**
 * Wait times of checkouts, in log-scale buckets (1-2-5 steps from 1 ms to 10 s). The core's
 * `waitTime` summary only keeps count/min/max and power-of-two percentiles; a histogram with
 * bounds a person can read ("under 5 ms") needs its own tally, fed by the `acquire` event.
 */

/** Upper bounds of the buckets, in ms, exclusive; a last bucket holds everything above. */
export const kWaitBucketBounds: readonly number[] = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000,
];

export interface WaitHistogramSnapshot {
  /** Upper bounds in ms; `counts` has one more entry, for waits of `bounds[last]` and over. */
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  /** Every checkout recorded, those that did not wait at all included (in the first bucket). */
  readonly total: number;
}

export class WaitHistogram {
  private readonly _counts: number[] = new Array<number>(kWaitBucketBounds.length + 1).fill(0);
  private _total = 0;

  record(waitedMillis: number): void {
    this._counts[bucketOf(waitedMillis)]!++;
    this._total++;
  }

  snapshot(): WaitHistogramSnapshot {
    return { bounds: kWaitBucketBounds, counts: [...this._counts], total: this._total };
  }
}

/** The index of the bucket `waitedMillis` falls in. Negative or NaN input counts as no wait. */
export function bucketOf(waitedMillis: number): number {
  // 14 buckets: a linear scan is as fast as a binary search and obviously right.
  for (let i = 0; i < kWaitBucketBounds.length; i++) {
    if (!(waitedMillis >= kWaitBucketBounds[i]!)) return i;
  }
  return kWaitBucketBounds.length;
}
