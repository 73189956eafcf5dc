import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig } from '../../src/config/validate';
import { baseConfig, staticCluster, tcpProxyListener } from './helpers';

type Mutate = (c: any) => void;
const tp = (c: any, i = 0): any => c.static_resources.listeners[i].filter_chains[0].filters[0].typed_config;
const L = 'static_resources.listeners[0]';
const TP = `${L}.filter_chains[0].filters[0].typed_config`;
const C = 'static_resources.clusters[0]';


/** Replace listener 0's filter with an x_proxy (bolt) routing every service to cluster "c". */
function xproxy(c: any, patch: (x: any) => void = () => undefined): void {
  const x: any = {
    '@type': 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy',
    stat_prefix: 'rpc',
    protocol: 'bolt',
    route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ route: { cluster: 'c' } }] }] },
  };
  patch(x);
  c.static_resources.listeners[0].filter_chains[0].filters[0] = { name: 'xmesh.x_proxy', typed_config: x };
}
const XP = `${L}.filter_chains[0].filters[0].typed_config`;
const F = `${L}.filter_chains[0].filters`;
const CL_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit';
const GCX = 'envoy.resource_monitors.global_downstream_max_connections';
const HEAP = 'envoy.resource_monitors.fixed_heap';
const HEAP_TYPE = 'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig';
const GCX_TYPE = 'type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig';
/** Put a connection_limit filter (typed_config patched) in front of listener 0's filter. */
function limit(c: any, patch: (t: any) => void = () => undefined): void {
  const t: any = { '@type': CL_TYPE, stat_prefix: 'cl', max_connections: 100 };
  patch(t);
  c.static_resources.listeners[0].filter_chains[0].filters.unshift({ name: 'envoy.filters.network.connection_limit', typed_config: t });
}
const XR = `${XP}.route_config.virtual_hosts[0].routes[0]`;

/** Each case mutates a valid config; `errors` is the exact list of [path, message pattern] expected. */
const invalid: Array<{ desc: string; mutate: Mutate; errors: Array<[string, RegExp]> }> = [
  { desc: 'x_proxy with an unknown protocol', mutate: (c) => xproxy(c, (x) => (x.protocol = 'thrift')), errors: [[`${XP}.protocol`, /unknown value "thrift" \(expected one of bolt, dubbo\)/]] },
  { desc: 'x_proxy route to a missing cluster', mutate: (c) => xproxy(c, (x) => (x.route_config.virtual_hosts[0].routes[0].route.cluster = 'nope')), errors: [[`${XR}.route.cluster`, /unknown cluster "nope"/]] },
  { desc: 'x_proxy method match with two kinds', mutate: (c) => xproxy(c, (x) => (x.route_config.virtual_hosts[0].routes[0].match = { method: { exact: 'a', prefix: 'b' } })), errors: [[`${XR}.match.method`, /set exactly one of exact, prefix, present/]] },
  { desc: 'x_proxy domain with a wildcard in the middle', mutate: (c) => xproxy(c, (x) => (x.route_config.virtual_hosts[0].domains = ['com.*.Svc'])), errors: [[`${XP}.route_config.virtual_hosts[0].domains[0]`, /wildcard/]] },
  { desc: 'x_proxy without route_config and with a bad timeout', mutate: (c) => xproxy(c, (x) => { delete x.route_config; x.request_timeout = 'soon'; }), errors: [[`${XP}.route_config`, /required/], [`${XP}.request_timeout`, /soon/]] },
  { desc: 'x_proxy method regex that does not compile', mutate: (c) => xproxy(c, (x) => (x.route_config.virtual_hosts[0].routes[0].match = { method: { safe_regex: { regex: 'get(' } } })), errors: [[`${XR}.match.method.safe_regex.regex`, /invalid regular expression/]] },
  { desc: 'x_proxy retry on reset without idempotent, and an unknown condition', mutate: (c) => xproxy(c, (x) => (x.route_config.virtual_hosts[0].routes[0].route.retry_policy = { retry_on: 'reset,5xx', num_retries: 11 })), errors: [[`${XR}.route.retry_policy.num_retries`, /out of range/], [`${XR}.route.retry_policy.retry_on`, /set route.idempotent: true/], [`${XR}.route.retry_policy.retry_on`, /unsupported retry condition "5xx"/]] },
  { desc: 'x_proxy metadata_match with a nested value and no envoy.lb pairs', mutate: (c) => xproxy(c, (x) => { x.route_config.virtual_hosts[0].routes[0].route.metadata_match = { filter_metadata: { 'envoy.lb': { version: { x: 1 } } } }; }), errors: [[`${XR}.route.metadata_match.filter_metadata.envoy.lb.version`, /values must be strings/]] },
  { desc: 'x_proxy with both protocol and protocols', mutate: (c) => xproxy(c, (x) => (x.protocols = ['bolt', 'dubbo'])), errors: [[XP, /set exactly one of protocol or protocols, not both/]] },
  { desc: 'x_proxy with neither protocol nor protocols', mutate: (c) => xproxy(c, (x) => delete x.protocol), errors: [[`${XP}.protocol`, /required field is missing \(or set protocols\)/]] },
  { desc: 'x_proxy protocols with a duplicate and an unknown name', mutate: (c) => xproxy(c, (x) => { delete x.protocol; x.protocols = ['bolt', 'dubbo', 'bolt', 'thrift']; }), errors: [[`${XP}.protocols[2]`, /protocol "bolt" listed twice/], [`${XP}.protocols[3]`, /unknown value "thrift" \(expected one of bolt, dubbo\)/]] },
  { desc: 'x_proxy with an empty protocols list', mutate: (c) => xproxy(c, (x) => { delete x.protocol; x.protocols = []; }), errors: [[`${XP}.protocols`, /at least 1/]] },
  {
    desc: 'x_proxy fallback_tcp_proxy validated like the tcp_proxy filter, errors at its path',
    mutate: (c) => xproxy(c, (x) => { x.fallback_tcp_proxy = { stat_prefix: 'raw', cluster: 'nope', max_connect_attempts: 0, idle_timeout: 'later', bogus: 1 }; }),
    errors: [
      [`${XP}.fallback_tcp_proxy.bogus`, /unknown field/],
      [`${XP}.fallback_tcp_proxy.idle_timeout`, /later/],
      [`${XP}.fallback_tcp_proxy.max_connect_attempts`, /out of range/],
      [`${XP}.fallback_tcp_proxy.cluster`, /unknown cluster "nope"/],
    ],
  },
  { desc: 'x_proxy fallback_tcp_proxy without stat_prefix or cluster', mutate: (c) => xproxy(c, (x) => (x.fallback_tcp_proxy = {})), errors: [[`${XP}.fallback_tcp_proxy.stat_prefix`, /required/], [`${XP}.fallback_tcp_proxy.cluster`, /required/]] },
  { desc: 'x_proxy fallback_tcp_proxy with a wrong @type', mutate: (c) => xproxy(c, (x) => (x.fallback_tcp_proxy = { '@type': 'type.googleapis.com/x.Y', stat_prefix: 'raw', cluster: 'c' })), errors: [[`${XP}.fallback_tcp_proxy.@type`, /expected "type.googleapis.com\/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"/]] },
  { desc: 'x_proxy detect_timeout not a duration', mutate: (c) => xproxy(c, (x) => { delete x.protocol; x.protocols = ['bolt', 'dubbo']; x.detect_timeout = 'soon'; }), errors: [[`${XP}.detect_timeout`, /soon/]] },
  { desc: 'x_proxy hash_policy with two entries and both kinds in one', mutate: (c) => xproxy(c, (x) => (x.route_config.virtual_hosts[0].routes[0].route.hash_policy = [{ meta: { name: 'uid' }, connection_properties: { source_ip: true } }, { meta: { name: 'x' } }])), errors: [[`${XR}.route.hash_policy`, /one hash policy per route/], [`${XR}.route.hash_policy[0]`, /set exactly one of meta or connection_properties/]] },
  { desc: 'connection_limit without max_connections, with a delay and a wrong @type', mutate: (c) => limit(c, (t) => { delete t.max_connections; t.delay = '1s'; t['@type'] = 'type.googleapis.com/x.Y'; }), errors: [[`${F}[0].typed_config.max_connections`, /required/], [`${F}[0].typed_config.delay`, /closed at once/], [`${F}[0].typed_config.@type`, /expected "type.googleapis.com\/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit"/]] },
  { desc: 'connection_limit with max_connections 0', mutate: (c) => limit(c, (t) => (t.max_connections = 0)), errors: [[`${F}[0].typed_config.max_connections`, /out of range/]] },
  { desc: 'connection_limit as the last filter', mutate: (c) => { limit(c); c.static_resources.listeners[0].filter_chains[0].filters.reverse(); }, errors: [[`${F}[0].name`, /must be the chain's last filter/], [`${F}[1].name`, /cannot end a filter chain/]] },
  { desc: 'three connection_limit filters in one chain', mutate: (c) => { limit(c); limit(c, (t) => (t.stat_prefix = 'b')); limit(c, (t) => (t.stat_prefix = 'c')); }, errors: [[F, /at most 2 connection_limit filters per chain, got 3/]] },
  { desc: 'two terminal filters in one chain', mutate: (c) => { const f = c.static_resources.listeners[0].filter_chains[0].filters; f.push(f[0]); }, errors: [[`${F}[0].name`, /must be the chain's last filter/]] },
  { desc: 'overload_manager: an unknown resource monitor, and the connection limit without its value', mutate: (c) => (c.overload_manager = { resource_monitors: [{ name: 'envoy.resource_monitors.cpu_utilization', typed_config: {} }, { name: GCX, typed_config: { '@type': GCX_TYPE } }] }), errors: [['overload_manager.resource_monitors[0].name', /not supported by xmesh yet \(supported: envoy.resource_monitors.global_downstream_max_connections, envoy.resource_monitors.fixed_heap\)/], ['overload_manager.resource_monitors[1].typed_config.max_active_downstream_connections', /required/]] },
  {
    desc: 'overload actions: an unknown one, a trigger on a monitor not configured, a threshold above 1, scaled thresholds out of order, both trigger kinds',
    mutate: (c) => (c.overload_manager = {
      actions: [
        { name: 'envoy.overload_actions.shrink_heap', triggers: [{ name: HEAP, threshold: { value: 0.9 } }] },
        { name: 'envoy.overload_actions.stop_accepting_connections', triggers: [{ name: HEAP, threshold: { value: 1.5 } }] },
        { name: 'envoy.overload_actions.reject_incoming_connections', triggers: [{ name: GCX, scaled: { scaling_threshold: 0.9, saturation_threshold: 0.8 } }] },
      ],
      resource_monitors: [{ name: GCX, typed_config: { '@type': GCX_TYPE, max_active_downstream_connections: 10 } }],
    }),
    errors: [
      ['overload_manager.actions[0].name', /"envoy.overload_actions.shrink_heap" is not supported by xmesh yet/],
      ['overload_manager.actions[0].triggers[0].name', /is not in resource_monitors/],
      ['overload_manager.actions[1].triggers[0].name', /is not in resource_monitors/],
      ['overload_manager.actions[1].triggers[0].threshold.value', /from 0 to 1/],
      ['overload_manager.actions[2].triggers[0].name', /triggered by envoy.resource_monitors.fixed_heap only/],
      ['overload_manager.actions[2].triggers[0].scaled', /scaling_threshold must be below saturation_threshold/],
    ],
  },
  { desc: 'reset_high_memory_stream without buffer_factory_config, and a power of two out of range', mutate: (c) => (c.overload_manager = { resource_monitors: [{ name: HEAP, typed_config: { '@type': HEAP_TYPE, max_heap_size_bytes: 1 << 30 } }], actions: [{ name: 'envoy.overload_actions.reset_high_memory_stream', triggers: [{ name: HEAP, threshold: { value: 0.9 } }] }] }), errors: [['overload_manager.actions[0].name', /needs overload_manager.buffer_factory_config.minimum_account_to_track_power_of_two/]] },
  { desc: 'buffer_factory_config with a power of two below 10', mutate: (c) => (c.overload_manager = { buffer_factory_config: { minimum_account_to_track_power_of_two: 4 } }), errors: [['overload_manager.buffer_factory_config.minimum_account_to_track_power_of_two', /out of range/]] },
  { desc: 'document is not an object', mutate: (c) => { for (const k of Object.keys(c)) delete c[k]; c.x = 1; }, errors: [['x', /unknown field/]] },
  { desc: 'unknown top-level field', mutate: (c) => (c.static_resourcez = {}), errors: [['static_resourcez', /unknown field \(known fields: admin, static_resources/]] },
  {
    desc: 'admin port equal to a listener port',
    mutate: (c) => {
      c.admin.address.socket_address.port_value = 15000;
      c.static_resources.listeners[0].address.socket_address.port_value = 15000;
    },
    errors: [['admin.address.socket_address.port_value', /^127\.0\.0\.1:15000 is also the address of listener "l" \(static_resources\.listeners\[0\]\.address\): the admin server and a listener cannot share a port$/]],
  },
  {
    desc: 'admin on a wildcard address and a listener on its port',
    mutate: (c) => {
      c.admin.address.socket_address = { address: '0.0.0.0', port_value: 15001 };
      c.static_resources.listeners[0].address.socket_address.port_value = 15001;
    },
    errors: [['admin.address.socket_address.port_value', /0\.0\.0\.0:15001 is also the address of listener "l"/]],
  },
  { desc: 'unknown lb_policy value', mutate: (c) => (c.static_resources.clusters[0].lb_policy = 'FOO'), errors: [[`${C}.lb_policy`, /unknown value "FOO" \(expected one of ROUND_ROBIN, RANDOM, LEAST_REQUEST/]] },
  { desc: 'tcp_keepalive out of range and unknown keepalive field', mutate: (c) => (c.static_resources.clusters[0].upstream_connection_options = { tcp_keepalive: { keepalive_time: 0, keepalive_idle: 5 } }), errors: [[`${C}.upstream_connection_options.tcp_keepalive.keepalive_time`, /out of range/], [`${C}.upstream_connection_options.tcp_keepalive.keepalive_idle`, /unknown field/]] },
  {
    desc: 'listener socket_options: both values, neither, bad base64, level out of range, unknown state',
    mutate: (c) =>
      (c.static_resources.listeners[0].socket_options = [
        { level: 6, name: 13, int_value: 1, buf_value: 'cmVubw==' },
        { level: 6, name: 13 },
        { level: 6, name: 13, buf_value: 'not base64!' },
        { level: -1, name: 13, int_value: 1 },
        { level: 1, name: 9, int_value: 1, state: 'STATE_LATER' },
      ]),
    errors: [
      [`${L}.socket_options[0]`, /exactly one of int_value or buf_value/],
      [`${L}.socket_options[1]`, /exactly one of int_value or buf_value/],
      [`${L}.socket_options[2].buf_value`, /must be base64/],
      [`${L}.socket_options[3].level`, /must be an integer in \[0, 2147483647\]/],
      [`${L}.socket_options[4].state`, /unknown value "STATE_LATER"/],
    ],
  },
  { desc: 'socket option buf_value over 128 bytes', mutate: (c) => (c.static_resources.listeners[0].socket_options = [{ level: 6, name: 13, buf_value: Buffer.alloc(129, 1).toString('base64') }]), errors: [[`${L}.socket_options[0].buf_value`, /at most 128 bytes, got 129/]] },
  { desc: 'upstream_bind_config source_address is not supported', mutate: (c) => (c.static_resources.clusters[0].upstream_bind_config = { source_address: { address: '127.0.0.2', port_value: 0 } }), errors: [[`${C}.upstream_bind_config.source_address`, /not supported by xmesh yet/]] },
  { desc: 'upstream socket option int_value not an integer', mutate: (c) => (c.static_resources.clusters[0].upstream_bind_config = { socket_options: [{ level: 6, name: 2, int_value: 1.5 }] }), errors: [[`${C}.upstream_bind_config.socket_options[0].int_value`, /must be an integer/]] },
  { desc: 'unknown cluster type', mutate: (c) => (c.static_resources.clusters[0].type = 'MAGIC'), errors: [[`${C}.type`, /unknown value "MAGIC"/]] },
  { desc: 'port above 65535', mutate: (c) => (c.static_resources.listeners[0].address.socket_address.port_value = 70000), errors: [[`${L}.address.socket_address.port_value`, /out of range \(expected 0\.\.65535\)/]] },
  { desc: 'endpoint port 0', mutate: (c) => (c.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = 0), errors: [[`${C}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value`, /out of range \(expected 1\.\.65535\)/]] },
  { desc: 'port as a string', mutate: (c) => (c.static_resources.listeners[0].address.socket_address.port_value = '80'), errors: [[`${L}.address.socket_address.port_value`, /expected an integer, got string "80"/]] },
  { desc: 'bad duration syntax', mutate: (c) => (c.static_resources.clusters[0].connect_timeout = '1 second'), errors: [[`${C}.connect_timeout`, /invalid duration "1 second"/]] },
  { desc: 'hostname in a STATIC cluster', mutate: (c) => (c.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address = 'backend.local'), errors: [[`${C}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address`, /not an IP address literal \(STATIC clusters need IP literals; use type STRICT_DNS/]] },
  { desc: 'invalid hostname in STRICT_DNS', mutate: (c) => { const cl = c.static_resources.clusters[0]; cl.type = 'STRICT_DNS'; cl.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address = 'bad_host!'; }, errors: [[`${C}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address`, /neither an IP address literal nor a valid DNS hostname/]] },
  { desc: 'hostname listener address', mutate: (c) => (c.static_resources.listeners[0].address.socket_address.address = 'localhost'), errors: [[`${L}.address.socket_address.address`, /not an IP address literal \(listeners bind/]] },
  { desc: 'duplicate listener names', mutate: (c) => c.static_resources.listeners.push(tcpProxyListener('l', 0, 'c')), errors: [['static_resources.listeners[1].name', /duplicate listener name "l"/]] },
  { desc: 'duplicate cluster names', mutate: (c) => c.static_resources.clusters.push(staticCluster('c', [['127.0.0.1', 1]])), errors: [['static_resources.clusters[1].name', /duplicate cluster name "c"/]] },
  { desc: 'two listeners on one address', mutate: (c) => { c.static_resources.listeners[0].address.socket_address.port_value = 8080; c.static_resources.listeners.push(tcpProxyListener('m', 8080, 'c')); }, errors: [['static_resources.listeners[1].address', /127\.0\.0\.1:8080 overlaps the address of listener "l"/]] },
  { desc: 'tcp_proxy references a missing cluster', mutate: (c) => (tp(c).cluster = 'nope'), errors: [[`${TP}.cluster`, /unknown cluster "nope"/]] },
  { desc: 'cluster and weighted_clusters both set', mutate: (c) => (tp(c).weighted_clusters = { clusters: [{ name: 'c', weight: 1 }] }), errors: [[TP, /exactly one of cluster or weighted_clusters/]] },
  { desc: 'neither cluster nor weighted_clusters', mutate: (c) => delete tp(c).cluster, errors: [[`${TP}.cluster`, /required field is missing/]] },
  { desc: 'weighted cluster weight 0', mutate: (c) => { delete tp(c).cluster; tp(c).weighted_clusters = { clusters: [{ name: 'c', weight: 0 }] }; }, errors: [[`${TP}.weighted_clusters.clusters[0].weight`, /out of range \(expected 1\.\./]] },
  { desc: 'weighted cluster unknown', mutate: (c) => { delete tp(c).cluster; tp(c).weighted_clusters = { clusters: [{ name: 'zz', weight: 1 }] }; }, errors: [[`${TP}.weighted_clusters.clusters[0].name`, /unknown cluster "zz"/]] },
  { desc: 'maglev table size not prime', mutate: (c) => { c.static_resources.clusters[0].lb_policy = 'MAGLEV'; c.static_resources.clusters[0].maglev_lb_config = { table_size: 65536 }; }, errors: [[`${C}.maglev_lb_config.table_size`, /65536 is not a prime number/]] },
  { desc: 'wrong tcp_proxy @type', mutate: (c) => (tp(c)['@type'] = 'type.googleapis.com/foo.Bar'), errors: [[`${TP}.@type`, /expected "type\.googleapis\.com\/envoy\.extensions\.filters\.network\.tcp_proxy\.v3\.TcpProxy"/]] },
  { desc: 'unknown field inside tcp_proxy', mutate: (c) => (tp(c).clustr = 'c'), errors: [[`${TP}.clustr`, /unknown field/]] },
  { desc: 'http_connection_manager is not supported yet', mutate: (c) => (c.static_resources.listeners[0].filter_chains[0].filters[0].name = 'envoy.filters.network.http_connection_manager'), errors: [[`${L}.filter_chains[0].filters[0].name`, /HTTP routing is not supported/]] },
  { desc: 'missing required listener fields', mutate: (c) => (c.static_resources.listeners[0] = { name: 'l' }), errors: [[`${L}.address`, /required/], [`${L}.filter_chains`, /required/]] },
  { desc: 'two filter chains with the same match', mutate: (c) => c.static_resources.listeners[0].filter_chains.push(c.static_resources.listeners[0].filter_chains[0]), errors: [[`${L}.filter_chains[1].filter_chain_match`, /same filter_chain_match as filter_chains\[0\]/]] },
  { desc: 'two filter chains with one name', mutate: (c) => { const fc = c.static_resources.listeners[0].filter_chains; fc[0].name = 'a'; fc.push({ ...fc[0], filter_chain_match: { destination_port: 80 } }); }, errors: [[`${L}.filter_chains[1].name`, /"a" is used twice/]] },
  { desc: 'filter_chain_match: a port out of range, a range that is no IP, a transport xmesh does not know', mutate: (c) => (c.static_resources.listeners[0].filter_chains[0].filter_chain_match = { destination_port: 70000, prefix_ranges: [{ address_prefix: 'ten.dot', prefix_len: 8 }], transport_protocol: 'quic' }), errors: [[`${L}.filter_chains[0].filter_chain_match.destination_port`, /out of range/], [`${L}.filter_chains[0].filter_chain_match.prefix_ranges[0].address_prefix`, /not an IP address/], [`${L}.filter_chains[0].filter_chain_match.transport_protocol`, /expected "raw_buffer" or "tls"/]] },
  { desc: 'filter_chain_match: a field xmesh cannot evaluate is an error, not ignored', mutate: (c) => (c.static_resources.listeners[0].filter_chains[0].filter_chain_match = { source_type: 'LOCAL' }), errors: [[`${L}.filter_chains[0].filter_chain_match.source_type`, /not supported by xmesh yet/]] },
  { desc: 'an x_proxy frame larger than the data plane can hold (Limits.MAX_X_PROXY_FRAME_SIZE)', mutate: (c) => xproxy(c, (x) => (x.max_frame_size = 32 * 1024 * 1024)), errors: [[`${XP}.max_frame_size`, /out of range \(expected 64\.\.16777216\)/]] },
  { desc: 'an x_proxy that detects protocols beside another chain', mutate: (c) => { xproxy(c, (x) => { delete x.protocol; x.protocols = ['dubbo', 'bolt']; }); c.static_resources.listeners[0].filter_chains.push({ ...(tcpProxyListener('m', 8080, 'c') as any).filter_chains[0], name: 'two', filter_chain_match: { destination_port: 80 } }); }, errors: [[`${L}.filter_chains[0]`, /must be the listener's only filter chain/]] },
  { desc: 'a default filter chain with a match', mutate: (c) => (c.static_resources.listeners[0].default_filter_chain = { ...c.static_resources.listeners[0].filter_chains[0], filter_chain_match: { destination_port: 80 } }), errors: [[`${L}.default_filter_chain.filter_chain_match`, /has no filter_chain_match/]] },
  { desc: 'health_status enum', mutate: (c) => (c.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].health_status = 'SICK'), errors: [[`${C}.load_assignment.endpoints[0].lb_endpoints[0].health_status`, /unknown value "SICK"/]] },
  { desc: 'max_ejection_percent above 100', mutate: (c) => (c.static_resources.clusters[0].outlier_detection = { max_ejection_percent: 101 }), errors: [[`${C}.outlier_detection.max_ejection_percent`, /out of range \(expected 0\.\.100\)/]] },
  { desc: 'max ejection shorter than base', mutate: (c) => (c.static_resources.clusters[0].outlier_detection = { base_ejection_time: '30s', max_ejection_time: '10s' }), errors: [[`${C}.outlier_detection.max_ejection_time`, /must not be shorter/]] },
  { desc: 'duplicate circuit breaker priority', mutate: (c) => (c.static_resources.clusters[0].circuit_breakers = { thresholds: [{ max_connections: 1 }, { priority: 'DEFAULT' }] }), errors: [[`${C}.circuit_breakers.thresholds[1].priority`, /duplicate thresholds/]] },
  { desc: 'CLUSTER_PROVIDED outside ORIGINAL_DST', mutate: (c) => (c.static_resources.clusters[0].lb_policy = 'CLUSTER_PROVIDED'), errors: [[`${C}.lb_policy`, /only valid for ORIGINAL_DST/]] },
  { desc: 'ORIGINAL_DST with a load_assignment', mutate: (c) => { c.static_resources.clusters[0].type = 'ORIGINAL_DST'; c.static_resources.clusters[0].lb_policy = 'CLUSTER_PROVIDED'; }, errors: [[`${C}.load_assignment`, /must not have a load_assignment/]] },
  { desc: 'nested envoy.lb metadata value', mutate: (c) => (c.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].metadata = { filter_metadata: { 'envoy.lb': { v: { x: 1 } } } }), errors: [[`${C}.load_assignment.endpoints[0].lb_endpoints[0].metadata.filter_metadata.envoy.lb.v`, /strings, numbers or booleans/]] },
  { desc: 'xDS server cluster must exist', mutate: (c) => (c.dynamic_resources = { ads_config: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'xds' } }] } }), errors: [['dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name', /unknown cluster "xds"/]] },
  { desc: 'listeners is not a list', mutate: (c) => (c.static_resources.listeners = { name: 'l' }), errors: [['static_resources.listeners', /expected a list, got an object/]] },
  {
    desc: 'several errors are all reported',
    mutate: (c) => {
      c.static_resources.clusters[0].lb_policy = 'FOO';
      c.static_resources.clusters[0].connect_timeout = 'soon';
      tp(c).max_connect_attempts = 0;
    },
    errors: [[`${C}.lb_policy`, /FOO/], [`${C}.connect_timeout`, /soon/], [`${TP}.max_connect_attempts`, /out of range/]],
  },
];

for (const c of invalid) {
  test(`validateConfig rejects: ${c.desc}`, () => {
    const cfg = baseConfig();
    c.mutate(cfg);
    const r = validateConfig(cfg);
    assert.equal(r.status, 'invalid', 'expected the config to be rejected');
    const got = r.errors.map((e) => `${e.path}: ${e.message}`);
    assert.equal(r.errors.length, c.errors.length, `errors were:\n${got.join('\n')}`);
    for (const [path, msg] of c.errors) {
      assert.ok(r.errors.some((e) => e.path === path && msg.test(e.message)), `missing ${path}: ${msg}\ngot:\n${got.join('\n')}`);
    }
  });
}

const valid: Array<{ desc: string; mutate: Mutate; warnings?: string[] }> = [
  { desc: 'the base config', mutate: () => undefined },
  { desc: 'STRICT_DNS with a hostname', mutate: (c) => { const cl = c.static_resources.clusters[0]; cl.type = 'STRICT_DNS'; cl.dns_refresh_rate = '0.5s'; cl.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address = 'localhost'; } },
  { desc: 'weighted clusters', mutate: (c) => { delete tp(c).cluster; tp(c).weighted_clusters = { clusters: [{ name: 'c', weight: 3 }] }; } },
  { desc: 'ms durations and proto durations', mutate: (c) => { c.static_resources.clusters[0].connect_timeout = '250ms'; tp(c).idle_timeout = { seconds: 10 }; } },
  { desc: 'node and layered_runtime are ignored with a warning', mutate: (c) => { c.node = { id: 'x' }; c.layered_runtime = {}; }, warnings: ['node', 'layered_runtime'] },
  { desc: 'dynamic_resources only warns', mutate: (c) => (c.dynamic_resources = { cds_config: { ads: {}, resource_api_version: 'V3' }, ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'c' } }] } }), warnings: ['dynamic_resources'] },
  { desc: 'EDS cluster warns', mutate: (c) => c.static_resources.clusters.push({ name: 'e', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } }), warnings: ['static_resources.clusters[1].type'] },
  { desc: 'no admin block warns', mutate: (c) => delete c.admin, warnings: ['admin'] },
  { desc: 'admin and a listener on the same port of different addresses', mutate: (c) => { c.admin.address.socket_address = { address: '127.0.0.2', port_value: 15000 }; c.static_resources.listeners[0].address.socket_address.port_value = 15000; } },
  { desc: 'listener socket_options in every state, int64 as a string', mutate: (c) => (c.static_resources.listeners[0].socket_options = [{ level: '1', name: '2', int_value: '1', state: 'STATE_PREBIND' }, { level: 6, name: 13, buf_value: 'Y3ViaWM=', state: 'STATE_LISTENING', description: 'cc' }]) },
  { desc: 'an upstream socket option with a state warns that it is ignored', mutate: (c) => (c.static_resources.clusters[0].upstream_bind_config = { socket_options: [{ level: 6, name: 13, buf_value: 'cmVubw==', state: 'STATE_BOUND' }] }), warnings: ['static_resources.clusters[0].upstream_bind_config.socket_options[0].state'] },
  { desc: 'an x_proxy (bolt) listener', mutate: (c) => xproxy(c) },
  { desc: 'x_proxy routes with regex matchers, retries on idempotent routes and subsets', mutate: (c) => xproxy(c, (x) => { x.route_config.virtual_hosts[0].routes = [{ match: { method: { safe_regex: { regex: 'get(Book|Author)s?' } }, metas: [{ name: 'version', safe_regex: { regex: '2\\..*' } }] }, route: { cluster: 'c', idempotent: true, retry_policy: { retry_on: 'connect-failure,reset', num_retries: 2 }, metadata_match: { filter_metadata: { 'envoy.lb': { version: '2.0.0' } } } } }]; }) },
  { desc: 'x_proxy routes with method/meta matchers, weights and timeouts', mutate: (c) => xproxy(c, (x) => { x.protocol = 'dubbo'; x.upstream_connections_per_host = 2; x.request_timeout = '3s'; x.route_config.virtual_hosts[0].routes = [{ match: { method: { prefix: 'get' }, metas: [{ name: 'version', exact: '2.0.0' }, { name: 'group', present: true }] }, route: { weighted_clusters: { clusters: [{ name: 'c', weight: 80 }] }, timeout: '250ms' } }, { route: { cluster: 'c' } }]; }) },
  { desc: 'x_proxy detecting bolt and dubbo with a tcp_proxy fallback and a detect timeout', mutate: (c) => xproxy(c, (x) => { delete x.protocol; x.protocols = ['dubbo', 'bolt']; x.detect_timeout = '500ms'; x.fallback_tcp_proxy = { stat_prefix: 'raw', weighted_clusters: { clusters: [{ name: 'c', weight: 1 }] }, idle_timeout: '10s', max_connect_attempts: 2, access_log: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: '/tmp/a.log' } }] }; }) },
  { desc: 'x_proxy: one protocol with a fallback (its @type may be given)', mutate: (c) => xproxy(c, (x) => (x.fallback_tcp_proxy = { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'raw', cluster: 'c' })) },
  { desc: 'x_proxy detect_timeout without detection only warns', mutate: (c) => xproxy(c, (x) => (x.detect_timeout = '1s')), warnings: [`${XP}.detect_timeout`] },
  { desc: 'an access log in a directory that does not exist warns (the data plane would refuse to open it)', mutate: (c) => {
    c.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.access_log = [{ name: 'envoy.access_loggers.file',
      typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: '/nonexistent-xmesh-dir/a.log' } }];
  }, warnings: ['static_resources.listeners[0].filter_chains[0].filters[0].typed_config.access_log[0].typed_config.path'] },
  { desc: 'filter chains chosen by destination port and address, and a default chain', mutate: (c) => {
    const l = c.static_resources.listeners[0];
    const chain = l.filter_chains[0];
    l.filter_chains = [
      { ...chain, name: 'http', filter_chain_match: { destination_port: 8080, prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }, { address_prefix: 'fd00::' }] } },
      { ...chain, name: 'src', filter_chain_match: { source_prefix_ranges: [{ address_prefix: '192.168.0.0', prefix_len: 16 }], source_ports: [5000], transport_protocol: 'raw_buffer', application_protocols: ['bolt'] } },
    ];
    l.default_filter_chain = { ...chain, name: 'passthrough' };
  } },
  { desc: 'a chain matching on server names warns that it cannot match yet', mutate: (c) => (c.static_resources.listeners[0].filter_chains[0].filter_chain_match = { server_names: ['a.example'] }), warnings: ['static_resources.listeners[0].filter_chains[0].filter_chain_match.server_names'] },
  { desc: 'connection_limit before a tcp_proxy', mutate: (c) => limit(c) },
  { desc: 'two connection_limit filters before an x_proxy detecting protocols', mutate: (c) => { xproxy(c, (x) => { delete x.protocol; x.protocols = ['bolt', 'dubbo']; }); limit(c); limit(c, (t) => (t.stat_prefix = 'b')); } },
  { desc: 'the overload manager\'s global connection limit; loadshed_points are ignored with a warning', mutate: (c) => (c.overload_manager = { refresh_interval: '0.25s', resource_monitors: [{ name: GCX, typed_config: { '@type': GCX_TYPE, max_active_downstream_connections: 5000 } }], loadshed_points: [] }), warnings: ['overload_manager.loadshed_points'] },
  { desc: 'overload actions on the fixed_heap monitor (threshold and scaled triggers; a uint64 as a string)', mutate: (c) => (c.overload_manager = { resource_monitors: [{ name: HEAP, typed_config: { '@type': HEAP_TYPE, max_heap_size_bytes: '8589934592' } }], actions: [{ name: 'envoy.overload_actions.stop_accepting_connections', triggers: [{ name: HEAP, threshold: { value: 0.95 } }] }, { name: 'envoy.overload_actions.reject_incoming_connections', triggers: [{ name: HEAP, scaled: { scaling_threshold: 0.9, saturation_threshold: 0.98 } }] }] }) },
  { desc: 'a prime maglev table', mutate: (c) => { c.static_resources.clusters[0].lb_policy = 'MAGLEV'; c.static_resources.clusters[0].maglev_lb_config = { table_size: 65537 }; } },
];
for (const c of valid) {
  test(`validateConfig accepts: ${c.desc}`, () => {
    const cfg = baseConfig();
    c.mutate(cfg);
    const r = validateConfig(cfg);
    assert.deepEqual(r.errors, []);
    assert.equal(r.status, 'valid');
    assert.deepEqual(r.warnings.map((w) => w.path), c.warnings ?? []);
  });
}
