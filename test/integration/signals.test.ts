/**
 * Signals reach a real `xmesh run` whatever it is busy with, as soon as its event loop is
 * free: a startup that hangs (fake data plane whose apply never answers) ends at the shutdown
 * deadline after one SIGTERM and at once after a second; a SIGTERM during the reload of a big
 * YAML (parsed on a worker thread) ends the reload and the process at once.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { bigConfigYaml } from '../../bench/tools/big-config';
import { NODE_FLAGS } from '../../src/cli/node-flags';
import { baseConfig } from '../config/helpers';
import { startXmesh } from './xmesh-process';

const bin = resolve(__dirname, '../../../bin/xmesh.js');
const fake = resolve(__dirname, '../cli/fake-dataplane.js');
const dir = mkdtempSync(join(tmpdir(), 'xmesh-signals-'));
/** Every xmesh started here, killed at the end even when a test timed out still awaiting it. */
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Start xmesh on the hanging fake data plane; resolves once its admin listens (startup is then stuck in apply). */
async function startHanging(): Promise<{ kill: (s: NodeJS.Signals) => void; exit: Promise<{ code: number | null; at: number }>; stderr: () => string }> {
  const file = join(dir, `hang-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(baseConfig()));
  const child = spawn(process.execPath, [...NODE_FLAGS, bin, 'run', '--config', file, '--concurrency', '1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, XMESH_DATAPLANE_MODULE: fake, XMESH_FAKE_APPLY_HANG: '1' },
  });
  children.push(child);
  let err = '';
  child.stderr!.setEncoding('utf8');
  const exit = new Promise<{ code: number | null; at: number }>((r) => child.on('exit', (code) => r({ code, at: Date.now() })));
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`admin never listened: ${err}`)), 10_000);
    child.stderr!.on('data', (d: string) => {
      err += d;
      if (err.includes('"admin listening"')) {
        clearTimeout(t);
        res();
      }
    });
  });
  return { kill: (s) => child.exitCode === null && child.kill(s), exit, stderr: () => err };
}

test('a startup that hangs: one SIGTERM exits 4 at the 2 s deadline, two exit 4 at once', { timeout: 30_000 }, async () => {
  const one = await startHanging();
  try {
    const t0 = Date.now();
    one.kill('SIGTERM');
    const { code, at } = await one.exit;
    assert.equal(code, 4, one.stderr());
    assert.ok(at - t0 >= 1900 && at - t0 < 5000, `exited after ${at - t0} ms`);
    assert.match(one.stderr(), /shutdown deadline passed while starting: forcing exit/);
  } finally {
    one.kill('SIGKILL');
  }
  const two = await startHanging();
  try {
    const t0 = Date.now();
    two.kill('SIGTERM');
    two.kill('SIGINT');
    const { code, at } = await two.exit;
    assert.equal(code, 4, two.stderr());
    assert.ok(at - t0 < 1500, `exited after ${at - t0} ms`);
  } finally {
    two.kill('SIGKILL');
  }
});

test('SIGTERM during the reload of a big YAML: the load (on its worker thread) is abandoned and xmesh exits 0 at once', { timeout: 60_000 }, async () => {
  const x = await startXmesh(dir, baseConfig(), 1, { ext: 'yaml' });
  children.push(x.child);
  try {
    // The same file, now 113,000 endpoints of block YAML: seconds of parsing.
    writeFileSync(x.file, bigConfigYaml({ endpoints: 113_000, clusters: 1000 }));
    const mark = x.stderr().length;
    x.child.kill('SIGHUP');
    await x.waitLog(/SIGHUP: reloading configuration/, mark);
    const exited = new Promise<number | null>((r) => x.child.once('exit', (code) => r(code)));
    const t0 = Date.now();
    x.child.kill('SIGTERM');
    assert.equal(await exited, 0, x.stderr());
    const ms = Date.now() - t0;
    const log = x.stderr().slice(mark);
    assert.match(log, /config reload abandoned: shutting down/);
    assert.doesNotMatch(log, /config reloaded/);
    assert.ok(ms < 1500, `exited ${ms} ms after SIGTERM`);
  } finally {
    if (x.child.exitCode === null) x.child.kill('SIGKILL');
  }
});
