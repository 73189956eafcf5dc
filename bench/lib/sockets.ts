// Loopback TCP sockets from /proc/net/tcp: how many connections a port has and how many bytes
// sit in their kernel queues (what a proxy has not read yet, or what a client has not sent).
import * as fs from 'node:fs';

/** TCP states in /proc/net/tcp (include/net/tcp_states.h) that hold no connection to count. */
const TCP_TIME_WAIT = 0x06;
const TCP_LISTEN = 0x0a;

export interface PortSockets {
  /** sockets bound to the port (a server's side), in any state but LISTEN and TIME_WAIT */
  local: number;
  /** bytes received on them and not yet read by their owner */
  localRx: number;
  /** sockets connected to the port (the clients' side) */
  remote: number;
  /** bytes written on them that the kernel has not delivered yet */
  remoteTx: number;
}

/** One pass over /proc/net/tcp (IPv4: the bench binds 127.0.0.1 only) for each port asked. */
export function portSockets(...ports: number[]): PortSockets[] {
  const out = ports.map(() => ({ local: 0, localRx: 0, remote: 0, remoteTx: 0 }));
  const text = fs.readFileSync('/proc/net/tcp', 'utf8');
  let at = text.indexOf('\n') + 1; // skip the header line
  while (at > 0 && at < text.length) {
    const end = text.indexOf('\n', at);
    const line = text.slice(at, end < 0 ? text.length : end);
    at = end < 0 ? text.length : end + 1;
    // "  sl  local_address rem_address   st tx_queue:rx_queue ..."
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const st = parseInt(f[3], 16);
    if (st === TCP_LISTEN || st === TCP_TIME_WAIT) continue;
    const lport = parseInt(f[1].slice(f[1].indexOf(':') + 1), 16);
    const rport = parseInt(f[2].slice(f[2].indexOf(':') + 1), 16);
    const [tx, rx] = f[4].split(':').map((h) => parseInt(h, 16));
    for (let i = 0; i < ports.length; i++) {
      if (lport === ports[i]) {
        out[i].local++;
        out[i].localRx += rx;
      }
      if (rport === ports[i]) {
        out[i].remote++;
        out[i].remoteTx += tx;
      }
    }
  }
  return out;
}
