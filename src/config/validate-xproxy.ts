/** Validation of the `xmesh.x_proxy` network filter: protocol, limits and its route configuration. */
import { pb } from '../dataplane/types';
import { at, idx, type Checker } from './checker';
import { DEFAULTS } from './translate';
import { X_PROXY_TYPE, X_RETRY_ON } from './types';
import { checkDescriptors, checkProtocolName } from './validate-descriptor';
import { checkClusterTarget, checkTcpProxy, type ListenerRefs } from './validate-listener';

const MATCH_KINDS = ['exact', 'prefix', 'present', 'safe_regex'] as const;

/** A pattern the data plane compiles with PCRE2 (whole-string match). It is also checked
 * here with the ECMAScript engine so that a mistake is reported with its config path;
 * use the syntax both share (no possessive quantifiers or atomic groups). */
function checkRegex(c: Checker, v: unknown, path: string): void {
  const o = c.object(v, path, { required: ['regex'], known: ['regex'], ignored: ['google_re2'] });
  const r = o && c.optional(o, 'regex', (x) => c.string(x, at(path, 'regex'), { nonEmpty: true }));
  if (r === undefined) return;
  try {
    new RegExp(`^(?:${r})$`, 'u');
  } catch (e) {
    c.error(at(path, 'regex'), `invalid regular expression: ${(e as Error).message}`);
  }
}

function checkStringMatch(c: Checker, v: unknown, path: string, extraKnown: string[] = []): void {
  const o = c.object(v, path, { known: [...MATCH_KINDS, ...extraKnown] });
  if (!o) return;
  const set = MATCH_KINDS.filter((k) => o[k] !== undefined);
  if (set.length !== 1) c.error(path, `set exactly one of ${MATCH_KINDS.join(', ')}`);
  c.optional(o, 'exact', (x) => c.string(x, at(path, 'exact')));
  c.optional(o, 'prefix', (x) => c.string(x, at(path, 'prefix'), { nonEmpty: true }));
  c.optional(o, 'present', (x) => c.bool(x, at(path, 'present')));
  if (o.present === false) c.error(at(path, 'present'), 'only "present: true" is supported');
  c.optional(o, 'safe_regex', (x) => checkRegex(c, x, at(path, 'safe_regex')));
}

function checkRetryPolicy(c: Checker, v: unknown, path: string, idempotent: boolean): void {
  const o = c.object(v, path, { required: ['retry_on'], known: ['retry_on', 'num_retries'], ignored: ['per_try_timeout', 'retry_back_off'] });
  if (!o) return;
  c.optional(o, 'num_retries', (x) => c.uint(x, at(path, 'num_retries'), { min: 1, max: 10 }));
  const on = c.optional(o, 'retry_on', (x) => c.string(x, at(path, 'retry_on'), { nonEmpty: true }));
  if (on === undefined) return;
  for (const cond of on.split(',').map((s) => s.trim())) {
    if (!(X_RETRY_ON as readonly string[]).includes(cond)) {
      c.error(at(path, 'retry_on'), `unsupported retry condition "${cond}" (supported: ${X_RETRY_ON.join(', ')})`);
    } else if (cond === 'reset' && !idempotent) {
      c.error(at(path, 'retry_on'), '"reset" sends again a request the upstream may already have processed; set route.idempotent: true for routes where that is harmless');
    }
  }
}

/** Route hash_policy: one entry, the value of a meta or the client's address. */
function checkHashPolicy(c: Checker, v: unknown, path: string): void {
  const list = c.array(v, path, { minItems: 1 });
  if (!list) return;
  if (list.length > 1) c.error(path, 'one hash policy per route (a meta or the source address)');
  const p = idx(path, 0);
  const o = c.object(list[0], p, { known: ['meta', 'connection_properties'], ignored: ['terminal'] });
  if (!o) return;
  if ((o.meta === undefined) === (o.connection_properties === undefined)) c.error(p, 'set exactly one of meta or connection_properties');
  c.optional(o, 'meta', (x) => {
    const m = c.object(x, at(p, 'meta'), { required: ['name'], known: ['name'] });
    if (m) c.optional(m, 'name', (y) => c.string(y, at(at(p, 'meta'), 'name'), { nonEmpty: true }));
  });
  c.optional(o, 'connection_properties', (x) => {
    const cp = at(p, 'connection_properties');
    const m = c.object(x, cp, { required: ['source_ip'], known: ['source_ip'] });
    const on = m && c.optional(m, 'source_ip', (y) => c.bool(y, at(cp, 'source_ip')));
    if (on === false) c.error(at(cp, 'source_ip'), 'only "source_ip: true" is supported');
  });
}

/** Route metadata_match (Envoy shape): the pairs under filter_metadata["envoy.lb"] select the
 * endpoints whose envoy.lb metadata carries all of them. */
function checkMetadataMatch(c: Checker, v: unknown, path: string): void {
  const o = c.object(v, path, { required: ['filter_metadata'], known: ['filter_metadata'] });
  const fm = o && o.filter_metadata !== undefined ? c.object(o.filter_metadata, at(path, 'filter_metadata'), { required: ['envoy.lb'], known: ['envoy.lb'] }) : undefined;
  const lbp = at(at(path, 'filter_metadata'), 'envoy.lb');
  const lb = fm && fm['envoy.lb'] !== undefined ? c.anyObject(fm['envoy.lb'], lbp) : undefined;
  if (!lb) return;
  if (Object.keys(lb).length === 0) c.error(lbp, 'list at least one key: value pair');
  for (const [k, mv] of Object.entries(lb)) {
    if (mv === null || typeof mv === 'object') c.error(at(lbp, k), 'values must be strings, numbers or booleans (they are matched as strings)');
  }
}

/** protocol xor protocols; the detection settings (fallback_tcp_proxy, detect_timeout). */
/** Descriptors without magic: they cannot tell their frames from other bytes, so detection would give them every connection. */
function magicless(o: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  if (Array.isArray(o.descriptors)) {
    for (const d of o.descriptors as Array<Record<string, unknown>>) if (d && typeof d.name === 'string' && d.magic === undefined) out.add(d.name);
  }
  return out;
}

function checkProtocols(c: Checker, o: Record<string, unknown>, path: string, refs: ListenerRefs, descriptorNames: readonly string[]): void {
  const hasOne = o.protocol !== undefined;
  const hasList = o.protocols !== undefined;
  if (hasOne && hasList) c.error(path, 'set exactly one of protocol or protocols, not both');
  if (!hasOne && !hasList) c.error(at(path, 'protocol'), 'required field is missing (or set protocols)');
  c.optional(o, 'protocol', (x) => checkProtocolName(c, x, at(path, 'protocol'), descriptorNames));
  const lp = at(path, 'protocols');
  const list = hasList ? c.array(o.protocols, lp, { minItems: 1 }) : undefined;
  if (list && list.length > pb.Limits.MAX_X_PROXY_CODECS) c.error(lp, `at most ${pb.Limits.MAX_X_PROXY_CODECS} protocols per listener, got ${list.length}`);
  const seen = new Set<string>();
  const noMagic = magicless(o);
  const detecting = (list !== undefined && list.length > 1) || o.fallback_tcp_proxy !== undefined;
  list?.forEach((p, i) => {
    const name = checkProtocolName(c, p, idx(lp, i), descriptorNames);
    if (name === undefined) return;
    if (seen.has(name)) c.error(idx(lp, i), `protocol "${name}" listed twice`);
    seen.add(name);
    if (detecting && noMagic.has(name)) c.error(idx(lp, i), `descriptor "${name}" has no magic, so it cannot be detected among other protocols`);
  });
  if (hasOne && detecting && typeof o.protocol === 'string' && noMagic.has(o.protocol)) {
    c.error(at(path, 'protocol'), `descriptor "${o.protocol}" has no magic, so it cannot be told apart from the fallback's traffic`);
  }
  if (o.fallback_tcp_proxy !== undefined) checkTcpProxy(c, o.fallback_tcp_proxy, at(path, 'fallback_tcp_proxy'), refs, { typeRequired: false });
  c.optional(o, 'detect_timeout', (x) => c.duration(x, at(path, 'detect_timeout'), { minMs: 1 }));
  if (o.detect_timeout !== undefined && !detecting) {
    c.warn(at(path, 'detect_timeout'), 'ignored: protocols are detected only with several protocols or a fallback_tcp_proxy');
  }
}

export function checkXProxy(c: Checker, v: unknown, path: string, refs: ListenerRefs): void {
  const o = c.object(v, path, {
    required: ['@type', 'stat_prefix', 'route_config'],
    known: ['@type', 'stat_prefix', 'protocol', 'protocols', 'descriptors', 'fallback_tcp_proxy', 'detect_timeout', 'max_frame_size', 'upstream_connections_per_host', 'request_timeout', 'idle_timeout', 'frame_timeout', 'max_connection_duration', 'route_config'],
  });
  if (!o) return;
  const t = c.optional(o, '@type', (x) => c.string(x, at(path, '@type')));
  if (t !== undefined && t !== X_PROXY_TYPE) c.error(at(path, '@type'), `expected "${X_PROXY_TYPE}", got "${t}"`);
  c.optional(o, 'stat_prefix', (x) => c.string(x, at(path, 'stat_prefix'), { nonEmpty: true }));
  const maxFrame = c.optional(o, 'max_frame_size', (x) => c.uint(x, at(path, 'max_frame_size'), { min: 64, max: pb.Limits.MAX_X_PROXY_FRAME_SIZE }));
  // Descriptors first: protocol(s) may name them.
  const names = c.optional(o, 'descriptors', (x) => checkDescriptors(c, x, at(path, 'descriptors'), maxFrame ?? DEFAULTS.xMaxFrameSize)) ?? [];
  checkProtocols(c, o, path, refs, names);
  c.optional(o, 'upstream_connections_per_host', (x) => c.uint(x, at(path, 'upstream_connections_per_host'), { min: 1, max: pb.Limits.MAX_UPSTREAM_CONNECTIONS_PER_HOST }));
  c.optional(o, 'request_timeout', (x) => c.duration(x, at(path, 'request_timeout'), { minMs: 1 }));
  for (const k of ['idle_timeout', 'frame_timeout', 'max_connection_duration'] as const) c.optional(o, k, (x) => c.duration(x, at(path, k)));
  const rp = at(path, 'route_config');
  const rc = o.route_config === undefined ? undefined : c.object(o.route_config, rp, { required: ['virtual_hosts'], known: ['name', 'virtual_hosts'] });
  if (!rc) return;
  c.optional(rc, 'name', (x) => c.string(x, at(rp, 'name')));
  const vhp = at(rp, 'virtual_hosts');
  const vhosts = rc.virtual_hosts === undefined ? undefined : c.array(rc.virtual_hosts, vhp, { minItems: 1 });
  vhosts?.forEach((vh, i) => {
    const p = idx(vhp, i);
    const v2 = c.object(vh, p, { required: ['name', 'domains', 'routes'], known: ['name', 'domains', 'routes'] });
    if (!v2) return;
    c.optional(v2, 'name', (x) => c.string(x, at(p, 'name'), { nonEmpty: true }));
    const domains = v2.domains === undefined ? undefined : c.array(v2.domains, at(p, 'domains'), { minItems: 1 });
    domains?.forEach((d, j) => {
      const s = c.string(d, idx(at(p, 'domains'), j), { nonEmpty: true });
      if (s !== undefined && s.length > 1 && s.indexOf('*', 1) !== -1 && s.indexOf('*', 1) !== s.length - 1) {
        c.error(idx(at(p, 'domains'), j), `"${s}": a wildcard may only be the whole name, a prefix ("*suffix") or a suffix ("prefix*")`);
      }
    });
    const routes = v2.routes === undefined ? undefined : c.array(v2.routes, at(p, 'routes'), { minItems: 1 });
    routes?.forEach((r, k) => {
      const rpth = idx(at(p, 'routes'), k);
      const ro = c.object(r, rpth, { required: ['route'], known: ['match', 'route'] });
      if (!ro) return;
      c.optional(ro, 'match', (m) => {
        const mp = at(rpth, 'match');
        const mo = c.object(m, mp, { known: ['method', 'metas'] });
        if (!mo) return;
        c.optional(mo, 'method', (x) => checkStringMatch(c, x, at(mp, 'method')));
        c.optional(mo, 'metas', (x) => {
          const list = c.array(x, at(mp, 'metas'));
          list?.forEach((mm, q) => {
            const mmp = idx(at(mp, 'metas'), q);
            const mmo = c.object(mm, mmp, { required: ['name'], known: ['name', ...MATCH_KINDS] });
            if (mmo) c.optional(mmo, 'name', (y) => c.string(y, at(mmp, 'name'), { nonEmpty: true }));
            checkStringMatch(c, mm, mmp, ['name']);
          });
        });
      });
      const ap = at(rpth, 'route');
      const action = ro.route === undefined ? undefined : c.object(ro.route, ap, {
        known: ['cluster', 'weighted_clusters', 'timeout', 'idempotent', 'retry_policy', 'metadata_match', 'hash_policy'],
      });
      if (!action) return;
      c.optional(action, 'timeout', (x) => c.duration(x, at(ap, 'timeout'), { minMs: 1 }));
      const idem = c.optional(action, 'idempotent', (x) => c.bool(x, at(ap, 'idempotent')));
      c.optional(action, 'retry_policy', (x) => checkRetryPolicy(c, x, at(ap, 'retry_policy'), idem === true));
      c.optional(action, 'metadata_match', (x) => checkMetadataMatch(c, x, at(ap, 'metadata_match')));
      c.optional(action, 'hash_policy', (x) => checkHashPolicy(c, x, at(ap, 'hash_policy')));
      checkClusterTarget(c, action, ap, refs);
    });
  });
}
