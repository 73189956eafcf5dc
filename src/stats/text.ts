/**
 * Formats stats the way Envoy's /stats does (`name: value`, histograms as quantiles), plus a
 * JSON form. Both are produced in chunks under a TimeSlice, so half a million stats never
 * hold the control thread for more than a slice.
 */
import type { NativeStat } from '../dataplane/types';
import { collect } from '../util/chunks';
import { jsonChunks } from '../util/json-stream';
import { byString, sliceSort, TimeSlice } from '../util/time-slice';
import { QUANTILES, quantileUs } from './histogram';
import { envoyName, escapeControlChars } from './names';

/** Text chunks are flushed once they reach this many characters. */
export const TEXT_CHUNK = 64 * 1024;

/** Envoy's text for a histogram with no samples (instead of quantiles that do not exist). */
export const NO_RECORDED_VALUES = 'No recorded values';

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

type Line = [name: string, value: string];
const byLineName = (a: Line, b: Line): number => byString(a[0], b[0]);
const byName = (a: { name: string }, b: { name: string }): number => byString(a.name, b.name);

/**
 * Text form: counters and gauges as `name: value`, then histograms as
 * `name: P50(1.024) ... count(n) sum(ms)` (values in ms) or `name: No recorded values`.
 * Names are printed with control characters escaped; `filter` sees them as printed.
 */
export async function* textChunks(stats: readonly NativeStat[], filter?: RegExp, slice = new TimeSlice()): AsyncGenerator<string> {
  const scalars: Line[] = [];
  const hists: Line[] = [];
  for (const s of stats) {
    const t = slice.tick();
    if (t) await t;
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
  await sliceSort(scalars, byLineName, slice);
  await sliceSort(hists, byLineName, slice);
  let buf = '';
  for (const list of [scalars, hists]) {
    for (const [n, v] of list) {
      buf += `${n}: ${v}\n`;
      if (buf.length >= TEXT_CHUNK) {
        yield buf;
        buf = '';
      }
      const t = slice.tick();
      if (t) await t;
    }
  }
  if (buf) yield buf;
}

export interface StatsJson {
  stats: Array<{ name: string; type: 'counter' | 'gauge'; value: number }>;
  histograms: Array<{ name: string; count: number; sum_ms: number; quantiles_ms: Record<string, number | null> }>;
}

/** The JSON form as an object (names unescaped: JSON escapes them itself), sorted by name. */
export async function statsJson(stats: readonly NativeStat[], filter?: RegExp, slice = new TimeSlice()): Promise<StatsJson> {
  const out: StatsJson = { stats: [], histograms: [] };
  for (const s of stats) {
    const t = slice.tick();
    if (t) await t;
    const name = envoyName(s.key);
    if (filter && !filter.test(escapeControlChars(name))) continue;
    if (s.type === 'histogram') out.histograms.push({ name, count: s.count, sum_ms: ms(s.sum), quantiles_ms: quantilesMs(s) });
    else out.stats.push({ name, type: s.type, value: s.value });
  }
  await sliceSort(out.stats, byName, slice);
  await sliceSort(out.histograms, byName, slice);
  return out;
}

/** The JSON form as text chunks (`JSON.stringify(statsJson, null, 2)` + newline). */
export async function* jsonStatsChunks(stats: readonly NativeStat[], filter?: RegExp, slice = new TimeSlice()): AsyncGenerator<string> {
  yield* jsonChunks(await statsJson(stats, filter, slice), slice);
}

/** The whole text form as one string. */
export function formatText(stats: readonly NativeStat[], filter?: RegExp): Promise<string> {
  return collect(textChunks(stats, filter));
}
