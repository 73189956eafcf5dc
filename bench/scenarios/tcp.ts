// Scenario `tcp`: L4 proxying cost of xmesh tcp_proxy vs direct, haproxy and nginx in one run:
// closed-loop req/s, latency at a fixed offered rate, bulk MiB/s, and the proxy's own CPU
// time per request (the primary figure: least sensitive to CPU contention on a small box).
import * as path from 'node:path';
import { ensureBuilt, histQuantile, mergeHists, runXload, startResponder, XloadArgs, XloadResult } from '../lib/loadgen';
import type { BarChart } from '../lib/chart';
import { tcpCongestionControl } from '../lib/netns';
import { ALL_PATHS, PATH_COLORS, PathName, RunningPath, startPath, stopPath, unavailable } from '../lib/peers';
import { cpuUs } from '../lib/procfs';
import { stop } from '../lib/procs';
import { bootstrapCI, median, medianCI, signTestP } from '../lib/report';
import type { BenchOptions, Scenario, ScenarioResult, Table } from '../lib/types';

const REQ = 128;
const RESP = 128;
const CLOSED = { conns: 50, depth: 1 };
const RATE = { conns: 10, rate: 5000 };
const BULK = { conns: 4 };
const MODES = ['closed', 'rate', 'bulk'] as const;
type Mode = (typeof MODES)[number];

interface Sample {
  run: number;
  path: PathName;
  mode: Mode;
  lg: XloadResult;
  /** proxy CPU over the measured window, us (0 for direct) */
  proxyCpuUs: number;
  respCpuUs: number;
}

function modeArgs(mode: Mode, target: string, o: BenchOptions): XloadArgs {
  const base = { target, duration: o.duration, warmup: o.warmup, cpu: o.loadgenCpu };
  switch (mode) {
    case 'closed':
      return { ...base, ...CLOSED, reqSize: REQ, respSize: RESP };
    case 'rate':
      // the histogram lets summarize() pool all runs of a path and read one tail off them
      return { ...base, ...RATE, reqSize: REQ, respSize: RESP, hist: true };
    case 'bulk':
      return { ...base, ...BULK, bulk: 'recv' };
  }
}

async function measure(run: number, p: RunningPath, mode: Mode, respPid: number, o: BenchOptions): Promise<Sample> {
  const route = mode === 'bulk' ? 'bulk' : 'rr';
  const target = `127.0.0.1:${p.ports[route]}`;
  const pid = p.proc?.pid;
  let p0 = 0;
  let r0 = 0;
  const lg = await runXload(modeArgs(mode, target, o), path.join(o.workdir, `xload-${mode}-${p.name}-${run}.log`), {
    onMeasureStart: () => {
      p0 = pid ? cpuUs(pid) : 0;
      r0 = cpuUs(respPid);
    },
  });
  const proxyCpuUs = pid ? cpuUs(pid) - p0 : 0;
  const respCpuUs = cpuUs(respPid) - r0;
  return { run, path: p.name, mode, lg, proxyCpuUs, respCpuUs };
}

export const scenario: Scenario = {
  name: 'tcp',
  description: 'tcp_proxy: req/s (50 conns ping-pong), p50/p99 at 5000 req/s, bulk MiB/s, proxy CPU us/request; direct vs xmesh vs haproxy vs nginx',
  defaults: { duration: 5, warmup: 1, runs: 3 },
  async run(o: BenchOptions): Promise<ScenarioResult> {
    ensureBuilt(o.log);
    const notes: string[] = [];
    const wanted = (o.paths.length ? o.paths : [...ALL_PATHS]) as PathName[];
    const paths: PathName[] = [];
    for (const p of wanted) {
      if (!(ALL_PATHS as readonly string[]).includes(p)) throw new Error(`unknown path ${p} (have ${ALL_PATHS.join(', ')})`);
      const why = unavailable(p);
      if (why) notes.push(`path ${p} skipped: ${why}`);
      else paths.push(p);
    }
    for (const m of o.modes) if (!(MODES as readonly string[]).includes(m)) throw new Error(`unknown mode ${m} (have ${MODES.join(', ')})`);
    const modes = MODES.filter((m) => !o.modes.length || o.modes.includes(m));
    const bound = o.runs * paths.length * modes.length * (o.duration + o.warmup + 20) + 120;
    const rr = await startResponder({ reqSize: REQ, respSize: RESP, cpu: o.serverCpu, maxSeconds: bound }, path.join(o.workdir, 'xresp-rr.log'));
    const src = await startResponder({ bulk: 'source', cpu: o.serverCpu, maxSeconds: bound }, path.join(o.workdir, 'xresp-bulk.log'));
    const samples: Sample[] = [];
    const cmds: Record<string, string> = {};
    try {
      for (let run = 1; run <= o.runs; run++) {
        // Rotate the order each pass: host noise drifts over time, and a fixed order would
        // hand the same slot (first after a restart, right after a given peer) to one path.
        const k = (run - 1) % paths.length;
        for (const name of [...paths.slice(k), ...paths.slice(0, k)]) {
          let p: RunningPath;
          try {
            p = await startPath(name, [{ name: 'rr', upstreamPort: rr.port }, { name: 'bulk', upstreamPort: src.port }],
              { cpu: o.serverCpu, workdir: o.workdir });
          } catch (e) {
            const msg = `run ${run} ${name}: did not start: ${(e as Error).message}`;
            notes.push(msg);
            o.log(msg);
            continue;
          }
          cmds[name] = p.cmd;
          try {
            for (const mode of modes) {
              try {
                const s = await measure(run, p, mode, mode === 'bulk' ? src.proc.pid : rr.proc.pid, o);
                samples.push(s);
                o.log(`run ${run} ${name.padEnd(7)} ${mode.padEnd(6)} ` +
                  (mode === 'bulk' ? `${s.lg.mib_s_in.toFixed(0)} MiB/s` : `${s.lg.rps.toFixed(0)} req/s p50 ${s.lg.p50_us}us p99 ${s.lg.p99_us}us`) +
                  (s.proxyCpuUs && s.lg.requests ? ` proxy ${(s.proxyCpuUs / s.lg.requests).toFixed(2)} us/req` : '') +
                  ` errors ${s.lg.errors}`);
              } catch (e) {
                const msg = `run ${run} ${name} ${mode}: ${(e as Error).message}`;
                notes.push(msg);
                o.log(msg);
              }
            }
          } finally {
            await stopPath(p);
          }
        }
      }
    } finally {
      await stop(rr.proc);
      await stop(src.proc);
    }
    return summarize(samples, paths, notes, cmds, o);
  },
};

function summarize(samples: Sample[], paths: PathName[], notes: string[], cmds: Record<string, string>, o: BenchOptions): ScenarioResult {
  const pick = (p: PathName, m: Mode) => samples.filter((s) => s.path === p && s.mode === m);
  const med = (p: PathName, m: Mode, f: (s: Sample) => number) => median(pick(p, m).map(f));
  const sum = (p: PathName, m: Mode, f: (s: Sample) => number) => pick(p, m).reduce((a, s) => a + f(s), 0);
  const secs = (s: Sample) => s.lg.duration_s;
  const perReq = (s: Sample) => (s.lg.requests ? s.proxyCpuUs / s.lg.requests : NaN);
  const has = (p: PathName, m: Mode) => pick(p, m).length > 0;
  const dir = (m: Mode, f: (s: Sample) => number) => (has('direct', m) ? med('direct', m, f) : NaN);
  const proxyCol = (p: PathName, v: number) => (p === 'direct' ? '-' : v);

  const closed: Table = {
    title: `(a) closed loop: ${CLOSED.conns} keep-alive conns, depth ${CLOSED.depth}, ${REQ} B req / ${RESP} B resp, ${o.duration}s x ${o.runs} runs (median)`,
    columns: ['path', 'runs', 'req/s', 'x direct', 'p50 us', 'p99 us', 'proxy us/req', 'proxy cpu%', 'resp us/req', 'loadgen cpu%', 'errors'],
    rows: paths.filter((p) => has(p, 'closed')).map((p) => [
      p, pick(p, 'closed').length,
      med(p, 'closed', (s) => s.lg.rps),
      med(p, 'closed', (s) => s.lg.rps) / dir('closed', (s) => s.lg.rps),
      med(p, 'closed', (s) => s.lg.p50_us),
      med(p, 'closed', (s) => s.lg.p99_us),
      proxyCol(p, med(p, 'closed', perReq)),
      proxyCol(p, med(p, 'closed', (s) => (100 * s.proxyCpuUs) / 1e6 / secs(s))),
      med(p, 'closed', (s) => (s.lg.requests ? s.respCpuUs / s.lg.requests : NaN)),
      med(p, 'closed', (s) => s.lg.cpu_pct),
      sum(p, 'closed', (s) => s.lg.errors),
    ]),
  };
  const d50 = dir('rate', (s) => s.lg.p50_us);
  const d99 = dir('rate', (s) => s.lg.p99_us);
  // Pooled: one histogram per path from all its rate runs. A run's p99 rests on its slowest
  // 1% (~250 requests in 5 s), which whatever else ran in those seconds dominates; the
  // pooled tail weighs every request of every (rotated, interleaved) pass the same.
  const pooled = new Map(paths.filter((p) => has(p, 'rate')).map((p) => {
    const h = mergeHists(pick(p, 'rate').map((s) => s.lg));
    const q = (x: number) => histQuantile(h, x) / 1e3;
    return [p, { runs: pick(p, 'rate').length, requests: h.count, p50_us: q(0.5), p90_us: q(0.9), p99_us: q(0.99), p999_us: q(0.999), max_us: h.max_ns / 1e3 }];
  }));
  const pooled99 = (p: PathName) => pooled.get(p)?.p99_us ?? NaN;
  const rate: Table = {
    title: `(b) fixed offered rate: ${RATE.rate} req/s open loop over ${RATE.conns} conns (latency from the scheduled send time; median of runs, pooled = all runs' histograms merged)`,
    columns: ['path', 'req/s', 'p50 us', 'p90 us', 'p99 us', 'p99.9 us', '+p50 us', '+p99 us', 'pooled p99 us', '+p99 pooled us', 'proxy us/req',
      'proxy cpu%', 'errors'],
    rows: paths.filter((p) => has(p, 'rate')).map((p) => [
      p,
      med(p, 'rate', (s) => s.lg.rps),
      med(p, 'rate', (s) => s.lg.p50_us),
      med(p, 'rate', (s) => s.lg.p90_us),
      med(p, 'rate', (s) => s.lg.p99_us),
      med(p, 'rate', (s) => s.lg.p999_us),
      proxyCol(p, med(p, 'rate', (s) => s.lg.p50_us) - d50),
      proxyCol(p, med(p, 'rate', (s) => s.lg.p99_us) - d99),
      pooled99(p),
      proxyCol(p, pooled99(p) - pooled99('direct')),
      proxyCol(p, med(p, 'rate', perReq)),
      proxyCol(p, med(p, 'rate', (s) => (100 * s.proxyCpuUs) / 1e6 / secs(s))),
      sum(p, 'rate', (s) => s.lg.errors),
    ]),
  };
  // Paired by pass: the two paths of a pair ran in the same pass, close in time, so under
  // much the same host noise; the sign test asks only which of the two was lower in each.
  // The pooled p99s of the same passes are compared too, with a bootstrap over passes: one
  // stall can move a single run's p99 by hundreds of us; the pooled p99 moves less.
  const rateOf = (p: PathName) => new Map(pick(p, 'rate').map((s) => [s.run, s.lg]));
  const paired = paths.filter((p) => p.startsWith('xmesh') && has(p, 'rate')).flatMap((p) =>
    (['haproxy', 'nginx'] as PathName[]).filter((peer) => has(peer, 'rate')).map((peer) => {
      const a = rateOf(p);
      const b = rateOf(peer);
      const runs = [...a.keys()].filter((r) => b.has(r));
      const diffs = runs.map((r) => a.get(r)!.p99_us - b.get(r)!.p99_us);
      const lower = diffs.filter((d) => d < 0).length;
      const ties = diffs.filter((d) => d === 0).length;
      const ci = medianCI(diffs);
      const pooledDiff = (units: number[]) => (histQuantile(mergeHists(units.map((u) => a.get(runs[u])!)), 0.99) -
        histQuantile(mergeHists(units.map((u) => b.get(runs[u])!)), 0.99)) / 1e3;
      const boot = bootstrapCI(runs.length, pooledDiff);
      return { path: p, peer, runs: diffs.length, lower, ties, median_diff_us: median(diffs), ci_lo_us: ci.lo, ci_hi_us: ci.hi,
        ci_coverage: ci.coverage, sign_p: signTestP(lower, diffs.length - ties),
        pooled_diff_us: pooledDiff(runs.map((_, i) => i)), pooled_ci_lo_us: boot.lo, pooled_ci_hi_us: boot.hi };
    }));
  const pairedTable: Table = {
    title: `(b2) p99 at ${RATE.rate} req/s paired by pass: runs with the lower p99, median of (path - peer) with its ` +
      'distribution-free 95% interval (>= 6 runs), two-sided sign test (ties dropped); pooled p99 of those passes ' +
      '(path - peer) with a 95% bootstrap interval over passes',
    columns: ['path', 'vs', 'runs', 'path lower', 'ties', 'median diff us', 'CI lo', 'CI hi', 'sign test p',
      'pooled diff us', 'boot lo', 'boot hi'],
    rows: paired.map((x) => [x.path, x.peer, x.runs, x.lower, x.ties, x.median_diff_us, x.ci_lo_us, x.ci_hi_us, x.sign_p.toPrecision(2),
      x.pooled_diff_us, x.pooled_ci_lo_us, x.pooled_ci_hi_us]),
  };
  const bulk: Table = {
    title: `(c) bulk: ${BULK.conns} conns streaming responder -> loadgen`,
    columns: ['path', 'MiB/s', 'x direct', 'proxy cpu%', 'proxy us/MiB', 'errors'],
    rows: paths.filter((p) => has(p, 'bulk')).map((p) => [
      p,
      med(p, 'bulk', (s) => s.lg.mib_s_in),
      med(p, 'bulk', (s) => s.lg.mib_s_in) / dir('bulk', (s) => s.lg.mib_s_in),
      proxyCol(p, med(p, 'bulk', (s) => (100 * s.proxyCpuUs) / 1e6 / secs(s))),
      proxyCol(p, med(p, 'bulk', (s) => (s.lg.bytes_in ? s.proxyCpuUs / (s.lg.bytes_in / 1048576) : NaN))),
      sum(p, 'bulk', (s) => s.lg.errors),
    ]),
  };
  const primary: Table = {
    title: '(d) primary figure: proxy CPU time per request (utime+stime of the proxy, all threads/processes, / requests)',
    columns: ['path', 'closed-loop us/req', 'at 5000 req/s us/req', 'x haproxy', 'x nginx'],
    rows: paths.filter((p) => p !== 'direct' && has(p, 'closed')).map((p) => {
      const v = med(p, 'closed', perReq);
      return [p, v, med(p, 'rate', perReq),
        has('haproxy', 'closed') ? v / med('haproxy', 'closed', perReq) : NaN,
        has('nginx', 'closed') ? v / med('nginx', 'closed', perReq) : NaN];
    }),
  };
  notes.push('pinning: ' + (o.loadgenCpu >= 0 ? `loadgen on cpu${o.loadgenCpu}, proxy + responder on cpu${o.serverCpu}` : 'none'));
  notes.push('proxy us/req is the figure to compare proxies by; req/s ratios on a shared server CPU mostly reflect it.');
  const tables = [closed, rate, ...(paired.length ? [pairedTable] : []), bulk, primary];
  return {
    tables,
    notes,
    chart: chartOf(paths, has, med, perReq, o),
    data: {
      config: { req_bytes: REQ, resp_bytes: RESP, closed: CLOSED, rate: RATE, bulk: BULK },
      proxy_commands: cmds,
      // quantiles of the merged histograms; each run's own histogram is in samples[].lg.hist
      rate_pooled: Object.fromEntries(pooled),
      rate_paired: paired,
      samples: samples.map((s) => ({ ...s, proxy_us_per_req: s.lg.requests ? s.proxyCpuUs / s.lg.requests : null })),
      tables,
    },
  };
}

/**
 * The chart: the primary figure (proxy CPU per request, closed loop) when that mode ran, else
 * the fixed-rate p99 or the bulk throughput, with direct beside the proxies where it applies.
 */
function chartOf(paths: PathName[], has: (p: PathName, m: Mode) => boolean, med: (p: PathName, m: Mode, f: (s: Sample) => number) => number,
  perReq: (s: Sample) => number, o: BenchOptions): BarChart | undefined {
  const setup = `${o.loadgenCpu >= 0 ? 'pinned' : 'unpinned'}, tcp cc ${tcpCongestionControl()}`;
  const series = (m: Mode, f: (s: Sample) => number, withDirect: boolean) =>
    paths.filter((p) => has(p, m) && (withDirect || p !== 'direct')).map((p) => ({ name: p, values: [med(p, m, f)], color: PATH_COLORS[p] }));
  if (paths.some((p) => p !== 'direct' && has(p, 'closed'))) {
    return {
      title: `tcp: proxy CPU per request, closed loop, ${CLOSED.conns} conns (lower is better)`,
      axis: 'proxy CPU µs per request (median of runs)',
      groups: [setup],
      series: series('closed', perReq, false),
    };
  }
  if (paths.some((p) => has(p, 'rate'))) {
    return {
      title: `tcp: p99 latency at ${RATE.rate} req/s (lower is better)`,
      axis: 'p99 µs (median of runs)',
      groups: [setup],
      series: series('rate', (s) => s.lg.p99_us, true),
    };
  }
  if (paths.some((p) => has(p, 'bulk'))) {
    return {
      title: `tcp: bulk throughput, ${BULK.conns} streaming conns (higher is better)`,
      axis: 'MiB/s (median of runs)',
      groups: [setup],
      series: series('bulk', (s) => s.lg.mib_s_in, true),
    };
  }
  return undefined;
}
