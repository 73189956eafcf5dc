import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT } from '../../src/cli/exit-codes';
import { runCommand, type RunEnv, type RunOptions } from '../../src/cli/run';
import type { DataPlaneOptions } from '../../src/dataplane/types';
import type { ServerHandle } from '../../src/server';
import { Logging, silentLogging } from '../../src/util/log';
import { baseConfig, tcpProxyListener } from '../config/helpers';
import { FakeDataPlane } from './fake-dataplane';

const dir = mkdtempSync(join(tmpdir(), 'xmesh-run-'));
let upstream: Server;
let upstreamPort = 0;

before(async () => {
  // An echo server that prefixes replies, standing in for the application.
  upstream = createServer((s) => s.on('data', (d) => s.write(`echo:${d}`)));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  upstreamPort = (upstream.address() as AddressInfo).port;
});
after(() => {
  upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

function configFile(name: string, mutate: (c: any) => void = () => undefined): string {
  const c = baseConfig();
  c.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = upstreamPort;
  mutate(c);
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(c));
  return p;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function roundTrip(port: number, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection(port, '127.0.0.1', () => s.write(msg));
    s.once('data', (d) => {
      resolve(d.toString());
      s.end();
    });
    s.on('error', reject);
  });
}

interface Harness {
  signals: EventEmitter;
  errors: string[];
  dps: FakeDataPlane[];
  ready: Promise<ServerHandle>;
  exit: Promise<number>;
}

function start(config: string | undefined, extra: Partial<RunEnv> = {}, factory?: (o: DataPlaneOptions) => FakeDataPlane, opts: Partial<RunOptions> = {}): Harness {
  const signals = new EventEmitter();
  const errors: string[] = [];
  const dps: FakeDataPlane[] = [];
  let onReady!: (h: ServerHandle) => void;
  const ready = new Promise<ServerHandle>((r) => (onReady = r));
  const exit = runCommand(
    { config, concurrency: 3, logLevel: 'silent', ...opts },
    {
      signals,
      logging: silentLogging(),
      errorOut: (l) => errors.push(l),
      onReady,
      createDataPlane: (o) => {
        const dp = factory ? factory(o) : new FakeDataPlane(o);
        dps.push(dp);
        return dp;
      },
      ...extra,
    },
  );
  return { signals, errors, dps, ready, exit };
}

test('run: serves traffic, /ready is LIVE, SIGHUP reloads (bad file kept out), SIGTERM exits 0', async () => {
  const file = configFile('live.json');
  const h = start(file);
  const handle = await h.ready;
  const dp = h.dps[0];
  assert.equal(dp.opts.workers, 3);

  const admin = handle.adminAddress()!;
  const ready = await fetch(`http://127.0.0.1:${admin.port}/ready`);
  assert.equal(ready.status, 200);
  const port = handle.info().listeners[0].port;
  assert.equal(await roundTrip(port, 'hi'), 'echo:hi');

  // An invalid file: the data plane is not touched.
  writeFileSync(file, '{"static_resources": {"clusters": [{"name": "c", "lb_policy": "FOO"}]}}');
  h.signals.emit('SIGHUP', 'SIGHUP');
  await until(() => handle.controlStats.get('config_reload_failed') === 1, 'reload failure');
  assert.equal(dp.applied.length, 1);
  assert.equal(await roundTrip(port, 'still'), 'echo:still');

  // A valid file with a second listener is applied as version 2.
  configFile('live.json', (c) => c.static_resources.listeners.push(tcpProxyListener('second', 0, 'c')));
  h.signals.emit('SIGHUP', 'SIGHUP');
  await until(() => handle.controlStats.get('config_reload_ok') === 1, 'reload success');
  assert.equal(dp.applied.length, 2);
  assert.equal(dp.applied[1].version, 2);
  const second = handle.info().listeners.find((l) => l.name === 'second')!;
  assert.equal(await roundTrip(second.port, 'two'), 'echo:two');

  // Stats from the control core are exported with the native ones.
  const prom = await (await fetch(`http://127.0.0.1:${admin.port}/stats/prometheus`)).text();
  assert.match(prom, /^xmesh_server_config_reload_ok 1$/m);
  assert.match(prom, /^xmesh_server_config_reload_failed 1$/m);

  h.signals.emit('SIGTERM', 'SIGTERM');
  assert.equal(await h.exit, EXIT.OK);
  assert.equal(dp.closed, true);
  assert.equal(h.signals.listenerCount('SIGTERM'), 0, 'signal handlers are removed');
});

test('run: a bad config exits 1 and prints every error with its path', async () => {
  const file = configFile('bad.json', (c) => {
    c.static_resources.clusters[0].lb_policy = 'FOO';
    c.static_resources.listeners[0].address.socket_address.port_value = 99999;
  });
  const h = start(file);
  assert.equal(await h.exit, EXIT.BAD_CONFIG);
  assert.equal(h.dps.length, 0, 'the data plane is never created');
  assert.deepEqual(h.errors.sort(), [
    `${file}: static_resources.clusters[0].lb_policy: unknown value "FOO" (expected one of ROUND_ROBIN, RANDOM, LEAST_REQUEST, RING_HASH, MAGLEV, WEIGHTED_ROUND_ROBIN, CLUSTER_PROVIDED)`,
    `${file}: static_resources.listeners[0].address.socket_address.port_value: value 99999 out of range (expected 0..65535)`,
  ]);
});

test('run: a listener port in use is a startup failure (exit 3) and the data plane is closed', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  const port = (busy.address() as AddressInfo).port;
  try {
    const h = start(configFile('busy.json', (c) => (c.static_resources.listeners[0].address.socket_address.port_value = port)));
    assert.equal(await h.exit, EXIT.STARTUP_FAILED);
    assert.match(h.errors.join('\n'), /listener "l": EADDRINUSE/);
    assert.equal(h.dps[0].closed, true);
  } finally {
    busy.close();
  }
});

test('run: an admin port in use is a startup failure (exit 3)', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  const port = (busy.address() as AddressInfo).port;
  try {
    const h = start(configFile('busy-admin.json', (c) => (c.admin.address.socket_address.port_value = port)));
    assert.equal(await h.exit, EXIT.STARTUP_FAILED);
    assert.match(h.errors.join('\n'), /admin server cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
  } finally {
    busy.close();
  }
});

test('run: a data plane that cannot be created is exit 3', async () => {
  const h = start(configFile('noaddon.json'), {}, () => {
    throw new Error('addon missing');
  });
  assert.equal(await h.exit, EXIT.STARTUP_FAILED);
  assert.match(h.errors.join('\n'), /cannot start the data plane: addon missing/);
});

test('run: a data plane failure names the --stats-path file, and the addon\'s own prefix is not repeated', async () => {
  const refuse = (): FakeDataPlane => {
    throw new Error('data plane start failed: Operation not permitted');
  };
  const plain = start(configFile('dpfail.json'), {}, refuse);
  assert.equal(await plain.exit, EXIT.STARTUP_FAILED);
  assert.deepEqual(plain.errors, ['xmesh: cannot start the data plane: Operation not permitted']);
  const stats = join(dir, 'stats.block');
  const withPath = start(configFile('dpfail2.json'), {}, refuse, { statsPath: stats });
  assert.equal(await withPath.exit, EXIT.STARTUP_FAILED);
  assert.deepEqual(withPath.errors, [`xmesh: cannot start the data plane: Operation not permitted (stats block file --stats-path ${stats})`]);
});

test('run: a startup that hangs still obeys signals: the deadline after one, at once after a second (exit 4)', async () => {
  class HangingStart extends FakeDataPlane {
    override hangApply = true;
  }
  const one = start(configFile('hangstart.json'), { shutdownDeadlineMs: 50 }, (o) => new HangingStart(o));
  await until(() => one.dps.length === 1, 'the data plane is created');
  one.signals.emit('SIGTERM', 'SIGTERM');
  assert.equal(await one.exit, EXIT.SHUTDOWN_FORCED);
  assert.equal(one.signals.listenerCount('SIGTERM'), 0, 'signal handlers are removed');

  const two = start(configFile('hangstart2.json'), { shutdownDeadlineMs: 60_000 }, (o) => new HangingStart(o));
  await until(() => two.dps.length === 1, 'the data plane is created');
  const t0 = Date.now();
  two.signals.emit('SIGINT', 'SIGINT');
  two.signals.emit('SIGTERM', 'SIGTERM');
  assert.equal(await two.exit, EXIT.SHUTDOWN_FORCED);
  assert.ok(Date.now() - t0 < 1000, 'not after the 60 s deadline');
});

test('run: a stop signal during a startup that completes stops gracefully once started (exit 0)', async () => {
  class SlowStart extends FakeDataPlane {
    override async apply(s: Parameters<FakeDataPlane['apply']>[0]) {
      await new Promise((r) => setTimeout(r, 100));
      return super.apply(s);
    }
  }
  const h = start(configFile('slowstart.json'), { shutdownDeadlineMs: 5000 }, (o) => new SlowStart(o));
  await until(() => h.dps.length === 1, 'the data plane is created');
  h.signals.emit('SIGTERM', 'SIGTERM');
  assert.equal(await h.exit, EXIT.OK);
  assert.equal(h.dps[0].applied.length, 1, 'it had started');
  assert.equal(h.dps[0].closed, true);
});

test('run: a shutdown that hangs is forced after the deadline (exit 4); so is a second signal', async () => {
  class Hanging extends FakeDataPlane {
    override close(): Promise<void> {
      return new Promise(() => undefined);
    }
  }
  const slow = start(configFile('hang.json'), { shutdownDeadlineMs: 50 }, (o) => new Hanging(o));
  await slow.ready;
  slow.signals.emit('SIGINT', 'SIGINT');
  assert.equal(await slow.exit, EXIT.SHUTDOWN_FORCED);
  await FakeDataPlane.prototype.close.call(slow.dps[0]);

  const twice = start(configFile('hang2.json'), { shutdownDeadlineMs: 60_000 }, (o) => new Hanging(o));
  await twice.ready;
  twice.signals.emit('SIGTERM', 'SIGTERM');
  twice.signals.emit('SIGTERM', 'SIGTERM');
  assert.equal(await twice.exit, EXIT.SHUTDOWN_FORCED);
  await FakeDataPlane.prototype.close.call(twice.dps[0]);
});

test('run: an empty or whitespace-only config file is an error (exit 1), never a proxy with nothing configured', async () => {
  for (const [name, text] of [['empty.yaml', ''], ['blank.yaml', '  \n\n# to be written\n'], ['empty.json', '\n']] as const) {
    const p = join(dir, name);
    writeFileSync(p, text);
    const h = start(p);
    assert.equal(await h.exit, EXIT.BAD_CONFIG, name);
    assert.equal(h.dps.length, 0);
    assert.deepEqual(h.errors, [`${p}: the file is empty (only whitespace or comments): no configuration to load`]);
  }
});

test('run: a full stats block is logged once, naming the first stat that did not fit', async () => {
  const file = configFile('overflow.json');
  const lines: string[] = [];
  const logging = new Logging({ level: 'info', destination: { write: (s: string) => lines.push(s) } });
  const h = start(file, { logging }, (o) => {
    const dp = new FakeDataPlane(o);
    dp.overflow = { count: 7, key: 'cluster.{cluster=c9}.upstream_cx_total' };
    return dp;
  });
  await h.ready;
  configFile('overflow.json', (c) => c.static_resources.listeners.push(tcpProxyListener('second', 0, 'c')));
  h.signals.emit('SIGHUP', 'SIGHUP');
  await until(() => lines.some((l) => /config reloaded/.test(l)), 'reload');
  const full = lines.filter((l) => /the stats block is full/.test(l)).map((l) => JSON.parse(l));
  assert.equal(full.length, 1, 'logged once, not at every apply');
  assert.equal(full[0].level, 50);
  assert.equal(full[0].first, 'cluster.{cluster=c9}.upstream_cx_total');
  assert.equal(full[0].overflow, 7);
  assert.match(full[0].msg, /--stats-capacity-mb/);
  h.signals.emit('SIGTERM', 'SIGTERM');
  assert.equal(await h.exit, EXIT.OK);
});
