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
  if (a.cpu >= 0) argv.push('--cpu', String(a.cpu));
  return argv;
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
