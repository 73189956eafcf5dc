# Shared by the bench/tools/*.sh scripts (source it; it defines functions only).

# A free TCP port on 127.0.0.1 (bound, read, released).
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# xmesh_tcp_proxy_yaml ADMIN_PORT LISTEN_PORT UPSTREAM_PORT [CLUSTER_LINE...]
# Prints an xmesh config: admin on 127.0.0.1:ADMIN_PORT, one tcp_proxy listener "l" on
# 127.0.0.1:LISTEN_PORT to a static cluster "c" with one endpoint, 127.0.0.1:UPSTREAM_PORT.
# Each CLUSTER_LINE is added to the cluster as is (e.g. "circuit_breakers: {...}").
xmesh_tcp_proxy_yaml() {
  local admin=$1 listen=$2 up=$3 line
  shift 3
  cat <<YAML
admin: { address: { socket_address: { address: 127.0.0.1, port_value: $admin } } }
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: $listen } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: l
          cluster: c
  clusters:
  - name: c
    type: STATIC
    connect_timeout: 1s
YAML
  for line in "$@"; do printf '    %s\n' "$line"; done
  cat <<YAML
    load_assignment:
      cluster_name: c
      endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $up } } } } ] } ]
YAML
}
