/** The Envoy v3 bootstrap subset xmesh understands, as it looks once validate() has accepted it. */

/** Envoy Duration in YAML/JSON: "1s", "0.25s", xmesh also takes "100ms"; or { seconds, nanos }. */
export type DurationValue = string | { seconds?: number; nanos?: number };

export interface SocketAddressCfg {
  address: string;
  port_value?: number;
  protocol?: 'TCP';
  ipv4_compat?: boolean;
}

export interface AddressCfg {
  socket_address: SocketAddressCfg;
}

export interface AdminCfg {
  address?: AddressCfg;
  access_log_path?: string;
  access_log?: unknown[];
  profile_path?: string;
}

export interface FileAccessLogCfg {
  name: string;
  typed_config: { '@type': string; path: string; log_format?: unknown };
}

export interface WeightedClusterCfg {
  name: string;
  weight: number;
}

export interface TcpProxyCfg {
  '@type': string;
  stat_prefix: string;
  cluster?: string;
  weighted_clusters?: { clusters: WeightedClusterCfg[] };
  idle_timeout?: DurationValue;
  max_connect_attempts?: number;
  access_log?: FileAccessLogCfg[];
  hash_policy?: Array<{ source_ip: Record<string, never> }>;
  /** Envoy's: close the pair after this long (default: none). */
  max_downstream_connection_duration?: DurationValue;
}

export interface XStringMatchCfg {
  exact?: string;
  prefix?: string;
  present?: boolean;
  safe_regex?: { regex: string };
}

export interface XRouteCfg {
  match?: { method?: XStringMatchCfg; metas?: Array<XStringMatchCfg & { name: string }> };
  route: {
    cluster?: string;
    weighted_clusters?: { clusters: WeightedClusterCfg[] };
    timeout?: DurationValue;
    /** xmesh extension: requests on this route may be sent twice (allows retry_on "reset"). */
    idempotent?: boolean;
    retry_policy?: { num_retries?: number; retry_on: string };
    metadata_match?: { filter_metadata?: Record<string, Record<string, unknown>> };
    /** The LB key for ring hash / maglev clusters (one entry). */
    hash_policy?: Array<{ meta?: { name: string }; connection_properties?: { source_ip: boolean } }>;
  };
}

/** retry_on conditions x_proxy understands (Envoy names). */
export const X_RETRY_ON = ['connect-failure', 'reset'] as const;

/** An unsigned value of a descriptor field: an integer, or a decimal / "0x..." string for values above 2^53. */
export type U64Cfg = number | string;

/** A fixed-width unsigned field of a descriptor's header. */
export interface XDescFieldCfg {
  offset: number;
  size: 1 | 2 | 4 | 8;
  little_endian?: boolean;
}

/** Where a routing key lives in a frame: exactly one of the three. */
export interface XDescLocationCfg {
  fixed?: { offset: number; length: number };
  length_prefixed?: { offset: number; length_size: 1 | 2 | 4 };
  tlv?: { offset: number; type: number };
}

/** A length-prefixed RPC protocol defined in configuration (x_proxy `descriptors[]`). */
export interface XCodecDescriptorCfg {
  name: string;
  header_len: number;
  magic?: { offset?: number; text?: string; hex?: string };
  length: XDescFieldCfg & { adjust?: number };
  request_id: XDescFieldCfg;
  kind: XDescFieldCfg & { mask?: U64Cfg; request: U64Cfg; response: U64Cfg; oneway?: U64Cfg; heartbeat?: U64Cfg; heartbeat_ack?: U64Cfg };
  status?: XDescFieldCfg & { ok: U64Cfg; server_error: U64Cfg } & Partial<Record<(typeof X_DESC_ERROR_STATUSES)[number], U64Cfg>>;
  service?: XDescLocationCfg;
  method?: XDescLocationCfg;
}

/** Outcomes the sidecar answers itself, in descriptor `status` (server_error is required, the rest default to it). */
export const X_DESC_ERROR_STATUSES = ['no_route', 'timeout', 'overflow', 'unavailable', 'codec_error'] as const;

export interface XProxyCfg {
  '@type': string;
  stat_prefix: string;
  /** Exactly one of protocol / protocols: a built-in (X_PROTOCOLS) or the name of one of `descriptors`. */
  protocol?: string;
  /** Several protocols on one listener, detected from each connection's first bytes (in this order). */
  protocols?: string[];
  /** Connections no listed protocol recognises are proxied as plain TCP (shape of the tcp_proxy filter's typed_config; @type optional). */
  fallback_tcp_proxy?: Omit<TcpProxyCfg, '@type'> & { '@type'?: string };
  /** How long detection waits for a client's first bytes (default 15s). */
  detect_timeout?: DurationValue;
  descriptors?: XCodecDescriptorCfg[];
  max_frame_size?: number;
  upstream_connections_per_host?: number;
  request_timeout?: DurationValue;
  /** A connection with nothing in flight and no bytes this long is closed (default 1h; 0s disables). */
  idle_timeout?: DurationValue;
  /** A frame that began must arrive whole within this (default 30s; 0s disables). */
  frame_timeout?: DurationValue;
  /** After this a connection stops reading and closes once answered (default: none). */
  max_connection_duration?: DurationValue;
  route_config: { name?: string; virtual_hosts: Array<{ name: string; domains: string[]; routes: XRouteCfg[] }> };
}

/** Built-in x-protocol codecs; a descriptor may not take one of these names. */
export const X_PROTOCOLS = ['bolt', 'dubbo'] as const;
export type XProtocol = (typeof X_PROTOCOLS)[number];

export interface NetworkFilterCfg {
  name: string;
  typed_config: TcpProxyCfg | XProxyCfg | ConnectionLimitCfg;
}

/** Envoy's extensions.filters.network.connection_limit.v3.ConnectionLimit (a non-terminal filter). */
export interface ConnectionLimitCfg {
  '@type': string;
  stat_prefix: string;
  max_connections: number;
}

/** Envoy's overload manager, as far as xmesh applies it: the global downstream connection limit. */
export interface OverloadManagerCfg {
  refresh_interval?: string;
  resource_monitors?: Array<{ name: string; typed_config?: { '@type'?: string; max_active_downstream_connections?: number } }>;
}

/** Envoy's config.listener.v3.FilterChainMatch (the fields xmesh evaluates). */
export interface FilterChainMatchCfg {
  destination_port?: number;
  prefix_ranges?: Array<{ address_prefix: string; prefix_len?: number }>;
  server_names?: string[];
  transport_protocol?: string;
  application_protocols?: string[];
  source_prefix_ranges?: Array<{ address_prefix: string; prefix_len?: number }>;
  source_ports?: number[];
}

export interface FilterChainCfg {
  name?: string;
  filter_chain_match?: FilterChainMatchCfg;
  filters: NetworkFilterCfg[];
}

export interface ListenerCfg {
  name: string;
  address: AddressCfg;
  stat_prefix?: string;
  filter_chains: FilterChainCfg[];
  default_filter_chain?: FilterChainCfg;
  per_connection_buffer_limit_bytes?: number;
  use_original_dst?: boolean;
  tcp_backlog_size?: number;
  traffic_direction?: 'UNSPECIFIED' | 'INBOUND' | 'OUTBOUND';
  listener_filters?: unknown[];
  socket_options?: SocketOptionCfg[];
}

export const SOCKET_OPTION_STATES = ['STATE_PREBIND', 'STATE_BOUND', 'STATE_LISTENING'] as const;

/** Envoy's core.v3.SocketOption: one setsockopt() with numeric level and name. */
export interface SocketOptionCfg {
  description?: string;
  level: number | string;
  name: number | string;
  int_value?: number | string;
  /** base64 (proto3 JSON bytes) */
  buf_value?: string;
  state?: (typeof SOCKET_OPTION_STATES)[number];
}

export const CLUSTER_TYPES = ['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'ORIGINAL_DST', 'EDS'] as const;
export type ClusterType = (typeof CLUSTER_TYPES)[number];

export const LB_POLICIES = [
  'ROUND_ROBIN',
  'RANDOM',
  'LEAST_REQUEST',
  'RING_HASH',
  'MAGLEV',
  'WEIGHTED_ROUND_ROBIN',
  'CLUSTER_PROVIDED',
] as const;
export type LbPolicyCfg = (typeof LB_POLICIES)[number];

export const DNS_LOOKUP_FAMILIES = ['AUTO', 'V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'ALL'] as const;
export type DnsLookupFamily = (typeof DNS_LOOKUP_FAMILIES)[number];

export const HEALTH_STATUSES = ['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

export interface ThresholdsCfg {
  priority?: 'DEFAULT' | 'HIGH';
  max_connections?: number;
  max_pending_requests?: number;
  max_requests?: number;
  max_retries?: number;
}

export interface OutlierDetectionCfg {
  consecutive_gateway_failure?: number;
  consecutive_5xx?: number;
  base_ejection_time?: DurationValue;
  max_ejection_time?: DurationValue;
  max_ejection_percent?: number;
  interval?: DurationValue;
}

export interface LbEndpointCfg {
  endpoint: { address: AddressCfg; hostname?: string };
  load_balancing_weight?: number;
  health_status?: HealthStatus;
  metadata?: { filter_metadata?: Record<string, Record<string, unknown>> };
}

export interface LocalityLbEndpointsCfg {
  priority?: number;
  locality?: Record<string, string>;
  load_balancing_weight?: number;
  lb_endpoints?: LbEndpointCfg[];
}

export interface ClusterLoadAssignmentCfg {
  cluster_name: string;
  endpoints?: LocalityLbEndpointsCfg[];
}

export interface ClusterCfg {
  name: string;
  type?: ClusterType;
  connect_timeout?: DurationValue;
  lb_policy?: LbPolicyCfg;
  dns_refresh_rate?: DurationValue;
  dns_lookup_family?: DnsLookupFamily;
  per_connection_buffer_limit_bytes?: number;
  circuit_breakers?: { thresholds?: ThresholdsCfg[] };
  outlier_detection?: OutlierDetectionCfg;
  ring_hash_lb_config?: { minimum_ring_size?: number; maximum_ring_size?: number };
  maglev_lb_config?: { table_size?: number };
  least_request_lb_config?: { choice_count?: number };
  load_assignment?: ClusterLoadAssignmentCfg;
  eds_cluster_config?: { service_name?: string; eds_config?: unknown };
  upstream_connection_options?: { tcp_keepalive?: TcpKeepaliveCfg };
  upstream_bind_config?: { socket_options?: SocketOptionCfg[] };
}

export interface TcpKeepaliveCfg {
  keepalive_probes?: number;
  keepalive_time?: number;
  keepalive_interval?: number;
}

export interface StaticResourcesCfg {
  listeners?: ListenerCfg[];
  clusters?: ClusterCfg[];
}

export interface BootstrapCfg {
  admin?: AdminCfg;
  static_resources?: StaticResourcesCfg;
  dynamic_resources?: Record<string, unknown>;
  node?: unknown;
  layered_runtime?: unknown;
  stats_config?: unknown;
  overload_manager?: OverloadManagerCfg;
}

export const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const TCP_PROXY_NAME = 'envoy.filters.network.tcp_proxy';
export const X_PROXY_NAME = 'xmesh.x_proxy';
export const CONNECTION_LIMIT_NAME = 'envoy.filters.network.connection_limit';
export const CONNECTION_LIMIT_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit';
export const GLOBAL_CX_MONITOR_NAME = 'envoy.resource_monitors.global_downstream_max_connections';
export const FIXED_HEAP_MONITOR = 'envoy.resource_monitors.fixed_heap';
export const FIXED_HEAP_TYPE = 'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig';
/** The overload actions xmesh applies (src/overload/manager.ts). */
export const OVERLOAD_ACTIONS = ['envoy.overload_actions.stop_accepting_connections', 'envoy.overload_actions.reject_incoming_connections', 'envoy.overload_actions.reset_high_memory_stream'] as const;
export const RESET_HIGH_MEMORY = 'envoy.overload_actions.reset_high_memory_stream';
export type OverloadActionName = (typeof OVERLOAD_ACTIONS)[number];
export const GLOBAL_CX_MONITOR_TYPE = 'type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig';
/** The data plane's protocol detection listener filter (what an x_proxy with several protocols or a fallback becomes). */
export const PROTOCOL_DETECTION_NAME = 'xmesh.listener.protocol_detection';
export const X_PROXY_TYPE = 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy';
export const FILE_ACCESS_LOG_TYPE = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
export const FILE_ACCESS_LOG_NAME = 'envoy.access_loggers.file';
