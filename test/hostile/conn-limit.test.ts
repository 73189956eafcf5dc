/**
 * Connection floods beyond the limits, against a real `xmesh run` on each I/O backend (Bolt
 * x_proxy listeners, real sofa-rpc-node upstream):
 *  - Envoy's `envoy.filters.network.connection_limit` before x_proxy: of limit + 50
 *    connections exactly `limit` are served, the rest are closed at once and counted
 *    (`connection_limit.<stat_prefix>.limited_connections`, gauge `active_connections`);
 *  - the overload manager's `envoy.resource_monitors.global_downstream_max_connections`:
 *    of max + 50 connections exactly `max` are served, the rest closed and counted in
 *    `listener.<name>.downstream_global_cx_overflow`;
 * each time RSS stays bounded by the connections held, and once they close new connections
 * are served again.
 * Written to the spec of both features before they landed: without them xmesh refuses the
 * configuration (or ignores overload_manager) and these tests fail, as they should.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { staticCluster } from '../config/helpers';
import { adminStats, startXmesh, type XmeshProcess } from '../integration/xmesh-process';
import { makeSofaClient, startSofaServer, type SofaServer } from '../fixtures/sofa';
import { closeAll, heartbeatAnswered, openConns, type HostileConn } from './hostile-client';
import { MiB, mib, steadyRss, waitFor } from './proc-probe';

const IFACE = 'com.alipay.test.EchoService';
const X_PROXY_TYPE = 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy';
const CONNECTION_LIMIT_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit';
const DOWNSTREAM_CONNECTIONS_TYPE = 'type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig';

/** connection_limit's max_connections on listener "limited". */
const LISTENER_LIMIT = 50;
/**
 * The process-wide limit. Above LISTENER_LIMIT + 50, so the listener-limit flood (whose
 * surplus is accepted before the filter closes it) never reaches it.
 */
const GLOBAL_LIMIT = 150;
/** Connections opened above each limit. */
const EXTRA = 50;
/** Size of one data-plane chunk (native/src/core/buf.h XM_CHUNK_SIZE). */
const CHUNK = 16 * 1024;
/** Allowed above the connections' own bound (see xproxy-hostile.test.ts: V8 noise ~4 MiB, chunk pools 2 MiB). */
const MARGIN_HELD = 16 * MiB;

function xproxyFilter(prefix: string): unknown {
  return {
    name: 'xmesh.x_proxy',
    typed_config: {
      '@type': X_PROXY_TYPE,
      stat_prefix: prefix,
      protocol: 'bolt',
      route_config: { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ route: { cluster: 'sofa' } }] }] },
    },
  };
}

function config(sofaPort: number): unknown {
  const address = { socket_address: { address: '127.0.0.1', port_value: 0 } };
  return {
    admin: { address },
    overload_manager: {
      resource_monitors: [
        {
          name: 'envoy.resource_monitors.global_downstream_max_connections',
          typed_config: { '@type': DOWNSTREAM_CONNECTIONS_TYPE, max_active_downstream_connections: GLOBAL_LIMIT },
        },
      ],
    },
    static_resources: {
      listeners: [
        {
          name: 'limited',
          address,
          filter_chains: [
            {
              filters: [
                { name: 'envoy.filters.network.connection_limit', typed_config: { '@type': CONNECTION_LIMIT_TYPE, stat_prefix: 'cl', max_connections: LISTENER_LIMIT } },
                xproxyFilter('limited'),
              ],
            },
          ],
        },
        { name: 'open', address, filter_chains: [{ filters: [xproxyFilter('open')] }] },
      ],
      clusters: [staticCluster('sofa', [['127.0.0.1', sofaPort]])],
    },
  };
}

/** Which connections xmesh serves (a heartbeat is answered) and which it closed, once the dust settles. */
async function sortOut(conns: HostileConn[], expectClosed: number): Promise<{ served: number; closed: number }> {
  // Closed "right away": give the surplus up to 3 s to see its close, then ask every survivor.
  await waitFor(() => conns.filter((c) => c.closedByPeer()).length >= expectClosed, 3000, () => 'closes', 50).catch(() => undefined);
  const answered = await Promise.all(conns.map((c, i) => heartbeatAnswered(c, 1000 + i)));
  return { served: answered.filter(Boolean).length, closed: conns.filter((c) => c.closedByPeer()).length };
}

for (const backend of ['io_uring', 'epoll'] as const) {
  describe(`connection floods beyond the limits against xmesh run --io-backend ${backend}`, () => {
    const dir = mkdtempSync(join(tmpdir(), `xmesh-connlimit-${backend}-`));
    let sofa: SofaServer | undefined;
    let x: XmeshProcess | undefined;
    let pid = 0;
    let ports: Record<string, number> = {};
    let open: HostileConn[] = [];

    const stats = async () => adminStats(x!.admin);
    const active = async (listener: string) => (await stats()).get(`listener.${listener}.downstream_cx_active`) ?? 0;

    before(async () => {
      sofa = await startSofaServer({ version: '1.0', services: [{ interfaceName: IFACE }] });
      x = await startXmesh(dir, config(sofa.port), 2, { args: ['--io-backend', backend, '--drain-time-s', '0'] });
      pid = x.child.pid!;
      assert.match(x.stderr(), new RegExp(`"ioBackend":"${backend}"`), `xmesh runs ${backend}`);
      const j = (await (await fetch(`http://${x.admin}/listeners?format=json`)).json()) as { listeners: Array<{ name: string; port: number }> };
      ports = Object.fromEntries(j.listeners.map((l) => [l.name, l.port]));
      // Warm-up: real calls through both listeners, then the admin pages the test polls.
      for (const name of ['limited', 'open']) {
        const c = makeSofaClient({ address: `127.0.0.1:${ports[name]}` });
        assert.deepEqual(((await c.invoke(IFACE, '1.0', 'echo', [name])) as { args: unknown[] }).args, [name]);
        await c.close();
      }
      for (let i = 0; i < 40; i++) await stats();
      await waitFor(async () => (await active('limited')) + (await active('open')) === 0, 5000, () => 'warm-up connections still open', 50);
    });

    after(async () => {
      await closeAll(open);
      if (x && x.child.exitCode === null) {
        const killer = setTimeout(() => x!.child.kill('SIGKILL'), 5000); // never leave it behind
        await x.stop();
        clearTimeout(killer);
      }
      await sofa?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it(`connection_limit: of ${LISTENER_LIMIT + EXTRA} connections exactly ${LISTENER_LIMIT} are served, the rest closed and counted; afterwards new ones are served`, async (t) => {
      try {
        const limited0 = (await stats()).get('connection_limit.cl.limited_connections') ?? 0;
        const before = await steadyRss(pid);
        open = await openConns(ports.limited, LISTENER_LIMIT + EXTRA);
        const { served, closed } = await sortOut(open, EXTRA);
        const peak = await steadyRss(pid);
        const s = await stats();
        t.diagnostic(`${backend} connection_limit: ${served} served, ${closed} closed; RSS before ${mib(before)}, with the flood ${mib(peak)} (+${mib(peak - before)})`);
        assert.equal(served, LISTENER_LIMIT, 'connections served');
        assert.equal(closed, EXTRA, 'connections closed at once');
        assert.equal((s.get('connection_limit.cl.limited_connections') ?? 0) - limited0, EXTRA, 'connection_limit.cl.limited_connections');
        assert.equal(s.get('connection_limit.cl.active_connections'), LISTENER_LIMIT, 'connection_limit.cl.active_connections');
        const bound = (LISTENER_LIMIT + EXTRA) * 2 * CHUNK + MARGIN_HELD;
        assert.ok(peak - before <= bound, `RSS grew ${mib(peak - before)} for ${LISTENER_LIMIT + EXTRA} connections (bound ${mib(bound)})`);

        await closeAll(open);
        open = [];
        await waitFor(async () => (await stats()).get('connection_limit.cl.active_connections') === 0, 5000, () => 'connection_limit.cl.active_connections != 0', 50);
        // The slots are free again: a full set of new connections is served.
        open = await openConns(ports.limited, LISTENER_LIMIT);
        const again = await sortOut(open, 0);
        assert.deepEqual(again, { served: LISTENER_LIMIT, closed: 0 }, 'after the flood closed, new connections are served');
      } finally {
        await closeAll(open); // even when it failed: the next case starts clean
        open = [];
      }
    });

    it(`global_downstream_max_connections: of ${GLOBAL_LIMIT + EXTRA} connections exactly ${GLOBAL_LIMIT} are served, the rest closed and counted; afterwards new ones are served`, async (t) => {
      try {
        await waitFor(async () => (await active('limited')) + (await active('open')) === 0, 5000, () => 'connections of the previous case still open', 50);
        const overflow0 = (await stats()).get('listener.open.downstream_global_cx_overflow') ?? 0;
        const before = await steadyRss(pid);
        open = await openConns(ports.open, GLOBAL_LIMIT + EXTRA);
        const { served, closed } = await sortOut(open, EXTRA);
        const peak = await steadyRss(pid);
        const s = await stats();
        t.diagnostic(`${backend} global limit: ${served} served, ${closed} closed; RSS before ${mib(before)}, with the flood ${mib(peak)} (+${mib(peak - before)})`);
        assert.equal(served, GLOBAL_LIMIT, 'connections served');
        assert.equal(closed, EXTRA, 'connections closed at once');
        assert.equal((s.get('listener.open.downstream_global_cx_overflow') ?? 0) - overflow0, EXTRA, 'listener.open.downstream_global_cx_overflow');
        assert.equal(s.get('listener.open.downstream_cx_active'), GLOBAL_LIMIT, 'listener.open.downstream_cx_active');
        const bound = (GLOBAL_LIMIT + EXTRA) * 2 * CHUNK + MARGIN_HELD;
        assert.ok(peak - before <= bound, `RSS grew ${mib(peak - before)} for ${GLOBAL_LIMIT + EXTRA} connections (bound ${mib(bound)})`);

        await closeAll(open);
        open = [];
        await waitFor(async () => (await active('open')) === 0, 5000, () => 'listener.open.downstream_cx_active != 0', 50);
        open = await openConns(ports.open, GLOBAL_LIMIT);
        const again = await sortOut(open, 0);
        assert.deepEqual(again, { served: GLOBAL_LIMIT, closed: 0 }, 'after the flood closed, new connections are served');
      } finally {
        await closeAll(open); // even when it failed: the next case starts clean
        open = [];
      }
    });
  });
}
