/**
 * Hostile Bolt clients against a real `xmesh run` (x_proxy listener, real sofa-rpc-node
 * upstream), on each I/O backend: xmesh's memory (VmRSS of the child) stays bounded however
 * the bytes arrive and comes back near where it was once the connections close.
 *  - trickle: 100 connections announce ~1 MiB frames and send 1,500 single bytes each, in
 *    rounds: RSS grows by about a chunk per connection, not a buffer per read (io_uring once
 *    grew 540 MB here);
 *  - slowloris: 40 connections each hold 900 KiB of an unfinished frame under a 1 MiB buffer
 *    limit: RSS stays under limit x connections + a margin, and is given back after close;
 *  - a frame above the buffer limit is refused as soon as its length is read
 *    (decode_error.too_large), while one just under it is answered;
 *  - a partial frame then silence is cut at frame_timeout, a silent connection at
 *    idle_timeout, each counted, and their memory given back.
 * The native twin of these cases is native/test/filters/x_proxy/test_hostile.c.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { staticCluster } from '../config/helpers';
import { adminStats, startXmesh, type XmeshProcess } from '../integration/xmesh-process';
import { makeSofaClient, startSofaServer, type SofaClient, type SofaServer } from '../fixtures/sofa';
import { BOLT_HEAD_LEN, boltHead, closeAll, openConns, type HostileConn } from './hostile-client';
import { acceptedRxQueues, MiB, mib, rssBytes, steadyRss, waitFor } from './proc-probe';

const IFACE = 'com.alipay.test.EchoService';
const X_PROXY_TYPE = 'type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy';

/** per_connection_buffer_limit_bytes of both listeners: also the largest frame x_proxy takes. */
const LIMIT = 1024 * 1024;
/** Size of one data-plane chunk (native/src/core/buf.h XM_CHUNK_SIZE). */
const CHUNK = 16 * 1024;
/** frame_timeout and idle_timeout of the "stall" listener. */
const STALL_FRAME_TIMEOUT_MS = 800;
const STALL_IDLE_TIMEOUT_MS = 2000;

/**
 * Allowed above a load's own bound while it is held. Measured on a 2-CPU VM: the RSS of an
 * xmesh whose admin /stats is polled moves by up to +4 / -8 MiB with nothing held (V8 heap);
 * the workers' chunk pools keep up to 2 MiB. 16 MiB is 25 times below what the io_uring
 * trickle bug cost (+427 MiB with this load at b4949e9) and under half of what the slowloris
 * load holds (35 MiB), so a load held twice fails.
 */
const MARGIN_HELD = 16 * MiB;
/**
 * Allowed above the RSS before a case, once its connections are closed: 2.5 times the upward
 * noise. Unfinished frames kept after close (the slowloris load's 35 MiB) are well above it.
 */
const MARGIN_AFTER = 10 * MiB;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function xproxyListener(name: string, extra: Record<string, unknown>): unknown {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    per_connection_buffer_limit_bytes: LIMIT,
    filter_chains: [
      {
        filters: [
          {
            name: 'xmesh.x_proxy',
            typed_config: {
              '@type': X_PROXY_TYPE,
              stat_prefix: name,
              protocol: 'bolt',
              request_timeout: '10s',
              ...extra,
              route_config: { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ route: { cluster: 'sofa' } }] }] },
            },
          },
        ],
      },
    ],
  };
}

function config(sofaPort: number): unknown {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [
        // Loads that must be held (not cut by a timeout while the test measures them).
        xproxyListener('rpc', { frame_timeout: '20s' }),
        // Loads that must be cut.
        xproxyListener('stall', { frame_timeout: `${STALL_FRAME_TIMEOUT_MS}ms`, idle_timeout: `${STALL_IDLE_TIMEOUT_MS}ms` }),
      ],
      clusters: [staticCluster('sofa', [['127.0.0.1', sofaPort]])],
    },
  };
}

async function listenerPorts(x: XmeshProcess): Promise<Record<string, number>> {
  const r = await fetch(`http://${x.admin}/listeners?format=json`);
  const j = (await r.json()) as { listeners: Array<{ name: string; port: number }> };
  return Object.fromEntries(j.listeners.map((l) => [l.name, l.port]));
}

const stat = async (x: XmeshProcess, name: string): Promise<number> => (await adminStats(x.admin)).get(name) ?? 0;

/** Wait until xmesh has read every byte its clients on port sent (each accepted socket's receive queue empty). */
async function allRead(port: number, conns: number, timeoutMs = 5000): Promise<void> {
  let q: number[] = [];
  await waitFor(
    () => {
      q = acceptedRxQueues(port);
      return q.length >= conns && q.every((v) => v === 0);
    },
    timeoutMs,
    () => `${q.length} accepted sockets on :${port}, ${q.filter((v) => v > 0).length} with unread bytes`,
    50,
  );
}

for (const backend of ['io_uring', 'epoll'] as const) {
  describe(`hostile Bolt clients against xmesh run --io-backend ${backend}`, () => {
    const dir = mkdtempSync(join(tmpdir(), `xmesh-hostile-${backend}-`));
    let sofa: SofaServer | undefined;
    let x: XmeshProcess | undefined;
    let client: SofaClient | undefined;
    let pid = 0;
    let ports: Record<string, number> = {};
    let baseline = 0;
    let open: HostileConn[] = [];

    /** Wait until `want` connections are open on listener name (the warm-up client keeps one on "rpc"). */
    const connectionsGone = (name: string, want: number) =>
      waitFor(async () => (await stat(x!, `listener.${name}.downstream_cx_active`)) === want, 5000, () => `listener.${name}.downstream_cx_active != ${want}`, 50);

    /** RSS once the connections of a case are closed: waits (bounded) for xmesh to give memory back. */
    async function rssAfter(before: number): Promise<number> {
      await waitFor(() => rssBytes(pid) <= before + MARGIN_AFTER, 3000, () => 'RSS not back', 100).catch(() => undefined); // the caller asserts
      return steadyRss(pid);
    }

    before(async () => {
      sofa = await startSofaServer({ version: '1.0', services: [{ interfaceName: IFACE }] });
      x = await startXmesh(dir, config(sofa.port), 2, { args: ['--io-backend', backend, '--drain-time-s', '0'] });
      pid = x.child.pid!;
      assert.match(x.stderr(), new RegExp(`"ioBackend":"${backend}"`), `xmesh runs ${backend}`);
      ports = await listenerPorts(x);
      // Warm-up: a call through the proxy (upstream connection, route, buffers) and the admin
      // pages the test polls, so the baseline is what an idle, already-used xmesh holds.
      client = makeSofaClient({ address: `127.0.0.1:${ports.rpc}`, responseTimeout: 10_000 });
      for (let i = 0; i < 10; i++) assert.deepEqual(((await client.invoke(IFACE, '1.0', 'echo', [i])) as { args: unknown[] }).args, [i]);
      for (let i = 0; i < 40; i++) await adminStats(x.admin);
      baseline = await steadyRss(pid);
    });

    after(async () => {
      await closeAll(open);
      await client?.close();
      if (x && x.child.exitCode === null) {
        const killer = setTimeout(() => x!.child.kill('SIGKILL'), 5000); // never leave it behind
        await x.stop();
        clearTimeout(killer);
      }
      await sofa?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('trickle: 100 connections x 1,500 single bytes into ~1 MiB frames cost about a chunk each, not a buffer per read', async (t) => {
      try {
        const conns = 100;
        const bytes = 1500;
        const before = await steadyRss(pid);
        open = await openConns(ports.rpc, conns);
        await Promise.all(open.map((c, i) => c.write(boltHead(i + 1, LIMIT - BOLT_HEAD_LEN - 4096))));
        const one = Buffer.from('x');
        const deadline = Date.now() + 20_000;
        let peak = 0;
        for (let b = 0; b < bytes; b++) {
          assert.ok(Date.now() < deadline, `trickle round ${b} after 20 s`);
          for (const c of open) c.socket.write(one);
          // One byte per connection per round, and xmesh gets to read each round on its own.
          await sleep(1);
          if (b % 250 === 249) {
            await allRead(ports.rpc, conns);
            peak = Math.max(peak, rssBytes(pid));
          }
        }
        await allRead(ports.rpc, conns);
        peak = Math.max(peak, await steadyRss(pid));
        assert.equal(open.filter((c) => c.closedByPeer()).length, 0, 'every trickling connection is still open (held, not cut)');
        const sent = conns * (BOLT_HEAD_LEN + bytes);
        const bound = conns * 2 * CHUNK + MARGIN_HELD;
        t.diagnostic(`${backend} trickle: baseline ${mib(baseline)}, before ${mib(before)}, peak ${mib(peak)} (+${mib(peak - before)}), ${sent} bytes sent, bound +${mib(bound)}`);
        assert.ok(peak - before <= bound, `RSS grew ${mib(peak - before)} for ${sent} bytes sent on ${conns} connections (bound ${mib(bound)})`);

        await closeAll(open);
        open = [];
        await connectionsGone('rpc', 1);
        const back = await rssAfter(before);
        t.diagnostic(`${backend} trickle: after close ${mib(back)} (${mib(back - before)} over before)`);
        assert.ok(back <= before + MARGIN_AFTER, `RSS ${mib(back - before)} above where it was once the trickling connections closed (margin ${mib(MARGIN_AFTER)})`);
      } finally {
        await closeAll(open); // even when it failed: the next case starts clean
        open = [];
      }
    });

    it('a frame above the buffer limit is refused when its length is read (decode_error.too_large); one just under it is answered', async () => {
      try {
        const n = 10;
        const tooLarge0 = await stat(x!, 'xproxy.rpc.decode_error.too_large');
        open = await openConns(ports.rpc, n);
        // The header alone says 2 MiB: xmesh closes before the body arrives.
        await Promise.all(open.map((c, i) => c.write(boltHead(i + 1, 2 * LIMIT))));
        await Promise.race([Promise.all(open.map((c) => c.closed)), sleep(3000)]);
        assert.equal(open.filter((c) => c.closedByPeer()).length, n, 'every connection announcing a frame above the limit is closed');
        await waitFor(async () => (await stat(x!, 'xproxy.rpc.decode_error.too_large')) - tooLarge0 === n, 3000, () => 'decode_error.too_large', 50);
        await closeAll(open);
        open = [];

        // 900 KiB of argument: a frame under the 1 MiB limit, answered by the real upstream.
        const big = 'a'.repeat(900 * 1024);
        const r = (await client!.invoke(IFACE, '1.0', 'echo', [big])) as { args: string[] };
        assert.equal(r.args[0].length, big.length);
        assert.equal(await stat(x!, 'xproxy.rpc.decode_error.too_large'), tooLarge0 + n, 'the frame under the limit is not refused');
      } finally {
        await closeAll(open); // even when it failed: the next case starts clean
        open = [];
      }
    });

    it('slowloris: 40 connections holding 900 KiB of unfinished frames stay under limit x 40 + margin, and are given back after close', async (t) => {
      try {
        const conns = 40;
        const before = await steadyRss(pid);
        const part = Buffer.alloc(900 * 1024, 'b');
        open = await openConns(ports.rpc, conns);
        await Promise.all(open.map((c, i) => c.write(Buffer.concat([boltHead(i + 1, LIMIT - BOLT_HEAD_LEN - 1024), part]))));
        await allRead(ports.rpc, conns);
        const peak = await steadyRss(pid);
        assert.equal(open.filter((c) => c.closedByPeer()).length, 0, 'unfinished frames under the limit are held, not cut');
        const sent = conns * (BOLT_HEAD_LEN + part.length);
        const bound = conns * LIMIT + MARGIN_HELD;
        t.diagnostic(`${backend} slowloris: before ${mib(before)}, peak ${mib(peak)} (+${mib(peak - before)}), ${mib(sent)} held by the clients' frames, bound +${mib(bound)}`);
        assert.ok(peak - before >= sent / 2, `RSS grew only ${mib(peak - before)} while xmesh holds ${mib(sent)}: not measuring the right process?`);
        assert.ok(peak - before <= bound, `RSS grew ${mib(peak - before)} for ${conns} unfinished frames of ${mib(part.length)} (bound ${mib(bound)})`);

        await closeAll(open);
        open = [];
        await connectionsGone('rpc', 1);
        const back = await rssAfter(before);
        t.diagnostic(`${backend} slowloris: after close ${mib(back)} (${mib(back - before)} over before, ${mib(back - baseline)} over the baseline)`);
        assert.ok(back <= before + MARGIN_AFTER, `RSS still ${mib(back - before)} above where it was once the ${conns} connections with unfinished frames closed (margin ${mib(MARGIN_AFTER)}): memory not given back`);
      } finally {
        await closeAll(open); // even when it failed: the next case starts clean
        open = [];
      }
    });

    it('a partial frame then silence is cut at frame_timeout and counted; its memory is given back', async (t) => {
      try {
        const conns = 20;
        const before = await steadyRss(pid);
        const frameTimeouts0 = await stat(x!, 'xproxy.stall.downstream_cx_frame_timeout');
        const idleTimeouts0 = await stat(x!, 'xproxy.stall.downstream_cx_idle_timeout');
        open = await openConns(ports.stall, conns);
        const t0 = Date.now();
        await Promise.all(open.map((c, i) => c.write(Buffer.concat([boltHead(i + 1, LIMIT - BOLT_HEAD_LEN - 1024), Buffer.alloc(512 * 1024, 'p')]))));
        await allRead(ports.stall, conns);
        const held = rssBytes(pid);
        await Promise.race([Promise.all(open.map((c) => c.closed)), sleep(STALL_FRAME_TIMEOUT_MS + 3000)]);
        const took = Date.now() - t0;
        assert.equal(open.filter((c) => c.closedByPeer()).length, conns, 'every stalled connection is closed');
        assert.ok(took >= STALL_FRAME_TIMEOUT_MS * 0.9, `closed after ${took} ms: not before the frame timeout (${STALL_FRAME_TIMEOUT_MS} ms)`);
        await waitFor(async () => (await stat(x!, 'xproxy.stall.downstream_cx_frame_timeout')) - frameTimeouts0 === conns, 3000, () => 'downstream_cx_frame_timeout', 50);
        assert.equal(await stat(x!, 'xproxy.stall.downstream_cx_idle_timeout'), idleTimeouts0, 'cut by the frame timeout, not the idle timeout');
        await closeAll(open);
        open = [];
        await connectionsGone('stall', 0);
        const back = await rssAfter(before);
        t.diagnostic(`${backend} partial frames: closed ${took} ms after they began (frame_timeout ${STALL_FRAME_TIMEOUT_MS} ms); RSS before ${mib(before)}, held ${mib(held)}, after ${mib(back)} (${mib(back - before)} over before)`);
        assert.ok(back <= before + MARGIN_AFTER, `RSS still ${mib(back - before)} above where it was once the stalled frames were cut (margin ${mib(MARGIN_AFTER)})`);
      } finally {
        await closeAll(open); // even when it failed: the next case starts clean
        open = [];
      }
    });

    it('a connection that sends nothing is closed at idle_timeout and counted', async () => {
      try {
        const conns = 5;
        const idleTimeouts0 = await stat(x!, 'xproxy.stall.downstream_cx_idle_timeout');
        const t0 = Date.now();
        open = await openConns(ports.stall, conns);
        await Promise.race([Promise.all(open.map((c) => c.closed)), sleep(STALL_IDLE_TIMEOUT_MS + 3000)]);
        const took = Date.now() - t0;
        assert.equal(open.filter((c) => c.closedByPeer()).length, conns, 'every silent connection is closed');
        assert.ok(took >= STALL_IDLE_TIMEOUT_MS * 0.9, `closed after ${took} ms: not before the idle timeout (${STALL_IDLE_TIMEOUT_MS} ms)`);
        await waitFor(async () => (await stat(x!, 'xproxy.stall.downstream_cx_idle_timeout')) - idleTimeouts0 === conns, 3000, () => 'downstream_cx_idle_timeout', 50);
      } finally {
        await closeAll(open); // even when it failed: the next case starts clean
        open = [];
      }
    });
  });
}
