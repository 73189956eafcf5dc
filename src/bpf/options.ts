/** Options of `xmesh redirect install`: their one set of defaults, and validation that names the failing field before anything touches the kernel. */
import { isIP } from 'node:net';

export const REDIRECT_MODES = ['ebpf', 'iptables', 'auto'] as const;
export type RedirectMode = (typeof REDIRECT_MODES)[number];

/** A CIDR as the loader and iptables take it, normalised: "10.0.0.0/8", "fd00::/8". */
export interface Cidr {
  family: 4 | 6;
  address: string;
  prefix: number;
}

/** An XDP (or iptables raw-table) deny rule: traffic from `cidr` to `port` (0 = every port) is dropped. */
export interface DenyRule {
  cidr: Cidr;
  port: number;
}

/** Everything one install needs, every default explicit (DEFAULTS below is their single owner). */
export interface RedirectOptions {
  instance: string;
  mode: RedirectMode;
  /** cgroup v2 directory of the application: connect4/6 attach here, iptables match it (`-m cgroup --path`). */
  cgroup: string;
  /** cgroup of xmesh itself, where SO_ORIGINAL_DST is answered; default: `cgroup`. */
  sidecarCgroup: string;
  /** a cgroup above both, where sockops sees both ends of loopback legs; default: `cgroup`. */
  sockopsCgroup: string;
  /** network namespace (a path such as /run/netns/pod or /proc/PID/ns/net) for sk_lookup, XDP and iptables; undefined: ours. */
  netns?: string;
  outboundAddress: string;
  outboundAddress6: string;
  outboundPort: number;
  inboundPort: number;
  /** Application ports steered to the inbound listener; "*" = all but `excludeInboundPorts`; empty: no inbound redirection. */
  inboundPorts: number[] | '*';
  excludeInboundPorts: number[];
  excludePorts: number[];
  excludeCidrs: Cidr[];
  /** Non-empty: redirect only these destinations. */
  includeCidrs: Cidr[];
  /** Connects by this uid are never redirected (Istio's proxy uid 1337); null: none. */
  excludeUid: number | null;
  /** Sockets whose mark has all these bits are never redirected; 0: none. */
  excludeMark: number;
  redirectIpv6: boolean;
  /** sk_msg acceleration of app<->sidecar loopback legs (eBPF only; without it, plain loopback). Off by default: on
   * the kernels tested, a blocking recv() on an app socket in the sockhash can fail with EAGAIN while another thread
   * writes to it (tcp_bpf_recvmsg), which an application never sees without it. */
  sockmap: boolean;
  /** Interface for the XDP deny list; undefined: no deny list. */
  iface?: string;
  xdpGeneric: boolean;
  deny: DenyRule[];
}

export const DEFAULTS = {
  instance: 'default',
  mode: 'auto' as RedirectMode,
  outboundAddress: '127.0.0.1',
  outboundAddress6: '::1',
  outboundPort: 15001,
  inboundPort: 15006,
  excludeUid: 1337,
  excludeMark: 0,
  sockmap: false,
  /** Istio's own ports are never inbound targets when every port is steered. */
  excludeInboundPorts: [15000, 15001, 15006, 15020, 15021, 15053, 15090],
};

/** Thrown for a bad option; `field` is the option's path, e.g. "excludeCidrs[2]". */
export class RedirectOptionError extends Error {
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${field}: ${detail}`);
    this.name = 'RedirectOptionError';
  }
}

const INSTANCE_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export function parsePort(v: string | number, field: string, allowZero = false): number {
  const n = typeof v === 'number' ? v : /^\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535) throw new RedirectOptionError(field, `expected a port ${allowZero ? 0 : 1}-65535, got "${v}"`);
  return n;
}

/** "a,b,c" or an array of ports; empty string: []. */
export function parsePorts(v: string | readonly (string | number)[], field: string): number[] {
  const items = typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v;
  const out = items.map((p, i) => parsePort(p, `${field}[${i}]`));
  return [...new Set(out)];
}

/** Masks host bits, so equal prefixes compare equal and the kernel key matches. */
export function parseCidr(v: string, field: string): Cidr {
  const [addr, len, ...rest] = v.trim().split('/');
  const family = isIP(addr ?? '');
  if (rest.length > 0 || (family !== 4 && family !== 6)) throw new RedirectOptionError(field, `expected an IPv4 or IPv6 CIDR, got "${v}"`);
  const max = family === 4 ? 32 : 128;
  const prefix = len === undefined ? max : /^\d+$/.test(len) ? Number(len) : NaN;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new RedirectOptionError(field, `prefix length must be 0-${max}, got "${len}"`);
  return { family, address: maskAddress(addr!, family, prefix), prefix };
}

export function parseCidrs(v: string | readonly string[], field: string): Cidr[] {
  const items = typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v;
  return items.map((c, i) => parseCidr(c, `${field}[${i}]`));
}

/** "10.0.0.0/8" (every port) or "10.0.0.0/8:80"; IPv6 with a port: "[fd00::/8]:80". */
export function parseDenyRule(v: string, field: string): DenyRule {
  const s = v.trim();
  const m6 = /^\[(.+)\]:(\d+)$/.exec(s);
  if (m6) return { cidr: parseCidr(m6[1]!, field), port: parsePort(m6[2]!, field) };
  const m4 = /^([^:\]]+):(\d+)$/.exec(s);
  if (m4) return { cidr: parseCidr(m4[1]!, field), port: parsePort(m4[2]!, field) };
  return { cidr: parseCidr(s, field), port: 0 };
}

export function formatCidr(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}

function maskAddress(addr: string, family: 4 | 6, prefix: number): string {
  const bytes = family === 4 ? addr.split('.').map(Number) : ipv6Bytes(addr);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  if (family === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return compressIpv6(groups);
}

function ipv6Bytes(addr: string): number[] {
  let a = addr;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    a = a.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out: number[] = [];
  for (const g of groups) {
    const n = parseInt(g, 16);
    out.push(n >> 8, n & 0xff);
  }
  return out;
}

function compressIpv6(groups: string[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Raw command-line values (strings) → validated options, defaults filled in. */
export interface RawInstallOptions {
  instance?: string;
  mode?: string;
  cgroup?: string;
  sidecarCgroup?: string;
  sockopsCgroup?: string;
  netns?: string;
  outboundAddress?: string;
  outboundAddress6?: string;
  outboundPort?: string;
  inboundPort?: string;
  inboundPorts?: string;
  excludeInboundPorts?: string;
  excludePorts?: string;
  excludeCidrs?: string;
  includeCidrs?: string;
  excludeUid?: string;
  excludeMark?: string;
  redirectIpv6?: boolean;
  sockmap?: boolean;
  iface?: string;
  xdpGeneric?: boolean;
  deny?: string[] | string;
}

export function validateInstallOptions(raw: RawInstallOptions): RedirectOptions {
  const instance = raw.instance ?? DEFAULTS.instance;
  if (!INSTANCE_RE.test(instance)) throw new RedirectOptionError('instance', `must match [A-Za-z0-9_.-]{1,64}, got "${instance}"`);
  const mode = (raw.mode ?? DEFAULTS.mode) as RedirectMode;
  if (!REDIRECT_MODES.includes(mode)) throw new RedirectOptionError('mode', `expected one of ${REDIRECT_MODES.join(', ')}, got "${raw.mode}"`);
  if (!raw.cgroup) throw new RedirectOptionError('cgroup', 'required: the application\'s cgroup v2 directory');
  const outboundAddress = raw.outboundAddress ?? DEFAULTS.outboundAddress;
  if (isIP(outboundAddress) !== 4) throw new RedirectOptionError('outboundAddress', `expected an IPv4 address, got "${outboundAddress}"`);
  const outboundAddress6 = raw.outboundAddress6 ?? DEFAULTS.outboundAddress6;
  if (isIP(outboundAddress6) !== 6) throw new RedirectOptionError('outboundAddress6', `expected an IPv6 address, got "${outboundAddress6}"`);
  let excludeUid: number | null = DEFAULTS.excludeUid;
  if (raw.excludeUid !== undefined) {
    if (raw.excludeUid === 'none') excludeUid = null;
    else if (/^\d+$/.test(raw.excludeUid) && Number(raw.excludeUid) < 0xffffffff) excludeUid = Number(raw.excludeUid);
    else throw new RedirectOptionError('excludeUid', `expected a uid or "none", got "${raw.excludeUid}"`);
  }
  let excludeMark = DEFAULTS.excludeMark;
  if (raw.excludeMark !== undefined) {
    const m = /^0x[0-9a-f]+$/i.test(raw.excludeMark) ? parseInt(raw.excludeMark, 16) : /^\d+$/.test(raw.excludeMark) ? Number(raw.excludeMark) : NaN;
    if (!Number.isInteger(m) || m < 0 || m > 0xffffffff) throw new RedirectOptionError('excludeMark', `expected a 32-bit number, got "${raw.excludeMark}"`);
    excludeMark = m;
  }
  const inboundPorts = raw.inboundPorts === undefined ? [] : raw.inboundPorts.trim() === '*' ? ('*' as const) : parsePorts(raw.inboundPorts, 'inboundPorts');
  const deny = (raw.deny === undefined ? [] : Array.isArray(raw.deny) ? raw.deny : raw.deny.split(',')).filter((d) => d.trim() !== '').map((d, i) => parseDenyRule(d, `deny[${i}]`));
  if (deny.length > 0 && !raw.iface) throw new RedirectOptionError('iface', 'required with deny rules: the interface the deny list guards');
  const opts: RedirectOptions = {
    instance,
    mode,
    cgroup: raw.cgroup,
    sidecarCgroup: raw.sidecarCgroup ?? raw.cgroup,
    sockopsCgroup: raw.sockopsCgroup ?? raw.cgroup,
    netns: raw.netns,
    outboundAddress,
    outboundAddress6,
    outboundPort: parsePort(raw.outboundPort ?? DEFAULTS.outboundPort, 'outboundPort'),
    inboundPort: parsePort(raw.inboundPort ?? DEFAULTS.inboundPort, 'inboundPort'),
    inboundPorts,
    excludeInboundPorts: raw.excludeInboundPorts === undefined ? [...DEFAULTS.excludeInboundPorts] : parsePorts(raw.excludeInboundPorts, 'excludeInboundPorts'),
    excludePorts: raw.excludePorts === undefined ? [] : parsePorts(raw.excludePorts, 'excludePorts'),
    excludeCidrs: raw.excludeCidrs === undefined ? [] : parseCidrs(raw.excludeCidrs, 'excludeCidrs'),
    includeCidrs: raw.includeCidrs === undefined ? [] : parseCidrs(raw.includeCidrs, 'includeCidrs'),
    excludeUid,
    excludeMark,
    redirectIpv6: raw.redirectIpv6 ?? false,
    sockmap: raw.sockmap ?? DEFAULTS.sockmap,
    iface: raw.iface,
    xdpGeneric: raw.xdpGeneric ?? false,
    deny,
  };
  if (opts.inboundPort === opts.outboundPort) throw new RedirectOptionError('inboundPort', `must differ from outboundPort (${opts.outboundPort})`);
  // List sizes are bounded by the eBPF maps (bpf/xmesh_abi.h owns those limits; the loader names the list that overflows).
  return opts;
}
