/** Compiles a validated bootstrap (plus resolved DNS answers) into the data-plane SnapshotMsg; a pure function. */
import { dnsKey, familyOf, type ResolvedAddresses } from '../cluster/dns-targets';
import Long from 'long';
import { pb, type SnapshotMsg } from '../dataplane/types';
import { hostPort, isIpLiteral } from './addresses';
import { durationMs } from './durations';
import type { ConfigIssue } from './errors';
import { CONNECTION_LIMIT_NAME, GLOBAL_CX_MONITOR_NAME, PROTOCOL_DETECTION_NAME, TCP_PROXY_NAME, X_PROXY_NAME, type BootstrapCfg, type ConnectionLimitCfg, type ClusterCfg, type FilterChainCfg, type FilterChainMatchCfg, type LbEndpointCfg, type ListenerCfg, type SocketOptionCfg, type TcpKeepaliveCfg, type TcpProxyCfg, type U64Cfg, type XCodecDescriptorCfg, type XDescFieldCfg, type XDescLocationCfg, type XProxyCfg, type XRouteCfg, type XStringMatchCfg } from './types';
import { magicBytes, parseU64 } from './validate-descriptor';
import { decodeBufValue } from './validate-sockopt';

/**
 * Every default the snapshot carries, in one place (STYLE 14). translate writes each into the
 * snapshot explicitly, so the data plane never reads 0 as "use a default": it asserts. Where
 * Envoy has the setting, the value is Envoy's default (named in each comment).
 */
export const DEFAULTS = {
  /** Listener.backlog. Envoy's tcp_backlog_size: unset = net.core.somaxconn (listen() caps at it anyway). */
  listenerBacklog: 1024,
  /** Listener.buffer_limit and Cluster.per_connection_buffer_limit: Envoy's per_connection_buffer_limit_bytes, 1 MiB. */
  perConnectionBufferLimitBytes: 1024 * 1024,
  /** TcpProxy.idle_timeout_ms: Envoy's tcp_proxy idle_timeout, 1 h. */
  tcpIdleTimeoutMs: 3_600_000,
  /** TcpProxy.max_connect_attempts: Envoy's tcp_proxy max_connect_attempts, 1. */
  maxConnectAttempts: 1,
  /** Cluster.connect_timeout_ms: Envoy's cluster connect_timeout, 5 s. */
  connectTimeoutMs: 5000,
  /** CircuitBreakers: Envoy's thresholds max_connections, max_pending_requests, max_requests (1024) and max_retries (3). */
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
  /** OutlierDetection: Envoy's consecutive_gateway_failure and consecutive_5xx, 5. */
  consecutiveGatewayFailure: 5,
  consecutive5xx: 5,
  /** OutlierDetection: Envoy's base_ejection_time 30 s, max_ejection_time 300 s, max_ejection_percent 10. */
  baseEjectionTimeMs: 30_000,
  maxEjectionTimeMs: 300_000,
  maxEjectionPercent: 10,
  /** Cluster.ring_hash_min_size (RING_HASH): Envoy's ring_hash_lb_config minimum_ring_size, 1024. */
  ringHashMinSize: 1024,
  /** Cluster.maglev_table_size (MAGLEV): Envoy's maglev_lb_config table_size, 65537. */
  maglevTableSize: 65537,
  /** Cluster.least_request_choices (LEAST_REQUEST): Envoy's least_request_lb_config choice_count, 2. */
  leastRequestChoices: 2,
  /** Endpoint.weight: Envoy's load_balancing_weight, 1. */
  endpointWeight: 1,
  /** XProxy.max_frame_size: xmesh's own (Envoy has no x-protocol proxy), 16 MiB. */
  xMaxFrameSize: 16 * 1024 * 1024,
  /** XProxy.upstream_connections_per_host (per worker): xmesh's own, 1. */
  xUpstreamConnectionsPerHost: 1,
  /** XProxy.request_timeout_ms, and XRoute.timeout_ms of a route without one: Envoy's route timeout, 15 s. */
  xRequestTimeoutMs: 15_000,
  /** XProxy.idle_timeout_ms: Envoy's HCM idle_timeout, 1 h (0 disables). */
  xIdleTimeoutMs: 3_600_000,
  /** XProxy.frame_timeout_ms: a frame that began must arrive whole within it; Envoy's
   * request_headers_timeout is off by default, xmesh bounds what a stalled client holds: 30 s. */
  xFrameTimeoutMs: 30_000,
  /** XProxy.detect_timeout_ms: Envoy's listener_filters_timeout, 15 s. */
  xDetectTimeoutMs: 15_000,
  /** XRetryPolicy.num_retries: Envoy's retry_policy num_retries, 1. */
  xNumRetries: 1,
} as const;

export interface Translation {
  snapshot: SnapshotMsg;
  warnings: ConfigIssue[];
}

/** Drop undefined properties so snapshots compare and print cleanly. */
function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

export function translate(cfg: BootstrapCfg, resolved: ResolvedAddresses, version: number): Translation {
  const warnings: ConfigIssue[] = [];
  const clusters = (cfg.static_resources?.clusters ?? []).map((c, i) =>
    translateCluster(c, `static_resources.clusters[${i}]`, resolved, warnings),
  );
  const listeners = (cfg.static_resources?.listeners ?? []).map(translateListener);
  const maxCx = cfg.overload_manager?.resource_monitors?.find((m) => m.name === GLOBAL_CX_MONITOR_NAME)?.typed_config?.max_active_downstream_connections;
  return { snapshot: compact<SnapshotMsg>({ version, listeners, clusters, max_downstream_connections: maxCx }), warnings };
}

function translateListener(l: ListenerCfg): pb.IListener {
  const sa = l.address.socket_address;
  const msg = compact<pb.IListener>({
    name: l.name,
    address: { address: sa.address, port: sa.port_value ?? 0 },
    backlog: l.tcp_backlog_size ?? DEFAULTS.listenerBacklog,
    buffer_limit: l.per_connection_buffer_limit_bytes ?? DEFAULTS.perConnectionBufferLimitBytes,
    stat_prefix: l.stat_prefix,
    use_original_dst: l.use_original_dst,
    socket_options: socketOptions(l.socket_options),
  });
  const chains: pb.IFilterChain[] = [];
  l.filter_chains.forEach((fc, i) => {
    const x = detectingXProxy(fc);
    if (x) {
      // Several protocols on one listener, or a fallback: a protocol detection listener
      // filter names each connection's protocol, the x_proxy chain takes the ones it
      // speaks, the fallback tcp_proxy (the default chain) the rest. Validation keeps
      // such an x_proxy the listener's only chain.
      const protocols = xProtocols(x);
      msg.listener_filters = [
        {
          name: PROTOCOL_DETECTION_NAME,
          protocol_detection: compact<pb.IProtocolDetection>({
            protocols,
            descriptors: x.descriptors?.map(translateDescriptor),
            timeout_ms: durationMs(x.detect_timeout, DEFAULTS.xDetectTimeoutMs),
            stat_prefix: x.stat_prefix,
          }),
        },
      ];
      // The chain's connection limits hold for both of what it becomes (they share their
      // count by stat_prefix).
      const limits = limitFilters(fc);
      chains.push({ name: fc.name ?? 'x_proxy', filter_chain_match: { application_protocols: protocols }, filters: [...limits, { name: X_PROXY_NAME, x_proxy: translateXProxy(x) }] });
      if (x.fallback_tcp_proxy) msg.default_filter_chain = { name: 'fallback', filters: [...limits, { name: TCP_PROXY_NAME, tcp_proxy: translateTcpProxy(x.fallback_tcp_proxy) }] };
      return;
    }
    chains.push(translateChain(fc, fc.name ?? `chain${i}`));
  });
  if (chains.length) msg.filter_chains = chains;
  if (l.default_filter_chain) msg.default_filter_chain = translateChain(l.default_filter_chain, l.default_filter_chain.name ?? 'default');
  return msg;
}

function xProtocols(x: XProxyCfg): string[] {
  return x.protocol !== undefined ? [x.protocol] : (x.protocols ?? []);
}

/** The chain's x_proxy when it needs protocol detection (several protocols, or a fallback). */
export function detectingXProxy(fc: FilterChainCfg): XProxyCfg | undefined {
  const f = fc.filters[fc.filters.length - 1];
  if (f?.name !== X_PROXY_NAME) return undefined;
  const x = f.typed_config as XProxyCfg;
  return xProtocols(x).length > 1 || x.fallback_tcp_proxy !== undefined ? x : undefined;
}

function translateChain(fc: FilterChainCfg, name: string): pb.IFilterChain {
  return compact<pb.IFilterChain>({
    name,
    filter_chain_match: chainMatch(fc.filter_chain_match),
    filters: fc.filters.map((f): pb.INetworkFilter =>
      f.name === X_PROXY_NAME
        ? { name: X_PROXY_NAME, x_proxy: translateXProxy(f.typed_config as XProxyCfg) }
        : f.name === CONNECTION_LIMIT_NAME
          ? translateConnectionLimit(f.typed_config as ConnectionLimitCfg)
          : { name: TCP_PROXY_NAME, tcp_proxy: translateTcpProxy(f.typed_config as TcpProxyCfg) },
    ),
  });
}

function translateConnectionLimit(t: ConnectionLimitCfg): pb.INetworkFilter {
  return { name: CONNECTION_LIMIT_NAME, connection_limit: { stat_prefix: t.stat_prefix, max_connections: t.max_connections } };
}

/** The chain's connection_limit filters (they come before its terminal filter). */
function limitFilters(fc: FilterChainCfg): pb.INetworkFilter[] {
  return fc.filters.filter((f) => f.name === CONNECTION_LIMIT_NAME).map((f) => translateConnectionLimit(f.typed_config as ConnectionLimitCfg));
}

function cidrs(list: FilterChainMatchCfg['prefix_ranges']): pb.ICidrRange[] | undefined {
  return list?.map((r) => ({ address_prefix: r.address_prefix, prefix_len: r.prefix_len ?? (r.address_prefix.includes(':') ? 128 : 32) }));
}

function chainMatch(m: FilterChainMatchCfg | undefined): pb.IFilterChainMatch | undefined {
  if (!m) return undefined;
  return compact<pb.IFilterChainMatch>({
    destination_port: m.destination_port,
    prefix_ranges: cidrs(m.prefix_ranges),
    server_names: m.server_names,
    transport_protocol: m.transport_protocol,
    application_protocols: m.application_protocols,
    source_prefix_ranges: cidrs(m.source_prefix_ranges),
    source_ports: m.source_ports,
  });
}

function stringMatch(m: XStringMatchCfg | undefined): pb.IXStringMatch | undefined {
  if (!m) return undefined;
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return { prefix: m.prefix };
  if (m.safe_regex !== undefined) return { safe_regex: m.safe_regex.regex };
  return { present: true };
}

function hashPolicy(h: XRouteCfg['route']['hash_policy']): pb.IXHashPolicy | undefined {
  const p = h?.[0];
  if (!p) return undefined;
  return p.meta ? { meta: p.meta.name } : { source_ip: true };
}

function retryPolicy(r: XRouteCfg['route']['retry_policy']): pb.IXRetryPolicy | undefined {
  if (!r) return undefined;
  const on = new Set(r.retry_on.split(',').map((s) => s.trim()));
  return { num_retries: r.num_retries ?? DEFAULTS.xNumRetries, on_connect_failure: on.has('connect-failure'), on_reset: on.has('reset') };
}

/** A validated uint64: a number when exact, else an unsigned Long (protobufjs encodes both). */
function u64(v: U64Cfg): number | Long {
  const b = parseU64(v)!;
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : Long.fromString(b.toString(), true);
}

function descField(f: XDescFieldCfg): pb.IXDescField {
  return { offset: f.offset, size: f.size, little_endian: f.little_endian ?? false };
}

function descLocation(l: XDescLocationCfg | undefined): pb.IXDescLocation | undefined {
  if (!l) return undefined;
  if (l.fixed) return { fixed: { offset: l.fixed.offset, length: l.fixed.length } };
  if (l.length_prefixed) return { length_prefixed: { offset: l.length_prefixed.offset, length_size: l.length_prefixed.length_size } };
  return { tlv: { offset: l.tlv!.offset, type: l.tlv!.type } };
}

/** The grouped YAML shape of a descriptor, flattened into the snapshot's XCodecDescriptor (= struct xm_descriptor). */
export function translateDescriptor(d: XCodecDescriptorCfg): pb.IXCodecDescriptor {
  const k = d.kind;
  const s = d.status;
  const serverError = s ? u64(s.server_error) : 0;
  const code = (v: U64Cfg | undefined): number | Long => (v === undefined ? serverError : u64(v));
  const magic = d.magic ? magicBytes(d.magic) : undefined;
  return compact<pb.IXCodecDescriptor>({
    name: d.name,
    magic,
    magic_offset: magic ? (d.magic!.offset ?? 0) : undefined,
    length: descField(d.length),
    length_adjust: d.length.adjust ?? 0,
    header_len: d.header_len,
    request_id: descField(d.request_id),
    kind_field: descField(k),
    kind_mask: k.mask === undefined ? u64(`0x${'ff'.repeat(k.size)}`) : u64(k.mask),
    kind_request: u64(k.request),
    kind_response: u64(k.response),
    kind_oneway: k.oneway === undefined ? undefined : u64(k.oneway),
    has_oneway: k.oneway === undefined ? undefined : true,
    kind_heartbeat: k.heartbeat === undefined ? undefined : u64(k.heartbeat),
    has_heartbeat: k.heartbeat === undefined ? undefined : true,
    kind_heartbeat_ack: k.heartbeat_ack === undefined ? undefined : u64(k.heartbeat_ack),
    has_heartbeat_ack: k.heartbeat_ack === undefined ? undefined : true,
    status: s ? descField(s) : undefined,
    status_ok: s ? u64(s.ok) : undefined,
    status_codes: s
      ? { no_route: code(s.no_route), timeout: code(s.timeout), overflow: code(s.overflow), unavailable: code(s.unavailable), server_error: serverError, codec_error: code(s.codec_error) }
      : undefined,
    service: descLocation(d.service),
    method: descLocation(d.method),
    pool_mode: pb.XCodecDescriptor.PoolMode.MULTIPLEX,
  });
}

function translateXProxy(x: XProxyCfg): pb.IXProxy {
  const requestTimeoutMs = durationMs(x.request_timeout, DEFAULTS.xRequestTimeoutMs);
  return compact<pb.IXProxy>({
    stat_prefix: x.stat_prefix,
    protocols: xProtocols(x),
    descriptors: x.descriptors?.map(translateDescriptor),
    max_frame_size: x.max_frame_size ?? DEFAULTS.xMaxFrameSize,
    upstream_connections_per_host: x.upstream_connections_per_host ?? DEFAULTS.xUpstreamConnectionsPerHost,
    request_timeout_ms: requestTimeoutMs,
    idle_timeout_ms: durationMs(x.idle_timeout, DEFAULTS.xIdleTimeoutMs),
    frame_timeout_ms: durationMs(x.frame_timeout, DEFAULTS.xFrameTimeoutMs),
    max_connection_duration_ms: x.max_connection_duration === undefined ? undefined : durationMs(x.max_connection_duration, 0),
    virtual_hosts: x.route_config.virtual_hosts.map((vh) => ({
      name: vh.name,
      domains: vh.domains,
      routes: vh.routes.map((r) =>
        compact<pb.IXRoute>({
          method: stringMatch(r.match?.method),
          metas: r.match?.metas?.map((m) => ({ name: m.name, match: stringMatch(m)! })),
          cluster: r.route.cluster,
          weighted_clusters: r.route.weighted_clusters?.clusters.map((w) => ({ cluster: w.name, weight: w.weight })),
          timeout_ms: durationMs(r.route.timeout, requestTimeoutMs),
          idempotent: r.route.idempotent,
          retry_policy: retryPolicy(r.route.retry_policy),
          metadata_match: lbPairs(r.route.metadata_match?.filter_metadata?.['envoy.lb']),
          hash_policy: hashPolicy(r.route.hash_policy),
        }),
      ),
    })),
  });
}

function translateTcpProxy(t: Omit<TcpProxyCfg, '@type'>): pb.ITcpProxy {
  return compact<pb.ITcpProxy>({
    stat_prefix: t.stat_prefix,
    cluster: t.cluster,
    weighted_clusters: t.weighted_clusters?.clusters.map((w) => ({ cluster: w.name, weight: w.weight })),
    idle_timeout_ms: durationMs(t.idle_timeout, DEFAULTS.tcpIdleTimeoutMs),
    max_connection_duration_ms: t.max_downstream_connection_duration === undefined ? undefined : durationMs(t.max_downstream_connection_duration, 0),
    max_connect_attempts: t.max_connect_attempts ?? DEFAULTS.maxConnectAttempts,
    access_log_path: t.access_log?.[0]?.typed_config.path,
    hash_policy: t.hash_policy && t.hash_policy.length > 0 ? { key: pb.HashPolicy.Key.SOURCE_IP } : undefined,
  });
}

function translateCluster(c: ClusterCfg, path: string, resolved: ResolvedAddresses, warnings: ConfigIssue[]): pb.ICluster {
  const lb = !c.lb_policy || c.lb_policy === 'CLUSTER_PROVIDED' ? pb.Cluster.LbPolicy.ROUND_ROBIN : pb.Cluster.LbPolicy[c.lb_policy];
  const th = c.circuit_breakers?.thresholds?.find((t) => (t.priority ?? 'DEFAULT') === 'DEFAULT');
  const od = c.outlier_detection;
  return compact<pb.ICluster>({
    name: c.name,
    lb_policy: lb,
    connect_timeout_ms: durationMs(c.connect_timeout, DEFAULTS.connectTimeoutMs),
    endpoints: translateEndpoints(c, path, resolved, warnings),
    circuit_breakers: {
      max_connections: th?.max_connections ?? DEFAULTS.maxConnections,
      max_pending_requests: th?.max_pending_requests ?? DEFAULTS.maxPendingRequests,
      max_requests: th?.max_requests ?? DEFAULTS.maxRequests,
      max_retries: th?.max_retries ?? DEFAULTS.maxRetries,
    },
    outlier_detection: od
      ? {
          enabled: true,
          consecutive_gateway_failure: od.consecutive_gateway_failure ?? DEFAULTS.consecutiveGatewayFailure,
          consecutive_5xx: od.consecutive_5xx ?? DEFAULTS.consecutive5xx,
          base_ejection_time_ms: durationMs(od.base_ejection_time, DEFAULTS.baseEjectionTimeMs),
          max_ejection_time_ms: durationMs(od.max_ejection_time, DEFAULTS.maxEjectionTimeMs),
          max_ejection_percent: od.max_ejection_percent ?? DEFAULTS.maxEjectionPercent,
        }
      : undefined,
    ring_hash_min_size: lb === pb.Cluster.LbPolicy.RING_HASH ? (c.ring_hash_lb_config?.minimum_ring_size ?? DEFAULTS.ringHashMinSize) : undefined,
    maglev_table_size: lb === pb.Cluster.LbPolicy.MAGLEV ? (c.maglev_lb_config?.table_size ?? DEFAULTS.maglevTableSize) : undefined,
    per_connection_buffer_limit: c.per_connection_buffer_limit_bytes ?? DEFAULTS.perConnectionBufferLimitBytes,
    least_request_choices: lb === pb.Cluster.LbPolicy.LEAST_REQUEST ? (c.least_request_lb_config?.choice_count ?? DEFAULTS.leastRequestChoices) : undefined,
    tcp_keepalive: keepalive(c.upstream_connection_options?.tcp_keepalive),
    upstream_socket_options: socketOptions(c.upstream_bind_config?.socket_options),
  });
}

function socketOptions(list: SocketOptionCfg[] | undefined): pb.ISocketOption[] | undefined {
  if (!list?.length) return undefined;
  return list.map((o) =>
    compact<pb.ISocketOption>({
      description: o.description,
      level: Number(o.level),
      name: Number(o.name),
      int_value: o.int_value !== undefined ? Number(o.int_value) : undefined,
      buf_value: o.buf_value !== undefined ? decodeBufValue(o.buf_value) : undefined,
      state: o.state === undefined ? undefined : pb.SocketOption.State[o.state],
    }),
  );
}

/** 0 = the kernel's own default (net.ipv4.tcp_keepalive_*), the one default that is not ours. */
function keepalive(k: TcpKeepaliveCfg | undefined): pb.ITcpKeepalive | undefined {
  if (!k) return undefined;
  return { keepalive_probes: k.keepalive_probes ?? 0, keepalive_time_s: k.keepalive_time ?? 0, keepalive_interval_s: k.keepalive_interval ?? 0 };
}

function endpointMetadata(e: LbEndpointCfg): Record<string, string> | undefined {
  return lbPairs(e.metadata?.filter_metadata?.['envoy.lb']);
}

/** envoy.lb metadata as the string pairs the data plane matches. */
function lbPairs(lb: Record<string, unknown> | undefined): Record<string, string> | undefined {
  if (!lb) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(lb)) out[k] = String(v);
  return Object.keys(out).length > 0 ? out : undefined;
}

function translateEndpoints(c: ClusterCfg, path: string, resolved: ResolvedAddresses, warnings: ConfigIssue[]): pb.IEndpoint[] {
  // EDS and ORIGINAL_DST get their hosts at run time (xDS / the original destination), not from the file.
  if (c.type === 'EDS' || c.type === 'ORIGINAL_DST') return [];
  const family = familyOf(c.dns_lookup_family);
  const out: pb.IEndpoint[] = [];
  const seen = new Set<string>();
  (c.load_assignment?.endpoints ?? []).forEach((loc, li) => {
    (loc.lb_endpoints ?? []).forEach((e, ei) => {
      const sa = e.endpoint.address.socket_address;
      const port = sa.port_value ?? 0;
      let ips: readonly string[];
      if (isIpLiteral(sa.address)) ips = [sa.address];
      else {
        ips = resolved.get(dnsKey(sa.address, family)) ?? [];
        if (ips.length === 0) {
          warnings.push({
            path: `${path}.load_assignment.endpoints[${li}].lb_endpoints[${ei}]`,
            message: `"${sa.address}" has no resolved addresses yet; the endpoint is left out`,
          });
        }
      }
      const hs = e.health_status;
      const healthy = !(hs === 'UNHEALTHY' || hs === 'DRAINING' || hs === 'TIMEOUT');
      for (const ip of ips) {
        const key = hostPort(ip, port);
        if (seen.has(key)) {
          warnings.push({ path: `${path}.load_assignment`, message: `duplicate endpoint ${key}; keeping the first` });
          continue;
        }
        seen.add(key);
        out.push(
          compact<pb.IEndpoint>({
            address: { address: ip, port },
            weight: e.load_balancing_weight ?? DEFAULTS.endpointWeight,
            healthy,
            metadata: endpointMetadata(e),
            priority: loc.priority ?? 0,
          }),
        );
      }
    });
  });
  return out;
}
