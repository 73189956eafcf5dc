/** The node flags every launcher must pass: which ones a process lacks, and that the bin script's shebang carries them all. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { missingNodeFlags, NODE_FLAGS } from '../../src/cli/node-flags';

test('node flags: missingNodeFlags names exactly the absent ones', () => {
  const cases: { desc: string; execArgv: string[]; want: string[] }[] = [
    { desc: 'plain node', execArgv: [], want: [...NODE_FLAGS] },
    { desc: 'all flags given', execArgv: [...NODE_FLAGS], want: [] },
    { desc: 'other flags only', execArgv: ['--max-old-space-size=512'], want: [...NODE_FLAGS] },
    { desc: 'mixed with others', execArgv: ['--enable-source-maps', ...NODE_FLAGS], want: [] },
  ];
  for (const c of cases) assert.deepEqual(missingNodeFlags(c.execArgv), c.want, c.desc);
});

test('node flags: the bin/xmesh.js shebang, scripts/start.sh and the Dockerfile entrypoint carry every flag', () => {
  const root = resolve(__dirname, '../../..');
  const shebang = readFileSync(resolve(root, 'bin/xmesh.js'), 'utf8').split('\n')[0];
  assert.match(shebang, /^#!\/usr\/bin\/env -S node /);
  const start = readFileSync(resolve(root, 'scripts/start.sh'), 'utf8').split('\n').find((l) => l.startsWith('exec node '))!;
  const entry = readFileSync(resolve(root, 'Dockerfile'), 'utf8').split('\n').find((l) => l.startsWith('ENTRYPOINT'))!;
  for (const f of NODE_FLAGS) {
    assert.ok(shebang.split(' ').includes(f), `shebang lacks ${f}`);
    assert.ok(start.split(' ').includes(f), `scripts/start.sh lacks ${f}`);
    assert.ok(entry.includes(`"${f}"`), `Dockerfile ENTRYPOINT lacks ${f}`);
  }
});
