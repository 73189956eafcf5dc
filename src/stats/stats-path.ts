/**
 * Checks the --stats-path file before the data plane maps it, so a bad path is reported with
 * the path and the reason ("directory /x does not exist") rather than a bare errno string.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

function code(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

/** Why `path` cannot back the stats block (created if missing, then read and written), or undefined. */
export function statsPathProblem(path: string): string | undefined {
  if (path === '') return 'the path is empty';
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    if (code(e) !== 'ENOENT') return `cannot stat it (${code(e)})`;
    const dir = dirname(resolve(path));
    let ds;
    try {
      ds = statSync(dir);
    } catch (e2) {
      return code(e2) === 'ENOENT' ? `directory ${dir} does not exist` : `cannot stat directory ${dir} (${code(e2)})`;
    }
    if (!ds.isDirectory()) return `${dir} is not a directory`;
    try {
      accessSync(dir, constants.W_OK);
    } catch (e2) {
      return `cannot create the file in ${dir} (${code(e2)})`;
    }
    return undefined;
  }
  if (st.isDirectory()) return 'it is a directory (give a file name)';
  if (!st.isFile()) return 'it is not a regular file';
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
  } catch (e) {
    return `it is not readable and writable (${code(e)})`;
  }
  return undefined;
}
