/**
 * Encodes a SnapshotMsg with protobufjs against proto/xmesh/dataplane/v1/snapshot.proto,
 * the one schema the C side decodes with protobuf-c.
 */
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import type { SnapshotMsg } from './types';

const PROTO_ROOT = path.resolve(__dirname, '..', '..', '..', 'proto');

let snapshotType: protobuf.Type | undefined;

function type(): protobuf.Type {
  if (!snapshotType) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => path.join(PROTO_ROOT, target);
    root.loadSync('xmesh/dataplane/v1/snapshot.proto', { keepCase: true });
    snapshotType = root.lookupType('xmesh.dataplane.v1.Snapshot');
  }
  return snapshotType;
}

/** Encode a snapshot; throws a TypeError naming the first field protobufjs rejects. */
export function encodeSnapshot(msg: SnapshotMsg): Uint8Array {
  const t = type();
  // fromObject maps enum names to numbers; verify then checks the converted message.
  const m = t.fromObject(msg as unknown as Record<string, unknown>);
  const err = t.verify(m);
  if (err) throw new TypeError(`snapshot: ${err}`);
  return t.encode(m).finish();
}

/** Decode (tests and /config_dump). */
export function decodeSnapshot(bytes: Uint8Array): SnapshotMsg {
  const t = type();
  return t.toObject(t.decode(bytes), { enums: String, defaults: true, longs: Number }) as SnapshotMsg;
}
