#!/usr/bin/env bash
# `npm start`: install what is missing, build, then run xmesh on the embedded default config
# with the demo upstream, and show one request going through it. Extra args go to `xmesh run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
# Node flags as in the bin/xmesh.js shebang (src/cli/node-flags.ts says why).
exec node --no-memory-reducer --enable-experimental-regexp-engine bin/xmesh.js run --demo "$@"
