/**
 * x_proxy routing features with real peers: real sofa-rpc-node servers and clients through a
 * real `xmesh run`. Proves subsets by endpoint metadata (version 1.0 / 2.0 of one cluster),
 * regex method matching, retries of requests lost in flight on an idempotent route (the
 * server drops its connections with requests pending) and on connect failure, and the
 * per-method stats with responses by status.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminStats, startXmesh, type XmeshProcess } from './xmesh-process';
import { makeSofaClient, startSofaServer, type SofaClient, type SofaServer } from '../fixtures/sofa';

const IFACE = 'com.alipay.test.RoutingService';
const X_PROXY_TYPE = 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy';

function endpoint(port: number, version?: string): Record<string, unknown> {
  return {
    endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
    ...(version ? { metadata: { filter_metadata: { 'envoy.lb': { version } } } } : {}),
  };
}

function cluster(name: string, eps: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, connect_timeout: '1s', load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: eps }] }, ...extra };
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

describe('x_proxy routing: subsets, regex, retries and per-method stats with real sofa-rpc-node peers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmesh-xroute-'));
  let v1: SofaServer;
  let v2: SofaServer;
  let doomed: SofaServer; // holds "slow" calls, then drops its connections
  let healthy: SofaServer;
  let xmesh: XmeshProcess | undefined;
  const clients: SofaClient[] = [];
  const tagged = (tag: string) => async (args: unknown[]) => ({ server: tag, args });

  before(async () => {
    v1 = await startSofaServer({ version: '1.0', tag: 'v1', services: [{ interfaceName: IFACE, methods: { echo: tagged('v1') } }] });
    v2 = await startSofaServer({ version: '1.0', tag: 'v2', services: [{ interfaceName: IFACE, methods: { echo: tagged('v2'), plus: tagged('v2'), minus: tagged('v2') } }] });
    doomed = await startSofaServer({ version: '1.0', tag: 'doomed', services: [{ interfaceName: IFACE, methods: { slow: () => new Promise(() => undefined), cf: tagged('doomed') } }] });
    healthy = await startSofaServer({ version: '1.0', tag: 'healthy', services: [{ interfaceName: IFACE, methods: { slow: tagged('healthy'), cf: tagged('healthy') } }] });
    const dead = await closedPort();
    const route = (match: Record<string, unknown>, action: Record<string, unknown>) => ({ match, route: action });
    const cfg = {
      admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
      static_resources: {
        listeners: [
          {
            name: 'rpc',
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
                      route_config: {
                        virtual_hosts: [
                          {
                            name: 'routing',
                            domains: [`${IFACE}:1.0`],
                            routes: [
                              route({ method: { safe_regex: { regex: 'plus|minus' } } }, { cluster: 'svc', metadata_match: { filter_metadata: { 'envoy.lb': { version: '2.0' } } } }),
                              route({ method: { exact: 'echo' } }, { cluster: 'svc', metadata_match: { filter_metadata: { 'envoy.lb': { version: '1.0' } } } }),
                              route({ method: { exact: 'slow' } }, { cluster: 'pair', idempotent: true, retry_policy: { retry_on: 'reset', num_retries: 1 } }),
                              route({ method: { exact: 'cf' } }, { cluster: 'dead_first', retry_policy: { retry_on: 'connect-failure', num_retries: 2 } }),
                            ],
                          },
                        ],
                      },
                    },
                  },
                ],
              },
            ],
          },
        ],
        clusters: [
          cluster('svc', [endpoint(v1.port, '1.0'), endpoint(v2.port, '2.0')]),
          // Retries in flight at once are limited by the retry breaker (default 3, as in Envoy).
          cluster('pair', [endpoint(doomed.port), endpoint(healthy.port)], { circuit_breakers: { thresholds: [{ max_retries: 50 }] } }),
          cluster('dead_first', [endpoint(dead), endpoint(healthy.port)]),
        ],
      },
    };
    xmesh = await startXmesh(dir, cfg, 1);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await xmesh?.stop();
    await Promise.all([v1?.close(), v2?.close(), doomed?.close(), healthy?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  function client(): SofaClient {
    const c = makeSofaClient({ address: `127.0.0.1:${xmesh!.port}`, responseTimeout: 20_000 });
    clients.push(c);
    return c;
  }

  type Reply = { server: string; args: unknown[] };

  it('metadata_match sends each version only to the endpoints that carry it', async () => {
    const c = client();
    const echo = (await Promise.all(Array.from({ length: 50 }, (_, i) => c.invoke(IFACE, '1.0', 'echo', [i])))) as Reply[];
    assert.deepEqual([...new Set(echo.map((r) => r.server))], ['v1']);
    echo.forEach((r, i) => assert.deepEqual(r.args, [i]));
    const plus = (await Promise.all(Array.from({ length: 20 }, (_, i) => c.invoke(IFACE, '1.0', 'plus', [i])))) as Reply[];
    assert.deepEqual([...new Set(plus.map((r) => r.server))], ['v2']);
  });

  it('a regex method matcher matches the whole name', async () => {
    const c = client();
    const r = (await c.invoke(IFACE, '1.0', 'minus', [1])) as Reply;
    assert.equal(r.server, 'v2');
    // "minusOne" matches no route: a proper Bolt "no route" error, not the regex's prefix.
    await assert.rejects(c.invoke(IFACE, '1.0', 'minusOne', [1]), /no route/);
  });

  it('requests lost in flight on an idempotent route are sent again to the other host', async () => {
    const c = client();
    const before = await adminStats(xmesh!.admin);
    const calls = Array.from({ length: 20 }, (_, i) => c.invoke(IFACE, '1.0', 'slow', [i]) as Promise<Reply>);
    // Round robin: about half are parked on "doomed"; wait for them, then drop its connections.
    const t0 = Date.now();
    while ((doomed.calls[IFACE]?.slow ?? 0) < 5 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    const parked = doomed.calls[IFACE]?.slow ?? 0;
    assert.ok(parked >= 5, `doomed holds ${parked} calls`);
    doomed.dropConnections();
    const replies = await Promise.all(calls);
    assert.deepEqual([...new Set(replies.map((r) => r.server))], ['healthy']);
    replies.forEach((r, i) => assert.deepEqual(r.args, [i]));
    const s = await adminStats(xmesh!.admin);
    const retried = (s.get('xproxy.rpc.upstream_rq_retry') ?? 0) - (before.get('xproxy.rpc.upstream_rq_retry') ?? 0);
    assert.ok(retried >= parked, `${retried} retries for ${parked} parked calls`);
  });

  it('a connect failure is retried on another host: every call is answered', async () => {
    const c = client();
    const before = await adminStats(xmesh!.admin);
    for (let i = 0; i < 10; i++) {
      const r = (await c.invoke(IFACE, '1.0', 'cf', [i])) as Reply;
      assert.equal(r.server, 'healthy');
      assert.deepEqual(r.args, [i]);
    }
    const s = await adminStats(xmesh!.admin);
    assert.ok((s.get('xproxy.rpc.upstream_rq_retry') ?? 0) > (before.get('xproxy.rpc.upstream_rq_retry') ?? 0));
    assert.ok((s.get('cluster.dead_first.upstream_cx_connect_fail') ?? 0) >= 1);
  });

  it('counts requests and responses by status per method', async () => {
    const s = await adminStats(xmesh!.admin);
    assert.equal(s.get('xproxy.rpc.vhost.routing.method.echo.rq_total'), 50);
    assert.equal(s.get('xproxy.rpc.vhost.routing.method.echo.rs.ok'), 50);
    assert.equal(s.get('xproxy.rpc.vhost.routing.method.plus.rs.ok'), 20);
    assert.equal(s.get('xproxy.rpc.vhost.routing.method.cf.rq_total'), 10);
    assert.equal(s.get('xproxy.rpc.downstream_rs.no_route'), 1);
    assert.ok((s.get('xproxy.rpc.downstream_rs.ok') ?? 0) >= 50 + 20 + 1 + 20 + 10);
  });
});
