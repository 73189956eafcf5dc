/** Formats stats the way Envoy's /stats does (`name: value`, histograms as quantiles), plus a JSON form. */
import type { NativeStat } from '../dataplane/types';
import { QUANTILES, quantileUs } from './histogram';
import { envoyName, escapeControlChars } from './names';

function ms(us: number): number {
  return Math.round(us) / 1000;
}

function quantilesMs(s: Extract<NativeStat, { type: 'histogram' }>): Record<string, number | null> {
  const q: Record<string, number | null> = {};
  for (const [label, p] of QUANTILES) {
    const v = quantileUs(s.buckets, p);
    q[label] = v === undefined ? null : ms(v);
  }
  return q;
}

/** Envoy's text for a histogram with no samples (instead of quantiles that do not exist). */
export const NO_RECORDED_VALUES = 'No recorded values';

/**
 * Text form: counters and gauges as `name: value`, then histograms as
 * `name: P50(1.024) ... count(n) sum(ms)` (values in ms) or `name: No recorded values`.
 * Names are printed with control characters escaped; `filter` sees them as printed.
 */
export function formatText(stats: readonly NativeStat[], filter?: RegExp): string {
  const scalars: Array<[string, string]> = [];
  const hists: Array<[string, string]> = [];
  for (const s of stats) {
    const name = escapeControlChars(envoyName(s.key));
    if (filter && !filter.test(name)) continue;
    if (s.type === 'histogram') {
      const q = quantilesMs(s);
      const parts = Object.entries(q).map(([k, v]) => `${k}(${v})`);
      hists.push([name, q.P50 === null ? NO_RECORDED_VALUES : `${parts.join(' ')} count(${s.count}) sum(${ms(s.sum)})`]);
    } else {
      scalars.push([name, String(s.value)]);
    }
  }
  const byName = (a: [string, string], b: [string, string]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  return [...scalars.sort(byName), ...hists.sort(byName)].map(([n, v]) => `${n}: ${v}\n`).join('');
}

export interface StatsJson {
  stats: Array<{ name: string; type: 'counter' | 'gauge'; value: number }>;
  histograms: Array<{ name: string; count: number; sum_ms: number; quantiles_ms: Record<string, number | null> }>;
}

export function formatJson(stats: readonly NativeStat[], filter?: RegExp): StatsJson {
  const out: StatsJson = { stats: [], histograms: [] };
  for (const s of stats) {
    const name = envoyName(s.key);
    if (filter && !filter.test(name)) continue;
    if (s.type === 'histogram') out.histograms.push({ name, count: s.count, sum_ms: ms(s.sum), quantiles_ms: quantilesMs(s) });
    else out.stats.push({ name, type: s.type, value: s.value });
  }
  out.stats.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  out.histograms.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}
