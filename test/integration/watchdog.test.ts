/**
 * The native stop watchdog against a real `xmesh run` whose control thread is stuck
 * (XMESH_TEST_HANG_ON_STOP=1 makes the stop handler spin forever): the JavaScript deadline
 * cannot fire, yet the process exits with code 4 at the watchdog's deadline (drain time +
 * 2 s + 1 s), or 1 s after a second signal; the watchdog says so on stderr.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startXmesh } from './xmesh-process';
import { tcpProxyListener, staticCluster } from '../config/helpers';

function config(): unknown {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: { listeners: [tcpProxyListener('l', 0, 'c')], clusters: [staticCluster('c', [['127.0.0.1', 9]])] },
  };
}

describe('native stop watchdog (real xmesh, stuck control thread)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmesh-watchdog-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('one SIGTERM: exit 4 at drain time + 3 s although JavaScript never returns', async () => {
    const x = await startXmesh(dir, config(), 1, { args: ['--drain-time-s', '0.5'], env: { XMESH_TEST_HANG_ON_STOP: '1' } });
    try {
      const exited = new Promise<number | null>((r) => x.child.once('exit', (code) => r(code)));
      const t0 = Date.now();
      x.child.kill('SIGTERM');
      assert.equal(await exited, 4);
      const ms = Date.now() - t0;
      assert.ok(ms >= 3300 && ms < 6000, `exited ${ms} ms after SIGTERM (deadline 500 + 2000 + 1000 ms)`);
      assert.match(x.stderr(), /"module":"watchdog".*shutdown deadline passed: the control thread did not exit, forcing exit 4/);
    } finally {
      if (x.child.exitCode === null && x.child.signalCode === null) x.child.kill('SIGKILL');
    }
  });

  it('a second SIGTERM: exit 4 one second later', async () => {
    const x = await startXmesh(dir, config(), 1, { args: ['--drain-time-s', '30'], env: { XMESH_TEST_HANG_ON_STOP: '1' } });
    try {
      const exited = new Promise<number | null>((r) => x.child.once('exit', (code) => r(code)));
      x.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      x.child.kill('SIGTERM');
      assert.equal(await exited, 4);
      const ms = Date.now() - t0;
      assert.ok(ms >= 900 && ms < 3000, `exited ${ms} ms after the second SIGTERM`);
      assert.match(x.stderr(), /second stop signal: the control thread did not exit, forcing exit 4/);
    } finally {
      if (x.child.exitCode === null && x.child.signalCode === null) x.child.kill('SIGKILL');
    }
  });
});
