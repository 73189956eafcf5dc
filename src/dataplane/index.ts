/**
 * The only module that loads the native addon. It validates arguments before they reach
 * C (a TypeError names the bad one), encodes snapshots, and serialises apply/close so the
 * native side never sees two control operations at once.
 */
import * as path from 'node:path';
import { encodeSnapshot } from './snapshot';
import { IO_BACKENDS } from './types';
import type {
  DataPlane,
  DataPlaneEvent,
  DataPlaneInfo,
  DataPlaneOptions,
  NativeStat,
  OverloadActions,
  SnapshotMsg,
} from './types';

export * from './types';
export { encodeSnapshot, decodeSnapshot } from './snapshot';

interface NativeDataPlane {
  apply(bytes: Buffer): Promise<DataPlaneInfo>;
  info(): DataPlaneInfo;
  stats(): NativeStat[];
  setHostHealth(cluster: string, host: string, healthy: boolean): boolean;
  onEvent(fn: (evs: DataPlaneEvent[]) => void): void;
  drain(listeners: string[] | undefined, graceful: boolean): Promise<number>;
  statsOverflow(): { count: number; key: string };
  setOverload(stopAccepting: boolean, rejectIncoming: boolean): void;
  shed(minBytes: number): void;
  close(): Promise<void>;
}

interface NativeAddon {
  DataPlane: new (opts: { workers: number; statsPath?: string; statsCapacity?: number; ioBackend?: string }) => NativeDataPlane;
  version(): string;
  bpfProbe(): { ok: boolean; message: string };
  watchdogArm(deadlineMs: number, secondMs: number, exitCode: number): void;
  watchdogStopping(): void;
  watchdogDisarm(): void;
}

/** The stop watchdog (native/src/server/watchdog.h): a native thread that forces the exit when
 * the JavaScript thread cannot. */
export interface Watchdog {
  /** (Re)chain the SIGTERM/SIGINT handlers (after changing signal listeners) and set the
   * deadlines: deadlineMs after the first stop signal, secondMs after a second one. */
  arm(deadlineMs: number, secondMs: number, exitCode: number): void;
  /** A stop that did not come by signal (admin /quitquitquit): start the deadline. */
  stopping(): void;
  disarm(): void;
}

export function watchdog(): Watchdog {
  const a = loadAddon();
  return { arm: (d, s, c) => a.watchdogArm(d, s, c), stopping: () => a.watchdogStopping(), disarm: () => a.watchdogDisarm() };
}

const ADDON_PATH = path.resolve(__dirname, '..', '..', '..', 'build', 'Release', 'xmesh_native.node');
let addon: NativeAddon | undefined;

/** Load the addon once; the error says how to build it when it is missing. */
export function loadAddon(): NativeAddon {
  if (!addon) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      addon = require(ADDON_PATH) as NativeAddon;
    } catch (e) {
      const err = new Error(
        `cannot load the xmesh native addon (${ADDON_PATH}): ${(e as Error).message}. ` +
          'Build it with `npm run build` (after `npm run setup`).',
      );
      (err as Error & { code?: string }).code = 'XMESH_ADDON_MISSING';
      throw err;
    }
  }
  return addon;
}

export function nativeVersion(): string {
  return loadAddon().version();
}

/** Load, verify and test-run the eBPF probe program (nothing is attached). */
export function bpfProbe(): { ok: boolean; message: string } {
  return loadAddon().bpfProbe();
}

class NativeBackedDataPlane implements DataPlane {
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly listeners: Array<(ev: DataPlaneEvent) => void> = [];

  constructor(private readonly native: NativeDataPlane) {
    native.onEvent((evs) => {
      for (const ev of evs) for (const l of this.listeners) l(ev);
    });
  }

  apply(snapshot: SnapshotMsg): Promise<DataPlaneInfo> {
    if (this.closed) return Promise.reject(new Error('data plane is closed'));
    const bytes = Buffer.from(encodeSnapshot(snapshot));
    const run = this.chain.then(() => this.native.apply(bytes));
    this.chain = run.catch(() => undefined);
    return run;
  }

  info(): DataPlaneInfo {
    if (this.closed) return { workers: 0, version: 0, statsPath: '', listeners: [] };
    return this.native.info();
  }

  stats(): NativeStat[] {
    if (this.closed) return [];
    return this.native.stats();
  }

  setHostHealth(cluster: string, host: string, healthy: boolean): boolean {
    if (typeof cluster !== 'string' || typeof host !== 'string' || typeof healthy !== 'boolean') {
      throw new TypeError('setHostHealth(cluster: string, host: string, healthy: boolean)');
    }
    if (this.closed) return false;
    return this.native.setHostHealth(cluster, host, healthy);
  }

  onEvent(listener: (ev: DataPlaneEvent) => void): void {
    this.listeners.push(listener);
  }

  statsOverflow(): { count: number; key: string } {
    if (this.closed) return { count: 0, key: '' };
    return this.native.statsOverflow();
  }

  setOverload(a: OverloadActions): void {
    if (this.closed) return;
    this.native.setOverload(a.stopAccepting === true, a.rejectIncoming === true);
  }

  shed(minBytes: number): void {
    if (!(minBytes >= 1)) throw new TypeError('shed(minBytes: number >= 1)');
    if (this.closed) return;
    this.native.shed(minBytes);
  }

  drain(listeners: string[] | undefined, graceful: boolean): Promise<number> {
    if ((listeners !== undefined && (!Array.isArray(listeners) || listeners.some((n) => typeof n !== 'string'))) || typeof graceful !== 'boolean') {
      throw new TypeError('drain(listeners: string[] | undefined, graceful: boolean)');
    }
    if (this.closed) return Promise.reject(new Error('data plane is closed'));
    const run = this.chain.then(() => this.native.drain(listeners, graceful));
    this.chain = run.catch(() => undefined);
    return run;
  }

  close(): Promise<void> {
    if (this.closed) return this.chain.then(() => undefined);
    this.closed = true;
    const run = this.chain.then(() => this.native.close());
    this.chain = run.catch(() => undefined);
    return run;
  }
}

export function createDataPlane(opts: DataPlaneOptions): DataPlane {
  if (!Number.isInteger(opts.workers) || opts.workers < 1 || opts.workers > 256) {
    throw new TypeError(`workers: integer 1..256 expected, got ${String(opts.workers)}`);
  }
  if (opts.statsPath !== undefined && typeof opts.statsPath !== 'string') {
    throw new TypeError('statsPath: string expected');
  }
  if (opts.ioBackend !== undefined && !IO_BACKENDS.includes(opts.ioBackend)) {
    throw new TypeError(`ioBackend: one of ${IO_BACKENDS.join(', ')} expected, got ${String(opts.ioBackend)}`);
  }
  const { DataPlane: Ctor } = loadAddon();
  return new NativeBackedDataPlane(
    new Ctor({ workers: opts.workers, statsPath: opts.statsPath, statsCapacity: opts.statsCapacity, ioBackend: opts.ioBackend }),
  );
}
