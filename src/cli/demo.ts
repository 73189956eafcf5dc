/** `xmesh run --demo`: a tiny in-process HTTP upstream plus one request through the proxy, to see xmesh work end to end. */
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../util/log';

export const DEMO_BODY = 'hello from the xmesh demo upstream\n';

/** Start the demo upstream on host:port (the default config's demo cluster: 127.0.0.1:10001). */
export async function startDemoUpstream(host: string, port: number): Promise<Server> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(DEMO_BODY);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  return server;
}

export interface DemoResult {
  status: number;
  body: string;
}

/** One GET through the proxy listener at host:port. */
export function demoRequest(host: string, port: number, timeoutMs = 5000): Promise<DemoResult> {
  return new Promise((resolve, reject) => {
    const req = get({ host, port, path: '/', timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export async function runDemoRequest(log: Logger, host: string, port: number): Promise<void> {
  try {
    const r = await demoRequest(host, port);
    log.info({ status: r.status, body: r.body.trim(), listener: `${host}:${port}` }, `demo request: ${r.status} "${r.body.trim()}" via xmesh`);
  } catch (err) {
    log.error({ err, listener: `${host}:${port}` }, 'demo request through xmesh failed');
  }
}

export function demoUpstreamAddress(server: Server): string {
  const a = server.address() as AddressInfo;
  return `${a.address}:${a.port}`;
}
