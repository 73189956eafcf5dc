#!/usr/bin/env bash
# `npm test`: install what is missing, build, then run every test suite:
#   native unit + integration tests (C, real sockets), the same under ASan/UBSan/LSan,
#   the HTTP/1 codec's tests (its smuggling table, plain and under ASan/UBSan),
#   the codec fuzzers (libFuzzer + ASan/UBSan, 20 s each from the seed corpora),
#   the TypeScript tests (node:test; integration tests use the real addon and real peers),
#   and a check of the Dockerfile.
# Usage: scripts/test.sh (no arguments; `npm run test:ts` runs only the TypeScript tests)
set -euo pipefail
case "${1:-}" in
  '') ;;
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "test.sh: takes no arguments (see --help)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
make -s -C native/test run
make -s -C native/test run-asan
make -s -C native/test/protocol/http1 run
make -s -C native/test/protocol/http1 run-asan
bash native/fuzz/run.sh 20
node --test --test-concurrency=1 dist/test/
bash scripts/check-dockerfile.sh
