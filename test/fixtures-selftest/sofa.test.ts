// The SOFARPC fixtures work directly (real sofa-rpc-node client → real sofa-rpc-node server, no
// proxy), and the Bolt facts the x-protocol codec relies on hold.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  BOLT_EMPTY_ERROR_MESSAGE,
  BOLT_REQUEST_CLASS,
  BOLT_RESPONSE_CLASS,
  BoltCmd,
  BoltStatus,
  BoltType,
  boltHeartbeat,
  connectBoltRaw,
  encodeBoltResponseWithSofaBolt,
  encodeBoltV1Response,
  makeSofaClient,
  parseBoltV1,
  splitBoltFrames,
  startFakeBoltServer,
  startSofaServer,
  type EchoReply,
  type SofaServer,
} from '../fixtures/sofa';
import { startTcpTap } from '../fixtures/tap';

const IFACE = 'com.alipay.test.TestService';

describe('sofa fixtures: real sofa-rpc-node client → server', () => {
  let v1: SofaServer;
  let v2: SofaServer;
  before(async () => {
    v1 = await startSofaServer({ version: '1.0', services: [{ interfaceName: IFACE }] });
    v2 = await startSofaServer({
      version: '2.0',
      services: [
        {
          interfaceName: IFACE,
          methods: {
            echo: (args, info) => ({ server: info.serverTag, version: info.version, interfaceName: info.interfaceName, method: info.method, args }),
            fail: () => {
              throw new Error('handler failed on purpose');
            },
          },
        },
      ],
    });
  });
  after(async () => {
    await Promise.all([v1?.close(), v2?.close()]);
  });

  it('servers listen on 127.0.0.1 with distinct ephemeral ports', () => {
    assert.ok(v1.port > 0 && v2.port > 0 && v1.port !== v2.port);
    assert.equal(v1.address, `127.0.0.1:${v1.port}`);
  });

  it('each version answers with its own tag; the other version is not found', async () => {
    const c1 = makeSofaClient({ address: v1.address });
    const c2 = makeSofaClient({ address: v2.address });
    try {
      const r1 = (await c1.invoke(IFACE, '1.0', 'echo', ['hello', 42, { k: 'v' }])) as EchoReply;
      assert.deepEqual(r1, { server: 'v1.0', version: '1.0', interfaceName: IFACE, method: 'echo', args: ['hello', 42, { k: 'v' }] });
      const r2 = (await c2.invoke(IFACE, '2.0', 'echo', ['world'])) as EchoReply;
      assert.equal(r2.server, 'v2.0');
      assert.deepEqual(r2.args, ['world']);
      await assert.rejects(c1.invoke(IFACE, '2.0', 'echo', ['x']), (e: Error) => {
        assert.equal(e.message, `com.alipay.remoting.rpc.exception.RpcServerException: Error: not found service: ${IFACE}:2.0`);
        return true;
      });
      assert.equal(v1.calls[IFACE].echo, 1);
      assert.equal(v2.calls[IFACE].echo, 1);
    } finally {
      await Promise.all([c1.close(), c2.close()]);
    }
  });

  it('unknown service, unknown method and a throwing handler come back as errors', async () => {
    const c = makeSofaClient({ address: v2.address });
    try {
      await assert.rejects(c.invoke('com.alipay.test.NoSuchService', '2.0', 'echo', []), /not found service: com\.alipay\.test\.NoSuchService:2\.0/);
      await assert.rejects(c.invoke(IFACE, '2.0', 'nope', []), /Can not find method: com\.alipay\.test\.TestService:2\.0#nope\(\)/);
      await assert.rejects(c.invoke(IFACE, '2.0', 'fail', []), /handler failed on purpose/);
    } finally {
      await c.close();
    }
  });

  it('many concurrent calls share one client connection (ids correlate)', async () => {
    const before = v1.connectionsAccepted;
    const c = makeSofaClient({ address: v1.address });
    try {
      const n = 200;
      const out = await Promise.all(Array.from({ length: n }, (_, i) => c.invoke(IFACE, '1.0', 'echo', [i]) as Promise<EchoReply>));
      out.forEach((r, i) => assert.deepEqual(r.args, [i]));
      assert.equal(v1.connectionsAccepted - before, 1);
    } finally {
      await c.close();
    }
  });

  it('the client speaks Bolt v1 + hessian2 with only the `service` header key', async () => {
    const tap = await startTcpTap(v1.port);
    const c = makeSofaClient({ address: tap.address, responseTimeout: 1234 });
    try {
      await c.invoke(IFACE, '1.0', 'echo', ['probe']);
      const req = splitBoltFrames(tap.c2s(0)).frames;
      const res = splitBoltFrames(tap.s2c(0)).frames;
      assert.equal(req.length, 1);
      assert.equal(res.length, 1);
      const q = parseBoltV1(req[0]);
      assert.equal(q.proto, 1);
      assert.equal(q.type, BoltType.REQUEST);
      assert.equal(q.cmdCode, BoltCmd.REQUEST);
      assert.equal(q.ver2, 1);
      assert.equal(q.codec, 1);
      assert.equal(q.timeout, 1234);
      assert.equal(q.className, BOLT_REQUEST_CLASS);
      assert.deepEqual(q.header, { service: `${IFACE}:1.0` });
      assert.ok(q.content.includes(Buffer.from('echo')), 'method name is in the hessian body');
      const p = parseBoltV1(res[0]);
      assert.equal(p.type, BoltType.RESPONSE);
      assert.equal(p.cmdCode, BoltCmd.RESPONSE);
      assert.equal(p.id, q.id);
      assert.equal(p.status, BoltStatus.SUCCESS);
      assert.equal(p.className, BOLT_RESPONSE_CLASS);
      assert.deepEqual(p.header, {});
    } finally {
      await c.close();
      await tap.close();
    }
  });

  it('a raw heartbeat gets an ack with the same id', async () => {
    const { ack, requestFrame, responseFrame } = await boltHeartbeat(v1.port, 4242);
    assert.equal(ack.packetType, 'heartbeat_ack');
    assert.equal(ack.packetId, 4242);
    const q = parseBoltV1(requestFrame);
    assert.equal(q.cmdCode, BoltCmd.HEARTBEAT);
    assert.equal(q.type, BoltType.REQUEST);
    assert.equal(requestFrame.length, 22);
    const a = parseBoltV1(responseFrame);
    assert.equal(a.cmdCode, BoltCmd.HEARTBEAT);
    assert.equal(a.type, BoltType.RESPONSE);
    assert.equal(a.status, 0);
    assert.equal(a.id, 4242);
    assert.equal(responseFrame.length, 20);
  });

  it('a raw request through sofa-bolt-node gets a decoded response', async () => {
    const conn = await connectBoltRaw(v1.port);
    try {
      await conn.request(77, { serverSignature: `${IFACE}:1.0`, methodName: 'echo', args: ['raw'], timeout: 2000 });
      const res = await conn.next();
      assert.equal(res.packetType, 'response');
      assert.equal(res.packetId, 77);
      assert.deepEqual((res.data?.appResponse as EchoReply).args, ['raw']);
    } finally {
      conn.close();
    }
  });
});

describe('sofa fixtures: raw connections with colliding ids', () => {
  it('two connections using the same request id each get their own answer', async () => {
    const server = await startSofaServer({ version: '1.0', services: [{ interfaceName: IFACE }] });
    const a = await connectBoltRaw(server.port);
    const b = await connectBoltRaw(server.port);
    try {
      await Promise.all([
        a.request(1, { serverSignature: `${IFACE}:1.0`, methodName: 'echo', args: ['from-a'], timeout: 2000 }),
        b.request(1, { serverSignature: `${IFACE}:1.0`, methodName: 'echo', args: ['from-b'], timeout: 2000 }),
      ]);
      const [ra, rb] = await Promise.all([a.next(), b.next()]);
      assert.equal(ra.packetId, 1);
      assert.equal(rb.packetId, 1);
      assert.deepEqual((ra.data?.appResponse as EchoReply).args, ['from-a']);
      assert.deepEqual((rb.data?.appResponse as EchoReply).args, ['from-b']);
      assert.equal(server.connectionsAccepted, 2);
    } finally {
      a.close();
      b.close();
      await server.close();
    }
  });
});

describe('sofa fixtures: how the client reports Bolt error statuses', () => {
  it('empty-body NO_PROCESSOR (hijack style) → Error with the fixed message, status not exposed', async () => {
    const fake = await startFakeBoltServer();
    const c = makeSofaClient({ address: fake.address });
    try {
      await assert.rejects(c.invoke(IFACE, '1.0', 'echo', ['x']), (e: Error & { resultCode?: string }) => {
        assert.equal(e.name, 'Error');
        assert.equal(e.message, BOLT_EMPTY_ERROR_MESSAGE);
        assert.equal(e.stack, '');
        assert.equal(e.resultCode, '01');
        return true;
      });
      assert.equal(fake.requests.length, 1);
    } finally {
      await c.close();
      await fake.close();
    }
  });

  it('every non-zero status with an empty body gives the same error', async () => {
    for (const status of [BoltStatus.SERVER_THREADPOOL_BUSY, BoltStatus.TIMEOUT, BoltStatus.CODEC_EXCEPTION]) {
      const fake = await startFakeBoltServer({ respond: (_f, p) => encodeBoltV1Response({ id: p.id, status }) });
      const c = makeSofaClient({ address: fake.address });
      try {
        await assert.rejects(c.invoke(IFACE, '1.0', 'echo', []), { message: BOLT_EMPTY_ERROR_MESSAGE });
      } finally {
        await c.close();
        await fake.close();
      }
    }
  });

  it('status with a RpcServerException body → message carries the exception text', async () => {
    const fake = await startFakeBoltServer({
      respond: (_f, p) => encodeBoltResponseWithSofaBolt({ id: p.id, status: BoltStatus.NO_PROCESSOR, errorMsg: 'no route for service' }),
    });
    const c = makeSofaClient({ address: fake.address });
    try {
      await assert.rejects(c.invoke(IFACE, '1.0', 'echo', []), {
        message: 'com.alipay.remoting.rpc.exception.RpcServerException: Error: no route for service',
      });
    } finally {
      await c.close();
      await fake.close();
    }
  });

  it('no answer → RpcResponseTimeoutError', async () => {
    const fake = await startFakeBoltServer({ respond: () => null });
    const c = makeSofaClient({ address: fake.address });
    try {
      await assert.rejects(c.invoke(IFACE, '1.0', 'echo', [], { timeout: 200 }), (e: Error) => {
        assert.equal(e.name, 'RpcResponseTimeoutError');
        assert.match(e.message, /^no response in \d+ms, address:bolt:\/\/127\.0\.0\.1:\d+/);
        return true;
      });
    } finally {
      await c.close();
      await fake.close();
    }
  });
});
