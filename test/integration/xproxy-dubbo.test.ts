/**
 * x_proxy with genuine Dubbo (hessian2) frames built by hessian.js, against a Dubbo provider
 * speaking hessian2, through a real `xmesh run`: routing by service path and method, a
 * proper SERVICE_NOT_FOUND for an unknown service, heartbeats answered by the sidecar, and
 * 5,000 in-flight requests from 50 connections whose ids all collide (every client starts
 * at id 1) multiplexed onto at most 4 upstream connections.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { staticCluster } from '../config/helpers';
import { startXmesh, type XmeshProcess } from './xmesh-process';
import { DubboStatus, dubboEchoHandler, makeDubboClient, startDubboProvider, type DubboClient, type DubboEchoReply, type DubboProvider } from '../fixtures/dubbo';

const USERS = 'com.acme.UserService';
const ORDERS = 'com.acme.OrderService';

describe('x_proxy (Dubbo) with hessian.js peers through xmesh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmesh-xdubbo-'));
  let a: DubboProvider;
  let b: DubboProvider;
  let xmesh: XmeshProcess | undefined;
  let port = 0;
  const clients: DubboClient[] = [];

  before(async () => {
    a = await startDubboProvider({ tag: 'A', services: { [USERS]: { version: '1.0.0' }, [ORDERS]: {} } });
    b = await startDubboProvider({ tag: 'B', services: { [USERS]: { version: '1.0.0', methods: { echo: dubboEchoHandler, get: dubboEchoHandler } } }, jitterMs: 2 });
    const cfg = {
      admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
      static_resources: {
        listeners: [
          {
            name: 'dubbo',
            address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
            filter_chains: [
              {
                filters: [
                  {
                    name: 'xmesh.x_proxy',
                    typed_config: {
                      '@type': 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy',
                      stat_prefix: 'dubbo',
                      protocol: 'dubbo',
                      upstream_connections_per_host: 2,
                      route_config: {
                        virtual_hosts: [
                          { name: 'orders', domains: [ORDERS], routes: [{ route: { cluster: 'a' } }] },
                          {
                            name: 'users',
                            domains: ['com.acme.User*'],
                            routes: [
                              { match: { method: { exact: 'get' }, metas: [{ name: 'version', exact: '1.0.0' }] }, route: { cluster: 'b' } },
                              { route: { cluster: 'a' } },
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
          staticCluster('a', [['127.0.0.1', a.port]]),
          staticCluster('b', [['127.0.0.1', b.port]], { circuit_breakers: { thresholds: [{ max_requests: 10000, max_pending_requests: 10000 }] } }),
        ],
      },
    };
    xmesh = await startXmesh(dir, cfg);
    port = xmesh.port;
  });

  after(async () => {
    for (const c of clients) c.close();
    await xmesh?.stop();
    await Promise.all([a?.close(), b?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  async function client(): Promise<DubboClient> {
    const c = await makeDubboClient(port, { timeoutMs: 20_000 });
    clients.push(c);
    return c;
  }

  it('routes by service path and by method', async () => {
    const c = await client();
    const o = (await c.invoke({ service: ORDERS, method: 'echo', args: ['o1'] })) as DubboEchoReply;
    assert.equal(o.server, 'A');
    const u = (await c.invoke({ service: USERS, version: '1.0.0', method: 'echo', args: ['u1'] })) as DubboEchoReply;
    assert.equal(u.server, 'A');
    const g = (await c.invoke({ service: USERS, version: '1.0.0', method: 'get', args: [42] })) as DubboEchoReply;
    assert.equal(g.server, 'B');
    assert.deepEqual(g.args, [42]);
  });

  it('an unknown service gets SERVICE_NOT_FOUND from the sidecar itself', async () => {
    const c = await client();
    const before = a.requests + b.requests;
    const r = await c.call({ service: 'com.other.Nope', method: 'x', args: [] });
    assert.equal(r.status, DubboStatus.SERVICE_NOT_FOUND);
    assert.equal(a.requests + b.requests, before);
  });

  it('answers heartbeats itself', async () => {
    const c = await client();
    const before = a.heartbeats + b.heartbeats;
    const r = await c.heartbeat(5000);
    assert.equal(r.event, true);
    assert.equal(r.status, DubboStatus.OK);
    assert.equal(a.heartbeats + b.heartbeats, before);
  });

  it('5,000 in-flight requests with colliding ids from 50 connections share <= 4 upstream connections', async () => {
    const conns = await Promise.all(Array.from({ length: 50 }, () => client()));
    const results = await Promise.all(
      conns.flatMap((c, ci) =>
        Array.from({ length: 100 }, (_, k) => c.invoke({ service: USERS, version: '1.0.0', method: 'get', args: [`${ci}/${k}`] }).then((r) => [ci, k, r as DubboEchoReply] as const)),
      ),
    );
    let correct = 0;
    for (const [ci, k, r] of results) if (r.server === 'B' && r.args[0] === `${ci}/${k}`) correct++;
    assert.equal(correct, 5000);
    assert.ok(b.connectionsAccepted <= 4, `provider B accepted ${b.connectionsAccepted} connections`);
    assert.ok(b.maxInFlightPerConnection > 1, 'requests were multiplexed on upstream connections');
  });
});
