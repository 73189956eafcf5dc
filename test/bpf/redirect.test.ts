// How install splits the work between eBPF and iptables per feature, and the messages that name the missing kernel feature and the version it needs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LoaderFeature, ProbeResult } from '../../src/bpf/loader-cli';
import { validateInstallOptions } from '../../src/bpf/options';
import { missingFor, planParts, RedirectUnsupportedError } from '../../src/bpf/redirect';

/** A probe result where the named probes failed (the rest passed), shaped like `xmesh-bpf probe`. */
function probeWith(failed: string[]): ProbeResult {
  const table: Array<[string, string, string, LoaderFeature[]]> = [
    ['cgroup_connect', 'cgroup/connect4+6 outbound redirection', 'Linux 4.17', ['connect']],
    ['cgroup_getsockopt', 'cgroup/getsockopt answering SO_ORIGINAL_DST', 'Linux 5.3', ['origdst']],
    ['sk_msg', 'sk_msg socket-to-socket redirection', 'Linux 4.17', ['sockmap']],
    ['sk_lookup', 'sk_lookup inbound steering', 'Linux 5.9', ['sklookup']],
    ['xdp', 'XDP deny list', 'Linux 5.9 (XDP through bpf_link)', ['xdp']],
  ];
  const probes = table.map(([name, what, needs, features]) => ({ name, what, needs, features, ok: !failed.includes(name), error: failed.includes(name) ? 'Invalid argument' : null }));
  const lost = new Set(probes.filter((p) => !p.ok).flatMap((p) => p.features));
  return { available: (['connect', 'origdst', 'sockmap', 'sklookup', 'xdp'] as LoaderFeature[]).filter((f) => !lost.has(f)), probes, kernel: '5.4.0-test' };
}

const all = validateInstallOptions({ cgroup: '/c', inboundPorts: '8080', sockmap: true, iface: 'eth0', deny: ['10.0.0.0/8'] });

const cases: Array<{ desc: string; mode: 'auto' | 'ebpf' | 'iptables'; failed: string[]; parts: Record<string, string>; note?: RegExp }> = [
  { desc: 'auto on a kernel with everything: all eBPF', mode: 'auto', failed: [], parts: { outbound: 'ebpf', inbound: 'ebpf', sockmap: 'ebpf', deny: 'ebpf' } },
  { desc: 'auto without sk_lookup (5.4): inbound falls back to iptables, saying why', mode: 'auto', failed: ['sk_lookup'], parts: { outbound: 'ebpf', inbound: 'iptables', sockmap: 'ebpf', deny: 'ebpf' }, note: /^inbound: iptables because sk_lookup inbound steering needs Linux 5\.9 .*this kernel: 5\.4\.0-test/ },
  { desc: 'auto without getsockopt (4.19): outbound falls back as a whole', mode: 'auto', failed: ['cgroup_getsockopt', 'sk_lookup', 'xdp'], parts: { outbound: 'iptables', inbound: 'iptables', sockmap: 'ebpf', deny: 'iptables' }, note: /SO_ORIGINAL_DST needs Linux 5\.3/ },
  { desc: 'auto without sk_msg: sockmap is off (plain loopback), not iptables', mode: 'auto', failed: ['sk_msg'], parts: { outbound: 'ebpf', inbound: 'ebpf', sockmap: 'off', deny: 'ebpf' }, note: /^sockmap: off because/ },
  { desc: 'iptables mode: everything iptables, sockmap off', mode: 'iptables', failed: [], parts: { outbound: 'iptables', inbound: 'iptables', sockmap: 'off', deny: 'iptables' }, note: /sockmap: off in iptables mode/ },
];

for (const c of cases) {
  test(`planParts: ${c.desc}`, () => {
    const { parts, notes } = planParts({ ...all, mode: c.mode }, probeWith(c.failed));
    assert.deepEqual(parts, c.parts);
    if (c.note) assert.ok(notes.some((n) => c.note!.test(n)), notes.join('\n'));
    else assert.deepEqual(notes, []);
  });
}

test('planParts: ebpf mode on a kernel without sk_lookup fails, naming the feature and the version it needs', () => {
  assert.throws(() => planParts({ ...all, mode: 'ebpf' }, probeWith(['sk_lookup'])), (e: unknown) => e instanceof RedirectUnsupportedError && /^inbound: sk_lookup inbound steering needs Linux 5\.9 \(probe sk_lookup: Invalid argument\); this kernel: 5\.4\.0-test$/.test((e as Error).message));
});

test('planParts: without the loader, auto uses iptables and says the loader is missing; ebpf fails', () => {
  const { parts, notes } = planParts({ ...all, mode: 'auto', sockmap: false }, null, 'cannot run xmesh-bpf');
  assert.deepEqual(parts, { outbound: 'iptables', inbound: 'iptables', sockmap: 'off', deny: 'iptables' });
  assert.ok(notes.every((n) => /eBPF loader unavailable: cannot run xmesh-bpf/.test(n)));
  assert.throws(() => planParts({ ...all, mode: 'ebpf' }, null, 'x'), RedirectUnsupportedError);
});

test('planParts: parts nobody asked for stay off', () => {
  const { parts } = planParts(validateInstallOptions({ cgroup: '/c' }), probeWith([]));
  assert.deepEqual(parts, { outbound: 'ebpf', inbound: 'off', sockmap: 'off', deny: 'off' });
});

test('missingFor is null when every feature of the part is there', () => {
  assert.equal(missingFor('outbound', probeWith(['sk_lookup'])), null);
});
