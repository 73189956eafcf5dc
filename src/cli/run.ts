/** `xmesh run`: start the proxy, then handle SIGINT/SIGTERM (graceful stop) and SIGHUP (reload) until shutdown. */
import type { EventEmitter } from 'node:events';
import { ConfigError, formatIssue } from '../config/errors';
import type { Watchdog } from '../dataplane/index';
import type { DataPlane, DataPlaneOptions, IoBackend } from '../dataplane/types';
import { startServer, StartupError, type ServerHandle } from '../server';
import { Logging, type LogLevel } from '../util/log';
import { loadDataPlaneModule } from './dataplane-loader';
import { runDemoRequest, startDemoUpstream } from './demo';
import { EXIT, type ExitCode } from './exit-codes';
import { missingNodeFlags } from './node-flags';
import { xmeshVersion } from './version';

export interface RunOptions {
  config?: string;
  concurrency: number;
  logLevel: LogLevel;
  statsPath?: string;
  /** Stats block size in MiB (default DEFAULT_STATS_CAPACITY_MB). */
  statsCapacityMb?: number;
  ioBackend?: IoBackend;
  instance?: string;
  demo?: boolean;
  /** A SIGHUP reload may remove every listener (refused otherwise). */
  allowEmptyListeners?: boolean;
  /** On a stop signal: how long open connections get to finish (default DEFAULT_DRAIN_TIME_S). */
  drainTimeMs?: number;
}

export interface RunEnv {
  /** Where signals come from (default: process). */
  signals?: EventEmitter;
  createDataPlane?: (opts: DataPlaneOptions) => DataPlane;
  logging?: Logging;
  /** Human-readable error output (default: stderr). */
  errorOut?: (line: string) => void;
  /** Called once the proxy is ready (tests). */
  onReady?: (handle: ServerHandle) => void;
  shutdownDeadlineMs?: number;
  /** The native stop watchdog (default: the data plane module's, when it has one). */
  watchdog?: Watchdog;
}

/** The default config's demo cluster endpoint. */
export const DEMO_UPSTREAM = { host: '127.0.0.1', port: 10001 } as const;
/** Past the drain time: how long closing may take before the exit is forced. */
export const SHUTDOWN_DEADLINE_MS = 2000;
export const DEFAULT_DRAIN_TIME_S = 5;
/** The native watchdog acts this long after the control core's own deadline would have. */
export const WATCHDOG_MARGIN_MS = 1000;

export async function runCommand(opts: RunOptions, env: RunEnv = {}): Promise<ExitCode> {
  const signals = env.signals ?? process;
  const errorOut = env.errorOut ?? ((l: string) => process.stderr.write(`${l}\n`));
  const logging = env.logging ?? new Logging({ level: opts.logLevel, instance: opts.instance });
  const log = logging.child('cli');

  // The addon is loaded only when the data plane is created, i.e. after the config was accepted,
  // so a bad config reports exit 1 even on a machine without the native build.
  const deadlineMs = env.shutdownDeadlineMs ?? SHUTDOWN_DEADLINE_MS;
  const drainTimeMs = opts.drainTimeMs ?? DEFAULT_DRAIN_TIME_S * 1000;
  // The native watchdog enforces the deadlines below from a thread of its own, in case this
  // one is stuck (it cannot act otherwise). Re-armed after every change of signal listeners:
  // libuv reinstalls its handler then.
  let wd = env.watchdog;
  const armWatchdog = (): void => {
    try {
      wd?.arm(drainTimeMs + deadlineMs + WATCHDOG_MARGIN_MS, WATCHDOG_MARGIN_MS, EXIT.SHUTDOWN_FORCED);
    } catch (err) {
      log.warn({ err }, 'the native stop watchdog could not be armed: forced exits rely on the control thread alone');
      wd = undefined;
    }
  };
  const createDataPlane =
    env.createDataPlane ??
    ((o: DataPlaneOptions) => {
      const mod = loadDataPlaneModule();
      wd ??= mod.watchdog?.();
      armWatchdog();
      return mod.createDataPlane(o);
    });
  // Signals that arrive while starting up are held and acted on once the proxy is up (or dropped
  // if startup fails), so a SIGTERM right after "xmesh ready" is never the default kill. A
  // startup that hangs (DNS, a data plane that never answers) must not make SIGTERM useless:
  // the first stop signal arms the shutdown deadline, and the deadline or a second stop signal
  // abandons the startup (exit 4).
  const early: string[] = [];
  let abandon!: (code: ExitCode) => void;
  const abandoned = new Promise<ExitCode>((r) => (abandon = r));
  let startDeadline: NodeJS.Timeout | undefined;
  const hold = (sig: string): void => {
    early.push(sig);
    if (sig === 'SIGHUP') return;
    if (startDeadline === undefined) {
      log.info({ signal: sig }, 'stop requested while starting: stopping once started');
      startDeadline = setTimeout(() => {
        log.error({ deadlineMs }, 'shutdown deadline passed while starting: forcing exit');
        abandon(EXIT.SHUTDOWN_FORCED);
      }, deadlineMs);
    } else {
      log.warn({ signal: sig }, 'second signal while starting: forcing exit');
      abandon(EXIT.SHUTDOWN_FORCED);
    }
  };
  const releaseEarly = (): void => {
    clearTimeout(startDeadline);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) signals.off(s, hold);
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) signals.on(s, hold);
  // POST /quitquitquit: held like a signal until the stop handler below takes over.
  let requestStop = (why: string): void => hold(why);

  let demoServer: Awaited<ReturnType<typeof startDemoUpstream>> | undefined;
  if (opts.demo) {
    try {
      demoServer = await startDemoUpstream(DEMO_UPSTREAM.host, DEMO_UPSTREAM.port);
      log.info({ address: `${DEMO_UPSTREAM.host}:${DEMO_UPSTREAM.port}` }, 'demo upstream listening');
    } catch (err) {
      releaseEarly();
      errorOut(`xmesh: demo upstream cannot listen on ${DEMO_UPSTREAM.host}:${DEMO_UPSTREAM.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return EXIT.STARTUP_FAILED;
    }
  }

  let handle: ServerHandle;
  const abortStart = new AbortController();
  try {
    const started = startServer({
      configFile: opts.config,
      workers: opts.concurrency,
      statsPath: opts.statsPath,
      statsCapacity: opts.statsCapacityMb !== undefined ? opts.statsCapacityMb * 1024 * 1024 : undefined,
      ioBackend: opts.ioBackend,
      instance: opts.instance,
      logging,
      createDataPlane,
      allowEmptyListeners: opts.allowEmptyListeners,
      onQuit: () => requestStop('POST /quitquitquit'),
      version: `xmesh/${xmeshVersion()}`,
      commandLine: { ...opts, execArgv: process.execArgv },
      abort: abortStart.signal,
    });
    const outcome = await Promise.race([started, abandoned]);
    if (typeof outcome === 'number') {
      // Best effort (the admin server is closed; a hung apply stays hung): the caller exits the process.
      started.catch(() => undefined);
      abortStart.abort();
      releaseEarly();
      demoServer?.close();
      logging.flush();
      return outcome;
    }
    handle = outcome;
  } catch (err) {
    releaseEarly();
    demoServer?.close();
    if (err instanceof ConfigError) {
      log.error({ source: err.file, errors: err.errors.length }, 'invalid configuration');
      for (const e of err.errors) errorOut(`${err.file}: ${formatIssue(e)}`);
      logging.flush();
      return EXIT.BAD_CONFIG;
    }
    log.fatal({ err }, 'startup failed');
    errorOut(`xmesh: ${err instanceof StartupError ? err.message : (err as Error).stack}`);
    logging.flush();
    return EXIT.STARTUP_FAILED;
  }
  env.onReady?.(handle);
  const missing = missingNodeFlags();
  if (missing.length) log.warn({ missing, execArgv: process.execArgv }, 'node started without the flags bin/xmesh.js puts in its shebang');

  if (opts.demo) {
    const info = handle.info();
    const l = info.listeners.find((x) => x.name === 'demo') ?? info.listeners[0];
    if (l) void runDemoRequest(log, l.address, l.port);
    else log.warn('--demo: no listener to send the demo request through');
  }

  if (!handle.adminAddress()) log.warn('running without the admin server (no admin block): /ready, /stats and /quitquitquit are unavailable; stop with SIGTERM');

  return new Promise<ExitCode>((resolve) => {
    let stopping = false;
    let reloading: Promise<unknown> = Promise.resolve();
    let deadline: NodeJS.Timeout | undefined;
    // The proxy runs until a signal, whatever else holds the event loop: without an admin
    // server nothing on the JS side does (native workers do not), and node would exit 0.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const finish = (code: ExitCode): void => {
      clearInterval(keepAlive);
      clearTimeout(deadline);
      signals.off('SIGINT', onStop);
      signals.off('SIGTERM', onStop);
      signals.off('SIGHUP', onHup);
      logging.flush();
      resolve(code);
    };
    const onStop = (sig: string): void => {
      if (stopping) {
        log.warn({ signal: sig }, 'second signal: forcing exit');
        finish(EXIT.SHUTDOWN_FORCED);
        return;
      }
      stopping = true;
      if (!sig.startsWith('SIG')) wd?.stopping(); // a signal started the watchdog's count itself
      log.info({ signal: sig, drainTimeMs }, 'shutting down');
      if (process.env.XMESH_TEST_HANG_ON_STOP === '1') {
        // Tests only: a control thread that never returns, for the watchdog to end.
        for (;;);
      }
      deadline = setTimeout(() => {
        log.error({ deadlineMs: drainTimeMs + deadlineMs }, 'shutdown deadline passed: forcing exit');
        finish(EXIT.SHUTDOWN_FORCED);
      }, drainTimeMs + deadlineMs);
      void (async () => {
        try {
          // Not after the reload in progress: close() ends its config load (a worker thread)
          // and waits for an apply already under way.
          await handle.shutdown(drainTimeMs);
          await reloading;
          demoServer?.close();
          finish(EXIT.OK);
        } catch (err) {
          log.error({ err }, 'error during shutdown');
          finish(EXIT.SHUTDOWN_FORCED);
        }
      })();
    };
    const onHup = (): void => {
      if (stopping) return;
      log.info({ config: opts.config ?? '<embedded default>' }, 'SIGHUP: reloading configuration');
      reloading = reloading.then(() => handle.reload()).catch((err) => log.error({ err }, 'reload failed'));
    };
    signals.on('SIGINT', onStop);
    signals.on('SIGTERM', onStop);
    signals.on('SIGHUP', onHup);
    requestStop = onStop;
    releaseEarly();
    armWatchdog();
    for (const sig of early) {
      if (sig === 'SIGHUP') onHup();
      else onStop(sig);
    }
  });
}
