/** Builders for bootstrap documents used by the config tests. */

export function tcpProxyListener(name: string, port: number, cluster: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.tcp_proxy',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
              stat_prefix: name,
              cluster,
              ...extra,
            },
          },
        ],
      },
    ],
  };
}

export function staticCluster(name: string, hosts: Array<[string, number]>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: hosts.map(([address, port_value]) => ({ endpoint: { address: { socket_address: { address, port_value } } } })) }],
    },
    ...extra,
  };
}

/** A valid bootstrap: admin on port 0, listener "l" -> cluster "c" (127.0.0.1:9001). */
export function baseConfig(): any {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [tcpProxyListener('l', 0, 'c')],
      clusters: [staticCluster('c', [['127.0.0.1', 9001]])],
    },
  };
}
