/** Envoy's /server_info, /memory, /reset_counters and /quitquitquit on a real admin socket. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AdminServer, HOT_RESTART_VERSION, type AdminSource } from '../../src/admin/server';
import type { NativeStat } from '../../src/dataplane/types';
import { silentLogging } from '../../src/util/log';

let live = false;
let shutting = false;
let quits = 0;
const stats: NativeStat[] = [
  { type: 'counter', key: 'cluster.{cluster=backend}.upstream_cx_total', value: 7 },
  { type: 'gauge', key: 'cluster.{cluster=backend}.host.{host=127.0.0.1:9001}.cx_active', value: 3 },
  { type: 'counter', key: 'cluster.{cluster=backend}.host.{host=127.0.0.1:9001}.rq_total', value: 40 },
];
const source: AdminSource = {
  isLive: () => live,
  shuttingDown: () => shutting,
  stats: () => stats,
  info: () => undefined,
  snapshot: () => ({ version: 1, listeners: [], clusters: [{ name: 'backend', endpoints: [{ address: { address: '127.0.0.1', port: 9001 } }] }] }),
  configDump: () => ({}),
};
const admin = new AdminServer({ address: '127.0.0.1', port: 0, source, logging: silentLogging(), onQuit: () => quits++, version: 'xmesh/9.9.9', commandLine: { config: 'x.yaml', concurrency: 2 } });
const bare = new AdminServer({ address: '127.0.0.1', port: 0, source, logging: silentLogging() });
let base = '';
let bareBase = '';

before(async () => {
  base = `http://127.0.0.1:${(await admin.start()).port}`;
  bareBase = `http://127.0.0.1:${(await bare.start()).port}`;
});
after(async () => {
  await admin.close();
  await bare.close();
});

async function json(path: string): Promise<any> {
  const r = await fetch(base + path);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  return r.json();
}

test('/server_info: version, uptime, options, and the state through start, health-check failure and shutdown', async () => {
  const states: string[] = [];
  live = false;
  states.push((await json('/server_info')).state);
  live = true;
  const info = await json('/server_info');
  states.push(info.state);
  assert.equal(info.version, 'xmesh/9.9.9');
  assert.equal(info.hot_restart_version, HOT_RESTART_VERSION);
  assert.deepEqual(info.command_line_options, { config: 'x.yaml', concurrency: 2 });
  assert.match(info.uptime_current_epoch, /^\d+s$/);
  assert.equal(info.uptime_all_epochs, info.uptime_current_epoch);
  await fetch(`${base}/healthcheck/fail`, { method: 'POST' });
  states.push((await json('/server_info')).state);
  await fetch(`${base}/healthcheck/ok`, { method: 'POST' });
  states.push((await json('/server_info')).state);
  shutting = true;
  states.push((await json('/server_info')).state);
  shutting = false;
  assert.deepEqual(states, ['PRE_INITIALIZING', 'LIVE', 'DRAINING', 'LIVE', 'DRAINING']);
});

test('/memory: RSS from /proc/self/statm and V8 heap figures, in bytes', async () => {
  const m = await json('/memory');
  for (const k of ['total_physical_bytes', 'virtual_bytes', 'heap_size', 'allocated', 'external', 'array_buffers']) assert.equal(typeof m[k], 'number', k);
  // statm's resident pages agree with what node reads for RSS (within what the process allocates meanwhile)
  const rss = process.memoryUsage.rss();
  assert.ok(Math.abs(m.total_physical_bytes - rss) < 64 << 20, `${m.total_physical_bytes} vs ${rss}`);
  assert.ok(m.virtual_bytes >= m.total_physical_bytes);
});

test('POST /reset_counters: counters count from zero in /stats, /stats/prometheus and /clusters; gauges are untouched', async () => {
  assert.equal((await fetch(`${base}/reset_counters`, { method: 'POST' })).status, 200);
  stats[0] = { ...stats[0], value: 9 } as NativeStat;
  const text = await (await fetch(`${base}/stats`)).text();
  assert.match(text, /^cluster\.backend\.upstream_cx_total: 2$/m);
  assert.match(text, /^cluster\.backend\.host\.127\.0\.0\.1:9001\.cx_active: 3$/m);
  assert.match(text, /^cluster\.backend\.host\.127\.0\.0\.1:9001\.rq_total: 0$/m);
  assert.match(await (await fetch(`${base}/stats/prometheus`)).text(), /^xmesh_cluster_upstream_cx_total\{cluster="backend"\} 2$/m);
  assert.match(await (await fetch(`${base}/clusters`)).text(), /^backend::127\.0\.0\.1:9001::rq_total::0$/m);
  // another admin server over the same source is not affected: the stats block is not reset
  assert.match(await (await fetch(`${bareBase}/stats`)).text(), /^cluster\.backend\.upstream_cx_total: 9$/m);
  assert.equal((await fetch(`${base}/reset_counters`)).status, 405, 'GET does not reset');
});

test('POST /quitquitquit answers OK, then asks the process to stop; without a stop hook it is 501', async () => {
  const r = await fetch(`${base}/quitquitquit`, { method: 'POST' });
  assert.deepEqual([r.status, await r.text()], [200, 'OK\n']);
  const deadline = Date.now() + 2000;
  while (quits === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
  assert.equal(quits, 1);
  assert.equal((await fetch(`${bareBase}/quitquitquit`, { method: 'POST' })).status, 501);
  assert.equal((await fetch(`${base}/quitquitquit`)).status, 405, 'GET does not stop it');
  assert.equal((await fetch(`${base}/quitquitquit`, { method: 'POST', headers: { origin: 'http://evil.example' } })).status, 403);
  assert.equal(quits, 1);
});
