/** Which hostnames a config asks the control core to resolve, and the key their answers are stored under. */
import { isIpLiteral } from '../config/addresses';
import { durationMs } from '../config/durations';
import type { BootstrapCfg, DnsLookupFamily } from '../config/types';

/** 0 = any family (AUTO/ALL/V4_PREFERRED), 4 or 6. */
export type DnsFamily = 0 | 4 | 6;

export interface DnsTarget {
  cluster: string;
  hostname: string;
  family: DnsFamily;
  refreshMs: number;
}

/** Resolved addresses keyed by dnsKey(hostname, family); translate() reads only this. */
export type ResolvedAddresses = ReadonlyMap<string, readonly string[]>;

export const DEFAULT_DNS_REFRESH_MS = 5000;

export function dnsKey(hostname: string, family: DnsFamily): string {
  return `${hostname.toLowerCase()}/${family}`;
}

export function familyOf(f: DnsLookupFamily | undefined): DnsFamily {
  if (f === 'V4_ONLY') return 4;
  if (f === 'V6_ONLY') return 6;
  return 0;
}

/** Every (cluster, hostname) pair of STRICT_DNS / LOGICAL_DNS clusters that is not already an IP literal. */
export function dnsTargets(cfg: BootstrapCfg): DnsTarget[] {
  const out: DnsTarget[] = [];
  for (const cl of cfg.static_resources?.clusters ?? []) {
    if (cl.type !== 'STRICT_DNS' && cl.type !== 'LOGICAL_DNS') continue;
    const refreshMs = durationMs(cl.dns_refresh_rate, DEFAULT_DNS_REFRESH_MS);
    const family = familyOf(cl.dns_lookup_family);
    const seen = new Set<string>();
    for (const loc of cl.load_assignment?.endpoints ?? []) {
      for (const e of loc.lb_endpoints ?? []) {
        const host = e.endpoint.address.socket_address.address;
        if (isIpLiteral(host) || seen.has(host)) continue;
        seen.add(host);
        out.push({ cluster: cl.name, hostname: host, family, refreshMs });
      }
    }
  }
  return out;
}
