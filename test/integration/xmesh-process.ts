/** Runs `xmesh run` as a real child process for integration tests: its first listener's port, admin address, logs and stats. */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { join, resolve } from 'node:path';
import { NODE_FLAGS } from '../../src/cli/node-flags';

const bin = resolve(__dirname, '../../../bin/xmesh.js');

export interface XmeshProcess {
  child: ChildProcess;
  /** Bound port of the first listener, from the "xmesh ready" log line. */
  port: number;
  /** Admin "host:port" from the same line ("disabled" without an admin block). */
  admin: string;
  /** The config file xmesh runs on (rewrite it, then SIGHUP, to reload). */
  file: string;
  stderr(): string;
  /** Wait (up to 10 s) until stderr from offset `from` matches re. */
  waitLog(re: RegExp, from?: number): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra environment (e.g. XMESH_DATAPLANE_MODULE for the fake data plane). */
  env?: NodeJS.ProcessEnv;
  /** Extra `xmesh run` arguments. */
  args?: string[];
  /** Extension of the config file (default json; a .yaml file may later be rewritten as YAML). */
  ext?: 'json' | 'yaml';
}

/** Write cfg as JSON into dir and start xmesh on it with `--concurrency workers`. */
export async function startXmesh(dir: string, cfg: unknown, workers = 2, opts: StartOptions = {}): Promise<XmeshProcess> {
  const file = join(dir, `xmesh-${process.pid}-${Date.now()}.${opts.ext ?? 'json'}`);
  writeFileSync(file, JSON.stringify(cfg));
  const child = spawn(process.execPath, [...NODE_FLAGS, bin, 'run', '--config', file, '--concurrency', String(workers), ...(opts.args ?? [])], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (err += d));
  let admin = 'disabled';
  const port = await new Promise<number>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`xmesh not ready: ${err}`)), 15_000);
    const check = () => {
      const line = err.split('\n').find((l) => l.includes('"xmesh ready"'));
      if (!line) return;
      clearTimeout(t);
      child.stderr!.off('data', check);
      const ready = JSON.parse(line);
      admin = String(ready.admin);
      res(Number(String(ready.listeners[0]).split(':').pop()));
    };
    child.stderr!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(t); // else a start that failed keeps the test process alive 15 s
      rej(new Error(`xmesh exited ${code}: ${err}`));
    });
  }).catch((e: unknown) => {
    if (child.exitCode === null) child.kill('SIGKILL'); // never leave a half-started process behind
    throw e;
  });
  const waitLog = (re: RegExp, from = 0) =>
    new Promise<void>((res, rej) => {
      const check = () => {
        if (!re.test(err.slice(from))) return;
        clearTimeout(t);
        child.stderr!.off('data', check);
        res();
      };
      const t = setTimeout(() => {
        child.stderr!.off('data', check);
        rej(new Error(`timeout waiting for ${re}: ${err.slice(from)}`));
      }, 10_000);
      child.stderr!.on('data', check);
      check();
    });
  return {
    child,
    port,
    admin,
    file,
    stderr: () => err,
    waitLog,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.on('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Counters from the admin /stats text ("name: value" lines). */
export function adminStats(admin: string): Promise<Map<string, number>> {
  return new Promise((res, rej) => {
    http
      .get(`http://${admin}/stats`, (r) => {
        let b = '';
        r.setEncoding('utf8');
        r.on('data', (d) => (b += d));
        r.on('end', () => res(new Map(b.split('\n').map((l) => l.split(': ')).filter((kv) => kv.length === 2 && /^-?\d+$/.test(kv[1])).map(([k, v]) => [k, Number(v)]))));
      })
      .on('error', rej);
  });
}
