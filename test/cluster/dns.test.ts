import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DnsResolver, type LookupFn } from '../../src/cluster/dns';
import { dnsKey, dnsTargets, type DnsTarget } from '../../src/cluster/dns-targets';
import type { BootstrapCfg } from '../../src/config/types';

function fakeLookup(answers: Record<string, string[] | Error>): LookupFn & { calls: string[] } {
  const calls: string[] = [];
  const fn = (async (host: string) => {
    calls.push(host);
    const a = answers[host];
    if (a === undefined || a instanceof Error) throw a ?? Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  }) as unknown as LookupFn & { calls: string[] };
  fn.calls = calls;
  return fn;
}

const target = (hostname: string, refreshMs = 10): DnsTarget => ({ cluster: 'c', hostname, family: 0, refreshMs });

test('dnsTargets: only hostnames of STRICT_DNS / LOGICAL_DNS clusters, with family and refresh', () => {
  const ep = (address: string) => ({ endpoint: { address: { socket_address: { address, port_value: 80 } } } });
  const cfg = {
    static_resources: {
      clusters: [
        { name: 's', type: 'STATIC', load_assignment: { cluster_name: 's', endpoints: [{ lb_endpoints: [ep('10.0.0.1')] }] } },
        { name: 'd', type: 'STRICT_DNS', dns_refresh_rate: '2s', dns_lookup_family: 'V6_ONLY', load_assignment: { cluster_name: 'd', endpoints: [{ lb_endpoints: [ep('a.local'), ep('10.0.0.2'), ep('a.local')] }] } },
        { name: 'l', type: 'LOGICAL_DNS', load_assignment: { cluster_name: 'l', endpoints: [{ lb_endpoints: [ep('b.local')] }] } },
      ],
    },
  } as BootstrapCfg;
  assert.deepEqual(dnsTargets(cfg), [
    { cluster: 'd', hostname: 'a.local', family: 6, refreshMs: 2000 },
    { cluster: 'l', hostname: 'b.local', family: 0, refreshMs: 5000 },
  ]);
});

test('resolveAll: sorted, de-duplicated answers; a failed first lookup yields no addresses', async () => {
  const outcomes: string[] = [];
  const r = new DnsResolver({ lookup: fakeLookup({ 'a.local': ['10.0.0.2', '10.0.0.1', '10.0.0.2'] }), onLookup: (t, o) => outcomes.push(`${t.hostname}:${o}`) });
  const res = await r.resolveAll([target('a.local'), target('missing.local')]);
  assert.deepEqual(res.get(dnsKey('a.local', 0)), ['10.0.0.1', '10.0.0.2']);
  assert.deepEqual(res.get(dnsKey('missing.local', 0)), []);
  assert.deepEqual(outcomes.sort(), ['a.local:ok', 'missing.local:failed']);
});

test('refresh: a changed answer calls onChange; an unchanged one or a failure does not', async () => {
  const answers: Record<string, string[] | Error> = { 'a.local': ['10.0.0.1'] };
  const lookup = fakeLookup(answers);
  const changes: Array<readonly string[] | undefined> = [];
  const r = new DnsResolver({
    lookup,
    onChange: (res, clusters) => {
      assert.deepEqual(clusters, ['c']);
      changes.push(res.get(dnsKey('a.local', 0)));
    },
  });
  await r.resolveAll([target('a.local', 5)]);
  r.startRefresh();
  // Wait for a few unchanged refreshes, then a failure, then a change.
  const waitCalls = async (n: number) => {
    while (lookup.calls.length < n) await new Promise((res) => setTimeout(res, 2));
  };
  await waitCalls(3);
  assert.equal(changes.length, 0);
  answers['a.local'] = new Error('SERVFAIL');
  const failedAt = lookup.calls.length;
  await waitCalls(failedAt + 2);
  assert.equal(changes.length, 0, 'a failed refresh keeps the previous addresses');
  assert.deepEqual(r.current().get(dnsKey('a.local', 0)), ['10.0.0.1']);
  answers['a.local'] = ['10.0.0.9', '10.0.0.1'];
  // Refresh timers are unref'd, so poll with a ref'd timer to keep the test's event loop alive.
  while (changes.length === 0) await new Promise((res) => setTimeout(res, 2));
  r.stop();
  assert.deepEqual(changes[0], ['10.0.0.1', '10.0.0.9']);
});
