/**
 * A real `xmesh run` (fake data plane with 20,000 stats, real admin socket, real HTTP client):
 * the issue-15 ReDoS filter `^(\w+\.?)*!` answers within a second and /ready stays live while
 * it runs; a pattern that needs backtracking is a 400 that names the construct.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { baseConfig } from '../config/helpers';
import { startXmesh } from '../integration/xmesh-process';

const dir = mkdtempSync(join(tmpdir(), 'xmesh-redos-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fake = resolve(__dirname, '../cli/fake-dataplane.js');

function get(url: string, timeoutMs: number): Promise<{ status: number; body: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((res, rej) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (r) => {
      let b = '';
      r.setEncoding('utf8');
      r.on('data', (d) => (b += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, body: b, ms: Date.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', rej);
  });
}

test('admin: the ReDoS filter answers within 1 s over 20,000 stats while /ready stays live', async () => {
  const x = await startXmesh(dir, baseConfig(), 1, { env: { XMESH_DATAPLANE_MODULE: fake, XMESH_FAKE_STATS: '20000' } });
  try {
    const base = `http://${x.admin}`;
    const all = await get(`${base}/stats`, 10_000);
    assert.ok(all.body.split('\n').length > 20_000, 'the fake data plane serves its stats');

    const redos = get(`${base}/stats?filter=${encodeURIComponent('^(\\w+\\.?)*!')}`, 1000);
    // /ready while the filter runs: the control thread is not pinned.
    const ready = await get(`${base}/ready`, 1000);
    assert.deepEqual([ready.status, ready.body], [200, 'LIVE\n']);
    const r = await redos;
    assert.equal(r.status, 200);
    assert.equal(r.body, '', 'no stat name ends in "!"');
    assert.ok(r.ms < 1000, `answered in ${r.ms} ms`);

    // A real filter still filters.
    const some = await get(`${base}/stats?filter=${encodeURIComponent('v4999_.*\\.10\\.0\\.19\\.')}`, 5000);
    assert.match(some.body, /^cluster\.outbound_8080_reviews_v4999_default_svc_cluster_local\.host\.10\.0\.19\.135:8080\.rq_total: 4999$/m);

    const back = await get(`${base}/stats?filter=${encodeURIComponent('(rq)_\\1')}`, 1000);
    assert.equal(back.status, 400);
    assert.match(back.body, /needs backtracking: a backreference \(\\1 at offset 5\)/);
    await x.stop();
    assert.equal(x.child.exitCode, 0, x.stderr());
  } finally {
    // Without the fix the control thread is pinned and SIGTERM does nothing: never leave it behind.
    if (x.child.exitCode === null) x.child.kill('SIGKILL');
  }
});
