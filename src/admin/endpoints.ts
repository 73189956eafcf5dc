/** Builders for the admin endpoints' bodies that need more than a formatter: /clusters and /listeners. */
import type { DataPlaneInfo, NativeStat, SnapshotMsg } from '../dataplane/types';
import { hostPort } from '../config/addresses';
import { escapeControlChars, parseStatKey } from '../stats/names';

export interface HostView {
  cluster: string;
  host: string;
  weight: number;
  priority: number;
  healthy: boolean;
  stats: Record<string, number>;
}

/** One row per configured host, with its per-host native stats (`cluster.{cluster=c}.host.{host=h}.<stat>`). */
export function clusterHosts(snapshot: SnapshotMsg | undefined, stats: readonly NativeStat[]): HostView[] {
  const rows = new Map<string, HostView>();
  for (const c of snapshot?.clusters ?? []) {
    for (const e of c.endpoints) {
      const host = hostPort(e.address.address, e.address.port);
      rows.set(`${c.name}\u0000${host}`, {
        cluster: c.name,
        host,
        weight: e.weight ?? 1,
        priority: e.priority ?? 0,
        healthy: e.healthy ?? true,
        stats: {},
      });
    }
  }
  for (const s of stats) {
    if (s.type === 'histogram') continue;
    const p = parseStatKey(s.key);
    if (p.segments.length !== 3 || p.segments[0] !== 'cluster' || p.segments[1] !== 'host') continue;
    const cluster = p.labels.find(([k]) => k === 'cluster')?.[1];
    const host = p.labels.find(([k]) => k === 'host')?.[1];
    if (cluster === undefined || host === undefined) continue;
    const id = `${cluster}\u0000${host}`;
    let row = rows.get(id);
    if (!row) {
      // A host the native side still tracks (e.g. draining after a swap) but the snapshot no longer lists.
      row = { cluster, host, weight: 0, priority: 0, healthy: true, stats: {} };
      rows.set(id, row);
    }
    row.stats[p.segments[2]] = s.value;
    if (p.segments[2] === 'healthy') row.healthy = s.value !== 0;
  }
  return [...rows.values()].sort((a, b) => (a.cluster + a.host < b.cluster + b.host ? -1 : 1));
}

/** Envoy's /clusters text: `cluster::host::field::value` (names with control characters escaped). */
export function formatClustersText(rows: readonly HostView[]): string {
  const lines: string[] = [];
  for (const r of rows) {
    const base = `${escapeControlChars(r.cluster)}::${escapeControlChars(r.host)}`;
    for (const [k, v] of Object.entries(r.stats).sort()) if (k !== 'healthy') lines.push(`${base}::${k}::${v}`);
    lines.push(`${base}::weight::${r.weight}`);
    lines.push(`${base}::priority::${r.priority}`);
    lines.push(`${base}::health_flags::${r.healthy ? 'healthy' : '/failed_active_hc'}`);
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

export function formatListenersText(info: DataPlaneInfo | undefined): string {
  return (info?.listeners ?? []).map((l) => `${escapeControlChars(l.name)}::${hostPort(l.address, l.port)}\n`).join('');
}
