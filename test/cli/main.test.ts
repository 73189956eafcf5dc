import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { baseConfig } from '../config/helpers';

const bin = resolve(__dirname, '../../../bin/xmesh.js');
const fake = resolve(__dirname, 'fake-dataplane.js');
const dir = mkdtempSync(join(tmpdir(), 'xmesh-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, mutate: (c: any) => void = () => undefined): string {
  const c = baseConfig();
  mutate(c);
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(c));
  return p;
}

function xmesh(args: string[], env: Record<string, string> = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, XMESH_DATAPLANE_MODULE: fake, ...env }, timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const good = file('good.json');
const bad = file('bad.json', (c) => {
  c.static_resources.clusters[0].lb_policy = 'FOO';
  c.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.cluster = 'missing';
});

const cases: Array<{ desc: string; args: string[]; env?: Record<string, string>; code: number; out?: RegExp; err?: RegExp }> = [
  { desc: 'version prints xmesh, node and native versions', args: ['version'], code: 0, out: /^xmesh 0\.1\.0\nnode v\d+\.\d+\.\d+\nnative fake-0\.0\.0\n$/ },
  { desc: 'version without the addon says unavailable', args: ['version'], env: { XMESH_DATAPLANE_MODULE: '/nonexistent/dp.js' }, code: 0, out: /native unavailable/ },
  { desc: 'validate a good file', args: ['validate', '--config', good], code: 0, out: new RegExp(`${good}: OK`) },
  {
    desc: 'validate reports every error of every file with its path',
    args: ['validate', '--config', good, bad],
    code: 1,
    out: new RegExp(
      `${good}: OK\\n${bad}: static_resources\\.clusters\\[0\\]\\.lb_policy: unknown value "FOO"[^\\n]*\\n${bad}: static_resources\\.listeners\\[0\\]\\.filter_chains\\[0\\]\\.filters\\[0\\]\\.typed_config\\.cluster: unknown cluster "missing"`,
    ),
  },
  { desc: 'validate without --config is a usage error', args: ['validate'], code: 2, err: /required option '-c, --config <files...>' not specified/ },
  { desc: 'no command is a usage error', args: [], code: 2, out: /Usage: xmesh/ },
  { desc: 'unknown command is a usage error', args: ['frobnicate'], code: 2, err: /unknown command/ },
  { desc: 'bad --concurrency is a usage error', args: ['run', '--concurrency', '0'], code: 2, err: /expected an integer/ },
  { desc: 'bad --log-level is a usage error', args: ['run', '--log-level', 'loud'], code: 2, err: /Allowed choices are trace, debug/ },
  { desc: 'run --help documents flags and exit codes', args: ['run', '--help'], code: 0, out: /--concurrency[\s\S]*SIGHUP[\s\S]*Exit codes:[\s\S]*3  startup failure/ },
  { desc: 'run with a bad config exits 1 with every error', args: ['run', '--config', bad, '--log-level', 'silent'], code: 1, err: /lb_policy: unknown value "FOO"[\s\S]*unknown cluster "missing"/ },
  { desc: 'run with --stats-path in a missing directory exits 3 naming the path', args: ['run', '--config', good, '--log-level', 'silent', '--stats-path', '/nonexistent-xmesh-dir/stats'], code: 3, err: /^xmesh: --stats-path \/nonexistent-xmesh-dir\/stats: directory \/nonexistent-xmesh-dir does not exist\n$/ },
  { desc: 'run with --stats-path naming a directory exits 3 naming the path', args: ['run', '--config', good, '--log-level', 'silent', '--stats-path', dir], code: 3, err: new RegExp(`^xmesh: --stats-path ${dir}: it is a directory \\(give a file name\\)\n$`) },
  { desc: 'run without the addon exits 3', args: ['run', '--config', good, '--log-level', 'silent'], env: { XMESH_DATAPLANE_MODULE: '/nonexistent/dp.js' }, code: 3, err: /cannot load the data plane/ },
];
for (const c of cases) {
  test(`xmesh ${c.args.join(' ')}: ${c.desc}`, () => {
    const r = xmesh(c.args, c.env);
    assert.equal(r.code, c.code, `stdout:\n${r.out}\nstderr:\n${r.err}`);
    if (c.out) assert.match(r.out, c.out);
    if (c.err) assert.match(r.err, c.err);
  });
}

test('xmesh run: logs "xmesh ready" as JSON, then SIGTERM exits 0', async () => {
  const child = spawn(process.execPath, [bin, 'run', '--config', good, '--instance', 'test-1', '--concurrency', '2'], {
    env: { ...process.env, XMESH_DATAPLANE_MODULE: fake },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const ready = new Promise<Record<string, unknown>>((resolveReady, reject) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      err += d;
      for (const line of err.split('\n')) {
        if (line.includes('"xmesh ready"')) resolveReady(JSON.parse(line));
      }
    });
    child.on('exit', (code) => reject(new Error(`exited early with ${code}: ${err}`)));
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const line = await ready;
  assert.equal(line.instance, 'test-1');
  assert.equal(line.workers, 2);
  assert.match(String((line.listeners as string[])[0]), /^l=127\.0\.0\.1:\d+$/);
  child.kill('SIGTERM');
  assert.equal(await exited, 0, err);
  assert.match(err, /"xmesh stopped"/);
});

test('help into a pipe whose reader has gone: exit 0, no EPIPE trace', async () => {
  // `xmesh run --help | head -1`: the reader is closed here before the child writes anything.
  const child = spawn(process.execPath, [bin, 'run', '--help'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XMESH_DATAPLANE_MODULE: fake } });
  child.stdout.destroy();
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  assert.doesNotMatch(err, /EPIPE|Error/);
  assert.equal(code, 0);
});
