import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig } from '../../src/config/validate';
import { TINYRPC_DESCRIPTOR } from '../fixtures/tinyrpc';
import { baseConfig } from './helpers';

type Mutate = (x: any, d: any) => void;
const XP = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';
const D = `${XP}.descriptors[0]`;

/** Listener 0 becomes an x_proxy speaking the tinyrpc descriptor; mutate(x, d) edits the filter and the descriptor. */
function withDescriptor(mutate: Mutate): any {
  const c = baseConfig();
  const d = structuredClone(TINYRPC_DESCRIPTOR) as any;
  const x: any = {
    '@type': 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy',
    stat_prefix: 'rpc',
    protocol: 'tinyrpc',
    descriptors: [d],
    route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ route: { cluster: 'c' } }] }] },
  };
  mutate(x, d);
  c.static_resources.listeners[0].filter_chains[0].filters[0] = { name: 'xmesh.x_proxy', typed_config: x };
  return c;
}

/** Each case breaks one thing of a valid tinyrpc descriptor; `errors` is the exact list expected. */
const invalid: Array<{ desc: string; mutate: Mutate; errors: Array<[string, RegExp]> }> = [
  { desc: 'name missing', mutate: (x, d) => { delete d.name; x.protocol = 'bolt'; }, errors: [[`${D}.name`, /required field is missing/]] },
  { desc: 'name shadows a built-in', mutate: (x, d) => { d.name = 'dubbo'; x.protocol = 'bolt'; }, errors: [[`${D}.name`, /"dubbo" is a built-in protocol; a descriptor cannot replace it/]] },
  { desc: 'name too long', mutate: (x, d) => { d.name = 'x'.repeat(32); x.protocol = 'bolt'; }, errors: [[`${D}.name`, /1\.\.31 characters/]] },
  { desc: 'name with a space', mutate: (x, d) => { d.name = 'tiny rpc'; x.protocol = 'bolt'; }, errors: [[`${D}.name`, /"tiny rpc": 1\.\.31 characters of A-Z/]] },
  { desc: 'duplicate descriptor names', mutate: (x) => x.descriptors.push(structuredClone(TINYRPC_DESCRIPTOR)), errors: [[`${XP}.descriptors[1].name`, /duplicate descriptor name "tinyrpc"/]] },
  { desc: 'protocol names no built-in and no descriptor', mutate: (x) => (x.protocol = 'thrift'), errors: [[`${XP}.protocol`, /unknown value "thrift" \(expected one of bolt, dubbo, tinyrpc\)/]] },
  { desc: 'descriptors is not a list', mutate: (x) => { x.descriptors = { name: 'tinyrpc' }; x.protocol = 'bolt'; }, errors: [[`${XP}.descriptors`, /expected a list, got an object/]] },
  { desc: 'unknown descriptor field', mutate: (_x, d) => (d.pool_mode = 'PINGPONG'), errors: [[`${D}.pool_mode`, /unknown field \(known fields: name, header_len, magic/]] },
  { desc: 'header_len 0', mutate: (_x, d) => (d.header_len = 0), errors: [[`${D}.header_len`, /out of range \(expected 1\.\.4096\)/]] },
  { desc: 'header_len above 4096', mutate: (_x, d) => (d.header_len = 4097), errors: [[`${D}.header_len`, /out of range \(expected 1\.\.4096\)/]] },
  { desc: 'header_len above max_frame_size', mutate: (x, d) => { x.max_frame_size = 64; d.header_len = 100; }, errors: [[`${D}.header_len`, /100 is above the filter's max_frame_size \(64\)/]] },
  { desc: 'magic as text and hex', mutate: (_x, d) => (d.magic = { text: 'TR', hex: '5452' }), errors: [[`${D}.magic`, /set exactly one of text, hex/]] },
  { desc: 'magic hex with an odd digit count', mutate: (_x, d) => (d.magic = { hex: '545' }), errors: [[`${D}.magic.hex`, /"545" is not an even number of hex digits/]] },
  { desc: 'magic text not ASCII', mutate: (_x, d) => (d.magic = { text: 'TÄ' }), errors: [[`${D}.magic.text`, /printable ASCII; use hex/]] },
  { desc: 'magic of 9 bytes', mutate: (_x, d) => { d.header_len = 40; d.magic = { hex: '000102030405060708', offset: 20 }; }, errors: [[`${D}.magic.hex`, /must be 1\.\.8 bytes, got 9/]] },
  { desc: 'magic empty', mutate: (_x, d) => (d.magic = { text: '' }), errors: [[`${D}.magic.text`, /must be 1\.\.8 bytes, got 0 \(omit magic for none\)/]] },
  { desc: 'magic past the header', mutate: (_x, d) => (d.magic.offset = 11), errors: [[`${D}.magic.offset`, /magic \[11, 13\) is outside the 12-byte header/]] },
  { desc: 'length size 3', mutate: (_x, d) => (d.length.size = 3), errors: [[`${D}.length.size`, /must be 1, 2, 4 or 8 \(bytes\), got 3/]] },
  { desc: 'length field past the header', mutate: (_x, d) => (d.length.offset = 12), errors: [[`${D}.length.offset`, /field \[12, 16\) is outside the 12-byte header \(header_len\)/]] },
  { desc: 'length without offset', mutate: (_x, d) => delete d.length.offset, errors: [[`${D}.length.offset`, /required field is missing/]] },
  { desc: 'length.adjust makes an empty reply unwritable', mutate: (_x, d) => (d.length.adjust = 100), errors: [[`${D}.length.adjust`, /header_len - adjust = -88 must fit the 4-byte length field/]] },
  { desc: 'length.adjust too wide for a 1-byte length', mutate: (_x, d) => { d.length = { offset: 11, size: 1, adjust: -300 }; }, errors: [[`${D}.length.adjust`, /header_len - adjust = 312 must fit the 1-byte length field/]] },
  { desc: 'length.adjust not an integer', mutate: (_x, d) => (d.length.adjust = 1.5), errors: [[`${D}.length.adjust`, /expected a 32-bit signed integer, got 1\.5/]] },
  { desc: 'request id of one byte', mutate: (_x, d) => (d.request_id = { offset: 4, size: 1 }), errors: [[`${D}.request_id.size`, /multiplexing needs a request id of at least 2 bytes/]] },
  { desc: 'request id overlapping the kind field', mutate: (_x, d) => (d.request_id.offset = 1), errors: [[`${D}.request_id.offset`, /\[1, 5\) overlaps kind \[2, 3\)/]] },
  { desc: 'status overlapping the magic', mutate: (_x, d) => (d.status.offset = 1), errors: [[`${D}.status.offset`, /\[1, 2\) overlaps magic \[0, 2\)/]] },
  { desc: 'kind missing', mutate: (_x, d) => delete d.kind, errors: [[`${D}.kind`, /required field is missing/]] },
  { desc: 'kind without response', mutate: (_x, d) => delete d.kind.response, errors: [[`${D}.kind.response`, /required field is missing/]] },
  { desc: 'kind mask 0', mutate: (_x, d) => (d.kind.mask = 0), errors: [[`${D}.kind.mask`, /must be non-zero/]] },
  { desc: 'kind mask wider than the field', mutate: (_x, d) => (d.kind.mask = 256), errors: [[`${D}.kind.mask`, /0x100 does not fit the 1-byte field/]] },
  { desc: 'kind value outside the mask', mutate: (_x, d) => (d.kind.response = 8), errors: [[`${D}.kind.response`, /0x8 has bits outside mask 0x7/]] },
  { desc: 'two kinds with one value', mutate: (_x, d) => (d.kind.oneway = 0), errors: [[`${D}.kind.oneway`, /same value as kind\.request/]] },
  { desc: 'heartbeat without heartbeat_ack', mutate: (_x, d) => delete d.kind.heartbeat_ack, errors: [[`${D}.kind.heartbeat_ack`, /required with heartbeat/]] },
  { desc: 'kind value not a number', mutate: (_x, d) => (d.kind.request = '0xzz'), errors: [[`${D}.kind.request`, /expected an unsigned integer \(or a decimal or "0x\.\.\." string up to 64 bits\), got "0xzz"/]] },
  { desc: 'negative kind value', mutate: (_x, d) => (d.kind.request = -1), errors: [[`${D}.kind.request`, /expected an unsigned integer/]] },
  { desc: 'status without ok and server_error', mutate: (_x, d) => { delete d.status.ok; delete d.status.server_error; }, errors: [[`${D}.status.ok`, /required/], [`${D}.status.server_error`, /required/]] },
  { desc: 'an error status equal to ok', mutate: (_x, d) => (d.status.timeout = 0), errors: [[`${D}.status.timeout`, /same value as status\.ok \(the error reply would read as a success\)/]] },
  { desc: 'a status value wider than the field', mutate: (_x, d) => (d.status.no_route = 256), errors: [[`${D}.status.no_route`, /0x100 does not fit the 1-byte field/]] },
  { desc: 'status size 16', mutate: (_x, d) => (d.status.size = 16), errors: [[`${D}.status.size`, /must be 1, 2, 4 or 8/]] },
  { desc: 'service with two locations', mutate: (_x, d) => (d.service.tlv = { offset: 30, type: 1 }), errors: [[`${D}.service`, /set exactly one of fixed, length_prefixed, tlv/]] },
  { desc: 'method fixed length 0', mutate: (_x, d) => (d.method.fixed.length = 0), errors: [[`${D}.method.fixed.length`, /out of range \(expected 1\.\.65535\)/]] },
  { desc: 'service length_size 3', mutate: (_x, d) => (d.service.length_prefixed.length_size = 3), errors: [[`${D}.service.length_prefixed.length_size`, /must be 1, 2 or 4 \(bytes\), got 3/]] },
  { desc: 'method tlv type 256', mutate: (_x, d) => (d.method = { tlv: { offset: 12, type: 256 } }), errors: [[`${D}.method.tlv.type`, /out of range \(expected 0\.\.255\)/]] },
];

for (const c of invalid) {
  test(`x_proxy descriptor rejected: ${c.desc}`, () => {
    const r = validateConfig(withDescriptor(c.mutate));
    assert.equal(r.status, 'invalid', 'expected the config to be rejected');
    const got = r.errors.map((e) => `${e.path}: ${e.message}`);
    assert.equal(r.errors.length, c.errors.length, `errors were:\n${got.join('\n')}`);
    for (const [path, msg] of c.errors) {
      assert.ok(r.errors.some((e) => e.path === path && msg.test(e.message)), `missing ${path}: ${msg}\ngot:\n${got.join('\n')}`);
    }
  });
}

const valid: Array<{ desc: string; mutate: Mutate }> = [
  { desc: 'tinyrpc', mutate: () => undefined },
  { desc: 'a built-in protocol next to descriptors', mutate: (x) => (x.protocol = 'dubbo') },
  {
    desc: 'minimal: no magic, status, oneway, heartbeats or routing keys; default mask',
    mutate: (_x, d) => {
      for (const k of ['magic', 'status', 'service', 'method']) delete d[k];
      d.kind = { offset: 2, size: 1, request: 0, response: 1 };
    },
  },
  {
    desc: '64-bit little-endian fields, values as strings, TLV keys, hex magic at an offset',
    mutate: (_x, d) => {
      Object.assign(d, {
        header_len: 32,
        magic: { offset: 30, hex: 'cafe' },
        length: { offset: 0, size: 2, little_endian: true, adjust: 0 },
        request_id: { offset: 2, size: 8, little_endian: true },
        kind: { offset: 10, size: 8, mask: '0xff00000000000000', request: '0x0100000000000000', response: '0xff00000000000000' },
        status: { offset: 18, size: 8, ok: 200, server_error: '18446744073709551615', no_route: 404 },
        service: { tlv: { offset: 32, type: 1 } },
        method: { tlv: { offset: 32, type: 2 } },
      });
    },
  },
];
for (const c of valid) {
  test(`x_proxy descriptor accepted: ${c.desc}`, () => {
    const r = validateConfig(withDescriptor(c.mutate));
    assert.deepEqual(r.errors, []);
    assert.equal(r.status, 'valid');
  });
}
