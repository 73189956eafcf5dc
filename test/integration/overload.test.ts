/**
 * The overload manager through a real `xmesh run`: with the fixed_heap monitor's limit below
 * the process's memory, stop_accepting_connections leaves new connections in the kernel's
 * backlog (served once the action is lifted by a reload) and reject_incoming_connections
 * closes them, counted; open connections keep working throughout; reset_high_memory_stream
 * resets the x_proxy clients holding large unfinished frames, not the others. The global connection
 * limit and the connection_limit filter refuse connections beyond them, counted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminStats, startXmesh, type XmeshProcess } from './xmesh-process';
import { staticCluster, tcpProxyListener } from '../config/helpers';
import { boltHead, openConn } from '../hostile/hostile-client';

const HEAP = 'envoy.resource_monitors.fixed_heap';
const HEAP_TYPE = 'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig';
const GCX = 'envoy.resource_monitors.global_downstream_max_connections';
const GCX_TYPE = 'type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig';

function config(echoPort: number, overload: unknown, listener: Record<string, unknown> = tcpProxyListener('l', 0, 'c')): unknown {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: { listeners: [listener], clusters: [staticCluster('c', [['127.0.0.1', echoPort]])] },
    overload_manager: overload,
  };
}

function heapAction(action: string, maxBytes: number): unknown {
  return {
    refresh_interval: '0.05s',
    resource_monitors: [{ name: HEAP, typed_config: { '@type': HEAP_TYPE, max_heap_size_bytes: maxBytes } }],
    actions: [{ name: `envoy.overload_actions.${action}`, triggers: [{ name: HEAP, threshold: { value: 0.9 } }] }],
  };
}

/** A connection through xmesh; resolves once connected (TCP level). */
function open(port: number): Promise<Socket> {
  return new Promise((res, rej) => {
    const s = connect(port, '127.0.0.1', () => res(s));
    s.once('error', rej);
  });
}

/** Resolves with what comes back once it is as long as want (default: msg), or 'closed' /
 * 'silent' (nothing within ms). */
function echo(s: Socket, msg: string, ms = 1000, want = msg.length): Promise<string> {
  return new Promise((res) => {
    let got = '';
    const t = setTimeout(() => done(got || 'silent'), ms);
    const done = (v: string) => {
      clearTimeout(t);
      s.off('data', onData);
      s.off('close', onClose);
      s.pause(); // what comes later waits for the next call instead of being dropped
      res(v);
    };
    const onData = (d: Buffer) => {
      got += d.toString();
      if (got.length >= want) done(got);
    };
    const onClose = () => done(got || 'closed');
    s.on('data', onData);
    s.once('close', onClose);
    s.on('error', () => undefined);
    s.resume();
    if (!s.destroyed) s.write(msg);
  });
}

async function reload(x: XmeshProcess, cfg: unknown): Promise<void> {
  const from = x.stderr().length;
  writeFileSync(x.file, JSON.stringify(cfg));
  x.child.kill('SIGHUP');
  await x.waitLog(/config reloaded/, from);
}

describe('overload manager and connection limits (real xmesh)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmesh-overload-'));
  let upstream: Server;
  let echoPort = 0;
  const sockets: Socket[] = [];

  before(async () => {
    upstream = createServer((s) => s.on('data', (d) => s.write(d)).on('error', () => undefined));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    echoPort = (upstream.address() as AddressInfo).port;
  });
  after(() => {
    for (const s of sockets) s.destroy();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function track(p: Promise<Socket>): Promise<Socket> {
    const s = await p;
    sockets.push(s);
    return s;
  }

  it('fixed_heap over its threshold: stop_accepting_connections holds new connections in the backlog until lifted', async () => {
    const x = await startXmesh(dir, config(echoPort, heapAction('stop_accepting_connections', 64 * 2 ** 30)), 2);
    try {
      const before = await track(open(x.port));
      assert.equal(await echo(before, 'a'), 'a');
      // 1 MiB: far below the process's memory, so the pressure is far above 0.9.
      const from = x.stderr().length;
      await reload(x, config(echoPort, heapAction('stop_accepting_connections', 2 ** 20)));
      await x.waitLog(/overload: not accepting new connections/, from);
      const waiting = await track(open(x.port)); // the kernel completes it: the backlog
      assert.equal(await echo(waiting, 'b', 500), 'silent', 'nobody accepts it while the action is in force');
      assert.equal(await echo(before, 'c'), 'c', 'an open connection keeps working');
      assert.equal((await adminStats(x.admin)).get('server.overload_stop_accepting_connections'), 1);
      await reload(x, config(echoPort, heapAction('stop_accepting_connections', 64 * 2 ** 30)));
      await x.waitLog(/overload: actions lifted/, from);
      assert.equal(await echo(waiting, 'd', 2000, 2), 'bd', 'accepted once lifted, with what it sent before');
      assert.equal((await adminStats(x.admin)).get('server.overload_stop_accepting_connections'), 0);
    } finally {
      await x.stop();
    }
  });

  it('reject_incoming_connections closes new connections and counts them', async () => {
    const x = await startXmesh(dir, config(echoPort, heapAction('reject_incoming_connections', 2 ** 20)), 1);
    try {
      await x.waitLog(/overload: closing incoming connections/);
      for (let i = 0; i < 3; i++) assert.equal(await echo(await track(open(x.port)), 'x'), 'closed');
      assert.equal((await adminStats(x.admin)).get('listener.l.downstream_cx_overload_reject'), 3);
    } finally {
      await x.stop();
    }
  });

  it('reset_high_memory_stream resets the x_proxy clients holding an unfinished frame of 2^N bytes or more, counted', async () => {
    const xp = {
      name: 'rpc',
      address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
      filter_chains: [{ filters: [{ name: 'xmesh.x_proxy', typed_config: { '@type': 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy', stat_prefix: 'rpc', protocol: 'bolt', route_config: { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ route: { cluster: 'c' } }] }] } } }] }],
    };
    const om = {
      refresh_interval: '0.05s',
      buffer_factory_config: { minimum_account_to_track_power_of_two: 14 }, // 16 KiB
      resource_monitors: [{ name: HEAP, typed_config: { '@type': HEAP_TYPE, max_heap_size_bytes: 2 ** 20 } }], // far below: saturated
      actions: [{ name: 'envoy.overload_actions.reset_high_memory_stream', triggers: [{ name: HEAP, threshold: { value: 0.9 } }] }],
    };
    const x = await startXmesh(dir, config(echoPort, om, xp), 1);
    try {
      await x.waitLog(/overload: resetting client connections holding 16384 bytes/);
      const big = await openConn(x.port);
      await big.write(Buffer.concat([boltHead(1, 256 * 1024), Buffer.alloc(64 * 1024, 98)]));
      const small = await openConn(x.port);
      await small.write(Buffer.concat([boltHead(2, 256 * 1024), Buffer.alloc(1024, 98)]));
      await Promise.race([big.closed, new Promise((r) => setTimeout(r, 3000))]);
      assert.equal(big.closedByPeer(), true, 'the client holding 64 KiB of a frame is reset');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(small.closedByPeer(), false, 'the one holding 1 KiB stays');
      assert.equal((await adminStats(x.admin)).get('xproxy.rpc.downstream_cx_overload_reset'), 1);
      small.socket.destroy();
    } finally {
      await x.stop();
    }
  });

  it('the global connection limit and a connection_limit filter close what is over them, counted', async () => {
    const limited = {
      name: 'l',
      address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
      filter_chains: [
        {
          filters: [
            { name: 'envoy.filters.network.connection_limit', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit', stat_prefix: 'cl', max_connections: 3 } },
            { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'l', cluster: 'c' } },
          ],
        },
      ],
    };
    const x = await startXmesh(dir, config(echoPort, { resource_monitors: [{ name: GCX, typed_config: { '@type': GCX_TYPE, max_active_downstream_connections: 5 } }] }, limited), 2);
    try {
      const results: string[] = [];
      for (let i = 0; i < 5; i++) results.push(await echo(await track(open(x.port)), `${i}`));
      assert.deepEqual(results, ['0', '1', '2', 'closed', 'closed'], 'the filter lets 3 in');
      let s = await adminStats(x.admin);
      assert.equal(s.get('connection_limit.cl.limited_connections'), 2);
      assert.equal(s.get('connection_limit.cl.active_connections'), 3);
      // Raise the filter's limit above the global one: the global one refuses now.
      await reload(x, config(echoPort, { resource_monitors: [{ name: GCX, typed_config: { '@type': GCX_TYPE, max_active_downstream_connections: 5 } }] }, { ...limited, filter_chains: [{ filters: [{ ...limited.filter_chains[0].filters[0], typed_config: { ...limited.filter_chains[0].filters[0].typed_config, max_connections: 100 } }, limited.filter_chains[0].filters[1]] }] }));
      for (let i = 0; i < 4; i++) results.push(await echo(await track(open(x.port)), `${i}`));
      assert.deepEqual(results.slice(5), ['0', '1', 'closed', 'closed'], '5 open in all, then the global limit');
      s = await adminStats(x.admin);
      assert.equal(s.get('listener.l.downstream_global_cx_overflow'), 2);
      assert.equal(s.get('dataplane.downstream_cx_active'), 5);
    } finally {
      await x.stop();
    }
  });
});
