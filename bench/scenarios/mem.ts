// Scenario `mem`: resident memory of a proxy idle and holding N idle proxied connections;
// reports bytes per connection pair (downstream + upstream) from the VmRSS delta.
import * as path from 'node:path';
import { formatValue } from '../lib/chart';
import { ensureBuilt, runXload, startResponder } from '../lib/loadgen';
import { ALL_PATHS, hardNofile, PATH_COLORS, PathName, RunningPath, startPath, stopPath, unavailable } from '../lib/peers';
import { cpuUsExact, ctxSwitches, rssBytes } from '../lib/procfs';
import { sleep, stop } from '../lib/procs';
import type { BenchOptions, Scenario, ScenarioResult, Table } from '../lib/types';

const WANT_CONNS = 10_000;
const SETTLE_MS = 1000;
/** window over which wakeups and CPU of the idle proxy are counted */
const WAKE_MS = 3000;

interface MemSample {
  path: PathName;
  conns: number;
  answered: number;
  idleRss: number;
  loadedRss: number;
  bytesPerConn: number;
  /** context switches/s and CPU µs/s of the proxy over WAKE_MS, without and with the conns */
  idleWakeups: number;
  loadedWakeups: number;
  idleCpu: number;
  loadedCpu: number;
}

/** How often pid is scheduled, and what it burns, while nothing happens. */
async function idleCost(pid: number): Promise<{ wakeups: number; cpu: number }> {
  const c0 = ctxSwitches(pid);
  const u0 = cpuUsExact(pid);
  await sleep(WAKE_MS);
  return { wakeups: ((ctxSwitches(pid) - c0) * 1000) / WAKE_MS, cpu: ((cpuUsExact(pid) - u0) * 1000) / WAKE_MS };
}

export const scenario: Scenario = {
  name: 'mem',
  description: `RSS idle and with ${WANT_CONNS} idle proxied connections (bytes per connection pair); xmesh vs haproxy vs nginx`,
  defaults: { duration: 3, warmup: 0, runs: 1 },
  async run(o: BenchOptions): Promise<ScenarioResult> {
    ensureBuilt(o.log);
    const notes: string[] = [];
    // every proxied connection costs the proxy two fds; without CAP_SYS_RESOURCE the hard
    // RLIMIT_NOFILE caps what we can ask for
    const hard = hardNofile();
    const conns = o.quick ? 1000 : Math.min(WANT_CONNS, Math.floor((hard - 256) / 2));
    if (conns < WANT_CONNS && !o.quick) notes.push(`RLIMIT_NOFILE hard limit ${hard} (no CAP_SYS_RESOURCE to raise it): ${conns} connections instead of ${WANT_CONNS}`);
    const wanted = (o.paths.length ? o.paths : ALL_PATHS.filter((p) => p !== 'direct' && p !== 'xmesh-cubic')) as PathName[];
    const paths = wanted.filter((p) => {
      const why = p === 'direct' ? 'nothing to measure without a proxy' : unavailable(p);
      if (why) notes.push(`path ${p} skipped: ${why}`);
      return !why;
    });
    const bound = paths.length * (o.duration + 120) + 60;
    const resp = await startResponder({ reqSize: 16, respSize: 16, cpu: o.serverCpu, maxSeconds: bound }, path.join(o.workdir, 'xresp.log'));
    const samples: MemSample[] = [];
    try {
      for (const name of paths) {
        let p: RunningPath;
        try {
          p = await startPath(name, [{ name: 'mem', upstreamPort: resp.port }], { cpu: o.serverCpu, workdir: o.workdir, maxConns: conns });
        } catch (e) {
          notes.push(`${name}: did not start: ${(e as Error).message}`);
          continue;
        }
        try {
          const pid = p.proc!.pid;
          await sleep(SETTLE_MS);
          const idleRss = rssBytes(pid);
          const idle = await idleCost(pid);
          let loadedRss = 0;
          let loaded = { wakeups: NaN, cpu: NaN };
          let answered = 0;
          // the connections stay open while the RSS settles and the wakeup window runs
          const duration = Math.max(o.duration, Math.ceil((SETTLE_MS + WAKE_MS) / 1000) + 1);
          const lg = await runXload(
            { target: `127.0.0.1:${p.ports.mem}`, conns, idle: true, duration, reqSize: 16, respSize: 16, cpu: o.loadgenCpu },
            path.join(o.workdir, `xload-mem-${name}.log`),
            {
              onReady: async (s) => {
                const ready = s.lines.find((l) => l.includes('"ready"'));
                answered = ready ? (JSON.parse(ready) as { answered: number }).answered : 0;
                await sleep(SETTLE_MS);
                loadedRss = rssBytes(pid);
                loaded = await idleCost(pid);
              },
            },
          );
          if (answered < conns) notes.push(`${name}: only ${answered} of ${conns} connections completed an exchange`);
          const s: MemSample = {
            path: name, conns, answered, idleRss, loadedRss, bytesPerConn: (loadedRss - idleRss) / Math.max(1, answered),
            idleWakeups: idle.wakeups, loadedWakeups: loaded.wakeups, idleCpu: idle.cpu, loadedCpu: loaded.cpu,
          };
          samples.push(s);
          o.log(`${name}: idle ${(idleRss / 1048576).toFixed(1)} MiB, with ${answered} conns ${(loadedRss / 1048576).toFixed(1)} MiB, ` +
            `${s.bytesPerConn.toFixed(0)} B/conn pair, wakeups/s ${s.idleWakeups.toFixed(1)} idle, ${s.loadedWakeups.toFixed(1)} with conns ` +
            `(errors ${lg.errors})`);
        } catch (e) {
          notes.push(`${name}: ${(e as Error).message}`);
        } finally {
          await stopPath(p);
        }
      }
    } finally {
      await stop(resp.proc);
    }
    const table: Table = {
      title: `idle RSS and RSS with ${conns} idle proxied connections (each did one 16 B exchange first)`,
      columns: ['path', 'conns', 'idle RSS MiB', 'loaded RSS MiB', 'delta MiB', 'bytes/conn pair', 'wakeups/s idle', 'wakeups/s w/ conns',
        'cpu us/s idle', 'cpu us/s w/ conns'],
      rows: samples.map((s) => [s.path, s.answered, s.idleRss / 1048576, s.loadedRss / 1048576, (s.loadedRss - s.idleRss) / 1048576, Math.round(s.bytesPerConn),
        s.idleWakeups, s.loadedWakeups, s.idleCpu, s.loadedCpu]),
    };
    notes.push('RSS is VmRSS of the proxy process plus its direct children (nginx master + worker); kernel socket buffers are not in RSS.');
    notes.push(`wakeups/s = context switches of all the proxy's threads (and children) over ${WAKE_MS / 1000} s with no traffic, before and while the ` +
      `connections are open; cpu us/s = its CPU time over the same window (per-thread schedstat, ns).`);
    const chart = {
      title: 'mem: memory per idle proxied connection pair (lower is better)',
      axis: 'bytes per connection pair (ΔRSS ÷ connections)',
      groups: [`${formatValue(samples[0]?.answered ?? conns)} idle connection pairs`],
      series: samples.map((s) => ({ name: s.path, values: [Math.round(s.bytesPerConn)], color: PATH_COLORS[s.path] })),
    };
    return { tables: [table], notes, data: { conns, samples }, chart };
  },
};
