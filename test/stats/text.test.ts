import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NativeStat } from '../../src/dataplane/types';
import { ControlStats } from '../../src/stats/control-stats';
import { formatJson, formatText } from '../../src/stats/text';

const stats: NativeStat[] = [
  { type: 'gauge', key: 'server.live', value: 1 },
  { type: 'counter', key: 'cluster.{cluster=b}.upstream_cx_total', value: 5 },
  { type: 'histogram', key: 'cluster.{cluster=b}.upstream_cx_connect_ms', count: 10, sum: 12_345, buckets: [[1000, 5], [2000, 4], [9000, 1]] },
  { type: 'histogram', key: 'cluster.{cluster=b}.idle_ms', count: 0, sum: 0, buckets: [] },
];

test('text stats: sorted name: value lines, histograms as quantiles in ms', () => {
  assert.equal(
    formatText(stats),
    [
      'cluster.b.upstream_cx_total: 5',
      'server.live: 1',
      'cluster.b.idle_ms: P50(nan) P90(nan) P99(nan) P99.9(nan) count(0) sum(0)',
      'cluster.b.upstream_cx_connect_ms: P50(1) P90(2) P99(9) P99.9(9) count(10) sum(12.345)',
      '',
    ].join('\n'),
  );
});

test('text stats: filter regex', () => {
  assert.equal(formatText(stats, /^server\./), 'server.live: 1\n');
});

test('json stats', () => {
  const j = formatJson(stats);
  assert.deepEqual(j.stats, [
    { name: 'cluster.b.upstream_cx_total', type: 'counter', value: 5 },
    { name: 'server.live', type: 'gauge', value: 1 },
  ]);
  assert.deepEqual(j.histograms[1], { name: 'cluster.b.upstream_cx_connect_ms', count: 10, sum_ms: 12.345, quantiles_ms: { P50: 1, P90: 2, P99: 9, 'P99.9': 9 } });
});

test('control stats export counters and gauges under server.', () => {
  const c = new ControlStats();
  c.inc('config_reload_ok');
  c.inc('dns_resolutions', 3);
  c.set('snapshot_version', 4);
  const byKey = new Map(c.toStats().map((s) => [s.key, s]));
  assert.deepEqual(byKey.get('server.config_reload_ok'), { type: 'counter', key: 'server.config_reload_ok', value: 1 });
  assert.equal((byKey.get('server.dns_resolutions') as { value: number }).value, 3);
  assert.deepEqual(byKey.get('server.snapshot_version'), { type: 'gauge', key: 'server.snapshot_version', value: 4 });
});
