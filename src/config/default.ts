/** The configuration `xmesh run` uses when no --config is given (kept identical to examples/default.yaml by a test). */
import { loadConfigText, type LoadedConfig } from './load';

export const DEFAULT_CONFIG_SOURCE = '<embedded default>';

export const DEFAULT_CONFIG_YAML = `# xmesh embedded default configuration (used by \`xmesh run\` without --config).
# One TCP listener on 127.0.0.1:10000 proxying to 127.0.0.1:10001; admin on 127.0.0.1:15000.
# \`xmesh run --demo\` starts a tiny HTTP upstream on 127.0.0.1:10001 to try it out.
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 15000 }
static_resources:
  listeners:
  - name: demo
    address:
      socket_address: { address: 127.0.0.1, port_value: 10000 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: demo
          cluster: demo_upstream
  clusters:
  - name: demo_upstream
    type: STATIC
    connect_timeout: 1s
    lb_policy: ROUND_ROBIN
    load_assignment:
      cluster_name: demo_upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: 10001 }
`;

export function loadDefaultConfig(): LoadedConfig {
  return loadConfigText(DEFAULT_CONFIG_YAML, DEFAULT_CONFIG_SOURCE, 'yaml');
}
