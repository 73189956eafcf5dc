/**
 * The admin HTTP server (Envoy-compatible paths): readiness, stats in three formats, config
 * dump, listeners, clusters, logging, health-check override. Big pages are streamed in
 * chunks produced under a TimeSlice, so /ready answers while half a million stats are sent.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DataPlaneInfo, NativeStat, SnapshotMsg } from '../dataplane/types';
import { hostPort } from '../config/addresses';
import { PROMETHEUS_CONTENT_TYPE, prometheusChunks } from '../stats/prometheus';
import { jsonStatsChunks, textChunks } from '../stats/text';
import { jsonChunks } from '../util/json-stream';
import { isLogLevel, LOG_LEVELS, type Logging } from '../util/log';
import { TimeSlice } from '../util/time-slice';
import { clusterHosts, clustersTextChunks, formatListenersText } from './endpoints';
import { crossSiteRefusal, SAFE_METHODS } from './csrf';
import { memoryInfo, serverInfo, type ServerState } from './server-info';
import { compileFilterRegex } from './filter-regex';
import { streamBody } from './stream';

/** Bumped whenever the hot-restart protocol or the stats block layout changes incompatibly. */
export const HOT_RESTART_VERSION = 'xmesh.hr1.stats1';

/** What the admin server reads from the running proxy. */
export interface AdminSource {
  /** True once a snapshot has been applied to the data plane. */
  isLive(): boolean;
  /** True once listeners drain or shutdown has begun (/ready 503, /server_info DRAINING). */
  shuttingDown?(): boolean;
  /** POST /drain_listeners: the names of the listeners it stopped. Absent: 501. */
  drainListeners?(req: { inboundOnly: boolean; graceful: boolean }): Promise<string[]>;
  /** Native stats plus control-core stats. */
  stats(): NativeStat[];
  info(): DataPlaneInfo | undefined;
  snapshot(): SnapshotMsg | undefined;
  configDump(): unknown;
}

export interface AdminOptions {
  address: string;
  port: number;
  source: AdminSource;
  logging: Logging;
  /** POST /quitquitquit: begin a clean shutdown (called once the answer is sent). Absent: 501. */
  onQuit?: () => void;
  /** For /server_info: the version string and the command-line options in force. */
  version?: string;
  commandLine?: Record<string, unknown>;
}

type Handler = (req: IncomingMessage, url: URL, res: ServerResponse) => void | Promise<unknown>;
interface Route {
  methods: readonly string[];
  help: string;
  handler: Handler;
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json';

function headers(type: string): Record<string, string> {
  return { 'content-type': type, 'cache-control': 'no-cache, max-age=0', 'x-content-type-options': 'nosniff' };
}
function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, headers(type));
  res.end(body);
}
function sendJson(res: ServerResponse, status: number, v: unknown): void {
  send(res, status, JSON_TYPE, `${JSON.stringify(v, null, 2)}\n`);
}
/** A page that can be big: produced and sent in chunks. */
function stream(res: ServerResponse, type: string, body: AsyncIterable<string>): Promise<unknown> {
  return streamBody(res, 200, headers(type), body);
}

export class AdminServer {
  private server: Server | undefined;
  private healthFailed = false;
  /** POST /reset_counters: counter values at the reset, subtracted from what the pages show. */
  private counterBase = new Map<string, number>();
  private readonly routes: Map<string, Route>;
  private readonly log;

  constructor(private readonly opts: AdminOptions) {
    this.log = opts.logging.child('admin');
    const get = ['GET', 'HEAD'] as const;
    this.routes = new Map<string, Route>([
      ['/', { methods: get, help: 'this list', handler: (_q, _u, r) => send(r, 200, TEXT, this.index()) }],
      ['/ready', { methods: get, help: '200 LIVE once the data plane is configured; 503 before, while /healthcheck/fail is set, and once listeners drain', handler: (_q, _u, r) => this.ready(r) }],
      ['/stats', { methods: get, help: 'stats as "name: value" (?format=json|prometheus, ?filter=REGEX: linear-time, no backreferences or lookaround)', handler: (_q, u, r) => this.stats(u, r) }],
      ['/stats/prometheus', { methods: get, help: 'stats in Prometheus text format 0.0.4 (histograms in ms)', handler: (_q, _u, r) => this.prometheus(r) }],
      ['/config_dump', { methods: get, help: 'the effective configuration and snapshot (JSON)', handler: (_q, _u, r) => stream(r, JSON_TYPE, jsonChunks(this.opts.source.configDump(), new TimeSlice())) }],
      ['/listeners', { methods: get, help: 'listeners and their bound addresses (?format=json: also whether drained and the connections open)', handler: (_q, u, r) => this.listeners(u, r) }],
      ['/clusters', { methods: get, help: 'upstream hosts, health and per-host stats (?format=json)', handler: (_q, u, r) => this.clusters(u, r) }],
      ['/logging', { methods: ['GET', 'HEAD', 'POST'], help: `GET: current log level; POST ?level=${LOG_LEVELS.join('|')}: change it`, handler: (q, u, r) => this.logging(q, u, r) }],
      ['/healthcheck/fail', { methods: ['POST'], help: 'POST: make /ready answer 503 (drain from load balancers)', handler: (_q, _u, r) => this.setHealth(true, r) }],
      ['/healthcheck/ok', { methods: ['POST'], help: 'POST: undo /healthcheck/fail', handler: (_q, _u, r) => this.setHealth(false, r) }],
      ['/hot_restart_version', { methods: get, help: 'hot-restart compatibility string', handler: (_q, _u, r) => send(r, 200, TEXT, `${HOT_RESTART_VERSION}\n`) }],
      ['/server_info', { methods: get, help: 'version, state (PRE_INITIALIZING, LIVE, DRAINING), uptime, command-line options (JSON)', handler: (_q, _u, r) => sendJson(r, 200, this.serverInfo()) }],
      ['/memory', { methods: get, help: 'process RSS (/proc/self/statm) and V8 heap figures in bytes (JSON)', handler: (_q, _u, r) => sendJson(r, 200, memoryInfo()) }],
      ['/reset_counters', { methods: ['POST'], help: 'POST: show every counter from zero in /stats, /stats/prometheus and /clusters (the stats block itself is not reset)', handler: (_q, _u, r) => this.resetCounters(r) }],
      ['/drain_listeners', { methods: ['POST'], help: 'POST: stop accepting on every listener for good (?inboundonly: only traffic_direction INBOUND ones; ?graceful: also ask open connections to finish, x_proxy answers what is in flight then closes)', handler: (_q, u, r) => this.drainListeners(u, r) }],
      ['/quitquitquit', { methods: ['POST'], help: 'POST: shut down cleanly (as SIGTERM)', handler: (_q, _u, r) => this.quit(r) }],
    ]);
  }

  /** Bind and listen; resolves with the bound address (port 0 picks a free one). */
  async start(): Promise<{ address: string; port: number }> {
    const server = createServer((req, res) => this.dispatch(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address() as AddressInfo;
    this.log.info({ address: hostPort(a.address, a.port) }, 'admin listening');
    return { address: a.address, port: a.port };
  }

  address(): { address: string; port: number } | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { address: a.address, port: a.port } : undefined;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = this.routes.get(url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname);
    if (!route) {
      send(res, 404, TEXT, `unknown admin endpoint ${url.pathname}\n\n${this.index()}`);
      return;
    }
    const method = req.method ?? 'GET';
    if (!route.methods.includes(method)) {
      res.setHeader('allow', route.methods.join(', '));
      send(res, 405, TEXT, `${url.pathname} accepts ${route.methods.join(', ')}, not ${method}\n`);
      return;
    }
    if (!SAFE_METHODS.has(method)) {
      const refusal = crossSiteRefusal(req);
      if (refusal) {
        this.log.warn({ path: url.pathname, method, origin: req.headers.origin, reason: refusal }, 'admin request refused');
        send(res, 403, TEXT, `${method} ${url.pathname}: ${refusal}\n`);
        return;
      }
    }
    const failed = (err: unknown): void => {
      this.log.error({ err, path: url.pathname }, 'admin handler failed');
      if (!res.headersSent) send(res, 500, TEXT, `internal error: ${(err as Error).message}\n`);
      else res.destroy();
    };
    try {
      const p = route.handler(req, url, res);
      if (p) p.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  private index(): string {
    return [...this.routes].map(([p, r]) => `  ${r.methods.includes('POST') && !r.methods.includes('GET') ? 'POST ' : ''}${p}: ${r.help}`).join('\n') + '\n';
  }

  private ready(res: ServerResponse): void {
    if (!this.opts.source.isLive()) send(res, 503, TEXT, 'PRE_INITIALIZING\n');
    else if (this.healthFailed) send(res, 503, TEXT, 'HEALTHCHECK_FAILED\n');
    else if (this.opts.source.shuttingDown?.()) send(res, 503, TEXT, 'DRAINING\n');
    else send(res, 200, TEXT, 'LIVE\n');
  }

  /** Stats with counters shown from their last /reset_counters (none: the source's array as is). */
  private async readStats(slice: TimeSlice): Promise<NativeStat[]> {
    const raw = this.opts.source.stats();
    if (this.counterBase.size === 0) return raw;
    const out = new Array<NativeStat>(raw.length);
    for (let i = 0; i < raw.length; i++) {
      const s = raw[i];
      const base = s.type === 'counter' ? this.counterBase.get(s.key) : undefined;
      // A counter below its base was reset underneath (a new stats block): show it as it is.
      out[i] = s.type !== 'counter' || base === undefined || base > s.value ? s : { ...s, value: s.value - base };
      const t = slice.tick();
      if (t) await t;
    }
    return out;
  }

  private async prometheus(res: ServerResponse): Promise<void> {
    const slice = new TimeSlice();
    await stream(res, PROMETHEUS_CONTENT_TYPE, prometheusChunks(await this.readStats(slice), slice));
  }

  private async stats(url: URL, res: ServerResponse): Promise<void> {
    let filter: RegExp | undefined;
    const f = url.searchParams.get('filter');
    if (f) {
      const c = compileFilterRegex(f);
      if (c.status === 'refused') {
        send(res, 400, TEXT, `${c.message}\n`);
        return;
      }
      filter = c.regex;
    }
    const format = url.searchParams.get('format') ?? 'text';
    if (format !== 'json' && format !== 'prometheus' && format !== 'text') {
      send(res, 400, TEXT, `unknown format "${format}" (expected text, json or prometheus)\n`);
      return;
    }
    const slice = new TimeSlice();
    const stats = await this.readStats(slice);
    if (format === 'json') await stream(res, JSON_TYPE, jsonStatsChunks(stats, filter, slice));
    else if (format === 'prometheus') await stream(res, PROMETHEUS_CONTENT_TYPE, prometheusChunks(stats, slice));
    else await stream(res, TEXT, textChunks(stats, filter, slice));
  }

  private listeners(url: URL, res: ServerResponse): void {
    const info = this.opts.source.info();
    if (url.searchParams.get('format') === 'json') {
      sendJson(res, 200, { version: info?.version ?? 0, listeners: (info?.listeners ?? []).map((l) => ({ name: l.name, address: l.address, port: l.port, drained: l.drained ?? false, connections: l.connections ?? 0 })) });
    } else send(res, 200, TEXT, formatListenersText(info));
  }

  private async clusters(url: URL, res: ServerResponse): Promise<void> {
    const slice = new TimeSlice();
    const rows = await clusterHosts(this.opts.source.snapshot(), await this.readStats(slice), slice);
    if (url.searchParams.get('format') === 'json') await stream(res, JSON_TYPE, jsonChunks({ hosts: rows }, slice));
    else await stream(res, TEXT, clustersTextChunks(rows, slice));
  }

  private logging(req: IncomingMessage, url: URL, res: ServerResponse): void {
    const level = url.searchParams.get('level');
    if (req.method === 'POST') {
      if (!level || !isLogLevel(level)) {
        send(res, 400, TEXT, `usage: POST /logging?level=${LOG_LEVELS.join('|')}\n`);
        return;
      }
      const before = this.opts.logging.level;
      this.opts.logging.setLevel(level);
      this.log.info({ from: before, to: level }, 'log level changed');
    } else if (level) {
      res.setHeader('allow', 'POST');
      send(res, 405, TEXT, 'changing the log level needs POST /logging?level=LEVEL\n');
      return;
    }
    send(res, 200, TEXT, `level: ${this.opts.logging.level}\n`);
  }

  private state(): ServerState {
    if (!this.opts.source.isLive()) return 'PRE_INITIALIZING';
    return this.healthFailed || this.opts.source.shuttingDown?.() ? 'DRAINING' : 'LIVE';
  }

  private serverInfo(): ReturnType<typeof serverInfo> {
    return serverInfo({ version: this.opts.version ?? 'xmesh', state: this.state(), hotRestartVersion: HOT_RESTART_VERSION, commandLine: this.opts.commandLine ?? {} });
  }

  private async resetCounters(res: ServerResponse): Promise<void> {
    const slice = new TimeSlice();
    const base = new Map<string, number>();
    for (const s of this.opts.source.stats()) {
      if (s.type === 'counter') base.set(s.key, s.value);
      const t = slice.tick();
      if (t) await t;
    }
    this.counterBase = base;
    this.log.info({ counters: base.size }, 'counters reset (admin view)');
    send(res, 200, TEXT, 'OK\n');
  }

  private async drainListeners(url: URL, res: ServerResponse): Promise<void> {
    const drain = this.opts.source.drainListeners;
    if (!drain) {
      send(res, 501, TEXT, 'this admin server cannot drain listeners\n');
      return;
    }
    for (const k of url.searchParams.keys()) {
      if (k !== 'inboundonly' && k !== 'graceful') {
        send(res, 400, TEXT, `unknown parameter ${JSON.stringify(k)}: usage POST /drain_listeners[?inboundonly][&graceful]\n`);
        return;
      }
    }
    const req = { inboundOnly: url.searchParams.has('inboundonly'), graceful: url.searchParams.has('graceful') };
    this.log.warn(req, 'POST /drain_listeners');
    const names = await drain.call(this.opts.source, req);
    send(res, 200, TEXT, names.length ? `OK: drained ${names.join(', ')}\n` : 'OK: no listener left to drain\n');
  }

  private quit(res: ServerResponse): void {
    const onQuit = this.opts.onQuit;
    if (!onQuit) {
      send(res, 501, TEXT, 'this admin server cannot stop the process\n');
      return;
    }
    this.log.warn('POST /quitquitquit: shutting down');
    // The answer goes out first: shutdown closes this server and its connections.
    res.once('finish', () => setImmediate(onQuit));
    send(res, 200, TEXT, 'OK\n');
  }

  private setHealth(failed: boolean, res: ServerResponse): void {
    this.healthFailed = failed;
    this.log.warn({ failed }, failed ? 'health check forced to fail' : 'health check failure cleared');
    send(res, 200, TEXT, 'OK\n');
  }
}
