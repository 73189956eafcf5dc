/**
 * Node/V8 flags every launcher of `xmesh run` puts on node's command line: the bin/xmesh.js
 * shebang, scripts/start.sh, the Dockerfile entrypoint, the bench and integration-test
 * launchers. V8 reads them when the isolate is created, so they cannot be set at run time.
 *  --no-memory-reducer: V8's memory reducer otherwise runs one full GC ~8 s after start; on a
 *    shared core that GC was the worst added p99 at 5,000 req/s (bench/history/2026-notebook.md).
 *  --enable-experimental-regexp-engine: allows V8's linear-time regex engine (the `l` flag),
 *    which admin filters (`/stats?filter=`) run on so that no pattern can pin the control
 *    thread (src/admin/filter-regex.ts); without it the admin refuses catastrophic shapes.
 *    It changes nothing for regexes without the flag.
 */
export const NODE_FLAGS: readonly string[] = ['--no-memory-reducer', '--enable-experimental-regexp-engine'];

/** The flags of NODE_FLAGS that this process was started without. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return NODE_FLAGS.filter((f) => !execArgv.includes(f));
}
