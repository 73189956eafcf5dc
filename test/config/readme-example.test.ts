// The configuration example in README.md is what a new user copies first: it must validate with
// no error and no warning, and translate into a data-plane snapshot.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { loadConfigText } from '../../src/config/load';
import { translate } from '../../src/config/translate';

test("README's configuration reference example validates cleanly and translates", () => {
  const readme = readFileSync(resolve(__dirname, '../../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Configuration reference'));
  const m = /```yaml\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'a yaml block under "### Configuration reference"');
  const loaded = loadConfigText(m[1], 'README.md');
  assert.deepEqual(loaded.warnings, []);
  const t = translate(loaded.config, new Map(), 1);
  assert.equal(t.snapshot.listeners?.length, 1);
});
