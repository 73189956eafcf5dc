/** The error shapes configuration code reports: an issue names the field path it is about. */

export interface ConfigIssue {
  /** Dotted field path, e.g. `static_resources.clusters[2].lb_policy`; "" for the document itself. */
  path: string;
  message: string;
}

export function formatIssue(i: ConfigIssue): string {
  return i.path ? `${i.path}: ${i.message}` : i.message;
}

/** Thrown by loadConfig() when a file cannot be read, parsed or validated; carries every error. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly errors: ConfigIssue[],
    readonly warnings: ConfigIssue[] = [],
  ) {
    super(
      `${file}: ${errors.length} configuration error${errors.length === 1 ? '' : 's'}:\n` +
        errors.map((e) => `  ${formatIssue(e)}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}
