/**
 * Encodes and decodes the Snapshot with the protobufjs static code generated from
 * proto/xmesh/dataplane/v1/snapshot.proto, the one schema the C side decodes with protobuf-c.
 */
import { pb, type SnapshotMsg } from './types';

/** Encode a snapshot; throws a TypeError naming the first field that does not fit the schema
 * (a wrong type, an enum given by name instead of number, two members of a oneof). */
export function encodeSnapshot(msg: SnapshotMsg): Uint8Array {
  const err = pb.Snapshot.verify(msg);
  if (err) throw new TypeError(`snapshot: ${err}`);
  return pb.Snapshot.encode(msg).finish();
}

/** Decode (tests): every field present with its proto3 default, enums as numbers, 64-bit
 * integers as numbers (exact up to 2^53), bytes as Buffers. */
export function decodeSnapshot(bytes: Uint8Array): SnapshotMsg {
  return pb.Snapshot.toObject(pb.Snapshot.decode(bytes), { defaults: true, longs: Number, arrays: true, objects: true }) as SnapshotMsg;
}

/** The proto3 JSON form (/config_dump): enums by name, 64-bit integers as decimal strings,
 * bytes as base64; fields left unset stay out. */
export function snapshotJson(msg: SnapshotMsg): Record<string, unknown> {
  return pb.Snapshot.toObject(msg as pb.Snapshot, { enums: String, longs: String, bytes: String, json: true });
}
