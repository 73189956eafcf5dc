// Reading a process's CPU time and memory from /proc: the proxy's own cost figures.
import * as fs from 'node:fs';
import { childPids } from './procs';

const CLK_TCK = 100; // USER_HZ is 100 on every Linux ABI node runs on

/** utime+stime in microseconds of pid (all its threads) plus its direct children (nginx workers). */
export function cpuUs(pid: number): number {
  let ticks = 0;
  for (const p of [pid, ...childPids(pid)]) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // fields 14, 15: utime, stime
    } catch {
      /* exited */
    }
  }
  return (ticks * 1e6) / CLK_TCK;
}

/** VmRSS in bytes of pid plus its direct children. */
export function rssBytes(pid: number): number {
  let kb = 0;
  for (const p of [pid, ...childPids(pid)]) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      /* exited */
    }
  }
  return kb * 1024;
}

/** Sum a per-thread figure over every thread of pid and its direct children. */
function perThread(pid: number, read: (taskDir: string) => number): number {
  let n = 0;
  for (const p of [pid, ...childPids(pid)]) {
    let tids: string[] = [];
    try {
      tids = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      continue; /* exited */
    }
    for (const t of tids) {
      try {
        n += read(`/proc/${p}/task/${t}`);
      } catch {
        /* thread exited */
      }
    }
  }
  return n;
}

/** Context switches (voluntary + involuntary) of every thread of pid and its direct
 * children: how often the proxy was woken, or put to sleep, over a window. */
export function ctxSwitches(pid: number): number {
  return perThread(pid, (dir) => {
    let n = 0;
    for (const m of fs.readFileSync(`${dir}/status`, 'utf8').matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)/gm)) n += Number(m[1]);
    return n;
  });
}

/** CPU time in microseconds of every thread of pid and its direct children, from
 * schedstat (ns, exact) rather than the 10 ms ticks of /proc/PID/stat: for windows where
 * the proxy barely runs. */
export function cpuUsExact(pid: number): number {
  return perThread(pid, (dir) => Number(fs.readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[0]) / 1000);
}

/** Whether pid holds an io_uring instance (an `anon_inode:[io_uring]` descriptor): which
 * I/O backend an xmesh started with `--io-backend auto` really runs. */
export function hasIoUring(pid: number): boolean {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:[io_uring]';
      } catch {
        return false; /* closed meanwhile */
      }
    });
  } catch {
    return false;
  }
}

export function cpuModel(): string {
  try {
    const m = /model name\s*:\s*(.+)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? m[1].trim() : 'unknown';
  } catch {
    return 'unknown';
  }
}
