/**
 * x_proxy with real peers: real sofa-rpc-node servers and clients talking SOFARPC Bolt
 * through a real `xmesh run` process. Proves routing by service and by method, an 80/20
 * weighted split between deployments, a proper Bolt error for an unknown service, local
 * heartbeats, and 10,000 concurrent requests from 100 client connections multiplexed onto
 * at most 4 upstream connections (2 workers x 2 per host), every answer correlated by payload.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { staticCluster } from '../config/helpers';
import { startXmesh, type XmeshProcess } from './xmesh-process';
import { boltHeartbeat, echoHandler, makeSofaClient, startSofaServer, type EchoReply, type SofaClient, type SofaServer } from '../fixtures/sofa';

const IFACE = 'com.alipay.test.TestService';
const X_PROXY_TYPE = 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy';

describe('x_proxy (Bolt) with real sofa-rpc-node peers through xmesh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmesh-xproxy-'));
  let v1: SofaServer; // TestService:1.0, deployment "v1"
  let v2: SofaServer; // TestService:1.0, deployment "v2" (also implements plus)
  let v2only: SofaServer; // TestService:2.0
  let xmesh: XmeshProcess | undefined;
  let port = 0;
  const clients: SofaClient[] = [];

  before(async () => {
    const plus = (args: unknown[], info: { serverTag: string }) => ({ server: info.serverTag, sum: (args[0] as number) + (args[1] as number) });
    v1 = await startSofaServer({ version: '1.0', tag: 'v1', services: [{ interfaceName: IFACE, methods: { echo: echoHandler, pinned: echoHandler } }] });
    v2 = await startSofaServer({ version: '1.0', tag: 'v2', services: [{ interfaceName: IFACE, methods: { echo: (a, i) => ({ server: i.serverTag, version: i.version, interfaceName: i.interfaceName, method: i.method, args: a }), plus } }] });
    v2only = await startSofaServer({ version: '2.0', tag: 'v2only', services: [{ interfaceName: IFACE }] });
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
                      upstream_connections_per_host: 2,
                      request_timeout: '20s',
                      route_config: {
                        name: 'sofa',
                        virtual_hosts: [
                          { name: 'v2-api', domains: [`${IFACE}:2.0`], routes: [{ route: { cluster: 'v2only' } }] },
                          {
                            name: 'test-service',
                            domains: [`${IFACE}:1.0`],
                            routes: [
                              { match: { method: { exact: 'plus' } }, route: { cluster: 'v2' } },
                              { match: { method: { exact: 'pinned' } }, route: { cluster: 'v1' } },
                              { route: { weighted_clusters: { clusters: [{ name: 'v1', weight: 80 }, { name: 'v2', weight: 20 }] } } },
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
          staticCluster('v1', [['127.0.0.1', v1.port]], { circuit_breakers: { thresholds: [{ max_requests: 20000, max_pending_requests: 20000 }] } }),
          staticCluster('v2', [['127.0.0.1', v2.port]], { circuit_breakers: { thresholds: [{ max_requests: 20000, max_pending_requests: 20000 }] } }),
          staticCluster('v2only', [['127.0.0.1', v2only.port]]),
        ],
      },
    };
    xmesh = await startXmesh(dir, cfg);
    port = xmesh.port;
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await xmesh?.stop();
    await Promise.all([v1?.close(), v2?.close(), v2only?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  function client(): SofaClient {
    const c = makeSofaClient({ address: `127.0.0.1:${port}`, responseTimeout: 20_000 });
    clients.push(c);
    return c;
  }

  it('a call succeeds and is routed by service (TestService:2.0 only reaches its own server)', async () => {
    const c = client();
    const r = (await c.invoke(IFACE, '2.0', 'echo', ['hi'])) as EchoReply;
    assert.equal(r.server, 'v2only');
    assert.deepEqual(r.args, ['hi']);
  });

  it('routes by method: plus only goes to the v2 deployment', async () => {
    const c = client();
    for (let i = 0; i < 20; i++) {
      const r = (await c.invoke(IFACE, '1.0', 'plus', [i, 1])) as { server: string; sum: number };
      assert.equal(r.server, 'v2');
      assert.equal(r.sum, i + 1);
    }
  });

  it('splits the default route 80/20 between the v1 and v2 deployments', async () => {
    const c = client();
    const n = 1000;
    const replies = (await Promise.all(Array.from({ length: n }, (_, i) => c.invoke(IFACE, '1.0', 'echo', [i])))) as EchoReply[];
    const fromV1 = replies.filter((r) => r.server === 'v1').length;
    replies.forEach((r, i) => assert.deepEqual(r.args, [i]));
    // Binomial(1000, 0.8): sd = 12.6; +-50 is ~4 sd.
    assert.ok(fromV1 >= 750 && fromV1 <= 850, `v1 got ${fromV1} of ${n}`);
  });

  it('an unknown service gets a proper Bolt error, and the connection keeps working', async () => {
    const c = client();
    await assert.rejects(c.invoke('com.alipay.test.NoSuchService', '1.0', 'echo', ['x']), (e: Error) => {
      assert.match(e.message, /no route/);
      return true;
    });
    const r = (await c.invoke(IFACE, '1.0', 'pinned', ['after'])) as EchoReply;
    assert.equal(r.server, 'v1');
  });

  it('answers Bolt heartbeats itself', async () => {
    const before = v1.requests + v2.requests + v2only.requests;
    const { ack } = await boltHeartbeat(port, 4242);
    assert.equal(ack.packetId, 4242);
    assert.equal(ack.packetType, 'heartbeat_ack');
    assert.equal(v1.requests + v2.requests + v2only.requests, before);
  });

  it('10,000 concurrent requests over 100 client connections share at most 4 upstream connections', async () => {
    const conns = Array.from({ length: 100 }, () => client());
    const accepted0 = v1.connectionsAccepted;
    const t0 = Date.now();
    const results = await Promise.all(
      conns.flatMap((c, ci) => Array.from({ length: 100 }, (_, k) => c.invoke(IFACE, '1.0', 'pinned', [`${ci}/${k}`]).then((r) => [ci, k, r] as const))),
    );
    let correct = 0;
    for (const [ci, k, r] of results) if ((r as EchoReply).server === 'v1' && (r as EchoReply).args[0] === `${ci}/${k}`) correct++;
    assert.equal(correct, 10_000, `${correct} correct answers`);
    const upstream = v1.connectionsAccepted;
    assert.ok(upstream <= 4, `v1 accepted ${upstream} upstream connections in total (${upstream - accepted0} during the burst)`);
    assert.ok(Date.now() - t0 < 60_000);
  });
});
