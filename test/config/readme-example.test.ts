// The complete example in docs/configuration.md (moved there from README.md; the file keeps its
// name so a stale dist/ from before the move is overwritten, not left failing) is what a new user
// copies first: it must validate with no error and no warning, and translate into a snapshot.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { loadConfigText } from '../../src/config/load';
import { translate } from '../../src/config/translate';

test("docs/configuration.md's complete example validates cleanly and translates", () => {
  const doc = readFileSync(resolve(__dirname, '../../../docs/configuration.md'), 'utf8');
  const at = doc.indexOf('\n## A complete example');
  assert.ok(at >= 0, 'a "## A complete example" section');
  const m = /```yaml\n([\s\S]*?)```/.exec(doc.slice(at));
  assert.ok(m, 'a yaml block under "## A complete example"');
  const loaded = loadConfigText(m[1], 'docs/configuration.md');
  assert.deepEqual(loaded.warnings, []);
  const t = translate(loaded.config, new Map(), 1);
  assert.equal(t.snapshot.listeners?.length, 1);
});
