/** The xmesh command line: `run`, `validate`, `version`, with usage errors mapped to exit code 2. */
import { availableParallelism } from 'node:os';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { IO_BACKENDS, type IoBackend } from '../dataplane/types';
import { LOG_LEVELS, type LogLevel } from '../util/log';
import { EXIT, EXIT_CODES_HELP, type ExitCode } from './exit-codes';
import type { RedirectEnv } from '../bpf/redirect';
import { registerRedirectCommand } from './redirect';
import { DEFAULT_STATS_CAPACITY_MB } from '../server';
import { DEFAULT_DRAIN_TIME_S, runCommand } from './run';
import { validateFiles } from './validate';
import { versionText, xmeshVersion } from './version';

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

const defaultIo: CliIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

function positiveInt(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1 || n > 1024) throw new InvalidArgumentError('expected an integer from 1 to 1024');
  return n;
}

function mebibytes(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65536) throw new InvalidArgumentError('expected MiB from 1 to 65536');
  return n;
}

function drainSeconds(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n) || n > 3600) throw new InvalidArgumentError('expected seconds from 0 to 3600 (e.g. 5 or 0.5)');
  return n;
}

/** Build the commander program; `setCode` receives the exit code of the command that ran. */
/** The CLI; redirectEnv replaces `xmesh redirect`'s loader and state (tests). */
export function buildProgram(io: CliIo, setCode: (c: ExitCode) => void, redirectEnv?: () => RedirectEnv): Command {
  const program = new Command('xmesh');
  program
    .description('xmesh: a service-mesh sidecar proxy with a native data plane (epoll or io_uring workers) and an Envoy v3 compatible configuration')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP);

  program
    .command('run')
    .description('run the proxy until SIGINT/SIGTERM (graceful) — SIGHUP reloads the config file')
    .option('-c, --config <file>', 'Envoy v3 bootstrap (YAML or JSON); default: the embedded demo config (listener 127.0.0.1:10000 -> 127.0.0.1:10001, admin 127.0.0.1:15000)')
    .option('--concurrency <n>', 'number of native worker threads', positiveInt, availableParallelism())
    .addOption(new Option('--log-level <level>', 'log level of the JSON logs on stderr').choices(LOG_LEVELS.filter((l) => l !== 'fatal')).default('info'))
    .option('--stats-path <path>', 'file backing the shared-memory stats block (kept across hot restarts); default: anonymous memory')
    .option('--stats-capacity-mb <MiB>', `size of the stats block; stats that do not fit are counted in stats.overflow_total and logged once (default ${DEFAULT_STATS_CAPACITY_MB})`, mebibytes)
    .addOption(
      new Option('--io-backend <backend>', 'worker socket I/O: io_uring (batched sends, fewer syscalls), epoll, or auto (io_uring when the kernel allows it, else epoll)')
        .choices(IO_BACKENDS)
        .env('XMESH_IO_BACKEND')
        .default('auto'),
    )
    .option('--instance <name>', 'instance name, added to every log line')
    .option('--demo', 'also start a demo HTTP upstream on 127.0.0.1:10001 and send one request through the demo listener')
    .option('--allow-empty-listeners', 'let a SIGHUP reload apply a config with no listeners (refused by default: the running listeners stay, as a truncated file is the likelier cause)')
    .option('--drain-time-s <seconds>', 'on SIGINT/SIGTERM, how long open connections get to finish after the listeners stop accepting (0: close at once)', drainSeconds, DEFAULT_DRAIN_TIME_S)
    .addHelpText(
      'after',
      `
Signals:
  SIGINT, SIGTERM  graceful shutdown, exit 0: every listener stops accepting (new connections are
                   refused, /ready answers 503 DRAINING), open connections get --drain-time-s to
                   finish (x_proxy ones answer what is in flight, then close; idle ones close at
                   once), then admin stops and the workers are joined. A second signal, or 2 s past
                   the drain time, forces exit 4, also while still starting; admin POST
                   /quitquitquit does the same as one signal
  SIGHUP           reload --config; an invalid file, or one that would remove every listener
                   (without --allow-empty-listeners), is logged and the running configuration
                   kept; a reload logs the listeners and clusters it added, changed and removed

Without an admin block xmesh runs without the admin server (a warning says so) until a signal.
${EXIT_CODES_HELP}`,
    )
    .action(async (o: { config?: string; concurrency: number; logLevel: LogLevel; statsPath?: string; statsCapacityMb?: number; ioBackend: IoBackend; instance?: string; demo?: boolean; allowEmptyListeners?: boolean; drainTimeS: number }) => {
      setCode(
        await runCommand({
          config: o.config,
          concurrency: o.concurrency,
          logLevel: o.logLevel,
          statsPath: o.statsPath,
          statsCapacityMb: o.statsCapacityMb,
          ioBackend: o.ioBackend,
          instance: o.instance,
          demo: o.demo,
          allowEmptyListeners: o.allowEmptyListeners,
          drainTimeMs: Math.round(o.drainTimeS * 1000),
        }),
      );
    });

  program
    .command('validate')
    .description('check configuration files and print every error with its field path ("FILE: path: message")')
    .requiredOption('-c, --config <files...>', 'one or more bootstrap files (YAML or JSON)')
    .addHelpText('after', `\nExit codes:\n  0  every file is valid (warnings may still be printed)\n  1  at least one file is invalid\n  2  usage error`)
    .action((o: { config: string[] }) => {
      setCode(validateFiles(o.config, (l) => io.out(`${l}\n`)));
    });

  program
    .command('version')
    .description('print the xmesh, node and native data-plane versions')
    .addHelpText('after', '\nExit codes:\n  0  always (the native version reads "unavailable" when the addon cannot load)')
    .action(() => {
      io.out(versionText());
      setCode(EXIT.OK);
    });

  registerRedirectCommand(program, io, setCode, redirectEnv);
  program.version(xmeshVersion(), '-V, --version', 'print the xmesh version');
  return program;
}

/** Parse argv (without node and script) and run; resolves with the exit code. */
export async function main(args: readonly string[], io: CliIo = defaultIo): Promise<ExitCode> {
  let code: ExitCode = EXIT.OK;
  const program = buildProgram(io, (c) => (code = c));
  if (args.length === 0) {
    program.outputHelp();
    return EXIT.USAGE;
  }
  try {
    await program.parseAsync([...args], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    io.err(`xmesh: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.STARTUP_FAILED;
  }
  return code;
}

/** Run as a program when loaded by bin/xmesh.js (or directly), not when imported by tests. */
const entry = require.main?.filename ?? '';
if (require.main === module || /[\\/]bin[\\/]xmesh(\.js)?$/.test(entry)) {
  // `xmesh run --help | head -1`: the reader went away; stop quietly instead of an EPIPE trace.
  // Only stdout: it carries help, version and validate output. The proxy's logs go to fd 2
  // through pino, never through process.stdout, so a running proxy cannot exit this way.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    // Native workers and timers are all closed by now; exit explicitly so a stray handle cannot keep us up.
    setImmediate(() => process.exit(code));
  });
}
