// Child processes of a bench run: started with optional CPU pinning, tracked by PID, and
// stopped only by that PID (TERM, then KILL) — including when the harness is interrupted.
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

export interface Started {
  name: string;
  pid: number;
  child: ChildProcess;
  /** stdout lines, in order, as they arrive */
  lines: string[];
  exited: Promise<number | null>;
  logFile: string;
}

const live = new Set<Started>();

export function pinPrefix(cpu: number): string[] {
  return cpu >= 0 ? ['taskset', '-c', String(cpu)] : [];
}

/** Start argv[0] with args; stdout is kept in memory (line by line) and logged, stderr logged. */
export function start(name: string, argv: string[], logFile: string, env?: NodeJS.ProcessEnv): Started {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', log], env: env ?? process.env });
  fs.closeSync(log);
  if (child.pid === undefined) throw new Error(`${name}: failed to start ${argv[0]}`);
  const lines: string[] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    fs.appendFileSync(logFile, chunk);
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) if (l.trim()) lines.push(l);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code, signal) => {
      if (partial.trim()) lines.push(partial);
      live.delete(s);
      resolve(code ?? (signal ? 128 : null));
    });
    child.on('error', () => resolve(-1));
  });
  const s: Started = { name, pid: child.pid, child, lines, exited, logFile };
  live.add(s);
  return s;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** PIDs whose parent is pid (nginx workers), from /proc. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === pid) out.push(Number(d));
    } catch {
      /* raced with exit */
    }
  }
  return out;
}

/** Stop one started process (and the children it had, by PID), bounded to ~5 s. */
export async function stop(s: Started, timeoutMs = 5000): Promise<void> {
  if (!live.has(s) && !alive(s.pid)) return;
  const kids = childPids(s.pid);
  try {
    process.kill(s.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  const t = setTimeout(() => {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, timeoutMs);
  await s.exited;
  clearTimeout(t);
  for (const k of kids) {
    if (alive(k)) {
      try {
        process.kill(k, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((s) => stop(s)));
}

/** Synchronous last resort for process exit paths: KILL everything still tracked. */
export function killAllSync(): void {
  for (const s of live) {
    for (const k of childPids(s.pid)) {
      try {
        process.kill(k, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** Wait until a stdout line satisfies pred; bounded. */
export async function waitLine(s: Started, pred: (l: string) => boolean, timeoutMs: number): Promise<string> {
  const t0 = Date.now();
  let seen = 0;
  for (;;) {
    for (; seen < s.lines.length; seen++) if (pred(s.lines[seen])) return s.lines[seen];
    if (!live.has(s)) throw new Error(`${s.name} exited before printing the expected line (see ${s.logFile})`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`${s.name}: timed out after ${timeoutMs} ms (see ${s.logFile})`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function toolVersion(argv: string[]): string {
  // some tools (nginx -v) print their version on stderr
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 5000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim() || 'unknown';
}
