// The figures a scenario charts, with where they come from: written as bench/results/<scenario>.json
// beside the SVG drawn from them, by a bench run and by bench/tools/chart-from-json.ts alike.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderBarChart, type BarChart } from './chart';

export interface FiguresRecord {
  scenario: string;
  /** when the figures were measured: an ISO time from the bench, or a span in a recorded file */
  date: string;
  /** one line: CPUs, CPU model, kernel, congestion control, pinning */
  host: string;
  /** the exact command(s) that produced the figures */
  commands: string[];
  chart: BarChart;
}

/** Source lines printed under the chart: when, where, and how. */
export function sourceLines(r: FiguresRecord): string[] {
  return [`Measured ${r.date} on ${r.host}.`, ...r.commands.map((c) => `$ ${c}`)];
}

/** Checks a parsed record field by field (TypeError naming the field), then the chart itself. */
export function parseFigures(json: unknown, name = 'figures'): FiguresRecord {
  const o = json as Record<string, unknown>;
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new TypeError(`${name}: want a JSON object`);
  for (const k of ['scenario', 'date', 'host'] as const) {
    if (typeof o[k] !== 'string' || !o[k]) throw new TypeError(`${name}.${k}: want a non-empty string`);
  }
  if (!/^[a-z0-9_-]+$/.test(o.scenario as string)) throw new TypeError(`${name}.scenario: want a scenario name, got ${JSON.stringify(o.scenario)}`);
  if (!Array.isArray(o.commands) || !o.commands.length || o.commands.some((c) => typeof c !== 'string')) {
    throw new TypeError(`${name}.commands: want a non-empty array of strings`);
  }
  if (!o.chart || typeof o.chart !== 'object') throw new TypeError(`${name}.chart: want an object`);
  const r = o as unknown as FiguresRecord;
  renderBarChart(r.chart); // throws on a malformed chart, naming its field
  return r;
}

/** Draws the record's chart into <dir>/<scenario>.svg. */
export function writeChart(dir: string, r: FiguresRecord): string {
  fs.mkdirSync(dir, { recursive: true });
  const svg = path.join(dir, `${r.scenario}.svg`);
  fs.writeFileSync(svg, renderBarChart({ ...r.chart, source: sourceLines(r) }));
  return svg;
}

/** Writes <dir>/<scenario>.json (the record) and <dir>/<scenario>.svg (its chart). */
export function writeFigures(dir: string, r: FiguresRecord): { json: string; svg: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, `${r.scenario}.json`);
  fs.writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  return { json, svg: writeChart(dir, r) };
}
