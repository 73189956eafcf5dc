/** Admin filter regexes: linear-time engine when node has it, else refusal of catastrophic shapes; the 400 text names the construct. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { compileFilterRegex, linearEngineAvailable, MAX_FILTER_LENGTH } from '../../src/admin/filter-regex';
import { NODE_FLAGS } from '../../src/cli/node-flags';

interface Case {
  desc: string;
  src: string;
  /** undefined = accepted; else the 400 text must match */
  linear?: RegExp;
  fallback?: RegExp;
}

const cases: Case[] = [
  { desc: 'a plain fragment', src: 'upstream_cx_total' },
  { desc: 'anchors, classes, bounded repetition', src: '^cluster\\.[a-z_]+\\.host\\.10\\.\\d{1,3}' },
  { desc: 'the issue-15 ReDoS pattern runs on the linear engine', src: '^(\\w+\\.?)*!', fallback: /a repeated group whose body repeats or has alternatives \(\(\\w\+\\\.\?\)\* at offset 1\)/ },
  { desc: 'overlapping alternatives under +', src: '(a|aa)+b', fallback: /repeated group .*\(\(a\|aa\)\+ at offset 0\)/ },
  { desc: 'optional pieces repeated', src: '(a?a?){2,}$', fallback: /repeated group/ },
  { desc: 'three unbounded quantifiers', src: '.*a.*b.*c', fallback: /a third unbounded quantifier \(\* at offset 7\)/ },
  { desc: 'two unbounded quantifiers', src: '^cluster\\..*\\.upstream_.*_total$' },
  { desc: 'a non-capturing group repeated', src: '(?:abc)*x' },
  { desc: 'a backreference', src: '(a+)\\1', linear: /needs backtracking: a backreference \(\\1 at offset 4\)/, fallback: /a backreference \(\\1 at offset 4\)/ },
  { desc: 'a named backreference', src: '(?<x>a)\\k<x>', linear: /a named backreference \(\\k<x> at offset 7\)/, fallback: /a named backreference/ },
  { desc: 'a lookahead', src: 'rq(?=_total)', linear: /a lookahead \(\(\?= at offset 2\)/, fallback: /a lookahead/ },
  { desc: 'a negative lookbehind', src: '(?<!up)stream', linear: /a negative lookbehind \(\(\?<! at offset 0\)/, fallback: /a negative lookbehind/ },
  { desc: 'an escaped digit inside a class is no backreference', src: '[\\1]' },
  { desc: 'a syntax error', src: '(unclosed', linear: /^invalid filter regex: .*Unterminated group/, fallback: /^invalid filter regex/ },
  { desc: 'an over-long pattern', src: 'x'.repeat(MAX_FILTER_LENGTH + 1), linear: /at most 1000 are accepted/, fallback: /at most 1000 are accepted/ },
];

function outcome(src: string, useLinear: boolean): string {
  const r = compileFilterRegex(src, useLinear);
  return r.status === 'ok' ? `ok:${r.engine}` : r.message;
}

test('filter regex without the linear engine: catastrophic shapes and backtracking constructs are refused by name', () => {
  for (const c of cases) {
    const got = outcome(c.src, false);
    if (c.fallback) assert.match(got, c.fallback, c.desc);
    else assert.equal(got, 'ok:backtracking', c.desc);
  }
  // the refusal says how to get the linear engine
  assert.match(outcome('(a|aa)+b', false), /--enable-experimental-regexp-engine/);
});

test('filter regex with the linear engine (node started with the launcher flags): only backtracking constructs are refused', () => {
  // This test process may run without the flag; ask a node that has it.
  const script = `const { compileFilterRegex, linearEngineAvailable } = require(${JSON.stringify(require.resolve('../../src/admin/filter-regex'))});
    const srcs = JSON.parse(process.argv[1]);
    console.log(JSON.stringify({ linear: linearEngineAvailable(), out: srcs.map((s) => { const r = compileFilterRegex(s); return r.status === 'ok' ? 'ok:' + r.engine : r.message; }) }));`;
  const r = JSON.parse(execFileSync(process.execPath, [...NODE_FLAGS, '-e', script, JSON.stringify(cases.map((c) => c.src))], { encoding: 'utf8' })) as { linear: boolean; out: string[] };
  assert.equal(r.linear, true, 'node accepts the l flag with --enable-experimental-regexp-engine');
  cases.forEach((c, i) => {
    if (c.linear) assert.match(r.out[i], c.linear, c.desc);
    else assert.equal(r.out[i], 'ok:linear', c.desc);
  });
});

test('filter regex: the engine in use is detected from the running node', () => {
  assert.equal(linearEngineAvailable(), process.execArgv.includes('--enable-experimental-regexp-engine'));
});
