/** Bodies of Envoy's /server_info and /memory: what the process is, how long it has run, and what memory it holds. */
import { readFileSync } from 'node:fs';

/** Envoy's server states that xmesh has (INITIALIZING is folded into PRE_INITIALIZING). */
export type ServerState = 'PRE_INITIALIZING' | 'LIVE' | 'DRAINING';

export interface ServerInfo {
  version: string;
  state: ServerState;
  hot_restart_version: string;
  command_line_options: Record<string, unknown>;
  /** Envoy's duration strings ("42s"); all epochs = current until hot restart hands over uptime. */
  uptime_current_epoch: string;
  uptime_all_epochs: string;
}

export function serverInfo(o: { version: string; state: ServerState; hotRestartVersion: string; commandLine: Record<string, unknown> }): ServerInfo {
  const up = `${Math.floor(process.uptime())}s`;
  return {
    version: o.version,
    state: o.state,
    hot_restart_version: o.hotRestartVersion,
    command_line_options: o.commandLine,
    uptime_current_epoch: up,
    uptime_all_epochs: up,
  };
}

/** AT_PAGESZ from the aux vector (arm64 kernels may use 16 or 64 KiB pages); 4096 if unreadable. */
function pageSize(): number {
  try {
    const auxv = readFileSync('/proc/self/auxv');
    for (let i = 0; i + 16 <= auxv.length; i += 16) {
      const type = auxv.readBigUInt64LE(i);
      if (type === 0n) break;
      if (type === 6n) return Number(auxv.readBigUInt64LE(i + 8));
    }
  } catch {
    /* not Linux, or /proc not mounted */
  }
  return 4096;
}

let page: number | undefined;

export interface MemoryInfo {
  /** Resident set of the whole process (JS heap, native data plane, stacks), from /proc/self/statm. */
  total_physical_bytes: number;
  /** Virtual size, from /proc/self/statm. */
  virtual_bytes: number;
  /** V8: heap reserved and used, off-heap memory held by JS objects, of which ArrayBuffers. */
  heap_size: number;
  allocated: number;
  external: number;
  array_buffers: number;
}

/** Memory figures; statm fields are omitted when /proc/self/statm cannot be read. */
export function memoryInfo(): Partial<MemoryInfo> {
  const m = process.memoryUsage();
  const out: Partial<MemoryInfo> = {};
  try {
    const [size, resident] = readFileSync('/proc/self/statm', 'utf8').split(' ').map(Number);
    page ??= pageSize();
    out.total_physical_bytes = resident * page;
    out.virtual_bytes = size * page;
  } catch {
    /* not Linux */
  }
  return { ...out, heap_size: m.heapTotal, allocated: m.heapUsed, external: m.external, array_buffers: m.arrayBuffers };
}
