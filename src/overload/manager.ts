/**
 * Envoy's overload manager, as far as xmesh applies it: the fixed_heap resource monitor
 * (measured as the process's resident memory: native buffers, the JavaScript heap and
 * stacks together), the connection actions stop_accepting_connections and
 * reject_incoming_connections, and reset_high_memory_stream (client connections holding the
 * largest unfinished input are reset), which the data plane applies (the global downstream
 * connection limit is a snapshot value: translate.ts).
 */
import { durationMs } from '../config/durations';
import { FIXED_HEAP_MONITOR, RESET_HIGH_MEMORY, type BootstrapCfg, type OverloadActionName, type OverloadManagerCfg } from '../config/types';
import type { DataPlane, OverloadActions } from '../dataplane/types';
import type { ControlStats } from '../stats/control-stats';
import type { Logger } from '../util/log';

/** What each binary action sets in the data plane. */
const ACTION_FLAG: Partial<Record<OverloadActionName, keyof OverloadActions>> = {
  'envoy.overload_actions.stop_accepting_connections': 'stopAccepting',
  'envoy.overload_actions.reject_incoming_connections': 'rejectIncoming',
};
/** Envoy's buffer accounts fall in 8 buckets of powers of two from the configured minimum. */
const RESET_BUCKETS = 8;
/** Envoy's default refresh_interval. */
export const DEFAULT_REFRESH_MS = 1000;

/** What the manager does, read from a validated bootstrap. */
export interface OverloadPlan {
  refreshMs: number;
  maxHeapBytes: number;
  /** Each action: from the pressure `from` (0..1) it starts to act, at `at` it is saturated.
   * A binary action is in force from `at`; reset_high_memory_stream acts from `from`, on
   * smaller holders as the pressure nears `at`. */
  actions: Array<{ name: OverloadActionName; from: number; at: number }>;
  /** reset_high_memory_stream: 2^minimum_account_to_track_power_of_two, the smallest holder it resets. */
  resetMinBytes?: number;
}

interface TriggerCfg {
  name?: string;
  threshold?: { value?: number };
  scaled?: { scaling_threshold?: number; saturation_threshold?: number };
}

/** The plan of a validated config; undefined when no action is configured. */
export function overloadPlan(cfg: BootstrapCfg): OverloadPlan | undefined {
  const om = cfg.overload_manager as
    | (OverloadManagerCfg & { actions?: Array<{ name: string; triggers?: TriggerCfg[] }>; buffer_factory_config?: { minimum_account_to_track_power_of_two?: number } })
    | undefined;
  const heap = om?.resource_monitors?.find((m) => m.name === FIXED_HEAP_MONITOR)?.typed_config as { max_heap_size_bytes?: number | string } | undefined;
  if (!om?.actions?.length || !heap?.max_heap_size_bytes) return undefined;
  return {
    refreshMs: om.refresh_interval !== undefined ? durationMs(om.refresh_interval, DEFAULT_REFRESH_MS) : DEFAULT_REFRESH_MS,
    maxHeapBytes: Number(heap.max_heap_size_bytes),
    actions: om.actions.map((a) => {
      const t = a.triggers![0];
      // A binary action is in force once its trigger fires: at the threshold, or for a
      // scaled trigger at saturation (Envoy's rule for actions that cannot scale).
      const at = t.threshold?.value ?? t.scaled?.saturation_threshold ?? 1;
      return { name: a.name as OverloadActionName, from: t.scaled?.scaling_threshold ?? at, at };
    }),
    resetMinBytes: om.buffer_factory_config?.minimum_account_to_track_power_of_two !== undefined ? 2 ** om.buffer_factory_config.minimum_account_to_track_power_of_two : undefined,
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
  private shedding = false;

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
    let shedding = false;
    for (const a of plan.actions) {
      const flag = ACTION_FLAG[a.name];
      if (flag) {
        if (pressure >= a.at) want[flag] = true;
      } else if (a.name === RESET_HIGH_MEMORY && plan.resetMinBytes && pressure >= a.from) {
        // As the pressure goes from `from` to `at`, reset smaller and smaller holders: at
        // `from` only the top bucket (2^(n+7) bytes and more), at `at` every tracked one.
        const scale = a.at > a.from ? Math.min(1, (pressure - a.from) / (a.at - a.from)) : 1;
        const min = plan.resetMinBytes * 2 ** Math.ceil((1 - scale) * (RESET_BUCKETS - 1));
        this.opts.dp.shed(min);
        shedding = true;
        if (!this.shedding) this.opts.log.warn({ minBytes: min, rssMiB: Math.round(rss / 1048576) }, `overload: resetting client connections holding ${min} bytes of unfinished input or more`);
      }
    }
    if (this.shedding && !shedding) this.opts.log.info('overload: no longer resetting connections');
    this.shedding = shedding;
    this.opts.stats.set('overload_reset_high_memory_stream', shedding ? 1 : 0);
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
