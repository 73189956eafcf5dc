// Validation of `xmesh redirect install` options: defaults, normalisation, and errors that name the field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS, parseCidr, parseDenyRule, RedirectOptionError, validateInstallOptions, type RawInstallOptions } from '../../src/bpf/options';

test('defaults: auto mode, Istio ports and uid, sockmap off, nothing excluded', () => {
  const o = validateInstallOptions({ cgroup: '/sys/fs/cgroup/app' });
  assert.equal(o.instance, 'default');
  assert.equal(o.mode, 'auto');
  assert.equal(o.outboundPort, 15001);
  assert.equal(o.inboundPort, 15006);
  assert.equal(o.excludeUid, 1337);
  assert.equal(o.sockmap, false);
  assert.equal(o.sidecarCgroup, '/sys/fs/cgroup/app');
  assert.equal(o.sockopsCgroup, '/sys/fs/cgroup/app');
  assert.deepEqual(o.inboundPorts, []);
  assert.deepEqual(o.excludeInboundPorts, DEFAULTS.excludeInboundPorts);
  assert.deepEqual([o.excludePorts, o.excludeCidrs, o.includeCidrs, o.deny], [[], [], [], []]);
});

const cidrCases: Array<{ desc: string; in: string; out: string }> = [
  { desc: 'host bits are masked', in: '10.1.2.3/8', out: '10.0.0.0/8' },
  { desc: 'a bare IPv4 address is a /32', in: '192.168.1.7', out: '192.168.1.7/32' },
  { desc: 'IPv6 is masked and compressed', in: 'fd00:1:2:3::9/32', out: 'fd00:1::/32' },
  { desc: 'a bare IPv6 address is a /128', in: '::1', out: '::1/128' },
  { desc: '/0 keeps nothing', in: '1.2.3.4/0', out: '0.0.0.0/0' },
  { desc: 'a prefix inside a byte', in: '10.255.255.255/12', out: '10.240.0.0/12' },
];
for (const c of cidrCases) {
  test(`parseCidr: ${c.desc}`, () => {
    const r = parseCidr(c.in, 'x');
    assert.equal(`${r.address}/${r.prefix}`, c.out);
  });
}

const denyCases: Array<{ desc: string; in: string; cidr: string; port: number }> = [
  { desc: 'CIDR alone: every port', in: '10.0.0.0/8', cidr: '10.0.0.0/8', port: 0 },
  { desc: 'CIDR:port', in: '10.0.0.0/8:80', cidr: '10.0.0.0/8', port: 80 },
  { desc: 'IPv6 with a port in brackets', in: '[fd00::/8]:443', cidr: 'fd00::/8', port: 443 },
  { desc: 'IPv6 without a port', in: 'fd00::/8', cidr: 'fd00::/8', port: 0 },
];
for (const c of denyCases) {
  test(`parseDenyRule: ${c.desc}`, () => {
    const r = parseDenyRule(c.in, 'deny[0]');
    assert.equal(`${r.cidr.address}/${r.cidr.prefix}`, c.cidr);
    assert.equal(r.port, c.port);
  });
}

const errorCases: Array<{ desc: string; raw: RawInstallOptions; field: string; detail: RegExp }> = [
  { desc: 'no cgroup', raw: {}, field: 'cgroup', detail: /required/ },
  { desc: 'an instance name with a slash', raw: { cgroup: '/c', instance: 'a/b' }, field: 'instance', detail: /\[A-Za-z0-9_.-\]/ },
  { desc: 'an unknown mode', raw: { cgroup: '/c', mode: 'nft' }, field: 'mode', detail: /ebpf, iptables, auto/ },
  { desc: 'port 0', raw: { cgroup: '/c', outboundPort: '0' }, field: 'outboundPort', detail: /1-65535/ },
  { desc: 'a port too large', raw: { cgroup: '/c', inboundPort: '70000' }, field: 'inboundPort', detail: /1-65535/ },
  { desc: 'the same inbound and outbound port', raw: { cgroup: '/c', inboundPort: '15001' }, field: 'inboundPort', detail: /differ/ },
  { desc: 'a bad port in a list names its index', raw: { cgroup: '/c', excludePorts: '22,x,80' }, field: 'excludePorts[1]', detail: /"x"/ },
  { desc: 'a bad CIDR names its index', raw: { cgroup: '/c', excludeCidrs: '10.0.0.0/8,10.0.0.0/33' }, field: 'excludeCidrs[1]', detail: /0-32/ },
  { desc: 'a hostname is not a CIDR', raw: { cgroup: '/c', includeCidrs: 'example.com' }, field: 'includeCidrs[0]', detail: /CIDR/ },
  { desc: 'an IPv6 outbound address given as IPv4', raw: { cgroup: '/c', outboundAddress: '::1' }, field: 'outboundAddress', detail: /IPv4/ },
  { desc: 'a negative uid', raw: { cgroup: '/c', excludeUid: '-1' }, field: 'excludeUid', detail: /uid or "none"/ },
  { desc: 'a mark beyond 32 bits', raw: { cgroup: '/c', excludeMark: '0x100000000' }, field: 'excludeMark', detail: /32-bit/ },
  { desc: 'deny rules without an interface', raw: { cgroup: '/c', deny: ['10.0.0.0/8'] }, field: 'iface', detail: /required with deny rules/ },
  { desc: 'a deny rule with a bad port', raw: { cgroup: '/c', iface: 'eth0', deny: ['10.0.0.0/8:99999'] }, field: 'deny[0]', detail: /0?1-65535/ },
];
for (const c of errorCases) {
  test(`validateInstallOptions rejects ${c.desc}, naming ${c.field}`, () => {
    assert.throws(
      () => validateInstallOptions(c.raw),
      (e: unknown) => e instanceof RedirectOptionError && e.field === c.field && c.detail.test(e.detail),
    );
  });
}

test('uid "none", a hex mark, "*" inbound ports and repeated ports are accepted', () => {
  const o = validateInstallOptions({ cgroup: '/c', excludeUid: 'none', excludeMark: '0x539', inboundPorts: '*', excludePorts: '22,22,80' });
  assert.equal(o.excludeUid, null);
  assert.equal(o.excludeMark, 0x539);
  assert.equal(o.inboundPorts, '*');
  assert.deepEqual(o.excludePorts, [22, 80]);
});
