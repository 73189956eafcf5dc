// The iptables fallback's rule text: one install transaction, and a removal that deletes exactly those rules and chains.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildIptablesPlan, cgroup2Mount, cgroupMatchPath, chainNames } from '../../src/bpf/iptables';
import { validateInstallOptions, type RawInstallOptions } from '../../src/bpf/options';

const c = chainNames('t');
const plan = (raw: Partial<RawInstallOptions>, parts = { outbound: true, inbound: false, deny: false }) =>
  buildIptablesPlan(validateInstallOptions({ instance: 't', cgroup: '/sys/fs/cgroup/pod/app', ...raw }), parts, 'pod/app');

const cases: Array<{ desc: string; raw: Partial<RawInstallOptions>; parts?: { outbound: boolean; inbound: boolean; deny: boolean }; has: string[]; lacks?: string[] }> = [
  {
    desc: 'outbound: only the app cgroup, then uid, loopback and the redirect',
    raw: {},
    has: [`-A OUTPUT -p tcp -m comment --comment "xmesh:t" -j ${c.out}`, `-A ${c.out} -m cgroup ! --path "pod/app" -j RETURN`, `-A ${c.out} -m owner --uid-owner 1337 -j RETURN`, `-A ${c.out} -d 127.0.0.0/8 -j RETURN`, `-A ${c.out} -p tcp -j REDIRECT --to-ports 15001`],
    lacks: ['--mark', '*raw'],
  },
  {
    desc: 'exclusions: ports, CIDRs (IPv4 only), mark; uid none',
    raw: { excludePorts: '22,8443', excludeCidrs: '10.0.0.0/8,fd00::/8', excludeMark: '0x40', excludeUid: 'none' },
    has: [`-A ${c.out} -p tcp --dport 22 -j RETURN`, `-A ${c.out} -p tcp --dport 8443 -j RETURN`, `-A ${c.out} -d 10.0.0.0/8 -j RETURN`, `-A ${c.out} -m mark --mark 0x40/0x40 -j RETURN`],
    lacks: ['fd00::', '--uid-owner'],
  },
  {
    desc: 'include-only: a redirect per included CIDR and no catch-all',
    raw: { includeCidrs: '10.1.0.0/16,10.2.0.0/16' },
    has: [`-A ${c.out} -p tcp -d 10.1.0.0/16 -j REDIRECT --to-ports 15001`, `-A ${c.out} -p tcp -d 10.2.0.0/16 -j REDIRECT --to-ports 15001`],
    lacks: [`-A ${c.out} -p tcp -j REDIRECT`],
  },
  {
    desc: 'inbound, listed ports: loopback and the listener port left alone',
    raw: { inboundPorts: '8080,9090' },
    parts: { outbound: false, inbound: true, deny: false },
    has: [`-A PREROUTING -p tcp -m comment --comment "xmesh:t" -j ${c.in}`, `-A ${c.in} -i lo -j RETURN`, `-A ${c.in} -p tcp --dport 15006 -j RETURN`, `-A ${c.in} -p tcp --dport 8080 -j REDIRECT --to-ports 15006`, `-A ${c.in} -p tcp --dport 9090 -j REDIRECT --to-ports 15006`],
    lacks: [c.out],
  },
  {
    desc: 'inbound "*": every port but the excluded ones',
    raw: { inboundPorts: '*', excludeInboundPorts: '22,15090' },
    parts: { outbound: false, inbound: true, deny: false },
    has: [`-A ${c.in} -p tcp --dport 22 -j RETURN`, `-A ${c.in} -p tcp --dport 15090 -j RETURN`, `-A ${c.in} -p tcp -j REDIRECT --to-ports 15006`],
  },
  {
    desc: 'deny: raw table, TCP and UDP for a port rule, everything for an any-port rule',
    raw: { iface: 'eth0', deny: ['10.9.0.0/16:80', '10.8.0.0/16'] },
    parts: { outbound: false, inbound: false, deny: true },
    has: ['*raw', `-A PREROUTING -m comment --comment "xmesh:t" -j ${c.deny}`, `-A ${c.deny} -s 10.9.0.0/16 -p tcp --dport 80 -m comment --comment "deny 0" -j DROP`, `-A ${c.deny} -s 10.9.0.0/16 -p udp --dport 80 -m comment --comment "deny 0" -j DROP`, `-A ${c.deny} -s 10.8.0.0/16 -m comment --comment "deny 1" -j DROP`],
    lacks: ['*nat'],
  },
];

for (const t of cases) {
  test(`install text: ${t.desc}`, () => {
    const p = plan(t.raw, t.parts);
    const lines = p.install.split('\n');
    for (const h of t.has) assert.ok(lines.includes(h), `missing: ${h}\n${p.install}`);
    for (const l of t.lacks ?? []) assert.ok(!p.install.includes(l), `unexpected: ${l}\n${p.install}`);
    assert.equal(p.ruleCount, lines.filter((l) => l.startsWith('-A ')).length);
  });
}

test('removal deletes each jump it added, then flushes and deletes its chains, and nothing else', () => {
  const p = plan({ inboundPorts: '8080', iface: 'eth0', deny: ['10.0.0.0/8'] }, { outbound: true, inbound: true, deny: true });
  const adds = p.install.split('\n').filter((l) => /^-A (OUTPUT|PREROUTING) /.test(l));
  const dels = p.remove.split('\n').filter((l) => l.startsWith('-D '));
  assert.deepEqual(dels, adds.map((l) => l.replace(/^-A/, '-D')));
  const chains = p.install.split('\n').filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]);
  assert.deepEqual(chains.sort(), [c.deny, c.in, c.out].sort());
  for (const ch of chains) {
    assert.ok(p.remove.includes(`-F ${ch}`));
    assert.ok(p.remove.includes(`-X ${ch}`));
  }
  assert.ok(!p.remove.includes('-A '));
});

test('chain names fit iptables\' 28 characters for the longest instance name and differ per instance', () => {
  const long = chainNames('x'.repeat(64));
  for (const n of [long.out, long.in, long.deny]) assert.ok(n.length <= 28, n);
  assert.notEqual(chainNames('a').out, chainNames('b').out);
});

test('cgroup2Mount finds the cgroup2 line of a mountinfo', () => {
  const mi = ['30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw', '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw'].join('\n');
  assert.equal(cgroup2Mount(mi), '/sys/fs/cgroup/unified');
  assert.equal(cgroup2Mount('30 22 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw'), null);
});

test('cgroupMatchPath is relative to the cgroup2 root and refuses the root and paths outside it', () => {
  assert.equal(cgroupMatchPath('/sys/fs/cgroup/unified/pod/app', '/sys/fs/cgroup/unified'), 'pod/app');
  assert.throws(() => cgroupMatchPath('/sys/fs/cgroup/unified', '/sys/fs/cgroup/unified'));
  assert.throws(() => cgroupMatchPath('/tmp/x', '/sys/fs/cgroup/unified'));
});
