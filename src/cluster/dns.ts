/** Resolves STRICT_DNS hostnames and re-resolves them every dns_refresh_rate, reporting when an answer changes. */
import { promises as dnsPromises } from 'node:dns';
import type { Logger } from 'pino';
import { dnsKey, type DnsTarget, type ResolvedAddresses } from './dns-targets';

/** The subset of dns.promises.lookup used here (injectable for tests). */
export type LookupFn = (hostname: string, opts: { all: true; family: 0 | 4 | 6 }) => Promise<Array<{ address: string; family: number }>>;

export interface DnsResolverOptions {
  lookup?: LookupFn;
  log?: Logger;
  /** Called after a refresh changed at least one answer, with the full new address map. */
  onChange?: (resolved: ResolvedAddresses, changedClusters: string[]) => void;
  /** Called on every lookup outcome, for control stats. */
  onLookup?: (target: DnsTarget, outcome: 'ok' | 'failed') => void;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export class DnsResolver {
  private readonly lookup: LookupFn;
  private readonly answers = new Map<string, string[]>();
  private readonly timers: NodeJS.Timeout[] = [];
  private targets: DnsTarget[] = [];
  private stopped = false;

  constructor(private readonly opts: DnsResolverOptions = {}) {
    this.lookup = opts.lookup ?? ((h, o) => dnsPromises.lookup(h, o));
  }

  /** The current answers (a copy). */
  current(): ResolvedAddresses {
    return new Map(this.answers);
  }

  /** Resolve one target; on failure keep the previous answer (like Envoy), or none on the first try. Returns whether it changed. */
  private async resolveOne(t: DnsTarget): Promise<boolean> {
    const key = dnsKey(t.hostname, t.family);
    const before = this.answers.get(key) ?? [];
    try {
      const res = await this.lookup(t.hostname, { all: true, family: t.family });
      const ips = [...new Set(res.map((r) => r.address))].sort();
      this.opts.onLookup?.(t, 'ok');
      this.answers.set(key, ips);
      if (ips.length === 0) this.opts.log?.warn({ cluster: t.cluster, hostname: t.hostname }, 'DNS lookup returned no addresses');
      return !sameSet(before, ips);
    } catch (err) {
      this.opts.onLookup?.(t, 'failed');
      this.opts.log?.warn({ cluster: t.cluster, hostname: t.hostname, err }, 'DNS lookup failed; keeping the previous addresses');
      if (!this.answers.has(key)) this.answers.set(key, []);
      return false;
    }
  }

  /** Replace the target set and resolve every target once (awaited); does not start timers. */
  async resolveAll(targets: DnsTarget[]): Promise<ResolvedAddresses> {
    this.targets = targets;
    const live = new Set(targets.map((t) => dnsKey(t.hostname, t.family)));
    for (const k of [...this.answers.keys()]) if (!live.has(k)) this.answers.delete(k);
    await Promise.all(targets.map((t) => this.resolveOne(t)));
    return this.current();
  }

  /** Start one refresh timer per cluster at its dns_refresh_rate (replacing any running timers). */
  startRefresh(): void {
    this.clearTimers();
    this.stopped = false;
    const byCluster = new Map<string, DnsTarget[]>();
    for (const t of this.targets) byCluster.set(t.cluster, [...(byCluster.get(t.cluster) ?? []), t]);
    for (const [cluster, ts] of byCluster) {
      let inFlight = false;
      const tick = async (): Promise<void> => {
        // A lookup slower than the refresh period must not pile up concurrent lookups.
        if (inFlight) return;
        inFlight = true;
        const changed = (await Promise.all(ts.map((t) => this.resolveOne(t)))).some(Boolean);
        if (changed && !this.stopped) {
          this.opts.log?.info({ cluster }, 'DNS answer changed; pushing a new snapshot');
          this.opts.onChange?.(this.current(), [cluster]);
        }
        inFlight = false;
      };
      const timer = setInterval(() => void tick(), ts[0].refreshMs);
      timer.unref();
      this.timers.push(timer);
    }
  }

  private clearTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
  }
}
