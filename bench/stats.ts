/*
 * bench/stats - the few statistics the benchmark reports: median, half-range spread, and
 * percentiles of latency samples. Pure.
 *
 * Percentiles are nearest-rank (the value at rank ceil(p/100 * n) of the sorted samples): every
 * figure reported is a latency some message really had, and a p99 of fewer than 100 samples is
 * the largest one, which the report states by giving n beside it.
 */

/** median - the middle value (mean of the two middle ones for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** spread - " ±N%" (half the range over the median), or '' for fewer than two samples. */
export function spread(xs: readonly number[]): string {
  if (xs.length < 2) return '';
  return ` ±${(((Math.max(...xs) - Math.min(...xs)) / 2 / median(xs)) * 100).toFixed(0)}%`;
}

/** percentile - nearest-rank percentile p (0 < p <= 100) of xs; NaN for no samples. */
export function percentile(xs: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile: p must be in (0, 100], got ${p}`);
  if (xs.length === 0) return Number.NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

export interface LatencySummary { n: number; p50: number; p90: number; p99: number; max: number }

/** summarize - count, p50, p90, p99 and max of latency samples (same unit as the input). */
export function summarize(xs: readonly number[]): LatencySummary {
  return { n: xs.length, p50: percentile(xs, 50), p90: percentile(xs, 90), p99: percentile(xs, 99), max: xs.length ? xs.reduce((a, b) => Math.max(a, b), -Infinity) : Number.NaN };
}
