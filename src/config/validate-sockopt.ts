/** Validation of Envoy `SocketOption` lists: listener `socket_options`, cluster `upstream_bind_config.socket_options`. */
import { pb } from '../dataplane/types';
import { at, idx, type Checker } from './checker';
import { SOCKET_OPTION_STATES } from './types';

/** Longest buf_value the data plane carries (bytes); TCP_CONGESTION names are 16 at most. */
const SOCKOPT_BUF_MAX = pb.Limits.MAX_SOCKET_OPTION_BUF_LEN;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** Decoded bytes of a base64 buf_value, or undefined when it is not canonical base64. */
export function decodeBufValue(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64').replace(/=+$/, '') === s.replace(/=+$/, '') ? b : undefined;
}

function int32(c: Checker, v: unknown, path: string, min: number): number | undefined {
  // int64 fields may come as strings in proto3 JSON
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > INT32_MAX) {
    c.error(path, `must be an integer in [${min}, ${INT32_MAX}], got ${JSON.stringify(v)}`);
    return undefined;
  }
  return n;
}

/**
 * `what` says where the options go: on a listener every state is meaningful; upstream sockets
 * get every option before connect(), so a state other than STATE_PREBIND earns a warning.
 */
export function checkSocketOptions(c: Checker, v: unknown, path: string, what: 'listener' | 'upstream'): void {
  const list = c.array(v, path);
  list?.forEach((e, i) => {
    const p = idx(path, i);
    const o = c.object(e, p, { required: ['level', 'name'], known: ['description', 'level', 'name', 'int_value', 'buf_value', 'state'], ignored: ['type'] });
    if (!o) return;
    c.optional(o, 'description', (x) => c.string(x, at(p, 'description')));
    c.optional(o, 'level', (x) => int32(c, x, at(p, 'level'), 0));
    c.optional(o, 'name', (x) => int32(c, x, at(p, 'name'), 0));
    const hasInt = o.int_value !== undefined;
    const hasBuf = o.buf_value !== undefined;
    if (hasInt === hasBuf) c.error(p, 'exactly one of int_value or buf_value is required');
    c.optional(o, 'int_value', (x) => int32(c, x, at(p, 'int_value'), INT32_MIN));
    c.optional(o, 'buf_value', (x) => {
      const s = c.string(x, at(p, 'buf_value'), { nonEmpty: true });
      if (s === undefined) return;
      const b = decodeBufValue(s);
      if (!b) c.error(at(p, 'buf_value'), 'must be base64 (bytes in proto3 JSON), e.g. "Y3ViaWM=" for "cubic"');
      else if (b.length > SOCKOPT_BUF_MAX) c.error(at(p, 'buf_value'), `at most ${SOCKOPT_BUF_MAX} bytes, got ${b.length}`);
    });
    const state = c.optional(o, 'state', (x) => c.enumOf(x, at(p, 'state'), SOCKET_OPTION_STATES));
    if (what === 'upstream' && state !== undefined && state !== 'STATE_PREBIND')
      c.warn(at(p, 'state'), 'upstream socket options are all set before connect(); the state is ignored');
  });
}
