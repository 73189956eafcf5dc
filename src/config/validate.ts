/** Validates a parsed bootstrap document and returns every error and warning, each naming its field path. */
import { addressesOverlap, hostPort } from './addresses';
import { at, idx, Checker } from './checker';
import type { ConfigIssue } from './errors';
import { FIXED_HEAP_MONITOR, FIXED_HEAP_TYPE, GLOBAL_CX_MONITOR_NAME, GLOBAL_CX_MONITOR_TYPE, OVERLOAD_ACTIONS, RESET_HIGH_MEMORY, type BootstrapCfg } from './types';
import { checkAddress, type CheckedAddress } from './validate-address';
import { checkCluster } from './validate-cluster';
import { checkListener, type ListenerRefs } from './validate-listener';

export type ValidationResult =
  | { status: 'valid'; config: BootstrapCfg; errors: []; warnings: ConfigIssue[] }
  | { status: 'invalid'; errors: ConfigIssue[]; warnings: ConfigIssue[] };

const IGNORED_TOP_LEVEL = ['node', 'layered_runtime', 'stats_config', 'stats_sinks', 'stats_flush_interval', 'watchdog', 'watchdogs', 'cluster_manager', 'tracing', 'hds_config', 'flags_path', 'fatal_actions', 'header_prefix', 'default_regex_engine'] as const;

export function validateConfig(doc: unknown): ValidationResult {
  const c = new Checker();
  const o = c.object(doc, '', { known: ['admin', 'static_resources', 'dynamic_resources', 'overload_manager'], ignored: IGNORED_TOP_LEVEL });
  const staticClusters = new Set<string>();
  if (o) {
    let admin: CheckedAddress | undefined;
    if (o.admin === undefined) c.warn('admin', 'no admin block: the admin server (/ready, /stats) is disabled');
    else admin = checkAdmin(c, o.admin, 'admin');
    if (o.static_resources !== undefined) {
      const listeners = checkStaticResources(c, o.static_resources, 'static_resources', staticClusters);
      if (admin) checkAdminClash(c, admin, listeners);
    }
    if (o.dynamic_resources !== undefined) checkDynamicResources(c, o.dynamic_resources, 'dynamic_resources', staticClusters);
    if (o.overload_manager !== undefined) checkOverloadManager(c, o.overload_manager, 'overload_manager');
  }
  if (c.errors.length > 0) return { status: 'invalid', errors: c.errors, warnings: c.warnings };
  return { status: 'valid', config: doc as BootstrapCfg, errors: [], warnings: c.warnings };
}

/** Envoy's overload manager: the global downstream connection limit, and the connection
 * actions triggered by the fixed_heap monitor (src/overload/manager.ts). */
function checkOverloadManager(c: Checker, v: unknown, path: string): void {
  const o = c.object(v, path, { known: ['refresh_interval', 'resource_monitors', 'actions', 'buffer_factory_config'], ignored: ['loadshed_points'] });
  if (!o) return;
  c.optional(o, 'refresh_interval', (x) => c.duration(x, at(path, 'refresh_interval'), { minMs: 10 }));
  const mp = at(path, 'resource_monitors');
  const monitors = new Set<string>();
  c.optional(o, 'resource_monitors', (x) =>
    c.array(x, mp)?.forEach((m, i) => {
      const p = idx(mp, i);
      const mo = c.object(m, p, { required: ['name'], known: ['name', 'typed_config'] });
      if (!mo) return;
      const name = c.optional(mo, 'name', (y) => c.string(y, at(p, 'name'), { nonEmpty: true }));
      if (name === undefined) return;
      const spec = MONITORS[name];
      if (!spec) {
        c.error(at(p, 'name'), `resource monitor "${name}" is not supported by xmesh yet (supported: ${Object.keys(MONITORS).join(', ')})`);
        return;
      }
      if (monitors.has(name)) c.error(p, `${name} is listed twice`);
      monitors.add(name);
      const tp = at(p, 'typed_config');
      if (mo.typed_config === undefined) {
        c.error(tp, 'required field is missing');
        return;
      }
      const t = c.object(mo.typed_config, tp, { required: ['@type', spec.field], known: ['@type', spec.field] });
      if (!t) return;
      const ty = c.optional(t, '@type', (y) => c.string(y, at(tp, '@type')));
      if (ty !== undefined && ty !== spec.type) c.error(at(tp, '@type'), `expected "${spec.type}", got "${ty}"`);
      c.optional(t, spec.field, (y) => c.uint(typeof y === 'string' && /^\d+$/.test(y) ? Number(y) : y, at(tp, spec.field), { min: 1, max: Number.MAX_SAFE_INTEGER }));
    }),
  );
  c.optional(o, 'buffer_factory_config', (x) => checkBufferFactory(c, x, at(path, 'buffer_factory_config')));
  const ap = at(path, 'actions');
  const actions = new Set<string>();
  c.optional(o, 'actions', (x) =>
    c.array(x, ap)?.forEach((a, i) => {
      const p = idx(ap, i);
      const ao = c.object(a, p, { required: ['name', 'triggers'], known: ['name', 'triggers', 'typed_config'] });
      if (!ao) return;
      const name = c.optional(ao, 'name', (y) => c.string(y, at(p, 'name'), { nonEmpty: true }));
      if (name !== undefined && !(OVERLOAD_ACTIONS as readonly string[]).includes(name)) c.error(at(p, 'name'), `overload action "${name}" is not supported by xmesh yet (supported: ${OVERLOAD_ACTIONS.join(', ')})`);
      else if (name !== undefined && actions.has(name)) c.error(at(p, 'name'), `${name} is listed twice`);
      if (name !== undefined) actions.add(name);
      if (name === RESET_HIGH_MEMORY && o.buffer_factory_config === undefined)
        c.error(at(p, 'name'), `${RESET_HIGH_MEMORY} needs overload_manager.buffer_factory_config.minimum_account_to_track_power_of_two (the smallest holder it may reset: 2^N bytes)`);
      const tp = at(p, 'triggers');
      const triggers = c.optional(ao, 'triggers', (y) => c.array(y, tp, { minItems: 1 }));
      if (triggers && triggers.length > 1) c.error(tp, `xmesh has one monitor an action can use (${FIXED_HEAP_MONITOR}): one trigger per action, got ${triggers.length}`);
      triggers?.slice(0, 1).forEach((t, j) => checkTrigger(c, t, idx(tp, j), monitors));
    }),
  );
}

/** Envoy's BufferFactoryConfig: connections holding at least 2^N bytes are tracked (10..56 in Envoy). */
function checkBufferFactory(c: Checker, v: unknown, path: string): void {
  const o = c.object(v, path, { required: ['minimum_account_to_track_power_of_two'], known: ['minimum_account_to_track_power_of_two'] });
  if (o) c.optional(o, 'minimum_account_to_track_power_of_two', (x) => c.uint(x, at(path, 'minimum_account_to_track_power_of_two'), { min: 10, max: 56 }));
}

function checkTrigger(c: Checker, v: unknown, path: string, monitors: Set<string>): void {
  const o = c.object(v, path, { required: ['name'], known: ['name', 'threshold', 'scaled'] });
  if (!o) return;
  const name = c.optional(o, 'name', (y) => c.string(y, at(path, 'name'), { nonEmpty: true }));
  if (name !== undefined && name !== FIXED_HEAP_MONITOR) c.error(at(path, 'name'), `an action can be triggered by ${FIXED_HEAP_MONITOR} only, got "${name}"`);
  else if (name !== undefined && !monitors.has(name)) c.error(at(path, 'name'), `${name} is not in resource_monitors`);
  if ((o.threshold === undefined) === (o.scaled === undefined)) {
    c.error(path, 'set exactly one of threshold or scaled');
    return;
  }
  const fraction = (x: unknown, p: string): number | undefined => {
    if (typeof x !== 'number' || !(x >= 0 && x <= 1)) {
      c.error(p, `expected a number from 0 to 1, got ${JSON.stringify(x)}`);
      return undefined;
    }
    return x;
  };
  c.optional(o, 'threshold', (x) => {
    const t = c.object(x, at(path, 'threshold'), { required: ['value'], known: ['value'] });
    if (t) c.optional(t, 'value', (y) => fraction(y, at(path, 'threshold.value')));
  });
  c.optional(o, 'scaled', (x) => {
    const sp = at(path, 'scaled');
    const t = c.object(x, sp, { required: ['scaling_threshold', 'saturation_threshold'], known: ['scaling_threshold', 'saturation_threshold'] });
    if (!t) return;
    const lo = c.optional(t, 'scaling_threshold', (y) => fraction(y, at(sp, 'scaling_threshold')));
    const hi = c.optional(t, 'saturation_threshold', (y) => fraction(y, at(sp, 'saturation_threshold')));
    if (lo !== undefined && hi !== undefined && lo >= hi) c.error(sp, 'scaling_threshold must be below saturation_threshold');
  });
}

/** Resource monitors xmesh measures, with their typed_config's @type and value field. */
const MONITORS: Record<string, { type: string; field: string }> = {
  [GLOBAL_CX_MONITOR_NAME]: { type: GLOBAL_CX_MONITOR_TYPE, field: 'max_active_downstream_connections' },
  [FIXED_HEAP_MONITOR]: { type: FIXED_HEAP_TYPE, field: 'max_heap_size_bytes' },
};

function checkAdmin(c: Checker, v: unknown, path: string): CheckedAddress | undefined {
  const o = c.object(v, path, { known: ['address'], ignored: ['access_log_path', 'access_log', 'profile_path', 'socket_options', 'ignore_global_conn_limit'] });
  if (!o) return undefined;
  if (o.address === undefined) {
    c.error(at(path, 'address'), 'required field is missing');
    return undefined;
  }
  return checkAddress(c, o.address, at(path, 'address'), { host: 'ip', minPort: 0, ipOnlyReason: 'the admin server binds to an IP address' });
}

/** The admin server and a listener on one address: one of the two would fail to bind at start. */
function checkAdminClash(c: Checker, admin: CheckedAddress, listeners: ReadonlyArray<ListenerRefs & { path: string }>): void {
  const clash = listeners.find((l) => l.address && addressesOverlap({ ip: admin.host, port: admin.port }, { ip: l.address.host, port: l.address.port }));
  if (!clash) return;
  const who = clash.name !== undefined ? `listener "${clash.name}" (${at(clash.path, 'address')})` : at(clash.path, 'address');
  c.error('admin.address.socket_address.port_value', `${hostPort(admin.host, admin.port)} is also the address of ${who}: the admin server and a listener cannot share a port`);
}

/** Checks listeners and clusters; returns the listeners' names and addresses with their paths. */
function checkStaticResources(c: Checker, v: unknown, path: string, clusterNames: Set<string>): Array<ListenerRefs & { path: string }> {
  const seen: Array<ListenerRefs & { path: string }> = [];
  const o = c.object(v, path, { known: ['listeners', 'clusters'], ignored: ['secrets'] });
  if (!o) return seen;

  // Clusters first: listeners reference them.
  if (o.clusters !== undefined) {
    const cp = at(path, 'clusters');
    const list = c.array(o.clusters, cp);
    list?.forEach((cl, i) => {
      const p = idx(cp, i);
      const name = checkCluster(c, cl, p);
      if (name === undefined) return;
      if (clusterNames.has(name)) c.error(at(p, 'name'), `duplicate cluster name "${name}"`);
      clusterNames.add(name);
    });
  }

  if (o.listeners !== undefined) {
    const lp = at(path, 'listeners');
    const list = c.array(o.listeners, lp);
    list?.forEach((l, i) => {
      const p = idx(lp, i);
      const refs = checkListener(c, l, p);
      if (refs.name !== undefined && seen.some((s) => s.name === refs.name)) c.error(at(p, 'name'), `duplicate listener name "${refs.name}"`);
      if (refs.address) {
        const a = { ip: refs.address.host, port: refs.address.port };
        const clash = seen.find((s) => s.address && addressesOverlap(a, { ip: s.address.host, port: s.address.port }));
        if (clash) {
          c.error(at(p, 'address'), `${hostPort(a.ip, a.port)} overlaps the address of listener ${clash.name ? `"${clash.name}"` : clash.path}`);
        }
      }
      for (const r of refs.clusterRefs) {
        if (!clusterNames.has(r.cluster)) c.error(r.path, `unknown cluster "${r.cluster}" (not in static_resources.clusters)`);
      }
      seen.push({ ...refs, path: p });
    });
  }
  return seen;
}

/** xDS is not implemented yet: the block is checked for shape so a later release accepts the same file. */
function checkDynamicResources(c: Checker, v: unknown, path: string, staticClusters: Set<string>): void {
  const o = c.object(v, path, { known: ['lds_config', 'cds_config', 'ads_config', 'lds_resources_locator', 'cds_resources_locator'] });
  if (!o) return;
  if (Object.keys(o).length > 0) c.warn(path, 'xDS (dynamic_resources) is not yet supported: only static_resources are used');
  for (const k of ['lds_config', 'cds_config'] as const) {
    if (o[k] !== undefined) checkConfigSource(c, o[k], at(path, k), staticClusters);
  }
  for (const k of ['lds_resources_locator', 'cds_resources_locator'] as const) {
    if (o[k] !== undefined) c.string(o[k], at(path, k));
  }
  if (o.ads_config !== undefined) checkApiConfigSource(c, o.ads_config, at(path, 'ads_config'), staticClusters);
}

function checkConfigSource(c: Checker, v: unknown, path: string, staticClusters: Set<string>): void {
  const o = c.object(v, path, { known: ['ads', 'api_config_source', 'path', 'path_config_source', 'resource_api_version', 'initial_fetch_timeout', 'authorities'] });
  if (!o) return;
  const sources = ['ads', 'api_config_source', 'path', 'path_config_source'].filter((k) => o[k] !== undefined);
  if (sources.length !== 1) c.error(path, `set exactly one of ads, api_config_source, path, path_config_source (got ${sources.length})`);
  if (o.ads !== undefined) c.object(o.ads, at(path, 'ads'), { known: [] });
  if (o.path !== undefined) c.string(o.path, at(path, 'path'), { nonEmpty: true });
  if (o.path_config_source !== undefined) {
    const p = c.object(o.path_config_source, at(path, 'path_config_source'), { required: ['path'], known: ['path', 'watched_directory'] });
    if (p?.path !== undefined) c.string(p.path, at(at(path, 'path_config_source'), 'path'), { nonEmpty: true });
  }
  if (o.api_config_source !== undefined) checkApiConfigSource(c, o.api_config_source, at(path, 'api_config_source'), staticClusters);
  if (o.resource_api_version !== undefined) c.enumOf(o.resource_api_version, at(path, 'resource_api_version'), ['V3'] as const);
  if (o.initial_fetch_timeout !== undefined) c.duration(o.initial_fetch_timeout, at(path, 'initial_fetch_timeout'));
}

function checkApiConfigSource(c: Checker, v: unknown, path: string, staticClusters: Set<string>): void {
  const o = c.object(v, path, {
    required: ['api_type'],
    known: ['api_type', 'transport_api_version', 'grpc_services', 'cluster_names', 'refresh_delay', 'request_timeout', 'set_node_on_first_message_only', 'rate_limit_settings'],
  });
  if (!o) return;
  if (o.api_type !== undefined) c.enumOf(o.api_type, at(path, 'api_type'), ['GRPC', 'DELTA_GRPC', 'REST', 'AGGREGATED_GRPC', 'AGGREGATED_DELTA_GRPC'] as const);
  if (o.transport_api_version !== undefined) c.enumOf(o.transport_api_version, at(path, 'transport_api_version'), ['V3'] as const);
  if (o.set_node_on_first_message_only !== undefined) c.bool(o.set_node_on_first_message_only, at(path, 'set_node_on_first_message_only'));
  for (const k of ['refresh_delay', 'request_timeout'] as const) if (o[k] !== undefined) c.duration(o[k], at(path, k));
  if (o.grpc_services !== undefined) {
    const gp = at(path, 'grpc_services');
    c.array(o.grpc_services, gp, { minItems: 1 })?.forEach((g, i) => {
      const p = idx(gp, i);
      const gs = c.object(g, p, { known: ['envoy_grpc', 'google_grpc', 'timeout', 'initial_metadata', 'retry_policy'] });
      if (!gs) return;
      if (gs.timeout !== undefined) c.duration(gs.timeout, at(p, 'timeout'));
      if (gs.google_grpc !== undefined) c.error(at(p, 'google_grpc'), 'google_grpc is not supported; use envoy_grpc with a static cluster');
      if (gs.envoy_grpc === undefined) {
        if (gs.google_grpc === undefined) c.error(at(p, 'envoy_grpc'), 'required field is missing');
        return;
      }
      const eg = c.object(gs.envoy_grpc, at(p, 'envoy_grpc'), { required: ['cluster_name'], known: ['cluster_name', 'authority', 'retry_policy'] });
      if (eg?.cluster_name === undefined) return;
      const cn = c.string(eg.cluster_name, at(at(p, 'envoy_grpc'), 'cluster_name'), { nonEmpty: true });
      if (cn !== undefined && !staticClusters.has(cn)) c.error(at(at(p, 'envoy_grpc'), 'cluster_name'), `unknown cluster "${cn}" (xDS servers must be static clusters)`);
    });
  }
  if (o.cluster_names !== undefined) c.array(o.cluster_names, at(path, 'cluster_names'))?.forEach((n, i) => c.string(n, idx(at(path, 'cluster_names'), i)));
}
