import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cumulativeBuckets, quantileUs } from '../../src/stats/histogram';

const q: Array<{ desc: string; buckets: Array<[number, number]>; q: number; want: number | undefined }> = [
  { desc: 'empty histogram', buckets: [], q: 0.5, want: undefined },
  { desc: 'single bucket', buckets: [[100, 10]], q: 0.99, want: 100 },
  { desc: 'median in the first bucket', buckets: [[100, 6], [200, 4]], q: 0.5, want: 100 },
  { desc: 'P90 in the second bucket', buckets: [[100, 6], [200, 4]], q: 0.9, want: 200 },
  { desc: 'P99.9 in the tail', buckets: [[10, 998], [5000, 2]], q: 0.999, want: 5000 },
];
for (const c of q) {
  test(`quantileUs: ${c.desc}`, () => assert.equal(quantileUs(c.buckets, c.q), c.want));
}

test('cumulativeBuckets maps native upper bounds onto le bounds (ms) and accumulates', () => {
  // 400us -> le 0.5; 1000us -> le 1 (inclusive); 1100us -> le 5; 7200s -> +Inf
  const out = cumulativeBuckets([[400, 1], [1000, 2], [1100, 3], [7_200_000_000, 4]], [0.5, 1, 5]);
  assert.deepEqual(out, [1, 3, 6, 10]);
});
