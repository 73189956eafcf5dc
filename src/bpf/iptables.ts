/** The iptables fallback: the same redirection, exclusions and deny list as the eBPF programs, as rules in the pod's network namespace; each install and each removal is one iptables-restore transaction, and removal deletes exactly what install added. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { formatCidr, type RedirectOptions } from './options';

/** Which parts of the redirection go through iptables (the rest is eBPF or off). */
export interface IptablesParts {
  outbound: boolean;
  inbound: boolean;
  deny: boolean;
}

/** Chains of one instance: names fit iptables' 28 characters whatever the instance name; the comment on each jump carries the full name. */
export function chainNames(instance: string): { out: string; in: string; deny: string; comment: string } {
  const h = createHash('sha256').update(instance).digest('hex').slice(0, 10);
  return { out: `XMESH-OUT-${h}`, in: `XMESH-IN-${h}`, deny: `XMESH-DENY-${h}`, comment: `xmesh:${instance}` };
}

/** The cgroup v2 mount point, from /proc/self/mountinfo (field 9 is the filesystem type). */
export function cgroup2Mount(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string | null {
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (post?.split(' ')[0] === 'cgroup2') return pre!.split(' ')[4]!;
  }
  return null;
}

/** `-m cgroup --path` takes a path relative to the cgroup2 root. */
export function cgroupMatchPath(dir: string, mount: string): string {
  const rel = relative(mount, resolve(dir));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new Error(`${dir} is not a cgroup below the cgroup2 mount ${mount}`);
  return rel;
}

export interface IptablesPlan {
  /** iptables-restore --noflush input that adds every chain and rule. */
  install: string;
  /** iptables-restore --noflush input that removes exactly those. */
  remove: string;
  /** rules added, for status and tests */
  ruleCount: number;
}

const q = (s: string): string => `"${s.replace(/["\\]/g, '')}"`;

/** The IPv4 rules for `parts` of these options. `cgroupPath` is `opts.cgroup` relative to the cgroup2 root. */
export function buildIptablesPlan(o: RedirectOptions, parts: IptablesParts, cgroupPath: string): IptablesPlan {
  const c = chainNames(o.instance);
  const nat: string[] = [];
  const natJumps: string[] = [];
  const natChains: string[] = [];
  const raw: string[] = [];
  const rawJumps: string[] = [];
  const rawChains: string[] = [];
  // IPv4 only: ip6tables rules are not generated yet (the eBPF path handles IPv6).
  const v4 = (x: { family: number }): boolean => x.family === 4;

  if (parts.outbound) {
    natChains.push(c.out);
    natJumps.push(`OUTPUT -p tcp -m comment --comment ${q(c.comment)} -j ${c.out}`);
    // Only the application's cgroup, as connect4 sees only it; then the exclusions in connect4's order.
    nat.push(`-A ${c.out} -m cgroup ! --path ${q(cgroupPath)} -j RETURN`);
    if (o.excludeUid !== null) nat.push(`-A ${c.out} -m owner --uid-owner ${o.excludeUid} -j RETURN`);
    if (o.excludeMark !== 0) nat.push(`-A ${c.out} -m mark --mark 0x${o.excludeMark.toString(16)}/0x${o.excludeMark.toString(16)} -j RETURN`);
    nat.push(`-A ${c.out} -d 127.0.0.0/8 -j RETURN`);
    for (const p of o.excludePorts) nat.push(`-A ${c.out} -p tcp --dport ${p} -j RETURN`);
    for (const cidr of o.excludeCidrs.filter(v4)) nat.push(`-A ${c.out} -d ${formatCidr(cidr)} -j RETURN`);
    if (o.includeCidrs.length > 0) {
      for (const cidr of o.includeCidrs.filter(v4)) nat.push(`-A ${c.out} -p tcp -d ${formatCidr(cidr)} -j REDIRECT --to-ports ${o.outboundPort}`);
    } else {
      nat.push(`-A ${c.out} -p tcp -j REDIRECT --to-ports ${o.outboundPort}`);
    }
  }
  if (parts.inbound) {
    natChains.push(c.in);
    natJumps.push(`PREROUTING -p tcp -m comment --comment ${q(c.comment)} -j ${c.in}`);
    // The sidecar reaches the app over loopback: never steered (sk_lookup skips loopback too).
    nat.push(`-A ${c.in} -i lo -j RETURN`);
    nat.push(`-A ${c.in} -p tcp --dport ${o.inboundPort} -j RETURN`);
    if (o.inboundPorts === '*') {
      for (const p of o.excludeInboundPorts) nat.push(`-A ${c.in} -p tcp --dport ${p} -j RETURN`);
      nat.push(`-A ${c.in} -p tcp -j REDIRECT --to-ports ${o.inboundPort}`);
    } else {
      for (const p of o.inboundPorts) nat.push(`-A ${c.in} -p tcp --dport ${p} -j REDIRECT --to-ports ${o.inboundPort}`);
    }
  }
  if (parts.deny) {
    rawChains.push(c.deny);
    rawJumps.push(`PREROUTING -m comment --comment ${q(c.comment)} -j ${c.deny}`);
    o.deny.filter((d) => v4(d.cidr)).forEach((d, i) => {
      const tag = `-m comment --comment ${q(`deny ${i}`)}`;
      if (d.port === 0) raw.push(`-A ${c.deny} -s ${formatCidr(d.cidr)} ${tag} -j DROP`);
      else for (const proto of ['tcp', 'udp']) raw.push(`-A ${c.deny} -s ${formatCidr(d.cidr)} -p ${proto} --dport ${d.port} ${tag} -j DROP`);
    });
  }

  const table = (name: string, chains: string[], jumps: string[], rules: string[]): { add: string[]; del: string[] } =>
    chains.length === 0
      ? { add: [], del: [] }
      : {
          add: [`*${name}`, ...chains.map((ch) => `:${ch} - [0:0]`), ...rules, ...jumps.map((j) => `-A ${j}`), 'COMMIT'],
          del: [`*${name}`, ...jumps.map((j) => `-D ${j}`), ...chains.map((ch) => `-F ${ch}`), ...chains.map((ch) => `-X ${ch}`), 'COMMIT'],
        };
  const n = table('nat', natChains, natJumps, nat);
  const r = table('raw', rawChains, rawJumps, raw);
  return {
    install: [...n.add, ...r.add, ''].join('\n'),
    remove: [...n.del, ...r.del, ''].join('\n'),
    ruleCount: nat.length + natJumps.length + raw.length + rawJumps.length,
  };
}

/** Runs an iptables tool, in `netns` when given (nsenter --net), input on stdin; throws with its stderr. */
export function runIptables(tool: string, args: readonly string[], input: string | undefined, netns: string | undefined): string {
  const argv = netns ? ['nsenter', `--net=${netns}`, '--', tool, ...args] : [tool, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`${tool}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')}: ${(r.stderr || `exit ${r.status}`).trim()}`);
  return r.stdout;
}

export function applyIptables(text: string, netns: string | undefined): void {
  if (text.trim() === '') return;
  runIptables('iptables-restore', ['-w', '5', '--noflush'], text, netns);
}

/** Per-rule packet and byte counts of the deny chain (status), in rule order. */
export function denyCounters(instance: string, netns: string | undefined): Array<{ rule: string; packets: number; bytes: number }> {
  const out = runIptables('iptables', ['-w', '5', '-t', 'raw', '-L', chainNames(instance).deny, '-v', '-x', '-n'], undefined, netns);
  return out
    .split('\n')
    .slice(2)
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const f = l.trim().split(/\s+/);
      return { rule: f.slice(2).join(' '), packets: Number(f[0]), bytes: Number(f[1]) };
    });
}
