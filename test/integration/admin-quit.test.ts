/** A real `xmesh run` stops cleanly (exit 0) on POST /quitquitquit, and /server_info reports it as LIVE before. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { baseConfig } from '../config/helpers';
import { startXmesh } from './xmesh-process';

const dir = mkdtempSync(join(tmpdir(), 'xmesh-quit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('POST /quitquitquit: a clean exit (0) with the usual shutdown log', async () => {
  const x = await startXmesh(dir, baseConfig(), 1, { env: { XMESH_DATAPLANE_MODULE: resolve(__dirname, '../cli/fake-dataplane.js') } });
  try {
    const info = (await (await fetch(`http://${x.admin}/server_info`)).json()) as { state: string; version: string; command_line_options: { concurrency: number } };
    assert.equal(info.state, 'LIVE');
    assert.match(info.version, /^xmesh\/\d+\.\d+\.\d+/);
    assert.equal(info.command_line_options.concurrency, 1);
    const exited = new Promise<number | null>((r) => x.child.once('exit', (code) => r(code)));
    const r = await fetch(`http://${x.admin}/quitquitquit`, { method: 'POST' });
    assert.equal(r.status, 200);
    assert.equal(await exited, 0, x.stderr());
    assert.match(x.stderr(), /"signal":"POST \/quitquitquit"[^\n]*"msg":"shutting down"/);
    assert.match(x.stderr(), /"msg":"xmesh stopped"/);
  } finally {
    if (x.child.exitCode === null) x.child.kill('SIGKILL');
  }
});
