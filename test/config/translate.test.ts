import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dnsKey } from '../../src/cluster/dns-targets';
import { DEFAULTS, translate } from '../../src/config/translate';
import { decodeSnapshot, encodeSnapshot } from '../../src/dataplane/snapshot';
import { pb, type SnapshotMsg } from '../../src/dataplane/types';
import { validateConfig } from '../../src/config/validate';
import type { BootstrapCfg } from '../../src/config/types';
import { TINYRPC_DESCRIPTOR } from '../fixtures/tinyrpc';
import { baseConfig, staticCluster, tcpProxyListener } from './helpers';
import { terminalFilter } from '../../src/dataplane/shapes';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

const { LbPolicy } = pb.Cluster;
const MiB = 1024 * 1024;

function valid(c: unknown): BootstrapCfg {
  const r = validateConfig(c);
  assert.deepEqual(r.errors, []);
  return (r as { config: BootstrapCfg }).config;
}

const tp = (c: any): any => c.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;

test('translate: base config gets Envoy defaults made explicit', () => {
  const { snapshot, warnings } = translate(valid(baseConfig()), new Map(), 7);
  assert.deepEqual(warnings, []);
  assert.deepEqual(snapshot, {
    version: 7,
    listeners: [
      {
        name: 'l',
        address: { address: '127.0.0.1', port: 0 },
        backlog: 1024,
        buffer_limit: MiB,
        filter_chains: [
          {
            name: 'chain0',
            filters: [{ name: 'envoy.filters.network.tcp_proxy', tcp_proxy: { stat_prefix: 'l', cluster: 'c', idle_timeout_ms: 3_600_000, max_connect_attempts: 1 } }],
          },
        ],
      },
    ],
    clusters: [
      {
        name: 'c',
        lb_policy: LbPolicy.ROUND_ROBIN,
        connect_timeout_ms: 1000,
        endpoints: [{ address: { address: '127.0.0.1', port: 9001 }, weight: 1, healthy: true, priority: 0 }],
        circuit_breakers: { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 },
        per_connection_buffer_limit: MiB,
      },
    ],
  });
});

/** Listener 0 of the base config as an x_proxy filter with this typed_config (stat_prefix, protocol and a route to "c" unless given). */
function xProxyConfig(typed: Record<string, unknown> = {}): any {
  const cfg = baseConfig();
  cfg.static_resources.listeners[0].filter_chains[0].filters[0] = {
    name: 'xmesh.x_proxy',
    typed_config: {
      '@type': 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy',
      stat_prefix: 'rpc',
      ...(typed.protocols ? {} : { protocol: 'bolt' }),
      route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ route: { cluster: 'c' } }] }] },
      ...typed,
    },
  };
  return cfg;
}

const listener0 = (s: SnapshotMsg): pb.IListener => s.listeners![0];
const cluster0 = (s: SnapshotMsg): pb.ICluster => s.clusters![0];
const xProxy0 = (s: SnapshotMsg): pb.IXProxy => terminalFilter(listener0(s))!.x_proxy!;
const xTcp0 = (s: SnapshotMsg): pb.ITcpProxy => terminalFilter(listener0(s))!.tcp_proxy!;
const route0 = (s: SnapshotMsg): pb.IXRoute => xProxy0(s).virtual_hosts![0].routes![0];

// Every entry of DEFAULTS, table-driven: left out of the configuration, the value is in the
// snapshot explicitly (the data plane asserts it, it never defaults a 0); set, the
// configuration's value wins over it.
const defaultCases: Array<{ key: keyof typeof DEFAULTS; desc: string; config?: () => any; set: (c: any) => void; get: (s: SnapshotMsg) => unknown; setValue: unknown }> = [
  { key: 'listenerBacklog', desc: 'listener backlog', set: (c) => (c.static_resources.listeners[0].tcp_backlog_size = 64), get: (s) => listener0(s).backlog, setValue: 64 },
  { key: 'perConnectionBufferLimitBytes', desc: 'listener buffer limit', set: (c) => (c.static_resources.listeners[0].per_connection_buffer_limit_bytes = 4096), get: (s) => listener0(s).buffer_limit, setValue: 4096 },
  { key: 'perConnectionBufferLimitBytes', desc: 'cluster buffer limit', set: (c) => (c.static_resources.clusters[0].per_connection_buffer_limit_bytes = 8192), get: (s) => cluster0(s).per_connection_buffer_limit, setValue: 8192 },
  { key: 'tcpIdleTimeoutMs', desc: 'tcp_proxy idle timeout', set: (c) => (tp(c).idle_timeout = '2s'), get: (s) => xTcp0(s).idle_timeout_ms, setValue: 2000 },
  { key: 'maxConnectAttempts', desc: 'tcp_proxy connect attempts', set: (c) => (tp(c).max_connect_attempts = 3), get: (s) => xTcp0(s).max_connect_attempts, setValue: 3 },
  { key: 'connectTimeoutMs', desc: 'cluster connect timeout', set: (c) => (c.static_resources.clusters[0].connect_timeout = '0.25s'), get: (s) => cluster0(s).connect_timeout_ms, setValue: 250, config: () => { const c = baseConfig(); delete c.static_resources.clusters[0].connect_timeout; return c; } },
  ...(['max_connections', 'max_pending_requests', 'max_requests', 'max_retries'] as const).map((f) => ({
    key: ({ max_connections: 'maxConnections', max_pending_requests: 'maxPendingRequests', max_requests: 'maxRequests', max_retries: 'maxRetries' } as const)[f],
    desc: `circuit breaker ${f} (no DEFAULT-priority threshold: only a HIGH one)`,
    config: () => { const c = baseConfig(); c.static_resources.clusters[0].circuit_breakers = { thresholds: [{ priority: 'HIGH', [f]: 7 }] }; return c; },
    set: (c: any) => c.static_resources.clusters[0].circuit_breakers.thresholds.push({ [f]: 9 }),
    get: (s: SnapshotMsg) => cluster0(s).circuit_breakers![f],
    setValue: 9,
  })),
  ...([
    ['consecutiveGatewayFailure', 'consecutive_gateway_failure', 'consecutive_gateway_failure', 2, 2],
    ['consecutive5xx', 'consecutive_5xx', 'consecutive_5xx', 3, 3],
    ['baseEjectionTimeMs', 'base_ejection_time', 'base_ejection_time_ms', '1s', 1000],
    ['maxEjectionTimeMs', 'max_ejection_time', 'max_ejection_time_ms', '60s', 60_000],
    ['maxEjectionPercent', 'max_ejection_percent', 'max_ejection_percent', 50, 50],
  ] as const).map(([key, cfgField, msgField, v, want]) => ({
    key,
    desc: `outlier detection ${cfgField}`,
    config: () => { const c = baseConfig(); c.static_resources.clusters[0].outlier_detection = {}; return c; },
    set: (c: any) => (c.static_resources.clusters[0].outlier_detection[cfgField] = v),
    get: (s: SnapshotMsg) => cluster0(s).outlier_detection![msgField],
    setValue: want,
  })),
  { key: 'ringHashMinSize', desc: 'ring hash minimum size', config: () => { const c = baseConfig(); c.static_resources.clusters[0].lb_policy = 'RING_HASH'; return c; }, set: (c) => (c.static_resources.clusters[0].ring_hash_lb_config = { minimum_ring_size: 64 }), get: (s) => cluster0(s).ring_hash_min_size, setValue: 64 },
  { key: 'maglevTableSize', desc: 'maglev table size', config: () => { const c = baseConfig(); c.static_resources.clusters[0].lb_policy = 'MAGLEV'; return c; }, set: (c) => (c.static_resources.clusters[0].maglev_lb_config = { table_size: 251 }), get: (s) => cluster0(s).maglev_table_size, setValue: 251 },
  { key: 'leastRequestChoices', desc: 'least request choices', config: () => { const c = baseConfig(); c.static_resources.clusters[0].lb_policy = 'LEAST_REQUEST'; return c; }, set: (c) => (c.static_resources.clusters[0].least_request_lb_config = { choice_count: 5 }), get: (s) => cluster0(s).least_request_choices, setValue: 5 },
  { key: 'endpointWeight', desc: 'endpoint weight', set: (c) => (c.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].load_balancing_weight = 4), get: (s) => cluster0(s).endpoints![0].weight, setValue: 4 },
  { key: 'xMaxFrameSize', desc: 'x_proxy max frame size', config: () => xProxyConfig(), set: (c) => (tp(c).max_frame_size = 4096), get: (s) => xProxy0(s).max_frame_size, setValue: 4096 },
  { key: 'xUpstreamConnectionsPerHost', desc: 'x_proxy upstream connections per host', config: () => xProxyConfig(), set: (c) => (tp(c).upstream_connections_per_host = 4), get: (s) => xProxy0(s).upstream_connections_per_host, setValue: 4 },
  { key: 'xRequestTimeoutMs', desc: 'x_proxy request timeout', config: () => xProxyConfig(), set: (c) => (tp(c).request_timeout = '3s'), get: (s) => xProxy0(s).request_timeout_ms, setValue: 3000 },
  { key: 'xRequestTimeoutMs', desc: 'x_proxy route timeout (a route without one gets the filter\'s)', config: () => xProxyConfig(), set: (c) => (tp(c).route_config.virtual_hosts[0].routes[0].route.timeout = '0.5s'), get: (s) => route0(s).timeout_ms, setValue: 500 },
  { key: 'xIdleTimeoutMs', desc: 'x_proxy idle timeout', config: () => xProxyConfig(), set: (c) => (tp(c).idle_timeout = '5s'), get: (s) => xProxy0(s).idle_timeout_ms, setValue: 5000 },
  { key: 'xFrameTimeoutMs', desc: 'x_proxy frame timeout', config: () => xProxyConfig(), set: (c) => (tp(c).frame_timeout = '2s'), get: (s) => xProxy0(s).frame_timeout_ms, setValue: 2000 },
  { key: 'xDetectTimeoutMs', desc: 'x_proxy detect timeout', config: () => xProxyConfig({ protocols: ['bolt', 'dubbo'] }), set: (c) => (tp(c).detect_timeout = '1s'), get: (s) => listener0(s).listener_filters![0].protocol_detection!.timeout_ms, setValue: 1000 },
  { key: 'xNumRetries', desc: 'x_proxy route retries', config: () => xProxyConfig({ route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ route: { cluster: 'c', retry_policy: { retry_on: 'connect-failure' } } }] }] } }), set: (c) => (tp(c).route_config.virtual_hosts[0].routes[0].route.retry_policy.num_retries = 4), get: (s) => route0(s).retry_policy!.num_retries, setValue: 4 },
];
for (const d of defaultCases) {
  test(`translate: default ${d.key} (${d.desc}): unset = ${DEFAULTS[d.key]} in the snapshot, set = the configured value`, () => {
    const unset = (d.config ?? baseConfig)();
    assert.equal(d.get(translate(valid(unset), new Map(), 1).snapshot), DEFAULTS[d.key]);
    const set = (d.config ?? baseConfig)();
    d.set(set);
    assert.equal(d.get(translate(valid(set), new Map(), 1).snapshot), d.setValue);
    assert.notEqual(d.setValue, DEFAULTS[d.key], 'the set case must tell the two apart');
  });
}

test('translate: an explicit 0 where 0 has a meaning (Envoy\'s: none allowed, never eject) stays 0, not the default', () => {
  const cfg = baseConfig();
  Object.assign(cfg.static_resources.clusters[0], {
    circuit_breakers: { thresholds: [{ max_connections: 0, max_pending_requests: 0, max_requests: 0, max_retries: 0 }] },
    outlier_detection: { max_ejection_percent: 0 },
  });
  const cl = cluster0(translate(valid(cfg), new Map(), 1).snapshot);
  assert.deepEqual(cl.circuit_breakers, { max_connections: 0, max_pending_requests: 0, max_requests: 0, max_retries: 0 });
  assert.equal(cl.outlier_detection!.max_ejection_percent, 0);
});

test('translate: every DEFAULTS entry has a case above', () => {
  assert.deepEqual([...new Set(defaultCases.map((d) => d.key))].sort(), Object.keys(DEFAULTS).sort());
});

const cases: Array<{ desc: string; mutate: (c: any) => void; check: (s: SnapshotMsg) => void }> = [
  {
    desc: 'tcp_proxy fields: durations to ms, weighted clusters, access log, hash policy',
    mutate: (c) => {
      delete tp(c).cluster;
      Object.assign(tp(c), {
        weighted_clusters: { clusters: [{ name: 'c', weight: 3 }] },
        idle_timeout: '0.1s',
        max_connect_attempts: 3,
        access_log: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: '/tmp/a.log' } }],
        hash_policy: [{ source_ip: {} }],
      });
    },
    check: (s) =>
      assert.deepEqual(xTcp0(s), {
        stat_prefix: 'l',
        weighted_clusters: [{ cluster: 'c', weight: 3 }],
        idle_timeout_ms: 100,
        max_connect_attempts: 3,
        access_log_path: '/tmp/a.log',
        hash_policy: { key: pb.HashPolicy.Key.SOURCE_IP },
      }),
  },
  {
    desc: 'listener options',
    mutate: (c) => Object.assign(c.static_resources.listeners[0], { per_connection_buffer_limit_bytes: 4096, use_original_dst: true, tcp_backlog_size: 128, stat_prefix: 'in' }),
    check: (s) => {
      const l = listener0(s);
      assert.deepEqual([l.buffer_limit, l.use_original_dst, l.backlog, l.stat_prefix], [4096, true, 128, 'in']);
    },
  },
  {
    desc: 'cluster options: breakers, outlier detection with defaults, maglev',
    mutate: (c) =>
      Object.assign(c.static_resources.clusters[0], {
        lb_policy: 'MAGLEV',
        maglev_lb_config: { table_size: 251 },
        per_connection_buffer_limit_bytes: 8192,
        circuit_breakers: { thresholds: [{ priority: 'HIGH', max_connections: 1 }, { max_connections: 10, max_retries: 2 }] },
        outlier_detection: { consecutive_5xx: 3, base_ejection_time: '10s' },
      }),
    check: (s) => {
      const cl = cluster0(s);
      assert.equal(cl.lb_policy, LbPolicy.MAGLEV);
      assert.equal(cl.maglev_table_size, 251);
      assert.equal(cl.per_connection_buffer_limit, 8192);
      assert.deepEqual(cl.circuit_breakers, { max_connections: 10, max_pending_requests: 1024, max_requests: 1024, max_retries: 2 });
      assert.deepEqual([cl.ring_hash_min_size, cl.least_request_choices], [undefined, undefined], 'the other policies\' settings stay out');
      assert.deepEqual(cl.outlier_detection, {
        enabled: true,
        consecutive_gateway_failure: 5,
        consecutive_5xx: 3,
        base_ejection_time_ms: 10_000,
        max_ejection_time_ms: 300_000,
        max_ejection_percent: 10,
      });
    },
  },
  {
    desc: 'x_proxy: protocol, limits, virtual hosts, matchers, weighted routes and timeouts',
    mutate: (c) => {
      c.static_resources.listeners[0].filter_chains[0].filters[0] = {
        name: 'xmesh.x_proxy',
        typed_config: {
          '@type': 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy',
          stat_prefix: 'rpc',
          protocol: 'bolt',
          upstream_connections_per_host: 2,
          request_timeout: '2s',
          route_config: {
            virtual_hosts: [
              {
                name: 'svc',
                domains: ['com.acme.*'],
                routes: [
                  { match: { method: { exact: 'get' }, metas: [{ name: 'zone', prefix: 'eu' }, { name: 'canary', present: true }] }, route: { cluster: 'c', timeout: '500ms' } },
                  { route: { weighted_clusters: { clusters: [{ name: 'c', weight: 4 }] } } },
                  {
                    match: { method: { safe_regex: { regex: 'list.*' } } },
                    route: { cluster: 'c', idempotent: true, retry_policy: { retry_on: 'reset, connect-failure' }, metadata_match: { filter_metadata: { 'envoy.lb': { version: 2, canary: true } } }, hash_policy: [{ meta: { name: 'uid' } }] },
                  },
                ],
              },
            ],
          },
        },
      };
    },
    check: (s) => {
      const l = listener0(s);
      // One protocol, no fallback: no listener filter, one catch-all chain with the x_proxy.
      assert.equal(l.listener_filters, undefined);
      assert.deepEqual(l.filter_chains?.map((c) => [c.filter_chain_match, c.filters!.map((f) => f.name)]), [[undefined, ['xmesh.x_proxy']]]);
      assert.deepEqual(xProxy0(s), {
        stat_prefix: 'rpc',
        protocols: ['bolt'],
        max_frame_size: 16 * MiB,
        upstream_connections_per_host: 2,
        request_timeout_ms: 2000,
        idle_timeout_ms: 3_600_000,
        frame_timeout_ms: 30_000,
        virtual_hosts: [
          {
            name: 'svc',
            domains: ['com.acme.*'],
            routes: [
              { method: { exact: 'get' }, metas: [{ name: 'zone', match: { prefix: 'eu' } }, { name: 'canary', match: { present: true } }], cluster: 'c', timeout_ms: 500 },
              { weighted_clusters: [{ cluster: 'c', weight: 4 }], timeout_ms: 2000 },
              {
                method: { safe_regex: 'list.*' },
                cluster: 'c',
                timeout_ms: 2000,
                idempotent: true,
                retry_policy: { num_retries: 1, on_connect_failure: true, on_reset: true },
                metadata_match: { version: '2', canary: 'true' },
                hash_policy: { meta: 'uid' },
              },
            ],
          },
        ],
      });
    },
  },
  {
    desc: 'x_proxy detection: protocols in order, fallback_tcp_proxy translated like a tcp_proxy filter, detect timeout',
    mutate: (c) => {
      c.static_resources.listeners[0].filter_chains[0].filters[0] = {
        name: 'xmesh.x_proxy',
        typed_config: {
          '@type': 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy',
          stat_prefix: 'mix',
          protocols: ['dubbo', 'bolt'],
          detect_timeout: '750ms',
          fallback_tcp_proxy: { stat_prefix: 'raw', cluster: 'c', max_connect_attempts: 3 },
          route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ route: { cluster: 'c' } }] }] },
        },
      };
    },
    check: (s) => {
      const l = listener0(s);
      assert.deepEqual(l.listener_filters, [{ name: 'xmesh.listener.protocol_detection', protocol_detection: { protocols: ['dubbo', 'bolt'], timeout_ms: 750, stat_prefix: 'mix' } }]);
      assert.deepEqual(l.filter_chains?.[0].filter_chain_match, { application_protocols: ['dubbo', 'bolt'] });
      assert.deepEqual(xProxy0(s).protocols, ['dubbo', 'bolt']);
      assert.deepEqual(l.default_filter_chain?.filters, [
        { name: 'envoy.filters.network.tcp_proxy', tcp_proxy: { stat_prefix: 'raw', cluster: 'c', idle_timeout_ms: 3_600_000, max_connect_attempts: 3 } },
      ]);
      // The contract carries it: protobufjs encodes and decodes every field.
      const back = listener0(decodeSnapshot(encodeSnapshot(s)));
      assert.deepEqual(
        [back.listener_filters?.[0].protocol_detection?.timeout_ms, back.filter_chains?.[0].filters![0].x_proxy?.protocols, back.default_filter_chain?.filters![0].tcp_proxy?.max_connect_attempts],
        [750, ['dubbo', 'bolt'], 3],
      );
    },
  },
  {
    desc: 'several filter chains with their matches and a default chain, in Envoy\'s field names',
    mutate: (c) => {
      const l = c.static_resources.listeners[0];
      const chain = l.filter_chains[0];
      l.filter_chains = [
        { ...chain, name: 'web', filter_chain_match: { destination_port: 8080, prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }, { address_prefix: 'fd00::' }] } },
        { ...chain, filter_chain_match: { source_ports: [5000], application_protocols: ['bolt'], transport_protocol: 'raw_buffer' } },
      ];
      l.default_filter_chain = { ...chain, name: 'passthrough' };
    },
    check: (s) => {
      const l = listener0(s);
      assert.deepEqual(
        l.filter_chains?.map((c) => [c.name, c.filter_chain_match]),
        [
          ['web', { destination_port: 8080, prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }, { address_prefix: 'fd00::', prefix_len: 128 }] }],
          ['chain1', { source_ports: [5000], application_protocols: ['bolt'], transport_protocol: 'raw_buffer' }],
        ],
      );
      assert.equal(l.default_filter_chain?.name, 'passthrough');
      assert.equal(l.default_filter_chain?.filters![0].tcp_proxy?.cluster, 'c');
      assert.equal(l.listener_filters, undefined);
    },
  },
  {
    desc: 'upstream tcp_keepalive (seconds) reaches the snapshot',
    mutate: (c) => Object.assign(c.static_resources.clusters[0], { upstream_connection_options: { tcp_keepalive: { keepalive_time: 60, keepalive_probes: 4 } } }),
    check: (s) => assert.deepEqual(cluster0(s).tcp_keepalive, { keepalive_probes: 4, keepalive_time_s: 60, keepalive_interval_s: 0 }),
  },
  {
    desc: 'socket options: base64 buf_value becomes bytes, numbers from strings, through the protobuf contract',
    mutate: (c) => {
      c.static_resources.listeners[0].socket_options = [{ level: 6, name: 13, buf_value: 'cmVubw==', state: 'STATE_LISTENING' }, { level: '1', name: '9', int_value: '-1' }];
      c.static_resources.clusters[0].upstream_bind_config = { socket_options: [{ description: 'cc', level: 6, name: 13, buf_value: 'Y3ViaWM=' }] };
    },
    check: (s) => {
      assert.deepEqual(listener0(s).socket_options, [
        { level: 6, name: 13, buf_value: Buffer.from('reno'), state: pb.SocketOption.State.STATE_LISTENING },
        { level: 1, name: 9, int_value: -1 },
      ]);
      assert.deepEqual(cluster0(s).upstream_socket_options, [{ description: 'cc', level: 6, name: 13, buf_value: Buffer.from('cubic') }]);
      const back = decodeSnapshot(encodeSnapshot(s));
      const l = listener0(back).socket_options!;
      assert.deepEqual([Buffer.from(l[0].buf_value!).toString(), l[0].state, l[1].int_value], ['reno', pb.SocketOption.State.STATE_LISTENING, -1]);
      assert.equal(Buffer.from(cluster0(back).upstream_socket_options![0].buf_value!).toString(), 'cubic');
    },
  },
  {
    desc: 'ring hash and least request settings',
    mutate: (c) => Object.assign(c.static_resources.clusters[0], { lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: 64 } }),
    check: (s) => assert.deepEqual([cluster0(s).ring_hash_min_size, cluster0(s).maglev_table_size, cluster0(s).least_request_choices], [64, undefined, undefined]),
  },
  {
    desc: 'endpoints: weight, health, priority, flattened envoy.lb metadata',
    mutate: (c) => {
      c.static_resources.clusters[0].load_assignment.endpoints = [
        {
          priority: 1,
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } }, load_balancing_weight: 5, health_status: 'DRAINING', metadata: { filter_metadata: { 'envoy.lb': { version: '2.0.0', canary: true, shard: 3 }, other: { x: 'y' } } } },
          ],
        },
      ];
    },
    check: (s) =>
      assert.deepEqual(cluster0(s).endpoints, [
        { address: { address: '10.0.0.1', port: 80 }, weight: 5, healthy: false, priority: 1, metadata: { version: '2.0.0', canary: 'true', shard: '3' } },
      ]),
  },
  {
    desc: 'EDS and ORIGINAL_DST clusters translate with no endpoints',
    mutate: (c) => c.static_resources.clusters.push({ name: 'e', type: 'EDS' }, { name: 'o', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' }),
    check: (s) => {
      assert.deepEqual(s.clusters!.slice(1).map((c) => [c.name, c.lb_policy, c.endpoints]), [['e', LbPolicy.ROUND_ROBIN, []], ['o', LbPolicy.ROUND_ROBIN, []]]);
    },
  },
];
for (const c of cases) {
  test(`translate: ${c.desc}`, () => {
    const cfg = baseConfig();
    c.mutate(cfg);
    c.check(translate(valid(cfg), new Map(), 1).snapshot);
  });
}

test('translate: STRICT_DNS hostnames expand to every resolved address; unresolved hosts warn', () => {
  const cfg = baseConfig();
  const cl = cfg.static_resources.clusters[0];
  cl.type = 'STRICT_DNS';
  cl.dns_lookup_family = 'V4_ONLY';
  cl.load_assignment.endpoints[0].lb_endpoints = [
    { endpoint: { address: { socket_address: { address: 'svc.local', port_value: 80 } } }, load_balancing_weight: 2 },
    { endpoint: { address: { socket_address: { address: 'gone.local', port_value: 80 } } } },
    { endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } } },
  ];
  const resolved = new Map([[dnsKey('svc.local', 4), ['10.0.0.1', '10.0.0.2']]]);
  const { snapshot, warnings } = translate(valid(cfg), resolved, 2);
  assert.deepEqual(cluster0(snapshot).endpoints!.map((e) => [e.address!.address, e.weight]), [['10.0.0.1', 2], ['10.0.0.2', 2]]);
  assert.deepEqual(warnings.map((w) => w.message), [
    '"gone.local" has no resolved addresses yet; the endpoint is left out',
    'duplicate endpoint 10.0.0.1:80; keeping the first',
  ]);
});

/** Listener 0 as an x_proxy with these descriptors (protocol: the first one's name). */
function descriptorConfig(descriptors: unknown[]): any {
  const cfg = baseConfig();
  cfg.static_resources.listeners[0].filter_chains[0].filters[0] = {
    name: 'xmesh.x_proxy',
    typed_config: {
      '@type': 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy',
      stat_prefix: 'rpc',
      protocol: (descriptors[0] as { name: string }).name,
      descriptors,
      route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ route: { cluster: 'c' } }] }] },
    },
  };
  return cfg;
}

test('translate: a descriptor is flattened into the snapshot\'s XCodecDescriptor (= struct xm_descriptor)', () => {
  const x = xProxy0(translate(valid(descriptorConfig([TINYRPC_DESCRIPTOR])), new Map(), 1).snapshot);
  assert.deepEqual(x.protocols, ['tinyrpc']);
  assert.deepEqual(x.descriptors, [
    {
      name: 'tinyrpc',
      magic: Buffer.from('TR'),
      magic_offset: 0,
      length: { offset: 8, size: 4, little_endian: false },
      length_adjust: 12,
      header_len: 12,
      request_id: { offset: 4, size: 4, little_endian: false },
      kind_field: { offset: 2, size: 1, little_endian: false },
      kind_mask: 7,
      kind_request: 0,
      kind_response: 1,
      kind_oneway: 2,
      has_oneway: true,
      kind_heartbeat: 3,
      has_heartbeat: true,
      kind_heartbeat_ack: 4,
      has_heartbeat_ack: true,
      status: { offset: 3, size: 1, little_endian: false },
      status_ok: 0,
      status_codes: { no_route: 1, timeout: 2, overflow: 3, unavailable: 4, server_error: 5, codec_error: 6 },
      service: { length_prefixed: { offset: 28, length_size: 2 } },
      method: { fixed: { offset: 12, length: 16 } },
      pool_mode: pb.XCodecDescriptor.PoolMode.MULTIPLEX,
    },
  ]);
});

test('translate: descriptor defaults (no magic, mask = the whole field, error codes = server_error) and 64-bit values survive encoding', () => {
  const d = {
    name: 'wide',
    header_len: 32,
    length: { offset: 0, size: 4, little_endian: true },
    request_id: { offset: 4, size: 8 },
    kind: { offset: 12, size: 8, request: 1, response: '0x8000000000000000' },
    status: { offset: 20, size: 8, ok: 0, server_error: '18446744073709551615', timeout: 7 },
    service: { tlv: { offset: 32, type: 1 } },
  };
  const s = translate(valid(descriptorConfig([d])), new Map(), 1).snapshot;
  const m = xProxy0(s).descriptors![0];
  assert.equal(m.magic, undefined);
  assert.equal(m.magic_offset, undefined);
  assert.equal(m.length_adjust, 0);
  // Above 2^53 a uint64 is an unsigned Long (exact), below it a number.
  assert.equal(String(m.kind_mask), '18446744073709551615');
  assert.equal(String(m.kind_response), '9223372036854775808');
  assert.equal(m.has_oneway, undefined);
  assert.equal(m.has_heartbeat, undefined);
  const big = '18446744073709551615';
  const codes = Object.fromEntries(Object.entries(m.status_codes!).map(([k, v]) => [k, typeof v === 'number' ? v : String(v)]));
  assert.deepEqual(codes, { no_route: big, timeout: 7, overflow: big, unavailable: big, server_error: big, codec_error: big });
  assert.equal(m.method, undefined);
  assert.deepEqual(m.service, { tlv: { offset: 32, type: 1 } });
  // The encoded snapshot carries the exact 64-bit values (decoded here with longs as strings).
  const back = pb.Snapshot.toObject(pb.Snapshot.decode(encodeSnapshot(s)), { longs: String });
  const bd = back.listeners[0].filter_chains[0].filters[0].x_proxy.descriptors[0];
  assert.deepEqual([bd.kind_mask, bd.kind_response, bd.status_codes.server_error, bd.status_codes.timeout], [big, '9223372036854775808', big, '7']);
});

// "Every default has one owner": in translated minimal configurations, walk each message of
// the snapshot along its schema and require every numeric field to be non-zero and every
// message field to be set, except where 0 or unset has a meaning of its own, listed here with
// that meaning. So the data plane can assert instead of defaulting, and a field added to the
// proto fails this test until translate sets it (or it joins this list).
const ZERO_MEANS: Record<string, string | ((msg: Record<string, any>) => string | undefined)> = {
  'SocketAddress.port': 'listener port 0 = an ephemeral port',
  'Listener.inherited_fd': 'no inherited socket (hot restart hands one over)',
  'Listener.tcp_keepalive': 'unset = no SO_KEEPALIVE on accepted sockets',
  'TcpProxy.hash_policy': 'unset = the source IP (read by ring_hash / maglev clusters only)',
  'Endpoint.priority': 'priority 0 is the first priority level, not a default',
  'Cluster.outlier_detection': 'unset = outlier detection off',
  'Cluster.tcp_keepalive': 'unset = no SO_KEEPALIVE upstream',
  'Cluster.ring_hash_min_size': (c) => (c.lb_policy !== LbPolicy.RING_HASH ? 'read by RING_HASH clusters only' : undefined),
  'Cluster.maglev_table_size': (c) => (c.lb_policy !== LbPolicy.MAGLEV ? 'read by MAGLEV clusters only' : undefined),
  'Cluster.least_request_choices': (c) => (c.lb_policy !== LbPolicy.LEAST_REQUEST ? 'read by LEAST_REQUEST clusters only' : undefined),
  'Listener.default_filter_chain': 'unset = no default chain: a connection no chain takes is closed (an x_proxy fallback is this chain)',
  'FilterChain.filter_chain_match': 'unset = the chain takes any connection',
  'FilterChainMatch.destination_port': 'port 0 = any destination port',
  'XProxy.max_connection_duration_ms': '0 = no limit (Envoy\'s default)',
  'TcpProxy.max_connection_duration_ms': '0 = no limit (Envoy\'s max_downstream_connection_duration default)',
  'XRoute.method': 'unset = any method',
  'XRoute.retry_policy': 'unset = no retries',
  'XRoute.hash_policy': 'unset = a random key per request',
  'Snapshot.max_downstream_connections': '0 = no global connection limit (Envoy: none without the overload manager\'s monitor)',
};

const NUMERIC = new Set(['double', 'float', 'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

function schema(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_o, t) => path.join(__dirname, '../../../proto', t);
  root.loadSync('xmesh/dataplane/v1/snapshot.proto', { keepCase: true });
  root.resolveAll();
  return root;
}

/** Paths of the numeric fields left 0 and message fields left unset that ZERO_MEANS does not explain. */
function implicitDefaults(type: protobuf.Type, msg: Record<string, any>, at: string, out: string[] = []): string[] {
  for (const f of type.fieldsArray) {
    const v = msg[f.name];
    const p = `${at}.${f.name}`;
    if (f.partOf && v == null) continue; // a oneof member not chosen
    const z = ZERO_MEANS[`${type.name}.${f.name}`];
    const why = typeof z === 'function' ? z(msg) : z;
    const sub = f.resolvedType instanceof protobuf.Type ? f.resolvedType : undefined;
    if (f.map) continue;
    if (f.repeated) {
      if (sub) (v ?? []).forEach((e: Record<string, any>, i: number) => implicitDefaults(sub, e, `${p}[${i}]`, out));
    } else if (sub) {
      if (v != null) implicitDefaults(sub, v, p, out);
      else if (!why) out.push(`${p} is unset (${type.name}.${f.name})`);
    } else if (NUMERIC.has(f.type) && (v == null || Number(v) === 0) && !why) {
      out.push(`${p} is 0 (${type.name}.${f.name})`);
    }
  }
  return out;
}

function minimalConfigs(): Array<{ desc: string; cfg: any }> {
  const policies = baseConfig();
  policies.static_resources.clusters = ['ROUND_ROBIN', 'RANDOM', 'WEIGHTED_ROUND_ROBIN', 'LEAST_REQUEST', 'RING_HASH', 'MAGLEV'].map((lb, i) =>
    staticCluster(i === 0 ? 'c' : `c${i}`, [['127.0.0.1', 9001]], { lb_policy: lb, ...(i === 1 ? { outlier_detection: {} } : {}) }),
  );
  policies.static_resources.clusters.push({ name: 'eds', type: 'EDS' }, { name: 'odst', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' });
  const routes = [{ route: { cluster: 'c', retry_policy: { retry_on: 'connect-failure' } } }, { route: { weighted_clusters: { clusters: [{ name: 'c', weight: 1 }] } } }];
  return [
    { desc: 'a tcp_proxy listener and a cluster', cfg: baseConfig() },
    { desc: 'a cluster of each LB policy, one with outlier detection', cfg: policies },
    { desc: 'an x_proxy listener with one protocol', cfg: xProxyConfig() },
    {
      desc: 'an x_proxy listener detecting protocols, with a fallback, a retrying route and a weighted one',
      cfg: xProxyConfig({ protocols: ['bolt', 'dubbo'], fallback_tcp_proxy: { stat_prefix: 'raw', cluster: 'c' }, route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes }] } }),
    },
  ];
}

for (const { desc, cfg } of minimalConfigs()) {
  test(`translate: no implicit default left to the data plane: ${desc}`, () => {
    const s = translate(valid(cfg), new Map(), 1).snapshot;
    assert.deepEqual(implicitDefaults(schema().lookupType('xmesh.dataplane.v1.Snapshot'), s as Record<string, any>, 'snapshot'), []);
  });
}

test('translate: the implicit-default walk finds what translate would leave out, and ZERO_MEANS names real fields', () => {
  const root = schema();
  const s = translate(valid(xProxyConfig()), new Map(), 1).snapshot as any;
  delete s.listeners[0].backlog;
  s.listeners[0].filter_chains[0].filters[0].x_proxy.virtual_hosts[0].routes[0].timeout_ms = 0;
  delete s.clusters[0].circuit_breakers;
  assert.deepEqual(implicitDefaults(root.lookupType('xmesh.dataplane.v1.Snapshot'), s, 'snapshot'), [
    'snapshot.listeners[0].backlog is 0 (Listener.backlog)',
    'snapshot.listeners[0].filter_chains[0].filters[0].x_proxy.virtual_hosts[0].routes[0].timeout_ms is 0 (XRoute.timeout_ms)',
    'snapshot.clusters[0].circuit_breakers is unset (Cluster.circuit_breakers)',
  ]);
  for (const key of Object.keys(ZERO_MEANS)) {
    const [type, field] = key.split('.');
    assert.ok(root.lookupType(`xmesh.dataplane.v1.${type}`).fields[field], `${key} is a field of the schema`);
  }
});

test('translate: connection_limit filters come before the terminal filter, in both chains of a detecting x_proxy; the global connection limit is the snapshot\'s', () => {
  const cfg = baseConfig();
  const limitFilter = (prefix: string, max: number) => ({
    name: 'envoy.filters.network.connection_limit',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit', stat_prefix: prefix, max_connections: max },
  });
  cfg.static_resources.listeners[0].filter_chains[0].filters.unshift(limitFilter('a', 10));
  cfg.static_resources.listeners.push({
    name: 'rpc',
    address: { socket_address: { address: '127.0.0.1', port_value: 12201 } },
    filter_chains: [
      {
        filters: [
          limitFilter('b', 20),
          {
            name: 'xmesh.x_proxy',
            typed_config: {
              '@type': 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy',
              stat_prefix: 'rpc',
              protocols: ['bolt', 'dubbo'],
              fallback_tcp_proxy: { stat_prefix: 'raw', cluster: 'c' },
              route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ route: { cluster: 'c' } }] }] },
            },
          },
        ],
      },
    ],
  });
  cfg.overload_manager = {
    resource_monitors: [
      { name: 'envoy.resource_monitors.global_downstream_max_connections', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig', max_active_downstream_connections: 5000 } },
    ],
  };
  const { snapshot } = translate(valid(cfg), new Map(), 1);
  const back = decodeSnapshot(encodeSnapshot(snapshot));
  const names = (fs: pb.INetworkFilter[] | null | undefined) => (fs ?? []).map((f) => f.name);
  assert.deepEqual(names(back.listeners![0].filter_chains![0].filters), ['envoy.filters.network.connection_limit', 'envoy.filters.network.tcp_proxy']);
  assert.deepEqual({ ...back.listeners![0].filter_chains![0].filters![0].connection_limit }, { stat_prefix: 'a', max_connections: 10 });
  assert.deepEqual(names(back.listeners![1].filter_chains![0].filters), ['envoy.filters.network.connection_limit', 'xmesh.x_proxy']);
  assert.deepEqual(names(back.listeners![1].default_filter_chain!.filters), ['envoy.filters.network.connection_limit', 'envoy.filters.network.tcp_proxy']);
  assert.equal(back.listeners![1].default_filter_chain!.filters![0].connection_limit!.stat_prefix, 'b');
  assert.equal(Number(back.max_downstream_connections), 5000);
  delete cfg.overload_manager;
  assert.equal(Number(decodeSnapshot(encodeSnapshot(translate(valid(cfg), new Map(), 2).snapshot)).max_downstream_connections ?? 0), 0);
});
