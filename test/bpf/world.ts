// A small world for the redirect tests: network namespace A (the pod: app and sidecar, with a
// bpffs of its own in a private mount namespace) and B (an upstream host) joined by a veth pair,
// and a cgroup v2 parent created for the test with app/ and sidecar/ below it. The namespaces are
// held by processes whose stdin is a pipe from this process, so they vanish with it even if it
// dies; close() kills what it started (by PID), removes the cgroups, and every pin goes with A's
// mount namespace.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { cgroup2Mount } from '../../src/bpf/iptables';

export const ROOT = resolve(__dirname, '..', '..', '..');
export const HELPERS = join(ROOT, 'test', 'bpf', 'helpers');
export const XMESH_BPF = join(ROOT, 'native', 'src', 'bpf', 'xmesh-bpf');
/** The system python (a pyenv shim under /root is not executable by the test's uid 1337). */
export const PYTHON = '/usr/bin/python3';

const TOOLS = ['unshare', 'nsenter', 'ip', 'setpriv'];

function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** Why the namespace tests cannot run here (they are skipped with this reason), or false. */
export function worldSkipReason(extraTools: string[] = []): string | false {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, cgroups, BPF)';
  if (!cgroup2Mount()) return 'no cgroup v2 mount in /proc/self/mountinfo';
  if (!existsSync(XMESH_BPF)) return 'native/src/bpf/xmesh-bpf not built (make -C bpf)';
  if (!existsSync(PYTHON)) return `${PYTHON} missing`;
  for (const t of [...TOOLS, ...extraTools]) if (!have(t)) return `${t} missing`;
  return false;
}

/** Kernel features the loader reports missing, or null when every one is there. */
export function missingFeatures(features: string[]): string | null {
  const r = spawnSync(XMESH_BPF, ['probe'], { encoding: 'utf8' });
  if (r.status !== 0) return `xmesh-bpf probe failed: ${r.stderr.trim()}`;
  const p = JSON.parse(r.stdout) as { available: string[]; probes: Array<{ ok: boolean; what: string; needs: string; features: string[] }>; kernel: string };
  const lacking = features.filter((f) => !p.available.includes(f));
  if (lacking.length === 0) return null;
  const why = p.probes.filter((e) => !e.ok && e.features.some((f) => lacking.includes(f))).map((e) => `${e.what} needs ${e.needs}`);
  return `kernel ${p.kernel} lacks ${lacking.join(', ')}: ${why.join('; ')}`;
}

/** A process with its stdout read line by line; `next(pred)` waits for a matching JSON line. */
export class Proc {
  readonly lines: unknown[] = [];
  private waiters: Array<{ pred: (v: any) => boolean; resolve: (v: any) => void }> = [];
  readonly exited: Promise<number | null>;
  stderr = '';

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      let v: unknown;
      try {
        v = JSON.parse(l);
      } catch {
        v = l;
      }
      this.lines.push(v);
      this.waiters = this.waiters.filter((w) => (w.pred(v) ? (w.resolve(v), false) : true));
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((res) => child.on('exit', (code) => res(code)));
  }

  /** The first line (seen or to come) matching pred; rejects after timeoutMs. */
  next<T = any>(pred: (v: any) => boolean, timeoutMs = 10_000): Promise<T> {
    const seen = this.lines.find((v) => pred(v));
    if (seen !== undefined) return Promise.resolve(seen as T);
    return new Promise<T>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`timed out waiting for output; stderr: ${this.stderr.slice(-500)}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (v) => (clearTimeout(t), res(v)) });
    });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.pid) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export type Where = 'A' | 'B';

/** What test/bpf/helpers/client.py prints. */
export interface ClientResult {
  peer?: string;
  local?: [string, number];
  sent?: number;
  received?: number;
  intact?: boolean;
  error?: string;
}

/** One connection the test sidecar (helpers/tproxy.py) accepted. */
export interface Accept {
  event: 'accept';
  dir: 'outbound' | 'inbound';
  peer: [string, number];
  orig: [string, number];
  local: [string, number];
  upstream_local: [string, number];
}

/** The server's "PEER ip port" line: who the server saw connecting. */
export function peerOf(r: ClientResult): { ip: string; port: number } {
  const m = /^PEER (\S+) (\d+)$/.exec(r.peer ?? '');
  if (!m) throw new Error(`no PEER line: ${JSON.stringify(r)}`);
  return { ip: m[1]!, port: Number(m[2]) };
}

export class World {
  readonly id = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  readonly addrA = '10.77.0.1';
  readonly addrB = '10.77.0.2';
  /** a second address of B, for CIDR exclusion cases */
  readonly addrB2 = '10.77.0.3';
  readonly addrA6 = 'fd77::1';
  readonly addrB6 = 'fd77::2';
  readonly ifaceA = 'xm0';
  readonly cg: { parent: string; app: string; sidecar: string };
  private holders: Partial<Record<Where, Proc>> = {};
  private procs: Proc[] = [];

  private constructor(mount: string) {
    const parent = join(mount, `xmesh-test-${this.id}`);
    this.cg = { parent, app: join(parent, 'app'), sidecar: join(parent, 'sidecar') };
  }

  static async create(): Promise<World> {
    const w = new World(cgroup2Mount()!);
    try {
      await w.setup();
    } catch (e) {
      await w.close();
      throw e;
    }
    return w;
  }

  pid(where: Where): number {
    return this.holders[where]!.child.pid!;
  }

  netns(where: Where): string {
    return `/proc/${this.pid(where)}/ns/net`;
  }

  /** The loader command, run in A's mount namespace (A's private bpffs). */
  loaderCmd(): string[] {
    return ['nsenter', '-t', String(this.pid('A')), '--mount', '--', XMESH_BPF];
  }

  private async setup(): Promise<void> {
    sweepStaleCgroups(resolve(this.cg.parent, '..'));
    for (const d of [this.cg.parent, this.cg.app, this.cg.sidecar]) mkdirSync(d);
    // A: net + mount namespace with its own bpffs; B: net only. `exec cat` holds them until our pipe closes.
    this.holders.A = new Proc(
      spawn('unshare', ['--net', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount -t bpf bpf /sys/fs/bpf && ip link set lo up && echo ready && exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] }),
    );
    this.holders.B = new Proc(spawn('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && echo ready && exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] }));
    await this.holders.A.next((l) => l === 'ready');
    await this.holders.B.next((l) => l === 'ready');
    this.mustRun('A', ['ip', 'link', 'add', this.ifaceA, 'type', 'veth', 'peer', 'name', 'xm1', 'netns', String(this.pid('B'))]);
    this.mustRun('A', ['ip', 'addr', 'add', `${this.addrA}/24`, 'dev', this.ifaceA]);
    this.mustRun('A', ['ip', 'link', 'set', this.ifaceA, 'up']);
    this.mustRun('B', ['ip', 'addr', 'add', `${this.addrB}/24`, 'dev', 'xm1']);
    this.mustRun('B', ['ip', 'addr', 'add', `${this.addrB2}/24`, 'dev', 'xm1']);
    this.mustRun('B', ['ip', 'link', 'set', 'xm1', 'up']);
    // nodad: usable at once, no duplicate address detection wait
    this.mustRun('A', ['ip', '-6', 'addr', 'add', `${this.addrA6}/64`, 'dev', this.ifaceA, 'nodad']);
    this.mustRun('B', ['ip', '-6', 'addr', 'add', `${this.addrB6}/64`, 'dev', 'xm1', 'nodad']);
  }

  /** argv in a namespace (no cgroup move), synchronously, bounded. */
  run(where: Where, argv: string[], input?: string): RunResult {
    const r = spawnSync('nsenter', [`--net=${this.netns(where)}`, '--', ...argv], { encoding: 'utf8', input, timeout: 30_000 });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  mustRun(where: Where, argv: string[], input?: string): string {
    const r = this.run(where, argv, input);
    if (r.code !== 0) throw new Error(`${argv.join(' ')} in ${where}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** argv in a namespace, inside one of the test's cgroups (moved there before exec), as uid when given. */
  argvIn(where: Where, cgroup: 'app' | 'sidecar' | null, argv: string[], uid?: number): string[] {
    const inner = ['nsenter', `--net=${this.netns(where)}`, '--', ...(uid !== undefined ? ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'] : []), ...argv];
    if (!cgroup) return inner;
    return ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.cg[cgroup], ...inner];
  }

  /** A long-running helper (its stdin is our pipe: it exits when we go). */
  start(where: Where, cgroup: 'app' | 'sidecar' | null, argv: string[], uid?: number): Proc {
    const full = this.argvIn(where, cgroup, argv, uid);
    const p = new Proc(spawn(full[0]!, full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] }));
    this.procs.push(p);
    return p;
  }

  /** A short-lived helper: resolves with its exit code and output; killed after timeoutMs. */
  exec(where: Where, cgroup: 'app' | 'sidecar' | null, argv: string[], opts: { uid?: number; timeoutMs?: number } = {}): Promise<RunResult> {
    const full = this.argvIn(where, cgroup, argv, opts.uid);
    return new Promise((res) => {
      const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
      child.on('exit', (code) => {
        clearTimeout(t);
        res({ code, stdout, stderr });
      });
    });
  }

  /** One run of helpers/client.py: from A (in the app cgroup) or B, a plain connect() to host:port, size bytes each way. */
  async client(args: { where?: Where; host: string; port: number; size: number; uid?: number; mark?: number; timeout?: number; blocking?: boolean }): Promise<ClientResult> {
    const argv = [PYTHON, join(HELPERS, 'client.py'), args.host, String(args.port), String(args.size)];
    if (args.mark !== undefined) argv.push('--mark', String(args.mark));
    if (args.timeout !== undefined) argv.push('--timeout', String(args.timeout));
    if (args.blocking) argv.push('--blocking');
    const where = args.where ?? 'A';
    const r = await this.exec(where, where === 'A' ? 'app' : null, argv, { uid: args.uid, timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`client.py exit ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as ClientResult;
  }

  /** Lists what remains pinned under A's /sys/fs/bpf/xmesh (empty when nothing). */
  pins(): string[] {
    const r = spawnSync('nsenter', ['-t', String(this.pid('A')), '--mount', '--', 'find', '/sys/fs/bpf/xmesh'], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.split('\n').filter((l) => l !== '') : [];
  }

  async close(): Promise<void> {
    for (const p of this.procs) p.kill();
    await Promise.all(this.procs.map((p) => p.exited));
    // Anything still in our cgroups was started by this test: kill it by PID, then remove the cgroups.
    for (const d of [this.cg.app, this.cg.sidecar, this.cg.parent]) {
      if (!existsSync(d)) continue;
      for (let i = 0; i < 50; i++) {
        const pids = readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '');
        if (pids.length === 0) break;
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    for (const h of Object.values(this.holders)) {
      h!.child.stdin?.end();
      h!.kill();
    }
    await Promise.all(Object.values(this.holders).map((h) => h!.exited));
    for (const d of [this.cg.app, this.cg.sidecar, this.cg.parent]) {
      for (let i = 0; i < 50 && existsSync(d); i++) {
        try {
          rmdirSync(d);
        } catch {
          await new Promise((r) => setTimeout(r, 20)); // EBUSY until the last killed process is reaped
        }
      }
    }
  }
}

/** Removes xmesh-test-<pid>-* cgroups an earlier run left behind when it was killed: only when that pid is gone and they are empty. */
function sweepStaleCgroups(mount: string): void {
  for (const name of readdirSync(mount)) {
    const m = /^xmesh-test-(\d+)-/.exec(name);
    if (!m || existsSync(`/proc/${m[1]}`)) continue;
    const parent = join(mount, name);
    try {
      for (const sub of readdirSync(parent, { withFileTypes: true })) if (sub.isDirectory()) rmdirSync(join(parent, sub.name));
      rmdirSync(parent);
    } catch {
      /* not empty: still in use */
    }
  }
}
