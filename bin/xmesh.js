#!/usr/bin/env -S node --no-memory-reducer --enable-experimental-regexp-engine
'use strict';
// xmesh CLI entry point: the compiled control core lives in dist/ (npm run build:ts).
// Node flags (the shebang; keep in step with src/cli/node-flags.ts): --no-memory-reducer
// stops V8's memory reducer, whose one full GC ~8 s after start was the worst p99 at a
// fixed rate (bench/RESULTS.md); --enable-experimental-regexp-engine gives admin filters a
// linear-time regex engine. V8 reads them when the isolate is created, so they must be on
// node's command line: `node bin/xmesh.js` without them works but `xmesh run` warns.
require('../dist/src/cli/main.js');
