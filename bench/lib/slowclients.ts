// Slow (slowloris) clients: N loopback connections that send a few bytes when told and
// otherwise sleep. In the harness's own process: they cost next to nothing, and the harness
// knows exactly when each round of bytes was handed to the kernel.
import * as net from 'node:net';
import { sleep } from './procs';

/** connects in flight at once: keeps the proxy's accept backlog from overflowing */
const CONNECT_BATCH = 256;
const CONNECT_TIMEOUT_MS = 10_000;

export class SlowClients {
  private readonly socks: net.Socket[] = [];
  /** connections the peer closed (or reset) while we held them */
  closedByPeer = 0;

  private constructor(private readonly port: number) {}

  /** Opens n connections to 127.0.0.1:port (TCP_NODELAY: each write leaves at once). */
  static async open(port: number, n: number): Promise<SlowClients> {
    const c = new SlowClients(port);
    for (let i = 0; i < n; i += CONNECT_BATCH) {
      await Promise.all(Array.from({ length: Math.min(CONNECT_BATCH, n - i) }, () => c.connectOne()));
    }
    return c;
  }

  private connectOne(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port: this.port, noDelay: true });
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect to 127.0.0.1:${this.port} timed out`));
      }, CONNECT_TIMEOUT_MS);
      s.once('connect', () => {
        clearTimeout(t);
        this.socks.push(s);
        s.on('close', () => this.closedByPeer++);
        s.on('data', () => {}); // whatever comes back (an error frame) is dropped
        resolve();
      });
      s.on('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  /** connections still open */
  get alive(): number {
    return this.socks.filter((s) => !s.destroyed).length;
  }

  /** Writes bytes on every open connection; resolves when the kernel has taken all of them. */
  async send(bytes: Uint8Array): Promise<void> {
    await Promise.all(
      this.socks
        .filter((s) => !s.destroyed)
        .map((s) => new Promise<void>((resolve) => s.write(bytes, () => resolve()))),
    );
  }

  /** Closes every connection (FIN: nothing is left unread on our side) and waits, bounded,
   * until each is closed. */
  async close(timeoutMs = 5000): Promise<void> {
    for (const s of this.socks) {
      s.removeAllListeners('close');
      s.destroy();
    }
    const t0 = Date.now();
    while (this.socks.some((s) => !s.closed) && Date.now() - t0 < timeoutMs) await sleep(20);
  }
}
