// Where things are: the repo root (found from the compiled file's location) and bench dirs.
import * as fs from 'node:fs';
import * as path from 'node:path';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bench'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`bench: cannot find the repo root above ${start}`);
    dir = up;
  }
}

export const ROOT = findRoot(__dirname);
export const BENCH_SRC = path.join(ROOT, 'bench');
export const BENCH_BUILD = path.join(ROOT, 'bench', 'build');
export const LOADGEN_SRC = path.join(ROOT, 'bench', 'loadgen');
export const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
