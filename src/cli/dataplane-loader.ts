/** Loads src/dataplane (the only module that touches the native addon) lazily, so `validate` and `version` work without it. */
import { join } from 'node:path';
import type { Watchdog } from '../dataplane/index';
import type { DataPlane, DataPlaneOptions } from '../dataplane/types';

export interface DataPlaneModule {
  createDataPlane(opts: DataPlaneOptions): DataPlane;
  nativeVersion(): string;
  /** The native stop watchdog; absent in a module without it (the tests' fake data plane). */
  watchdog?(): Watchdog;
}

/**
 * XMESH_DATAPLANE_MODULE overrides the module path; tests use it to run the CLI against a
 * fake data plane. Throws with a readable message when the module or addon cannot load.
 */
export function loadDataPlaneModule(): DataPlaneModule {
  const path = process.env.XMESH_DATAPLANE_MODULE || join(__dirname, '..', 'dataplane', 'index.js');
  let mod: Partial<DataPlaneModule>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(path) as Partial<DataPlaneModule>;
  } catch (err) {
    throw new Error(`cannot load the data plane (${path}): ${(err as Error).message.split('\n')[0]}. Was the native addon built (npm run build:native)?`);
  }
  if (typeof mod.createDataPlane !== 'function') throw new Error(`${path} does not export createDataPlane()`);
  return {
    createDataPlane: mod.createDataPlane.bind(mod),
    nativeVersion: typeof mod.nativeVersion === 'function' ? mod.nativeVersion.bind(mod) : () => 'unknown',
    watchdog: typeof mod.watchdog === 'function' ? mod.watchdog.bind(mod) : undefined,
  };
}
