import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressesOverlap, hostPort, isHostname, isIpLiteral } from '../../src/config/addresses';

const hosts: Array<{ desc: string; s: string; ip: boolean; hostname: boolean }> = [
  { desc: 'IPv4 literal', s: '10.0.0.1', ip: true, hostname: false },
  { desc: 'IPv6 literal', s: '::1', ip: true, hostname: false },
  { desc: 'simple hostname', s: 'localhost', ip: false, hostname: true },
  { desc: 'FQDN with trailing dot', s: 'reviews.default.svc.cluster.local.', ip: false, hostname: true },
  { desc: 'malformed IPv4 is not a hostname', s: '10.0.0.300', ip: false, hostname: false },
  { desc: 'underscore is not allowed', s: 'bad_host', ip: false, hostname: false },
  { desc: 'label starting with hyphen', s: '-a.example', ip: false, hostname: false },
  { desc: 'empty', s: '', ip: false, hostname: false },
];
for (const h of hosts) {
  test(`address classification: ${h.desc}`, () => {
    assert.equal(isIpLiteral(h.s), h.ip);
    assert.equal(isHostname(h.s), h.hostname);
  });
}

const overlaps: Array<{ desc: string; a: [string, number]; b: [string, number]; overlap: boolean }> = [
  { desc: 'same ip and port', a: ['127.0.0.1', 80], b: ['127.0.0.1', 80], overlap: true },
  { desc: 'different ports', a: ['127.0.0.1', 80], b: ['127.0.0.1', 81], overlap: false },
  { desc: 'wildcard covers a specific IPv4', a: ['0.0.0.0', 80], b: ['127.0.0.1', 80], overlap: true },
  { desc: 'IPv4 wildcard does not cover IPv6', a: ['0.0.0.0', 80], b: ['::1', 80], overlap: false },
  { desc: 'port 0 never collides', a: ['127.0.0.1', 0], b: ['127.0.0.1', 0], overlap: false },
];
for (const o of overlaps) {
  test(`addressesOverlap: ${o.desc}`, () => {
    assert.equal(addressesOverlap({ ip: o.a[0], port: o.a[1] }, { ip: o.b[0], port: o.b[1] }), o.overlap);
  });
}

test('hostPort brackets IPv6', () => {
  assert.equal(hostPort('::1', 80), '[::1]:80');
  assert.equal(hostPort('10.0.0.1', 80), '10.0.0.1:80');
});
