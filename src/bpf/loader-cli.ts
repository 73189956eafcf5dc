/** Calls the eBPF redirect loader through its command line (native/src/bpf/xmesh-bpf) until the loader is wired into the addon: one JSON document back per call, a plain reason on failure. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatCidr, type Cidr, type DenyRule, type RedirectOptions } from './options';

/** Features of the loader (enum xm_redirect_feature), by the names xmesh-bpf takes. */
export const LOADER_FEATURES = ['connect', 'origdst', 'sockmap', 'sklookup', 'xdp'] as const;
export type LoaderFeature = (typeof LOADER_FEATURES)[number];

export interface ProbeEntry {
  name: string;
  ok: boolean;
  what: string;
  needs: string;
  /** loader features that need this probe to pass */
  features: LoaderFeature[];
  error: string | null;
}

export interface ProbeResult {
  available: LoaderFeature[];
  probes: ProbeEntry[];
  /** uname release, for messages */
  kernel: string;
}

export interface LoaderInstallResult {
  instance: string;
  attached: LoaderFeature[];
  replaced: number;
  reused_maps: boolean;
  xdp_mode: string | null;
}

export interface DenyListEntry {
  id: number;
  cidr: string;
  port: number;
  packets: number;
  bytes: number;
}

/** The loader failed; `message` is its own reason (stderr). */
export class LoaderError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
  ) {
    super(message);
    this.name = 'LoaderError';
  }
}

/** The command that runs xmesh-bpf: $XMESH_BPF_CLI, else the one built in this checkout. A caller may put a prefix in front (tests: nsenter into a mount namespace with a private bpffs). */
export function defaultLoaderCommand(): string[] {
  return [process.env.XMESH_BPF_CLI ?? resolve(__dirname, '..', '..', '..', 'native', 'src', 'bpf', 'xmesh-bpf')];
}

/** True when the loader binary exists (the last element of the command is the binary, or a prefix ends with it). */
export function loaderAvailable(cmd: readonly string[]): boolean {
  return existsSync(cmd[cmd.length - 1]!);
}

export function runLoader(cmd: readonly string[], args: readonly string[], timeoutMs = 30_000): unknown {
  const r = spawnSync(cmd[0]!, [...cmd.slice(1), ...args], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new LoaderError(`cannot run ${cmd[cmd.length - 1]}: ${r.error.message}`, null);
  if (r.status !== 0) throw new LoaderError((r.stderr || `exit ${r.status}`).trim().replace(/^xmesh-bpf: /, ''), r.status);
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new LoaderError(`unexpected output from xmesh-bpf ${args[0]}: ${r.stdout.slice(0, 200)}`, r.status);
  }
}

export function probe(cmd: readonly string[]): ProbeResult {
  return runLoader(cmd, ['probe']) as ProbeResult;
}

const cidrList = (cs: readonly Cidr[]): string => cs.map(formatCidr).join(',');

/** xmesh-bpf install arguments for these options and features; every knob is passed explicitly. */
export function installArgs(o: RedirectOptions, features: readonly LoaderFeature[]): string[] {
  const a = ['install', '--instance', o.instance, '--features', features.join(',')];
  const has = (f: LoaderFeature): boolean => features.includes(f);
  if (has('connect')) a.push('--app-cgroup', o.cgroup);
  if (has('origdst')) a.push('--sidecar-cgroup', o.sidecarCgroup);
  if (has('connect') || has('sockmap')) a.push('--sockops-cgroup', o.sockopsCgroup);
  if (has('sklookup') || has('xdp')) a.push('--netns', o.netns ?? '/proc/self/ns/net');
  if (has('xdp')) a.push('--iface', o.iface!);
  if (has('xdp') && o.xdpGeneric) a.push('--xdp-generic');
  a.push('--outbound-ip4', o.outboundAddress, '--outbound-ip6', o.outboundAddress6, '--outbound-port', String(o.outboundPort));
  a.push('--inbound-port', String(o.inboundPort), '--exclude-uid', o.excludeUid === null ? 'none' : String(o.excludeUid));
  a.push('--exclude-mark', String(o.excludeMark));
  if (o.includeCidrs.length > 0) a.push('--include-only');
  if (o.redirectIpv6) a.push('--redirect-ipv6');
  a.push('--exclude-ports', o.excludePorts.join(','), '--exclude-cidrs', cidrList(o.excludeCidrs), '--include-cidrs', cidrList(o.includeCidrs));
  if (o.inboundPorts === '*') a.push('--inbound-steer-all', '--inbound-ports', o.excludeInboundPorts.join(','));
  else a.push('--inbound-ports', o.inboundPorts.join(','));
  return a;
}

export function install(cmd: readonly string[], o: RedirectOptions, features: readonly LoaderFeature[]): LoaderInstallResult {
  return runLoader(cmd, installArgs(o, features)) as LoaderInstallResult;
}

export function status(cmd: readonly string[], instance: string): Record<string, unknown> {
  return runLoader(cmd, ['status', '--instance', instance]) as Record<string, unknown>;
}

export function uninstall(cmd: readonly string[], instance: string): { removed: number } {
  return runLoader(cmd, ['uninstall', '--instance', instance]) as { removed: number };
}

export function denyList(cmd: readonly string[], instance: string): DenyListEntry[] {
  return (runLoader(cmd, ['deny', 'list', '--instance', instance]) as { rules: DenyListEntry[] }).rules;
}

/** Makes the pinned deny list exactly `rules`: adds the missing, removes the rest (kept rules keep their counters). */
export function syncDeny(cmd: readonly string[], instance: string, rules: readonly DenyRule[]): void {
  const want = new Map(rules.map((r) => [`${formatCidr(r.cidr)}|${r.port}`, r]));
  for (const e of denyList(cmd, instance)) {
    if (!want.delete(`${e.cidr}|${e.port}`)) runLoader(cmd, ['deny', 'del', '--instance', instance, '--cidr', e.cidr, '--port', String(e.port)]);
  }
  for (const r of want.values()) runLoader(cmd, ['deny', 'add', '--instance', instance, '--cidr', formatCidr(r.cidr), '--port', String(r.port)]);
}

/** Registers another process's listening socket as the sk_lookup target (pidfd_getfd: the addon will pass its own fd instead). */
export function registerInboundListener(cmd: readonly string[], instance: string, pid: number, fd: number): void {
  runLoader(cmd, ['inbound-listener', '--instance', instance, '--pid', String(pid), '--fd', String(fd)]);
}
