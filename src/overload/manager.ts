/**
 * Envoy's overload manager, as far as xmesh applies it: the fixed_heap resource monitor
 * (measured as the process's resident memory: native buffers, the JavaScript heap and
 * stacks together) and the connection actions stop_accepting_connections and
 * reject_incoming_connections, which the data plane applies (the global downstream
 * connection limit is a snapshot value: translate.ts).
 */
import { durationMs } from '../config/durations';
import { FIXED_HEAP_MONITOR, type BootstrapCfg, type OverloadActionName, type OverloadManagerCfg } from '../config/types';
import type { DataPlane, OverloadActions } from '../dataplane/types';
import type { ControlStats } from '../stats/control-stats';
import type { Logger } from '../util/log';

/** What each action sets in the data plane. */
const ACTION_FLAG: Record<OverloadActionName, keyof OverloadActions> = {
  'envoy.overload_actions.stop_accepting_connections': 'stopAccepting',
  'envoy.overload_actions.reject_incoming_connections': 'rejectIncoming',
};
/** Envoy's default refresh_interval. */
export const DEFAULT_REFRESH_MS = 1000;

/** What the manager does, read from a validated bootstrap. */
export interface OverloadPlan {
  refreshMs: number;
  maxHeapBytes: number;
  /** Each action and the heap pressure (0..1) at which it is in force. */
  actions: Array<{ name: OverloadActionName; at: number }>;
}

interface TriggerCfg {
  name?: string;
  threshold?: { value?: number };
  scaled?: { scaling_threshold?: number; saturation_threshold?: number };
}

/** The plan of a validated config; undefined when no action is configured. */
export function overloadPlan(cfg: BootstrapCfg): OverloadPlan | undefined {
  const om = cfg.overload_manager as (OverloadManagerCfg & { actions?: Array<{ name: string; triggers?: TriggerCfg[] }> }) | undefined;
  const heap = om?.resource_monitors?.find((m) => m.name === FIXED_HEAP_MONITOR)?.typed_config as { max_heap_size_bytes?: number | string } | undefined;
  if (!om?.actions?.length || !heap?.max_heap_size_bytes) return undefined;
  return {
    refreshMs: om.refresh_interval !== undefined ? durationMs(om.refresh_interval, DEFAULT_REFRESH_MS) : DEFAULT_REFRESH_MS,
    maxHeapBytes: Number(heap.max_heap_size_bytes),
    actions: om.actions.map((a) => {
      const t = a.triggers![0];
      // A binary action is in force once its trigger fires: at the threshold, or for a
      // scaled trigger at saturation (Envoy's rule for actions that cannot scale).
      return { name: a.name as OverloadActionName, at: t.threshold?.value ?? t.scaled?.saturation_threshold ?? 1 };
    }),
  };
}

export interface OverloadManagerOptions {
  dp: DataPlane;
  log: Logger;
  stats: ControlStats;
  /** Resident bytes of the process (tests replace it). */
  readRss?: () => number;
}

export class OverloadManager {
  private plan: OverloadPlan | undefined;
  private timer: NodeJS.Timeout | undefined;
  private active: OverloadActions = { stopAccepting: false, rejectIncoming: false };

  constructor(private readonly opts: OverloadManagerOptions) {}

  /** Apply a (new) plan: undefined stops measuring and lifts every action in force. */
  configure(plan: OverloadPlan | undefined): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.plan = plan;
    if (!plan) {
      this.apply({ stopAccepting: false, rejectIncoming: false }, 0);
      return;
    }
    this.tick();
    this.timer = setInterval(() => this.tick(), plan.refreshMs);
    this.timer.unref();
  }

  /** Measure and put the actions the pressure calls for in force. */
  tick(): void {
    const plan = this.plan;
    if (!plan) return;
    const rss = (this.opts.readRss ?? (() => process.memoryUsage.rss()))();
    const pressure = rss / plan.maxHeapBytes;
    this.opts.stats.set('overload_heap_pressure_percent', Math.round(pressure * 100));
    const want: OverloadActions = { stopAccepting: false, rejectIncoming: false };
    for (const a of plan.actions) if (pressure >= a.at) want[ACTION_FLAG[a.name]] = true;
    this.apply(want, rss);
  }

  private apply(want: OverloadActions, rss: number): void {
    const was = this.active;
    if (was.stopAccepting === want.stopAccepting && was.rejectIncoming === want.rejectIncoming) return;
    this.active = want;
    this.opts.dp.setOverload(want);
    this.opts.stats.set('overload_stop_accepting_connections', want.stopAccepting ? 1 : 0);
    this.opts.stats.set('overload_reject_incoming_connections', want.rejectIncoming ? 1 : 0);
    const mib = (n: number) => Math.round(n / 1048576);
    const fields = { rssMiB: mib(rss), maxHeapMiB: this.plan ? mib(this.plan.maxHeapBytes) : undefined, ...want };
    if (want.stopAccepting || want.rejectIncoming) this.opts.log.warn(fields, `overload: ${describe(want)} (memory ${fields.rssMiB} MiB of ${fields.maxHeapMiB} MiB)`);
    else this.opts.log.info(fields, 'overload: actions lifted, accepting connections again');
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

function describe(a: OverloadActions): string {
  const parts: string[] = [];
  if (a.stopAccepting) parts.push('not accepting new connections');
  if (a.rejectIncoming) parts.push('closing incoming connections');
  return parts.join(', ');
}
