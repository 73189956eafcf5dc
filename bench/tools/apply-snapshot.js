// Encodes the `swap` scenario's big snapshot (10,000 clusters / 100,000 endpoints, same LB mix)
// with the control core's own translate + encode, for apply-snapshot.c. Usage: node apply-snapshot.js OUT
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const D = path.resolve(__dirname, '..', '..', 'dist', 'src');
const { loadConfigText } = require(path.join(D, 'config', 'load.js'));
const { translate } = require(path.join(D, 'config', 'translate.js'));
const { encodeSnapshot } = require(path.join(D, 'dataplane', 'snapshot.js'));

const ep = (address, port) => ({ endpoint: { address: { socket_address: { address, port_value: port } } } });
const clusters = [{ name: 'up_swap', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'up_swap', endpoints: [{ lb_endpoints: [ep('127.0.0.1', 9)] }] } }];
for (let i = 1; i < 10000; i++) {
  const eps = [];
  for (let j = 0; j < 10; j++) eps.push(ep(`127.${(i >> 8) & 255}.${i & 255}.${j + 1}`, 8000 + j));
  const lb = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'ROUND_ROBIN', 'MAGLEV'][i % 10];
  const extra = lb === 'MAGLEV' ? { maglev_lb_config: { table_size: 1021 } } : {};
  clusters.push({ name: `svc-${i}`, type: 'STATIC', connect_timeout: '1s', lb_policy: lb, ...extra, load_assignment: { cluster_name: `svc-${i}`, endpoints: [{ lb_endpoints: eps }] } });
}
const tcp = { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'swap', cluster: 'up_swap' };
const cfg = { static_resources: { listeners: [{ name: 'swap', address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: tcp }] }] }], clusters } };
const t = translate(loadConfigText(JSON.stringify(cfg), 'big.json').config, new Map(), 1);
const bytes = encodeSnapshot(t.snapshot);
fs.writeFileSync(process.argv[2], bytes);
console.log(`snapshot: ${bytes.length} bytes, ${clusters.length} clusters`);
