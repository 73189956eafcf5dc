// `--cc NAME`: run a whole scenario inside a network namespace of its own whose TCP congestion
// control is NAME, so that every path (direct, xmesh and the peers) runs under the same
// algorithm without touching the host's setting (net.ipv4.tcp_congestion_control is per
// namespace). Loopback only: the namespace has `lo` and nothing else. It is deleted when the
// run ends, fails or is interrupted.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

/** Set in the re-executed bench so that it knows which namespace it runs in. */
export const NETNS_ENV = 'XMESH_BENCH_NETNS';

let wrapped: ChildProcess | undefined;

/** The bench running inside the namespace, while there is one (signals are forwarded to it). */
export function wrappedBench(): ChildProcess | undefined {
  return wrapped;
}

/** The congestion control TCP sockets get by default here (in this namespace). */
export function tcpCongestionControl(): string {
  try {
    return fs.readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`ip ${args.join(' ')}: ${r.error.message} (is iproute2 installed?)`);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || '').trim() || `exit ${r.status}`}`);
}

/**
 * Re-run this bench (`script` with the same `args`, --cc included) inside a fresh namespace
 * whose default congestion control is cc. Returns the child's exit code.
 */
export async function runWithCongestionControl(cc: string, script: string, args: string[], log: (m: string) => void): Promise<number> {
  const avail = fs.readFileSync('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8').trim().split(/\s+/);
  if (!avail.includes(cc)) throw new TypeError(`--cc ${cc}: not available here (have: ${avail.join(' ')})`);
  if (process.getuid?.() !== 0) throw new Error('--cc needs root (it creates a network namespace)');
  // A namespace other than the host's may only pick from tcp_allowed_congestion_control
  // (the host's default and reno unless widened): the kernel refuses the rest with EPERM.
  // That list only says what unprivileged sockets may choose, it changes no socket, so cc is
  // added to it for the run and the list is put back afterwards.
  const allowedPath = '/proc/sys/net/ipv4/tcp_allowed_congestion_control';
  const allowedBefore = fs.readFileSync(allowedPath, 'utf8').trim();
  const widen = !allowedBefore.split(/\s+/).includes(cc);
  const name = `xmesh-bench-${process.pid}`;
  if (widen) {
    fs.writeFileSync(allowedPath, `${allowedBefore} ${cc}`);
    log(`${cc} is not in the host's tcp_allowed_congestion_control (${allowedBefore}): added for this run, restored after`);
  }
  try {
    ip(['netns', 'add', name]);
  } catch (e) {
    if (widen) fs.writeFileSync(allowedPath, allowedBefore);
    throw e;
  }
  try {
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
    // /proc/sys/net is the writer's namespace's (no dependency on procps' sysctl)
    const set = spawnSync('ip', ['netns', 'exec', name, 'sh', '-c', 'printf %s "$1" > /proc/sys/net/ipv4/tcp_congestion_control', 'sh', cc], { encoding: 'utf8' });
    if (set.status !== 0) throw new Error(`setting ${cc} in ${name}: ${(set.stderr || '').trim()}`);
    log(`running in network namespace ${name} (lo only), tcp_congestion_control=${cc}`);
    const child = (wrapped = spawn('ip', ['netns', 'exec', name, process.execPath, script, ...args], { stdio: 'inherit', env: { ...process.env, [NETNS_ENV]: name } }));
    return await new Promise<number>((res) => {
      child.on('exit', (code, sig) => res(code ?? (sig ? 130 : 1)));
      child.on('error', () => res(1));
    });
  } finally {
    wrapped = undefined;
    spawnSync('ip', ['netns', 'del', name]);
    if (widen) fs.writeFileSync(allowedPath, allowedBefore);
  }
}
