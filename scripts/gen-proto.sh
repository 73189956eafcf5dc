#!/usr/bin/env bash
# Regenerates every generated file from proto/: the C decoder (protoc-c) into native/gen/ and the
# TypeScript encoder, decoder and types (pbjs static module + pbts declarations) into src/gen/, at
# the proto's package path. Generated files are never edited by hand and are not committed.
set -euo pipefail
cd "$(dirname "$0")/.."
proto=xmesh/dataplane/v1/snapshot.proto

out=native/gen
mkdir -p "$out"
protoc-c --proto_path=proto --c_out="$out" "proto/$proto"

# --keep-case: the snake_case field names of the proto (and of the C structs);
# --alt-comment: the proto's trailing // comments become the TypeScript docs;
# a named root so that no other static module shares protobufjs's "default" one.
ts=src/gen/${proto%.proto}
mkdir -p "$(dirname "$ts")"
# pbjs + pbts take seconds: skipped when the output is newer than everything that makes it.
fresh=1
for f in "proto/$proto" scripts/gen-proto.sh node_modules/protobufjs-cli/package.json; do
  [ "$ts.js" -nt "$f" ] && [ "$ts.d.ts" -nt "$f" ] || fresh=0
done
if [ "$fresh" = 1 ]; then
  echo "gen: native/gen regenerated, src/gen up to date"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pbjs() {
  npx --no-install pbjs -t static-module -w commonjs --keep-case --alt-comment -r xmesh_dataplane_v1 \
    --no-create --no-delimited --no-typeurl --no-service "$@" "proto/$proto"
}
# pbts reads the types from the JSDoc of a commented module; the module shipped has none
# (a third smaller, so tsc copies it faster).
pbjs -o "$tmp/doc.js"
npx --no-install pbts -o "$tmp/gen.d.ts" "$tmp/doc.js"
pbjs --no-comments -o "$tmp/gen.js"
# Moved into place last, so an interrupted run leaves no half-written file.
mv "$tmp/gen.js" "$ts.js"
mv "$tmp/gen.d.ts" "$ts.d.ts"

echo "gen: $(find native/gen src/gen -type f | wc -l) files in native/gen, src/gen"
