/** `xmesh validate --config FILE...`: checks every file and prints every error and warning with its field path. */
import { ConfigError, formatIssue } from '../config/errors';
import { loadConfigFile } from '../config/load';
import { EXIT, type ExitCode } from './exit-codes';

export function validateFiles(files: readonly string[], out: (line: string) => void): ExitCode {
  let bad = 0;
  for (const f of files) {
    try {
      const { warnings } = loadConfigFile(f);
      for (const w of warnings) out(`${f}: warning: ${formatIssue(w)}`);
      out(`${f}: OK`);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      bad++;
      for (const e of err.errors) out(`${f}: ${formatIssue(e)}`);
      for (const w of err.warnings) out(`${f}: warning: ${formatIssue(w)}`);
      out(`${f}: INVALID (${err.errors.length} error${err.errors.length === 1 ? '' : 's'})`);
    }
  }
  return bad === 0 ? EXIT.OK : EXIT.BAD_CONFIG;
}
