/** Process exit codes of the xmesh CLI (also printed by --help). Signals never map to 128+n: a clean SIGINT/SIGTERM shutdown exits 0. */

export const EXIT = {
  /** Success, or a clean shutdown after SIGINT/SIGTERM. */
  OK: 0,
  /** The configuration is invalid (every error is printed with its field path). */
  BAD_CONFIG: 1,
  /** Bad command line: unknown command or option, missing or malformed argument. */
  USAGE: 2,
  /** The config was fine but the proxy could not start: port in use, native addon missing, data plane refused the snapshot. */
  STARTUP_FAILED: 3,
  /** Shutdown did not finish within the deadline (or a second signal arrived) and was forced. */
  SHUTDOWN_FORCED: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `
Exit codes:
  0  success; also a clean shutdown on SIGINT/SIGTERM
  1  invalid configuration (each error is printed as "path: message")
  2  usage error (unknown command/option, bad argument)
  3  startup failure (port in use, access log cannot be opened, native addon missing,
     snapshot refused, --io-backend io_uring refused by the kernel)
  4  shutdown forced (second signal, or not finished within 2 s)`;
