/** Validation of `static_resources.clusters[]` entries (Envoy v3 Cluster subset). */
import { pb } from '../dataplane/types';
import { at, idx, type Checker, type Obj } from './checker';
import { checkAddress } from './validate-address';
import { checkSocketOptions } from './validate-sockopt';
import { CLUSTER_TYPES, DNS_LOOKUP_FAMILIES, HEALTH_STATUSES, LB_POLICIES, type ClusterType } from './types';

export function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

const CLUSTER_FIELDS = [
  'name',
  'type',
  'connect_timeout',
  'lb_policy',
  'dns_refresh_rate',
  'dns_lookup_family',
  'per_connection_buffer_limit_bytes',
  'circuit_breakers',
  'outlier_detection',
  'ring_hash_lb_config',
  'maglev_lb_config',
  'least_request_lb_config',
  'load_assignment',
  'eds_cluster_config',
  'upstream_connection_options',
  'upstream_bind_config',
] as const;
const CLUSTER_IGNORED = ['alt_stat_name', 'common_lb_config', 'respect_dns_ttl', 'health_checks', 'typed_extension_protocol_options', 'close_connections_on_host_health_failure', 'ignore_health_on_host_removal', 'metadata', 'transport_socket'] as const;

/** Envoy's core.v3.TcpKeepalive: probes / time / interval, all optional, time in seconds. */
export function checkTcpKeepalive(c: Checker, v: unknown, path: string): void {
  const k = c.object(v, path, { known: ['keepalive_probes', 'keepalive_time', 'keepalive_interval'] });
  if (!k) return;
  const { MAX_KEEPALIVE_PROBES, MAX_KEEPALIVE_SECONDS } = pb.Limits;
  c.optional(k, 'keepalive_probes', (y) => c.uint(y, at(path, 'keepalive_probes'), { min: 1, max: MAX_KEEPALIVE_PROBES }));
  c.optional(k, 'keepalive_time', (y) => c.uint(y, at(path, 'keepalive_time'), { min: 1, max: MAX_KEEPALIVE_SECONDS }));
  c.optional(k, 'keepalive_interval', (y) => c.uint(y, at(path, 'keepalive_interval'), { min: 1, max: MAX_KEEPALIVE_SECONDS }));
}

/** Returns the cluster's name if it is usable for cross references. */
export function checkCluster(c: Checker, v: unknown, path: string): string | undefined {
  const o = c.object(v, path, { required: ['name'], known: CLUSTER_FIELDS, ignored: CLUSTER_IGNORED });
  if (!o) return undefined;
  if (o.transport_socket !== undefined) {
    // TLS to upstreams silently dropped would send plaintext where the operator expects TLS.
    c.error(at(path, 'transport_socket'), 'upstream TLS is not supported by xmesh yet');
  }
  const name = o.name === undefined ? undefined : c.string(o.name, at(path, 'name'), { nonEmpty: true });
  const type: ClusterType | undefined = o.type === undefined ? 'STATIC' : c.enumOf(o.type, at(path, 'type'), CLUSTER_TYPES);
  const lb = o.lb_policy === undefined ? 'ROUND_ROBIN' : c.enumOf(o.lb_policy, at(path, 'lb_policy'), LB_POLICIES);

  if (type === 'LOGICAL_DNS') c.warn(at(path, 'type'), 'LOGICAL_DNS is treated as STRICT_DNS (every resolved address becomes a host)');
  if (type === 'EDS') c.warn(at(path, 'type'), 'EDS needs xDS, which is not yet supported: the cluster starts with no endpoints');
  if (type === 'ORIGINAL_DST') c.warn(at(path, 'type'), 'ORIGINAL_DST clusters are accepted but not yet routed by the data plane: the cluster has no endpoints');
  if (lb === 'CLUSTER_PROVIDED' && type !== undefined && type !== 'ORIGINAL_DST') {
    c.error(at(path, 'lb_policy'), 'CLUSTER_PROVIDED is only valid for ORIGINAL_DST clusters');
  }

  c.optional(o, 'connect_timeout', (x) => c.duration(x, at(path, 'connect_timeout'), { minMs: 1 }));
  c.optional(o, 'dns_refresh_rate', (x) => c.duration(x, at(path, 'dns_refresh_rate'), { minMs: 1 }));
  c.optional(o, 'dns_lookup_family', (x) => c.enumOf(x, at(path, 'dns_lookup_family'), DNS_LOOKUP_FAMILIES));
  c.optional(o, 'per_connection_buffer_limit_bytes', (x) => c.uint(x, at(path, 'per_connection_buffer_limit_bytes'), { min: 1 }));
  c.optional(o, 'circuit_breakers', (x) => checkCircuitBreakers(c, x, at(path, 'circuit_breakers')));
  c.optional(o, 'outlier_detection', (x) => checkOutlierDetection(c, x, at(path, 'outlier_detection')));

  c.optional(o, 'ring_hash_lb_config', (x) => {
    const p = at(path, 'ring_hash_lb_config');
    const r = c.object(x, p, { known: ['minimum_ring_size', 'maximum_ring_size', 'hash_function'] });
    if (!r) return;
    const min = c.optional(r, 'minimum_ring_size', (y) => c.uint(y, at(p, 'minimum_ring_size'), { min: 1, max: pb.Limits.MAX_RING_HASH_SIZE }));
    const max = c.optional(r, 'maximum_ring_size', (y) => c.uint(y, at(p, 'maximum_ring_size'), { min: 1, max: pb.Limits.MAX_RING_HASH_SIZE }));
    if (min !== undefined && max !== undefined && min > max) c.error(at(p, 'minimum_ring_size'), `must not exceed maximum_ring_size (${max})`);
    c.optional(r, 'hash_function', (y) => c.enumOf(y, at(p, 'hash_function'), ['XX_HASH'] as const));
    if (lb !== 'RING_HASH') c.warn(p, 'ignored: lb_policy is not RING_HASH');
  });
  c.optional(o, 'maglev_lb_config', (x) => {
    const p = at(path, 'maglev_lb_config');
    const m = c.object(x, p, { known: ['table_size'] });
    if (!m) return;
    const size = c.optional(m, 'table_size', (y) => c.uint(y, at(p, 'table_size'), { min: 2, max: 5_000_011 }));
    if (size !== undefined && !isPrime(size)) c.error(at(p, 'table_size'), `${size} is not a prime number (Maglev needs a prime table size, e.g. 65537)`);
    if (lb !== 'MAGLEV') c.warn(p, 'ignored: lb_policy is not MAGLEV');
  });
  c.optional(o, 'least_request_lb_config', (x) => {
    const p = at(path, 'least_request_lb_config');
    const m = c.object(x, p, { known: ['choice_count'] });
    if (!m) return;
    c.optional(m, 'choice_count', (y) => c.uint(y, at(p, 'choice_count'), { min: 2, max: 100 }));
    if (lb !== 'LEAST_REQUEST') c.warn(p, 'ignored: lb_policy is not LEAST_REQUEST');
  });
  c.optional(o, 'upstream_connection_options', (x) => {
    const p = at(path, 'upstream_connection_options');
    const u = c.object(x, p, { known: ['tcp_keepalive'], ignored: ['set_local_interface_name_on_upstream_connections', 'happy_eyeballs_config'] });
    if (!u) return;
    c.optional(u, 'tcp_keepalive', (y) => checkTcpKeepalive(c, y, at(p, 'tcp_keepalive')));
  });
  c.optional(o, 'upstream_bind_config', (x) => {
    const p = at(path, 'upstream_bind_config');
    const b = c.object(x, p, { known: ['socket_options', 'source_address'], ignored: ['freebind'] });
    if (!b) return;
    if (b.source_address !== undefined) c.error(at(p, 'source_address'), 'binding upstream sockets to a source address is not supported by xmesh yet');
    c.optional(b, 'socket_options', (y) => checkSocketOptions(c, y, at(p, 'socket_options'), 'upstream'));
  });
  c.optional(o, 'eds_cluster_config', (x) => {
    const p = at(path, 'eds_cluster_config');
    const e = c.object(x, p, { known: ['service_name', 'eds_config'] });
    if (!e) return;
    c.optional(e, 'service_name', (y) => c.string(y, at(p, 'service_name')));
    c.optional(e, 'eds_config', (y) => c.anyObject(y, at(p, 'eds_config')));
    if (type !== 'EDS') c.error(p, 'only valid for clusters of type EDS');
  });

  if (o.load_assignment !== undefined) {
    if (type === 'ORIGINAL_DST') c.error(at(path, 'load_assignment'), 'ORIGINAL_DST clusters must not have a load_assignment');
    if (type === 'EDS') c.warn(at(path, 'load_assignment'), 'ignored for EDS clusters');
    checkLoadAssignment(c, o.load_assignment, at(path, 'load_assignment'), type, name);
  } else if (type === 'STATIC' || type === 'STRICT_DNS' || type === 'LOGICAL_DNS') {
    c.warn(path, `cluster has no load_assignment, so no endpoints`);
  }
  return name;
}

function checkCircuitBreakers(c: Checker, v: unknown, path: string): void {
  const o = c.object(v, path, { known: ['thresholds'], ignored: ['per_host_thresholds'] });
  if (!o || o.thresholds === undefined) return;
  const list = c.array(o.thresholds, at(path, 'thresholds'));
  if (!list) return;
  const seen = new Set<string>();
  list.forEach((t, i) => {
    const p = idx(at(path, 'thresholds'), i);
    const th = c.object(t, p, {
      known: ['priority', 'max_connections', 'max_pending_requests', 'max_requests', 'max_retries'],
      ignored: ['retry_budget', 'track_remaining', 'max_connection_pools'],
    });
    if (!th) return;
    const prio = th.priority === undefined ? 'DEFAULT' : c.enumOf(th.priority, at(p, 'priority'), ['DEFAULT', 'HIGH'] as const);
    if (prio !== undefined) {
      if (seen.has(prio)) c.error(at(p, 'priority'), `duplicate thresholds for priority ${prio}`);
      seen.add(prio);
      if (prio === 'HIGH') c.warn(p, 'HIGH priority thresholds are ignored (xmesh has one priority)');
    }
    for (const k of ['max_connections', 'max_pending_requests', 'max_requests', 'max_retries']) {
      c.optional(th, k, (x) => c.uint(x, at(p, k)));
    }
  });
}

function checkOutlierDetection(c: Checker, v: unknown, path: string): void {
  const o = c.object(v, path, {
    known: ['consecutive_gateway_failure', 'consecutive_5xx', 'base_ejection_time', 'max_ejection_time', 'max_ejection_percent'],
    ignored: ['interval', 'enforcing_consecutive_5xx', 'enforcing_consecutive_gateway_failure', 'enforcing_success_rate', 'split_external_local_origin_errors', 'consecutive_local_origin_failure'],
  });
  if (!o) return;
  c.optional(o, 'consecutive_gateway_failure', (x) => c.uint(x, at(path, 'consecutive_gateway_failure'), { min: 1 }));
  c.optional(o, 'consecutive_5xx', (x) => c.uint(x, at(path, 'consecutive_5xx'), { min: 1 }));
  const base = c.optional(o, 'base_ejection_time', (x) => c.duration(x, at(path, 'base_ejection_time'), { minMs: 1 }));
  const max = c.optional(o, 'max_ejection_time', (x) => c.duration(x, at(path, 'max_ejection_time'), { minMs: 1 }));
  if (base !== undefined && max !== undefined && max < base) c.error(at(path, 'max_ejection_time'), 'must not be shorter than base_ejection_time');
  c.optional(o, 'max_ejection_percent', (x) => c.uint(x, at(path, 'max_ejection_percent'), { max: 100 }));
}

function checkLoadAssignment(c: Checker, v: unknown, path: string, type: ClusterType | undefined, clusterName: string | undefined): void {
  const o = c.object(v, path, { required: ['cluster_name'], known: ['cluster_name', 'endpoints'], ignored: ['policy', 'named_endpoints'] });
  if (!o) return;
  const cn = c.optional(o, 'cluster_name', (x) => c.string(x, at(path, 'cluster_name'), { nonEmpty: true }));
  if (cn !== undefined && clusterName !== undefined && cn !== clusterName) {
    c.warn(at(path, 'cluster_name'), `"${cn}" differs from the cluster name "${clusterName}"`);
  }
  if (o.endpoints === undefined) return;
  const list = c.array(o.endpoints, at(path, 'endpoints'));
  list?.forEach((le, i) => checkLocality(c, le, idx(at(path, 'endpoints'), i), type));
}

function checkLocality(c: Checker, v: unknown, path: string, type: ClusterType | undefined): void {
  const o = c.object(v, path, { known: ['priority', 'locality', 'load_balancing_weight', 'lb_endpoints'], ignored: ['proximity', 'leds_cluster_locality_config'] });
  if (!o) return;
  c.optional(o, 'priority', (x) => c.uint(x, at(path, 'priority'), { max: 127 }));
  c.optional(o, 'load_balancing_weight', (x) => c.uint(x, at(path, 'load_balancing_weight'), { min: 1 }));
  c.optional(o, 'locality', (x) => {
    const l = c.object(x, at(path, 'locality'), { known: ['region', 'zone', 'sub_zone'] });
    if (l) for (const k of Object.keys(l)) c.string(l[k], at(at(path, 'locality'), k));
  });
  if (o.lb_endpoints === undefined) return;
  const list = c.array(o.lb_endpoints, at(path, 'lb_endpoints'));
  list?.forEach((e, i) => checkLbEndpoint(c, e, idx(at(path, 'lb_endpoints'), i), type));
}

function checkLbEndpoint(c: Checker, v: unknown, path: string, type: ClusterType | undefined): void {
  const o = c.object(v, path, { required: ['endpoint'], known: ['endpoint', 'load_balancing_weight', 'health_status', 'metadata'] });
  if (!o) return;
  c.optional(o, 'load_balancing_weight', (x) => c.uint(x, at(path, 'load_balancing_weight'), { min: 1 }));
  c.optional(o, 'health_status', (x) => c.enumOf(x, at(path, 'health_status'), HEALTH_STATUSES));
  c.optional(o, 'metadata', (x) => checkMetadata(c, x, at(path, 'metadata')));
  c.optional(o, 'endpoint', (x) => {
    const p = at(path, 'endpoint');
    const e = c.object(x, p, { required: ['address'], known: ['address', 'hostname'], ignored: ['health_check_config', 'additional_addresses'] });
    if (!e) return;
    c.optional(e, 'hostname', (y) => c.string(y, at(p, 'hostname')));
    const dns = type === 'STRICT_DNS' || type === 'LOGICAL_DNS';
    c.optional(e, 'address', (y) =>
      checkAddress(c, y, at(p, 'address'), {
        host: dns ? 'ip-or-hostname' : 'ip',
        minPort: 1,
        ipOnlyReason: `${type ?? 'this'} clusters need IP literals; use type STRICT_DNS for hostnames`,
      }),
    );
  });
}

function checkMetadata(c: Checker, v: unknown, path: string): void {
  const o = c.object(v, path, { known: ['filter_metadata'], ignored: ['typed_filter_metadata'] });
  if (!o || o.filter_metadata === undefined) return;
  const fm = c.anyObject(o.filter_metadata, at(path, 'filter_metadata'));
  if (!fm) return;
  for (const [ns, val] of Object.entries(fm)) {
    const p = at(at(path, 'filter_metadata'), ns);
    const m = c.anyObject(val, p);
    if (!m || ns !== 'envoy.lb') continue;
    for (const [k, mv] of Object.entries(m as Obj)) {
      if (mv === null || (typeof mv === 'object')) c.error(at(p, k), 'envoy.lb metadata values must be strings, numbers or booleans (they are matched as strings)');
    }
  }
}
