/** `xmesh version`: xmesh, node and (when the addon loads) native data-plane versions. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadDataPlaneModule } from './dataplane-loader';

/** The version in the nearest package.json named "xmesh" above this file. */
export function xmeshVersion(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'xmesh' && pkg.version) return pkg.version;
      } catch {
        /* keep looking */
      }
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}

export function versionText(): string {
  let native: string;
  try {
    native = loadDataPlaneModule().nativeVersion();
  } catch (err) {
    native = `unavailable (${(err as Error).message})`;
  }
  return `xmesh ${xmeshVersion()}\nnode ${process.version}\nnative ${native}\n`;
}
