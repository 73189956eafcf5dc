// eBPF redirection for real, in namespaces: an app in its own cgroup in namespace A connects
// with a plain connect() to a server in namespace B; with the programs attached the connection
// lands on a test sidecar (test/bpf/helpers/tproxy.py, in a sibling cgroup) whose
// SO_ORIGINAL_DST answer is B's address. Exclusions bypass, the sidecar's own upstream connect
// is not looped back, sockmap/sk_msg counters move, sk_lookup steers inbound connections, the
// XDP deny list drops and counts, no iptables rule exists, and uninstall leaves nothing.
// Skipped (with the reason) when not root or when the kernel lacks a feature.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { registerInboundListener, status as loaderStatus } from '../../src/bpf/loader-cli';
import { validateInstallOptions } from '../../src/bpf/options';
import { installRedirect, redirectStatus, uninstallRedirect, type RedirectEnv } from '../../src/bpf/redirect';
import { HELPERS, missingFeatures, peerOf, PYTHON, World, worldSkipReason, type Accept, type ClientResult, type Proc } from './world';

const bpfProgs = (): string => spawnSync('bpftool', ['prog', 'show'], { encoding: 'utf8' }).stdout;

/** Waits for cond (the kernel frees programs after an RCU grace period), bounded: 5 s. */
async function eventually(cond: () => boolean, message: string): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(cond(), message);
}

const skip = worldSkipReason(['bpftool']) || missingFeatures(['connect', 'origdst', 'sockmap', 'sklookup', 'xdp']) || false;

describe('eBPF redirection in network namespaces', { skip, timeout: 240_000 }, () => {
  let w: World;
  let env: RedirectEnv;
  let stateDir: string;
  let upstream: Proc;
  let proxy: Proc;
  let appServer: Proc;
  let ports: { p1: number; p2: number; out: number; inb: number; app: number; denied: number };
  let ready: { pid: number; inbound_fd: number };
  let p6: number;
  const counters = (): Record<string, number> => (loaderStatus(env.loader, 'e2e').counters as Record<string, number>) ?? {};

  const client = (args: Parameters<World['client']>[0]): Promise<ClientResult> => w.client(args);

  const accepts = (): Accept[] => proxy.lines.filter((l): l is Accept => (l as Accept)?.event === 'accept');
  const acceptFrom = (port: number): Accept | undefined => accepts().find((a) => a.dir === 'outbound' && a.peer[1] === port);

  before(async () => {
    w = await World.create();
    stateDir = mkdtempSync(join(tmpdir(), 'xmesh-redirect-'));
    env = { loader: w.loaderCmd(), stateDir };
    upstream = w.start('B', null, [PYTHON, join(HELPERS, 'echo_server.py'), '0.0.0.0', '0', '0']);
    const up = await upstream.next<{ ports: number[] }>((l) => Array.isArray(l?.ports));
    proxy = w.start('A', 'sidecar', [PYTHON, join(HELPERS, 'tproxy.py'), '127.0.0.1', '0.0.0.0', '::1']);
    ready = await proxy.next((l) => l?.ready === true);
    appServer = w.start('A', 'app', [PYTHON, join(HELPERS, 'echo_server.py'), '0.0.0.0', '0', '0']);
    const app = await appServer.next<{ ports: number[] }>((l) => Array.isArray(l?.ports));
    const upstream6 = w.start('B', null, [PYTHON, join(HELPERS, 'echo_server.py'), '::', '0']);
    p6 = (await upstream6.next<{ ports: number[] }>((l) => Array.isArray(l?.ports))).ports[0]!;
    ports = { p1: up.ports[0]!, p2: up.ports[1]!, out: (ready as any).outbound, inb: (ready as any).inbound, app: app.ports[0]!, denied: app.ports[1]! };
  });

  after(async () => {
    try {
      if (env) uninstallRedirect('e2e', env);
    } finally {
      await w?.close();
      if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('install refuses a directory that is not a cgroup v2 directory and leaves nothing behind', () => {
    const opts = validateInstallOptions({ instance: 'e2e', mode: 'ebpf', cgroup: '/tmp', sidecarCgroup: w.cg.sidecar, sockopsCgroup: w.cg.parent });
    assert.throws(() => installRedirect(opts, env), /app cgroup \/tmp: not a cgroup v2 directory/);
    assert.deepEqual(w.pins(), []);
    assert.equal(redirectStatus('e2e', env).installed, false);
  });

  test('install attaches every program in eBPF mode and adds no iptables or nft rule', () => {
    const opts = validateInstallOptions({
      instance: 'e2e',
      mode: 'ebpf',
      cgroup: w.cg.app,
      sidecarCgroup: w.cg.sidecar,
      sockopsCgroup: w.cg.parent,
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
      redirectIpv6: true,
    });
    const r = installRedirect(opts, env);
    assert.deepEqual(r.parts, { outbound: 'ebpf', inbound: 'ebpf', sockmap: 'ebpf', deny: 'ebpf' });
    assert.deepEqual([...r.ebpf!.attached].sort(), ['connect', 'origdst', 'sklookup', 'sockmap', 'xdp']);
    assert.match(r.ebpf!.xdp_mode ?? '', /^(native|generic)$/);
    registerInboundListener(env.loader, 'e2e', ready.pid, ready.inbound_fd);
    const rules = w.mustRun('A', ['iptables-save']).split('\n').filter((l) => l.startsWith('-A') || l.startsWith(':'));
    assert.deepEqual(rules, [], 'iptables rules exist in eBPF mode');
    const nft = w.run('A', ['nft', 'list', 'ruleset']);
    if (nft.code === 0) assert.equal(nft.stdout.trim(), '', 'nft ruleset not empty in eBPF mode');
    const s = redirectStatus('e2e', env);
    const names = ((s.ebpf?.attachments as Array<{ name: string }>) ?? []).map((a) => a.name).sort();
    assert.deepEqual(names, ['connect4', 'connect6', 'getsockopt', 'sk_lookup', 'sk_msg', 'sockops', 'xdp']);
  });

  for (const size of [1, 65_536, 1 << 20, 16 << 20]) {
    test(`a plain connect() to B lands on the sidecar, SO_ORIGINAL_DST is B's address, sk_msg carries the loopback legs, ${size} bytes intact with half-close`, async () => {
      const before = counters();
      const r = await client({ host: w.addrB, port: ports.p1, size });
      assert.equal(r.intact, true, JSON.stringify(r));
      assert.equal(r.received, size);
      assert.deepEqual(r.local![0], '127.0.0.1', 'the app socket was not connected to the outbound listener');
      const a = acceptFrom(r.local![1]);
      assert.ok(a, 'the sidecar saw no connection from the app socket');
      assert.deepEqual(a.orig, [w.addrB, ports.p1]);
      // B saw the sidecar's own upstream socket: not looped back into the sidecar
      const peer = peerOf(r);
      assert.deepEqual([peer.ip, peer.port], a.upstream_local);
      assert.equal(accepts().filter((x) => x.peer[1] === a.upstream_local[1]).length, 0, 'the sidecar\'s upstream connect was redirected');
      const after = counters();
      assert.equal(after.connect_redirected! - before.connect_redirected!, 1);
      assert.equal(after.getsockopt_hit! - before.getsockopt_hit!, 1);
      assert.ok(after.sockhash_added! - before.sockhash_added! >= 2, 'both loopback ends in the sockhash');
      assert.ok(after.skmsg_redirected! > before.skmsg_redirected!, 'sk_msg moved nothing');
      assert.ok(after.skmsg_redirected_bytes! - before.skmsg_redirected_bytes! >= 2 * size, 'sk_msg moved fewer bytes than went both ways');
    });
  }

  test('IPv6: a connect() to B\'s IPv6 address lands on the sidecar\'s [::1] listener and IP6T_SO_ORIGINAL_DST is B\'s address', async () => {
    const before = counters();
    const r = await client({ host: w.addrB6, port: p6, size: 65_536 });
    assert.equal(r.intact, true, JSON.stringify(r));
    assert.equal(r.local![0], '::1');
    const a = acceptFrom(r.local![1]);
    assert.ok(a, 'the sidecar saw no connection from the app socket');
    assert.deepEqual(a.orig, [w.addrB6, p6]);
    assert.deepEqual([peerOf(r).ip, peerOf(r).port], a.upstream_local);
    assert.equal(counters().getsockopt_hit! - before.getsockopt_hit!, 1);
  });

  test('IPv4-mapped: an IPv6 socket connecting to ::ffff:B lands on the IPv4 listener and SO_ORIGINAL_DST is B\'s IPv4 address', async () => {
    const r = await client({ host: `::ffff:${w.addrB}`, port: ports.p1, size: 4096 });
    assert.equal(r.intact, true, JSON.stringify(r));
    assert.equal(r.local![0], '::ffff:127.0.0.1');
    const a = acceptFrom(r.local![1]);
    assert.ok(a, 'the sidecar saw no connection from the app socket');
    assert.deepEqual(a.orig, [w.addrB, ports.p1], 'the key builder folded the mapped address: both ends built the same key');
  });

  const bypass: Array<{ desc: string; counter: string; run: () => Promise<ClientResult> }> = [
    { desc: 'an excluded port', counter: 'connect_skip_port', run: () => client({ host: w.addrB, port: ports.p2, size: 100 }) },
    { desc: 'an excluded CIDR', counter: 'connect_skip_cidr', run: () => client({ host: w.addrB2, port: ports.p1, size: 100 }) },
    { desc: 'the excluded uid 1337', counter: 'connect_skip_uid', run: () => client({ host: w.addrB, port: ports.p1, size: 100, uid: 1337 }) },
    { desc: 'a socket with the excluded mark', counter: 'connect_skip_mark', run: () => client({ host: w.addrB, port: ports.p1, size: 100, mark: 0x40 }) },
    { desc: 'a loopback destination', counter: 'connect_skip_loopback', run: () => client({ host: '127.0.0.1', port: ports.app, size: 100 }) },
  ];
  for (const c of bypass) {
    test(`${c.desc} bypasses the sidecar`, async () => {
      const before = counters();
      const r = await c.run();
      assert.equal(r.intact, true, JSON.stringify(r));
      const peer = peerOf(r);
      assert.equal(peer.port, r.local![1], 'the server saw another socket than the app\'s own');
      assert.equal(acceptFrom(r.local![1]), undefined, 'the sidecar saw the connection');
      const after = counters();
      assert.equal(after[c.counter]! - before[c.counter]!, 1, c.counter);
      assert.equal(after.connect_redirected, before.connect_redirected);
    });
  }

  test('sk_lookup hands an inbound connection for the app port to the inbound listener', async () => {
    const before = counters();
    const r = await client({ where: 'B', host: w.addrA, port: ports.app, size: 4096 });
    assert.equal(r.intact, true, JSON.stringify(r));
    const peer = peerOf(r);
    assert.equal(peer.ip, '127.0.0.1', 'the app saw B directly, not the sidecar');
    const a = accepts().find((x) => x.dir === 'inbound' && x.peer[1] === r.local![1]);
    assert.ok(a, 'the inbound listener saw nothing');
    assert.deepEqual(a.orig, [w.addrA, ports.app], 'original destination of a steered connection is its local address');
    assert.deepEqual(a.local, [w.addrA, ports.app], 'sk_lookup rewrote nothing: the local address is the app\'s');
    const after = counters();
    assert.equal(after.sklookup_steered! - before.sklookup_steered!, 1);
    assert.equal(after.getsockopt_local! - before.getsockopt_local!, 1);
  });

  test('the XDP deny list drops SYNs to the denied port and counts them per rule', async () => {
    const r = await client({ where: 'B', host: w.addrA, port: ports.denied, size: 1, timeout: 1.5 });
    assert.equal(r.error, 'TimeoutError', `the denied connection was not dropped: ${JSON.stringify(r)}`);
    const s = redirectStatus('e2e', env);
    assert.equal(s.denyRules?.length, 1);
    assert.ok(s.denyRules![0]!.packets >= 1, `deny counter did not move: ${JSON.stringify(s.denyRules)}`);
    assert.ok(s.denyRules![0]!.bytes >= 54 * s.denyRules![0]!.packets);
  });

  test('a second install replaces every program in place, keeps the maps, drops sk_msg (sockmap off, the default), and include-only mode leaves other CIDRs alone', async () => {
    const opts = validateInstallOptions({
      instance: 'e2e',
      mode: 'ebpf',
      cgroup: w.cg.app,
      sidecarCgroup: w.cg.sidecar,
      sockopsCgroup: w.cg.parent,
      netns: w.netns('A'),
      outboundPort: String(ports.out),
      inboundPort: String(ports.inb),
      inboundPorts: String(ports.app),
      includeCidrs: `${w.addrB}/32`,
      iface: w.ifaceA,
      deny: [`${w.addrB}/32:${ports.denied}`],
    });
    const before = counters();
    const r = installRedirect(opts, env);
    assert.equal(r.parts.sockmap, 'off');
    assert.equal(r.ebpf!.reused_maps, true);
    assert.equal(r.ebpf!.replaced, 6, 'sockops, getsockopt, connect4/6, sk_lookup and xdp replaced through their pinned links');
    const names = ((redirectStatus('e2e', env).ebpf?.attachments as Array<{ name: string }>) ?? []).map((a) => a.name);
    assert.ok(!names.includes('sk_msg'), 'sk_msg still attached');
    assert.equal(counters().connect_redirected, before.connect_redirected, 'counters survived the reload');
    const other = await client({ host: w.addrB2, port: ports.p1, size: 10 });
    assert.equal(peerOf(other).port, other.local![1]);
    const inc = await client({ host: w.addrB, port: ports.p1, size: 10 });
    assert.equal(inc.local![0], '127.0.0.1');
    const after = counters();
    assert.equal(after.connect_skip_not_included! - before.connect_skip_not_included!, 1);
    assert.equal(after.connect_redirected! - before.connect_redirected!, 1);
    assert.equal(after.sockhash_added, before.sockhash_added, 'sockops still fills the sockhash with sockmap off');
  });

  test('with sockmap off, a blocking app with a reader and a writer thread on one socket never sees EAGAIN (10 connections of 1 MiB)', async () => {
    for (let i = 0; i < 10; i++) {
      const r = await client({ host: w.addrB, port: ports.p1, size: 1 << 20, blocking: true });
      assert.equal(r.intact, true, `connection ${i}: ${JSON.stringify(r)}`);
    }
  });

  test('uninstall removes every program, link and pin, also with a live sk_msg-carried connection, which keeps working on plain TCP', async () => {
    installRedirect(validateInstallOptions({ instance: 'e2e', mode: 'ebpf', cgroup: w.cg.app, sidecarCgroup: w.cg.sidecar, sockopsCgroup: w.cg.parent, outboundPort: String(ports.out), inboundPort: String(ports.inb), sockmap: true }), env);
    const before = counters();
    const held = w.start('A', 'app', [PYTHON, join(HELPERS, 'client.py'), w.addrB, String(ports.p1), '100000', '--hold']);
    const phase1 = await held.next<ClientResult & { phase: number }>((l) => l?.phase === 1);
    assert.equal(phase1.intact, true);
    assert.ok(counters().skmsg_redirected! > before.skmsg_redirected!, 'the held connection is not on sk_msg');
    const r = uninstallRedirect('e2e', env);
    assert.ok(r.ebpfPins > 0);
    assert.deepEqual(w.pins(), []);
    // A thread blocked in recv() on a socket that was in the sockhash holds its psock, and with it
    // the sk_msg program, until it wakes (kernel tcp_bpf_recvmsg); everything else goes at once.
    await eventually(() => !/name xm_(connect4|connect6|getsockopt|sockops|sk_lookup|xdp_deny)\b/.test(bpfProgs()), 'a program other than sk_msg outlived uninstall');
    held.child.stdin!.write('go\n');
    const phase2 = await held.next<ClientResult & { phase: number }>((l) => l?.phase === 2);
    assert.equal(phase2.intact, true, 'the live connection broke at uninstall');
    // data moved once more on the still-open connection: its sockets left the sockhash at uninstall, so nothing holds sk_msg now
    await eventually(() => !/name xm_/.test(bpfProgs()), 'sk_msg outlived uninstall on a live connection (the sockhash was not emptied)');
    held.child.stdin!.write('go\n');
    const done = await held.next<ClientResult>((l) => l?.sent !== undefined);
    assert.equal(done.intact, true, `the live connection broke after uninstall: ${JSON.stringify(done)}`);
    const direct = await client({ host: w.addrB, port: ports.p1, size: 10 });
    assert.equal(peerOf(direct).port, direct.local![1]);
    assert.equal(redirectStatus('e2e', env).installed, false);
  });
});
