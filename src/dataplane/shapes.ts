/** Small builders and readers for the snapshot's listener shape (filter chains of network filters), for tests and tools. */
import type { pb } from './types';

export const TCP_PROXY_FILTER = 'envoy.filters.network.tcp_proxy';
export const X_PROXY_FILTER = 'xmesh.x_proxy';

/** A listener whose only, catch-all chain is one tcp_proxy. */
export function tcpListener(name: string, address: pb.ISocketAddress, tcp_proxy: pb.ITcpProxy, extra: pb.IListener = {}): pb.IListener {
  return { name, address, ...extra, filter_chains: [{ name: 'main', filters: [{ name: TCP_PROXY_FILTER, tcp_proxy }] }] };
}

/** A listener whose only, catch-all chain is one x_proxy. */
export function xListener(name: string, address: pb.ISocketAddress, x_proxy: pb.IXProxy, extra: pb.IListener = {}): pb.IListener {
  return { name, address, ...extra, filter_chains: [{ name: 'main', filters: [{ name: X_PROXY_FILTER, x_proxy }] }] };
}

/** The terminal filter of a listener's first chain (or of its default chain). */
export function terminalFilter(l: pb.IListener | null | undefined): pb.INetworkFilter | undefined {
  const chain = l?.filter_chains?.[0] ?? l?.default_filter_chain;
  const filters = chain?.filters ?? [];
  return filters[filters.length - 1] ?? undefined;
}
