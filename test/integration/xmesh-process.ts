/** Runs `xmesh run` as a real child process for integration tests and finds its first listener's port. */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NODE_FLAGS } from '../../src/cli/node-flags';

const bin = resolve(__dirname, '../../../bin/xmesh.js');

export interface XmeshProcess {
  child: ChildProcess;
  /** Bound port of the first listener, from the "xmesh ready" log line. */
  port: number;
  stderr(): string;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

/** Write cfg as JSON into dir and start xmesh on it with `--concurrency workers`. */
export async function startXmesh(dir: string, cfg: unknown, workers = 2): Promise<XmeshProcess> {
  const file = join(dir, `xmesh-${process.pid}-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(cfg));
  const child = spawn(process.execPath, [...NODE_FLAGS, bin, 'run', '--config', file, '--concurrency', String(workers)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (err += d));
  const port = await new Promise<number>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`xmesh not ready: ${err}`)), 15_000);
    const check = () => {
      const line = err.split('\n').find((l) => l.includes('"xmesh ready"'));
      if (!line) return;
      clearTimeout(t);
      child.stderr!.off('data', check);
      res(Number(String(JSON.parse(line).listeners[0]).split(':').pop()));
    };
    child.stderr!.on('data', check);
    child.on('exit', (code) => rej(new Error(`xmesh exited ${code}: ${err}`)));
  });
  return {
    child,
    port,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.on('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
