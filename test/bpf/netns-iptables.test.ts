// The iptables fallback (--mode iptables, how the tests cover the old-kernel path on a new
// kernel), in the same namespaces as the eBPF test: the app's plain connect() to B lands on the
// test sidecar with SO_ORIGINAL_DST from conntrack, the same exclusions bypass, the sidecar's own
// upstream connect is not looped back (the rules match only the app's cgroup), inbound
// connections reach the inbound listener, a deny rule drops and counts, and uninstall leaves
// iptables-save exactly as it found it. Skipped with the reason when not root or without iptables.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { validateInstallOptions } from '../../src/bpf/options';
import { installRedirect, redirectStatus, uninstallRedirect, type RedirectEnv } from '../../src/bpf/redirect';
import { HELPERS, peerOf, PYTHON, World, worldSkipReason, type Accept, type ClientResult, type Proc } from './world';

const skip = worldSkipReason(['iptables-restore', 'iptables-save']) || false;

/** The rules and user chains iptables-save shows (no comments, counters or built-in chain policies: with the
 * nft backend, the first use of a table creates it and its built-in chains, which stay empty afterwards). */
function ruleset(w: World): string {
  return w
    .mustRun('A', ['iptables-save'])
    .split('\n')
    .filter((l) => l.startsWith('-A ') || (l.startsWith(':') && !/^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) /.test(l)))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''))
    .join('\n');
}

describe('iptables fallback in network namespaces', { skip, timeout: 180_000 }, () => {
  let w: World;
  let env: RedirectEnv;
  let stateDir: string;
  let proxy: Proc;
  let ports: { p1: number; p2: number; out: number; inb: number; app: number; denied: number };
  let pristine: string;
  const client = (args: Parameters<World['client']>[0]): Promise<ClientResult> => w.client(args);
  const accepts = (): Accept[] => proxy.lines.filter((l): l is Accept => (l as Accept)?.event === 'accept');
  const acceptFrom = (port: number): Accept | undefined => accepts().find((a) => a.dir === 'outbound' && a.peer[1] === port);

  before(async () => {
    w = await World.create();
    stateDir = mkdtempSync(join(tmpdir(), 'xmesh-redirect-'));
    // no eBPF here: a loader command that cannot run proves iptables mode never needs it
    env = { loader: ['/nonexistent/xmesh-bpf'], stateDir };
    const upstream = w.start('B', null, [PYTHON, join(HELPERS, 'echo_server.py'), '0.0.0.0', '0', '0']);
    const up = await upstream.next<{ ports: number[] }>((l) => Array.isArray(l?.ports));
    proxy = w.start('A', 'sidecar', [PYTHON, join(HELPERS, 'tproxy.py'), '127.0.0.1', '0.0.0.0']);
    const ready = await proxy.next((l) => l?.ready === true);
    const appServer = w.start('A', 'app', [PYTHON, join(HELPERS, 'echo_server.py'), '0.0.0.0', '0', '0']);
    const app = await appServer.next<{ ports: number[] }>((l) => Array.isArray(l?.ports));
    ports = { p1: up.ports[0]!, p2: up.ports[1]!, out: ready.outbound, inb: ready.inbound, app: app.ports[0]!, denied: app.ports[1]! };
    pristine = ruleset(w);
  });

  after(async () => {
    try {
      if (env) uninstallRedirect('ipt', env);
    } finally {
      await w?.close();
      if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('install in iptables mode writes its chains, scoped to the app cgroup', () => {
    const r = installRedirect(
      validateInstallOptions({
        instance: 'ipt',
        mode: 'iptables',
        cgroup: w.cg.app,
        netns: w.netns('A'),
        outboundPort: String(ports.out),
        inboundPort: String(ports.inb),
        inboundPorts: String(ports.app),
        excludePorts: String(ports.p2),
        excludeCidrs: `${w.addrB2}/32`,
        excludeUid: '1337',
        excludeMark: '0x40',
        iface: w.ifaceA,
        deny: [`${w.addrB}/32:${ports.denied}`],
        sockmap: true,
      }),
      env,
    );
    assert.deepEqual(r.parts, { outbound: 'iptables', inbound: 'iptables', sockmap: 'off', deny: 'iptables' });
    assert.equal(r.ebpf, null);
    assert.ok(r.notes.some((n) => /sockmap: off in iptables mode/.test(n)));
    const rules = ruleset(w);
    assert.ok(rules.includes(`-m cgroup ! --path "${w.cg.app.split('/').slice(-2).join('/')}" -j RETURN`), rules);
    assert.match(rules, /-A OUTPUT -p tcp -m comment --comment "?xmesh:ipt"? -j XMESH-OUT-/);
  });

  test('a plain connect() to B lands on the sidecar; SO_ORIGINAL_DST (conntrack) is B\'s address; 1 MiB intact with half-close', async () => {
    const r = await client({ host: w.addrB, port: ports.p1, size: 1 << 20 });
    assert.equal(r.intact, true, JSON.stringify(r));
    const a = acceptFrom(r.local![1]);
    assert.ok(a, 'the sidecar saw no connection from the app socket');
    assert.deepEqual(a.orig, [w.addrB, ports.p1]);
    assert.deepEqual([peerOf(r).ip, peerOf(r).port], a.upstream_local, 'B did not see the sidecar\'s upstream socket');
    assert.equal(accepts().filter((x) => x.peer[1] === a.upstream_local[1]).length, 0, 'the sidecar\'s upstream connect was redirected');
  });

  const bypass: Array<{ desc: string; run: () => Promise<ClientResult> }> = [
    { desc: 'an excluded port', run: () => client({ host: w.addrB, port: ports.p2, size: 100 }) },
    { desc: 'an excluded CIDR', run: () => client({ host: w.addrB2, port: ports.p1, size: 100 }) },
    { desc: 'the excluded uid 1337', run: () => client({ host: w.addrB, port: ports.p1, size: 100, uid: 1337 }) },
    { desc: 'a socket with the excluded mark', run: () => client({ host: w.addrB, port: ports.p1, size: 100, mark: 0x40 }) },
    { desc: 'a loopback destination', run: () => client({ host: '127.0.0.1', port: ports.app, size: 100 }) },
  ];
  for (const c of bypass) {
    test(`${c.desc} bypasses the sidecar`, async () => {
      const r = await c.run();
      assert.equal(r.intact, true, JSON.stringify(r));
      assert.equal(peerOf(r).port, r.local![1], 'the server saw another socket than the app\'s own');
      assert.equal(acceptFrom(r.local![1]), undefined, 'the sidecar saw the connection');
    });
  }

  test('an inbound connection for the app port goes through the inbound listener', async () => {
    const r = await client({ where: 'B', host: w.addrA, port: ports.app, size: 4096 });
    assert.equal(r.intact, true, JSON.stringify(r));
    assert.equal(peerOf(r).ip, '127.0.0.1', 'the app saw B directly, not the sidecar');
    const a = accepts().find((x) => x.dir === 'inbound' && x.peer[1] === r.local![1]);
    assert.ok(a, 'the inbound listener saw nothing');
    assert.deepEqual(a.orig, [w.addrA, ports.app]);
  });

  test('a deny rule drops in the raw table and its counter moves', async () => {
    const r = await client({ where: 'B', host: w.addrA, port: ports.denied, size: 1, timeout: 1.5 });
    assert.equal(r.error, 'TimeoutError', `the denied connection was not dropped: ${JSON.stringify(r)}`);
    const s = redirectStatus('ipt', env);
    assert.equal(s.parts?.deny, 'iptables');
    const tcp = s.iptablesDeny?.find((d) => / tcp /.test(` ${d.rule} `) || /dpt:/.test(d.rule));
    assert.ok(tcp && tcp.packets >= 1, `deny counters: ${JSON.stringify(s.iptablesDeny)}`);
  });

  test('uninstall removes exactly what install added', () => {
    const r = uninstallRedirect('ipt', env);
    assert.equal(r.iptables, true);
    assert.equal(ruleset(w), pristine);
    assert.equal(redirectStatus('ipt', env).installed, false);
  });
});
