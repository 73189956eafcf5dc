/**
 * Formats stats as Prometheus text exposition format 0.0.4.
 * Histograms are exported in milliseconds: family `<name>_ms` (a trailing `_us`/`_ms` on the native
 * key is replaced), `_bucket{le=...}` over PROMETHEUS_LE_MS plus +Inf (cumulative), `_sum` in ms, `_count`.
 */
import type { NativeStat } from '../dataplane/types';
import { cumulativeBuckets, PROMETHEUS_LE_MS } from './histogram';
import { formatLabels, prometheusName } from './names';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type PromType = 'counter' | 'gauge' | 'histogram';

interface Family {
  type: PromType;
  /** [labels string, lines] per series, so series can be sorted. */
  series: Array<{ labelKey: string; lines: string[] }>;
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function histogramFamily(family: string): string {
  return `${family.replace(/_(us|ms)$/, '')}_ms`;
}

export function formatPrometheus(stats: readonly NativeStat[]): string {
  const families = new Map<string, Family>();
  const add = (name: string, type: PromType, labelKey: string, lines: string[]): void => {
    let f = families.get(name);
    if (f && f.type !== type) {
      // Same family name used with two types is invalid exposition: keep them apart.
      name = `${name}_${type}`;
      f = families.get(name);
    }
    if (!f) {
      f = { type, series: [] };
      families.set(name, f);
    }
    f.series.push({ labelKey, lines });
  };

  for (const s of stats) {
    const { family, labels } = prometheusName(s.key);
    const labelKey = formatLabels(labels);
    if (s.type === 'histogram') {
      const name = histogramFamily(family);
      const cum = cumulativeBuckets(s.buckets);
      const lines: string[] = [];
      PROMETHEUS_LE_MS.forEach((le, i) => lines.push(`${name}_bucket${formatLabels([...labels, ['le', String(le)]])} ${cum[i]}`));
      // +Inf must equal _count even if the bucket list lags the count by an in-flight record.
      lines.push(`${name}_bucket${formatLabels([...labels, ['le', '+Inf']])} ${Math.max(s.count, cum[cum.length - 1])}`);
      lines.push(`${name}_sum${labelKey} ${num(s.sum / 1000)}`);
      lines.push(`${name}_count${labelKey} ${Math.max(s.count, cum[cum.length - 1])}`);
      add(name, 'histogram', labelKey, lines);
    } else {
      add(family, s.type, labelKey, [`__NAME__${labelKey} ${num(s.value)}`]);
    }
  }

  const out: string[] = [];
  for (const name of [...families.keys()].sort()) {
    const f = families.get(name)!;
    out.push(`# TYPE ${name} ${f.type}`);
    f.series.sort((a, b) => (a.labelKey < b.labelKey ? -1 : a.labelKey > b.labelKey ? 1 : 0));
    for (const s of f.series) for (const l of s.lines) out.push(l.startsWith('__NAME__') ? name + l.slice(8) : l);
  }
  return out.length ? `${out.join('\n')}\n` : '';
}
