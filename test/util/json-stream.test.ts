import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collect } from '../../src/util/chunks';
import { JSON_CHUNK, jsonChunks } from '../../src/util/json-stream';
import { TimeSlice } from '../../src/util/time-slice';

const bigList = Array.from({ length: 5000 }, (_, i) => ({ endpoint: { address: { socket_address: { address: `10.0.${i >> 8}.${i & 255}`, port_value: 8000 + i } } }, weight: i % 3 || undefined }));

const cases: Array<{ desc: string; value: unknown }> = [
  { desc: 'primitives', value: [1, -0.5, 'a"b\\c\nd\u2028', true, false, null] },
  { desc: 'empty containers', value: { a: [], b: {}, c: [[]], d: [{}] } },
  { desc: 'undefined and functions: dropped in objects, null in arrays', value: { a: undefined, b: () => 1, c: [undefined, () => 1, Symbol('s')], d: 1 } },
  { desc: 'non-finite numbers are null', value: { n: NaN, i: Infinity, m: [-Infinity] } },
  { desc: 'toJSON (a Date) and a typed array', value: { when: new Date(0), bytes: new Uint8Array([1, 2, 3]), nested: { toJSON: () => ({ x: [1, { y: 2 }] }) } } },
  { desc: 'deep nesting, mixed leaves and containers', value: { l1: { l2: { l3: [{ l4: { l5: [1, 2, { l6: 'x' }] } }, 'y'] } } } },
  { desc: 'a long list of nested objects (many chunks)', value: { source: 'x.yaml', config: { clusters: [{ name: 'c', endpoints: bigList }] }, snapshot: null } },
  { desc: 'a shared (aliased) object written twice', value: ((o) => ({ a: o, b: [o, o] }))({ k: [1, { v: 2 }] }) },
  { desc: 'top-level primitive', value: 42 },
  { desc: 'top-level undefined', value: undefined },
];
for (const c of cases) {
  test(`jsonChunks: ${c.desc} is exactly JSON.stringify(v, null, 2) + newline`, async () => {
    const got = await collect(jsonChunks(c.value, new TimeSlice()));
    assert.equal(got, `${JSON.stringify(c.value, null, 2) ?? 'null'}\n`);
  });
}

test('jsonChunks: chunks stay near JSON_CHUNK and a big value yields the event loop', async () => {
  const slice = new TimeSlice(0, 64);
  const chunks: string[] = [];
  for await (const c of jsonChunks({ endpoints: bigList }, slice)) chunks.push(c);
  assert.ok(chunks.length > 3, `${chunks.length} chunks`);
  for (const c of chunks.slice(0, -1)) assert.ok(c.length >= JSON_CHUNK && c.length < JSON_CHUNK + 4096, `chunk of ${c.length}`);
  assert.ok(slice.yields > 0);
});

test('jsonChunks: a circular structure throws like JSON.stringify', async () => {
  const o: Record<string, unknown> = { a: [{ b: 1 }, { c: 2 }] };
  (o.a as unknown[]).push(o);
  await assert.rejects(collect(jsonChunks(o, new TimeSlice())), /circular/);
});
