import assert from 'node:assert/strict';
import { test } from 'node:test';
import parse from 'parse-prometheus-text-format';
import type { NativeStat } from '../../src/dataplane/types';
import { PROMETHEUS_LE_MS } from '../../src/stats/histogram';
import { formatPrometheus } from '../../src/stats/prometheus';

const stats: NativeStat[] = [
  { type: 'counter', key: 'cluster.{cluster=backend}.upstream_cx_total', value: 5 },
  { type: 'counter', key: 'cluster.{cluster=we"ird\\name}.upstream_cx_total', value: 2 },
  { type: 'gauge', key: 'cluster.{cluster=backend}.host.{host=127.0.0.1:8080}.cx_active', value: 3 },
  { type: 'gauge', key: 'server.live', value: 1 },
  { type: 'histogram', key: 'cluster.{cluster=backend}.upstream_cx_connect_ms', count: 4, sum: 7500, buckets: [[450, 1], [1000, 1], [2200, 2]] },
];

test('prometheus output parses with a real parser, families grouped with TYPE', async () => {
  const text = await formatPrometheus(stats);
  const fams = parse(text);
  const byName = new Map(fams.map((f) => [f.name, f]));
  assert.deepEqual([...byName.keys()].sort(), [
    'xmesh_cluster_host_cx_active',
    'xmesh_cluster_upstream_cx_connect_ms',
    'xmesh_cluster_upstream_cx_total',
    'xmesh_server_live',
  ]);
  // One TYPE line per family even with several series.
  assert.equal(text.match(/# TYPE xmesh_cluster_upstream_cx_total counter/g)?.length, 1);

  const cx = byName.get('xmesh_cluster_upstream_cx_total')!;
  assert.equal(cx.type, 'COUNTER');
  const values = Object.fromEntries(cx.metrics.map((m) => [m.labels!.cluster, m.value]));
  assert.deepEqual(values, { backend: '5', 'we"ird\\name': '2' });

  const host = byName.get('xmesh_cluster_host_cx_active')!;
  assert.equal(host.type, 'GAUGE');
  assert.deepEqual(host.metrics[0].labels, { cluster: 'backend', host: '127.0.0.1:8080' });
});

test('histograms are in ms with cumulative le buckets, _sum and _count', async () => {
  const text = await formatPrometheus(stats);
  // parse-prometheus-text-format folds a labelled histogram's series into one object and keeps
  // only its buckets, so the labelled case checks buckets via the parser and _sum/_count by line.
  const h = parse(text).find((f) => f.name === 'xmesh_cluster_upstream_cx_connect_ms')!;
  assert.equal(h.type, 'HISTOGRAM');
  const b = h.metrics[0].buckets!;
  assert.equal(Object.keys(b).length, PROMETHEUS_LE_MS.length + 1);
  assert.deepEqual([b['0.5'], b['1'], b['5'], b['3600000'], b['+Inf']], ['1', '2', '4', '4', '4']);
  assert.match(text, /^xmesh_cluster_upstream_cx_connect_ms_bucket\{cluster="backend",le="0.5"\} 1$/m);
  assert.match(text, /^xmesh_cluster_upstream_cx_connect_ms_sum\{cluster="backend"\} 7.5$/m);
  assert.match(text, /^xmesh_cluster_upstream_cx_connect_ms_count\{cluster="backend"\} 4$/m);
});

test('an unlabelled histogram: count and sum through the parser; a _us key becomes _ms', async () => {
  const text = await formatPrometheus([{ type: 'histogram', key: 'server.apply_time_us', count: 3, sum: 1_500_000, buckets: [[900_000, 2], [40_000_000, 1]] }]);
  const [h] = parse(text);
  assert.equal(h.name, 'xmesh_server_apply_time_ms');
  assert.equal(h.type, 'HISTOGRAM');
  assert.equal(h.metrics[0].count, '3');
  assert.equal(h.metrics[0].sum, '1500');
  assert.equal(h.metrics[0].buckets!['1000'], '2');
  assert.equal(h.metrics[0].buckets!['30000'], '2');
  assert.equal(h.metrics[0].buckets!['60000'], '3');
});

test('escaped label values appear escaped in the raw text', async () => {
  assert.match(await formatPrometheus(stats), /cluster="we\\"ird\\\\name"/);
});

test('control characters in label values cannot break a sample onto two lines; the scrape still parses', async () => {
  const text = await formatPrometheus([
    { type: 'counter', key: 'cluster.{cluster=a\nxmesh_fake 1}.upstream_cx_total', value: 1 },
    { type: 'counter', key: 'cluster.{cluster=b\r\t\u0000}.upstream_cx_total', value: 2 },
  ]);
  assert.equal(text.split('\n').length, 4, text); // TYPE + 2 samples + final newline
  assert.doesNotMatch(text.replace(/\n/g, ''), /[\u0000-\u001f\u007f-\u009f]/);
  assert.match(text, /cluster="a\\nxmesh_fake 1"/);
  assert.match(text, /cluster="b\\\\x0d\\\\x09\\\\x00"/);
  const [f] = parse(text);
  assert.deepEqual(f.metrics.map((m) => m.labels!.cluster), ['a\nxmesh_fake 1', 'b\\x0d\\x09\\x00']);
});

test('empty stats produce empty output', async () => {
  assert.equal(await formatPrometheus([]), '');
});
