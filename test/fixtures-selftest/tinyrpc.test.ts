// The tinyrpc fixtures work directly (multiplexing client → server, no proxy), and their frames
// follow the wire format written at the top of test/fixtures/tinyrpc.ts byte for byte.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TinyKind, TinyReader, TinyStatus, connectTiny, encodeTiny, parseRequest, requestBody, startTinyServer, type TinyClient, type TinyServer } from '../fixtures/tinyrpc';

describe('tinyrpc fixtures: frames', () => {
  it('a request is "TR", kind, status, id, body length, then method[16], service length, service, payload', () => {
    const f = encodeTiny({ kind: TinyKind.REQUEST, flags: 0x80, id: 0x01020304, body: requestBody({ method: 'get', service: 'acme.Books', payload: 'p' }) });
    assert.deepEqual([...f.subarray(0, 12)], [0x54, 0x52, 0x80, 0, 1, 2, 3, 4, 0, 0, 0, 29]);
    assert.equal(f.toString('latin1', 12, 15), 'get');
    assert.deepEqual([...f.subarray(15, 28)], new Array(13).fill(0));
    assert.equal(f.readUInt16BE(28), 10);
    assert.equal(f.toString('latin1', 30), 'acme.Booksp');
    assert.deepEqual(parseRequest(f.subarray(12)), { method: 'get', service: 'acme.Books', payload: Buffer.from('p') });
  });

  it('the reader splits frames across arbitrary chunk boundaries and refuses a bad magic', () => {
    const a = encodeTiny({ kind: TinyKind.RESPONSE, status: TinyStatus.BUSY, id: 9, body: Buffer.from('xyz') });
    const b = encodeTiny({ kind: TinyKind.HEARTBEAT_ACK, id: 10 });
    const all = Buffer.concat([a, b]);
    for (let cut = 0; cut <= all.length; cut++) {
      const r = new TinyReader();
      const got = [...r.push(all.subarray(0, cut)), ...r.push(all.subarray(cut))];
      assert.deepEqual(got.map((f) => [f.kind, f.status, f.id, f.body.toString()]), [[1, 3, 9, 'xyz'], [4, 0, 10, '']]);
    }
    assert.throws(() => new TinyReader().push(Buffer.from('XR\0\0\0\0\0\0\0\0\0\0')), /bad magic/);
  });
});

describe('tinyrpc fixtures: client and server talk directly', () => {
  let server: TinyServer;
  let client: TinyClient;

  before(async () => {
    server = await startTinyServer({ tag: 'S', jitterMs: 5 });
    client = await connectTiny(server.port, { timeoutMs: 5000 });
  });
  after(async () => {
    client?.close();
    await server?.close();
  });

  it('requests pipelined on one connection come back matched by id, out of order', async () => {
    const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => client.call({ service: 'acme.Books', method: 'get', payload: `p${i}` })));
    rs.forEach((r, i) => {
      assert.equal(r.kind, TinyKind.RESPONSE);
      assert.equal(r.status, TinyStatus.OK);
      assert.deepEqual(r.echo, { server: 'S', service: 'acme.Books', method: 'get', payload: `p${i}` });
    });
    assert.ok(server.maxInFlightPerConnection > 1);
  });

  it('heartbeats are acked with the same id and flags; "fail" is a server error; oneways are counted', async () => {
    const hb = await client.heartbeat(0x40);
    assert.equal(hb.kind, TinyKind.HEARTBEAT_ACK);
    assert.equal(hb.flags, 0x40);
    assert.equal(server.heartbeats, 1);
    const f = await client.call({ service: 'acme.Books', method: 'fail', payload: '' });
    assert.equal(f.status, TinyStatus.SERVER_ERROR);
    client.oneway({ service: 'acme.Books', method: 'log', payload: 'x' });
    await client.call({ service: 'acme.Books', method: 'get', payload: 'after' });
    assert.equal(server.oneways, 1);
  });
});
