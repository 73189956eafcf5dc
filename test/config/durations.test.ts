import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from '../../src/config/durations';

const cases: Array<{ desc: string; in: unknown; ms?: number; error?: RegExp }> = [
  { desc: 'whole seconds', in: '1s', ms: 1000 },
  { desc: 'fractional seconds', in: '0.25s', ms: 250 },
  { desc: 'Envoy tenth of a second', in: '0.1s', ms: 100 },
  { desc: 'milliseconds (xmesh extension)', in: '100ms', ms: 100 },
  { desc: 'zero disables', in: '0s', ms: 0 },
  { desc: 'an hour', in: '3600s', ms: 3_600_000 },
  { desc: 'sub-millisecond rounds up to 1 ms, never to 0', in: '0.0001s', ms: 1 },
  { desc: 'proto object form', in: { seconds: 2, nanos: 500_000_000 }, ms: 2500 },
  { desc: 'bare number is rejected', in: 5, error: /expected a string/ },
  { desc: 'minutes are not Envoy syntax', in: '5m', error: /invalid duration "5m"/ },
  { desc: 'negative', in: '-1s', error: /invalid duration/ },
  { desc: 'object with unknown key', in: { secs: 1 }, error: /unknown field "secs"/ },
  { desc: 'nanos out of range', in: { nanos: 1e9 }, error: /nanos/ },
  { desc: 'larger than uint32 ms', in: '5000000s', error: /too large/ },
];

for (const c of cases) {
  test(`parseDuration: ${c.desc}`, () => {
    const r = parseDuration(c.in);
    if (c.error) {
      assert.equal(r.ok, false);
      assert.match((r as { message: string }).message, c.error);
    } else {
      assert.deepEqual(r, { ok: true, ms: c.ms });
    }
  });
}
