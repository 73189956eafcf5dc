/** Structured JSON logging for the control core: one pino root on stderr, a child per module, one level for all. */
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

export interface LoggingOptions {
  level?: LogLevel;
  instance?: string;
  /** Where JSON lines go; default stderr (fd 2), written synchronously so nothing is lost at exit. */
  destination?: pino.DestinationStream;
}

/**
 * Owns the root logger and every module child. pino children copy the level at creation,
 * so a level change (`/logging?level=`) has to be pushed to each child: this class does that.
 */
export class Logging {
  readonly root: Logger;
  private readonly children = new Map<string, Logger>();

  constructor(opts: LoggingOptions = {}) {
    const dest = opts.destination ?? pino.destination({ fd: 2, sync: true });
    this.root = pino(
      {
        level: opts.level ?? 'info',
        base: opts.instance ? { pid: process.pid, instance: opts.instance } : { pid: process.pid },
        timestamp: pino.stdTimeFunctions.isoTime,
        // Errors logged as { err } keep message, code and stack readable.
        serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
      },
      dest,
    );
  }

  /** The logger for one module ("config", "admin", "dns" ...); the same object on every call. */
  child(module: string): Logger {
    let l = this.children.get(module);
    if (!l) {
      l = this.root.child({ module });
      this.children.set(module, l);
    }
    return l;
  }

  get level(): LogLevel {
    return this.root.level as LogLevel;
  }

  setLevel(level: LogLevel): void {
    this.root.level = level;
    for (const c of this.children.values()) c.level = level;
  }

  /** Flush buffered output (a no-op for the synchronous default destination). */
  flush(): void {
    try {
      this.root.flush();
    } catch {
      /* destination already closed */
    }
  }
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogging(): Logging {
  return new Logging({ level: 'silent' });
}
