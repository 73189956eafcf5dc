/**
 * A protocol added by configuration alone: tinyrpc, which xmesh knows only through a
 * descriptor in its config, between a client and servers written from the protocol's
 * definition (test/fixtures/tinyrpc.ts), through a real `xmesh run`: routing by service and
 * method, the protocol's own no-route / timeout / unavailable statuses, heartbeats answered
 * by the sidecar, upstream error statuses counted, 2,000 in-flight requests with colliding ids from 20 connections on
 * <= 4 upstream connections, and malformed frames closing only their connection, counted.
 * Then the config side: bad descriptor fields refused with their paths (at start and on
 * SIGHUP, keeping the running config), and descriptor codecs kept across reloads.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { staticCluster } from '../config/helpers';
import { adminStats, startXmesh, type XmeshProcess } from './xmesh-process';
import { TINYRPC_DESCRIPTOR, TinyKind, TinyStatus, connectTiny, encodeTiny, requestBody, startTinyServer, type TinyClient, type TinyServer } from '../fixtures/tinyrpc';

const bin = resolve(__dirname, '../../../bin/xmesh.js');
const BOOKS = 'acme.Books';
const USERS = 'acme.UserService';

/** An x_proxy listener speaking tinyrpc: books -> a (method "update" -> b), acme.User* -> b. */
function tinyConfig(ports: { a: number; b: number }, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [
        {
          name: 'tiny',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'xmesh.x_proxy',
                  typed_config: {
                    '@type': 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy',
                    stat_prefix: 'tiny',
                    protocol: 'tinyrpc',
                    descriptors: [TINYRPC_DESCRIPTOR],
                    upstream_connections_per_host: 2,
                    route_config: {
                      virtual_hosts: [
                        {
                          name: 'books',
                          domains: [BOOKS],
                          routes: [
                            { match: { method: { exact: 'update' } }, route: { cluster: 'b' } },
                            { match: { method: { exact: 'hang' } }, route: { cluster: 'a', timeout: '300ms' } },
                            { route: { cluster: 'a' } },
                          ],
                        },
                        { name: 'users', domains: ['acme.User*'], routes: [{ route: { cluster: 'b' } }] },
                      ],
                    },
                    ...extra,
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        staticCluster('a', [['127.0.0.1', ports.a]]),
        staticCluster('b', [['127.0.0.1', ports.b]], { circuit_breakers: { thresholds: [{ max_requests: 10000, max_pending_requests: 10000 }] } }),
      ],
    },
  };
}

describe('x_proxy with a descriptor-defined protocol (tinyrpc) through xmesh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmesh-xtiny-'));
  let a: TinyServer;
  let b: TinyServer;
  let xmesh: XmeshProcess | undefined;
  const clients: TinyClient[] = [];

  before(async () => {
    a = await startTinyServer({ tag: 'A' });
    b = await startTinyServer({ tag: 'B', jitterMs: 2 });
    xmesh = await startXmesh(dir, tinyConfig({ a: a.port, b: b.port }));
  });

  after(async () => {
    for (const c of clients) c.close();
    await xmesh?.stop();
    await Promise.all([a?.close(), b?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  async function client(): Promise<TinyClient> {
    const c = await connectTiny(xmesh!.port, { timeoutMs: 20_000 });
    clients.push(c);
    return c;
  }

  it('routes by service and by method', async () => {
    const c = await client();
    const r1 = await c.call({ service: BOOKS, method: 'get', payload: 'b1' });
    assert.equal(r1.status, TinyStatus.OK);
    assert.deepEqual(r1.echo, { server: 'A', service: BOOKS, method: 'get', payload: 'b1' });
    const r2 = await c.call({ service: BOOKS, method: 'update', payload: 'b2' });
    assert.equal(r2.echo?.server, 'B');
    const r3 = await c.call({ service: USERS, method: 'get', payload: 'u1' });
    assert.deepEqual(r3.echo, { server: 'B', service: USERS, method: 'get', payload: 'u1' });
  });

  it('an unknown service gets the descriptor\'s no_route status from the sidecar itself', async () => {
    const c = await client();
    const before = a.requests + b.requests;
    const r = await c.call({ service: 'acme.Nope', method: 'get', payload: 'x' });
    assert.equal(r.kind, TinyKind.RESPONSE);
    assert.equal(r.status, TinyStatus.NO_ROUTE);
    assert.equal(r.body.length, 0);
    assert.equal(a.requests + b.requests, before);
    const ok = await c.call({ service: BOOKS, method: 'get', payload: 'after' });
    assert.equal(ok.status, TinyStatus.OK, 'the connection stays usable');
  });

  it('answers heartbeats itself (ack kind, same id, flags kept)', async () => {
    const c = await client();
    const before = a.heartbeats + b.heartbeats;
    const r = await c.heartbeat(0x80);
    assert.equal(r.kind, TinyKind.HEARTBEAT_ACK);
    assert.equal(r.flags, 0x80);
    assert.equal(r.status, TinyStatus.OK);
    assert.equal(a.heartbeats + b.heartbeats, before);
  });

  it('forwards oneways and counts an upstream error status as an upstream error', async () => {
    const c = await client();
    const onewaysBefore = a.oneways;
    const statsBefore = await adminStats(xmesh!.admin);
    c.oneway({ service: BOOKS, method: 'log', payload: 'o' });
    const f = await c.call({ service: BOOKS, method: 'fail', payload: 'f' });
    assert.equal(f.status, TinyStatus.SERVER_ERROR);
    assert.equal(f.echo?.payload, 'f');
    // Two upstream connections per host: the oneway may ride the other one, so the call's
    // answer can overtake it. Wait (bounded) for server A to see it, then check it came once.
    for (const end = Date.now() + 5000; a.oneways === onewaysBefore && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5));
    assert.equal(a.oneways, onewaysBefore + 1);
    const s = await adminStats(xmesh!.admin);
    assert.equal((s.get('xproxy.tiny.upstream_rs_error') ?? 0) - (statsBefore.get('xproxy.tiny.upstream_rs_error') ?? 0), 1);
    assert.equal((s.get('xproxy.tiny.downstream_rq_oneway') ?? 0) - (statsBefore.get('xproxy.tiny.downstream_rq_oneway') ?? 0), 1);
  });

  it('a timeout and a lost upstream connection are answered with the descriptor\'s timeout / unavailable statuses', async () => {
    const c = await client();
    const before = await adminStats(xmesh!.admin);
    const t0 = Date.now();
    const t = await c.call({ service: BOOKS, method: 'hang', payload: 'h' });
    const took = Date.now() - t0;
    assert.equal(t.kind, TinyKind.RESPONSE);
    assert.equal(t.status, TinyStatus.TIMEOUT);
    assert.ok(took >= 250 && took < 5000, `answered after ${took} ms (route timeout 300 ms)`);
    const d = await c.call({ service: BOOKS, method: 'die', payload: 'd' }); // server A drops that upstream connection
    assert.equal(d.kind, TinyKind.RESPONSE);
    assert.equal(d.status, TinyStatus.UNAVAILABLE);
    const ok = await c.call({ service: BOOKS, method: 'get', payload: 'again' });
    assert.equal(ok.echo?.payload, 'again');
    const s = await adminStats(xmesh!.admin);
    for (const k of ['downstream_rq_timeout', 'downstream_rq_unavailable']) {
      assert.equal((s.get(`xproxy.tiny.${k}`) ?? 0) - (before.get(`xproxy.tiny.${k}`) ?? 0), 1, k);
    }
  });

  it('2,000 in-flight requests with colliding ids from 20 connections share <= 4 upstream connections', async () => {
    const conns = await Promise.all(Array.from({ length: 20 }, () => client()));
    const bBefore = b.connectionsAccepted;
    const results = await Promise.all(
      conns.flatMap((c, ci) => Array.from({ length: 100 }, (_, k) => c.call({ service: USERS, method: 'get', payload: `${ci}/${k}` }).then((r) => [ci, k, r] as const))),
    );
    let correct = 0;
    for (const [ci, k, r] of results) if (r.status === TinyStatus.OK && r.echo?.server === 'B' && r.echo.payload === `${ci}/${k}`) correct++;
    assert.equal(correct, 2000);
    // upstream_connections_per_host: 2 per worker, 2 workers (earlier tests may have opened some)
    assert.ok(b.connectionsAccepted <= 4, `server B accepted ${b.connectionsAccepted} connections (before: ${bBefore})`);
    assert.ok(b.maxInFlightPerConnection > 1, 'requests were multiplexed on upstream connections');
  });

  it('a malformed frame closes only its connection and is counted by reason', async () => {
    const good = await client();
    const before = await adminStats(xmesh!.admin);
    const cases: Array<[string, Buffer]> = [
      ['magic', Buffer.from('XXXXXXXXXXXX')],
      ['header', encodeTiny({ kind: 5, id: 1, body: requestBody({ method: 'get', service: BOOKS, payload: '' }) })], // kind 5: none of the descriptor's kinds
      ['too_large', Buffer.concat([Buffer.from('TR\0\0\0\0\0\x01'), Buffer.from([0x7f, 0, 0, 0])])], // above max_frame_size (16 MiB)
    ];
    for (const [reason, bytes] of cases) {
      const bad = await client();
      bad.raw(bytes);
      await bad.closed; // the sidecar closed it
    }
    const r = await good.call({ service: BOOKS, method: 'get', payload: 'still here' });
    assert.equal(r.echo?.payload, 'still here');
    const s = await adminStats(xmesh!.admin);
    for (const [reason] of cases) {
      const k = `xproxy.tiny.decode_error.${reason}`;
      assert.equal((s.get(k) ?? 0) - (before.get(k) ?? 0), 1, k);
    }
  });
});

describe('tinyrpc descriptors in the config file: refused with their path, kept across reloads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmesh-xtiny-cfg-'));
  const LP = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';
  let a: TinyServer;
  let b: TinyServer;
  let xmesh: XmeshProcess | undefined;
  const clients: TinyClient[] = [];

  before(async () => {
    a = await startTinyServer({ tag: 'A' });
    b = await startTinyServer({ tag: 'B' });
  });
  after(async () => {
    for (const c of clients) c.close();
    await xmesh?.stop();
    await Promise.all([a?.close(), b?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** The tinyrpc config with its descriptor changed by `patch`; one upstream connection per host. */
  function withDescriptor(patch: (d: any) => void, extra: Record<string, unknown> = {}): Record<string, unknown> {
    const d = structuredClone(TINYRPC_DESCRIPTOR) as any;
    patch(d);
    return tinyConfig({ a: a.port, b: b.port }, { descriptors: [d], upstream_connections_per_host: 1, ...extra });
  }

  async function call(payload: string, c?: TinyClient): Promise<string | undefined> {
    if (!c) {
      c = await connectTiny(xmesh!.port, { timeoutMs: 10_000 });
      clients.push(c);
    }
    const r = await c.call({ service: BOOKS, method: 'get', payload });
    return r.status === TinyStatus.OK ? r.echo?.payload : `status ${r.status}`;
  }

  it('xmesh run refuses a YAML file with bad descriptor fields, naming each (exit code 1)', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, stringify(withDescriptor((d) => {
      d.kind.response = 8; // outside mask 7
      d.magic = { hex: 'zz' };
      d.status.timeout = 0; // same as ok
    })));
    const child = spawn(process.execPath, [bin, 'run', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => (err += s));
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    clearTimeout(killer);
    assert.equal(code, 1, err);
    assert.ok(err.includes(`${LP}.descriptors[0].kind.response: 0x8 has bits outside mask 0x7`), err);
    assert.ok(err.includes(`${LP}.descriptors[0].magic.hex: "zz" is not an even number of hex digits`), err);
    assert.ok(err.includes(`${LP}.descriptors[0].status.timeout: same value as status.ok`), err);
  });

  it('SIGHUP: a bad descriptor keeps the running config; an identical one keeps its upstream connection, a changed one gets a new one', async () => {
    xmesh = await startXmesh(dir, withDescriptor(() => undefined), 1); // one worker: one upstream connection per codec
    const held = await connectTiny(xmesh.port, { timeoutMs: 10_000 });
    clients.push(held);
    assert.equal(await call('first', held), 'first');
    assert.equal(a.connectionsAccepted, 1);

    const reload = async (cfg: unknown, expect: RegExp) => {
      const mark = xmesh!.stderr().length;
      writeFileSync(xmesh!.file, JSON.stringify(cfg));
      xmesh!.child.kill('SIGHUP');
      await xmesh!.waitLog(expect, mark);
      return xmesh!.stderr().slice(mark);
    };
    const log = await reload(withDescriptor((d) => (d.length.size = 3)), /config reload rejected/);
    assert.ok(log.includes(`${LP}.descriptors[0].length.size`), log);
    assert.equal(await call('after bad reload', held), 'after bad reload');
    assert.equal(await call('new connection'), 'new connection');
    assert.equal(a.connectionsAccepted, 1, 'the running descriptor and its upstream pool stayed');

    // The same descriptor in a new snapshot (routes changed): the codec is kept, hence its pool.
    await reload(withDescriptor(() => undefined, { request_timeout: '5s' }), /config reloaded/);
    assert.equal(await call('same descriptor'), 'same descriptor');
    assert.equal(await call('held', held), 'held');
    assert.equal(a.connectionsAccepted, 1, 'an identical descriptor keeps its upstream connection across the swap');

    // A changed descriptor: a new codec, so new connections get a new upstream pool; the held
    // connection keeps the codec it was accepted with, and its pool.
    await reload(withDescriptor((d) => delete d.kind.oneway), /config reloaded/);
    assert.equal(await call('changed descriptor'), 'changed descriptor');
    assert.equal(a.connectionsAccepted, 2);
    assert.equal(await call('held again', held), 'held again');
    assert.equal(a.connectionsAccepted, 2);
  });
});
