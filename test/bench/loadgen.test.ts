// Smoke test of the bench harness: builds xload + xresp and drives a short direct run on
// loopback (bounded: ~3 s in all).
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBuilt, runXload, startResponder, Responder } from '../../bench/lib/loadgen';
import { stop, stopAll } from '../../bench/lib/procs';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'xmesh-bench-test-'));
after(async () => {
  await stopAll();
  fs.rmSync(work, { recursive: true, force: true });
});

async function withResponder<T>(opts: Parameters<typeof startResponder>[0], fn: (r: Responder) => Promise<T>): Promise<T> {
  const r = await startResponder(opts, path.join(work, 'xresp.log'));
  try {
    return await fn(r);
  } finally {
    await stop(r.proc);
  }
}

test('loadgen and responder build', () => {
  ensureBuilt();
});

const cases = [
  { desc: 'closed loop, 4 conns ping-pong, 128 B / 128 B', args: { conns: 4, depth: 1 } },
  { desc: 'pipelined, 2 conns depth 8, 64 B / 512 B', args: { conns: 2, depth: 8, reqSize: 64, respSize: 512 } },
  { desc: 'open loop at 2000 req/s over 4 conns', args: { conns: 4, rate: 2000 } },
];

for (const c of cases) {
  test(`direct: ${c.desc}`, { timeout: 20_000 }, async () => {
    const reqSize = c.args.reqSize ?? 128;
    const respSize = c.args.respSize ?? 128;
    const res = await withResponder({ reqSize, respSize, cpu: -1, maxSeconds: 15 }, (r) =>
      runXload({ target: `127.0.0.1:${r.port}`, duration: 1, cpu: -1, reqSize, respSize, ...c.args }, path.join(work, 'xload.log')),
    );
    assert.ok(res.requests > 0, `requests ${res.requests}`);
    assert.equal(res.errors, 0);
    assert.equal(res.alive, c.args.conns);
    assert.ok(res.p50_us > 0 && res.p50_us <= res.p99_us, `p50 ${res.p50_us} p99 ${res.p99_us}`);
    // every completed request was sent whole and its response received whole
    assert.ok(res.bytes_out >= res.requests * reqSize, `bytes_out ${res.bytes_out}`);
    assert.ok(res.bytes_in >= res.requests * respSize, `bytes_in ${res.bytes_in}`);
    if (c.args.rate) assert.ok(Math.abs(res.rps - c.args.rate) / c.args.rate < 0.1, `open loop rps ${res.rps} vs ${c.args.rate}`);
  });
}

test('direct: bulk download from a source responder', { timeout: 20_000 }, async () => {
  const res = await withResponder({ bulk: 'source', cpu: -1, maxSeconds: 15 }, (r) =>
    runXload({ target: `127.0.0.1:${r.port}`, conns: 2, bulk: 'recv', duration: 0.5, cpu: -1 }, path.join(work, 'xload-bulk.log')),
  );
  assert.ok(res.bytes_in > 0);
  assert.equal(res.errors, 0);
});

test('xload refuses a non-loopback target', { timeout: 10_000 }, async () => {
  await assert.rejects(
    runXload({ target: '10.0.0.1:80', conns: 1, duration: 0.2, cpu: -1 }, path.join(work, 'xload-bad.log')),
    /xload/,
  );
});
