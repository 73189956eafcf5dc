import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NativeStat } from '../../src/dataplane/types';
import { ControlStats } from '../../src/stats/control-stats';
import { formatText, statsJson } from '../../src/stats/text';

const stats: NativeStat[] = [
  { type: 'gauge', key: 'server.live', value: 1 },
  { type: 'counter', key: 'cluster.{cluster=b}.upstream_cx_total', value: 5 },
  { type: 'histogram', key: 'cluster.{cluster=b}.upstream_cx_connect_ms', count: 10, sum: 12_345, buckets: [[1000, 5], [2000, 4], [9000, 1]] },
  { type: 'histogram', key: 'cluster.{cluster=b}.idle_ms', count: 0, sum: 0, buckets: [] },
];

test('text stats: sorted name: value lines, histograms as quantiles in ms', async () => {
  assert.equal(
    await formatText(stats),
    [
      'cluster.b.upstream_cx_total: 5',
      'server.live: 1',
      'cluster.b.idle_ms: No recorded values',
      'cluster.b.upstream_cx_connect_ms: P50(1) P90(2) P99(9) P99.9(9) count(10) sum(12.345)',
      '',
    ].join('\n'),
  );
});

test('text stats: an empty histogram prints no NaN quantiles', async () => {
  const out = await formatText([{ type: 'histogram', key: 'cluster.{cluster=b}.upstream_cx_length_ms', count: 0, sum: 0, buckets: [] }]);
  assert.equal(out, 'cluster.b.upstream_cx_length_ms: No recorded values\n');
  assert.doesNotMatch(out, /nan/i);
});

const controlCases: Array<{ desc: string; cluster: string; printed: string }> = [
  { desc: 'a newline', cluster: 'evil\nserver.live: 1', printed: 'evil\\nserver.live: 1' },
  { desc: 'a carriage return and a tab', cluster: 'a\rb\tc', printed: 'a\\rb\\tc' },
  { desc: 'other C0, DEL and C1 controls (as \\xHH)', cluster: 'a\u0000b\u001bc\u007fd\u0085', printed: 'a\\x00b\\x1bc\\x7fd\\x85' },
];
for (const c of controlCases) {
  test(`text stats: a cluster name with ${c.desc} stays on its own line, escaped`, async () => {
    const out = await formatText([{ type: 'counter', key: `cluster.{cluster=${c.cluster}}.upstream_cx_total`, value: 3 }]);
    assert.equal(out, `cluster.${c.printed}.upstream_cx_total: 3\n`);
    assert.doesNotMatch(out.slice(0, -1), /[\u0000-\u001f\u007f-\u009f]/);
  });
}

test('text stats: filter regex', async () => {
  assert.equal(await formatText(stats, /^server\./), 'server.live: 1\n');
});

test('json stats', async () => {
  const j = await statsJson(stats);
  assert.deepEqual(j.stats, [
    { name: 'cluster.b.upstream_cx_total', type: 'counter', value: 5 },
    { name: 'server.live', type: 'gauge', value: 1 },
  ]);
  assert.deepEqual(j.histograms[1], { name: 'cluster.b.upstream_cx_connect_ms', count: 10, sum_ms: 12.345, quantiles_ms: { P50: 1, P90: 2, P99: 9, 'P99.9': 9 } });
});

test('control stats export counters and gauges under server.', async () => {
  const c = new ControlStats();
  c.inc('config_reload_ok');
  c.inc('dns_resolutions', 3);
  c.set('snapshot_version', 4);
  const byKey = new Map(c.toStats().map((s) => [s.key, s]));
  assert.deepEqual(byKey.get('server.config_reload_ok'), { type: 'counter', key: 'server.config_reload_ok', value: 1 });
  assert.equal((byKey.get('server.dns_resolutions') as { value: number }).value, 3);
  assert.deepEqual(byKey.get('server.snapshot_version'), { type: 'gauge', key: 'server.snapshot_version', value: 4 });
});
