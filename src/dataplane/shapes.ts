/** Small builders and readers for the snapshot's listener shape (filter chains of network filters), for tests and tools. */
import type { ListenerMsg, NetworkFilterMsg, SocketAddressMsg, TcpProxyMsg, XProxyMsg } from './types';

export const TCP_PROXY_FILTER = 'envoy.filters.network.tcp_proxy';
export const X_PROXY_FILTER = 'xmesh.x_proxy';

/** A listener whose only, catch-all chain is one tcp_proxy. */
export function tcpListener(name: string, address: SocketAddressMsg, tcp_proxy: TcpProxyMsg, extra: Partial<ListenerMsg> = {}): ListenerMsg {
  return { name, address, ...extra, filter_chains: [{ name: 'main', filters: [{ name: TCP_PROXY_FILTER, tcp_proxy }] }] };
}

/** A listener whose only, catch-all chain is one x_proxy. */
export function xListener(name: string, address: SocketAddressMsg, x_proxy: XProxyMsg, extra: Partial<ListenerMsg> = {}): ListenerMsg {
  return { name, address, ...extra, filter_chains: [{ name: 'main', filters: [{ name: X_PROXY_FILTER, x_proxy }] }] };
}

/** The terminal filter of a listener's first chain (or of its default chain). */
export function terminalFilter(l: ListenerMsg | undefined): NetworkFilterMsg | undefined {
  const chain = l?.filter_chains?.[0] ?? l?.default_filter_chain;
  return chain?.filters[chain.filters.length - 1];
}
