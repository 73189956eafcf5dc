/**
 * Envoy-style socket_options through a real `xmesh run`: TCP_CONGESTION set on the listener
 * reaches the accepted sockets, and on the cluster (upstream_bind_config) the upstream
 * sockets, while the client and the upstream server keep the system default (read back with
 * `ss -ti` from the kernel). A reload with a refused option or with changed options on a
 * running listener is rejected with its reason and the running config keeps serving.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { staticCluster, tcpProxyListener } from '../config/helpers';
import { startXmesh } from './xmesh-process';

const dir = mkdtempSync(join(tmpdir(), 'xmesh-sockopt-'));
let upstream: net.Server;
let upPort = 0;

before(async () => {
  upstream = net.createServer((c) => {
    c.on('error', () => undefined); // xmesh may reset the upstream side (shutdown, RST propagation): not this test's failure
    c.pipe(c);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  upPort = (upstream.address() as net.AddressInfo).port;
});
after(() => {
  upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

const ccOption = (cc: string, state?: string) => ({ level: 6, name: 13, buf_value: Buffer.from(cc).toString('base64'), ...(state ? { state } : {}) });

function config(listenerCc: string, upstreamCc: string): Record<string, unknown> {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [{ ...tcpProxyListener('edge', 0, 'echo'), socket_options: [ccOption(listenerCc, 'STATE_LISTENING')] }],
      clusters: [staticCluster('echo', [['127.0.0.1', upPort]], { upstream_bind_config: { socket_options: [ccOption(upstreamCc)] } })],
    },
  };
}

/** Congestion control of each established loopback socket touching one of the ports, by "local peer". */
function congestionByPair(ports: number[]): Map<string, string> {
  const filter = ports.map((p) => `sport = :${p} or dport = :${p}`).join(' or ');
  const out = execFileSync('ss', ['-tinH', 'state', 'established', `( ${filter} )`], { encoding: 'utf8' });
  const m = new Map<string, string>();
  let pair = '';
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    if (!/^\s/.test(line)) {
      const f = line.trim().split(/\s+/);
      pair = `${f[2]} ${f[3]}`;
    } else if (pair) {
      m.set(pair, line.trim().split(/\s+/)[0]);
      pair = '';
    }
  }
  return m;
}

function echo(port: number, msg: string): Promise<net.Socket> {
  return new Promise((res, rej) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(msg));
    s.setEncoding('utf8');
    let got = '';
    s.on('data', (d: string) => {
      got += d;
      if (got === msg) res(s);
    });
    s.on('error', rej);
    setTimeout(() => rej(new Error(`no echo through port ${port}`)), 5000).unref();
  });
}

test('socket_options: TCP_CONGESTION on xmesh sockets only; refused or changed options keep the running config', async () => {
  const system = readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim();
  const available = readFileSync('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8').trim().split(/\s+/);
  const cc = ['reno', 'cubic', 'bbr'].find((x) => x !== system && available.includes(x));
  assert.ok(cc, `no congestion control other than ${system} available (${available.join(' ')})`);

  const x = await startXmesh(dir, config(cc, cc), 1);
  const open: net.Socket[] = [];
  try {
    const s = await echo(x.port, 'hello');
    open.push(s);
    const local = `127.0.0.1:${s.localPort}`;
    const byPair = congestionByPair([x.port, upPort]);
    // client -> xmesh listener: the client's socket keeps the default, xmesh's accepted one has cc
    assert.equal(byPair.get(`${local} 127.0.0.1:${x.port}`), system, `client socket: ${JSON.stringify([...byPair])}`);
    assert.equal(byPair.get(`127.0.0.1:${x.port} ${local}`), cc, `accepted socket: ${JSON.stringify([...byPair])}`);
    // xmesh -> upstream: xmesh's upstream socket has cc, the server's accepted one the default
    const up = [...byPair].filter(([pair]) => pair.endsWith(` 127.0.0.1:${upPort}`));
    const server = [...byPair].filter(([pair]) => pair.startsWith(`127.0.0.1:${upPort} `));
    assert.deepEqual(up.map(([, v]) => v), [cc], `upstream socket: ${JSON.stringify([...byPair])}`);
    assert.deepEqual(server.map(([, v]) => v), [system], `server socket: ${JSON.stringify([...byPair])}`);

    // A reload with an option the kernel refuses: rejected with the cluster and option named.
    let mark = x.stderr().length;
    writeFileSync(x.file, JSON.stringify(config(cc, 'no-such-cc')));
    x.child.kill('SIGHUP');
    await x.waitLog(/cluster 'echo': upstream socket_options\[0\] \(level 6, name 13\): No such file or directory/, mark);
    open.push(await echo(x.port, 'still serving'));
    open.push(await echo(x.port, 'again'));

    // Changed options on the running listener: rejected, the socket keeps its options.
    mark = x.stderr().length;
    writeFileSync(x.file, JSON.stringify(config(system, cc)));
    x.child.kill('SIGHUP');
    await x.waitLog(/listener 'edge': socket_options differ from those of the running socket/, mark);
    const t = await echo(x.port, 'same socket');
    open.push(t);
    assert.equal(congestionByPair([x.port]).get(`127.0.0.1:${x.port} 127.0.0.1:${t.localPort}`), cc);
  } finally {
    for (const s of open) s.destroy();
    await x.stop();
  }
});
