// Writes real Bolt v1/v2 and Dubbo frames (encoded by sofa-bolt-node and dubbo2.js's hessian)
// into native/fuzz/corpus/ so the fuzzers and unit tests start from what real peers send.
// Usage: npm install --no-save sofa-bolt-node hessian.js && node native/fuzz/gen_corpus.js
'use strict';
const fs = require('fs');
const path = require('path');
const protocol = require('sofa-bolt-node/lib/protocol');
const hessian = require('hessian.js');

const out = path.join(__dirname, 'corpus');
function write(dir, name, buf) {
  fs.mkdirSync(path.join(out, dir), { recursive: true });
  fs.writeFileSync(path.join(out, dir, name), buf);
}

// ---- Bolt ----
const req = {
  serverSignature: 'com.alipay.test.TestService:1.0',
  methodName: 'plus',
  args: [{ $class: 'int', $: 1 }, { $class: 'int', $: 2 }],
  timeout: 3000,
  targetAppName: 'pb',
  requestProps: { rpc_trace_context: { sofaRpcId: '0.1' } },
};
const variants = [
  ['v1', { protocolType: 'bolt', boltVersion: 1, crcEnable: false }],
  ['v2', { protocolType: 'bolt2', boltVersion: 1, crcEnable: false }],
  ['v2crc', { protocolType: 'bolt2', boltVersion: 2, crcEnable: true }],
];
for (const [tag, o] of variants) {
  const opts = Object.assign({ codecType: 'hessian2' }, o);
  write('bolt', `${tag}_request`, Buffer.from(protocol.requestEncode(1, req, opts)));
  write('bolt', `${tag}_oneway`, Buffer.from(protocol.requestEncode(2, Object.assign({ oneway: true }, req), opts)));
  write('bolt', `${tag}_response`, Buffer.from(protocol.responseEncode(1, { isError: false, appResponse: 3 }, opts)));
  write('bolt', `${tag}_response_error`, Buffer.from(protocol.responseEncode(3, { isError: true, errorMsg: 'boom' }, opts)));
  write('bolt', `${tag}_heartbeat`, Buffer.from(protocol.heartbeatEncode(4, { timeout: 3000 }, opts)));
  write('bolt', `${tag}_heartbeat_ack`, Buffer.from(protocol.heartbeatAckEncode(4, opts)));
}
// protobuf requests carry sofa_head_method_name and more header keys
{
  const opts = { protocolType: 'bolt', boltVersion: 1, crcEnable: false, codecType: 'protobuf' };
  const RpcRequestCommand = require('sofa-bolt-node/lib/protocol/rpc_req_cmd');
  const cmd = new RpcRequestCommand(Object.assign({}, req, { args: [] }), opts);
  cmd.serializeContent = () => {}; // no .proto schema here: header map only
  write('bolt', 'v1_request_pb_headers', Buffer.from(protocol.requestEncode(5, cmd, opts)));
}

// ---- Dubbo (hessian2 body as written by Dubbo's DubboCodec.encodeRequestData) ----
function dubboFrame(flag, status, id, body) {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(0xdabb, 0);
  h[2] = flag;
  h[3] = status;
  h.writeBigUInt64BE(BigInt(id), 4);
  h.writeUInt32BE(body.length, 12);
  return Buffer.concat([ h, body ]);
}
function h2(...vals) {
  const enc = new hessian.EncoderV2();
  for (const v of vals) enc.write(v);
  return enc.get();
}
const dreq = h2('2.0.2', 'org.apache.dubbo.demo.DemoService', '1.0.0', 'sayHello', 'Ljava/lang/String;',
  'world', { $class: 'java.util.HashMap', $: { path: 'org.apache.dubbo.demo.DemoService', group: 'g1', version: '1.0.0', interface: 'org.apache.dubbo.demo.DemoService' } });
write('dubbo', 'request', dubboFrame(0xc2, 0, 1, dreq));
write('dubbo', 'oneway', dubboFrame(0x82, 0, 2, dreq));
// long (>32 byte) service path and a non-ASCII method exercise medium and multibyte strings
const longPath = 'com.example.very.long.package.name.that.exceeds.short.strings.HelloService';
write('dubbo', 'request_long', dubboFrame(0xc2, 0, 3, h2('2.0.2', longPath, '', 'grüß', '', {})));
write('dubbo', 'response', dubboFrame(0x02, 20, 1, h2(1, 'Hello world')));
write('dubbo', 'response_error', dubboFrame(0x02, 70, 1, h2('java.lang.IllegalStateException: boom')));
write('dubbo', 'heartbeat', dubboFrame(0xe2, 0, 4, Buffer.from('N')));
write('dubbo', 'heartbeat_ack', dubboFrame(0x22, 20, 4, Buffer.from('N')));
