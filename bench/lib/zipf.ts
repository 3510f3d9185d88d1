/** Zipf-distributed picks, for load that is skewed the way tenants' and keys' traffic is. */

/** Zipf(s) over 0..n-1: a uniform draw in [0, 1) to a rank, by binary search. */
export function zipfSampler(n: number, s: number): (u: number) => number {
  const weights = Array.from({ length: n }, (_, i) => 1 / Math.pow(i + 1, s));
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  let sum = 0;
  for (const w of weights) cumulative.push((sum += w / total));
  return (u) => {
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}
