import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_CONFIG_YAML, loadDefaultConfig } from '../../src/config/default';
import { loadConfigFile } from '../../src/config/load';
import { translate, translateDescriptor } from '../../src/config/translate';
import type { XCodecDescriptorCfg } from '../../src/config/types';
import { TINYRPC_DESCRIPTOR } from '../fixtures/tinyrpc';
import { terminalFilter } from '../../src/dataplane/shapes';

const examples = resolve(__dirname, '../../../examples');

test('examples/default.yaml is byte-identical to the embedded default', () => {
  assert.equal(readFileSync(join(examples, 'default.yaml'), 'utf8'), DEFAULT_CONFIG_YAML);
});

test('the embedded default: admin 15000, demo listener 10000 -> demo_upstream 10001', () => {
  const { config, warnings } = loadDefaultConfig();
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.admin?.address?.socket_address, { address: '127.0.0.1', port_value: 15000 });
  const { snapshot } = translate(config, new Map(), 1);
  assert.deepEqual(snapshot.listeners!.map((l) => [l.name, l.address, terminalFilter(l)?.tcp_proxy?.cluster]), [['demo', { address: '127.0.0.1', port: 10000 }, 'demo_upstream']]);
  assert.deepEqual(snapshot.clusters![0].endpoints!.map((e) => e.address), [{ address: '127.0.0.1', port: 10001 }]);
});

test('examples/full.yaml is valid and only warns about what xmesh ignores', () => {
  const { config, warnings } = loadConfigFile(join(examples, 'full.yaml'));
  assert.deepEqual(warnings.map((w) => w.path).sort(), [
    'dynamic_resources',
    'layered_runtime',
    'node',
    'static_resources.clusters[5].type',
    'static_resources.clusters[6].type',
  ]);
  assert.equal(config.static_resources?.listeners?.length, 3);
  assert.equal(config.static_resources?.clusters?.length, 8);
});

test('examples/rpc.yaml (x_proxy Bolt, Dubbo and detecting listeners) is valid and translates', () => {
  const { config, warnings } = loadConfigFile(join(examples, 'rpc.yaml'));
  assert.deepEqual(warnings, []);
  const snap = translate(config, new Map(), 1).snapshot;
  assert.deepEqual(snap.listeners!.map((l) => terminalFilter(l)?.x_proxy?.protocols), [['bolt'], ['dubbo'], ['bolt', 'dubbo']]);
  assert.equal(terminalFilter(snap.listeners![0])?.x_proxy?.virtual_hosts![0].routes!.length, 3);
  // Several protocols with a fallback: a detection listener filter, an x_proxy chain for
  // the detected protocols, the fallback tcp_proxy as the default chain.
  const mixed = snap.listeners![2];
  assert.deepEqual(mixed.listener_filters, [
    { name: 'xmesh.listener.protocol_detection', protocol_detection: { protocols: ['bolt', 'dubbo'], timeout_ms: 3000, stat_prefix: mixed.filter_chains![0].filters![0].x_proxy!.stat_prefix } },
  ]);
  assert.deepEqual(mixed.filter_chains![0].filter_chain_match, { application_protocols: ['bolt', 'dubbo'] });
  assert.equal(mixed.default_filter_chain?.filters![0].tcp_proxy?.cluster, 'legacy');
});

test('examples/tinyrpc.yaml (a protocol defined by a descriptor) is valid and defines the tinyrpc of the real-peer tests', () => {
  const { config, warnings } = loadConfigFile(join(examples, 'tinyrpc.yaml'));
  assert.deepEqual(warnings, []);
  const x = terminalFilter(translate(config, new Map(), 1).snapshot.listeners![0])!.x_proxy!;
  assert.deepEqual(x.protocols, ['tinyrpc']);
  assert.deepEqual(x.descriptors, [translateDescriptor(TINYRPC_DESCRIPTOR as unknown as XCodecDescriptorCfg)]);
});
