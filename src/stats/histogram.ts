/** Quantiles and fixed-bound re-bucketing for native log-linear histograms (values in microseconds). */

/** Non-empty native buckets: [inclusive upper bound in microseconds, count], ascending. */
export type NativeBuckets = ReadonlyArray<readonly [number, number]>;

/** Prometheus `le` bounds in milliseconds (+Inf is implicit). */
export const PROMETHEUS_LE_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
] as const;

export const QUANTILES: ReadonlyArray<readonly [string, number]> = [
  ['P50', 0.5],
  ['P90', 0.9],
  ['P99', 0.99],
  ['P99.9', 0.999],
];

/**
 * The q-quantile in microseconds: the upper bound of the bucket holding the ceil(q*count)-th
 * value (same rule as xm_hist_quantile), so it over-estimates by at most one native bucket
 * width (<= 1/8 relative). `undefined` for an empty histogram.
 */
export function quantileUs(buckets: NativeBuckets, q: number): number | undefined {
  const total = buckets.reduce((s, [, c]) => s + c, 0);
  if (total === 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [upper, c] of buckets) {
    seen += c;
    if (seen >= rank) return upper;
  }
  return buckets[buckets.length - 1][0];
}

/**
 * Cumulative counts for each `le` bound (ms), then +Inf. A native bucket is counted under the
 * first bound >= its upper edge; a native bucket straddling a bound therefore lands in the
 * higher one, which errs towards reporting latency as slower, never faster.
 */
export function cumulativeBuckets(buckets: NativeBuckets, boundsMs: readonly number[] = PROMETHEUS_LE_MS): number[] {
  const out = new Array<number>(boundsMs.length + 1).fill(0);
  for (const [upperUs, c] of buckets) {
    let i = boundsMs.findIndex((b) => upperUs <= b * 1000);
    if (i < 0) i = boundsMs.length;
    out[i] += c;
  }
  for (let i = 1; i < out.length; i++) out[i] += out[i - 1];
  return out;
}
