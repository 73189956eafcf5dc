// The native load generator (bench/loadgen/xload) and responder (xresp): built on demand
// into bench/build/, started pinned, results parsed from their JSON lines.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BENCH_BUILD, LOADGEN_SRC } from './paths';
import { pinPrefix, start, stop, Started, waitLine } from './procs';

export const XLOAD = path.join(BENCH_BUILD, 'xload');
export const XRESP = path.join(BENCH_BUILD, 'xresp');

/** Rebuild bench/build/{xload,xresp} with `make` when missing or older than any source. */
export function ensureBuilt(log: (m: string) => void = () => {}): void {
  const srcs = fs.readdirSync(LOADGEN_SRC).map((f) => path.join(LOADGEN_SRC, f));
  const newest = Math.max(...srcs.map((f) => fs.statSync(f).mtimeMs));
  const stale = [XLOAD, XRESP].some((b) => !fs.existsSync(b) || fs.statSync(b).mtimeMs < newest);
  if (!stale) return;
  log(`building load generator: make -C ${path.relative(process.cwd(), LOADGEN_SRC) || '.'}`);
  execFileSync('make', ['-s', '-C', LOADGEN_SRC, `OUT=${BENCH_BUILD}`], { stdio: ['ignore', 'inherit', 'inherit'] });
}

export interface XloadResult {
  mode: string;
  conns: number;
  alive: number;
  requests: number;
  errors: number;
  reconnects: number;
  duration_s: number;
  rps: number;
  bytes_in: number;
  bytes_out: number;
  mib_s_in: number;
  mib_s_out: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  cpu_us: number;
  cpu_pct: number;
  /** with `hist: true`: the non-empty buckets of the latency histogram, [bucket index, count] */
  hist?: [number, number][];
  hist_max_ns?: number;
  /** churn mode: the budget, connections opened, and connect() calls refused at once */
  churn?: number;
  opened?: number;
  connect_errors?: number;
}

export interface XloadArgs {
  target: string; // 127.0.0.1:PORT
  conns: number;
  depth?: number;
  duration: number;
  warmup?: number;
  rate?: number;
  reqSize?: number;
  respSize?: number;
  reqFile?: string;
  framing?: string;
  bulk?: 'recv' | 'send';
  idle?: boolean;
  /** churn mode: open this many connections in all, `conns` at a time, one request each */
  churn?: number;
  /** ask xload for its histogram (`--hist`), to pool runs with mergeHists/histQuantile */
  hist?: boolean;
  cpu: number;
}

export function xloadArgv(a: XloadArgs): string[] {
  const argv = [XLOAD, '--connect', a.target, '--conns', String(a.conns), '--duration', String(a.duration)];
  if (a.depth) argv.push('--depth', String(a.depth));
  if (a.warmup) argv.push('--warmup', String(a.warmup));
  if (a.rate) argv.push('--rate', String(a.rate));
  if (a.reqFile) argv.push('--req-file', a.reqFile);
  else if (a.reqSize) argv.push('--req-size', String(a.reqSize));
  if (a.respSize) argv.push('--resp-size', String(a.respSize));
  if (a.framing) argv.push('--framing', a.framing);
  if (a.bulk) argv.push('--bulk', a.bulk);
  if (a.idle) argv.push('--idle');
  if (a.churn) argv.push('--churn', String(a.churn));
  if (a.hist) argv.push('--hist');
  if (a.cpu >= 0) argv.push('--cpu', String(a.cpu));
  return argv;
}

// xload's latency histogram (bench/loadgen/hist.h), ported so that runs can be pooled: the
// quantile of merged histograms is exactly what one xload run over all those samples would
// have printed. Keep in step with hist.h.
const HIST_SUB_BITS = 7;
const HIST_SUB = 1 << HIST_SUB_BITS;

export interface Hist {
  /** [bucket index, count], ascending index, counts > 0 */
  buckets: [number, number][];
  count: number;
  max_ns: number;
}

/** xb_hist_value: midpoint (ns) of bucket idx's value range. */
export function histValue(idx: number): number {
  if (idx < HIST_SUB) return idx;
  const shift = Math.floor(idx / HIST_SUB) - 1;
  const sub = idx % HIST_SUB;
  const width = 2 ** shift; // not <<: shifts reach 33
  return (HIST_SUB + sub) * width + (width - 1) / 2;
}

/** Sum counts bucket by bucket, max of maxes. Results without a histogram are skipped. */
export function mergeHists(rs: Pick<XloadResult, 'hist' | 'hist_max_ns'>[]): Hist {
  const sum = new Map<number, number>();
  let max = 0;
  for (const r of rs) {
    if (!r.hist) continue;
    for (const [i, n] of r.hist) sum.set(i, (sum.get(i) ?? 0) + n);
    max = Math.max(max, r.hist_max_ns ?? 0);
  }
  const buckets = [...sum.entries()].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
  return { buckets, count: buckets.reduce((a, [, n]) => a + n, 0), max_ns: max };
}

/** xb_hist_quantile: q in [0, 1] -> ns (NaN for an empty histogram, where xload prints 0). */
export function histQuantile(h: Hist, q: number): number {
  if (!h.count) return NaN;
  const rank = Math.min(Math.floor(q * h.count), h.count - 1);
  let seen = 0;
  for (const [i, n] of h.buckets) {
    seen += n;
    if (seen > rank) return Math.min(histValue(i), h.max_ns);
  }
  return h.max_ns;
}

export interface Hooks {
  /** called when xload starts its measured window (after connect + warm-up) */
  onMeasureStart?: () => void;
  /** idle mode: called once every connection answered; the returned promise ends the hold early */
  onReady?: (s: Started) => Promise<void>;
}

/** Run xload to completion (bounded by its own --duration plus a margin). */
export async function runXload(a: XloadArgs, logFile: string, hooks: Hooks = {}): Promise<XloadResult> {
  const s = start('xload', xloadArgv(a), logFile);
  const boundMs = ((a.warmup ?? 0) + a.duration + 45) * 1000;
  const killer = setTimeout(() => void stop(s), boundMs);
  try {
    if (hooks.onReady) {
      await waitLine(s, (l) => l.includes('"event":"ready"') || l.includes('"error"'), 60_000);
      await hooks.onReady(s);
    }
    if (hooks.onMeasureStart) {
      await waitLine(s, (l) => l.includes('"measure_start"') || l.includes('"error"'), boundMs);
      hooks.onMeasureStart();
    }
    const code = await s.exited;
    const line = [...s.lines].reverse().find((l) => l.startsWith('{'));
    if (!line) throw new Error(`xload printed nothing (exit ${code}; see ${logFile})`);
    const obj = JSON.parse(line) as XloadResult & { error?: string };
    if (obj.error) throw new Error(`xload: ${obj.error} (target ${a.target})`);
    if (code !== 0) throw new Error(`xload exited ${code} (see ${logFile})`);
    return obj;
  } finally {
    clearTimeout(killer);
    await stop(s);
  }
}

export interface Responder {
  proc: Started;
  port: number;
}

/** Start xresp on an ephemeral loopback port; resolves once it printed the port. */
export async function startResponder(
  opts: { reqSize?: number; respSize?: number; bulk?: 'sink' | 'source'; replyFile?: string; echoId?: string; cpu: number; maxSeconds: number },
  logFile: string,
): Promise<Responder> {
  const argv = [...pinPrefix(opts.cpu), XRESP, '--listen', '127.0.0.1:0', '--max-seconds', String(opts.maxSeconds)];
  if (opts.reqSize) argv.push('--req-size', String(opts.reqSize));
  if (opts.respSize) argv.push('--resp-size', String(opts.respSize));
  if (opts.bulk) argv.push('--bulk', opts.bulk);
  if (opts.replyFile) argv.push('--reply-file', opts.replyFile);
  if (opts.echoId) argv.push('--echo-id', opts.echoId);
  const proc = start('xresp', argv, logFile);
  const line = await waitLine(proc, (l) => l.includes('"port"'), 10_000);
  return { proc, port: (JSON.parse(line) as { port: number }).port };
}
