import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeDiff, DIFF_NAMES_LOGGED, diffConfig, diffIsEmpty } from '../../src/config/diff';
import type { BootstrapCfg } from '../../src/config/types';
import { baseConfig, staticCluster, tcpProxyListener } from './helpers';

function cfg(mutate: (c: any) => void = () => undefined): BootstrapCfg {
  const c = baseConfig();
  mutate(c);
  return c as BootstrapCfg;
}

const cases: Array<{ desc: string; after: BootstrapCfg; listeners: [string[], string[], string[]]; clusters: [string[], string[], string[]] }> = [
  { desc: 'nothing changed', after: cfg(), listeners: [[], [], []], clusters: [[], [], []] },
  { desc: 'a listener added', after: cfg((c) => c.static_resources.listeners.push(tcpProxyListener('l2', 0, 'c'))), listeners: [['l2'], [], []], clusters: [[], [], []] },
  { desc: 'a cluster changed (one endpoint port)', after: cfg((c) => (c.static_resources.clusters[0] = staticCluster('c', [['127.0.0.1', 9002]]))), listeners: [[], [], []], clusters: [[], ['c'], []] },
  { desc: 'every listener removed', after: cfg((c) => (c.static_resources.listeners = [])), listeners: [[], [], ['l']], clusters: [[], [], []] },
  { desc: 'no static_resources at all', after: cfg((c) => delete c.static_resources), listeners: [[], [], ['l']], clusters: [[], [], ['c']] },
  {
    desc: 'a rename is a removal and an addition',
    after: cfg((c) => {
      c.static_resources.clusters = [staticCluster('c2', [['127.0.0.1', 9001]])];
      c.static_resources.listeners = [tcpProxyListener('l', 0, 'c2')];
    }),
    listeners: [[], ['l'], []],
    clusters: [['c2'], [], ['c']],
  },
];
for (const c of cases) {
  test(`diffConfig: ${c.desc}`, async () => {
    const d = await diffConfig(cfg(), c.after);
    assert.deepEqual([d.listeners.added, d.listeners.changed, d.listeners.removed], c.listeners);
    assert.deepEqual([d.clusters.added, d.clusters.changed, d.clusters.removed], c.clusters);
    assert.equal(diffIsEmpty(d), c.desc === 'nothing changed');
  });
}

test('describeDiff: one line naming each, long lists counted', async () => {
  const many = cfg((c) => {
    for (let i = 0; i < DIFF_NAMES_LOGGED + 7; i++) c.static_resources.clusters.push(staticCluster(`x${i}`, [['127.0.0.1', 1]]));
  });
  const line = describeDiff(await diffConfig(cfg(), many));
  assert.match(line, /^listeners added: -; changed: -; removed: - \| clusters added: x0, x1, .*x49 \.\.\. and 7 more; changed: -; removed: -$/);
});
