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
