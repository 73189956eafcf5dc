// Scenario `bolt`: SOFARPC Bolt request/response with real 1 KiB frames captured from
// sofa-rpc-node: direct vs xmesh x_proxy (L7: split, route, id remap, multiplex) vs HAProxy
// mode tcp (L4), in two load shapes: ping-pong (50 conns x 1 in flight) and pipelined
// (20 conns x 8 in flight). The primary figure is the proxy's CPU time per request.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureBuilt, runXload, startResponder, type XloadResult } from '../lib/loadgen';
import { PATH_COLORS, startPath, stopPath, unavailable, type PathName, type RunningPath } from '../lib/peers';
import { cpuUs } from '../lib/procfs';
import { stop } from '../lib/procs';
import { median } from '../lib/report';
import type { BenchOptions, Scenario, ScenarioResult, Table } from '../lib/types';

const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'bench', 'fixtures');
const REQ_FILE = path.join(FIXTURES, 'bolt-req-1k.bin');
const RESP_FILE = path.join(FIXTURES, 'bolt-resp-1k.bin');
const SHAPES = { pingpong: { conns: 50, depth: 1 }, pipelined: { conns: 20, depth: 8 } } as const;
type Shape = keyof typeof SHAPES;
const PATHS: PathName[] = ['direct', 'xmesh', 'xmesh-epoll', 'haproxy'];

interface Sample {
  run: number;
  path: PathName;
  shape: Shape;
  lg: XloadResult;
  proxyCpuUs: number;
}

export const scenario: Scenario = {
  name: 'bolt',
  description: 'SOFARPC Bolt 1 KiB request/response (real frames): direct vs xmesh x_proxy (L7) vs haproxy mode tcp; ping-pong and pipelined; proxy CPU us/request',
  async run(o: BenchOptions): Promise<ScenarioResult> {
    ensureBuilt(o.log);
    const notes: string[] = [];
    const reqSize = fs.statSync(REQ_FILE).size;
    const respSize = fs.statSync(RESP_FILE).size;
    const wanted = (o.paths.length ? o.paths : PATHS) as PathName[];
    const paths = wanted.filter((p) => {
      const why = p === 'direct' ? null : unavailable(p);
      if (why) notes.push(`path ${p} skipped: ${why}`);
      return !why && p !== 'nginx';
    });
    const bound = paths.length * o.runs * 2 * (o.duration + o.warmup + 30) + 60;
    // A Bolt upstream: answers each request with the captured response, carrying the
    // request's id (bytes 5..8 of a v1 frame) so a multiplexing proxy can match it.
    const up = await startResponder({ reqSize, replyFile: RESP_FILE, echoId: '5:4', cpu: o.serverCpu, maxSeconds: bound }, path.join(o.workdir, 'xresp-bolt.log'));
    const samples: Sample[] = [];
    try {
      for (let run = 1; run <= o.runs; run++) {
        for (const name of paths) {
          let p: RunningPath;
          try {
            p = await startPath(name, [{ name: 'bolt', upstreamPort: up.port, xproxy: 'bolt' }], { cpu: o.serverCpu, workdir: o.workdir });
          } catch (e) {
            notes.push(`${name}: did not start: ${(e as Error).message}`);
            continue;
          }
          try {
            for (const shape of Object.keys(SHAPES) as Shape[]) {
              const pid = p.proc?.pid;
              let c0 = 0;
              const lg = await runXload(
                { target: `127.0.0.1:${p.ports.bolt}`, ...SHAPES[shape], duration: o.duration, warmup: o.warmup, reqFile: REQ_FILE, respSize, cpu: o.loadgenCpu },
                path.join(o.workdir, `xload-${shape}-${name}-${run}.log`),
                { onMeasureStart: () => (c0 = pid ? cpuUs(pid) : 0) },
              );
              const proxyCpuUs = pid ? cpuUs(pid) - c0 : 0;
              samples.push({ run, path: name, shape, lg, proxyCpuUs });
              o.log(`run ${run} ${name.padEnd(7)} ${shape.padEnd(9)} ${lg.rps.toFixed(0)} req/s p50 ${lg.p50_us}us p99 ${lg.p99_us}us` +
                (pid ? ` proxy ${(proxyCpuUs / Math.max(1, lg.requests)).toFixed(2)} us/req` : '') + ` errors ${lg.errors}`);
            }
          } finally {
            await stopPath(p);
          }
        }
      }
    } finally {
      await stop(up.proc);
    }
    const med = (p: PathName, s: Shape, f: (x: Sample) => number) => median(samples.filter((x) => x.path === p && x.shape === s).map(f));
    const dir = (s: Shape) => med('direct', s, (x) => x.lg.rps);
    const tables: Table[] = (Object.keys(SHAPES) as Shape[]).map((shape) => ({
      title: `${shape}: ${SHAPES[shape].conns} conns x ${SHAPES[shape].depth} in flight, ${reqSize} B request / ${respSize} B response (captured sofa-rpc-node frames)`,
      columns: ['path', 'req/s', 'x direct', 'p50 us', 'p99 us', 'proxy us/req', 'errors'],
      rows: paths
        .filter((p) => samples.some((x) => x.path === p && x.shape === shape))
        .map((p) => [
          p === 'xmesh' || p === 'xmesh-base' || p === 'xmesh-epoll' ? `${p} (L7)` : p === 'haproxy' ? 'haproxy (L4)' : p,
          med(p, shape, (x) => x.lg.rps).toFixed(0),
          dir(shape) > 0 ? (med(p, shape, (x) => x.lg.rps) / dir(shape)).toFixed(2) : '-',
          med(p, shape, (x) => x.lg.p50_us).toFixed(0),
          med(p, shape, (x) => x.lg.p99_us).toFixed(0),
          p === 'direct' ? '-' : med(p, shape, (x) => x.proxyCpuUs / Math.max(1, x.lg.requests)).toFixed(2),
          samples.filter((x) => x.path === p && x.shape === shape).reduce((a, x) => a + x.lg.errors, 0),
        ]),
    }));
    notes.push('pinning: loadgen on cpu0, proxy + upstream on cpu1; direct shows the load generator is not the bottleneck');
    notes.push('xmesh routes every request at L7 (split, route by service, rewrite id, multiplex); haproxy forwards bytes at L4');
    const shapes = Object.keys(SHAPES) as Shape[];
    const chart = {
      title: 'bolt: proxy CPU per request, 1 KiB SOFARPC frames (lower is better)',
      axis: 'proxy CPU µs per request (median of runs)',
      groups: shapes.map((s) => `${s} ${SHAPES[s].conns}×${SHAPES[s].depth}`),
      series: paths.filter((p) => p !== 'direct' && samples.some((x) => x.path === p)).map((p) => ({
        name: p === 'haproxy' ? 'haproxy (L4)' : `${p} (L7)`,
        color: PATH_COLORS[p],
        values: shapes.map((s) => {
          const v = med(p, s, (x) => x.proxyCpuUs / Math.max(1, x.lg.requests));
          return Number.isFinite(v) ? v : null;
        }),
      })),
    };
    return { tables, data: { samples }, notes, chart };
  },
};
