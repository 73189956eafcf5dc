/** Hostile Bolt clients on raw loopback sockets: frames announced and never finished, bytes sent one at a time, connections held open. */
import { connect, type Socket } from 'node:net';

/** Length of a Bolt v1 request header. */
export const BOLT_HEAD_LEN = 22;

/**
 * A Bolt v1 request header (hessian2, empty class name and header map) announcing a body of
 * `body` bytes: the frame is BOLT_HEAD_LEN + body long, and a proxy knows that from here on.
 */
export function boltHead(id: number, body: number): Buffer {
  const b = Buffer.alloc(BOLT_HEAD_LEN);
  b[0] = 1; // proto v1
  b[1] = 1; // request
  b.writeUInt16BE(1, 2); // cmdcode: request
  b[4] = 1; // version
  b.writeUInt32BE(id, 5);
  b[9] = 1; // codec: hessian2
  b.writeUInt32BE(0, 10); // timeout
  b.writeUInt16BE(0, 14); // class name length
  b.writeUInt16BE(0, 16); // header map length
  b.writeUInt32BE(body, 18);
  return b;
}

/** A Bolt v1 heartbeat request (cmdcode 0, no body); x_proxy answers it itself with a 20-byte ack. */
export function boltHeartbeatFrame(id: number): Buffer {
  const b = boltHead(id, 0);
  b.writeUInt16BE(0, 2); // cmdcode: heartbeat
  return b;
}

/** Length of a Bolt v1 response header (an empty heartbeat ack is just that). */
const BOLT_RESPONSE_HEAD_LEN = 20;

/** A raw client connection that remembers what the server sent and when it closed it. */
export interface HostileConn {
  socket: Socket;
  /** Bytes received so far. */
  received(): number;
  /** True once the server ended or reset the connection. */
  closedByPeer(): boolean;
  /** Resolves when the server ends or resets the connection (never rejects). */
  closed: Promise<void>;
  /** Write buf; resolves once the kernel took it (or the connection is gone). */
  write(buf: Buffer): Promise<void>;
}

/**
 * Connect to 127.0.0.1:port. A connection the server resets during the handshake resolves
 * as one closed by the peer (a flood's surplus may be turned away that early); any other
 * connect error (refused: nothing listens) rejects.
 */
export function openConn(port: number): Promise<HostileConn> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let peerClosed = false;
    let got = 0;
    let onClosed!: () => void;
    const closed = new Promise<void>((r) => (onClosed = r));
    const mark = () => {
      peerClosed = true;
      onClosed();
    };
    const conn: HostileConn = {
      socket,
      received: () => got,
      closedByPeer: () => peerClosed,
      closed,
      write: (buf) =>
        new Promise<void>((res) => {
          if (socket.destroyed) return res();
          socket.write(buf, () => res());
        }),
    };
    socket.setNoDelay(true); // each write is its own segment, so each byte can be its own read
    socket.on('data', (d: Buffer) => (got += d.length));
    socket.on('end', mark);
    socket.on('close', mark);
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (!socket.connecting || e.code === 'ECONNRESET') mark(); // ECONNRESET / EPIPE: the server closed it
      else reject(e);
    });
    socket.once('connect', () => resolve(conn));
    closed.then(() => resolve(conn)); // reset before 'connect' (a no-op once resolved)
  });
}

/** Open n connections to port, at most 50 connecting at once. */
export async function openConns(port: number, n: number): Promise<HostileConn[]> {
  const out: HostileConn[] = [];
  for (let i = 0; i < n; i += 50) out.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => openConn(port)))));
  return out;
}

/** Destroy every connection and wait (up to 5 s) for each socket's close event. */
export async function closeAll(conns: HostileConn[]): Promise<void> {
  await Promise.race([
    Promise.all(
      conns.map(
        (c) =>
          new Promise<void>((r) => {
            if (c.socket.closed) return r();
            c.socket.once('close', () => r());
            c.socket.destroy();
          }),
      ),
    ),
    new Promise((r) => setTimeout(r, 5000).unref()),
  ]);
}

/**
 * Send a heartbeat on c and wait (up to timeoutMs) for its ack: true when xmesh answered,
 * false when the connection was closed or nothing came. Proves the connection is served.
 */
export async function heartbeatAnswered(c: HostileConn, id: number, timeoutMs = 2000): Promise<boolean> {
  if (c.closedByPeer()) return false;
  const want = c.received() + BOLT_RESPONSE_HEAD_LEN;
  await c.write(boltHeartbeatFrame(id));
  const end = Date.now() + timeoutMs;
  while (c.received() < want && !c.closedByPeer() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return c.received() >= want;
}
