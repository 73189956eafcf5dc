// Micro benchmark: protobuf encoding/decoding of a 10,000-cluster data-plane snapshot with
// protobufjs — the cost the control core pays on every config push.
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { ROOT } from '../lib/paths';
import type { MicroSuite } from './suite';

const CLUSTERS = 10_000;
const ENDPOINTS_PER_CLUSTER = 3;

function snapshotObject(clusters: number): Record<string, unknown> {
  const cl = [];
  for (let i = 0; i < clusters; i++) {
    const endpoints = [];
    for (let e = 0; e < ENDPOINTS_PER_CLUSTER; e++) {
      endpoints.push({
        address: { address: `10.${(i >> 8) & 255}.${i & 255}.${e + 1}`, port: 8080 + e },
        weight: 1,
        healthy: true,
        metadata: { zone: `zone-${e}`, version: 'v1' },
        priority: 0,
      });
    }
    cl.push({
      name: `outbound|8080||svc-${i}.ns-${i % 50}.svc.cluster.local`,
      lb_policy: i % 4, // ROUND_ROBIN .. LEAST_REQUEST, as numbers (encode() takes wire values)
      connect_timeout_ms: 1000,
      endpoints,
      circuit_breakers: { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 },
      outlier_detection: { enabled: i % 2 === 0, consecutive_gateway_failure: 5, consecutive_5xx: 5 },
    });
  }
  return {
    version: 1,
    listeners: [
      {
        name: 'outbound',
        address: { address: '127.0.0.1', port: 15001 },
        filter_chains: [{ name: 'main', filters: [{ name: 'envoy.filters.network.tcp_proxy', tcp_proxy: { stat_prefix: 'out', cluster: 'outbound|8080||svc-0.ns-0.svc.cluster.local', max_connect_attempts: 1 } }] }],
      },
    ],
    clusters: cl,
  };
}

export const suite: MicroSuite = {
  name: 'snapshot',
  async setup(add) {
    // keepCase: field names stay snake_case as in the .proto (the control core does the same)
    const root = await new protobuf.Root().load(path.join(ROOT, 'proto/xmesh/dataplane/v1/snapshot.proto'), { keepCase: true });
    const Snapshot = root.lookupType('xmesh.dataplane.v1.Snapshot');
    const obj = snapshotObject(CLUSTERS);
    const err = Snapshot.verify(obj);
    if (err) throw new Error(`snapshot fixture invalid: ${err}`);
    const msg = Snapshot.fromObject(obj);
    const bytes = Snapshot.encode(msg).finish();
    add(`encode ${CLUSTERS} clusters (message)`, () => {
      Snapshot.encode(msg).finish();
    }, { bytes: bytes.length });
    add(`fromObject+encode ${CLUSTERS} clusters`, () => {
      Snapshot.encode(Snapshot.fromObject(obj)).finish();
    }, { bytes: bytes.length });
    add(`decode ${CLUSTERS} clusters`, () => {
      Snapshot.decode(bytes);
    }, { bytes: bytes.length });
  },
};
