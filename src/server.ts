/** Orchestrates a running proxy: config -> data plane -> admin -> DNS -> snapshot, plus reload and shutdown. */
import { AdminServer } from './admin/server';
import { DnsResolver, type LookupFn } from './cluster/dns';
import { dnsTargets, type ResolvedAddresses } from './cluster/dns-targets';
import { hostPort } from './config/addresses';
import { loadDefaultConfig } from './config/default';
import { describeDiff, diffConfig } from './config/diff';
import { ConfigError, formatIssue, type ConfigIssue } from './config/errors';
import type { LoadedConfig } from './config/load';
import { LoadAbortedError, loadConfigFileAsync } from './config/load-async';
import { translate } from './config/translate';
import type { BootstrapCfg } from './config/types';
import { snapshotJson } from './dataplane/snapshot';
import type { DataPlane, DataPlaneInfo, DataPlaneOptions, IoBackend, NativeStat, SnapshotMsg } from './dataplane/types';
import { OverloadManager, overloadPlan } from './overload/manager';
import { ControlStats } from './stats/control-stats';
import { statsPathProblem } from './stats/stats-path';
import type { Logger, Logging } from './util/log';

export interface ServerOptions {
  /** Bootstrap file; undefined = the embedded default. */
  configFile?: string;
  workers: number;
  statsPath?: string;
  /** Size of the stats block in bytes (--stats-capacity-mb); undefined = the data plane's default. */
  statsCapacity?: number;
  /** Worker socket I/O: undefined = the data plane's default (XMESH_IO_BACKEND, else epoll). */
  ioBackend?: IoBackend;
  instance?: string;
  logging: Logging;
  /** Injected so tests can use a fake; the CLI passes src/dataplane's createDataPlane. */
  createDataPlane: (opts: DataPlaneOptions) => DataPlane;
  /** DNS lookup override (tests). */
  lookup?: LookupFn;
  /**
   * Let a reload remove every listener (--allow-empty-listeners). Off: such a reload is
   * refused and the running configuration kept, since it is far more often a truncated or
   * half-written file than an intent to stop serving.
   */
  allowEmptyListeners?: boolean;
  /** Admin POST /quitquitquit: begin a clean shutdown, as SIGTERM does. */
  onQuit?: () => void;
  /** Admin /server_info: version string and the command-line options in force. */
  version?: string;
  commandLine?: Record<string, unknown>;
  /** Aborted when the caller gives up on a startup that hangs: what was started is closed. */
  abort?: AbortSignal;
}

const MiB = 1024 * 1024;
/** The data plane's stats block size without --stats-capacity-mb (native/src/server/dp.c). */
export const DEFAULT_STATS_CAPACITY_MB = 256;
const STATS_OVERFLOW_CHECK_MS = 60_000;

/** Why startServer failed after the config was accepted (port in use, addon error ...): exit code 3. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/**
 * A StartupError whose message already says what `err` says. `err`'s stack frames, when it has
 * any (errors from the addon do not), replace the StartupError's own; `err` is not attached as
 * a `cause`, which pino's serializer would print as "X: X".
 */
function startupError(message: string, err: unknown): StartupError {
  const e = new StartupError(message);
  const frames = err instanceof Error ? (err.stack ?? '').indexOf('\n    at ') : -1;
  if (frames >= 0) e.stack = `StartupError: ${message}${(err as Error).stack!.slice(frames)}`;
  return e;
}

/** POST /drain_listeners, or the first step of a graceful stop. */
export interface DrainRequest {
  /** Only listeners with traffic_direction INBOUND. */
  inboundOnly?: boolean;
  /** Also ask their open connections to finish (else only accepting stops). */
  graceful?: boolean;
}

export type ReloadOutcome =
  | { status: 'applied'; version: number; warnings: ConfigIssue[] }
  | { status: 'rejected'; errors: ConfigIssue[] }
  | { status: 'apply_failed'; error: string };

export interface ServerHandle {
  readonly controlStats: ControlStats;
  /** Bound admin address, if an admin block is configured. */
  adminAddress(): { address: string; port: number } | undefined;
  info(): DataPlaneInfo;
  /** Re-read the config file; an invalid file or a failed apply leaves the running snapshot in place. */
  reload(): Promise<ReloadOutcome>;
  /** Stop accepting on listeners for good (/ready answers 503 DRAINING from then on);
   * resolves with the names this call stopped. */
  drainListeners(req: DrainRequest): Promise<string[]>;
  /** Graceful stop: drain every listener, wait up to drainTimeMs for their connections to
   * finish (x_proxy answers what is in flight first), then close(). */
  shutdown(drainTimeMs: number): Promise<void>;
  /** Stop DNS refresh and admin, close the data plane (joins native workers). Idempotent. */
  close(): Promise<void>;
}

/** The embedded default, or the file (a big one parsed on a worker thread: the loop stays free). */
function loadConfig(file: string | undefined, abort?: AbortSignal): Promise<LoadedConfig> {
  return file === undefined ? Promise.resolve(loadDefaultConfig()) : loadConfigFileAsync(file, abort);
}

function logIssues(log: Logger, level: 'warn' | 'error', source: string, issues: readonly ConfigIssue[]): void {
  for (const i of issues) log[level]({ source, path: i.path }, formatIssue(i));
}

class Server implements ServerHandle {
  readonly controlStats = new ControlStats();
  private readonly log: Logger;
  private readonly dns: DnsResolver;
  private admin: AdminServer | undefined;
  private dp!: DataPlane;
  private overload: OverloadManager | undefined;
  private loaded: LoadedConfig;
  private snapshot: SnapshotMsg | undefined;
  private version = 0;
  private live = false;
  /** stats.overflow_total was logged (once: the line names the first entry that did not fit). */
  private overflowLogged = false;
  private overflowTimer: NodeJS.Timeout | undefined;
  /** A drain ran: /ready answers 503 DRAINING. */
  private draining = false;
  private closing: Promise<void> | undefined;
  /** Aborted by close(): ends a reload's config load that is still on its worker thread. */
  private readonly closeAbort = new AbortController();
  /** set when start() fails, so the stop line says why */
  private startFailed = false;
  /** Applies are serialized so a DNS-triggered push and a reload never race. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly opts: ServerOptions,
    loaded: LoadedConfig,
  ) {
    this.log = opts.logging.child('server');
    this.loaded = loaded;
    this.dns = new DnsResolver({
      lookup: opts.lookup,
      log: opts.logging.child('dns'),
      onLookup: (_t, outcome) => this.controlStats.inc(outcome === 'ok' ? 'dns_resolutions' : 'dns_failures'),
      onChange: (resolved) => {
        this.controlStats.inc('dns_changes');
        void this.push(this.loaded.config, resolved).catch((err) => this.log.error({ err }, 'snapshot push after DNS change failed; keeping the running snapshot'));
      },
    });
  }

  async start(): Promise<void> {
    const { opts } = this;
    if (opts.statsPath !== undefined) {
      const problem = statsPathProblem(opts.statsPath);
      if (problem) throw new StartupError(`--stats-path ${opts.statsPath}: ${problem}`);
    }
    try {
      this.dp = opts.createDataPlane({ workers: opts.workers, statsPath: opts.statsPath, statsCapacity: opts.statsCapacity, ioBackend: opts.ioBackend });
    } catch (err) {
      // The addon says "data plane start failed: <errno text>": do not say it twice.
      const why = (err as Error).message.replace(/^data plane start failed: /, '');
      const file = opts.statsPath !== undefined && !/io_uring/.test(why) ? ` (stats block file --stats-path ${opts.statsPath})` : '';
      throw startupError(`cannot start the data plane: ${why}${file}`, err);
    }
    const dpLog = opts.logging.child('dataplane');
    this.dp.onEvent((ev) => {
      const fields = { kind: ev.kind, subject: ev.subject };
      if (ev.kind === 'listener_error') dpLog.error(fields, ev.detail);
      else if (ev.kind === 'log') dpLog.info(fields, ev.detail);
      else dpLog.warn(fields, ev.detail);
    });
    try {
      // Admin first, so /ready can answer 503 while the first snapshot is being built.
      await this.startAdmin(this.loaded.config);
      this.throwIfClosed();
      const resolved = await this.dns.resolveAll(dnsTargets(this.loaded.config));
      this.throwIfClosed();
      await this.push(this.loaded.config, resolved);
    } catch (err) {
      this.startFailed = true;
      await this.close();
      if (err instanceof StartupError) throw err;
      throw startupError((err as Error).message, err);
    }
    this.dns.startRefresh();
    this.overload = new OverloadManager({ dp: this.dp, log: this.opts.logging.child('overload'), stats: this.controlStats });
    this.overload.configure(overloadPlan(this.loaded.config));
    // Workers add stats while running too (per-method stats of x_proxy): look now and then.
    this.overflowTimer = setInterval(() => this.checkStatsOverflow(), STATS_OVERFLOW_CHECK_MS);
    this.overflowTimer.unref();
    const info = this.dp.info();
    this.log.info(
      {
        listeners: info.listeners.map((l) => `${l.name}=${hostPort(l.address, l.port)}`),
        admin: this.adminAddress() ? hostPort(this.adminAddress()!.address, this.adminAddress()!.port) : 'disabled',
        workers: info.workers,
        ioBackend: info.ioBackend,
        version: info.version,
        config: this.loaded.source,
      },
      'xmesh ready',
    );
  }

  /** close() ran while start() was waiting (an abandoned startup): undo what started since. */
  private throwIfClosed(): void {
    if (this.closing === undefined) return;
    void this.admin?.close();
    throw new StartupError('startup abandoned');
  }

  private async startAdmin(cfg: BootstrapCfg): Promise<void> {
    const sa = cfg.admin?.address?.socket_address;
    if (!sa) return;
    const admin = new AdminServer({
      address: sa.address,
      port: sa.port_value ?? 0,
      logging: this.opts.logging,
      onQuit: this.opts.onQuit,
      version: this.opts.version,
      commandLine: this.opts.commandLine,
      source: {
        isLive: () => this.live,
        shuttingDown: () => this.draining || this.closing !== undefined,
        drainListeners: (req) => this.drainListeners(req),
        stats: () => this.stats(),
        info: () => (this.live ? this.dp.info() : undefined),
        snapshot: () => this.snapshot,
        configDump: () => ({
          source: this.loaded.source,
          version: this.snapshot?.version ?? 0,
          warnings: this.loaded.warnings.map(formatIssue),
          config: this.loaded.config,
          snapshot: this.snapshot ? snapshotJson(this.snapshot) : null,
        }),
      },
    });
    try {
      await admin.start();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new StartupError(`admin server cannot listen on ${hostPort(sa.address, sa.port_value ?? 0)}: ${e.code ?? e.message}`);
    }
    this.admin = admin;
  }

  private stats(): NativeStat[] {
    let native: NativeStat[] = [];
    try {
      native = this.dp.stats();
    } catch (err) {
      this.log.warn({ err }, 'reading native stats failed');
    }
    return [...native, ...this.controlStats.toStats()];
  }

  /** Translate and apply (serialized). Rejects if the data plane refuses; the running snapshot stays. */
  private push(cfg: BootstrapCfg, resolved: ResolvedAddresses): Promise<DataPlaneInfo> {
    const run = async (): Promise<DataPlaneInfo> => {
      const version = ++this.version;
      const t = translate(cfg, resolved, version);
      for (const w of t.warnings) this.log.warn({ path: w.path }, w.message);
      try {
        const info = await this.dp.apply(t.snapshot);
        this.checkStatsOverflow();
        this.snapshot = t.snapshot;
        this.live = true;
        this.controlStats.inc('snapshot_apply_ok');
        this.controlStats.set('snapshot_version', version);
        this.controlStats.set('live', 1);
        return info;
      } catch (err) {
        this.controlStats.inc('snapshot_apply_failed');
        throw err;
      }
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Log, once, that the stats block is full: which entry did not fit first, and the fix. */
  private checkStatsOverflow(): void {
    if (this.overflowLogged) return;
    const { count, key } = this.dp.statsOverflow();
    if (count === 0) return;
    this.overflowLogged = true;
    this.log.error(
      { overflow: count, first: key, statsCapacityMb: this.opts.statsCapacity !== undefined ? this.opts.statsCapacity / MiB : DEFAULT_STATS_CAPACITY_MB },
      `the stats block is full: "${key}" and later new stats have no room (their values are lost; stats.overflow_total counts them). Start xmesh with a larger --stats-capacity-mb`,
    );
  }

  adminAddress(): { address: string; port: number } | undefined {
    return this.admin?.address();
  }

  info(): DataPlaneInfo {
    return this.dp.info();
  }

  async reload(): Promise<ReloadOutcome> {
    const source = this.opts.configFile ?? '<embedded default>';
    let next: LoadedConfig;
    try {
      next = await loadConfig(this.opts.configFile, this.closeAbort.signal);
      if (this.closing) throw new LoadAbortedError();
    } catch (err) {
      if (err instanceof LoadAbortedError) {
        this.log.info({ source }, 'config reload abandoned: shutting down');
        return { status: 'rejected', errors: [{ path: '', message: 'shutting down' }] };
      }
      const errors = err instanceof ConfigError ? err.errors : [{ path: '', message: (err as Error).message }];
      this.controlStats.inc('config_reload_failed');
      logIssues(this.log, 'error', source, errors);
      this.log.error({ source, errors: errors.length }, 'config reload rejected; keeping the running configuration');
      return { status: 'rejected', errors };
    }
    logIssues(this.log, 'warn', source, next.warnings);
    const diff = await diffConfig(this.loaded.config, next.config);
    const running = this.loaded.config.static_resources?.listeners?.length ?? 0;
    if (running > 0 && (next.config.static_resources?.listeners?.length ?? 0) === 0 && !this.opts.allowEmptyListeners) {
      const errors = [{ path: 'static_resources.listeners', message: `the new configuration has no listeners: the reload would remove every running listener (${diff.listeners.removed.join(', ')}); start xmesh with --allow-empty-listeners to allow that` }];
      this.controlStats.inc('config_reload_failed');
      logIssues(this.log, 'error', source, errors);
      this.log.error({ source, removed: diff.listeners.removed }, 'config reload refused: it would remove every listener; keeping the running configuration');
      return { status: 'rejected', errors };
    }
    const oldAdmin = this.loaded.config.admin?.address?.socket_address;
    const newAdmin = next.config.admin?.address?.socket_address;
    if (JSON.stringify(oldAdmin) !== JSON.stringify(newAdmin)) {
      this.log.warn('admin address changes take effect on restart only');
    }
    try {
      const resolved = await this.dns.resolveAll(dnsTargets(next.config));
      if (this.closing) {
        this.log.info({ source }, 'config reload abandoned: shutting down');
        return { status: 'rejected', errors: [{ path: '', message: 'shutting down' }] };
      }
      const info = await this.push(next.config, resolved);
      this.loaded = next;
      this.overload?.configure(overloadPlan(next.config));
      if (!this.closing) this.dns.startRefresh();
      this.controlStats.inc('config_reload_ok');
      this.log.info({ source, version: info.version, listeners: diff.listeners, clusters: diff.clusters }, `config reloaded: ${describeDiff(diff)}`);
      return { status: 'applied', version: info.version, warnings: next.warnings };
    } catch (err) {
      this.controlStats.inc('config_reload_failed');
      // DNS targets of the rejected config were resolved; restore the running config's set.
      if (!this.closing) {
        await this.dns.resolveAll(dnsTargets(this.loaded.config)).catch(() => undefined);
        if (!this.closing) this.dns.startRefresh();
      }
      this.log.error({ err, source }, 'data plane rejected the reloaded config; keeping the running snapshot');
      return { status: 'apply_failed', error: (err as Error).message };
    }
  }

  async drainListeners(req: DrainRequest): Promise<string[]> {
    if (!this.live || this.closing) return [];
    const configured = this.loaded.config.static_resources?.listeners ?? [];
    const names = req.inboundOnly ? configured.filter((l) => l.traffic_direction === 'INBOUND').map((l) => l.name) : undefined;
    this.draining = true;
    if (names?.length === 0) return [];
    const before = new Set(this.dp.info().listeners.filter((l) => l.drained).map((l) => l.name));
    await this.dp.drain(names, req.graceful ?? false);
    const drained = this.dp.info().listeners.filter((l) => l.drained && !before.has(l.name)).map((l) => l.name);
    this.log.warn({ listeners: drained, graceful: req.graceful ?? false, inboundOnly: req.inboundOnly ?? false }, 'listeners drained: new connections are refused');
    return drained;
  }

  /** Downstream connections still open on the listeners in force. */
  private openConnections(): number {
    let n = 0;
    for (const l of this.dp.info().listeners) n += l.connections ?? 0;
    return n;
  }

  async shutdown(drainTimeMs: number): Promise<void> {
    if (this.live && !this.closing && drainTimeMs > 0) {
      const started = Date.now();
      try {
        await this.drainListeners({ graceful: true });
        let open = this.openConnections();
        this.log.info({ connections: open, drainTimeMs }, 'draining: waiting for open connections to finish');
        while (open > 0 && Date.now() - started < drainTimeMs && !this.closing) {
          await new Promise((r) => setTimeout(r, Math.min(50, drainTimeMs)));
          open = this.openConnections();
        }
        const ms = Date.now() - started;
        if (open > 0) this.log.warn({ connections: open, ms }, 'drain time over: closing the connections still open');
        else this.log.info({ ms }, 'drained: no connection open');
      } catch (err) {
        this.log.error({ err }, 'drain failed: closing now');
      }
    }
    await this.close();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.live = false;
      clearInterval(this.overflowTimer);
      this.overload?.stop();
      this.closeAbort.abort();
      this.dns.stop();
      await this.admin?.close();
      await this.chain;
      await this.dp?.close();
      this.log.info(this.startFailed ? 'xmesh stopped: startup failed' : 'xmesh stopped');
    })();
    return this.closing;
  }
}

/** Load config and bring everything up. Throws ConfigError (bad config) or StartupError (environment). */
export async function startServer(opts: ServerOptions): Promise<ServerHandle> {
  const log = opts.logging.child('config');
  const loaded = await loadConfig(opts.configFile, opts.abort);
  logIssues(log, 'warn', loaded.source, loaded.warnings);
  const server = new Server(opts, loaded);
  opts.abort?.addEventListener('abort', () => void server.close(), { once: true });
  await server.start();
  return server;
}
