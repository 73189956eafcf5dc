/** Validation of `static_resources.listeners[]` entries and their network filter (tcp_proxy or x_proxy). */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { at, idx, type Checker } from './checker';
import { isIpLiteral } from './addresses';
import { checkAddress, type CheckedAddress } from './validate-address';
import { CONNECTION_LIMIT_NAME, CONNECTION_LIMIT_TYPE, FILE_ACCESS_LOG_NAME, FILE_ACCESS_LOG_TYPE, TCP_PROXY_NAME, TCP_PROXY_TYPE, X_PROXY_NAME } from './types';
import { checkSocketOptions } from './validate-sockopt';
import { checkXProxy } from './validate-xproxy';

/** What cross-reference checks need from one listener. */
export interface ListenerRefs {
  name?: string;
  address?: CheckedAddress;
  /** Clusters referenced by the tcp_proxy, with the path of each reference. */
  clusterRefs: Array<{ cluster: string; path: string }>;
}

const UNSUPPORTED_FILTERS: Record<string, string> = {
  'envoy.filters.network.http_connection_manager': 'HTTP routing is not supported by xmesh yet; use envoy.filters.network.tcp_proxy or xmesh.x_proxy',
};

export function checkListener(c: Checker, v: unknown, path: string): ListenerRefs {
  const refs: ListenerRefs = { clusterRefs: [] };
  const o = c.object(v, path, {
    required: ['name', 'address', 'filter_chains'],
    known: ['name', 'address', 'stat_prefix', 'filter_chains', 'default_filter_chain', 'per_connection_buffer_limit_bytes', 'use_original_dst', 'tcp_backlog_size', 'traffic_direction', 'listener_filters', 'socket_options'],
    ignored: ['continue_on_listener_filters_timeout', 'listener_filters_timeout', 'metadata', 'transparent', 'freebind', 'bind_to_port', 'access_log'],
  });
  if (!o) return refs;
  refs.name = c.optional(o, 'name', (x) => c.string(x, at(path, 'name'), { nonEmpty: true }));
  refs.address = c.optional(o, 'address', (x) =>
    checkAddress(c, x, at(path, 'address'), { host: 'ip', minPort: 0, ipOnlyReason: 'listeners bind to an IP address' }),
  );
  c.optional(o, 'stat_prefix', (x) => c.string(x, at(path, 'stat_prefix')));
  c.optional(o, 'per_connection_buffer_limit_bytes', (x) => c.uint(x, at(path, 'per_connection_buffer_limit_bytes'), { min: 1 }));
  c.optional(o, 'use_original_dst', (x) => c.bool(x, at(path, 'use_original_dst')));
  c.optional(o, 'tcp_backlog_size', (x) => c.uint(x, at(path, 'tcp_backlog_size'), { min: 1, max: 65535 }));
  c.optional(o, 'socket_options', (x) => checkSocketOptions(c, x, at(path, 'socket_options'), 'listener'));
  c.optional(o, 'traffic_direction', (x) => c.enumOf(x, at(path, 'traffic_direction'), ['UNSPECIFIED', 'INBOUND', 'OUTBOUND'] as const));
  c.optional(o, 'listener_filters', (x) => {
    const list = c.array(x, at(path, 'listener_filters'));
    list?.forEach((f, i) => {
      const p = idx(at(path, 'listener_filters'), i);
      const lf = c.object(f, p, { required: ['name'], known: ['name', 'typed_config', 'filter_disabled'] });
      if (lf?.name !== undefined) {
        const n = c.string(lf.name, at(p, 'name'));
        if (n !== undefined && n !== 'envoy.filters.listener.original_dst') c.warn(p, `listener filter "${n}" is not supported by xmesh; ignored`);
      }
    });
  });

  if (o.filter_chains !== undefined) {
    const fcPath = at(path, 'filter_chains');
    const chains = c.array(o.filter_chains, fcPath, { minItems: 1 });
    const matches = new Map<string, number>();
    const names = new Set<string>();
    chains?.forEach((fc, i) => {
      const p = idx(fcPath, i);
      const ck = checkFilterChain(c, fc, p, refs);
      // Envoy refuses two chains with the same match: which one a connection gets would be arbitrary.
      const prev = matches.get(ck.matchKey);
      if (prev !== undefined) c.error(at(p, 'filter_chain_match'), `same filter_chain_match as filter_chains[${prev}]`);
      else matches.set(ck.matchKey, i);
      if (ck.name !== undefined) {
        if (names.has(ck.name)) c.error(at(p, 'name'), `filter chain name "${ck.name}" is used twice`);
        names.add(ck.name);
      }
      // Several protocols or a fallback need the listener's protocol detection: one such
      // x_proxy per listener, and the fallback is the listener's default chain.
      if (ck.detecting && ((chains.length > 1) || o.default_filter_chain !== undefined))
        c.error(p, 'an x_proxy with several protocols or a fallback_tcp_proxy must be the listener\'s only filter chain (the fallback is its default chain)');
    });
  }
  c.optional(o, 'default_filter_chain', (x) => {
    const p = at(path, 'default_filter_chain');
    const ck = checkFilterChain(c, x, p, refs);
    if (ck.matchKey !== '{}') c.error(at(p, 'filter_chain_match'), 'the default filter chain takes what no chain matches: it has no filter_chain_match');
  });
  return refs;
}

/** Envoy's FilterChainMatch, as far as xmesh evaluates it (its data plane matches these fields in Envoy's order). */
function checkChainMatch(c: Checker, v: unknown, path: string): string {
  const o = c.object(v, path, {
    known: ['destination_port', 'prefix_ranges', 'server_names', 'transport_protocol', 'application_protocols', 'source_prefix_ranges', 'source_ports',
      'direct_source_prefix_ranges', 'source_type', 'address_suffix', 'suffix_len'],
  });
  if (!o) return '{}';
  // Ignoring a match field would send connections to a chain the config keeps them from.
  for (const k of ['direct_source_prefix_ranges', 'source_type', 'address_suffix', 'suffix_len'])
    if (o[k] !== undefined) c.error(at(path, k), 'not supported by xmesh yet');
  c.optional(o, 'destination_port', (x) => c.uint(x, at(path, 'destination_port'), { min: 1, max: 65535 }));
  for (const key of ['prefix_ranges', 'source_prefix_ranges'] as const) {
    c.optional(o, key, (x) =>
      c.array(x, at(path, key))?.forEach((r, i) => {
        const rp = idx(at(path, key), i);
        const ro = c.object(r, rp, { required: ['address_prefix'], known: ['address_prefix', 'prefix_len'] });
        if (!ro) return;
        const a = c.optional(ro, 'address_prefix', (y) => c.string(y, at(rp, 'address_prefix'), { nonEmpty: true }));
        if (a !== undefined && !isIpLiteral(a)) c.error(at(rp, 'address_prefix'), `"${a}" is not an IP address`);
        const max = a?.includes(':') ? 128 : 32;
        c.optional(ro, 'prefix_len', (y) => c.uint(y, at(rp, 'prefix_len'), { max }));
      }),
    );
  }
  for (const key of ['server_names', 'application_protocols'] as const)
    c.optional(o, key, (x) => c.array(x, at(path, key))?.forEach((s, i) => c.string(s, idx(at(path, key), i), { nonEmpty: true })));
  c.optional(o, 'transport_protocol', (x) => {
    const t = c.string(x, at(path, 'transport_protocol'));
    if (t === 'tls') c.warn(at(path, 'transport_protocol'), 'xmesh does not terminate TLS yet: this chain never matches');
    else if (t !== undefined && t !== 'raw_buffer') c.error(at(path, 'transport_protocol'), `expected "raw_buffer" or "tls", got "${t}"`);
  });
  c.optional(o, 'source_ports', (x) => c.array(x, at(path, 'source_ports'))?.forEach((p, i) => c.uint(p, idx(at(path, 'source_ports'), i), { min: 1, max: 65535 })));
  if (o.server_names !== undefined) c.warn(at(path, 'server_names'), 'xmesh has no TLS inspector yet: connections carry no server name, so this chain never matches');
  const sorted = Object.keys(o).sort().map((k) => [k, o[k]]);
  return JSON.stringify(sorted.length ? sorted : {});
}

function checkFilterChain(c: Checker, v: unknown, path: string, refs: ListenerRefs): { matchKey: string; name?: string; detecting: boolean } {
  const res = { matchKey: '{}', name: undefined as string | undefined, detecting: false };
  const o = c.object(v, path, { required: ['filters'], known: ['name', 'filters', 'filter_chain_match', 'transport_socket'], ignored: ['metadata'] });
  if (!o) return res;
  res.name = c.optional(o, 'name', (x) => c.string(x, at(path, 'name')));
  if (o.filter_chain_match !== undefined) res.matchKey = checkChainMatch(c, o.filter_chain_match, at(path, 'filter_chain_match'));
  if (o.transport_socket !== undefined) c.error(at(path, 'transport_socket'), 'TLS termination is not supported by xmesh yet');
  if (o.filters === undefined) return res;
  const fp = at(path, 'filters');
  const filters = c.array(o.filters, fp, { minItems: 1 });
  if (!filters) return res;
  // Envoy's order: non-terminal filters (connection_limit) first, one terminal filter last.
  filters.forEach((f, i) => checkNetworkFilter(c, f, idx(fp, i), refs, i === filters.length - 1));
  const limits = filters.filter((f) => (f as { name?: unknown } | null)?.name === CONNECTION_LIMIT_NAME).length;
  if (limits > MAX_CONNECTION_LIMITS) c.error(fp, `at most ${MAX_CONNECTION_LIMITS} connection_limit filters per chain, got ${limits}`);
  const x = filters[filters.length - 1] as { name?: unknown; typed_config?: { protocols?: unknown; fallback_tcp_proxy?: unknown } } | undefined;
  if (x?.name === X_PROXY_NAME && x.typed_config) {
    const t = x.typed_config;
    res.detecting = (Array.isArray(t.protocols) && t.protocols.length > 1) || t.fallback_tcp_proxy !== undefined;
  }
  return res;
}

/** connection_limit filters a chain may hold (the data plane keeps a fixed room per connection). */
const MAX_CONNECTION_LIMITS = 2;

function checkNetworkFilter(c: Checker, v: unknown, path: string, refs: ListenerRefs, last: boolean): void {
  const o = c.object(v, path, { required: ['name', 'typed_config'], known: ['name', 'typed_config'] });
  if (!o) return;
  const name = c.optional(o, 'name', (x) => c.string(x, at(path, 'name'), { nonEmpty: true }));
  if (name === CONNECTION_LIMIT_NAME) {
    if (last) c.error(at(path, 'name'), `${CONNECTION_LIMIT_NAME} cannot end a filter chain: put a tcp_proxy or x_proxy after it`);
    if (o.typed_config !== undefined) checkConnectionLimit(c, o.typed_config, at(path, 'typed_config'));
    return;
  }
  if (name !== undefined && !last && (name === X_PROXY_NAME || name === TCP_PROXY_NAME)) {
    c.error(at(path, 'name'), `${name} takes the connection for good: it must be the chain's last filter`);
  }
  if (name === X_PROXY_NAME) {
    if (o.typed_config !== undefined) checkXProxy(c, o.typed_config, at(path, 'typed_config'), refs);
    return;
  }
  if (name !== undefined && name !== TCP_PROXY_NAME) {
    c.error(at(path, 'name'), UNSUPPORTED_FILTERS[name] ?? `unknown network filter "${name}" (supported: ${CONNECTION_LIMIT_NAME}, ${TCP_PROXY_NAME}, ${X_PROXY_NAME})`);
    return;
  }
  if (o.typed_config !== undefined) checkTcpProxy(c, o.typed_config, at(path, 'typed_config'), refs);
}

/** Envoy's connection_limit filter: at most max_connections connections at once pass it. */
function checkConnectionLimit(c: Checker, v: unknown, path: string): void {
  const o = c.object(v, path, { required: ['@type', 'stat_prefix', 'max_connections'], known: ['@type', 'stat_prefix', 'max_connections', 'delay', 'runtime_enabled'] });
  if (!o) return;
  const t = c.optional(o, '@type', (x) => c.string(x, at(path, '@type')));
  if (t !== undefined && t !== CONNECTION_LIMIT_TYPE) c.error(at(path, '@type'), `expected "${CONNECTION_LIMIT_TYPE}", got "${t}"`);
  c.optional(o, 'stat_prefix', (x) => c.string(x, at(path, 'stat_prefix'), { nonEmpty: true }));
  c.optional(o, 'max_connections', (x) => c.uint(x, at(path, 'max_connections'), { min: 1 }));
  // Envoy holds a refused connection open for `delay` before closing it; xmesh closes at once.
  if (o.delay !== undefined) c.error(at(path, 'delay'), 'not supported by xmesh yet: a connection over the limit is closed at once');
  if (o.runtime_enabled !== undefined) c.error(at(path, 'runtime_enabled'), 'xmesh has no runtime flags: leave it out (the filter is always enabled)');
}

/** The tcp_proxy filter's typed_config; also an x_proxy's fallback_tcp_proxy, where @type may be left out. */
export function checkTcpProxy(c: Checker, v: unknown, path: string, refs: ListenerRefs, opts: { typeRequired?: boolean } = {}): void {
  const o = c.object(v, path, {
    required: opts.typeRequired === false ? ['stat_prefix'] : ['@type', 'stat_prefix'],
    known: ['@type', 'stat_prefix', 'cluster', 'weighted_clusters', 'idle_timeout', 'max_connect_attempts', 'access_log', 'hash_policy', 'max_downstream_connection_duration'],
    ignored: ['downstream_idle_timeout', 'upstream_idle_timeout', 'access_log_flush_interval', 'flush_access_log_on_connected', 'access_log_options'],
  });
  if (!o) return;
  const t = c.optional(o, '@type', (x) => c.string(x, at(path, '@type')));
  if (t !== undefined && t !== TCP_PROXY_TYPE) c.error(at(path, '@type'), `expected "${TCP_PROXY_TYPE}", got "${t}"`);
  c.optional(o, 'stat_prefix', (x) => c.string(x, at(path, 'stat_prefix'), { nonEmpty: true }));
  c.optional(o, 'idle_timeout', (x) => c.duration(x, at(path, 'idle_timeout')));
  c.optional(o, 'max_downstream_connection_duration', (x) => c.duration(x, at(path, 'max_downstream_connection_duration')));
  c.optional(o, 'max_connect_attempts', (x) => c.uint(x, at(path, 'max_connect_attempts'), { min: 1, max: 100 }));

  checkClusterTarget(c, o, path, refs);

  c.optional(o, 'access_log', (x) => {
    const ap = at(path, 'access_log');
    const list = c.array(x, ap);
    if (list && list.length > 1) c.error(ap, `xmesh supports at most one access log per tcp_proxy, got ${list.length}`);
    list?.forEach((a, i) => checkFileAccessLog(c, a, idx(ap, i)));
  });
  c.optional(o, 'hash_policy', (x) => {
    const hp = at(path, 'hash_policy');
    const list = c.array(x, hp, { minItems: 1 });
    if (list && list.length > 1) c.error(hp, `tcp_proxy takes exactly one hash policy, got ${list.length}`);
    list?.forEach((h, i) => {
      const p = idx(hp, i);
      const ho = c.object(h, p, { required: ['source_ip'], known: ['source_ip'] });
      if (ho?.source_ip !== undefined) c.object(ho.source_ip, at(p, 'source_ip'), { known: [] });
    });
  });
}

/** `cluster` xor `weighted_clusters` (tcp_proxy and x_proxy routes); references are
 * collected for the cross-reference check against static_resources.clusters. */
export function checkClusterTarget(c: Checker, o: Record<string, unknown>, path: string, refs: ListenerRefs): void {
  const hasCluster = o.cluster !== undefined;
  const hasWeighted = o.weighted_clusters !== undefined;
  if (hasCluster && hasWeighted) c.error(path, 'set exactly one of cluster or weighted_clusters, not both');
  if (!hasCluster && !hasWeighted) c.error(at(path, 'cluster'), 'required field is missing (or set weighted_clusters)');
  if (hasCluster) {
    const cl = c.string(o.cluster, at(path, 'cluster'), { nonEmpty: true });
    if (cl !== undefined) refs.clusterRefs.push({ cluster: cl, path: at(path, 'cluster') });
  }
  if (hasWeighted) {
    const wp = at(path, 'weighted_clusters');
    const w = c.object(o.weighted_clusters, wp, { required: ['clusters'], known: ['clusters'] });
    const list = w?.clusters === undefined ? undefined : c.array(w.clusters, at(wp, 'clusters'), { minItems: 1 });
    const seen = new Set<string>();
    list?.forEach((e, i) => {
      const p = idx(at(wp, 'clusters'), i);
      const wc = c.object(e, p, { required: ['name', 'weight'], known: ['name', 'weight'], ignored: ['metadata_match'] });
      if (!wc) return;
      const n = c.optional(wc, 'name', (x) => c.string(x, at(p, 'name'), { nonEmpty: true }));
      if (n !== undefined) {
        if (seen.has(n)) c.error(at(p, 'name'), `cluster "${n}" listed twice`);
        seen.add(n);
        refs.clusterRefs.push({ cluster: n, path: at(p, 'name') });
      }
      c.optional(wc, 'weight', (x) => c.uint(x, at(p, 'weight'), { min: 1 }));
    });
  }

}

function checkFileAccessLog(c: Checker, v: unknown, path: string): void {
  const o = c.object(v, path, { required: ['name', 'typed_config'], known: ['name', 'typed_config'], ignored: ['filter'] });
  if (!o) return;
  const name = c.optional(o, 'name', (x) => c.string(x, at(path, 'name')));
  if (name !== undefined && name !== FILE_ACCESS_LOG_NAME) {
    c.error(at(path, 'name'), `unsupported access logger "${name}" (supported: ${FILE_ACCESS_LOG_NAME})`);
    return;
  }
  const tp = at(path, 'typed_config');
  const t = o.typed_config === undefined ? undefined : c.object(o.typed_config, tp, { required: ['@type', 'path'], known: ['@type', 'path'], ignored: ['log_format', 'format', 'json_format'] });
  if (!t) return;
  const ty = c.optional(t, '@type', (x) => c.string(x, at(tp, '@type')));
  if (ty !== undefined && ty !== FILE_ACCESS_LOG_TYPE) c.error(at(tp, '@type'), `expected "${FILE_ACCESS_LOG_TYPE}", got "${ty}"`);
  const file = c.optional(t, 'path', (x) => c.string(x, at(tp, 'path'), { nonEmpty: true }));
  // The data plane opens (creates) the file when the snapshot is applied, but not its directory.
  if (file) {
    const dir = dirname(resolve(file));
    if (!existsSync(dir)) c.warn(at(tp, 'path'), `directory ${dir} does not exist: opening the access log will fail (xmesh run exits 3; a reload keeps the running config)`);
  }
}
