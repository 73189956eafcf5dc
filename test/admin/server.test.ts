import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, before, test } from 'node:test';
import parse from 'parse-prometheus-text-format';
import { AdminServer, HOT_RESTART_VERSION, type AdminSource } from '../../src/admin/server';
import type { DataPlaneInfo, NativeStat, SnapshotMsg } from '../../src/dataplane/types';
import { silentLogging } from '../../src/util/log';

const snapshot: SnapshotMsg = {
  version: 3,
  listeners: [{ name: 'demo', address: { address: '127.0.0.1', port: 0 } }],
  clusters: [{ name: 'backend', endpoints: [{ address: { address: '127.0.0.1', port: 9001 }, weight: 2, healthy: true }] }],
};
const info: DataPlaneInfo = { workers: 2, version: 3, statsPath: '', listeners: [{ name: 'demo', address: '127.0.0.1', port: 41234, fd: 9 }] };
const stats: NativeStat[] = [
  { type: 'counter', key: 'cluster.{cluster=backend}.upstream_cx_total', value: 7 },
  { type: 'gauge', key: 'cluster.{cluster=backend}.host.{host=127.0.0.1:9001}.cx_active', value: 1 },
  { type: 'gauge', key: 'cluster.{cluster=backend}.host.{host=127.0.0.1:9001}.healthy', value: 0 },
  { type: 'histogram', key: 'cluster.{cluster=backend}.upstream_cx_connect_ms', count: 2, sum: 3000, buckets: [[1000, 1], [2000, 1]] },
];

let live = false;
const logging = silentLogging();
const source: AdminSource = {
  isLive: () => live,
  stats: () => stats,
  info: () => (live ? info : undefined),
  snapshot: () => (live ? snapshot : undefined),
  configDump: () => ({ version: 3, snapshot }),
};
const admin = new AdminServer({ address: '127.0.0.1', port: 0, source, logging });
let base = '';

before(async () => {
  const a = await admin.start();
  base = `http://127.0.0.1:${a.port}`;
});
after(() => admin.close());

async function req(path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  const r = await fetch(base + path, { method });
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
}

test('/ready is 503 before the data plane is applied, 200 LIVE after', async () => {
  const r = await req('/ready');
  assert.deepEqual([r.status, r.body], [503, 'PRE_INITIALIZING\n']);
  live = true;
  const r2 = await req('/ready');
  assert.deepEqual([r2.status, r2.body, r2.type], [200, 'LIVE\n', 'text/plain; charset=utf-8']);
});

const endpoints: Array<{ desc: string; path: string; method?: string; status: number; type: RegExp; body?: RegExp }> = [
  { desc: 'index lists endpoints', path: '/', status: 200, type: /^text\/plain/, body: /\/stats\/prometheus/ },
  { desc: 'text stats', path: '/stats', status: 200, type: /^text\/plain/, body: /^cluster\.backend\.upstream_cx_total: 7$/m },
  { desc: 'text stats histogram quantiles', path: '/stats', status: 200, type: /^text\/plain/, body: /cluster\.backend\.upstream_cx_connect_ms: P50\(1\) P90\(2\)/ },
  { desc: 'json stats', path: '/stats?format=json', status: 200, type: /^application\/json/, body: /"name": "cluster\.backend\.upstream_cx_total"/ },
  { desc: 'stats filter', path: '/stats?filter=cx_active', status: 200, type: /^text\/plain/, body: /^cluster\.backend\.host\.127\.0\.0\.1:9001\.cx_active: 1\n$/ },
  { desc: 'bad stats filter', path: '/stats?filter=(', status: 400, type: /^text\/plain/ },
  { desc: 'unknown stats format', path: '/stats?format=xml', status: 400, type: /^text\/plain/ },
  { desc: 'prometheus', path: '/stats/prometheus', status: 200, type: /^text\/plain; version=0\.0\.4/, body: /xmesh_cluster_upstream_cx_total\{cluster="backend"\} 7/ },
  { desc: 'config dump', path: '/config_dump', status: 200, type: /^application\/json/, body: /"version": 3/ },
  { desc: 'listeners with bound port', path: '/listeners', status: 200, type: /^text\/plain/, body: /^demo::127\.0\.0\.1:41234$/m },
  { desc: 'listeners json', path: '/listeners?format=json', status: 200, type: /^application\/json/, body: /"port": 41234/ },
  { desc: 'clusters: host stats and health from stats', path: '/clusters', status: 200, type: /^text\/plain/, body: /backend::127\.0\.0\.1:9001::cx_active::1\n[\s\S]*backend::127\.0\.0\.1:9001::weight::2\n[\s\S]*health_flags::\/failed_active_hc/ },
  { desc: 'clusters json', path: '/clusters?format=json', status: 200, type: /^application\/json/, body: /"healthy": false/ },
  { desc: 'logging level', path: '/logging', status: 200, type: /^text\/plain/, body: /^level: silent$/m },
  { desc: 'logging change needs POST', path: '/logging?level=debug', status: 405, type: /^text\/plain/ },
  { desc: 'logging bad level', path: '/logging?level=loud', method: 'POST', status: 400, type: /^text\/plain/ },
  { desc: 'healthcheck/fail needs POST', path: '/healthcheck/fail', status: 405, type: /^text\/plain/ },
  { desc: 'hot restart version', path: '/hot_restart_version', status: 200, type: /^text\/plain/, body: new RegExp(`^${HOT_RESTART_VERSION}\n$`) },
  { desc: 'unknown path is 404 with the endpoint list', path: '/nope', status: 404, type: /^text\/plain/, body: /unknown admin endpoint \/nope[\s\S]*\/config_dump/ },
  { desc: 'trailing slash tolerated', path: '/ready/', status: 200, type: /^text\/plain/ },
];
for (const e of endpoints) {
  test(`admin ${e.method ?? 'GET'} ${e.path}: ${e.desc}`, async () => {
    live = true;
    const r = await req(e.path, e.method);
    assert.equal(r.status, e.status, r.body);
    assert.match(r.type, e.type);
    if (e.body) assert.match(r.body, e.body);
  });
}

test('/stats/prometheus parses with a real parser', async () => {
  const r = await req('/stats/prometheus');
  const fams = parse(r.body);
  assert.ok(fams.some((f) => f.name === 'xmesh_cluster_upstream_cx_connect_ms' && f.type === 'HISTOGRAM'));
  assert.ok(fams.some((f) => f.name === 'xmesh_cluster_host_cx_active' && f.metrics[0].labels?.host === '127.0.0.1:9001'));
});

test('POST /logging?level= changes the level of every module logger', async () => {
  const child = logging.child('some-module');
  const r = await req('/logging?level=debug', 'POST');
  assert.deepEqual([r.status, r.body], [200, 'level: debug\n']);
  assert.equal(child.level, 'debug');
  await req('/logging?level=silent', 'POST');
});

test('/healthcheck/fail makes /ready 503 until /healthcheck/ok', async () => {
  live = true;
  assert.equal((await req('/healthcheck/fail', 'POST')).status, 200);
  const r = await req('/ready');
  assert.deepEqual([r.status, r.body], [503, 'HEALTHCHECK_FAILED\n']);
  assert.equal((await req('/healthcheck/ok', 'POST')).status, 200);
  assert.equal((await req('/ready')).status, 200);
});

function raw(path: string, method: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const r = http.request(base + path, { method, headers, agent: false }, (m) => {
      let b = '';
      m.setEncoding('utf8');
      m.on('data', (d) => (b += d));
      m.on('end', () => res({ status: m.statusCode ?? 0, body: b }));
    });
    r.on('error', rej);
    r.end();
  });
}

const csrf: Array<{ desc: string; headers: (host: string) => Record<string, string>; status: number; body?: RegExp }> = [
  { desc: 'no Origin, no body (curl -X POST)', headers: () => ({}), status: 200 },
  { desc: 'same-origin Origin', headers: (h) => ({ origin: `http://${h}` }), status: 200 },
  { desc: 'JSON content type', headers: () => ({ 'content-type': 'application/json' }), status: 200 },
  { desc: 'Sec-Fetch-Site none (typed by the user)', headers: () => ({ 'sec-fetch-site': 'none' }), status: 200 },
  { desc: 'a foreign Origin', headers: () => ({ origin: 'http://evil.example' }), status: 403, body: /cross-origin request refused \(Origin http:\/\/evil\.example is not http:\/\/127\.0\.0\.1:\d+\)/ },
  { desc: 'Origin null (sandboxed page, file:)', headers: () => ({ origin: 'null' }), status: 403, body: /cross-origin/ },
  { desc: 'a same-host Origin on another port', headers: () => ({ origin: 'http://127.0.0.1:1' }), status: 403, body: /cross-origin/ },
  { desc: 'Sec-Fetch-Site cross-site', headers: () => ({ 'sec-fetch-site': 'cross-site' }), status: 403, body: /Sec-Fetch-Site: cross-site/ },
  { desc: 'an HTML form (urlencoded)', headers: () => ({ 'content-type': 'application/x-www-form-urlencoded' }), status: 403, body: /form content type application\/x-www-form-urlencoded refused/ },
  { desc: 'an HTML form (multipart)', headers: () => ({ 'content-type': 'multipart/form-data; boundary=x' }), status: 403, body: /multipart\/form-data/ },
  { desc: 'a form with enctype text/plain', headers: () => ({ 'content-type': 'text/plain;charset=UTF-8' }), status: 403, body: /text\/plain/ },
];
for (const c of csrf) {
  test(`admin CSRF: POST /logging?level=debug with ${c.desc} -> ${c.status}`, async () => {
    await req('/logging?level=silent', 'POST');
    const host = base.slice('http://'.length);
    const r = await raw('/logging?level=debug', 'POST', c.headers(host));
    assert.equal(r.status, c.status, r.body);
    if (c.body) assert.match(r.body, c.body);
    assert.equal(logging.level, c.status === 200 ? 'debug' : 'silent', 'the level changed only when accepted');
    await req('/logging?level=silent', 'POST');
  });
}

test('admin CSRF: every state-changing endpoint refuses a cross-origin POST; GET pages do not check', async () => {
  live = true;
  for (const path of ['/healthcheck/fail', '/healthcheck/ok', '/logging?level=debug']) {
    assert.equal((await raw(path, 'POST', { origin: 'http://evil.example' })).status, 403, path);
  }
  assert.equal((await req('/ready')).status, 200, 'health check state unchanged');
  assert.equal((await raw('/stats', 'GET', { origin: 'http://evil.example' })).status, 200);
});
