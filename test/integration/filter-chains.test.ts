/**
 * Filter chains through a real `xmesh run`: one listener, chains chosen by Envoy's
 * filter_chain_match on the client's source address and port (loopback clients bind
 * 127.0.0.2 / 127.0.0.3), and a default chain for everything else; each chain's tcp_proxy
 * goes to its own upstream, which answers with its own name. Listener and chain stats count
 * each connection once; a listener without a default chain closes what no chain takes and
 * counts it as no_filter_chain_match.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { staticCluster, tcpProxyListener } from '../config/helpers';
import { startXmesh } from './xmesh-process';

const dir = mkdtempSync(join(tmpdir(), 'xmesh-chains-'));
const upstreams: net.Server[] = [];
const ports: Record<string, number> = {};

/** An upstream that writes its name and closes. */
async function namedUpstream(name: string): Promise<void> {
  const s = net.createServer((c) => {
    c.on('error', () => undefined);
    c.end(name);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  upstreams.push(s);
  ports[name] = (s.address() as net.AddressInfo).port;
}

/** What the proxy's upstream answered to a client bound to `from` (and a port, 0 = any). */
function ask(port: number, from: string, fromPort = 0): Promise<string> {
  return new Promise((res, rej) => {
    const c = net.connect({ host: '127.0.0.1', port, localAddress: from, localPort: fromPort || undefined });
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (got += d));
    c.on('close', () => res(got));
    c.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? res(got) : rej(e)));
    c.setTimeout(5000, () => c.destroy(new Error('timeout')));
  });
}

async function stats(admin: string): Promise<Map<string, number>> {
  const r = await fetch(`http://${admin}/stats`);
  const m = new Map<string, number>();
  for (const line of (await r.text()).split('\n')) {
    const i = line.lastIndexOf(': ');
    if (i > 0 && /^\d+$/.test(line.slice(i + 2))) m.set(line.slice(0, i), Number(line.slice(i + 2)));
  }
  return m;
}

function chain(name: string, cluster: string, match?: Record<string, unknown>): Record<string, unknown> {
  const fc = (tcpProxyListener('x', 0, cluster) as { filter_chains: Array<Record<string, unknown>> }).filter_chains[0];
  const filters = fc.filters as Array<{ typed_config: { stat_prefix: string } }>;
  filters[0].typed_config.stat_prefix = name;
  return { ...fc, name, ...(match ? { filter_chain_match: match } : {}) };
}

before(async () => {
  for (const n of ['two', 'three', 'other']) await namedUpstream(n);
});
after(() => {
  for (const s of upstreams) s.close();
  rmSync(dir, { recursive: true, force: true });
});

test('chains by source address and port, the most specific wins, the default chain takes the rest', async () => {
  const cfg = {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [
        {
          ...tcpProxyListener('edge', 0, 'other'),
          filter_chains: [
            chain('two', 'two', { source_prefix_ranges: [{ address_prefix: '127.0.0.2', prefix_len: 32 }] }),
            chain('wide', 'three', { source_prefix_ranges: [{ address_prefix: '127.0.0.0', prefix_len: 30 }] }),
          ],
          default_filter_chain: chain('rest', 'other'),
        },
      ],
      clusters: ['two', 'three', 'other'].map((n) => staticCluster(n, [['127.0.0.1', ports[n]]])),
    },
  };
  const x = await startXmesh(dir, cfg, 1);
  try {
    assert.equal(await ask(x.port, '127.0.0.2'), 'two'); // /32 beats /30
    assert.equal(await ask(x.port, '127.0.0.3'), 'three'); // only the /30 matches
    assert.equal(await ask(x.port, '127.0.0.1'), 'three'); // 127.0.0.0/30 holds .1 too
    assert.equal(await ask(x.port, '127.0.0.9'), 'other'); // no chain: the default
    const s = await stats(x.admin);
    assert.equal(s.get('listener.edge.downstream_cx_total'), 4);
    assert.equal(s.get('tcp.two.downstream_cx_total'), 1);
    assert.equal(s.get('tcp.wide.downstream_cx_total'), 2);
    assert.equal(s.get('tcp.rest.downstream_cx_total'), 1);
    assert.equal(s.get('listener.edge.no_filter_chain_match') ?? 0, 0);
  } finally {
    await x.stop();
  }
});

test('without a default chain, a connection no chain takes is closed and counted', async () => {
  const cfg = {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [{ ...tcpProxyListener('edge', 0, 'two'), filter_chains: [chain('two', 'two', { source_prefix_ranges: [{ address_prefix: '127.0.0.2', prefix_len: 32 }] })] }],
      clusters: [staticCluster('two', [['127.0.0.1', ports.two]])],
    },
  };
  const x = await startXmesh(dir, cfg, 1);
  try {
    assert.equal(await ask(x.port, '127.0.0.2'), 'two');
    assert.equal(await ask(x.port, '127.0.0.5'), ''); // closed, nothing proxied
    const s = await stats(x.admin);
    assert.equal(s.get('listener.edge.no_filter_chain_match'), 1);
    assert.equal(s.get('listener.edge.downstream_cx_active'), 0);
    assert.equal(s.get('tcp.two.downstream_cx_total'), 1);
  } finally {
    await x.stop();
  }
});
