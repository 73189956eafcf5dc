// SVG bar charts of bench figures: grouped bars, horizontal or vertical, no dependencies, and
// the same bytes for the same input (no random ids, no clock, no locale), so a regenerated
// chart only shows up in a diff when its figures changed.

export interface ChartSeries {
  /** legend entry, e.g. a path: "xmesh", "HAProxy 2.6" */
  name: string;
  /** one value per group; null = not measured (no bar, a dash) */
  values: (number | null)[];
  /** "#rrggbb"; default: the palette, by position. Lets one path keep its colour in every chart */
  color?: string;
}

export interface BarChart {
  title: string;
  /** the value axis's label, with its unit: "proxy CPU µs per request (lower is better)" */
  axis: string;
  /** categories along the other axis, e.g. load shapes or set-ups */
  groups: string[];
  /** one bar per series in every group, in this order, same colour in every group */
  series: ChartSeries[];
  /** default horizontal (bars grow to the right, labels stay readable) */
  orientation?: 'horizontal' | 'vertical';
  /** default linear from 0; log for figures spanning decades (values <= 0 are not drawn) */
  scale?: 'linear' | 'log';
  /** lines printed small under the chart: where the figures come from */
  source?: string[];
}

/** Okabe–Ito: tells series apart with most colour-vision deficiencies. */
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#999999'];
const FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
/** Rough width of one character at 12 px: enough to size margins, not to typeset. */
const CHAR_W = 6.6;
const PAD = 16;

/** XML text/attribute escape; drops the control characters XML 1.0 cannot carry at all. */
export function escapeXml(s: string): string {
  return s
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** A coordinate: two decimals at most, no trailing zeros ("12.5", "40"). */
function n(x: number): string {
  const r = Number(x.toFixed(2));
  return Object.is(r, -0) ? '0' : String(r);
}

function thousands(intPart: string): string {
  return intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A value label: "9,774", "353", "14.55", "61.6", "4.17", "0.74" (two decimals at most, below 100); "–" when missing. */
export function formatValue(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '–';
  const s = Math.abs(x) >= 100 ? Math.round(x).toString() : String(Number(x.toFixed(2)));
  const neg = s.startsWith('-');
  const [i, f] = (neg ? s.slice(1) : s).split('.');
  return (neg ? '-' : '') + thousands(i) + (f ? '.' + f : '');
}

/** A tick label with as many decimals as the step needs: 0, 2.5, 5 or 0.01, 0.02. */
function formatTick(x: number, step: number): string {
  let decimals = 0;
  while (decimals < 6 && Math.abs(Math.round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-9 * 10 ** decimals) decimals++;
  const s = x.toFixed(decimals);
  const neg = s.startsWith('-') && Number(s) !== 0;
  const [i, f] = s.replace('-', '').split('.');
  return (neg ? '-' : '') + thousands(i) + (f ? '.' + f : '');
}

/** 1, 2, 2.5 or 5 times a power of ten, at least raw. */
function niceStep(raw: number): number {
  const e = Math.floor(Math.log10(raw));
  const f = raw / 10 ** e;
  const m = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
  return m * 10 ** e;
}

interface Axis {
  /** value -> 0..1 along the plot */
  pos(v: number): number;
  /** where bars start (0, or the log axis's lowest decade) */
  base: number;
  ticks: { v: number; label: string }[];
  drawable(v: number | null): v is number;
}

function linearAxis(values: number[]): Axis {
  const lo0 = Math.min(0, ...values);
  const hi0 = Math.max(0, ...values);
  const span = hi0 - lo0 || 1;
  const step = niceStep(span / 5);
  const lo = Math.floor(lo0 / step + 1e-9) * step;
  const hi = Math.max(Math.ceil(hi0 / step - 1e-9) * step, lo + step);
  const ticks = [];
  for (let i = 0; lo + i * step <= hi + step / 2; i++) {
    const v = lo + i * step;
    ticks.push({ v, label: formatTick(v, step) });
  }
  return { pos: (v) => (v - lo) / (hi - lo), base: 0, ticks, drawable: (v): v is number => v !== null && Number.isFinite(v) };
}

function logAxis(values: number[]): Axis {
  const pos = values.filter((v) => v > 0);
  const lo = Math.floor(Math.log10(Math.min(...pos)));
  const hi = Math.max(Math.ceil(Math.log10(Math.max(...pos))), lo + 1);
  const ticks = [];
  for (let e = lo; e <= hi; e++) ticks.push({ v: 10 ** e, label: formatTick(10 ** e, Math.min(1, 10 ** e)) });
  return {
    pos: (v) => (Math.log10(v) - lo) / (hi - lo),
    base: 10 ** lo,
    ticks,
    drawable: (v): v is number => v !== null && Number.isFinite(v) && v > 0,
  };
}

/** Greedy word wrap to at most `width` characters per line (a longer word gets a line of its own). */
function wrap(s: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const w of s.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + w.length > width) {
      out.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) out.push(line);
  return out.length ? out : [''];
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${n(x)}" y="${n(y)}"${attrs ? ' ' + attrs : ''}>${escapeXml(s)}</text>`;
}

function validate(c: BarChart): void {
  if (typeof c.title !== 'string') throw new TypeError('chart.title: want a string');
  if (typeof c.axis !== 'string') throw new TypeError('chart.axis: want a string');
  if (!Array.isArray(c.groups) || c.groups.some((g) => typeof g !== 'string')) throw new TypeError('chart.groups: want an array of strings');
  if (!Array.isArray(c.series)) throw new TypeError('chart.series: want an array');
  c.series.forEach((s, i) => {
    if (typeof s.name !== 'string') throw new TypeError(`chart.series[${i}].name: want a string`);
    if (!Array.isArray(s.values) || s.values.length !== c.groups.length) {
      throw new TypeError(`chart.series[${i}].values: want ${c.groups.length} values (one per group), got ${Array.isArray(s.values) ? s.values.length : typeof s.values}`);
    }
    s.values.forEach((v, j) => {
      if (v !== null && typeof v !== 'number') throw new TypeError(`chart.series[${i}].values[${j}]: want a number or null`);
    });
    if (s.color !== undefined && !/^#[0-9a-fA-F]{6}$/.test(s.color)) throw new TypeError(`chart.series[${i}].color: want "#rrggbb", got ${JSON.stringify(s.color)}`);
  });
  if (c.orientation !== undefined && c.orientation !== 'horizontal' && c.orientation !== 'vertical') {
    throw new TypeError(`chart.orientation: want horizontal or vertical, got ${String(c.orientation)}`);
  }
  if (c.scale !== undefined && c.scale !== 'linear' && c.scale !== 'log') throw new TypeError(`chart.scale: want linear or log, got ${String(c.scale)}`);
}

/** Legend rows: swatch + name, wrapped to `width`. Returns the SVG and the height it took. */
function legend(series: ChartSeries[], x0: number, y0: number, width: number): { svg: string[]; height: number } {
  if (series.length < 2) return { svg: [], height: 0 };
  const svg: string[] = [];
  let x = x0;
  let y = y0;
  series.forEach((s, i) => {
    const w = 12 + 6 + s.name.length * CHAR_W + 18;
    if (x > x0 && x + w > x0 + width) {
      x = x0;
      y += 20;
    }
    svg.push(`<rect x="${n(x)}" y="${n(y)}" width="12" height="12" fill="${s.color ?? PALETTE[i % PALETTE.length]}"/>`);
    svg.push(text(x + 18, y + 10.5, s.name, 'class="legend"'));
    x += w;
  });
  return { svg, height: y - y0 + 12 + 14 };
}

function frame(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${n(width)}" height="${n(height)}" viewBox="0 0 ${n(width)} ${n(height)}" role="img" aria-label="${escapeXml(title)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<style>text{font-family:${FONT};font-size:12px;fill:#222}.title{font-size:15px;font-weight:600}.value{font-size:11px}.tick{font-size:11px;fill:#555}.source{font-size:10px;fill:#666}</style>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/**
 * The chart as a standalone SVG document. Throws TypeError (naming the field) on malformed
 * input; no groups, no series or no finite value gives a chart that says "no figures".
 */
export function renderBarChart(c: BarChart): string {
  validate(c);
  const vertical = c.orientation === 'vertical';
  const all = c.series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const usable = c.scale === 'log' ? all.filter((v) => v > 0) : all;
  const source = (c.source ?? []).flatMap((l) => wrap(l, 110));

  if (!c.groups.length || !c.series.length || !usable.length) {
    const width = 520;
    const height = 100 + source.length * 13;
    return frame(width, height, c.title, [
      text(PAD, 26, c.title, 'class="title"'),
      text(PAD, 60, 'no figures', 'class="value"'),
      ...source.map((l, i) => text(PAD, 86 + i * 13, l, 'class="source"')),
    ]);
  }

  const axis = c.scale === 'log' ? logAxis(usable) : linearAxis(usable);
  const body: string[] = [];
  const color = (i: number) => c.series[i].color ?? PALETTE[i % PALETTE.length];
  const valueLen = Math.max(...c.series.flatMap((s) => s.values.map((v) => formatValue(v).length)));

  if (!vertical) {
    const width = 760;
    const labelW = Math.min(300, Math.max(60, Math.max(...c.groups.map((g) => g.length)) * CHAR_W + 12));
    const left = PAD + labelW;
    const plotW = width - left - PAD - valueLen * CHAR_W - 10;
    const barH = 18;
    const barGap = 3;
    const groupGap = 14;
    body.push(text(PAD, 26, c.title, 'class="title"'));
    const lg = legend(c.series, PAD, 40, width - 2 * PAD);
    body.push(...lg.svg);
    const top = 40 + lg.height + 6;
    const groupH = c.series.length * barH + (c.series.length - 1) * barGap;
    const plotH = c.groups.length * groupH + (c.groups.length + 1) * groupGap;
    const x = (v: number) => left + axis.pos(v) * plotW;
    for (const t of axis.ticks) {
      body.push(`<line x1="${n(x(t.v))}" y1="${n(top)}" x2="${n(x(t.v))}" y2="${n(top + plotH)}" stroke="#e3e3e3"/>`);
      body.push(text(x(t.v), top + plotH + 15, t.label, 'class="tick" text-anchor="middle"'));
    }
    c.groups.forEach((g, gi) => {
      const gy = top + groupGap + gi * (groupH + groupGap);
      body.push(text(left - 8, gy + groupH / 2 + 4, g, 'text-anchor="end"'));
      c.series.forEach((s, si) => {
        const v = s.values[gi];
        const y = gy + si * (barH + barGap);
        const label = formatValue(v);
        if (axis.drawable(v)) {
          const x0 = x(axis.base);
          const x1 = x(v);
          body.push(`<rect class="bar" x="${n(Math.min(x0, x1))}" y="${n(y)}" width="${n(Math.abs(x1 - x0))}" height="${barH}" fill="${color(si)}" data-value="${escapeXml(String(v))}"><title>${escapeXml(`${s.name}, ${g}: ${label}`)}</title></rect>`);
          body.push(text(Math.max(x0, x1) + 4, y + barH / 2 + 4, label, 'class="value"'));
        } else {
          body.push(text(x(axis.base) + 4, y + barH / 2 + 4, label, 'class="value"'));
        }
      });
    });
    body.push(`<line x1="${n(x(axis.base))}" y1="${n(top)}" x2="${n(x(axis.base))}" y2="${n(top + plotH)}" stroke="#888"/>`);
    body.push(`<line x1="${n(left)}" y1="${n(top + plotH)}" x2="${n(left + plotW)}" y2="${n(top + plotH)}" stroke="#888"/>`);
    body.push(text(left + plotW / 2, top + plotH + 34, c.axis, 'text-anchor="middle"'));
    const srcTop = top + plotH + 56;
    source.forEach((l, i) => body.push(text(PAD, srcTop + i * 13, l, 'class="source"')));
    return frame(width, srcTop + source.length * 13 + (source.length ? 4 : -10), c.title, body);
  }

  const barW = Math.max(24, valueLen * 6 + 4);
  const barGap = 3;
  const groupGap = 26;
  const groupW = c.series.length * barW + (c.series.length - 1) * barGap;
  const left = PAD + 28 + Math.max(...axis.ticks.map((t) => t.label.length)) * CHAR_W;
  const plotW = c.groups.length * groupW + (c.groups.length + 1) * groupGap;
  const width = Math.max(520, left + plotW + PAD);
  const plotH = 260;
  body.push(text(PAD, 26, c.title, 'class="title"'));
  const lg = legend(c.series, PAD, 40, width - 2 * PAD);
  body.push(...lg.svg);
  const top = 40 + lg.height + 14;
  const y = (v: number) => top + plotH - axis.pos(v) * plotH;
  for (const t of axis.ticks) {
    body.push(`<line x1="${n(left)}" y1="${n(y(t.v))}" x2="${n(left + plotW)}" y2="${n(y(t.v))}" stroke="#e3e3e3"/>`);
    body.push(text(left - 6, y(t.v) + 4, t.label, 'class="tick" text-anchor="end"'));
  }
  const labelLines = c.groups.map((g) => wrap(g, Math.max(8, Math.floor((groupW + groupGap - 4) / CHAR_W))));
  c.groups.forEach((g, gi) => {
    const gx = left + groupGap + gi * (groupW + groupGap);
    labelLines[gi].forEach((l, li) => body.push(text(gx + groupW / 2, top + plotH + 16 + li * 14, l, 'text-anchor="middle"')));
    c.series.forEach((s, si) => {
      const v = s.values[gi];
      const bx = gx + si * (barW + barGap);
      const label = formatValue(v);
      if (axis.drawable(v)) {
        const y0 = y(axis.base);
        const y1 = y(v);
        body.push(`<rect class="bar" x="${n(bx)}" y="${n(Math.min(y0, y1))}" width="${barW}" height="${n(Math.abs(y1 - y0))}" fill="${color(si)}" data-value="${escapeXml(String(v))}"><title>${escapeXml(`${s.name}, ${g}: ${label}`)}</title></rect>`);
        body.push(text(bx + barW / 2, Math.min(y0, y1) - 4, label, 'class="value" text-anchor="middle"'));
      } else {
        body.push(text(bx + barW / 2, y(axis.base) - 4, label, 'class="value" text-anchor="middle"'));
      }
    });
  });
  body.push(`<line x1="${n(left)}" y1="${n(top)}" x2="${n(left)}" y2="${n(top + plotH)}" stroke="#888"/>`);
  body.push(`<line x1="${n(left)}" y1="${n(y(axis.base))}" x2="${n(left + plotW)}" y2="${n(y(axis.base))}" stroke="#888"/>`);
  body.push(text(PAD + 10, top + plotH / 2, c.axis, `text-anchor="middle" transform="rotate(-90 ${n(PAD + 10)} ${n(top + plotH / 2)})"`));
  const labelsH = Math.max(...labelLines.map((l) => l.length)) * 14;
  const srcTop = top + plotH + 16 + labelsH + 10;
  source.forEach((l, i) => body.push(text(PAD, srcTop + i * 13, l, 'class="source"')));
  return frame(width, srcTop + source.length * 13 + (source.length ? 4 : -10), c.title, body);
}
