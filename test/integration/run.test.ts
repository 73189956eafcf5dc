/**
 * `xmesh run` as a real process with the real native addon: traffic flows through the
 * configured listener, the admin API reports it, SIGHUP applies a new valid config and
 * ignores a broken one, and SIGTERM shuts down gracefully (workers joined: exit code 0, not
 * the forced-exit code 4) once the drain time ends, even with a proxied connection still open.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { NODE_FLAGS } from '../../src/cli/node-flags';
import { staticCluster, tcpProxyListener } from '../config/helpers';

const bin = resolve(__dirname, '../../../bin/xmesh.js');
const dir = mkdtempSync(join(tmpdir(), 'xmesh-int-'));
let upstream: net.Server;
let upPort = 0;

before(async () => {
  upstream = net.createServer((c) => {
    c.on('error', () => undefined); // xmesh may reset the upstream side (shutdown, RST propagation): not this test's failure
    c.pipe(c);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  upPort = (upstream.address() as net.AddressInfo).port;
});
after(() => {
  upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

function config(extraCluster: Record<string, unknown> = {}): string {
  const p = join(dir, `cfg-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    p,
    JSON.stringify({
      admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
      static_resources: {
        listeners: [tcpProxyListener('edge', 0, 'echo')],
        clusters: [staticCluster('echo', [['127.0.0.1', upPort]], extraCluster)],
      },
    }),
  );
  return p;
}

interface Running {
  child: ChildProcess;
  port: number;
  admin: string;
  ioBackend: string;
  stderr: () => string;
  exited: Promise<{ code: number | null; ms: number }>;
  waitLog: (re: RegExp, from?: number) => Promise<void>;
}

/** Start `xmesh run`: as `node bin/xmesh.js` (default), or through the script's own shebang. */
async function start(cfg: string, via: 'node' | 'shebang' = 'node', extra: string[] = [], env?: NodeJS.ProcessEnv): Promise<Running> {
  const args = ['run', '--config', cfg, '--concurrency', '2', ...extra];
  const opts = { stdio: ['ignore', 'ignore', 'pipe'] as ('ignore' | 'pipe')[], env: env ?? process.env };
  const child = via === 'shebang' ? spawn(bin, args, opts) : spawn(process.execPath, [bin, ...args], opts);
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (err += d));
  let killedAt = 0;
  const origKill = child.kill.bind(child);
  child.kill = (sig?: NodeJS.Signals | number) => {
    killedAt = Date.now();
    return origKill(sig);
  };
  const exited = new Promise<{ code: number | null; ms: number }>((r) => child.on('exit', (code) => r({ code, ms: Date.now() - killedAt })));
  const waitLog = (re: RegExp, from = 0) =>
    new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`timeout waiting for ${re}: ${err}`)), 10_000);
      const check = () => {
        if (re.test(err.slice(from))) {
          clearTimeout(t);
          child.stderr!.off('data', check);
          res();
        }
      };
      child.stderr!.on('data', check);
      check();
    });
  await waitLog(/"xmesh ready"/);
  const ready = JSON.parse(err.split('\n').find((l) => l.includes('"xmesh ready"'))!);
  const port = Number(String(ready.listeners[0]).split(':').pop());
  return { child, port, admin: ready.admin, ioBackend: ready.ioBackend, stderr: () => err, exited, waitLog };
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    http.get(url, (r) => {
      let b = '';
      r.setEncoding('utf8');
      r.on('data', (d) => (b += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, body: b }));
    }).on('error', rej);
  });
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

test('run: proxies traffic, admin reports it, SIGHUP reloads, SIGTERM exits 0 once the drain time (0.5 s) ends', async () => {
  const cfg = config();
  const r = await start(cfg, 'node', ['--drain-time-s', '0.5']);
  try {
    assert.equal(await echo(r.port, 'through xmesh'), 'through xmesh');
    assert.equal((await get(`http://${r.admin}/ready`)).status, 200);
    const stats = await get(`http://${r.admin}/stats`);
    assert.match(stats.body, /^tcp\.edge\.downstream_cx_total: 1$/m);
    const prom = await get(`http://${r.admin}/stats/prometheus`);
    assert.match(prom.body, /^xmesh_cluster_upstream_cx_total\{cluster="echo"\} 1$/m);

    // A broken file on SIGHUP: rejected, the running config keeps serving.
    writeFileSync(cfg, '{"static_resources": {"clusters": [{"name": 5}]}}');
    let mark = r.stderr().length;
    r.child.kill('SIGHUP');
    await r.waitLog(/reload/i, mark);
    assert.equal(await echo(r.port, 'still'), 'still');
    // A valid one: applied (the listener keeps its socket: same port).
    writeFileSync(cfg, JSON.stringify(JSON.parse(require('node:fs').readFileSync(config({ lb_policy: 'RANDOM' }), 'utf8'))));
    mark = r.stderr().length;
    r.child.kill('SIGHUP');
    await r.waitLog(/"version":2|reloaded|applied/i, mark);
    assert.equal(await echo(r.port, 'after reload'), 'after reload');

    // A connection left open across shutdown must not keep the process alive past the drain time.
    const held = net.connect(r.port, '127.0.0.1');
    await new Promise<void>((res) => held.on('connect', () => res()));
    held.write('x');
    const heldClosed = new Promise<void>((res) => held.on('close', () => res()));
    held.on('error', () => undefined);
    held.resume();
    r.child.kill('SIGTERM');
    const { code, ms } = await r.exited;
    assert.equal(code, 0, `graceful exit expected (4 = forced): ${r.stderr()}`);
    assert.ok(ms >= 450 && ms < 2500, `exited in ${ms} ms`);
    await heldClosed;
  } finally {
    if (r.child.exitCode === null) r.child.kill('SIGKILL');
  }
});

test('run: a broken config file is refused with every error and exit code 1', async () => {
  const p = join(dir, 'broken.yaml');
  writeFileSync(p, 'static_resources:\n  clusters:\n  - name: a\n    lb_policy: FOO\n    connect_timeout: soon\n');
  const child = spawn(process.execPath, [bin, 'run', '--config', p], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 1);
  assert.match(err, /static_resources\.clusters\[0\]\.lb_policy: unknown value "FOO"/);
  assert.match(err, /static_resources\.clusters\[0\]\.connect_timeout/);
});

test('run: started through bin/xmesh.js itself, node runs with the flags of its shebang (--no-memory-reducer)', async () => {
  const r = await start(config(), 'shebang');
  try {
    // `env -S` execs node in place, so the child's own command line shows what V8 got.
    const argv = readFileSync(`/proc/${r.child.pid}/cmdline`, 'utf8').split('\0');
    for (const f of NODE_FLAGS) assert.ok(argv.includes(f), `${f} missing from ${argv.join(' ')}`);
    assert.ok(argv.indexOf(NODE_FLAGS[0]) < argv.indexOf(bin), 'a node flag, before the script');
    assert.equal(await echo(r.port, 'ok'), 'ok');
  } finally {
    r.child.kill('SIGTERM');
    assert.equal((await r.exited).code, 0);
  }
});

/** Send len patterned bytes, half-close, and return what came back (the echo upstream). */
function echoBytes(port: number, len: number): Promise<Buffer> {
  return new Promise((res, rej) => {
    const out = Buffer.alloc(len);
    for (let i = 0; i < len; i++) out[i] = (i * 131 + (i >> 9)) & 0xff;
    const parts: Buffer[] = [];
    const c = net.connect(port, '127.0.0.1', () => c.end(out));
    c.on('data', (d: Buffer) => parts.push(d));
    c.on('end', () => res(Buffer.concat(parts)));
    c.on('error', rej);
  });
}

for (const backend of ['epoll', 'io_uring'] as const) {
  test(`run: --io-backend ${backend} carries small and bulk traffic intact; the ready log and /stats name the backend`, async () => {
    const r = await start(config(), 'node', ['--io-backend', backend]);
    try {
      assert.equal(r.ioBackend, backend);
      for (const len of [1, 100, 4 << 20]) {
        const back = await echoBytes(r.port, len);
        assert.equal(back.length, len);
        for (let i = 0; i < len; i++) if (back[i] !== ((i * 131 + (i >> 9)) & 0xff)) assert.fail(`byte ${i} of ${len} differs`);
      }
      const stats = (await get(`http://${r.admin}/stats`)).body;
      assert.match(stats, new RegExp(`^dataplane\\.io_uring_workers: ${backend === 'io_uring' ? 2 : 0}$`, 'm'));
      assert.match(stats, /^tcp\.edge\.downstream_cx_total: 3$/m);
      // every worker's loop turns are timed (Envoy's dispatcher.loop_duration_us), per worker
      for (const w of [0, 1]) {
        const m = new RegExp(`^dataplane\\.worker\\.${w}\\.loop_duration_ms: P50\\([\\d.]+\\) .* count\\((\\d+)\\)`, 'm').exec(stats);
        assert.ok(m && Number(m[1]) > 0, `worker ${w} loop_duration_ms in /stats`);
      }
      const prom = (await get(`http://${r.admin}/stats/prometheus`)).body;
      assert.match(prom, /^xmesh_dataplane_worker_loop_duration_ms_count\{worker="1"\} [1-9]\d*$/m);
    } finally {
      r.child.kill('SIGTERM');
      assert.equal((await r.exited).code, 0);
    }
  });
}

test('run: XMESH_IO_BACKEND picks the backend when --io-backend is not given; the flag wins over it', async () => {
  const env = { ...process.env, XMESH_IO_BACKEND: 'epoll' };
  for (const [extra, want] of [[[], 'epoll'], [['--io-backend', 'io_uring'], 'io_uring']] as const) {
    const r = await start(config(), 'node', [...extra], env);
    try {
      assert.equal(r.ioBackend, want);
      assert.equal(await echo(r.port, 'ok'), 'ok');
    } finally {
      r.child.kill('SIGTERM');
      assert.equal((await r.exited).code, 0);
    }
  }
});
