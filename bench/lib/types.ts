// The bench framework's contracts: what a scenario receives and what it hands back.
import type { BarChart } from './chart';

export interface BenchOptions {
  /** measured seconds per case */
  duration: number;
  /** warm-up seconds per case (traffic that is not measured) */
  warmup: number;
  /** passes over all paths; tables show medians */
  runs: number;
  quick: boolean;
  /** write results under bench/results/ instead of a temp dir */
  save: boolean;
  /** subset of paths (direct, xmesh, haproxy, nginx); empty = all */
  paths: string[];
  /** subset of a scenario's modes (tcp: closed, rate, bulk); empty = all */
  modes: string[];
  /** CPU for the load generator, and for the proxy + responder; -1 = no pinning */
  loadgenCpu: number;
  serverCpu: number;
  /** scratch dir for configs and logs of this invocation */
  workdir: string;
  log: (msg: string) => void;
}

export interface Table {
  title: string;
  columns: string[];
  rows: (string | number)[][];
}

export interface ScenarioResult {
  tables: Table[];
  /** raw per-run data and medians, written to the JSON results file */
  data: unknown;
  notes: string[];
  /** the scenario's headline figures, peers side by side: drawn into bench/results/<name>.svg */
  chart?: BarChart;
}

export interface Scenario {
  name: string;
  description: string;
  /** defaults this scenario prefers over the global ones (e.g. fewer runs) */
  defaults?: Partial<Pick<BenchOptions, 'duration' | 'warmup' | 'runs'>>;
  run(opts: BenchOptions): Promise<ScenarioResult>;
}
