// `npm run bench -- <scenario> --cc NAME`: the scenario runs in a network namespace of its own
// whose TCP congestion control is NAME, the host's setting is untouched (its allowed list is
// widened for the run when NAME is not in it, then restored), and the namespace is gone
// afterwards. Bounded: one 0.3 s direct bulk case. Needs root and iproute2 (CI has both).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tcpCongestionControl } from '../../bench/lib/netns';

const runJs = path.resolve(__dirname, '../../bench/run.js');
const netnsList = () => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
const isRoot = process.getuid?.() === 0;

test('bench --cc: runs under that congestion control in its own namespace, then removes it', { skip: !isRoot && 'needs root' }, () => {
  const avail = fs.readFileSync('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8').trim().split(/\s+/);
  const allowedPath = '/proc/sys/net/ipv4/tcp_allowed_congestion_control';
  const allowed = fs.readFileSync(allowedPath, 'utf8').trim();
  const host = tcpCongestionControl();
  // Preferably one a namespace may not pick by default (the bench widens the allowed list for
  // the run), else any other than the host's, where the kernel has one.
  const cc = avail.find((c) => !allowed.split(/\s+/).includes(c)) ?? avail.find((c) => c !== host) ?? host;
  // --quick: a smoke pass, so its chart goes to the run's temp dir, not over bench/results/tcp.svg
  const r = spawnSync(process.execPath, [runJs, 'tcp', '--quick', '--modes', 'bulk', '--paths', 'direct', '--runs', '1', '--duration', '0.3', '--warmup', '0', '--cc', cc], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const hostLine = /^host: .*tcp congestion control (\S+) \(network namespace (xmesh-bench-\d+)\)$/m.exec(r.stdout);
  assert.ok(hostLine, `host line in: ${r.stdout}`);
  assert.equal(hostLine[1], cc);
  assert.doesNotMatch(netnsList(), new RegExp(`\\b${hostLine[2]}\\b`), 'namespace deleted');
  assert.equal(tcpCongestionControl(), host, "the host's own setting is unchanged");
  assert.equal(fs.readFileSync(allowedPath, 'utf8').trim(), allowed, "the host's allowed list is restored");
  assert.match(r.stdout, /^direct\s+\d+/m, 'the bulk row was measured');
});

test('bench --cc: an unknown algorithm is refused with the available ones, exit 2', () => {
  const r = spawnSync(process.execPath, [runJs, 'tcp', '--cc', 'nosuchcc'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--cc nosuchcc: not available here \(have: .+\)/);
});
