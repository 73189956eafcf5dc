import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { bigConfigYaml } from '../../bench/tools/big-config';
import { ConfigError } from '../../src/config/errors';
import { LoadAbortedError, loadConfigFileAsync } from '../../src/config/load-async';
import { loadConfigFile } from '../../src/config/load';
import { baseConfig } from './helpers';

const dir = mkdtempSync(join(tmpdir(), 'xmesh-loadasync-'));
after(() => rmSync(dir, { recursive: true, force: true }));
function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const cases: Array<{ desc: string; name: string; text: string; threshold: number; errors?: string[] }> = [
  { desc: 'a small file, inline', name: 'small.json', text: JSON.stringify(baseConfig()), threshold: 1 << 20 },
  { desc: 'a file on the worker thread', name: 'w.yaml', text: bigConfigYaml({ endpoints: 500, clusters: 5 }), threshold: 0 },
  { desc: 'an invalid file on the worker thread: every error with its path', name: 'bad.yaml', text: 'static_resources:\n  clusters:\n  - name: a\n    lb_policy: FOO\n    connect_timeout: soon\n', threshold: 0, errors: ['static_resources.clusters[0].connect_timeout', 'static_resources.clusters[0].lb_policy'] },
  { desc: 'an empty file on the worker thread', name: 'empty.yaml', text: '', threshold: 0, errors: [''] },
];
for (const c of cases) {
  test(`loadConfigFileAsync: ${c.desc} loads as loadConfigFile does`, async () => {
    const file = write(c.name, c.text);
    if (!c.errors) {
      assert.deepEqual(await loadConfigFileAsync(file, undefined, c.threshold), loadConfigFile(file));
      return;
    }
    await assert.rejects(loadConfigFileAsync(file, undefined, c.threshold), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.file, file);
      assert.deepEqual(e.errors.map((x) => x.path).sort(), c.errors);
      return true;
    });
  });
}

test('loadConfigFileAsync: a missing file is a ConfigError', async () => {
  await assert.rejects(loadConfigFileAsync(join(dir, 'nope.yaml')), (e: unknown) => e instanceof ConfigError && /ENOENT/.test(e.errors[0].message));
});

test('loadConfigFileAsync: the event loop keeps turning while a big YAML is parsed; abort ends the load', async () => {
  const file = write('big.yaml', bigConfigYaml({ endpoints: 40_000, clusters: 400 }));
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  try {
    const t0 = performance.now();
    const loaded = await loadConfigFileAsync(file);
    const ms = performance.now() - t0;
    assert.equal(loaded.config.static_resources?.clusters?.length, 400);
    assert.ok(worst < 150, `the loop stood still for ${worst.toFixed(0)} ms during a ${ms.toFixed(0)} ms load`);
  } finally {
    clearInterval(timer);
  }
  const ac = new AbortController();
  const p = loadConfigFileAsync(file, ac.signal);
  setImmediate(() => ac.abort());
  await assert.rejects(p, LoadAbortedError);
});
