/**
 * Big admin pages are streamed and yield the event loop: with a fake stats source of 500,000
 * entries, /ready keeps answering within 200 ms (real admin server, real HTTP client) while
 * /stats/prometheus is produced; streamed JSON pages equal their one-shot form; a client
 * that leaves stops the producer.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { AdminServer, type AdminSource } from '../../src/admin/server';
import { streamBody, type StreamOutcome } from '../../src/admin/stream';
import type { NativeStat, SnapshotMsg } from '../../src/dataplane/types';
import { silentLogging } from '../../src/util/log';
import { manyStats } from '../cli/fake-dataplane';
import { tcpListener } from '../../src/dataplane/shapes';

const BIG = 500_000;
let stats: NativeStat[] = [];
let snapshot: SnapshotMsg = { version: 1, listeners: [], clusters: [] };
const source: AdminSource = {
  isLive: () => true,
  stats: () => stats,
  info: () => ({ workers: 1, version: 1, statsPath: '', listeners: [] }),
  snapshot: () => snapshot,
  configDump: () => ({ version: 1, snapshot }),
};
const admin = new AdminServer({ address: '127.0.0.1', port: 0, source, logging: silentLogging() });
let base = '';

before(async () => {
  base = `http://127.0.0.1:${(await admin.start()).port}`;
});
after(() => admin.close());

interface Got {
  status: number;
  body: string;
  ms: number;
}
function get(path: string, onData?: (chunk: string) => void): Promise<Got> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    http
      .get(base + path, { agent: false }, (r) => {
        const parts: string[] = [];
        r.setEncoding('utf8');
        r.on('data', (d: string) => {
          parts.push(d);
          onData?.(d);
        });
        r.on('end', () => res({ status: r.statusCode ?? 0, body: parts.join(''), ms: performance.now() - t0 }));
      })
      .on('error', rej);
  });
}

test('/ready answers within 200 ms while /stats/prometheus streams 500,000 stats', async () => {
  stats = manyStats(BIG);
  let done = false;
  const page = get('/stats/prometheus').finally(() => (done = true));
  const probes: number[] = [];
  while (!done) {
    const r = await get('/ready');
    assert.equal(r.status, 200);
    if (!done) probes.push(r.ms);
    await new Promise((r) => setTimeout(r, 20));
  }
  const p = await page;
  assert.equal(p.status, 200);
  const lines = p.body.split('\n');
  assert.equal(lines.filter((l) => l.startsWith('xmesh_cluster_host_rq_total{')).length, BIG);
  assert.equal(lines.filter((l) => l.startsWith('# TYPE ')).length, 1);
  assert.ok(probes.length >= 5, `only ${probes.length} /ready probes while the page was produced (${p.ms.toFixed(0)} ms)`);
  const sorted = [...probes].sort((a, b) => a - b);
  const worst = sorted[sorted.length - 1];
  assert.ok(worst < 200, `slowest /ready took ${worst.toFixed(0)} ms (median ${sorted[sorted.length >> 1].toFixed(0)} ms, ${probes.length} probes over ${p.ms.toFixed(0)} ms)`);
});

test('streamed /stats?format=json and /config_dump equal JSON.stringify of the same data', async () => {
  stats = manyStats(20_000);
  const json = JSON.parse((await get('/stats?format=json')).body) as { stats: Array<{ name: string; value: number }>; histograms: unknown[] };
  assert.equal(json.stats.length, 20_000);
  for (let i = 1; i < json.stats.length; i++) assert.ok(json.stats[i - 1].name <= json.stats[i].name, 'sorted by name');
  snapshot = {
    version: 7,
    listeners: [tcpListener('l', { address: '127.0.0.1', port: 0 }, { stat_prefix: 'l', cluster: 'c' })],
    clusters: [{ name: 'c', endpoints: Array.from({ length: 30_000 }, (_, i) => ({ address: { address: `10.0.${i >> 8}.${i & 255}`, port: 80 }, weight: 1 })) }],
  };
  const dump = await get('/config_dump');
  assert.equal(dump.body, `${JSON.stringify({ version: 1, snapshot }, null, 2)}\n`);
});

test('a client that goes away stops the producer of the page', async () => {
  let pulled = 0;
  let finished = false;
  let outcome: Promise<StreamOutcome> | undefined;
  async function* endless(): AsyncGenerator<string> {
    try {
      for (; pulled < 100_000; pulled++) {
        yield 'x'.repeat(64 * 1024);
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      finished = true;
    }
  }
  const server = http.createServer((_q, r) => (outcome = streamBody(r, 200, { 'content-type': 'text/plain' }, endless())));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    await new Promise<void>((res, rej) => {
      const req = http.get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { agent: false }, (r) => r.once('data', () => (req.destroy(), res())));
      req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : rej(e)));
    });
    assert.equal(await outcome, 'client_gone');
    assert.equal(finished, true, "the producer's finally ran");
    assert.ok(pulled < 1000, `${pulled} chunks produced after the client left`);
  } finally {
    server.close();
  }
});
