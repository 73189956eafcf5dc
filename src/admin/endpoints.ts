/** Builders for the admin endpoints' bodies that need more than a formatter: /clusters and /listeners. */
import type { DataPlaneInfo, NativeStat, SnapshotMsg } from '../dataplane/types';
import { hostPort } from '../config/addresses';
import { escapeControlChars, parseStatKey } from '../stats/names';
import { byString, sliceSort, TimeSlice } from '../util/time-slice';

export interface HostView {
  cluster: string;
  host: string;
  weight: number;
  priority: number;
  healthy: boolean;
  stats: Record<string, number>;
}

/**
 * One row per configured host, with its per-host native stats
 * (`cluster.{cluster=c}.host.{host=h}.<stat>`), built under `slice`.
 */
export async function clusterHosts(snapshot: SnapshotMsg | undefined, stats: readonly NativeStat[], slice = new TimeSlice()): Promise<HostView[]> {
  const rows = new Map<string, HostView>();
  for (const c of snapshot?.clusters ?? []) {
    for (const e of c.endpoints ?? []) {
      const t = slice.tick();
      if (t) await t;
      const host = hostPort(e.address?.address ?? '', e.address?.port ?? 0);
      rows.set(`${c.name}\u0000${host}`, {
        cluster: c.name ?? '',
        host,
        weight: e.weight ?? 1,
        priority: e.priority ?? 0,
        healthy: e.healthy ?? true,
        stats: {},
      });
    }
  }
  for (const s of stats) {
    const t = slice.tick();
    if (t) await t;
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
  return sliceSort([...rows.values()], (a, b) => byString(a.cluster + a.host, b.cluster + b.host), slice);
}

/** Envoy's /clusters text: `cluster::host::field::value` (names with control characters escaped), in chunks. */
export async function* clustersTextChunks(rows: readonly HostView[], slice = new TimeSlice()): AsyncGenerator<string> {
  let buf = '';
  for (const r of rows) {
    const base = `${escapeControlChars(r.cluster)}::${escapeControlChars(r.host)}`;
    for (const [k, v] of Object.entries(r.stats).sort()) if (k !== 'healthy') buf += `${base}::${k}::${v}\n`;
    buf += `${base}::weight::${r.weight}\n${base}::priority::${r.priority}\n${base}::health_flags::${r.healthy ? 'healthy' : '/failed_active_hc'}\n`;
    if (buf.length >= 64 * 1024) {
      yield buf;
      buf = '';
    }
    const t = slice.tick();
    if (t) await t;
  }
  if (buf) yield buf;
}

export function formatListenersText(info: DataPlaneInfo | undefined): string {
  return (info?.listeners ?? []).map((l) => `${escapeControlChars(l.name)}::${hostPort(l.address, l.port)}\n`).join('');
}
