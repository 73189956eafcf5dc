/** The overload manager's plan (from a validated config) and its transitions (a recording data plane stands in; the real one is in test/integration/overload.test.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig } from '../../src/config/validate';
import type { BootstrapCfg } from '../../src/config/types';
import type { DataPlane, OverloadActions } from '../../src/dataplane/types';
import { OverloadManager, overloadPlan } from '../../src/overload/manager';
import { ControlStats } from '../../src/stats/control-stats';
import { silentLogging } from '../../src/util/log';
import { baseConfig } from '../config/helpers';

const HEAP = 'envoy.resource_monitors.fixed_heap';

function cfg(om: unknown): BootstrapCfg {
  const c = baseConfig();
  c.overload_manager = om;
  const r = validateConfig(c);
  assert.deepEqual(r.errors, []);
  return (r as { config: BootstrapCfg }).config;
}

const heap = { name: HEAP, typed_config: { '@type': 'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig', max_heap_size_bytes: 1000 } };

test('overloadPlan: thresholds, scaled triggers at saturation, refresh interval; none without actions', () => {
  const plan = overloadPlan(cfg({
    refresh_interval: '0.25s',
    resource_monitors: [heap],
    actions: [
      { name: 'envoy.overload_actions.stop_accepting_connections', triggers: [{ name: HEAP, threshold: { value: 0.9 } }] },
      { name: 'envoy.overload_actions.reject_incoming_connections', triggers: [{ name: HEAP, scaled: { scaling_threshold: 0.8, saturation_threshold: 0.97 } }] },
    ],
  }));
  assert.deepEqual(plan, {
    refreshMs: 250,
    maxHeapBytes: 1000,
    actions: [
      { name: 'envoy.overload_actions.stop_accepting_connections', from: 0.9, at: 0.9 },
      { name: 'envoy.overload_actions.reject_incoming_connections', from: 0.8, at: 0.97 },
    ],
    resetMinBytes: undefined,
  });
  assert.equal(overloadPlan(cfg({ resource_monitors: [heap] })), undefined);
  assert.equal(overloadPlan(baseConfig()), undefined);
});

test('OverloadManager: actions go in force at their thresholds and are lifted below them, once per change', () => {
  const calls: OverloadActions[] = [];
  const dp = { setOverload: (a: OverloadActions) => calls.push({ ...a }) } as unknown as DataPlane;
  let rss = 100;
  const stats = new ControlStats();
  const m = new OverloadManager({ dp, log: silentLogging().child('overload'), stats, readRss: () => rss });
  m.configure({
    refreshMs: 60_000,
    maxHeapBytes: 1000,
    actions: [
      { name: 'envoy.overload_actions.stop_accepting_connections', from: 0.9, at: 0.9 },
      { name: 'envoy.overload_actions.reject_incoming_connections', from: 0.97, at: 0.97 },
    ],
  });
  assert.deepEqual(calls, [], 'nothing to change at 10%');
  rss = 900;
  m.tick();
  m.tick();
  assert.deepEqual(calls, [{ stopAccepting: true, rejectIncoming: false }]);
  assert.equal(stats.get('overload_heap_pressure_percent'), 90);
  assert.equal(stats.get('overload_stop_accepting_connections'), 1);
  rss = 990;
  m.tick();
  assert.deepEqual(calls.at(-1), { stopAccepting: true, rejectIncoming: true });
  rss = 500;
  m.tick();
  assert.deepEqual(calls.at(-1), { stopAccepting: false, rejectIncoming: false });
  assert.equal(stats.get('overload_reject_incoming_connections'), 0);
  rss = 950;
  m.tick();
  m.configure(undefined); // a reload without actions lifts what is in force
  assert.deepEqual(calls.slice(-2), [{ stopAccepting: true, rejectIncoming: false }, { stopAccepting: false, rejectIncoming: false }]);
  m.stop();
});

test('OverloadManager: reset_high_memory_stream resets smaller holders as the pressure goes from scaling to saturation', () => {
  const sheds: number[] = [];
  const dp = { setOverload: () => undefined, shed: (n: number) => sheds.push(n) } as unknown as DataPlane;
  let rss = 100;
  const stats = new ControlStats();
  const m = new OverloadManager({ dp, log: silentLogging().child('overload'), stats, readRss: () => rss });
  const plan = overloadPlan(cfg({
    resource_monitors: [heap],
    buffer_factory_config: { minimum_account_to_track_power_of_two: 20 },
    actions: [{ name: 'envoy.overload_actions.reset_high_memory_stream', triggers: [{ name: HEAP, scaled: { scaling_threshold: 0.8, saturation_threshold: 0.96 } }] }],
  }));
  assert.equal(plan!.resetMinBytes, 2 ** 20);
  m.configure(plan);
  assert.deepEqual(sheds, [], 'below the scaling threshold: nothing');
  rss = 800; // at the scaling threshold: only the top bucket, 2^27 bytes and more
  m.tick();
  rss = 880; // half way: 2^(20 + ceil(3.5)) = 2^24
  m.tick();
  rss = 960; // saturated: every tracked holder, 2^20 and more
  m.tick();
  m.tick(); // each measurement asks again while in force
  assert.deepEqual(sheds, [2 ** 27, 2 ** 24, 2 ** 20, 2 ** 20]);
  assert.equal(stats.get('overload_reset_high_memory_stream'), 1);
  rss = 500;
  m.tick();
  assert.equal(sheds.length, 4);
  assert.equal(stats.get('overload_reset_high_memory_stream'), 0);
  m.stop();
});
