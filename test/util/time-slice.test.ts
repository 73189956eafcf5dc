import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byString, sliceSort, TimeSlice } from '../../src/util/time-slice';

/** A deterministic pseudo-random sequence (no Math.random in tests). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const sizes: Array<{ desc: string; n: number }> = [
  { desc: 'empty', n: 0 },
  { desc: 'one', n: 1 },
  { desc: 'below one run', n: 100 },
  { desc: 'exactly one run', n: 2048 },
  { desc: 'one run and one', n: 2049 },
  { desc: 'several runs, odd count', n: 2048 * 5 + 17 },
];
for (const s of sizes) {
  test(`sliceSort: ${s.desc} (${s.n}) sorts like Array.prototype.sort, stably`, async () => {
    const rnd = lcg(s.n + 1);
    // few distinct keys, so stability is visible through the second field
    const items = Array.from({ length: s.n }, (_, i) => ({ k: String(Math.floor(rnd() * 50)), i }));
    const want = [...items].sort((a, b) => byString(a.k, b.k));
    const got = await sliceSort(items, (a, b) => byString(a.k, b.k), new TimeSlice());
    assert.equal(got, items, 'sorted in place');
    assert.deepEqual(got, want);
  });
}

test('sliceSort: gives the event loop turns on a big input with a tiny slice', async () => {
  const rnd = lcg(7);
  const items = Array.from({ length: 200_000 }, () => rnd());
  const slice = new TimeSlice(0, 64);
  let turns = 0;
  const timer = setInterval(() => turns++, 0);
  try {
    await sliceSort(items, (a, b) => a - b, slice);
  } finally {
    clearInterval(timer);
  }
  for (let i = 1; i < items.length; i++) assert.ok(items[i - 1] <= items[i]);
  assert.ok(slice.yields > 10, `yields ${slice.yields}`);
  assert.ok(turns > 0, 'a timer ran while sorting');
});

test('TimeSlice.tick: no promise (no microtask) until the slice is used up', () => {
  const s = new TimeSlice(60_000, 1);
  for (let i = 0; i < 1000; i++) assert.equal(s.tick(), undefined);
  assert.equal(s.yields, 0);
});
