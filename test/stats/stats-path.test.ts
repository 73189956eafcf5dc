import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { statsPathProblem } from '../../src/stats/stats-path';

const dir = mkdtempSync(join(tmpdir(), 'xmesh-statspath-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const existing = join(dir, 'stats.block');
writeFileSync(existing, '');

const cases: Array<{ desc: string; path: string; want: RegExp | undefined }> = [
  { desc: 'a new file in an existing directory', path: join(dir, 'new.block'), want: undefined },
  { desc: 'an existing regular file', path: existing, want: undefined },
  { desc: 'a missing directory', path: '/nonexistent-xmesh-dir/stats', want: /^directory \/nonexistent-xmesh-dir does not exist$/ },
  { desc: 'a directory', path: dir, want: /^it is a directory/ },
  { desc: 'a path below a regular file', path: join(existing, 'x'), want: /is not a directory|ENOTDIR/ },
  { desc: 'a device', path: '/dev/null', want: /^it is not a regular file$/ },
  { desc: 'an empty path', path: '', want: /^the path is empty$/ },
];
for (const c of cases) {
  test(`statsPathProblem: ${c.desc}`, () => {
    const got = statsPathProblem(c.path);
    if (c.want === undefined) assert.equal(got, undefined);
    else assert.match(got ?? '<none>', c.want);
  });
}
