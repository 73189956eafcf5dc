// Scenario `swap`: does applying a huge snapshot stall traffic? xmesh carries fixed-rate
// request/response load while a config with 10,000 clusters / 100,000 endpoints is swapped
// in by SIGHUP (and later swapped out again). Reports the latency tail of that run against a
// baseline run at the same rate without swaps, and how long each apply took.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { formatValue } from '../lib/chart';
import { ensureBuilt, runXload, startResponder, type XloadResult } from '../lib/loadgen';
import { startPath, stopPath, unavailable, type RunningPath } from '../lib/peers';
import { sleep, stop } from '../lib/procs';
import type { BenchOptions, Scenario, ScenarioResult, Table } from '../lib/types';

const CLUSTERS = 10_000;
const ENDPOINTS_PER_CLUSTER = 10;
const RATE = 5000;
const CONNS = 10;

function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    // agent: false: no keep-alive reuse. The admin server closes idle sockets after 5 s, and
    // a reused socket racing that close (likely while the main thread is busy with a big
    // config) fails with ECONNRESET.
    http
      .get(url, { agent: false }, (r) => {
        let b = '';
        r.setEncoding('utf8');
        r.on('data', (d) => (b += d));
        r.on('end', () => {
          try {
            resolve(JSON.parse(b));
          } catch (e) {
            reject(e);
          }
        });
      })
      .on('error', reject);
  });
}

interface StatJson {
  stats?: Array<{ name: string; value?: number }>;
  histograms?: Array<{ name: string; count: number; sum_ms?: number; quantiles_ms: Record<string, number | null> }>;
}

/** Snapshot version in force, from the cheap /listeners endpoint: polling /stats (hundreds
 * of thousands of host entries after the big swap) would itself load the proxy's CPU. */
async function snapshotVersion(admin: number): Promise<number> {
  const j = (await getJson(`http://127.0.0.1:${admin}/listeners?format=json`)) as { version?: number };
  return j.version ?? NaN;
}

/** Total native apply time so far (build + publish, ms): the sum of the data plane's own
 * swap-duration histogram. /stats walks every entry before filtering, so after the big swap
 * (800k entries) this costs the proxy ~2 s of CPU: read it only before the swaps and after
 * the measured run, never while it is being measured. */
async function nativeApplyMs(admin: number): Promise<number> {
  const j = (await getJson(`http://127.0.0.1:${admin}/stats?format=json&filter=${encodeURIComponent('^dataplane\\.snapshot_swap_duration')}`)) as StatJson;
  return (j.histograms ?? []).find((h) => h.name === 'dataplane.snapshot_swap_duration_ms')?.sum_ms ?? NaN;
}

/** The big config: the bench route plus CLUSTERS-1 clusters whose endpoints are loopback
 * addresses that no traffic is ever routed to. JSON is valid YAML, and quick to parse. */
function bigConfig(small: string): string {
  const admin = Number(/port_value: (\d+)/.exec(small)![1]);
  const listenPort = Number(/listeners:[\s\S]*?port_value: (\d+)/.exec(small)![1]);
  const upPort = Number(/clusters:[\s\S]*?port_value: (\d+)/.exec(small)![1]);
  const ep = (address: string, port: number) => ({ endpoint: { address: { socket_address: { address, port_value: port } } } });
  const clusters: unknown[] = [
    { name: 'up_swap', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'up_swap', endpoints: [{ lb_endpoints: [ep('127.0.0.1', upPort)] }] } },
  ];
  for (let i = 1; i < CLUSTERS; i++) {
    const eps = [];
    for (let j = 0; j < ENDPOINTS_PER_CLUSTER; j++) eps.push(ep(`127.${(i >> 8) & 255}.${i & 255}.${j + 1}`, 8000 + j));
    // A realistic mix of policies. Maglev gets a table sized for its 10 hosts (Envoy's
    // guidance: >= 100x hosts); 10,000 clusters with the 65,537-slot default would be 655M slots.
    const lb = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'ROUND_ROBIN', 'MAGLEV'][i % 10];
    const extra = lb === 'MAGLEV' ? { maglev_lb_config: { table_size: 1021 } } : {};
    clusters.push({ name: `svc-${i}`, type: 'STATIC', connect_timeout: '1s', lb_policy: lb, ...extra, load_assignment: { cluster_name: `svc-${i}`, endpoints: [{ lb_endpoints: eps }] } });
  }
  return JSON.stringify({
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: admin } } },
    static_resources: {
      listeners: [
        {
          name: 'swap',
          address: { socket_address: { address: '127.0.0.1', port_value: listenPort } },
          filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'swap', cluster: 'up_swap' } }] }],
        },
      ],
      clusters,
    },
  });
}

export const scenario: Scenario = {
  name: 'swap',
  description: `worst latency at ${RATE} req/s while a ${CLUSTERS}-cluster / ${CLUSTERS * ENDPOINTS_PER_CLUSTER}-endpoint snapshot is swapped in and out (xmesh only)`,
  defaults: { duration: 30, warmup: 1, runs: 1 },
  async run(o: BenchOptions): Promise<ScenarioResult> {
    ensureBuilt(o.log);
    const notes: string[] = [];
    const why = unavailable('xmesh');
    if (why) return { tables: [], data: {}, notes: [`xmesh unavailable: ${why}`] };
    const duration = Math.max(o.duration, 30);
    const resp = await startResponder({ reqSize: 128, respSize: 128, cpu: o.serverCpu, maxSeconds: 4 * duration + 120 }, path.join(o.workdir, 'xresp.log'));
    let p: RunningPath | undefined;
    const rows: Table['rows'] = [];
    const data: Record<string, unknown> = {};
    try {
      p = await startPath('xmesh', [{ name: 'swap', upstreamPort: resp.port }], { cpu: o.serverCpu, workdir: o.workdir });
      const cfgPath = path.join(o.workdir, 'xmesh.yaml');
      const small = fs.readFileSync(cfgPath, 'utf8');
      const admin = Number(/port_value: (\d+)/.exec(small)![1]);
      const big = bigConfig(small);
      const load = { target: `127.0.0.1:${p.ports.swap}`, conns: CONNS, rate: RATE, duration, warmup: o.warmup, reqSize: 128, respSize: 128, cpu: o.loadgenCpu };

      const base = await runXload(load, path.join(o.workdir, 'xload-baseline.log'));
      rows.push(['baseline (no swap)', base.rps.toFixed(0), base.p50_us, base.p99_us, base.p999_us, base.max_us, base.errors, '–']);

      const applies: number[] = [];
      let native0 = NaN;
      let swapDone: Promise<void> = Promise.resolve();
      let swapError: Error | undefined;
      const swapped = await runXload(load, path.join(o.workdir, 'xload-swap.log'), {
        onMeasureStart: () => {
          swapDone = (async () => {
            native0 = await nativeApplyMs(admin); // cheap: only the small config's entries exist
            await sleep(2000);
            for (const [label, text] of [['in', big], ['out', small]] as const) {
              const before = await snapshotVersion(admin);
              fs.writeFileSync(cfgPath, text);
              const t0 = Date.now();
              process.kill(p!.proc!.pid, 'SIGHUP');
              while (!((await snapshotVersion(admin)) > before)) {
                if (Date.now() - t0 > (duration - 4) * 1000) throw new Error(`swap ${label} did not finish in time`);
                await sleep(50);
              }
              applies.push(Date.now() - t0);
              o.log(`swap ${label}: config reload + apply took ${Date.now() - t0} ms`);
              await sleep(2000);
            }
          })().catch((e: Error) => {
            swapError = e;
          });
        },
      });
      await swapDone;
      if (swapError) notes.push(`swap failed: ${swapError.message}`);
      const nativeApplies = (await nativeApplyMs(admin)) - native0;
      const nativeSwap = (await getJson(`http://127.0.0.1:${admin}/stats?format=json&filter=${encodeURIComponent('^dataplane\\.')}`)) as StatJson;
      rows.push([`swap in + out (${applies.map((a) => `${a} ms`).join(', ')})`, swapped.rps.toFixed(0), swapped.p50_us, swapped.p99_us, swapped.p999_us, swapped.max_us, swapped.errors, applies.length]);
      data.baseline = base;
      data.swap = swapped;
      data.apply_ms = applies;
      data.native_apply_ms = nativeApplies;
      data.native_swap_stats = { stats: nativeSwap.stats, histograms: nativeSwap.histograms };
      const added = (a: XloadResult, b: XloadResult) => (b.max_us - a.max_us).toFixed(0);
      notes.push(`apply time = SIGHUP until the new snapshot version is in force (YAML/JSON parse, validation, translation, protobuf encode, native build, publish)`);
      notes.push(`native build + publish, both applies together (in + out): ${nativeApplies.toFixed(0)} ms (the data plane's swap-duration histogram sum, read before the swaps and after the run)`);
      notes.push(`worst latency added by the swaps: ${added(base, swapped)} us (max with swaps ${swapped.max_us} us vs baseline ${base.max_us} us)`);
    } finally {
      if (p) await stopPath(p);
      await stop(resp.proc);
    }
    const base = data.baseline as XloadResult | undefined;
    const swapped = data.swap as XloadResult | undefined;
    const q = (r: XloadResult | undefined) => (r ? [r.p50_us, r.p99_us, r.p999_us, r.max_us] : [null, null, null, null]);
    return {
      chart: base || swapped ? {
        title: `swap: latency at ${RATE} req/s while a ${formatValue(CLUSTERS)}-cluster config swaps in and out (xmesh)`,
        axis: 'latency µs (log scale)',
        scale: 'log',
        groups: ['p50', 'p99', 'p99.9', 'max'],
        series: [{ name: 'no swap (baseline)', values: q(base) }, { name: 'swap in + out', values: q(swapped) }],
      } : undefined,
      tables: [
        {
          title: `xmesh at ${RATE} req/s (${CONNS} conns, 128 B / 128 B, open loop, latency in us from the scheduled send time)`,
          columns: ['run', 'req/s', 'p50', 'p99', 'p99.9', 'max', 'errors', 'swaps'],
          rows,
        },
      ],
      data,
      notes,
    };
  },
};
