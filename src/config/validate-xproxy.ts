/** Validation of the `xmesh.x_proxy` network filter: protocol, limits and its route configuration. */
import { at, idx, type Checker } from './checker';
import { X_PROXY_TYPE } from './types';
import { checkDescriptors, checkProtocolName } from './validate-descriptor';
import { checkClusterTarget, type ListenerRefs } from './validate-listener';

const MATCH_KINDS = ['exact', 'prefix', 'present'] as const;

function checkStringMatch(c: Checker, v: unknown, path: string, extraKnown: string[] = []): void {
  const o = c.object(v, path, { known: [...MATCH_KINDS, ...extraKnown] });
  if (!o) return;
  const set = MATCH_KINDS.filter((k) => o[k] !== undefined);
  if (set.length !== 1) c.error(path, `set exactly one of ${MATCH_KINDS.join(', ')}`);
  c.optional(o, 'exact', (x) => c.string(x, at(path, 'exact')));
  c.optional(o, 'prefix', (x) => c.string(x, at(path, 'prefix'), { nonEmpty: true }));
  c.optional(o, 'present', (x) => c.bool(x, at(path, 'present')));
  if (o.present === false) c.error(at(path, 'present'), 'only "present: true" is supported');
}

export function checkXProxy(c: Checker, v: unknown, path: string, refs: ListenerRefs): void {
  const o = c.object(v, path, {
    required: ['@type', 'stat_prefix', 'protocol', 'route_config'],
    known: ['@type', 'stat_prefix', 'protocol', 'descriptors', 'max_frame_size', 'upstream_connections_per_host', 'request_timeout', 'route_config'],
  });
  if (!o) return;
  const t = c.optional(o, '@type', (x) => c.string(x, at(path, '@type')));
  if (t !== undefined && t !== X_PROXY_TYPE) c.error(at(path, '@type'), `expected "${X_PROXY_TYPE}", got "${t}"`);
  c.optional(o, 'stat_prefix', (x) => c.string(x, at(path, 'stat_prefix'), { nonEmpty: true }));
  const maxFrame = c.optional(o, 'max_frame_size', (x) => c.uint(x, at(path, 'max_frame_size'), { min: 64, max: 256 * 1024 * 1024 }));
  // Descriptors first: protocol may name one of them.
  const names = c.optional(o, 'descriptors', (x) => checkDescriptors(c, x, at(path, 'descriptors'), maxFrame ?? 16 * 1024 * 1024)) ?? [];
  c.optional(o, 'protocol', (x) => checkProtocolName(c, x, at(path, 'protocol'), names));
  c.optional(o, 'upstream_connections_per_host', (x) => c.uint(x, at(path, 'upstream_connections_per_host'), { min: 1, max: 16 }));
  c.optional(o, 'request_timeout', (x) => c.duration(x, at(path, 'request_timeout'), { minMs: 1 }));
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
      const action = ro.route === undefined ? undefined : c.object(ro.route, ap, { known: ['cluster', 'weighted_clusters', 'timeout'] });
      if (!action) return;
      c.optional(action, 'timeout', (x) => c.duration(x, at(ap, 'timeout'), { minMs: 1 }));
      checkClusterTarget(c, action, ap, refs);
    });
  });
}
