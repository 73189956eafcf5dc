#!/usr/bin/env bash
# Regenerates every generated file from proto/: the C decoder (protoc-c) into native/gen/.
# The TypeScript side loads the .proto files at run time with protobufjs, so it needs no
# generated code. Generated files are never edited by hand and are not committed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=native/gen
mkdir -p "$out"
protoc-c --proto_path=proto --c_out="$out" proto/xmesh/dataplane/v1/snapshot.proto
echo "gen: $(find "$out" -name '*.pb-c.*' | wc -l) files in $out"
