/**
 * The snapshot codec (generated protobufjs static code): what encodes, what is refused with a
 * TypeError naming the field, the decoded and the /config_dump (proto3 JSON) forms, and the
 * limits the proto defines for both sides. No native addon needed.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import Long from 'long';
import { decodeSnapshot, encodeSnapshot, snapshotJson } from '../../src/dataplane/snapshot';
import { pb, type SnapshotMsg } from '../../src/dataplane/types';

const full: SnapshotMsg = {
  version: 9,
  listeners: [
    {
      name: 'rpc',
      address: { address: '::1', port: 0 },
      backlog: 1024,
      buffer_limit: 1 << 20,
      socket_options: [{ level: 6, name: 13, buf_value: Buffer.from('reno'), state: pb.SocketOption.State.STATE_LISTENING }],
      filter_chains: [
        {
          name: 'main',
          filters: [
            {
              name: 'xmesh.x_proxy',
              x_proxy: {
                stat_prefix: 'rpc',
                protocols: ['tiny'],
                max_frame_size: 4096,
                upstream_connections_per_host: 1,
                request_timeout_ms: 100,
                descriptors: [{ name: 'tiny', magic: Buffer.from('TR'), header_len: 12, kind_mask: Long.fromString('18446744073709551615', true), pool_mode: pb.XCodecDescriptor.PoolMode.MULTIPLEX }],
                virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ cluster: 'c', timeout_ms: 100, metadata_match: { v: '2' } }] }],
              },
            },
          ],
        },
      ],
    },
  ],
  clusters: [{ name: 'c', lb_policy: pb.Cluster.LbPolicy.MAGLEV, maglev_table_size: 251, endpoints: [{ address: { address: '10.0.0.1', port: 80 }, weight: 1, healthy: true }] }],
};

test('snapshot: encode then decode keeps every field; unset fields decode as their proto3 defaults', () => {
  const back = decodeSnapshot(encodeSnapshot(full));
  const l = back.listeners![0];
  const x = l.filter_chains![0].filters![0];
  assert.equal(back.version, 9);
  assert.deepEqual(l.socket_options![0].buf_value, Buffer.from('reno'));
  assert.equal(l.socket_options![0].state, pb.SocketOption.State.STATE_LISTENING);
  assert.deepEqual(x.x_proxy!.descriptors![0].magic, Buffer.from('TR'));
  assert.equal(x.x_proxy!.virtual_hosts![0].routes![0].metadata_match!.v, '2');
  assert.equal(back.clusters![0].lb_policy, pb.Cluster.LbPolicy.MAGLEV);
  assert.equal(back.clusters![0].connect_timeout_ms, 0, 'not set above: the proto3 default');
  assert.equal(x.tcp_proxy, undefined, 'the other member of the oneof');
});

const refused: Array<{ desc: string; msg: unknown; error: RegExp }> = [
  { desc: 'an enum by name (the generated encoder takes numbers)', msg: { clusters: [{ name: 'c', lb_policy: 'MAGLEV' }] }, error: /^snapshot: clusters\.lb_policy: enum value expected$/ },
  { desc: 'a fractional integer', msg: { version: 1.5 }, error: /^snapshot: version: integer\|Long expected$/ },
  { desc: 'two members of a oneof', msg: { listeners: [{ name: 'l', filter_chains: [{ filters: [{ tcp_proxy: {}, x_proxy: {} }] }] }] }, error: /^snapshot: listeners\.filter_chains\.filters\.config: multiple values$/ },
  { desc: 'a string for a number', msg: { listeners: [{ address: { port: '80' } }] }, error: /^snapshot: listeners\.address\.port: integer expected$/ },
];
for (const r of refused) {
  test(`snapshot: encode refuses ${r.desc} with a TypeError naming the field`, () => {
    assert.throws(() => encodeSnapshot(r.msg as SnapshotMsg), (e: Error) => e instanceof TypeError && r.error.test(e.message));
  });
}

test('snapshot: the /config_dump form is proto3 JSON (enums by name, 64-bit as strings, bytes as base64, unset fields out)', () => {
  const j = JSON.parse(JSON.stringify(snapshotJson(full)));
  assert.equal(j.version, '9');
  assert.equal(j.clusters[0].lb_policy, 'MAGLEV');
  assert.equal(j.clusters[0].connect_timeout_ms, undefined);
  const l = j.listeners[0];
  assert.deepEqual(l.socket_options[0], { level: 6, name: 13, buf_value: Buffer.from('reno').toString('base64'), state: 'STATE_LISTENING' });
  const x = l.filter_chains[0].filters[0].x_proxy;
  assert.deepEqual([x.descriptors[0].magic, x.descriptors[0].kind_mask, x.descriptors[0].pool_mode], ['VFI=', '18446744073709551615', 'MULTIPLEX']);
});

test('snapshot: the shared limits come from the proto (Limits), with the values the data plane was built with', () => {
  const L = pb.Limits;
  assert.deepEqual(
    [L.MAX_X_PROXY_CODECS, L.MAX_DESCRIPTOR_MAGIC_LEN, L.MAX_DESCRIPTOR_NAME_LEN, L.MAX_DESCRIPTOR_HEADER_LEN, L.MAX_DESCRIPTOR_FIXED_LEN, L.MAX_SOCKET_OPTION_BUF_LEN, L.MAX_UPSTREAM_CONNECTIONS_PER_HOST, L.MAX_RING_HASH_SIZE, L.MAX_KEEPALIVE_PROBES, L.MAX_KEEPALIVE_SECONDS],
    [8, 8, 31, 4096, 65535, 128, 16, 1 << 23, 255, 65535],
  );
  // The C side gets the same constants from protoc-c (npm run gen).
  const h = fs.readFileSync(path.join(__dirname, '../../../native/gen/xmesh/dataplane/v1/snapshot.pb-c.h'), 'utf8');
  for (const [name, value] of Object.entries(L).filter(([n]) => n !== 'LIMITS_UNSPECIFIED')) {
    assert.match(h, new RegExp(`XMESH__DATAPLANE__V1__LIMITS__${name} = ${value}\\b`), name);
  }
});
