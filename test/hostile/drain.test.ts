/**
 * Graceful stop and listener drains through a real `xmesh run`, with real sofa-rpc-node peers:
 * on SIGTERM every call in flight is answered, new connections are refused, /ready answers
 * 503 DRAINING, and xmesh exits as soon as the connections are done (well before the drain
 * time); admin POST /drain_listeners?inboundonly stops only the inbound listener.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { staticCluster } from '../config/helpers';
import { startXmesh, type XmeshProcess } from '../integration/xmesh-process';
import { makeSofaClient, startSofaServer, type SofaClient, type SofaServer } from '../fixtures/sofa';

const IFACE = 'com.alipay.test.SlowService';
const X_PROXY_TYPE = 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy';
const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function config(sofaPort: number): unknown {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [
        {
          name: 'rpc',
          traffic_direction: 'INBOUND',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'xmesh.x_proxy',
                  typed_config: {
                    '@type': X_PROXY_TYPE,
                    stat_prefix: 'rpc',
                    protocol: 'bolt',
                    request_timeout: '20s',
                    route_config: { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ route: { cluster: 'sofa' } }] }] },
                  },
                },
              ],
            },
          ],
        },
        {
          name: 'out',
          traffic_direction: 'OUTBOUND',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY_TYPE, stat_prefix: 'out', cluster: 'sofa' } }] }],
        },
      ],
      clusters: [staticCluster('sofa', [['127.0.0.1', sofaPort]])],
    },
  };
}

async function admin(x: XmeshProcess, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://${x.admin}${path}`, { method });
  return { status: r.status, body: await r.text() };
}

async function listenerPorts(x: XmeshProcess): Promise<Record<string, number>> {
  const j = JSON.parse((await admin(x, '/listeners?format=json')).body) as { listeners: Array<{ name: string; port: number }> };
  return Object.fromEntries(j.listeners.map((l) => [l.name, l.port]));
}

/** Resolves true when a TCP connection to port is accepted, false when refused. */
function accepts(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

describe('graceful stop and listener drains (real xmesh, real sofa-rpc-node peers)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmesh-drain-'));
  let sofa: SofaServer;
  const clients: SofaClient[] = [];

  before(async () => {
    sofa = await startSofaServer({
      version: '1.0',
      tag: 's',
      services: [
        {
          interfaceName: IFACE,
          methods: {
            slow: async (args) => {
              await sleep(1500);
              return { echo: args[0] };
            },
            fast: (args) => ({ echo: args[0] }),
          },
        },
      ],
    });
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await sofa?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function client(port: number): SofaClient {
    const c = makeSofaClient({ address: `127.0.0.1:${port}`, responseTimeout: 20_000 });
    clients.push(c);
    return c;
  }

  it('SIGTERM: 20 slow calls in flight are all answered, new connections are refused, then xmesh exits 0 before the drain time', async () => {
    const x = await startXmesh(dir, config(sofa.port), 2, { args: ['--drain-time-s', '20'] });
    try {
      const ports = await listenerPorts(x);
      const cs = [client(ports.rpc), client(ports.rpc), client(ports.rpc), client(ports.rpc)];
      for (const c of cs) assert.deepEqual(await c.invoke(IFACE, '1.0', 'fast', ['warm']), { echo: 'warm' });
      const calls = Array.from({ length: 20 }, (_, i) => cs[i % cs.length].invoke(IFACE, '1.0', 'slow', [i]));
      await sleep(300); // every call reached the upstream
      const from = x.stderr().length;
      const exited = new Promise<number | null>((r) => x.child.once('exit', (code) => r(code)));
      const t0 = Date.now();
      x.child.kill('SIGTERM');
      await x.waitLog(/listeners drained/, from);
      assert.equal(await accepts(ports.rpc), false, 'a new connection to the drained listener is refused');
      assert.equal(await accepts(ports.out), false);
      const ready = await admin(x, '/ready');
      assert.equal(ready.status, 503);
      assert.equal(ready.body, 'DRAINING\n');
      const replies = await Promise.all(calls);
      replies.forEach((r, i) => assert.deepEqual(r, { echo: i }));
      assert.equal(await exited, 0);
      const took = Date.now() - t0;
      assert.ok(took < 10_000, `exited ${took} ms after SIGTERM (drain time 20 s): it waits for connections, not the clock`);
      assert.match(x.stderr().slice(from), /drained: no connection open/);
    } finally {
      await x.stop();
    }
  });

  it('the drain time bounds a connection that does not finish: xmesh closes it and exits', async () => {
    const x = await startXmesh(dir, config(sofa.port), 2, { args: ['--drain-time-s', '0.5'] });
    try {
      const ports = await listenerPorts(x);
      // A tcp_proxy pair has no requests to finish: it stays until the drain time ends.
      const held = connect(ports.out, '127.0.0.1');
      await new Promise((r) => held.once('connect', r));
      const closed = new Promise((r) => held.once('close', r));
      held.on('error', () => undefined);
      const from = x.stderr().length;
      const exited = new Promise<number | null>((r) => x.child.once('exit', (code) => r(code)));
      const t0 = Date.now();
      x.child.kill('SIGTERM');
      assert.equal(await exited, 0);
      await closed;
      const took = Date.now() - t0;
      assert.ok(took >= 450 && took < 2500, `exited ${took} ms after SIGTERM with a drain time of 500 ms`);
      assert.match(x.stderr().slice(from), /drain time over: closing the connections still open/);
    } finally {
      await x.stop();
    }
  });

  it('POST /drain_listeners?inboundonly stops only the INBOUND listener; /ready says DRAINING', async () => {
    const x = await startXmesh(dir, config(sofa.port), 2, { args: ['--drain-time-s', '0'] });
    try {
      const ports = await listenerPorts(x);
      const c = client(ports.rpc);
      assert.deepEqual(await c.invoke(IFACE, '1.0', 'fast', ['before']), { echo: 'before' });
      assert.equal((await admin(x, '/ready')).status, 200);
      assert.equal((await admin(x, '/drain_listeners?bogus', 'POST')).status, 400);
      const r = await admin(x, '/drain_listeners?inboundonly', 'POST');
      assert.equal(r.status, 200);
      assert.equal(r.body, 'OK: drained rpc\n');
      assert.equal(await accepts(ports.rpc), false);
      assert.equal(await accepts(ports.out), true, 'the outbound listener still accepts');
      // Not graceful: the connection already open keeps working.
      assert.deepEqual(await c.invoke(IFACE, '1.0', 'fast', ['after']), { echo: 'after' });
      const ready = await admin(x, '/ready');
      assert.equal(ready.status, 503);
      assert.equal(ready.body, 'DRAINING\n');
      const j = JSON.parse((await admin(x, '/listeners?format=json')).body) as { listeners: Array<{ name: string; drained: boolean }> };
      assert.deepEqual(Object.fromEntries(j.listeners.map((l) => [l.name, l.drained])), { rpc: true, out: false });
      assert.equal((await admin(x, '/drain_listeners?inboundonly', 'POST')).body, 'OK: no listener left to drain\n');
    } finally {
      await x.stop();
    }
  });
});
