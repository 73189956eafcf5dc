/**
 * Protocol detection through a real `xmesh run`: ONE listener with protocols [bolt, dubbo]
 * and a fallback tcp_proxy. At the same time and on the same port, a real sofa-rpc-node
 * client gets answers from a real sofa-rpc-node server, a Dubbo consumer (hessian.js frames)
 * from the Dubbo provider, and undici's HTTP requests reach a node http server through the
 * fallback with their bodies intact both ways; the stats count connections per protocol and
 * every fallback connection.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import { staticCluster } from '../config/helpers';
import { startXmesh, type XmeshProcess } from './xmesh-process';
import { echoHandler, makeSofaClient, startSofaServer, type EchoReply, type SofaClient, type SofaServer } from '../fixtures/sofa';
import { makeDubboClient, startDubboProvider, type DubboClient, type DubboEchoReply, type DubboProvider } from '../fixtures/dubbo';

const IFACE = 'com.alipay.test.TestService';
const USERS = 'com.acme.UserService';

async function stats(admin: string): Promise<Map<string, number>> {
  const r = await fetch(`http://${admin}/stats?format=json`);
  const body = (await r.json()) as { stats: Array<{ name: string; value: number }> };
  return new Map(body.stats.map((s) => [s.name, s.value]));
}

describe('x_proxy protocol detection: Bolt, Dubbo and HTTP (fallback) on one port', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmesh-detect-'));
  let sofa: SofaServer;
  let dubbo: DubboProvider;
  let web: http.Server;
  let webConnections = 0;
  let xmesh: XmeshProcess | undefined;
  let pool: Pool | undefined;
  const sofaClients: SofaClient[] = [];
  const dubboClients: DubboClient[] = [];

  before(async () => {
    sofa = await startSofaServer({ version: '1.0', tag: 'sofa', services: [{ interfaceName: IFACE, methods: { echo: echoHandler } }] });
    dubbo = await startDubboProvider({ tag: 'dubbo', services: { [USERS]: { version: '1.0.0' } } });
    web = http.createServer((req, res) => {
      if (req.method === 'POST') {
        // Echo the body back, with its digest as the server saw it.
        const h = createHash('sha256');
        const parts: Buffer[] = [];
        req.on('data', (d: Buffer) => (h.update(d), parts.push(d)));
        req.on('end', () => res.writeHead(200, { 'x-sha256': h.digest('hex') }).end(Buffer.concat(parts)));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`web:${req.url}`);
    });
    web.on('connection', () => webConnections++);
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
    const cfg = {
      admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
      static_resources: {
        listeners: [
          {
            name: 'mix',
            address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
            filter_chains: [
              {
                filters: [
                  {
                    name: 'xmesh.x_proxy',
                    typed_config: {
                      '@type': 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy',
                      stat_prefix: 'mix',
                      protocols: ['bolt', 'dubbo'],
                      detect_timeout: '2s',
                      fallback_tcp_proxy: { stat_prefix: 'web', cluster: 'web' },
                      request_timeout: '20s',
                      route_config: {
                        virtual_hosts: [
                          { name: 'sofa', domains: [`${IFACE}:1.0`], routes: [{ route: { cluster: 'sofa' } }] },
                          { name: 'users', domains: [USERS], routes: [{ route: { cluster: 'dubbo' } }] },
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
          staticCluster('sofa', [['127.0.0.1', sofa.port]]),
          staticCluster('dubbo', [['127.0.0.1', dubbo.port]]),
          staticCluster('web', [['127.0.0.1', (web.address() as AddressInfo).port]]),
        ],
      },
    };
    xmesh = await startXmesh(dir, cfg);
  });

  after(async () => {
    await pool?.close();
    await Promise.all(sofaClients.map((c) => c.close()));
    for (const c of dubboClients) c.close();
    await xmesh?.stop();
    await new Promise<void>((r) => web?.close(() => r()));
    web?.closeAllConnections();
    await Promise.all([sofa?.close(), dubbo?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves sofa-rpc-node, Dubbo and HTTP clients concurrently on the same port, and counts each protocol', async () => {
    const port = xmesh!.port;
    const sc = makeSofaClient({ address: `127.0.0.1:${port}`, responseTimeout: 20_000 });
    sofaClients.push(sc);
    dubboClients.push(await makeDubboClient(port, { timeoutMs: 20_000 }), await makeDubboClient(port, { timeoutMs: 20_000 }));
    pool = new Pool(`http://127.0.0.1:${port}`, { connections: 4 });
    const bodies = Array.from({ length: 6 }, () => randomBytes(512 * 1024));

    const sofaCalls = Array.from({ length: 200 }, (_, i) =>
      sc.invoke(IFACE, '1.0', 'echo', [i]).then((r) => {
        assert.equal((r as EchoReply).server, 'sofa');
        assert.deepEqual((r as EchoReply).args, [i]);
      }),
    );
    const dubboCalls = dubboClients.flatMap((c, ci) =>
      Array.from({ length: 100 }, (_, k) =>
        c.invoke({ service: USERS, version: '1.0.0', method: 'echo', args: [`${ci}/${k}`] }).then((r) => {
          assert.equal((r as DubboEchoReply).server, 'dubbo');
          assert.deepEqual((r as DubboEchoReply).args, [`${ci}/${k}`]);
        }),
      ),
    );
    const gets = Array.from({ length: 40 }, async (_, i) => {
      const r = await pool!.request({ path: `/hello/${i}`, method: 'GET' });
      assert.equal(r.statusCode, 200);
      assert.equal(await r.body.text(), `web:/hello/${i}`);
    });
    const posts = bodies.map(async (b) => {
      const r = await pool!.request({ path: '/echo', method: 'POST', body: b });
      assert.equal(r.statusCode, 200);
      const back = Buffer.from(await r.body.arrayBuffer());
      const digest = createHash('sha256').update(b).digest('hex');
      assert.equal(r.headers['x-sha256'], digest, 'the server received the body intact');
      assert.ok(back.equals(b), 'the body came back intact');
    });
    await Promise.all([...sofaCalls, ...dubboCalls, ...gets, ...posts]);

    // Every fallback connection is one proxied connection to the web server.
    let s = await stats(xmesh!.admin);
    for (let i = 0; i < 100 && s.get('xproxy.mix.downstream_cx_fallback.unknown_protocol') !== webConnections; i++) {
      await new Promise((r) => setTimeout(r, 20));
      s = await stats(xmesh!.admin);
    }
    assert.ok(webConnections >= 1 && webConnections <= 4, `web saw ${webConnections} connections`);
    assert.equal(s.get('xproxy.mix.downstream_cx_fallback.unknown_protocol'), webConnections);
    assert.equal(s.get('tcp.web.downstream_cx_total'), webConnections);
    assert.equal(s.get('xproxy.mix.downstream_cx_protocol.dubbo'), 2);
    assert.ok((s.get('xproxy.mix.downstream_cx_protocol.bolt') ?? 0) >= 1);
    assert.equal(s.get('xproxy.mix.downstream_cx_detect_failed.unknown_protocol'), 0);
    assert.equal(s.get('xproxy.mix.downstream_cx_fallback.detect_timeout'), 0);
    assert.equal(s.get('xproxy.mix.downstream_rq_total'), 400);
    // The same requests per detected protocol: 200 each, all answered ok.
    assert.equal(s.get('xproxy.mix.protocol.bolt.rq_total'), 200);
    assert.equal(s.get('xproxy.mix.protocol.dubbo.rq_total'), 200);
    assert.equal(s.get('xproxy.mix.protocol.dubbo.rs.ok'), 200);
    // x_proxy copies nothing on epoll; on io_uring only the small reads that continue an
    // unfinished frame (a frame split across reads), never the traffic itself.
    const xcopied = s.get('xproxy.mix.bytes_copied') ?? 0;
    if ((s.get('dataplane.io_uring_workers') ?? 0) > 0) assert.ok(xcopied < 32 * 1024, `x_proxy copied ${xcopied}`);
    else assert.equal(xcopied, 0);
    // The fallback tcp_proxy is zero-copy on epoll; on io_uring it copies writes <= 2 KiB
    // (HTTP headers, short reads) and never the bulk of the bodies.
    const copied = s.get('tcp.web.bytes_copied') ?? 0;
    if ((s.get('dataplane.io_uring_workers') ?? 0) > 0) assert.ok(copied < bodies.length * 512 * 1024, `copied ${copied}`);
    else assert.equal(copied, 0);
    assert.ok((s.get('tcp.web.downstream_cx_rx_bytes_total') ?? 0) > bodies.length * 512 * 1024);

    const prom = await (await fetch(`http://${xmesh!.admin}/stats/prometheus`)).text();
    assert.match(prom, /^xmesh_xproxy_downstream_cx_protocol\{stat_prefix="mix",protocol="dubbo"\} 2$/m);
    assert.match(prom, /^xmesh_xproxy_downstream_cx_fallback\{stat_prefix="mix",reason="unknown_protocol"\} \d+$/m);
  });
});
