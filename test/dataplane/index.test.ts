/**
 * The data-plane facade against the real native addon: snapshots apply and carry TCP
 * traffic, bad snapshots are rejected without disturbing the running one, stats flow,
 * arguments are validated before native code runs, and close() joins the workers.
 */
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { translate } from '../../src/config/translate';
import type { BootstrapCfg } from '../../src/config/types';
import { validateConfig } from '../../src/config/validate';
import { createDataPlane, decodeSnapshot, encodeSnapshot, type DataPlane, type SnapshotMsg } from '../../src/dataplane';
import { terminalFilter } from '../../src/dataplane/shapes';
import { staticCluster, tcpProxyListener } from '../config/helpers';

function echoServer(): Promise<net.Server> {
  return new Promise((resolve) => {
    const s = net.createServer((c) => {
      c.on('error', () => undefined); // a reset from the proxy side is not this helper's failure
      c.pipe(c);
    });
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

function portOf(s: net.Server): number {
  return (s.address() as net.AddressInfo).port;
}

function roundtrip(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const c = net.connect(port, '127.0.0.1', () => c.end(payload));
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => resolve(Buffer.concat(chunks)));
    c.on('error', reject);
    c.setTimeout(5000, () => c.destroy(new Error('timeout')));
  });
}

/** What the control core sends: a tcp_proxy listener per [name, port] (port 0 = ephemeral) to
 * cluster "backend" (127.0.0.1:upstreamPort), translated, so every default is explicit. */
function snapshot(version: number, upstreamPort: number, listeners: Array<[string, number]> = [['ingress', 0]]): SnapshotMsg {
  const r = validateConfig({
    static_resources: { listeners: listeners.map(([name, port]) => tcpProxyListener(name, port, 'backend')), clusters: [staticCluster('backend', [['127.0.0.1', upstreamPort]])] },
  });
  assert.deepEqual(r.errors, []);
  return translate((r as { config: BootstrapCfg }).config, new Map(), version).snapshot;
}

describe('dataplane', () => {
  let up: net.Server;
  let dp: DataPlane;

  before(async () => {
    up = await echoServer();
    dp = createDataPlane({ workers: 2 });
  });
  after(async () => {
    await dp.close();
    up.close();
  });

  it('encodes and decodes the snapshot contract losslessly', () => {
    const s = snapshot(7, 1234);
    const back = decodeSnapshot(encodeSnapshot(s));
    assert.equal(back.version, 7);
    assert.equal(back.clusters![0].endpoints![0].address!.port, 1234);
    assert.equal(terminalFilter(back.listeners![0])?.tcp_proxy?.cluster, 'backend');
  });

  it('applies a snapshot and proxies bytes both ways', async () => {
    const info = await dp.apply(snapshot(1, portOf(up)));
    assert.equal(info.version, 1);
    assert.equal(info.workers, 2);
    const l = info.listeners.find((x) => x.name === 'ingress');
    assert.ok(l && l.port > 0, 'listener bound to an ephemeral port');
    const payload = Buffer.alloc(300_000, 'xmesh');
    const got = await roundtrip(l!.port, payload);
    assert.ok(got.equals(payload));
    const stats = dp.stats();
    const total = stats.find((s) => s.key === 'tcp.{stat_prefix=ingress}.downstream_cx_total');
    assert.ok(total && total.type === 'counter' && total.value >= 1);
    const copied = stats.find((s) => s.key === 'tcp.{stat_prefix=ingress}.bytes_copied');
    assert.ok(copied && copied.type === 'counter' && copied.value === 0, 'payload bytes are never copied');
    const hist = stats.find((s) => s.key === 'cluster.{cluster=backend}.upstream_cx_connect_ms');
    assert.ok(hist && hist.type === 'histogram' && hist.count >= 1);
  });

  it('rejects a snapshot referencing a missing cluster and keeps the running one', async () => {
    const before = dp.info();
    const bad = snapshot(2, portOf(up));
    terminalFilter(bad.listeners![0])!.tcp_proxy!.cluster = 'nope';
    await assert.rejects(dp.apply(bad), /tcp_proxy cluster 'nope' not found/);
    const now = dp.info();
    assert.equal(now.version, before.version);
    const port = now.listeners[0].port;
    assert.equal(port, before.listeners[0].port);
    const got = await roundtrip(port, Buffer.from('still here'));
    assert.equal(got.toString(), 'still here');
  });

  it('reports a listener that cannot bind, naming it', async () => {
    const blocker = await echoServer();
    const bad = snapshot(3, portOf(up), [['ingress', 0], ['taken', portOf(blocker)]]);
    await assert.rejects(dp.apply(bad), /listener 'taken'.*Address already in use/);
    blocker.close();
  });

  it('runs named worker threads at the priority XMESH_WORKER_NICE asks for (default unchanged)', () => {
    const tasks = require('node:fs').readdirSync('/proc/self/task') as string[];
    const workers = tasks
      .map((t) => ({ comm: require('node:fs').readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim(), stat: require('node:fs').readFileSync(`/proc/self/task/${t}/stat`, 'utf8') as string }))
      .filter((t) => t.comm.startsWith('xmesh-w'));
    assert.equal(workers.length, 2);
    // field 19 of /proc/.../stat is the nice value (fields counted after the comm's ')').
    const nice = (stat: string) => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    const asked = Number(process.env.XMESH_WORKER_NICE ?? 0);
    const expected = asked < 0 && process.getuid?.() !== 0 ? 0 : asked;
    for (const w of workers) assert.equal(nice(w.stat), expected, `${w.comm} nice`);
  });

  it('validates arguments before native code runs', () => {
    assert.throws(() => createDataPlane({ workers: 0 }), TypeError);
    assert.throws(() => createDataPlane({ workers: 1.5 }), TypeError);
    assert.throws(() => dp.setHostHealth('backend', 5 as unknown as string, true), TypeError);
    assert.throws(() => createDataPlane({ workers: 1, ioBackend: 'kqueue' as never }), /ioBackend: one of auto, epoll, io_uring/);
  });

  for (const ioBackend of ['epoll', 'io_uring'] as const) {
    it(`runs the ${ioBackend} backend when asked, says so in info(), and carries bytes intact`, async () => {
      const d = createDataPlane({ workers: 1, ioBackend });
      try {
        assert.equal(d.info().ioBackend, ioBackend);
        const l = (await d.apply(snapshot(1, portOf(up)))).listeners[0];
        for (const len of [1, 300_000]) {
          const payload = Buffer.alloc(len);
          for (let i = 0; i < len; i++) payload[i] = (i * 7 + (i >> 8)) & 0xff;
          assert.ok((await roundtrip(l.port, payload)).equals(payload), `${len} bytes`);
        }
        const gauge = d.stats().find((x) => x.key === 'dataplane.io_uring_workers');
        assert.ok(gauge && gauge.type === 'gauge' && gauge.value === (ioBackend === 'io_uring' ? 1 : 0));
      } finally {
        await d.close();
      }
    });
  }

  it('close() joins the workers promptly and is idempotent', async () => {
    const d2 = createDataPlane({ workers: 2 });
    await d2.apply(snapshot(1, portOf(up)));
    const t0 = Date.now();
    await d2.close();
    await d2.close();
    assert.ok(Date.now() - t0 < 2000, 'closed within 2 s');
    assert.deepEqual(d2.info().listeners, []);
    await assert.rejects(d2.apply(snapshot(2, portOf(up))), /closed/);
  });
});
