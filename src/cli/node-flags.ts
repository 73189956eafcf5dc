/**
 * Node/V8 flags every launcher of `xmesh run` puts on node's command line: the bin/xmesh.js
 * shebang, scripts/start.sh, the Dockerfile entrypoint, the bench and integration-test
 * launchers. V8 reads them when the isolate is created, so they cannot be set at run time.
 *  --no-memory-reducer: V8's memory reducer otherwise runs one full GC ~8 s after start; on a
 *    shared core that GC was the worst added p99 at 5,000 req/s (bench/history/2026-notebook.md).
 */
export const NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];

/** The flags of NODE_FLAGS that this process was started without. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return NODE_FLAGS.filter((f) => !execArgv.includes(f));
}
