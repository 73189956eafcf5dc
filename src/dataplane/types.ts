/**
 * The typed contract between the control core and the native data plane: the snapshot
 * message (mirrors proto/xmesh/dataplane/v1/snapshot.proto, snake_case as in the proto)
 * and the DataPlane facade the rest of the control core uses.
 */

export type LbPolicy =
  | 'ROUND_ROBIN'
  | 'RANDOM'
  | 'WEIGHTED_ROUND_ROBIN'
  | 'LEAST_REQUEST'
  | 'RING_HASH'
  | 'MAGLEV';

export interface SocketAddressMsg {
  address: string; // numeric IP literal
  port: number;
}

export interface WeightedClusterMsg {
  cluster: string;
  weight: number;
}

export interface TcpProxyMsg {
  stat_prefix: string;
  cluster?: string;
  weighted_clusters?: WeightedClusterMsg[];
  idle_timeout_ms?: number;
  max_connect_attempts?: number;
  access_log_path?: string;
  hash_policy?: { key: 'SOURCE_IP' | 'SOURCE_ADDRESS_PORT' };
}

export interface XStringMatchMsg {
  exact?: string;
  prefix?: string;
  present?: boolean;
  safe_regex?: string;
}

export interface XRetryPolicyMsg {
  num_retries: number;
  on_connect_failure: boolean;
  on_reset: boolean;
}

export interface XRouteMsg {
  method?: XStringMatchMsg;
  metas?: Array<{ name: string; match: XStringMatchMsg }>;
  cluster?: string;
  weighted_clusters?: WeightedClusterMsg[];
  timeout_ms?: number;
  retry_policy?: XRetryPolicyMsg;
  idempotent?: boolean;
  metadata_match?: Record<string, string>;
  hash_policy?: { meta?: string; source_ip?: boolean };
}

/** A number, or a decimal string for uint64 values above 2^53 (protobufjs reads both). */
export type U64Msg = number | string;

export interface XDescFieldMsg {
  offset: number;
  size: number;
  little_endian?: boolean;
}

export interface XDescLocationMsg {
  fixed?: { offset: number; length: number };
  length_prefixed?: { offset: number; length_size: number };
  tlv?: { offset: number; type: number };
}

/** Mirrors struct xm_descriptor (native/src/codec.h). */
export interface XCodecDescriptorMsg {
  name: string;
  magic?: string; // base64 (the JSON form of protobuf bytes)
  magic_offset?: number;
  length: XDescFieldMsg;
  length_adjust?: number;
  header_len: number;
  request_id: XDescFieldMsg;
  kind_field: XDescFieldMsg;
  kind_mask: U64Msg;
  kind_request: U64Msg;
  kind_response: U64Msg;
  kind_oneway?: U64Msg;
  has_oneway?: boolean;
  kind_heartbeat?: U64Msg;
  has_heartbeat?: boolean;
  kind_heartbeat_ack?: U64Msg;
  has_heartbeat_ack?: boolean;
  status?: XDescFieldMsg;
  status_ok?: U64Msg;
  status_codes?: { no_route: U64Msg; timeout: U64Msg; overflow: U64Msg; unavailable: U64Msg; server_error: U64Msg; codec_error: U64Msg };
  service?: XDescLocationMsg;
  method?: XDescLocationMsg;
  pool_mode?: 'MULTIPLEX' | 'PINGPONG';
}

export interface XProxyMsg {
  stat_prefix: string;
  /** The codecs it speaks; several: each connection's is the protocol a listener filter detected. */
  protocols: string[];
  descriptors?: XCodecDescriptorMsg[];
  virtual_hosts: Array<{ name: string; domains: string[]; routes: XRouteMsg[] }>;
  max_frame_size?: number;
  upstream_connections_per_host?: number;
  request_timeout_ms?: number;
}

export interface ProtocolDetectionMsg {
  protocols: string[];
  descriptors?: XCodecDescriptorMsg[];
  timeout_ms?: number;
  stat_prefix?: string;
}

export interface ListenerFilterMsg {
  name: string;
  protocol_detection?: ProtocolDetectionMsg;
}

export interface CidrRangeMsg {
  address_prefix: string;
  prefix_len: number;
}

export interface FilterChainMatchMsg {
  destination_port?: number;
  prefix_ranges?: CidrRangeMsg[];
  server_names?: string[];
  transport_protocol?: string;
  application_protocols?: string[];
  source_prefix_ranges?: CidrRangeMsg[];
  source_ports?: number[];
}

/** A network filter: its registered name and the one config field that names its kind. */
export interface NetworkFilterMsg {
  name: string;
  tcp_proxy?: TcpProxyMsg;
  x_proxy?: XProxyMsg;
}

export interface FilterChainMsg {
  name: string;
  filter_chain_match?: FilterChainMatchMsg;
  filters: NetworkFilterMsg[];
}

export interface ListenerMsg {
  name: string;
  address: SocketAddressMsg;
  backlog?: number;
  buffer_limit?: number;
  inherited_fd?: number;
  stat_prefix?: string;
  use_original_dst?: boolean;
  tcp_keepalive?: TcpKeepaliveMsg;
  socket_options?: SocketOptionMsg[];
  listener_filters?: ListenerFilterMsg[];
  filter_chains?: FilterChainMsg[];
  default_filter_chain?: FilterChainMsg;
}

export interface EndpointMsg {
  address: SocketAddressMsg;
  weight?: number;
  healthy?: boolean;
  metadata?: Record<string, string>;
  priority?: number;
}

export interface CircuitBreakersMsg {
  max_connections?: number;
  max_pending_requests?: number;
  max_requests?: number;
  max_retries?: number;
}

export interface OutlierDetectionMsg {
  enabled: boolean;
  consecutive_gateway_failure?: number;
  consecutive_5xx?: number;
  base_ejection_time_ms?: number;
  max_ejection_time_ms?: number;
  max_ejection_percent?: number;
}

/** One setsockopt(): exactly one of int_value / buf_value. */
export interface SocketOptionMsg {
  description?: string;
  level: number;
  name: number;
  int_value?: number;
  buf_value?: Uint8Array;
  state?: 'STATE_PREBIND' | 'STATE_BOUND' | 'STATE_LISTENING';
}

export interface TcpKeepaliveMsg {
  keepalive_probes?: number;
  keepalive_time_s?: number;
  keepalive_interval_s?: number;
}

export interface ClusterMsg {
  name: string;
  lb_policy?: LbPolicy;
  connect_timeout_ms?: number;
  endpoints: EndpointMsg[];
  circuit_breakers?: CircuitBreakersMsg;
  outlier_detection?: OutlierDetectionMsg;
  ring_hash_min_size?: number;
  maglev_table_size?: number;
  per_connection_buffer_limit?: number;
  least_request_choices?: number;
  tcp_keepalive?: TcpKeepaliveMsg;
  upstream_socket_options?: SocketOptionMsg[];
}

export interface SnapshotMsg {
  version: number;
  listeners: ListenerMsg[];
  clusters: ClusterMsg[];
}

/** One entry of the native stats block. `key` is the template form, e.g.
 * `cluster.{cluster=backend}.upstream_cx_total` (see native/src/stats.h). */
export type NativeStat =
  | { type: 'counter'; key: string; value: number }
  | { type: 'gauge'; key: string; value: number }
  | {
      type: 'histogram';
      key: string;
      count: number;
      sum: number; // microseconds
      /** non-empty buckets: [inclusive upper bound in microseconds, count] ascending */
      buckets: Array<[number, number]>;
    };

export interface ListenerInfo {
  name: string;
  address: string;
  port: number; // the bound port (useful when the config asked for port 0)
  fd: number;
}

/** How workers do socket I/O: see docs/operations.md "I/O backends". */
export type IoBackend = 'epoll' | 'io_uring' | 'auto';
export const IO_BACKENDS: readonly IoBackend[] = ['auto', 'epoll', 'io_uring'];

export interface DataPlaneInfo {
  workers: number;
  version: number; // snapshot version in force
  statsPath: string;
  /** The backend in force ('epoll' or 'io_uring': 'auto' resolved); '' once closed. */
  ioBackend?: string;
  listeners: ListenerInfo[];
}

export interface DataPlaneEvent {
  kind: 'log' | 'listener_error' | 'host_ejected' | 'host_unejected';
  subject: string;
  detail: string;
}

export interface DataPlaneOptions {
  workers: number;
  /** Backing file of the shared-memory stats block; undefined = anonymous memfd. */
  statsPath?: string;
  statsCapacity?: number;
  /** Default: XMESH_IO_BACKEND, else epoll (the CLI passes its --io-backend, default auto). */
  ioBackend?: IoBackend;
}

/** What the rest of the control core sees of the data plane. */
export interface DataPlane {
  /** Swap in a complete snapshot. Rejects (and keeps the running one) on failure,
   * e.g. a listener that cannot bind: the error message names the listener. */
  apply(snapshot: SnapshotMsg): Promise<DataPlaneInfo>;
  info(): DataPlaneInfo;
  stats(): NativeStat[];
  /** Mark a host healthy/unhealthy (active health checks). host = "ip:port". */
  setHostHealth(cluster: string, host: string, healthy: boolean): boolean;
  onEvent(listener: (ev: DataPlaneEvent) => void): void;
  /** Stop accepting, close connections, join the worker threads. */
  close(): Promise<void>;
}
