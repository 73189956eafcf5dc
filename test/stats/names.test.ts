import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeLabelValue, formatLabels, parseStatKey, prometheusName } from '../../src/stats/names';

const cases: Array<{ desc: string; key: string; envoy: string; family: string; labels: Array<[string, string]> }> = [
  { desc: 'plain key', key: 'server.live', envoy: 'server.live', family: 'xmesh_server_live', labels: [] },
  { desc: 'one label', key: 'cluster.{cluster=backend}.upstream_cx_total', envoy: 'cluster.backend.upstream_cx_total', family: 'xmesh_cluster_upstream_cx_total', labels: [['cluster', 'backend']] },
  {
    desc: 'two labels, value with dots and colon',
    key: 'cluster.{cluster=backend}.host.{host=127.0.0.1:8080}.cx_active',
    envoy: 'cluster.backend.host.127.0.0.1:8080.cx_active',
    family: 'xmesh_cluster_host_cx_active',
    labels: [['cluster', 'backend'], ['host', '127.0.0.1:8080']],
  },
  {
    desc: 'Istio-style cluster name with pipes and dots',
    key: 'cluster.{cluster=outbound|80||reviews.default.svc.cluster.local}.upstream_cx_total',
    envoy: 'cluster.outbound|80||reviews.default.svc.cluster.local.upstream_cx_total',
    family: 'xmesh_cluster_upstream_cx_total',
    labels: [['cluster', 'outbound|80||reviews.default.svc.cluster.local']],
  },
  { desc: 'label last', key: 'listener.downstream_cx_total.{listener=demo}', envoy: 'listener.downstream_cx_total.demo', family: 'xmesh_listener_downstream_cx_total', labels: [['listener', 'demo']] },
  { desc: 'invalid metric characters are replaced', key: 'tcp-proxy.{x=1}.bytes/sec', envoy: 'tcp-proxy.1.bytes/sec', family: 'xmesh_tcp_proxy_bytes_sec', labels: [['x', '1']] },
  { desc: 'invalid label name is sanitised', key: 'a.{my-label=v}.b', envoy: 'a.v.b', family: 'xmesh_a_b', labels: [['my_label', 'v']] },
];
for (const c of cases) {
  test(`stat names: ${c.desc}`, () => {
    assert.equal(parseStatKey(c.key).envoyName, c.envoy);
    assert.deepEqual(prometheusName(c.key), { family: c.family, labels: c.labels });
  });
}

test('label values escape backslash, quote and newline', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(formatLabels([['k', 'say "hi"']]), '{k="say \\"hi\\""}');
  assert.equal(formatLabels([]), '');
});
