// bench/tools/xmesh-tcp.sh: xmesh as a foreground one-listener tcp_proxy for harnesses that
// start a proxy from a command line and stop it by PID (a peer benchmark's SELF_TCP_CMD).
// Bytes pass through it, the PID it leaves is xmesh itself, and TERM ends it cleanly.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { freePort } from '../../bench/lib/peers';

const script = path.resolve(__dirname, '../../../bench/tools/xmesh-tcp.sh');

async function echoThrough(port: number, payload: Buffer, deadline: number): Promise<Buffer> {
  for (;;) {
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        const got: Buffer[] = [];
        const c = net.connect(port, '127.0.0.1', () => c.end(payload));
        c.on('data', (d) => got.push(d));
        c.on('end', () => resolve(Buffer.concat(got)));
        c.on('error', reject);
      });
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100)); // not listening yet
    }
  }
}

test('xmesh-tcp.sh: --help exits 0, missing ports exit 2', () => {
  const help = spawnSync('bash', [script, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /xmesh-tcp\.sh LISTEN_PORT UPSTREAM_PORT/);
  const bad = spawnSync('bash', [script, '1234'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
});

test('xmesh-tcp.sh: proxies to the upstream as xmesh itself, and TERM stops it with exit 0', async () => {
  const upstream = net.createServer((c) => {
    c.on('error', () => {});
    c.pipe(c);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const upPort = (upstream.address() as net.AddressInfo).port;
  const listen = await freePort();
  const child = spawn('bash', [script, String(listen), String(upPort)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const payload = Buffer.alloc(200_000, 7);
    const back = await echoThrough(listen, payload, Date.now() + 20_000);
    assert.ok(back.equals(payload), 'bytes intact through xmesh');
    // exec: the PID the harness holds is node running bin/xmesh.js, not a wrapper shell, and
    // node has the launcher's flags (without --no-memory-reducer a full GC lands ~8 s in)
    const cmdline = fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(cmdline.some((a) => a.endsWith('bin/xmesh.js')), cmdline.join(' '));
    assert.ok(cmdline.includes('--no-memory-reducer'), cmdline.join(' '));
    assert.match(stderr, new RegExp(`127\\.0\\.0\\.1:${listen} -> 127\\.0\\.0\\.1:${upPort}`));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  } finally {
    child.kill('SIGKILL');
    upstream.close();
    fs.rmSync(`/tmp/xmesh-tcp-${listen}.yaml`, { force: true });
  }
});
