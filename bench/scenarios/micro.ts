// Scenario `micro`: runs every suite in bench/micro/ with tinybench (in-process, no network).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Bench } from 'tinybench';
import type { MicroSuite } from '../micro/suite';
import type { BenchOptions, Scenario, ScenarioResult, Table } from '../lib/types';

export const scenario: Scenario = {
  name: 'micro',
  description: 'tinybench micro benchmarks from bench/micro/ (snapshot protobuf encode/decode of 10,000 clusters)',
  defaults: { duration: 3, warmup: 0.5, runs: 1 },
  async run(o: BenchOptions): Promise<ScenarioResult> {
    const dir = path.join(__dirname, '..', 'micro');
    const bench = new Bench({ time: o.duration * 1000, warmupTime: o.warmup * 1000, iterations: 5 });
    const info = new Map<string, Record<string, number | string>>();
    for (const f of fs.readdirSync(dir).sort()) {
      if (!f.endsWith('.js') || f === 'suite.js') continue;
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(path.join(dir, f)) as { suite?: MicroSuite };
      if (!mod.suite) continue;
      const prefix = mod.suite.name;
      await mod.suite.setup((name, fn, extra) => {
        bench.add(`${prefix}: ${name}`, fn);
        info.set(`${prefix}: ${name}`, extra ?? {});
      });
    }
    o.log(`micro: ${bench.tasks.length} tasks, ~${o.duration}s each`);
    await bench.run();
    const rows = bench.tasks.map((t) => {
      const r = t.result;
      if (!r || r.error) return [t.name, '-', '-', '-', '-', '-', String(r?.error ?? 'no result')];
      const extra = info.get(t.name) ?? {};
      const bytes = typeof extra.bytes === 'number' ? extra.bytes : NaN;
      return [t.name, r.throughput.mean, r.latency.mean, r.latency.p99 ?? NaN, r.latency.rme, r.latency.samples.length,
        Number.isFinite(bytes) ? `${bytes} B, ${((bytes / 1048576) / (r.latency.mean / 1000)).toFixed(0)} MiB/s` : ''];
    });
    const table: Table = {
      title: 'tinybench (latency in ms per operation)',
      columns: ['task', 'ops/s', 'mean ms', 'p99 ms', 'rme %', 'samples', 'size, speed'],
      rows,
    };
    const done = bench.tasks.filter((t) => t.result && !t.result.error);
    const chart = {
      title: 'micro: time per operation (lower is better)',
      axis: 'mean ms per operation',
      groups: done.map((t) => t.name),
      series: [{ name: 'mean', values: done.map((t) => t.result!.latency.mean) }],
    };
    return { tables: [table], notes: [`node ${process.version}`], data: { tasks: rows }, chart };
  },
};
