// Smoke test of the bench harness: builds xload + xresp and drives a short direct run on
// loopback (bounded: ~3 s in all).
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBuilt, histQuantile, histValue, mergeHists, runXload, startResponder, Responder } from '../../bench/lib/loadgen';
import { stop, stopAll } from '../../bench/lib/procs';
import { bootstrapCI, medianCI, signTestP } from '../../bench/lib/report';

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
    assert.equal(res.hist, undefined, 'no histogram without --hist');
  });
}

test('direct: open loop with --hist: the histogram is the one xload took its quantiles from', { timeout: 20_000 }, async () => {
  const res = await withResponder({ reqSize: 128, respSize: 128, cpu: -1, maxSeconds: 15 }, (r) =>
    runXload({ target: `127.0.0.1:${r.port}`, conns: 4, rate: 2000, duration: 1, cpu: -1, reqSize: 128, respSize: 128, hist: true },
      path.join(work, 'xload-hist.log')),
  );
  assert.ok(res.hist && res.hist.length > 0 && res.hist_max_ns !== undefined);
  // xload records one histogram sample per completed request in the measured window
  assert.equal(res.hist.reduce((a, [, n]) => a + n, 0), res.requests);
  const idx = res.hist.map(([i]) => i);
  assert.deepEqual(idx, [...idx].sort((a, b) => a - b), 'ascending bucket indexes');
  const h = mergeHists([res]);
  // xload prints µs with %.2f
  const close = (ns: number, us: number, what: string) => assert.ok(Math.abs(ns / 1e3 - us) <= 0.005 + 1e-9, `${what}: ${ns / 1e3} vs ${us}`);
  close(histQuantile(h, 0.5), res.p50_us, 'p50');
  close(histQuantile(h, 0.9), res.p90_us, 'p90');
  close(histQuantile(h, 0.99), res.p99_us, 'p99');
  close(histQuantile(h, 0.999), res.p999_us, 'p99.9');
  close(h.max_ns, res.max_us, 'max');
});

test('histogram: bucket midpoints, merge and pooled quantiles as hist.h computes them', () => {
  // xb_hist_value: 1:1 below 128, then 128 sub-buckets per power of two
  assert.equal(histValue(127), 127);
  assert.equal(histValue(128), 128);
  assert.equal(histValue(256), 256.5); // [256, 257]
  assert.equal(histValue(506), 1001.5); // xb_hist_idx(1000) = 506: [1000, 1003]
  assert.equal(histValue(1000), 14879.5); // [14848, 14911]
  const a = { hist: [[50, 60], [300, 30], [1000, 10]] as [number, number][], hist_max_ns: 14860 };
  const b = { hist: [[50, 40], [1000, 50]] as [number, number][], hist_max_ns: 14870 };
  const h = mergeHists([a, { hist: undefined }, b]);
  assert.deepEqual(h, { buckets: [[50, 100], [300, 30], [1000, 60]], count: 190, max_ns: 14870 });
  // rank = floor(q * 190); first bucket whose running count exceeds it
  assert.equal(histQuantile(h, 0.5), 50); // rank 95 < 100
  assert.equal(histQuantile(h, 0.53), 344.5); // rank 100: bucket 300 = [344, 345]
  assert.equal(histQuantile(h, 0.99), 14870); // rank 188: bucket 1000, midpoint clamped to max
  assert.equal(histQuantile(h, 1), 14870); // rank clamped to 189
  assert.ok(Number.isNaN(histQuantile(mergeHists([]), 0.5)));
});

test('sign test: exact two-sided binomial p', () => {
  assert.equal(signTestP(6, 6), 2 / 64);
  assert.equal(signTestP(0, 6), 2 / 64);
  assert.equal(signTestP(5, 6), (2 * 7) / 64);
  assert.equal(signTestP(3, 6), 1);
  assert.equal(signTestP(0, 0), 1);
});

test('bootstrapCI: resampled units, seeded, percentile bounds', () => {
  const xs = Array.from({ length: 40 }, (_, i) => i); // mean 19.5, sd 11.7: se of the mean 1.83
  const mean = (u: number[]) => u.reduce((s, i) => s + xs[i], 0) / u.length;
  const ci = bootstrapCI(xs.length, mean, { reps: 4000, seed: 7 });
  // the normal interval is 19.5 -/+ 3.6; the bootstrap's should be close to it
  assert.ok(ci.lo > 14.5 && ci.lo < 17, `lo ${ci.lo}`);
  assert.ok(ci.hi > 22 && ci.hi < 24.5, `hi ${ci.hi}`);
  assert.deepEqual(bootstrapCI(xs.length, mean, { reps: 4000, seed: 7 }), ci); // same seed, same interval
  assert.deepEqual(bootstrapCI(5, () => 3), { lo: 3, hi: 3 }); // a constant statistic
  assert.ok(Number.isNaN(bootstrapCI(1, () => 3).lo)); // one unit: nothing to resample
  // every draw picks indices in [0, n)
  bootstrapCI(3, (u) => { assert.ok(u.length === 3 && u.every((i) => Number.isInteger(i) && i >= 0 && i < 3)); return 0; }, { reps: 200 });
});

test('medianCI: order statistics around the median, with their binomial coverage', () => {
  // n = 20: P(Bin(20, 1/2) <= 5) = 21700 / 2^20 = 0.0207 <= 0.025 < P(<= 6), so x(6) .. x(15)
  const xs = Array.from({ length: 20 }, (_, i) => 20 - i); // unsorted on purpose: 20 .. 1
  const ci = medianCI(xs);
  assert.equal(ci.lo, 6);
  assert.equal(ci.hi, 15);
  assert.ok(Math.abs(ci.coverage - (1 - (2 * 21700) / 2 ** 20)) < 1e-12);
  // n = 6 is the smallest sample with a 95% interval: the extremes, coverage 1 - 2/64
  assert.deepEqual(medianCI([3, -1, 4, 1, -5, 9]), { lo: -5, hi: 9, coverage: 1 - 2 / 64 });
  assert.ok(Number.isNaN(medianCI([1, 2, 3, 4, 5]).lo));
  // NaN entries (a run that did not produce a figure) are left out, not sorted in
  assert.equal(medianCI([...xs, NaN]).lo, 6);
  // a lower level narrows the interval: 80% on n = 20 -> P(<= 6) = 0.0577 <= 0.1, so x(7) .. x(14)
  assert.deepEqual([medianCI(xs, 0.8).lo, medianCI(xs, 0.8).hi], [7, 14]);
});

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
