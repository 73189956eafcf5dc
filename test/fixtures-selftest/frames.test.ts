// The captured seed/benchmark frames are present and are what their names say.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DubboStatus, decodeDubboRequest, decodeDubboResponse, dubboFrameLength } from '../fixtures/dubbo';
import { benchFixturesDir, framesDir } from '../fixtures/paths';
import { BOLT_REQUEST_CLASS, BOLT_RESPONSE_CLASS, BoltCmd, BoltStatus, boltFrameLength, parseBoltV1 } from '../fixtures/sofa';

const read = (dir: string, name: string): Buffer => fs.readFileSync(path.join(dir, name));
const PAYLOAD_1K = 'x'.repeat(1024);

describe('captured frames', () => {
  it('bolt 1 KiB request/response', () => {
    const req = read(benchFixturesDir(), 'bolt-req-1k.bin');
    const res = read(benchFixturesDir(), 'bolt-resp-1k.bin');
    assert.equal(boltFrameLength(req), req.length);
    assert.equal(boltFrameLength(res), res.length);
    const q = parseBoltV1(req);
    assert.equal(q.cmdCode, BoltCmd.REQUEST);
    assert.equal(q.className, BOLT_REQUEST_CLASS);
    assert.deepEqual(q.header, { service: 'com.alipay.test.TestService:1.0' });
    assert.ok(q.content.includes(Buffer.from(PAYLOAD_1K)));
    const p = parseBoltV1(res);
    assert.equal(p.id, q.id);
    assert.equal(p.status, BoltStatus.SUCCESS);
    assert.equal(p.className, BOLT_RESPONSE_CLASS);
    assert.ok(p.content.includes(Buffer.from(PAYLOAD_1K)));
  });

  it('dubbo 1 KiB request/response', () => {
    const req = read(benchFixturesDir(), 'dubbo-req-1k.bin');
    const res = read(benchFixturesDir(), 'dubbo-resp-1k.bin');
    assert.equal(dubboFrameLength(req), req.length);
    assert.equal(dubboFrameLength(res), res.length);
    const q = decodeDubboRequest(req);
    assert.deepEqual(q.args, [PAYLOAD_1K]);
    const r = decodeDubboResponse(res);
    assert.equal(r.id, q.id);
    assert.equal(r.status, DubboStatus.OK);
    assert.deepEqual((r.value as { args: unknown[] }).args, [PAYLOAD_1K]);
  });

  it('bolt seeds', () => {
    const d = framesDir();
    for (const f of fs.readdirSync(d).filter((n) => n.startsWith('bolt-'))) {
      const b = read(d, f);
      assert.equal(boltFrameLength(b), b.length, f);
    }
    assert.equal(parseBoltV1(read(d, 'bolt-hb-req.bin')).cmdCode, BoltCmd.HEARTBEAT);
    assert.equal(parseBoltV1(read(d, 'bolt-hb-resp.bin')).cmdCode, BoltCmd.HEARTBEAT);
    assert.equal(parseBoltV1(read(d, 'bolt-resp-server-exception.bin')).status, BoltStatus.SERVER_EXCEPTION);
    assert.equal(parseBoltV1(read(d, 'bolt-resp-no-processor.bin')).status, BoltStatus.NO_PROCESSOR);
  });

  it('dubbo seeds', () => {
    const d = framesDir();
    for (const f of fs.readdirSync(d).filter((n) => n.startsWith('dubbo-'))) {
      const b = read(d, f);
      assert.equal(dubboFrameLength(b), b.length, f);
      if (f.includes('-req')) decodeDubboRequest(b);
      else decodeDubboResponse(b);
    }
    assert.equal(decodeDubboRequest(read(d, 'dubbo-hb-req.bin')).event, true);
    assert.equal(decodeDubboResponse(read(d, 'dubbo-hb-resp.bin')).kind, 'heartbeat');
    assert.equal(decodeDubboResponse(read(d, 'dubbo-resp-60.bin')).status, DubboStatus.SERVICE_NOT_FOUND);
    assert.equal(decodeDubboRequest(read(d, 'dubbo-req.bin')).service, 'com.alipay.test.DubboService');
  });
});
