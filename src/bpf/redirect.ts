/** Installs, reports and removes traffic redirection for one instance: eBPF where the kernel has each feature, the iptables fallback where it does not (or where --mode iptables says so), with one state file recording what was added so uninstall removes exactly that. */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyIptables, buildIptablesPlan, cgroup2Mount, cgroupMatchPath, denyCounters, type IptablesParts } from './iptables';
import * as loader from './loader-cli';
import type { LoaderFeature, ProbeResult } from './loader-cli';
import type { RedirectOptions } from './options';

/** How one part of the redirection is done. */
export type PartMode = 'ebpf' | 'iptables' | 'off';

export interface RedirectParts {
  outbound: PartMode;
  inbound: PartMode;
  sockmap: PartMode;
  deny: PartMode;
}

/** Where the loader and the state live; tests point these at their own namespace and directory. */
export interface RedirectEnv {
  /** Command that runs xmesh-bpf (see loader-cli.defaultLoaderCommand). */
  loader: string[];
  /** Directory of the per-instance state files (default /run/xmesh/redirect). */
  stateDir: string;
}

export function defaultEnv(): RedirectEnv {
  return { loader: loader.defaultLoaderCommand(), stateDir: process.env.XMESH_REDIRECT_STATE_DIR ?? '/run/xmesh/redirect' };
}

/** What install did, and why a part is not in eBPF. */
export interface InstallReport {
  instance: string;
  parts: RedirectParts;
  /** One line per part that fell back or is off, naming the kernel feature and the version it needs. */
  notes: string[];
  ebpf: loader.LoaderInstallResult | null;
  iptablesRules: number;
}

/** The kernel (or the build) cannot do what --mode ebpf asked for. */
export class RedirectUnsupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedirectUnsupportedError';
  }
}

interface StateFile {
  instance: string;
  parts: RedirectParts;
  netns?: string;
  iptablesRemove: string;
  installedAt: string;
}

/** eBPF features each part needs (the loader's names), and the probes behind them. */
const PART_FEATURES: Record<'outbound' | 'inbound' | 'sockmap' | 'deny', LoaderFeature[]> = {
  outbound: ['connect', 'origdst'],
  inbound: ['sklookup'],
  sockmap: ['sockmap'],
  deny: ['xdp'],
};

/** "sk_lookup inbound steering needs Linux 5.9 (probe sk_lookup: Invalid argument); this kernel: 5.4.0" for every failed probe behind a part. */
export function missingFor(part: keyof typeof PART_FEATURES, p: ProbeResult): string | null {
  const need = PART_FEATURES[part];
  if (need.every((f) => p.available.includes(f))) return null;
  const failed = p.probes.filter((e) => !e.ok && e.features.some((f) => need.includes(f)));
  const why = failed.map((e) => `${e.what} needs ${e.needs} (probe ${e.name}: ${e.error})`).join('; ');
  return `${why || `${need.join('+')} unavailable`}; this kernel: ${p.kernel}`;
}

/** Decides how each wanted part is done. Pure: the probe result comes in. */
export function planParts(o: RedirectOptions, probeResult: ProbeResult | null, loaderError?: string): { parts: RedirectParts; notes: string[] } {
  const wanted = { outbound: true, inbound: o.inboundPorts === '*' || o.inboundPorts.length > 0, sockmap: o.sockmap, deny: o.deny.length > 0 };
  const parts: RedirectParts = { outbound: 'off', inbound: 'off', sockmap: 'off', deny: 'off' };
  const notes: string[] = [];
  for (const part of ['outbound', 'inbound', 'sockmap', 'deny'] as const) {
    if (!wanted[part]) continue;
    if (o.mode === 'iptables') {
      parts[part] = part === 'sockmap' ? 'off' : 'iptables';
      if (part === 'sockmap') notes.push('sockmap: off in iptables mode (app<->sidecar legs use plain loopback)');
      continue;
    }
    const missing = probeResult ? missingFor(part, probeResult) : `eBPF loader unavailable: ${loaderError ?? 'not built'}`;
    if (!missing) {
      parts[part] = 'ebpf';
      continue;
    }
    if (o.mode === 'ebpf') throw new RedirectUnsupportedError(`${part}: ${missing}`);
    parts[part] = part === 'sockmap' ? 'off' : 'iptables';
    notes.push(`${part}: ${parts[part] === 'off' ? 'off' : 'iptables'} because ${missing}`);
  }
  return { parts, notes };
}

function statePath(env: RedirectEnv, instance: string): string {
  return join(env.stateDir, `${instance}.json`);
}

function readState(env: RedirectEnv, instance: string): StateFile | null {
  try {
    return JSON.parse(readFileSync(statePath(env, instance), 'utf8')) as StateFile;
  } catch {
    return null;
  }
}

function writeState(env: RedirectEnv, s: StateFile): void {
  mkdirSync(env.stateDir, { recursive: true, mode: 0o700 });
  const p = statePath(env, s.instance);
  writeFileSync(`${p}.tmp`, JSON.stringify(s, null, 2));
  renameSync(`${p}.tmp`, p);
}

export function installRedirect(o: RedirectOptions, env: RedirectEnv = defaultEnv()): InstallReport {
  let probeResult: ProbeResult | null = null;
  let loaderError: string | undefined;
  if (o.mode !== 'iptables') {
    try {
      probeResult = loader.probe(env.loader);
    } catch (e) {
      loaderError = (e as Error).message;
    }
  }
  const { parts, notes } = planParts(o, probeResult, loaderError);
  const previous = readState(env, o.instance);

  // iptables first removes what a previous install added (a re-install may change parts), then adds the new set.
  const ipt: IptablesParts = { outbound: parts.outbound === 'iptables', inbound: parts.inbound === 'iptables', deny: parts.deny === 'iptables' };
  const usesIptables = ipt.outbound || ipt.inbound || ipt.deny;
  const mount = usesIptables && ipt.outbound ? cgroup2Mount() : null;
  if (ipt.outbound && !mount) throw new Error('no cgroup2 mount in /proc/self/mountinfo: the iptables fallback matches the app by its cgroup v2 path');
  const plan = usesIptables ? buildIptablesPlan(o, ipt, ipt.outbound ? cgroupMatchPath(o.cgroup, mount!) : '') : { install: '', remove: '', ruleCount: 0 };

  const features = new Set<LoaderFeature>();
  if (parts.outbound === 'ebpf') PART_FEATURES.outbound.forEach((f) => features.add(f));
  if (parts.inbound === 'ebpf') features.add('sklookup');
  if (parts.sockmap === 'ebpf') features.add('sockmap');
  if (parts.deny === 'ebpf') features.add('xdp');

  if (previous?.iptablesRemove) applyIptables(previous.iptablesRemove, previous.netns);
  let ebpf: loader.LoaderInstallResult | null = null;
  try {
    applyIptables(plan.install, o.netns);
    if (features.size > 0) {
      ebpf = loader.install(env.loader, o, [...features]);
      if (features.has('xdp')) loader.syncDeny(env.loader, o.instance, o.deny);
    } else if (loader.loaderAvailable(env.loader)) {
      loader.uninstall(env.loader, o.instance); // a re-install that moved every part to iptables
    }
  } catch (e) {
    try {
      applyIptables(plan.remove, o.netns);
    } catch {
      /* the rules may not have gone in */
    }
    rmSync(statePath(env, o.instance), { force: true });
    throw e;
  }
  writeState(env, { instance: o.instance, parts, netns: o.netns, iptablesRemove: plan.remove, installedAt: new Date().toISOString() });
  return { instance: o.instance, parts, notes, ebpf, iptablesRules: plan.ruleCount };
}

export interface StatusReport {
  instance: string;
  installed: boolean;
  parts: RedirectParts | null;
  netns?: string;
  ebpf: Record<string, unknown> | null;
  iptablesDeny?: Array<{ rule: string; packets: number; bytes: number }>;
  denyRules?: loader.DenyListEntry[];
}

export function redirectStatus(instance: string, env: RedirectEnv = defaultEnv()): StatusReport {
  const st = readState(env, instance);
  let ebpf: Record<string, unknown> | null = null;
  if (loader.loaderAvailable(env.loader)) ebpf = loader.status(env.loader, instance);
  const report: StatusReport = { instance, installed: st !== null || ebpf?.installed === true, parts: st?.parts ?? null, netns: st?.netns, ebpf };
  if (st?.parts.deny === 'iptables') report.iptablesDeny = denyCounters(instance, st.netns);
  if (ebpf?.installed === true && st?.parts.deny === 'ebpf') report.denyRules = loader.denyList(env.loader, instance);
  return report;
}

/** Removes everything of the instance: the iptables rules the state file lists, every pin of the loader. Returns what was removed. */
export function uninstallRedirect(instance: string, env: RedirectEnv = defaultEnv()): { iptables: boolean; ebpfPins: number } {
  const st = readState(env, instance);
  let iptables = false;
  if (st?.iptablesRemove) {
    applyIptables(st.iptablesRemove, st.netns);
    iptables = true;
  }
  const ebpfPins = loader.loaderAvailable(env.loader) ? loader.uninstall(env.loader, instance).removed : 0;
  rmSync(statePath(env, instance), { force: true });
  return { iptables, ebpfPins };
}
