import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterHosts, clustersTextChunks, formatListenersText } from '../../src/admin/endpoints';
import { collect } from '../../src/util/chunks';
import type { SnapshotMsg } from '../../src/dataplane/types';

test('/clusters and /listeners text: names with control characters are escaped, one record per line', async () => {
  const snapshot: SnapshotMsg = {
    version: 1,
    listeners: [],
    clusters: [{ name: 'evil\nok::127.0.0.1:1::weight::9', endpoints: [{ address: { address: '127.0.0.1', port: 9001 } }] }],
  };
  const clusters = await collect(clustersTextChunks(await clusterHosts(snapshot, [])));
  assert.deepEqual(clusters.split('\n'), [
    'evil\\nok::127.0.0.1:1::weight::9::127.0.0.1:9001::weight::1',
    'evil\\nok::127.0.0.1:1::weight::9::127.0.0.1:9001::priority::0',
    'evil\\nok::127.0.0.1:1::weight::9::127.0.0.1:9001::health_flags::healthy',
    '',
  ]);
  const listeners = formatListenersText({ workers: 1, version: 1, statsPath: '', listeners: [{ name: 'in\r\u001bbound', address: '127.0.0.1', port: 15006, fd: 3 }] });
  assert.equal(listeners, 'in\\r\\x1bbound::127.0.0.1:15006\n');
});
