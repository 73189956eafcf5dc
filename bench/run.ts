// The bench entry point: `npm run bench -- <scenario> [--duration S] [--runs N] [--quick] ...`.
// Scenarios are discovered from bench/scenarios/*.ts (each exports `scenario`), so a new
// benchmark is one new file. Prints tables, the exact command, and writes a JSON result, and
// the scenario's chart with the figures it shows (bench/results/<scenario>.svg and .json).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RESULTS_DIR, ROOT } from './lib/paths';
import { killAllSync, stopAll } from './lib/procs';
import { NETNS_ENV, runWithCongestionControl, tcpCongestionControl, wrappedBench } from './lib/netns';
import { writeFigures } from './lib/figures';
import { cpuModel } from './lib/procfs';
import { peerVersions } from './lib/peers';
import { renderTable } from './lib/report';
import type { BenchOptions, Scenario } from './lib/types';

function loadScenarios(): Map<string, Scenario> {
  const dir = path.join(__dirname, 'scenarios');
  const out = new Map<string, Scenario>();
  for (const f of fs.readdirSync(dir).sort()) {
    if (!f.endsWith('.js')) continue;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(path.join(dir, f)) as { scenario?: Scenario };
    if (mod.scenario) out.set(mod.scenario.name, mod.scenario);
  }
  return out;
}

const USAGE = `usage: npm run bench -- <scenario> [options]
options:
  --duration S     measured seconds per case
  --warmup S       unmeasured warm-up seconds per case
  --runs N         passes over all paths, 1-50 (tables show medians)
  --quick          short smoke pass: 2 s cases, 0.5 s warm-up, 1 run
  --paths a,b      subset of paths: direct,xmesh,xmesh-epoll,xmesh-cubic,haproxy,nginx
  --modes a,b      subset of modes (tcp: closed,rate,bulk), e.g. many runs of one figure
  --no-pin         do not pin with taskset (default: loadgen cpu0, proxy+responder cpu1)
  --cc NAME        run in a fresh network namespace (lo only, root) whose TCP congestion
                   control is NAME (e.g. cubic), the same for every path; default: the host's
  --save           write the JSON result to bench/results/ (default: a temp dir)
every run but a --quick one writes its chart and charted figures to bench/results/<scenario>.svg
and .json (replacing the previous ones); --quick writes them to the temp dir
scenarios:`;

interface Parsed {
  scenario: string;
  duration?: number;
  warmup?: number;
  runs?: number;
  quick: boolean;
  save: boolean;
  pin: boolean;
  paths: string[];
  modes: string[];
  cc?: string;
}

function parseArgs(argv: string[]): Parsed {
  const p: Parsed = { scenario: '', quick: false, save: false, pin: true, paths: [], modes: [] };
  const num = (flag: string, v: string | undefined, min: number, max: number) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min || n > max) throw new TypeError(`${flag}: want a number in [${min}, ${max}], got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--duration': p.duration = num(a, argv[++i], 0.1, 600); break;
      case '--warmup': p.warmup = num(a, argv[++i], 0, 60); break;
      case '--runs': p.runs = Math.floor(num(a, argv[++i], 1, 50)); break;
      case '--quick': p.quick = true; break;
      case '--save': p.save = true; break;
      case '--no-pin': p.pin = false; break;
      case '--paths': p.paths = (argv[++i] ?? '').split(',').filter(Boolean); break;
      case '--modes': p.modes = (argv[++i] ?? '').split(',').filter(Boolean); break;
      case '--cc':
        p.cc = argv[++i];
        if (!p.cc || !/^[a-z0-9_]+$/.test(p.cc)) throw new TypeError(`--cc: want a congestion control name, got ${p.cc}`);
        break;
      case '-h': case '--help': p.scenario = 'help'; break;
      default:
        if (a.startsWith('-') || p.scenario) throw new TypeError(`unexpected argument: ${a}`);
        p.scenario = a;
    }
  }
  return p;
}

async function main(): Promise<number> {
  const scenarios = loadScenarios();
  const usage = () => USAGE + '\n' + [...scenarios.values()].map((s) => `  ${s.name.padEnd(8)} ${s.description}`).join('\n');
  let args: Parsed;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n${usage()}`);
    return 2;
  }
  if (!args.scenario || args.scenario === 'help') {
    console.log(usage());
    return args.scenario ? 0 : 2;
  }
  const sc = scenarios.get(args.scenario);
  if (!sc) {
    console.error(`bench: unknown scenario "${args.scenario}"\n${usage()}`);
    return 2;
  }
  if (args.cc && !process.env[NETNS_ENV]) {
    // the same command again, inside a namespace of its own with that congestion control
    try {
      return await runWithCongestionControl(args.cc, process.argv[1], process.argv.slice(2), (m) => console.error(`[bench] ${m}`));
    } catch (e) {
      console.error(`bench: ${(e as Error).message}`);
      return 2;
    }
  }
  if (args.cc && tcpCongestionControl() !== args.cc) throw new Error(`--cc ${args.cc}: this namespace has ${tcpCongestionControl()}`);
  const pin = args.pin && os.cpus().length >= 2;
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), `xmesh-bench-${sc.name}-`));
  const quick = { duration: 2, warmup: 0.5, runs: 1 };
  const opts: BenchOptions = {
    duration: args.duration ?? (args.quick ? quick.duration : sc.defaults?.duration ?? 5),
    warmup: args.warmup ?? (args.quick ? quick.warmup : sc.defaults?.warmup ?? 1),
    runs: args.runs ?? (args.quick ? quick.runs : sc.defaults?.runs ?? 3),
    quick: args.quick,
    save: args.save,
    paths: args.paths,
    modes: args.modes,
    loadgenCpu: pin ? 0 : -1,
    serverCpu: pin ? 1 : -1,
    workdir,
    log: (m) => console.error(`[bench] ${m}`),
  };
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
  const started = new Date();
  const host = { kernel: os.release(), cpu: cpuModel(), ncpu: os.cpus().length, hostname: os.hostname(), tcpCongestionControl: tcpCongestionControl(), netns: process.env[NETNS_ENV] ?? '' };
  opts.log(`${sc.name}: ${command}`);
  opts.log(`  ${started.toISOString()} | ${host.ncpu} CPUs (${host.cpu}) | kernel ${host.kernel} | tcp cc ${host.tcpCongestionControl} | workdir ${workdir}`);
  opts.log(`  duration ${opts.duration}s + warm-up ${opts.warmup}s per case, ${opts.runs} run(s)`);

  const result = await sc.run(opts);

  console.log(`\n== bench ${sc.name} ${started.toISOString()} ==`);
  console.log(`command: ${command}   (= node ${path.relative(process.cwd(), process.argv[1]) || process.argv[1]} ${process.argv.slice(2).join(' ')})`);
  console.log(`host: ${host.ncpu} CPUs, ${host.cpu}, kernel ${host.kernel}, tcp congestion control ${host.tcpCongestionControl}${host.netns ? ` (network namespace ${host.netns})` : ''}`);
  for (const t of result.tables) console.log('\n' + renderTable(t));
  if (result.notes.length) console.log('\nnotes:\n' + result.notes.map((n) => `  - ${n}`).join('\n'));

  const outDir = opts.save ? RESULTS_DIR : workdir;
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${sc.name}-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  const record = {
    scenario: sc.name, date: started.toISOString(), command, host, versions: peerVersions(),
    options: { ...opts, log: undefined }, notes: result.notes, data: result.data,
  };
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  const shown = (f: string) => (path.relative(ROOT, f).startsWith('..') ? f : path.relative(ROOT, f));
  console.log(`\nresults: ${shown(file)}`);
  if (result.chart) {
    // A smoke pass is not a result: its chart stays out of bench/results/.
    const charted = writeFigures(opts.quick ? workdir : RESULTS_DIR, {
      scenario: sc.name,
      date: started.toISOString(),
      host: `${host.ncpu} CPUs (${host.cpu}), kernel ${host.kernel}, tcp congestion control ${host.tcpCongestionControl}` +
        (host.netns ? ' in a namespace of its own' : ''),
      commands: [command],
      chart: result.chart,
    });
    console.log(`chart: ${shown(charted.svg)} (figures: ${shown(charted.json)})`);
  }
  return 0;
}

let exiting = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    const inner = wrappedBench();
    if (inner) {
      inner.kill(sig); // it stops its own processes; the namespace is deleted when it exits
      return;
    }
    if (exiting) return;
    exiting = true;
    console.error(`[bench] ${sig}: stopping started processes`);
    void stopAll().finally(() => process.exit(130));
  });
}
process.on('exit', killAllSync);

main().then(
  async (code) => {
    await stopAll();
    process.exitCode = code;
  },
  async (e: Error) => {
    console.error(`bench: ${e.stack ?? e.message}`);
    await stopAll();
    process.exitCode = 1;
  },
);
