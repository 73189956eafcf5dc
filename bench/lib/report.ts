// Formatting bench output: aligned text tables, medians, and number rendering.
import type { Table } from './types';

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/**
 * Two-sided exact sign test: `lower` of `n` untied pairs went one way; p-value of a split at
 * least that uneven if either way were equally likely (binomial, p = 0.5). 1 when n = 0.
 * With n pairs the smallest possible p is 2^(1-n): 6 untied runs are needed for p < 0.05.
 */
export function signTestP(lower: number, n: number): number {
  const k = Math.min(lower, n - lower);
  let tail = 0;
  let c = 1; // C(n, i)
  for (let i = 0; i <= k; i++) {
    tail += c;
    c = (c * (n - i)) / (i + 1);
  }
  return Math.min(1, (2 * tail) / 2 ** n);
}

/**
 * Distribution-free confidence interval for the median of `xs` (e.g. paired differences):
 * the order statistics x(k) and x(n+1-k) with the largest k such that P(Bin(n, 1/2) < k) is
 * at most (1 - level) / 2. The true coverage (>= level) is returned with it. NaN bounds when
 * n is too small for any such k (n < 6 at 95%).
 */
export function medianCI(xs: number[], level = 0.95): { lo: number; hi: number; coverage: number } {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const n = v.length;
  const alpha = (1 - level) / 2;
  let cdf = 0; // P(Bin(n, 1/2) <= i - 1) while looking at k = i
  let c = 1; // C(n, i)
  let k = 0;
  for (let i = 0; i < n; i++) {
    const next = cdf + c / 2 ** n; // P(X <= i)
    if (next > alpha) break;
    cdf = next;
    k = i + 1;
    c = (c * (n - i)) / (i + 1);
  }
  if (k === 0 || k > n - k) return { lo: NaN, hi: NaN, coverage: NaN };
  return { lo: v[k - 1], hi: v[n - k], coverage: 1 - 2 * cdf };
}

/**
 * Percentile bootstrap interval of a statistic over n paired units (e.g. bench passes): `reps`
 * times, draw n unit indices with replacement and evaluate `stat` on them; the interval is the
 * (1 - level) / 2 and (1 + level) / 2 quantiles of those values. Seeded (mulberry32), so the
 * same samples always print the same interval. NaN bounds when n < 2.
 */
export function bootstrapCI(n: number, stat: (units: number[]) => number, opts: { reps?: number; level?: number; seed?: number } = {}):
  { lo: number; hi: number } {
  const reps = opts.reps ?? 2000;
  const level = opts.level ?? 0.95;
  if (n < 2) return { lo: NaN, hi: NaN };
  let a = (opts.seed ?? 1) >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const vals: number[] = [];
  for (let r = 0; r < reps; r++) {
    const units = Array.from({ length: n }, () => Math.floor(rand() * n));
    const v = stat(units);
    if (Number.isFinite(v)) vals.push(v);
  }
  vals.sort((x, y) => x - y);
  if (!vals.length) return { lo: NaN, hi: NaN };
  const at = (q: number) => vals[Math.min(vals.length - 1, Math.max(0, Math.round(q * (vals.length - 1))))];
  return { lo: at((1 - level) / 2), hi: at((1 + level) / 2) };
}

/** Round for display: integers above 100, else 2-3 significant decimals; NaN as "-". */
export function fmt(x: number | string, digits?: number): string {
  if (typeof x === 'string') return x;
  if (!Number.isFinite(x)) return '-';
  if (digits !== undefined) return x.toFixed(digits);
  if (Number.isInteger(x)) return x.toString();
  const a = Math.abs(x);
  if (a >= 100) return Math.round(x).toString();
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

export function renderTable(t: Table): string {
  const cells = [t.columns, ...t.rows.map((r) => r.map((c) => fmt(c)))];
  const widths = t.columns.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]) =>
    r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [`-- ${t.title} --`, line(t.columns), ...cells.slice(1).map(line)].join('\n');
}
