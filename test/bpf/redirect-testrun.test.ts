// Table-driven BPF_PROG_TEST_RUN of the redirect programs that support it: the XDP deny list
// (verdict and per-rule counters for each frame) and sk_lookup (which lookups are steered to the
// inbound listener). A private load through `xmesh-bpf test-run`: nothing attached or pinned.
// Skipped with the reason when not root or when the kernel lacks XDP / sk_lookup.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { describe, test } from 'node:test';
import { missingFeatures, XMESH_BPF } from './world';

const XDP_DROP = 1;
const XDP_PASS = 2;
const SK_PASS = 1;

const baseSkip = process.getuid?.() !== 0 ? 'needs root (BPF_PROG_TEST_RUN loads programs)' : !existsSync(XMESH_BPF) ? 'native/src/bpf/xmesh-bpf not built (make -C bpf)' : false;

function testRun(args: string[]): any {
  const r = spawnSync(XMESH_BPF, ['test-run', ...args], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `xmesh-bpf test-run failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// ---- frames --------------------------------------------------------------------------------

const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];

function ip4(a: string): number[] {
  return a.split('.').map(Number);
}

function ip6(a: string): number[] {
  const [h, t] = a.includes('::') ? a.split('::') : [a, undefined];
  const hs = h ? h.split(':') : [];
  const ts = t ? t.split(':') : [];
  const groups = t === undefined ? hs : [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
  return groups.flatMap((g) => u16(parseInt(g, 16)));
}

interface FrameSpec {
  src: string;
  proto: 'tcp' | 'udp' | 'icmp';
  dport?: number;
  /** IPv4 fragment offset (8-byte units); non-zero: a later fragment, no L4 header */
  fragOffset?: number;
  vlan?: number;
}

function l4(proto: FrameSpec['proto'], dport: number): number[] {
  if (proto === 'tcp') return [...u16(40000), ...u16(dport), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, ...u16(64240), 0, 0, 0, 0];
  if (proto === 'udp') return [...u16(40000), ...u16(dport), ...u16(8 + 4), 0, 0, 1, 2, 3, 4];
  return [8, 0, 0, 0, 0, 1, 0, 1]; // ICMP echo request
}

const PROTO = { tcp: 6, udp: 17, icmp: 1 } as const;

/** Ethernet frame from spec.src (IPv4 or IPv6) to a fixed destination. */
function frame(s: FrameSpec): string {
  const v6 = isIPv6(s.src);
  const payload = s.fragOffset ? [1, 2, 3, 4, 5, 6, 7, 8] : l4(s.proto, s.dport ?? 0);
  let l3: number[];
  if (v6) {
    l3 = [0x60, 0, 0, 0, ...u16(payload.length), s.proto === 'icmp' ? 58 : PROTO[s.proto], 64, ...ip6(s.src), ...ip6('fd00:99::1'), ...payload];
  } else {
    const total = 20 + payload.length;
    l3 = [0x45, 0, ...u16(total), 0, 1, ...u16(s.fragOffset ?? 0), 64, PROTO[s.proto], 0, 0, ...ip4(s.src), ...ip4('10.99.0.1'), ...payload];
  }
  const type = v6 ? 0x86dd : 0x0800;
  const eth = [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, ...(s.vlan !== undefined ? [...u16(0x8100), ...u16(s.vlan), ...u16(type)] : u16(type))];
  return Buffer.from([...eth, ...l3]).toString('hex');
}

// ---- XDP deny list -------------------------------------------------------------------------

const rules = ['10.1.0.0/16@80', '10.2.0.0/16', '192.168.1.7/32@53', 'fd00:1::/32@443', 'fd00:2::/32'];

const xdpCases: Array<{ desc: string; frame: string; action: number; rule?: number }> = [
  { desc: 'TCP from a denied CIDR to its port', frame: frame({ src: '10.1.2.3', proto: 'tcp', dport: 80 }), action: XDP_DROP, rule: 0 },
  { desc: 'TCP from a denied CIDR to another port', frame: frame({ src: '10.1.2.3', proto: 'tcp', dport: 81 }), action: XDP_PASS },
  { desc: 'UDP to a denied port is denied like TCP', frame: frame({ src: '10.1.200.1', proto: 'udp', dport: 80 }), action: XDP_DROP, rule: 0 },
  { desc: 'an any-port rule drops TCP to any port', frame: frame({ src: '10.2.9.9', proto: 'tcp', dport: 22 }), action: XDP_DROP, rule: 1 },
  { desc: 'an any-port rule drops ICMP (no port)', frame: frame({ src: '10.2.9.9', proto: 'icmp' }), action: XDP_DROP, rule: 1 },
  { desc: 'a port rule does not drop ICMP from its CIDR', frame: frame({ src: '10.1.2.3', proto: 'icmp' }), action: XDP_PASS },
  { desc: 'a /32 rule matches its address', frame: frame({ src: '192.168.1.7', proto: 'udp', dport: 53 }), action: XDP_DROP, rule: 2 },
  { desc: 'a /32 rule does not match the next address', frame: frame({ src: '192.168.1.8', proto: 'udp', dport: 53 }), action: XDP_PASS },
  { desc: 'an address outside every rule passes', frame: frame({ src: '10.3.0.1', proto: 'tcp', dport: 80 }), action: XDP_PASS },
  { desc: 'IPv6 TCP from a denied prefix to its port', frame: frame({ src: 'fd00:1::5', proto: 'tcp', dport: 443 }), action: XDP_DROP, rule: 3 },
  { desc: 'IPv6 TCP from a denied prefix to another port', frame: frame({ src: 'fd00:1::5', proto: 'tcp', dport: 444 }), action: XDP_PASS },
  { desc: 'IPv6 any-port rule drops UDP', frame: frame({ src: 'fd00:2::1', proto: 'udp', dport: 9999 }), action: XDP_DROP, rule: 4 },
  { desc: 'an IPv6 source whose first bytes equal an IPv4 rule does not match it (family is in the key)', frame: frame({ src: 'a01::1', proto: 'tcp', dport: 80 }), action: XDP_PASS },
  { desc: 'a later IPv4 fragment has no port: a port rule passes it', frame: frame({ src: '10.1.2.3', proto: 'tcp', dport: 80, fragOffset: 100 }), action: XDP_PASS },
  { desc: 'a later IPv4 fragment from an any-port CIDR is dropped', frame: frame({ src: '10.2.1.1', proto: 'udp', dport: 80, fragOffset: 100 }), action: XDP_DROP, rule: 1 },
  { desc: 'a VLAN-tagged frame is parsed through its tag', frame: frame({ src: '10.1.2.3', proto: 'tcp', dport: 80, vlan: 7 }), action: XDP_DROP, rule: 0 },
  { desc: 'an ARP frame passes', frame: `${'ff'.repeat(6)}000102030405` + '0806' + '0001080006040001' + '00'.repeat(20), action: XDP_PASS },
  { desc: 'a truncated IPv4 header passes', frame: '000102030405000102030406' + '0800' + '4500001c00010000', action: XDP_PASS },
];

describe('XDP deny list through BPF_PROG_TEST_RUN', { skip: baseSkip || missingFeatures(['xdp']) || false }, () => {
  const res = baseSkip ? null : testRun(['xdp', ...rules.flatMap((r) => ['--deny', r]), ...xdpCases.flatMap((c) => ['--packet', c.frame])]);

  xdpCases.forEach((c, i) => {
    test(`${c.desc}: ${c.action === XDP_DROP ? 'XDP_DROP' : 'XDP_PASS'}`, () => {
      assert.equal(res.results[i].action, c.action);
    });
  });

  test('each rule counts exactly the packets and bytes it dropped', () => {
    rules.forEach((r, id) => {
      const mine = xdpCases.filter((c) => c.rule === id);
      const got = res.rules.find((x: { id: number }) => x.id === id);
      assert.equal(got.packets, mine.length, `${r} packets`);
      assert.equal(got.bytes, mine.reduce((n, c) => n + c.frame.length / 2, 0), `${r} bytes`);
    });
  });
});

// ---- sk_lookup -----------------------------------------------------------------------------

const lookupCases: Array<{ desc: string; mode: string[]; lookup: string; steered: boolean }> = [
  { desc: 'a listed app port is steered', mode: [], lookup: 'tcp,10.0.0.2,5555,10.0.0.1,8080', steered: true },
  { desc: 'an unlisted port is not', mode: [], lookup: 'tcp,10.0.0.2,5555,10.0.0.1,8081', steered: false },
  { desc: 'a loopback destination is never steered (the sidecar reaches the app there)', mode: [], lookup: 'tcp,127.0.0.1,5555,127.0.0.1,8080', steered: false },
  { desc: 'UDP is never steered', mode: [], lookup: 'udp,10.0.0.2,5555,10.0.0.1,8080', steered: false },
  { desc: 'IPv6 to a listed port goes to the IPv6 listener', mode: [], lookup: 'tcp,fd00::2,5555,fd00::1,9090', steered: true },
  { desc: 'IPv6 loopback is never steered', mode: [], lookup: 'tcp,::1,5555,::1,8080', steered: false },
  { desc: 'IPv4-mapped loopback is never steered', mode: [], lookup: 'tcp,::ffff:127.0.0.1,5555,::ffff:127.0.0.1,8080', steered: false },
  { desc: 'steer-all: any port but the excluded ones', mode: ['--inbound-steer-all', '--inbound-ports', '22'], lookup: 'tcp,10.0.0.2,5555,10.0.0.1,8081', steered: true },
  { desc: 'steer-all: an excluded port is left alone', mode: ['--inbound-steer-all', '--inbound-ports', '22'], lookup: 'tcp,10.0.0.2,5555,10.0.0.1,22', steered: false },
  { desc: 'steer-all: the inbound listener\'s own port is never steered', mode: ['--inbound-steer-all', '--inbound-ports', '22'], lookup: 'tcp,10.0.0.2,5555,10.0.0.1,15006', steered: false },
  { desc: 'without a registered listener nothing is steered', mode: ['--no-listener'], lookup: 'tcp,10.0.0.2,5555,10.0.0.1,8080', steered: false },
];

describe('sk_lookup through BPF_PROG_TEST_RUN', { skip: baseSkip || missingFeatures(['sklookup']) || false }, () => {
  for (const c of lookupCases) {
    test(`${c.desc}`, () => {
      const extra = c.mode.includes('--inbound-steer-all') ? c.mode : [...c.mode, '--inbound-ports', '8080,9090'];
      const r = testRun(['sk_lookup', '--inbound-port', '15006', ...extra, '--lookup', c.lookup]);
      assert.equal(r.results[0].verdict, SK_PASS, 'sk_lookup never drops');
      assert.equal(r.results[0].steered, c.steered);
    });
  }
});
