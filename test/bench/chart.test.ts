// bench/lib/chart.ts: the SVG bar charts the bench writes beside its tables, and the figures
// files they are drawn from (bench/lib/figures.ts). No browser here: the SVG is checked for
// well-formed XML, bar sizes against the values, escaping, and byte-for-byte determinism.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { escapeXml, formatValue, renderBarChart, type BarChart } from '../../bench/lib/chart';
import { parseFigures, sourceLines, writeChart, writeFigures, type FiguresRecord } from '../../bench/lib/figures';

/** Well-formed XML, enough for our output: balanced tags, quoted attributes, entities only. */
function assertWellFormed(svg: string): void {
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="[\d.]+" height="[\d.]+" viewBox="0 0 [\d.]+ [\d.]+"/);
  assert.ok(svg.trimEnd().endsWith('</svg>'), 'ends with </svg>');
  const stack: string[] = [];
  const re = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let at = 0;
  for (let m = re.exec(svg); m; m = re.exec(svg)) {
    const between = svg.slice(at, m.index);
    assert.doesNotMatch(between, /[<>]/, `stray markup before offset ${m.index}: ${between.slice(0, 60)}`);
    assert.doesNotMatch(between, /&(?!(amp|lt|gt|quot|apos);)/, `bare & in text: ${between.slice(0, 60)}`);
    for (const a of m[3].matchAll(/="([^"]*)"/g)) assert.doesNotMatch(a[1], /&(?!(amp|lt|gt|quot|apos);)/, `bare & in attribute: ${a[1]}`);
    if (m[1]) assert.equal(stack.pop(), m[2], `closing </${m[2]}> matches its opening tag`);
    else if (!m[4]) stack.push(m[2]);
    at = re.lastIndex;
  }
  assert.equal(svg.slice(at).trim(), '', 'nothing after the root element');
  assert.deepEqual(stack, [], 'every element closed');
}

interface Bar { x: number; y: number; width: number; height: number; value: number }
function bars(svg: string): Bar[] {
  return [...svg.matchAll(/<rect class="bar" x="([\d.-]+)" y="([\d.-]+)" width="([\d.]+)" height="([\d.]+)"[^>]*data-value="([^"]+)"/g)]
    .map((m) => ({ x: +m[1], y: +m[2], width: +m[3], height: +m[4], value: +m[5] }));
}

const base: BarChart = {
  title: 'tcp: proxy CPU per request',
  axis: 'proxy CPU µs per request',
  groups: ['pinned', 'unpinned'],
  series: [
    { name: 'xmesh', values: [4.17, 6.21] },
    { name: 'haproxy', values: [6.67, 7.53] },
    { name: 'nginx', values: [6.4, 6.83] },
  ],
};

const shapes: { desc: string; chart: BarChart; size: (b: Bar) => number }[] = [
  { desc: 'horizontal, linear', chart: base, size: (b) => b.width },
  { desc: 'vertical, linear', chart: { ...base, orientation: 'vertical' }, size: (b) => b.height },
];

for (const c of shapes) {
  test(`${c.desc}: well-formed SVG, one bar per value, lengths proportional to the values`, () => {
    const svg = renderBarChart(c.chart);
    assertWellFormed(svg);
    const b = bars(svg);
    assert.equal(b.length, 6);
    assert.deepEqual(b.map((x) => x.value), [4.17, 6.67, 6.4, 6.21, 7.53, 6.83], 'group by group, series in order');
    const unit = c.size(b[0]) / b[0].value;
    for (const x of b) assert.ok(Math.abs(c.size(x) - x.value * unit) < 0.02, `${x.value}: ${c.size(x)} px, want ${x.value * unit}`);
    for (const v of ['4.17', '6.67', '7.53', '6.4', 'proxy CPU µs per request', 'xmesh', 'haproxy', 'nginx', 'pinned', 'unpinned']) assert.ok(svg.includes(`>${v}<`), `label ${v}`);
  });
}

test('log scale: bar lengths proportional to log10(value / lowest decade)', () => {
  const chart: BarChart = {
    title: 'swap', axis: 'latency µs (log scale)', scale: 'log', groups: ['p50', 'p99', 'max'],
    series: [{ name: 'baseline', values: [108, 204, 6640] }, { name: 'swap', values: [99, 2925, 13490] }],
  };
  const svg = renderBarChart(chart);
  assertWellFormed(svg);
  const b = bars(svg);
  assert.equal(b.length, 6);
  const unit = b[0].width / Math.log10(b[0].value / 10); // lowest decade: 10 (99 is above 10)
  for (const x of b) assert.ok(Math.abs(x.width - Math.log10(x.value / 10) * unit) < 0.05, `${x.value}: ${x.width} px`);
  for (const t of ['10', '100', '1,000', '10,000', '100,000']) assert.ok(svg.includes(`>${t}<`), `tick ${t}`);
});

test('negative values extend left of the zero line', () => {
  const svg = renderBarChart({ title: 'added p99', axis: 'µs', groups: ['pass'], series: [{ name: 'a', values: [-20] }, { name: 'b', values: [40] }] });
  assertWellFormed(svg);
  const [neg, pos] = bars(svg);
  assert.ok(Math.abs(neg.x + neg.width - pos.x) < 0.01, 'both bars start at the zero line');
  assert.ok(Math.abs(pos.width - 2 * neg.width) < 0.02);
});

test('labels are escaped: titles, groups, series names, the source lines', () => {
  const nasty = `<script>alert("x")</script> & 'q' \u0001`;
  const svg = renderBarChart({ title: nasty, axis: nasty, groups: [nasty], series: [{ name: nasty, values: [1] }, { name: 'b', values: [2] }], source: [nasty] });
  assertWellFormed(svg);
  assert.doesNotMatch(svg, /<script/);
  assert.doesNotMatch(svg, /\u0001/);
  assert.ok(svg.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &apos;q&apos;'));
  assert.equal(escapeXml('a<b>&"\''), 'a&lt;b&gt;&amp;&quot;&apos;');
});

const empties: { desc: string; chart: BarChart }[] = [
  { desc: 'no groups, no series', chart: { title: 'empty', axis: 'x', groups: [], series: [] } },
  { desc: 'groups but no series', chart: { title: 'empty', axis: 'x', groups: ['a'], series: [] } },
  { desc: 'every value missing', chart: { title: 'empty', axis: 'x', groups: ['a'], series: [{ name: 's', values: [null] }] } },
  { desc: 'log scale with no positive value', chart: { title: 'empty', axis: 'x', scale: 'log', groups: ['a'], series: [{ name: 's', values: [0] }] } },
];
for (const c of empties) {
  test(`empty input (${c.desc}): a valid SVG that says "no figures"`, () => {
    const svg = renderBarChart(c.chart);
    assertWellFormed(svg);
    assert.equal(bars(svg).length, 0);
    assert.ok(svg.includes('>no figures<'));
  });
}

test('a missing value gets a dash and no bar; the others are drawn', () => {
  const svg = renderBarChart({ ...base, series: [{ name: 'xmesh', values: [4.17, null] }, { name: 'haproxy', values: [6.67, 7.53] }] });
  assertWellFormed(svg);
  assert.equal(bars(svg).length, 3);
  assert.ok(svg.includes('>–<'));
});

test('a series colour, when given, is its bars\' and legend swatch\'s; others keep the palette', () => {
  const svg = renderBarChart({ ...base, series: [{ ...base.series[0], color: '#123456' }, base.series[1]] });
  assertWellFormed(svg);
  assert.equal((svg.match(/fill="#123456"/g) ?? []).length, 3, 'two bars and the swatch');
  assert.equal((svg.match(/fill="#E69F00"/g) ?? []).length, 3, 'the second series: the palette\'s second colour');
});

test('the same input gives the same bytes', () => {
  assert.equal(renderBarChart(base), renderBarChart(JSON.parse(JSON.stringify(base)) as BarChart));
  assert.equal(renderBarChart({ ...base, orientation: 'vertical' }), renderBarChart({ ...base, orientation: 'vertical' }));
});

const invalid: { desc: string; chart: unknown; field: RegExp }[] = [
  { desc: 'fewer values than groups', chart: { ...base, series: [{ name: 'x', values: [1] }] }, field: /chart\.series\[0\]\.values: want 2 values/ },
  { desc: 'a string value', chart: { ...base, series: [{ name: 'x', values: [1, '2'] }] }, field: /chart\.series\[0\]\.values\[1\]/ },
  { desc: 'an unknown orientation', chart: { ...base, orientation: 'diagonal' }, field: /chart\.orientation/ },
  { desc: 'groups not strings', chart: { ...base, groups: [1, 2] }, field: /chart\.groups/ },
  { desc: 'a colour that is not #rrggbb', chart: { ...base, series: [{ name: 'x', values: [1, 2], color: 'red' }] }, field: /chart\.series\[0\]\.color/ },
];
for (const c of invalid) {
  test(`malformed input (${c.desc}): TypeError naming the field`, () => {
    assert.throws(() => renderBarChart(c.chart as BarChart), (e: Error) => e instanceof TypeError && c.field.test(e.message));
  });
}

test('value labels: integers from 100 up, thousands separated; below 100 two decimals at most', () => {
  const cases: [number | null, string][] = [[9774, '9,774'], [100000, '100,000'], [16973.82, '16,974'], [353, '353'], [14.55, '14.55'],
    [61.6, '61.6'], [4.17, '4.17'], [6.4, '6.4'], [0.74, '0.74'], [39.6123, '39.61'], [-12.5, '-12.5'], [-2.6, '-2.6'], [0, '0'],
    [null, '–'], [NaN, '–']];
  for (const [v, want] of cases) assert.equal(formatValue(v), want, String(v));
});

const record: FiguresRecord = { scenario: 'tcp', date: '2026-12-03T12:23:00Z', host: '2 CPUs', commands: ['npm run bench -- tcp --runs 5'], chart: base };

test('figures: written as <scenario>.json + .svg; the SVG names the run that produced it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xmesh-chart-test-'));
  try {
    const out = writeFigures(dir, record);
    assert.equal(path.basename(out.json), 'tcp.json');
    assert.deepEqual(parseFigures(JSON.parse(fs.readFileSync(out.json, 'utf8'))), record);
    const svg = fs.readFileSync(out.svg, 'utf8');
    assertWellFormed(svg);
    assert.deepEqual(sourceLines(record), ['Measured 2026-12-03T12:23:00Z on 2 CPUs.', '$ npm run bench -- tcp --runs 5']);
    for (const l of sourceLines(record)) assert.ok(svg.includes(escapeXml(l)), l);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('figures: a malformed record is refused with the field named', () => {
  assert.throws(() => parseFigures({ ...record, commands: [] }, 'f.json'), /f\.json\.commands: want a non-empty array/);
  assert.throws(() => parseFigures({ ...record, scenario: '../x' }, 'f.json'), /f\.json\.scenario/);
  assert.throws(() => parseFigures({ ...record, chart: { ...base, groups: ['one'] } }, 'f.json'), /chart\.series\[0\]\.values/);
});

// The charts embedded in bench/RESULTS.md are drawn from the figures files beside them; a
// bench run rewrites both together. Redrawing must reproduce every committed SVG exactly.
const RESULTS = path.resolve(__dirname, '../../../bench/results');
const committed = fs.existsSync(RESULTS) ? fs.readdirSync(RESULTS).filter((f) => /^[a-z0-9_-]+\.json$/.test(f) && fs.existsSync(path.join(RESULTS, f.replace(/\.json$/, '.svg')))) : [];
for (const f of committed) {
  test(`bench/results/${f}: parses, and its SVG is what chart.ts draws from it`, () => {
    const r = parseFigures(JSON.parse(fs.readFileSync(path.join(RESULTS, f), 'utf8')), f);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xmesh-chart-test-'));
    try {
      const svg = fs.readFileSync(writeChart(dir, r), 'utf8');
      assertWellFormed(svg);
      assert.equal(svg, fs.readFileSync(path.join(RESULTS, `${r.scenario}.svg`), 'utf8'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
