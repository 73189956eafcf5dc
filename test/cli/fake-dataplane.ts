/**
 * A fake DataPlane for control-core tests: binds each listener with node:net and pipes every
 * connection to the first healthy endpoint of its cluster, so behaviour can be checked end to end
 * without the native addon. Also loadable as XMESH_DATAPLANE_MODULE (exports createDataPlane);
 * there XMESH_FAKE_STATS=N adds N per-host counters with long names, for admin pages as big
 * as a data plane with that many stats would serve, and XMESH_FAKE_APPLY_HANG=1 makes apply()
 * never answer (a startup that hangs).
 */
import { createConnection, createServer, type Server, type AddressInfo } from 'node:net';
import type { DataPlane, DataPlaneEvent, DataPlaneInfo, DataPlaneOptions, NativeStat, OverloadActions, SnapshotMsg } from '../../src/dataplane/types';
import { terminalFilter } from '../../src/dataplane/shapes';

export class FakeDataPlane implements DataPlane {
  readonly applied: SnapshotMsg[] = [];
  private servers = new Map<string, { server: Server; key: string }>();
  private current: SnapshotMsg | undefined;
  private listeners: Array<(ev: DataPlaneEvent) => void> = [];
  private counters = new Map<string, number>();
  closed = false;
  /** Downstream connections open per listener. */
  private open = new Map<string, number>();
  private drainedSet = new Set<string>();
  /** Make the next apply() reject with this message. */
  failNextApply: string | undefined;
  /** apply() never settles. */
  hangApply = false;
  /** Extra stats returned by stats() (built once: a native stats() call returns such an array). */
  extraStats: NativeStat[] = [];

  constructor(readonly opts: DataPlaneOptions) {}

  async apply(s: SnapshotMsg): Promise<DataPlaneInfo> {
    if (this.hangApply) return new Promise<DataPlaneInfo>(() => undefined);
    if (this.failNextApply) {
      const m = this.failNextApply;
      this.failNextApply = undefined;
      throw new Error(m);
    }
    const next = new Map<string, { server: Server; key: string }>();
    try {
      for (const l of s.listeners ?? []) {
        const name = l.name!;
        const addr = l.address!;
        const key = `${addr.address}:${addr.port}`;
        const old = this.servers.get(name);
        if (old && old.key === key) {
          next.set(name, old);
          continue;
        }
        const server = createServer((down) => {
          const snap = this.current!;
          const lis = snap.listeners?.find((x) => x.name === name);
          const tp = terminalFilter(lis)?.tcp_proxy;
          const cl = snap.clusters?.find((c) => c.name === (tp?.cluster ?? tp?.weighted_clusters?.[0]?.cluster));
          const ep = cl?.endpoints?.find((e) => e.healthy !== false);
          this.inc(`listener.{listener=${name}}.downstream_cx_total`);
          this.open.set(name, (this.open.get(name) ?? 0) + 1);
          down.once('close', () => this.open.set(name, (this.open.get(name) ?? 1) - 1));
          if (!ep) return down.destroy();
          const up = createConnection(ep.address!.port!, ep.address!.address!);
          up.on('error', () => down.destroy());
          down.on('error', () => up.destroy());
          down.pipe(up).pipe(down);
          this.inc(`cluster.{cluster=${cl!.name}}.upstream_cx_total`);
        });
        await new Promise<void>((resolve, reject) => {
          server.once('error', (e) => reject(new Error(`listener "${name}": ${(e as NodeJS.ErrnoException).code}`)));
          server.listen(addr.port!, addr.address!, () => resolve());
        });
        next.set(name, { server, key });
      }
    } catch (err) {
      for (const [name, v] of next) if (this.servers.get(name) !== v) v.server.close();
      throw err;
    }
    for (const [name, v] of this.servers) if (next.get(name) !== v) v.server.close();
    this.servers = next;
    this.current = s;
    this.applied.push(s);
    return this.info();
  }

  private inc(key: string): void {
    this.counters.set(key, (this.counters.get(key) ?? 0) + 1);
  }

  info(): DataPlaneInfo {
    return {
      workers: this.opts.workers,
      version: Number(this.current?.version ?? 0),
      statsPath: this.opts.statsPath ?? '',
      listeners: [...this.servers].map(([name, { server }]) => {
        const a = server.address() as AddressInfo | null; // null once drained (closed)
        return { name, address: a?.address ?? '', port: a?.port ?? 0, fd: -1, drained: this.drainedSet.has(name), connections: this.open.get(name) ?? 0 };
      }),
    };
  }

  stats(): NativeStat[] {
    return [
      ...[...this.counters].map(([key, value]): NativeStat => ({ type: 'counter', key, value })),
      { type: 'histogram', key: 'cluster.{cluster=demo}.upstream_cx_connect_ms', count: 3, sum: 4500, buckets: [[1000, 2], [2500, 1]] },
      ...this.extraStats,
    ];
  }

  setHostHealth(): boolean {
    return true;
  }

  onEvent(l: (ev: DataPlaneEvent) => void): void {
    this.listeners.push(l);
  }

  /** What statsOverflow() reports (tests set it). */
  overflow = { count: 0, key: '' };

  statsOverflow(): { count: number; key: string } {
    return this.overflow;
  }

  /** Every setOverload() call, in order. */
  readonly overloads: OverloadActions[] = [];

  setOverload(a: OverloadActions): void {
    this.overloads.push({ ...a });
  }

  /** Every shed() threshold, in order. */
  readonly sheds: number[] = [];

  shed(minBytes: number): void {
    this.sheds.push(minBytes);
  }

  /** Names drained so far (every call's list; '*' for all). */
  readonly drained: string[] = [];

  async drain(names: string[] | undefined): Promise<number> {
    let n = 0;
    for (const [name, v] of this.servers) {
      if (names && !names.includes(name)) continue;
      if (this.drainedSet.has(name)) continue;
      v.server.close();
      this.drainedSet.add(name);
      n++;
    }
    this.drained.push(...(names ?? ['*']));
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.servers.values()].map((v) => new Promise<void>((r) => v.server.close(() => r()))));
    this.servers.clear();
  }
}

/** `n` counters named like per-host stats of many services: `cluster.{cluster=...}.host.{host=...}.rq_total`. */
export function manyStats(n: number): NativeStat[] {
  const out: NativeStat[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 5000;
    out.push({ type: 'counter', key: `cluster.{cluster=outbound_8080_reviews_v${c}_default_svc_cluster_local}.host.{host=10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080}.rq_total`, value: i });
  }
  return out;
}

export function createDataPlane(opts: DataPlaneOptions): DataPlane {
  const dp = new FakeDataPlane(opts);
  const n = Number(process.env.XMESH_FAKE_STATS ?? 0);
  if (Number.isInteger(n) && n > 0) dp.extraStats = manyStats(Math.min(n, 2_000_000));
  dp.hangApply = process.env.XMESH_FAKE_APPLY_HANG === '1';
  return dp;
}

export function nativeVersion(): string {
  return 'fake-0.0.0';
}
