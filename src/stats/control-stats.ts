/** Counters and gauges kept by the control core itself (reloads, DNS, snapshot pushes), exported beside native stats. */
import type { NativeStat } from '../dataplane/types';

export const CONTROL_COUNTERS = [
  'config_reload_ok',
  'config_reload_failed',
  'snapshot_apply_ok',
  'snapshot_apply_failed',
  'dns_resolutions',
  'dns_failures',
  'dns_changes',
] as const;
export type ControlCounter = (typeof CONTROL_COUNTERS)[number];

export const CONTROL_GAUGES = ['snapshot_version', 'live', 'uptime_seconds', 'overload_heap_pressure_percent', 'overload_stop_accepting_connections', 'overload_reject_incoming_connections', 'overload_reset_high_memory_stream'] as const;
export type ControlGauge = (typeof CONTROL_GAUGES)[number];

/** Keys are `server.<name>` (Envoy puts process-level stats under `server.`). */
export class ControlStats {
  private readonly counters = new Map<ControlCounter, number>(CONTROL_COUNTERS.map((c) => [c, 0]));
  private readonly gauges = new Map<ControlGauge, number>(CONTROL_GAUGES.map((g) => [g, 0]));
  private readonly startedAt = Date.now();

  inc(c: ControlCounter, by = 1): void {
    this.counters.set(c, (this.counters.get(c) ?? 0) + by);
  }
  set(g: ControlGauge, v: number): void {
    this.gauges.set(g, v);
  }
  get(name: ControlCounter | ControlGauge): number {
    return this.counters.get(name as ControlCounter) ?? this.gauges.get(name as ControlGauge) ?? 0;
  }

  toStats(): NativeStat[] {
    this.gauges.set('uptime_seconds', Math.floor((Date.now() - this.startedAt) / 1000));
    return [
      ...[...this.counters].map(([k, value]): NativeStat => ({ type: 'counter', key: `server.${k}`, value })),
      ...[...this.gauges].map(([k, value]): NativeStat => ({ type: 'gauge', key: `server.${k}`, value })),
    ];
  }
}
