/**
 * The typed contract between the control core and the native data plane: the snapshot
 * messages, generated from proto/xmesh/dataplane/v1/snapshot.proto into src/gen (snake_case
 * as in the proto; `npm run gen`), and the DataPlane facade the rest of the control core uses.
 */
import { xmesh } from '../gen/xmesh/dataplane/v1/snapshot';

/** The generated package: message interfaces (`pb.ICluster`), classes with encode / decode /
 * verify (`pb.Snapshot`), enums (`pb.Cluster.LbPolicy`) and the limits both sides share
 * (`pb.Limits`). */
export import pb = xmesh.dataplane.v1;

/** A snapshot as the control core builds it: the generated message interface, every field
 * optional as in proto3 (translate sets each one the data plane needs, see DEFAULTS). */
export type SnapshotMsg = pb.ISnapshot;

/** One entry of the native stats block. `key` is the template form, e.g.
 * `cluster.{cluster=backend}.upstream_cx_total` (see native/src/stats.h). */
export type NativeStat =
  | { type: 'counter'; key: string; value: number }
  | { type: 'gauge'; key: string; value: number }
  | {
      type: 'histogram';
      key: string;
      count: number;
      sum: number; // microseconds
      /** non-empty buckets: [inclusive upper bound in microseconds, count] ascending */
      buckets: Array<[number, number]>;
    };

export interface ListenerInfo {
  name: string;
  address: string;
  port: number; // the bound port (useful when the config asked for port 0)
  fd: number; // -1 once drained
  /** Stopped for good by drain(). */
  drained?: boolean;
  /** Downstream connections it accepted that are still open (its downstream_cx_active gauge). */
  connections?: number;
}

/** How workers do socket I/O: see README "I/O backend". */
export type IoBackend = 'epoll' | 'io_uring' | 'auto';
export const IO_BACKENDS: readonly IoBackend[] = ['auto', 'epoll', 'io_uring'];

export interface DataPlaneInfo {
  workers: number;
  version: number; // snapshot version in force
  statsPath: string;
  /** The backend in force ('epoll' or 'io_uring': 'auto' resolved); '' once closed. */
  ioBackend?: string;
  listeners: ListenerInfo[];
}

export interface OverloadActions {
  stopAccepting: boolean;
  rejectIncoming: boolean;
}

export interface DataPlaneEvent {
  kind: 'log' | 'listener_error' | 'host_ejected' | 'host_unejected';
  subject: string;
  detail: string;
}

export interface DataPlaneOptions {
  workers: number;
  /** Backing file of the shared-memory stats block; undefined = anonymous memfd. */
  statsPath?: string;
  statsCapacity?: number;
  /** Default: XMESH_IO_BACKEND, else epoll (the CLI passes its --io-backend, default auto). */
  ioBackend?: IoBackend;
}

/** What the rest of the control core sees of the data plane. */
export interface DataPlane {
  /** Swap in a complete snapshot. Rejects (and keeps the running one) on failure,
   * e.g. a listener that cannot bind: the error message names the listener. */
  apply(snapshot: SnapshotMsg): Promise<DataPlaneInfo>;
  info(): DataPlaneInfo;
  stats(): NativeStat[];
  /** Mark a host healthy/unhealthy (active health checks). host = "ip:port". */
  setHostHealth(cluster: string, host: string, healthy: boolean): boolean;
  onEvent(listener: (ev: DataPlaneEvent) => void): void;
  /** Drain listeners (all when undefined): stop accepting for good and refuse new
   * connections. graceful: also ask existing ones to finish (x_proxy answers what is in
   * flight and then closes; idle ones close now; tcp_proxy pairs stay until close()).
   * Resolves with how many listeners this call drained (0 when they already were, or none
   * is named). */
  drain(listeners: string[] | undefined, graceful: boolean): Promise<number>;
  /** Stats entries that did not fit in the stats block (stats.overflow_total) and the first
   * one's key ('' when none). */
  statsOverflow(): { count: number; key: string };
  /** The overload manager's connection actions in force: stop accepting (new connections
   * wait in the backlog), reject incoming (accepted ones are closed and counted). */
  setOverload(actions: OverloadActions): void;
  /** reset_high_memory_stream, once: reset the client connections holding at least
   * minBytes of unfinished input. */
  shed(minBytes: number): void;
  /** Stop accepting, close connections, join the worker threads. */
  close(): Promise<void>;
}
