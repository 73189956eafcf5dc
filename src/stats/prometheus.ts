/**
 * Formats stats as Prometheus text exposition format 0.0.4.
 * Histograms are exported in milliseconds: family `<name>_ms` (a trailing `_us`/`_ms` on the native
 * key is replaced), `_bucket{le=...}` over PROMETHEUS_LE_MS plus +Inf (cumulative), `_sum` in ms, `_count`.
 * Produced in chunks under a TimeSlice: a page of half a million series never holds the
 * control thread for more than a slice.
 */
import type { NativeStat } from '../dataplane/types';
import { collect } from '../util/chunks';
import { sliceSort, TimeSlice } from '../util/time-slice';
import { cumulativeBuckets, PROMETHEUS_LE_MS } from './histogram';
import { formatLabels, prometheusName } from './names';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type PromType = 'counter' | 'gauge' | 'histogram';

/** One series: its family (after the type-clash rename), label text, and the stat. */
interface Series {
  family: string;
  type: PromType;
  labelKey: string;
  labels: Array<[string, string]>;
  stat: NativeStat;
}

/** Prometheus text chunks are flushed once they reach this many characters. */
export const PROMETHEUS_CHUNK = 64 * 1024;

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function histogramFamily(family: string): string {
  return `${family.replace(/_(us|ms)$/, '')}_ms`;
}

function bySeries(a: Series, b: Series): number {
  if (a.family !== b.family) return a.family < b.family ? -1 : 1;
  return a.labelKey < b.labelKey ? -1 : a.labelKey > b.labelKey ? 1 : 0;
}

function sampleLines(s: Series): string {
  const { family: name, labels, labelKey, stat } = s;
  if (stat.type !== 'histogram') return `${name}${labelKey} ${num(stat.value)}\n`;
  const cum = cumulativeBuckets(stat.buckets);
  let out = '';
  PROMETHEUS_LE_MS.forEach((le, i) => (out += `${name}_bucket${formatLabels([...labels, ['le', String(le)]])} ${cum[i]}\n`));
  // +Inf must equal _count even if the bucket list lags the count by an in-flight record.
  const count = Math.max(stat.count, cum[cum.length - 1]);
  out += `${name}_bucket${formatLabels([...labels, ['le', '+Inf']])} ${count}\n`;
  out += `${name}_sum${labelKey} ${num(stat.sum / 1000)}\n`;
  out += `${name}_count${labelKey} ${count}\n`;
  return out;
}

/**
 * The exposition text in chunks: families sorted by name, each with one `# TYPE` line, its
 * series sorted by labels. A family name used with two types (invalid exposition) keeps the
 * first type; the later type's series go to `<name>_<type>`.
 */
export async function* prometheusChunks(stats: readonly NativeStat[], slice = new TimeSlice()): AsyncGenerator<string> {
  const types = new Map<string, PromType>();
  const series: Series[] = [];
  for (const stat of stats) {
    const t = slice.tick();
    if (t) await t;
    const { family, labels } = prometheusName(stat.key);
    const type: PromType = stat.type;
    let name = stat.type === 'histogram' ? histogramFamily(family) : family;
    const first = types.get(name);
    if (first !== undefined && first !== type) name = `${name}_${type}`;
    if (!types.has(name)) types.set(name, type);
    series.push({ family: name, type, labelKey: formatLabels(labels), labels, stat });
  }
  await sliceSort(series, bySeries, slice);
  let buf = '';
  let family = '';
  for (const s of series) {
    if (s.family !== family) {
      family = s.family;
      buf += `# TYPE ${family} ${s.type}\n`;
    }
    buf += sampleLines(s);
    if (buf.length >= PROMETHEUS_CHUNK) {
      yield buf;
      buf = '';
    }
    const t = slice.tick();
    if (t) await t;
  }
  if (buf) yield buf;
}

/** The whole exposition text as one string. */
export function formatPrometheus(stats: readonly NativeStat[]): Promise<string> {
  return collect(prometheusChunks(stats));
}
