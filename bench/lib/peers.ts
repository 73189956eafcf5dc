// The proxies under test, each started with ONE worker in front of given upstream ports:
// direct (no proxy), xmesh (tcp_proxy), haproxy (mode tcp, nbthread 1), nginx (stream {}),
// xmesh-cubic: xmesh with `socket_options` setting TCP_CONGESTION=cubic on its own
// listener and upstream sockets (the peers and the endpoints keep the system default), and
// xmesh-epoll: xmesh with `--io-backend epoll` (xmesh itself runs `--io-backend auto`:
// io_uring where the kernel allows it), and xmesh-base: the same as xmesh but another
// checkout's build (XMESH_BASE_BIN), for before/after comparisons in one run.
// Configs are generated in the run's workdir; listen ports are picked free by binding 0.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as http from 'node:http';
import * as path from 'node:path';
import { NODE_FLAGS } from '../../src/cli/node-flags';
import { ROOT } from './paths';
import { pinPrefix, start, stop, Started, sleep, toolVersion } from './procs';

export const ALL_PATHS = ['direct', 'xmesh', 'xmesh-base', 'xmesh-epoll', 'xmesh-cubic', 'haproxy', 'nginx'] as const;
/** TCP_CONGESTION for the xmesh-cubic path (Linux: level IPPROTO_TCP 6, name 13). */
const XMESH_CUBIC_CC = 'cubic';
export type PathName = (typeof ALL_PATHS)[number];
/** Each path's colour in the bench's charts, the same in every scenario (Okabe–Ito palette). */
export const PATH_COLORS: Record<PathName, string> = {
  direct: '#999999', xmesh: '#0072B2', 'xmesh-base': '#D55E00', 'xmesh-epoll': '#56B4E9', 'xmesh-cubic': '#009E73', haproxy: '#E69F00', nginx: '#CC79A7',
};

const NGINX_STREAM_MOD = '/usr/lib/nginx/modules/ngx_stream_module.so';
/** The xmesh CLI to benchmark; XMESH_BIN overrides it (e.g. another checkout's build). */
export const XMESH_BIN = process.env.XMESH_BIN ?? path.join(ROOT, 'bin', 'xmesh.js');
/** The xmesh-base path's CLI: a baseline checkout's bin/xmesh.js (unset: the path is skipped). */
export const XMESH_BASE_BIN = process.env.XMESH_BASE_BIN;

export interface Route {
  name: string;
  upstreamPort: number;
  /** xmesh only: proxy this route at L7 with the x_proxy filter for this RPC protocol
   * ("bolt", "dubbo") instead of tcp_proxy. Peers without that protocol stay at L4. */
  xproxy?: string;
  /** xmesh only: the listener's per_connection_buffer_limit_bytes (unset: the control core's
   * default, 1 MiB); with x_proxy it also caps the frame a client may send */
  bufferLimitBytes?: number;
  /** xmesh x_proxy only: frame_timeout, how long a started frame may take to arrive whole
   * (unset: the default, 30 s) */
  frameTimeout?: string;
}

export interface RunningPath {
  name: PathName;
  /** null for direct */
  proc: Started | null;
  /** listen port per route name (the upstream port itself for direct) */
  ports: Record<string, number>;
  /** the command line that started it (for the report) */
  cmd: string;
}

export interface PeerOptions {
  cpu: number;
  workdir: string;
  /** connections the proxy must hold (mem scenario); sizes maxconn and fd limits */
  maxConns?: number;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Why a path cannot run here, or null if it can. */
export function unavailable(name: PathName): string | null {
  switch (name) {
    case 'direct':
      return null;
    case 'xmesh':
      return fs.existsSync(XMESH_BIN) ? null : `${path.relative(ROOT, XMESH_BIN)} not present yet`;
    case 'xmesh-epoll':
      return unavailable('xmesh');
    case 'xmesh-base':
      if (!XMESH_BASE_BIN) return 'XMESH_BASE_BIN not set (a baseline checkout\'s bin/xmesh.js)';
      return fs.existsSync(XMESH_BASE_BIN) ? null : `${XMESH_BASE_BIN} not present`;
    case 'xmesh-cubic':
      if (!fs.readFileSync('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8').split(/\s+/).includes(XMESH_CUBIC_CC))
        return `congestion control ${XMESH_CUBIC_CC} not available`;
      return unavailable('xmesh');
    case 'haproxy':
      return hasTool('haproxy') ? null : 'haproxy not installed (scripts/setup.sh --bench)';
    case 'nginx':
      if (!hasTool('nginx')) return 'nginx not installed (scripts/setup.sh --bench)';
      return fs.existsSync(NGINX_STREAM_MOD) ? null : `${NGINX_STREAM_MOD} missing (apt-get install libnginx-mod-stream)`;
  }
}

/** RLIMIT_NOFILE hard limit of this process (inherited by what we start). */
export function hardNofile(): number {
  const out = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  return out === 'unlimited' ? 1 << 20 : Number(out);
}

function hasTool(t: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, t)));
}

export function peerVersions(): Record<string, string> {
  return {
    node: process.version,
    haproxy: hasTool('haproxy') ? toolVersion(['haproxy', '-v']) : 'absent',
    nginx: hasTool('nginx') ? toolVersion(['nginx', '-v']) : 'absent',
  };
}

function tcpConnectable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

async function waitReady(proc: Started, ports: number[], timeoutMs: number, readyUrl?: string): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    let ok = true;
    if (readyUrl) ok = (await httpStatus(readyUrl)) === 200;
    for (const p of ports) if (ok) ok = await tcpConnectable(p);
    if (ok) return;
    const code = await Promise.race([proc.exited, sleep(100).then(() => 'running' as const)]);
    if (code !== 'running') throw new Error(`${proc.name} exited (${code}) during startup; see ${proc.logFile}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`${proc.name} not ready after ${timeoutMs} ms; see ${proc.logFile}`);
  }
}

export async function startPath(name: PathName, routes: Route[], o: PeerOptions): Promise<RunningPath> {
  if (name === 'direct') {
    return { name, proc: null, ports: Object.fromEntries(routes.map((r) => [r.name, r.upstreamPort])), cmd: '(none)' };
  }
  const why = unavailable(name);
  if (why) throw new Error(why);
  const ports: Record<string, number> = {};
  for (const r of routes) ports[r.name] = await freePort();
  const maxConns = o.maxConns ?? 4096;
  const logFile = path.join(o.workdir, `${name}.log`);
  let argv: string[];
  let readyUrl: string | undefined;
  if (name === 'xmesh' || name === 'xmesh-base' || name === 'xmesh-cubic' || name === 'xmesh-epoll') {
    const admin = await freePort();
    const cfg = path.join(o.workdir, `${name}.yaml`);
    fs.writeFileSync(cfg, xmeshYaml(admin, routes, ports, maxConns, name === 'xmesh-cubic' ? XMESH_CUBIC_CC : undefined));
    // without CAP_SYS_RESOURCE the hard limit is a ceiling: never ask for more than it
    const nofile = Math.min(hardNofile(), Math.max(65536, maxConns * 2 + 1024));
    argv = [...pinPrefix(o.cpu), 'prlimit', `--nofile=${nofile}:${nofile}`, process.execPath, ...NODE_FLAGS, name === 'xmesh-base' ? XMESH_BASE_BIN! : XMESH_BIN, 'run',
      '--config', cfg, '--concurrency', '1', '--log-level', 'warn', '--io-backend', name === 'xmesh-epoll' ? 'epoll' : 'auto'];
    readyUrl = `http://127.0.0.1:${admin}/ready`;
  } else if (name === 'haproxy') {
    const cfg = path.join(o.workdir, 'haproxy.cfg');
    fs.writeFileSync(cfg, haproxyCfg(routes, ports, maxConns));
    argv = [...pinPrefix(o.cpu), 'haproxy', '-db', '-f', cfg];
  } else {
    const cfg = path.join(o.workdir, 'nginx.conf');
    fs.mkdirSync(path.join(o.workdir, 'nginx'), { recursive: true });
    fs.writeFileSync(cfg, nginxConf(o.workdir, routes, ports, maxConns));
    argv = [...pinPrefix(o.cpu), 'nginx', '-e', path.join(o.workdir, 'nginx', 'error.log'), '-p',
      path.join(o.workdir, 'nginx'), '-c', cfg];
  }
  const proc = start(name, argv, logFile);
  try {
    await waitReady(proc, Object.values(ports), readyUrl ? 30_000 : 10_000, readyUrl);
    if (readyUrl) checkNodeFlags(proc);
  } catch (e) {
    await stop(proc);
    throw e;
  }
  return { name, proc, ports, cmd: argv.join(' ') };
}

/** The xmesh process must run with the node flags production uses (they change its GC
 * behaviour, hence the latency tail): read them back from /proc, not from our own argv. */
function checkNodeFlags(proc: Started): void {
  const argv = fs.readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').split('\0');
  const missing = NODE_FLAGS.filter((f) => !argv.includes(f));
  if (missing.length) throw new Error(`xmesh (pid ${proc.pid}) runs without ${missing.join(' ')}: ${argv.join(' ')}`);
}

export async function stopPath(p: RunningPath): Promise<void> {
  if (p.proc) await stop(p.proc);
}

function xmeshYaml(admin: number, routes: Route[], ports: Record<string, number>, maxConns: number, cc?: string): string {
  const ccOpt = cc ? `{ description: "TCP_CONGESTION ${cc}", level: 6, name: 13, buf_value: "${Buffer.from(cc).toString('base64')}" }` : '';
  const listenerOpts = cc ? `    socket_options: [ ${ccOpt} ]\n` : '';
  const clusterOpts = cc ? `    upstream_bind_config: { socket_options: [ ${ccOpt} ] }\n` : '';
  const filter = (r: Route) =>
    r.xproxy
      ? `      - name: xmesh.x_proxy
        typed_config:
          "@type": type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy
          stat_prefix: ${r.name}
          protocol: ${r.xproxy}
${r.frameTimeout ? `          frame_timeout: ${r.frameTimeout}\n` : ''}          route_config: { virtual_hosts: [ { name: all, domains: ["*"], routes: [ { route: { cluster: up_${r.name} } } ] } ] }
`
      : `      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: ${r.name}
          cluster: up_${r.name}
`;
  const listeners = routes.map((r) => `  - name: ${r.name}
    address: { socket_address: { address: 127.0.0.1, port_value: ${ports[r.name]} } }
${r.bufferLimitBytes ? `    per_connection_buffer_limit_bytes: ${r.bufferLimitBytes}\n` : ''}${listenerOpts}    filter_chains:
    - filters:
${filter(r)}`).join('');
  const clusters = routes.map((r) => `  - name: up_${r.name}
    type: STATIC
    connect_timeout: 1s
${clusterOpts}    circuit_breakers: { thresholds: [ { max_connections: ${maxConns + 1000}, max_pending_requests: ${maxConns + 1000}, max_requests: ${maxConns + 1000} } ] }
    load_assignment:
      cluster_name: up_${r.name}
      endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${r.upstreamPort} } } } } ] } ]
`).join('');
  return `admin: { address: { socket_address: { address: 127.0.0.1, port_value: ${admin} } } }
static_resources:
  listeners:
${listeners}  clusters:
${clusters}`;
}

/** Frontend connections a proxy may hold: each needs two fds, bounded by the hard limit. */
function proxyMaxConn(want: number): number {
  return Math.min(want + 1000, Math.floor((hardNofile() - 100) / 2));
}

function haproxyCfg(routes: Route[], ports: Record<string, number>, maxConns: number): string {
  const fe = routes.map((r) => `frontend fe_${r.name}
  bind 127.0.0.1:${ports[r.name]}
  default_backend be_${r.name}
backend be_${r.name}
  server up 127.0.0.1:${r.upstreamPort}
`).join('');
  return `global
  nbthread 1
  maxconn ${proxyMaxConn(maxConns)}
  tune.maxaccept 64
defaults
  mode tcp
  maxconn ${proxyMaxConn(maxConns)}
  timeout connect 5s
  timeout client 300s
  timeout server 300s
${fe}`;
}

function nginxConf(workdir: string, routes: Route[], ports: Record<string, number>, maxConns: number): string {
  const servers = routes.map((r) => `  server {
    listen 127.0.0.1:${ports[r.name]} backlog=4096;
    proxy_pass 127.0.0.1:${r.upstreamPort};
    proxy_timeout 300s;
  }
`).join('');
  return `load_module ${NGINX_STREAM_MOD};
worker_processes 1;
worker_rlimit_nofile ${Math.min(hardNofile(), maxConns * 2 + 1024)};
daemon off;
master_process on;
pid ${path.join(workdir, 'nginx', 'nginx.pid')};
error_log ${path.join(workdir, 'nginx', 'error.log')} warn;
events { worker_connections ${maxConns * 2 + 512}; multi_accept on; }
stream {
${servers}}
`;
}
