#!/usr/bin/env node
'use strict';
// xmesh CLI entry point: the compiled control core lives in dist/ (npm run build:ts).
require('../dist/src/cli/main.js');
