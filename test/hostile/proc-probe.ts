/** What the kernel says about a process the hostile tests started: its RSS, and how many bytes its accepted sockets have not read yet. */
import { readFileSync } from 'node:fs';

/** VmRSS of pid in bytes (from /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`/proc/${pid}/status: no VmRSS line`);
  return Number(m[1]) * 1024;
}

export const MiB = 1024 * 1024;
export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/**
 * The accepted (ESTABLISHED, local port `port`) IPv4 sockets of 127.0.0.1:port and the bytes
 * each still holds in its receive queue, from /proc/net/tcp. A queue of 0 means the process
 * listening on port has read everything its clients sent so far.
 */
export function acceptedRxQueues(port: number): number[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const out: number[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue ...
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || f[1] !== `0100007F:${hexPort}` || f[3] !== '01') continue;
    out.push(parseInt(f[4].split(':')[1], 16));
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll cond every `everyMs` until it holds; throws with what(): the last state, after timeoutMs. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string, everyMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms: ${what()}`);
    await sleep(everyMs);
  }
}

/**
 * Wait until pid's RSS is steady (two samples 100 ms apart within 512 KiB, up to timeoutMs):
 * memory the process is still faulting in, or still giving back, has settled. Returns the last
 * sample; not steady in time is no error (the caller's bound decides).
 */
export async function steadyRss(pid: number, timeoutMs = 3000): Promise<number> {
  const end = Date.now() + timeoutMs;
  let prev = rssBytes(pid);
  for (;;) {
    await sleep(100);
    const now = rssBytes(pid);
    if (Math.abs(now - prev) < 512 * 1024 || Date.now() > end) return now;
    prev = now;
  }
}
