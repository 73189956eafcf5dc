import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { DEMO_BODY, demoRequest, startDemoUpstream } from '../../src/cli/demo';
import { FakeDataPlane } from './fake-dataplane';
import { tcpListener } from '../../src/dataplane/shapes';

test('demo upstream answers through a proxy listener', async () => {
  const up = await startDemoUpstream('127.0.0.1', 0);
  const upPort = (up.address() as AddressInfo).port;
  const dp = new FakeDataPlane({ workers: 1 });
  try {
    const info = await dp.apply({
      version: 1,
      listeners: [tcpListener('demo', { address: '127.0.0.1', port: 0 }, { stat_prefix: 'demo', cluster: 'demo_upstream' })],
      clusters: [{ name: 'demo_upstream', endpoints: [{ address: { address: '127.0.0.1', port: upPort } }] }],
    });
    const r = await demoRequest('127.0.0.1', info.listeners[0].port);
    assert.deepEqual(r, { status: 200, body: DEMO_BODY });
  } finally {
    await dp.close();
    up.close();
  }
});

test('demo request to a closed port rejects', async () => {
  const up = await startDemoUpstream('127.0.0.1', 0);
  const port = (up.address() as AddressInfo).port;
  await new Promise<void>((r) => up.close(() => r()));
  await assert.rejects(demoRequest('127.0.0.1', port, 1000), /ECONNREFUSED/);
});
