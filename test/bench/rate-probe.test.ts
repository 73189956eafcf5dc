// bench/tools/rate-probe.sh --rounds: repeated fixed-rate runs against one responder (and
// proxy), one latency line per run and a count of the runs a stall over 20 ms landed in.
// Bounded: the direct path (no proxy), 2 runs of 1 s at 500 req/s, loopback only.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const script = path.resolve(__dirname, '../../../bench/tools/rate-probe.sh');
const run = (args: string[], timeout = 60_000) => spawnSync('bash', [script, ...args], { encoding: 'utf8', timeout });

test('rate-probe --rounds 2: one line per run, then the stall count', () => {
  const r = run(['--path', 'direct', '--rate', '500', '--duration', '1', '--rounds', '2']);
  assert.equal(r.status, 0, r.stderr);
  const rounds = r.stdout.match(/^round \d+: p50 [\d.]+ us, p99 [\d.]+ us, p99\.9 [\d.]+ us, max [\d.]+ us$/gm) ?? [];
  assert.deepEqual(rounds.map((l) => l.split(':')[0]), ['round 1', 'round 2'], r.stdout);
  const summary = /^rounds whose slowest request took over 20 ms: (\d+) of 2$/m.exec(r.stdout);
  assert.ok(summary, r.stdout);
  // the count agrees with the lines it summarises
  const over = rounds.filter((l) => Number(/max ([\d.]+) us/.exec(l)![1]) > 20_000).length;
  assert.equal(Number(summary[1]), over);
  assert.doesNotMatch(r.stdout, /"event":"result"/, 'no raw result lines with --rounds');
});

test('rate-probe: a bad --rounds or --rounds with --perf exits 2 with the reason', () => {
  for (const [args, why] of [
    [['--rounds', '0'], /--rounds: a positive whole number/],
    [['--rounds', 'x'], /--rounds: a positive whole number/],
    [['--rounds', '3', '--perf'], /--perf samples one run: not with --rounds/],
  ] as const) {
    const r = run([...args], 10_000);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
});
