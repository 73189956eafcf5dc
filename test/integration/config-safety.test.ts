/**
 * Config safety with a real `xmesh run` (real native data plane): no admin block still runs and
 * serves until a signal; a SIGHUP reload that would remove every listener, or an empty file, is
 * refused while the listener keeps serving; a reload logs what it added, changed and removed;
 * --allow-empty-listeners lets an explicit listener-less config through.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { baseConfig, staticCluster, tcpProxyListener } from '../config/helpers';
import { startXmesh } from './xmesh-process';

const dir = mkdtempSync(join(tmpdir(), 'xmesh-safety-'));
let upstream: net.Server;
let upPort = 0;

before(async () => {
  upstream = net.createServer((c) => {
    c.on('error', () => undefined);
    c.pipe(c);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  upPort = (upstream.address() as net.AddressInfo).port;
});
after(() => {
  upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

function config(): any {
  const c = baseConfig();
  c.static_resources.clusters = [staticCluster('c', [['127.0.0.1', upPort]])];
  return c;
}

function echo(port: number, msg: string): Promise<string> {
  return new Promise((res, rej) => {
    let b = '';
    const c = net.connect(port, '127.0.0.1', () => c.end(msg));
    c.setEncoding('utf8');
    c.on('data', (d) => (b += d));
    c.on('end', () => res(b));
    c.on('error', rej);
  });
}

/** The JSON log lines of stderr from `from` whose msg matches re. */
function logLines(stderr: string, re: RegExp, from = 0): any[] {
  return stderr
    .slice(from)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((l) => re.test(l.msg));
}

test('run: without an admin block xmesh warns, serves and keeps running until SIGTERM (exit 0)', async () => {
  const c = config();
  delete c.admin;
  const x = await startXmesh(dir, c, 1);
  try {
    assert.equal(x.admin, 'disabled');
    await x.waitLog(/running without the admin server/);
    assert.equal(await echo(x.port, 'no admin'), 'no admin');
    // Issue 15: it used to log "xmesh ready" and exit 0 about 0.3 s later.
    const exited = await Promise.race([new Promise((r) => x.child.once('exit', () => r(true))), new Promise((r) => setTimeout(() => r(false), 1500))]);
    assert.equal(exited, false, `xmesh exited by itself: ${x.stderr()}`);
    assert.equal(await echo(x.port, 'still serving'), 'still serving');
    await x.stop();
    assert.equal(x.child.exitCode, 0);
  } finally {
    if (x.child.exitCode === null) x.child.kill('SIGKILL');
  }
});

test('SIGHUP: a reload removing every listener or an empty file is refused and the listener keeps serving; a valid reload logs its changes', async () => {
  const x = await startXmesh(dir, config(), 1);
  try {
    // every listener removed: refused
    const noListeners = config();
    noListeners.static_resources.listeners = [];
    writeFileSync(x.file, JSON.stringify(noListeners));
    let mark = x.stderr().length;
    x.child.kill('SIGHUP');
    await x.waitLog(/config reload refused: it would remove every listener/, mark);
    assert.match(x.stderr().slice(mark), /static_resources\.listeners: the new configuration has no listeners: the reload would remove every running listener \(l\); start xmesh with --allow-empty-listeners/);
    assert.equal(await echo(x.port, 'kept'), 'kept');

    // an empty (truncated) file: refused
    writeFileSync(x.file, '');
    mark = x.stderr().length;
    x.child.kill('SIGHUP');
    await x.waitLog(/config reload rejected; keeping the running configuration/, mark);
    assert.match(x.stderr().slice(mark), /the file is empty/);
    assert.equal(await echo(x.port, 'kept again'), 'kept again');

    // a valid reload: one listener added, the cluster changed; the log names them
    const next = config();
    next.static_resources.listeners.push(tcpProxyListener('l2', 0, 'c'));
    next.static_resources.clusters[0].connect_timeout = '2s';
    writeFileSync(x.file, JSON.stringify(next));
    mark = x.stderr().length;
    x.child.kill('SIGHUP');
    await x.waitLog(/config reloaded/, mark);
    const [line] = logLines(x.stderr(), /^config reloaded/, mark);
    assert.deepEqual(line.listeners, { added: ['l2'], changed: [], removed: [] });
    assert.deepEqual(line.clusters, { added: [], changed: ['c'], removed: [] });
    assert.equal(line.msg, 'config reloaded: listeners added: l2; changed: -; removed: - | clusters added: -; changed: c; removed: -');
    assert.equal(await echo(x.port, 'after'), 'after');
    await x.stop();
    assert.equal(x.child.exitCode, 0);
  } finally {
    if (x.child.exitCode === null) x.child.kill('SIGKILL');
  }
});

test('SIGHUP with --allow-empty-listeners: a config without listeners is applied and the listener closes', async () => {
  const x = await startXmesh(dir, config(), 1, { args: ['--allow-empty-listeners'] });
  try {
    const noListeners = config();
    noListeners.static_resources.listeners = [];
    writeFileSync(x.file, JSON.stringify(noListeners));
    const mark = x.stderr().length;
    x.child.kill('SIGHUP');
    await x.waitLog(/config reloaded/, mark);
    const [line] = logLines(x.stderr(), /^config reloaded/, mark);
    assert.deepEqual(line.listeners, { added: [], changed: [], removed: ['l'] });
    await assert.rejects(echo(x.port, 'gone'), /ECONNREFUSED|ECONNRESET/);
    await x.stop();
    assert.equal(x.child.exitCode, 0);
  } finally {
    if (x.child.exitCode === null) x.child.kill('SIGKILL');
  }
});
