// The Dubbo fixtures work directly (multiplexing consumer → provider, no proxy), and the frames
// they build are genuine Dubbo/hessian2.
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  DUBBO_MAGIC,
  DubboFlag,
  DubboFrameSplitter,
  DubboResponseType,
  DubboStatus,
  countParamDesc,
  decodeDubboRequest,
  decodeDubboResponse,
  encodeDubboRequest,
  encodeDubboResponse,
  makeDubboClient,
  paramDescOf,
  startDubboProvider,
  type DubboEchoReply,
  type DubboProvider,
} from '../fixtures/dubbo';

const SVC = 'com.alipay.test.DubboService';

describe('dubbo fixtures: frames', () => {
  it('request header and body follow DubboCodec', () => {
    const id = (1n << 40n) + 7n;
    const f = encodeDubboRequest({ id, service: SVC, version: '1.0.0', method: 'echo', args: ['a', 1], attachments: { timeout: '3000' } });
    assert.equal(f.readUInt16BE(0), DUBBO_MAGIC);
    assert.equal(f[2], DubboFlag.REQUEST | DubboFlag.TWOWAY | 2);
    assert.equal(f[3], 0);
    assert.equal(f.readBigInt64BE(4), id);
    assert.equal(f.readInt32BE(12), f.length - 16);
    // the first hessian2 strings of the body: compact strings (len byte + bytes)
    assert.equal(f[16], 5);
    assert.equal(f.toString('latin1', 17, 22), '2.0.2');
    assert.equal(f[22], SVC.length);
    assert.equal(f.toString('latin1', 23, 23 + SVC.length), SVC);
    const r = decodeDubboRequest(f);
    assert.equal(r.id, id);
    assert.equal(r.twoWay, true);
    assert.equal(r.event, false);
    assert.equal(r.dubboVersion, '2.0.2');
    assert.equal(r.service, SVC);
    assert.equal(r.version, '1.0.0');
    assert.equal(r.method, 'echo');
    assert.equal(r.paramDesc, 'Ljava/lang/String;I');
    assert.deepEqual(r.args, ['a', 1]);
    assert.deepEqual(r.attachments, { path: SVC, interface: SVC, version: '1.0.0', timeout: '3000' });
  });

  it('parameter descriptors', () => {
    assert.equal(paramDescOf(['s', 1, 1.5, true, null, Buffer.alloc(1), [1], { a: 1 }, { $class: 'long', $: 1 }, { $class: 'com.x.Y', $: {} }]),
      'Ljava/lang/String;IDZLjava/lang/Object;[BLjava/util/List;Ljava/util/Map;JLcom/x/Y;');
    assert.equal(countParamDesc('Ljava/lang/String;[I[[Lcom/x/Y;JZ'), 5);
    assert.equal(countParamDesc(''), 0);
  });

  it('response variants round-trip', () => {
    const v = decodeDubboResponse(encodeDubboResponse({ id: 3n, value: { a: 'b' } }));
    assert.equal(v.status, DubboStatus.OK);
    assert.equal(v.kind, 'value');
    assert.equal(v.responseType, DubboResponseType.VALUE_WITH_ATTACHMENTS);
    assert.deepEqual(v.value, { a: 'b' });
    assert.deepEqual(v.attachments, { dubbo: '2.0.2' });
    const old = decodeDubboResponse(encodeDubboResponse({ id: 3n, value: 5, attachments: null }));
    assert.equal(old.responseType, DubboResponseType.VALUE);
    assert.equal(old.value, 5);
    const n = decodeDubboResponse(encodeDubboResponse({ id: 3n, value: null }));
    assert.equal(n.kind, 'null');
    const ex = decodeDubboResponse(encodeDubboResponse({ id: 3n, exception: { message: 'boom' } }));
    assert.equal(ex.kind, 'exception');
    assert.equal(ex.exception?.message, 'boom');
    const err = encodeDubboResponse({ id: 9n, status: DubboStatus.SERVICE_NOT_FOUND, errorMessage: 'nope' });
    assert.equal(err[2], 2, 'responses carry only the serialization id');
    assert.equal(err[3], 60);
    assert.deepEqual(decodeDubboResponse(err).errorMessage, 'nope');
    const hb = encodeDubboResponse({ id: 4n, event: true });
    assert.equal(hb[2], DubboFlag.EVENT | 2);
    assert.equal(hb.readInt32BE(12), 1);
    assert.equal(hb[16], 0x4e, "heartbeat body is hessian null 'N'");
  });

  it('the splitter copes with byte-at-a-time input and several frames per chunk', () => {
    const frames = [1n, 2n, 3n].map((id) => encodeDubboRequest({ id, service: SVC, method: 'echo', args: [String(id)] }));
    const all = Buffer.concat(frames);
    const s = new DubboFrameSplitter();
    const got: Buffer[] = [];
    for (let i = 0; i < all.length; i++) got.push(...s.push(all.subarray(i, i + 1)));
    assert.deepEqual(got.map((f) => decodeDubboRequest(f).id), [1n, 2n, 3n]);
    assert.equal(new DubboFrameSplitter().push(all).length, 3);
    assert.throws(() => new DubboFrameSplitter().push(Buffer.from('GET / HTTP/1.1\r\n')), /bad Dubbo magic/);
  });
});

describe('dubbo fixtures: consumer → provider', () => {
  let provider: DubboProvider;
  before(async () => {
    provider = await startDubboProvider({
      tag: 'p1',
      services: {
        [SVC]: {
          version: '1.0.0',
          methods: {
            echo: (args, ctx) => ({ server: ctx.tag, service: ctx.service, version: ctx.version, method: ctx.method, args }),
            // answers after (args[1] % 7) ms, so replies overtake each other deterministically
            slowEcho: (args) => new Promise((r) => setTimeout(() => r(args[0]), Number(args[1]) % 7)),
            nothing: () => null,
            fail: () => {
              throw new Error('provider failed on purpose');
            },
          },
        },
      },
    });
  });
  after(async () => {
    await provider?.close();
  });

  it('calls, not-found (60), unknown method (70), exception, null', async () => {
    const c = await makeDubboClient(provider.port);
    try {
      const r = await c.call({ service: SVC, version: '1.0.0', method: 'echo', args: ['hi', 2] });
      assert.equal(r.status, DubboStatus.OK);
      assert.deepEqual(r.value as DubboEchoReply, { server: 'p1', service: SVC, version: '1.0.0', method: 'echo', args: ['hi', 2] });
      assert.deepEqual(await c.invoke({ service: SVC, version: '1.0.0', method: 'echo', args: [] }), { server: 'p1', service: SVC, version: '1.0.0', method: 'echo', args: [] });

      const nf = await c.call({ service: 'com.alipay.test.Missing', version: '1.0.0', method: 'echo' });
      assert.equal(nf.status, DubboStatus.SERVICE_NOT_FOUND);
      assert.equal(nf.kind, 'error');
      assert.match(nf.errorMessage ?? '', /^Not found exported service: com\.alipay\.test\.Missing:1\.0\.0:/);
      const wrongVersion = await c.call({ service: SVC, version: '2.0.0', method: 'echo' });
      assert.equal(wrongVersion.status, DubboStatus.SERVICE_NOT_FOUND);
      await assert.rejects(c.invoke({ service: 'com.alipay.test.Missing', method: 'echo' }), { name: 'DubboStatusError' });

      const nm = await c.call({ service: SVC, version: '1.0.0', method: 'nope' });
      assert.equal(nm.status, DubboStatus.SERVICE_ERROR);
      const ex = await c.call({ service: SVC, version: '1.0.0', method: 'fail' });
      assert.equal(ex.status, DubboStatus.OK);
      assert.equal(ex.kind, 'exception');
      assert.equal(ex.exception?.message, 'provider failed on purpose');
      const nul = await c.call({ service: SVC, version: '1.0.0', method: 'nothing' });
      assert.equal(nul.kind, 'null');
      assert.ok(provider.notFound >= 3);
      assert.ok(provider.calls[SVC].echo >= 2);
    } finally {
      c.close();
    }
  });

  it('1,000 requests in flight on one connection, answered out of order, correlate by id', async () => {
    const accepted = provider.connectionsAccepted;
    const c = await makeDubboClient(provider.port, { firstId: (1n << 33n) + 1n, keepFrames: true });
    try {
      const n = 1000;
      const pending = Array.from({ length: n }, (_, i) => c.call({ service: SVC, version: '1.0.0', method: 'slowEcho', args: [`req-${i}`, i] }));
      assert.equal(c.inFlight(), n);
      const out = await Promise.all(pending);
      out.forEach((r, i) => {
        assert.equal(r.status, DubboStatus.OK);
        assert.equal(r.value, `req-${i}`);
        assert.equal(r.id, (1n << 33n) + 1n + BigInt(i));
      });
      assert.equal(c.unmatched, 0);
      assert.equal(provider.connectionsAccepted - accepted, 1);
      assert.ok(provider.maxInFlightPerConnection > 1, 'provider saw concurrent requests');
      const arrival = c.frames.map((f) => f.readBigInt64BE(4));
      const sorted = [...arrival].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      assert.notDeepEqual(arrival, sorted, 'responses arrived out of order');
    } finally {
      c.close();
    }
  });

  it('heartbeat is answered with an event response of the same id', async () => {
    const c = await makeDubboClient(provider.port, { keepFrames: true, firstId: 99n });
    try {
      const before = provider.heartbeats;
      const r = await c.heartbeat();
      assert.equal(r.id, 99n);
      assert.equal(r.event, true);
      assert.equal(r.status, DubboStatus.OK);
      assert.equal(r.kind, 'heartbeat');
      assert.equal(c.frames[0][2], DubboFlag.EVENT | 2);
      assert.equal(provider.heartbeats, before + 1);
    } finally {
      c.close();
    }
  });

  it('oneway requests get no answer but reach the handler', async () => {
    const c = await makeDubboClient(provider.port);
    try {
      const before = provider.calls[SVC]?.echo ?? 0;
      c.send({ service: SVC, version: '1.0.0', method: 'echo', args: ['oneway'] });
      // a two-way call behind it on the same connection proves the oneway was processed first
      await c.invoke({ service: SVC, version: '1.0.0', method: 'echo', args: ['after'] });
      assert.equal(provider.calls[SVC].echo, before + 2);
      assert.equal(c.unmatched, 0);
    } finally {
      c.close();
    }
  });

  it('a non-Dubbo byte stream is dropped', async () => {
    const s = net.connect(provider.port, '127.0.0.1');
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.on('error', () => undefined);
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      s.destroy();
    }, 2000);
    await closed;
    clearTimeout(timer);
    assert.equal(timedOut, false, 'provider closed the connection');
  });
});
