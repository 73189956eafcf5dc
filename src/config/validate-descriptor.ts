/**
 * Validation of x_proxy `descriptors[]`: length-prefixed protocols defined in configuration.
 * Every rule of the native descriptor validation (native/src/codec_desc.c) is checked here
 * first, so a user sees the path of the bad field, never a data-plane error.
 */
import { pb } from '../dataplane/types';
import { at, idx, type Checker, type Obj } from './checker';
import { X_DESC_ERROR_STATUSES, X_PROTOCOLS } from './types';

/** Largest header: the sidecar's own replies are header-only frames. */
const DESC_HEADER_MAX = pb.Limits.MAX_DESCRIPTOR_HEADER_LEN;
const NAME_MAX = pb.Limits.MAX_DESCRIPTOR_NAME_LEN;
const MAGIC_MAX = pb.Limits.MAX_DESCRIPTOR_MAGIC_LEN;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const SIZES = [1, 2, 4, 8] as const;
const FIELD_KEYS = ['offset', 'size', 'little_endian'] as const;
const LOCATION_KINDS = ['fixed', 'length_prefixed', 'tlv'] as const;
const KIND_VALUES = ['request', 'response', 'oneway', 'heartbeat', 'heartbeat_ack'] as const;
const U64_MAX = (1n << 64n) - 1n;

interface Field {
  path: string;
  offset: number;
  size: number;
}

const maxOf = (size: number): bigint => (1n << BigInt(8 * size)) - 1n;
const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** An unsigned 64-bit value: a non-negative integer, or a decimal / "0x..." string (JSON has no exact integers above 2^53). */
export function parseU64(v: unknown): bigint | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : undefined;
  if (typeof v !== 'string' || !/^(0x[0-9a-f]+|[0-9]+)$/i.test(v)) return undefined;
  const b = BigInt(v);
  return b <= U64_MAX ? b : undefined;
}

function u64(c: Checker, v: unknown, path: string): bigint | undefined {
  const b = parseU64(v);
  if (b === undefined) c.error(path, `expected an unsigned integer (or a decimal or "0x..." string up to 64 bits), got ${JSON.stringify(v)}`);
  return b;
}

/** A header field { offset, size, little_endian } that must lie inside the header. */
function checkField(c: Checker, o: Obj, key: string, path: string, headerLen: number | undefined, extraKnown: readonly string[] = []): Field | undefined {
  const p = at(path, key);
  const f = c.object(o[key], p, { required: ['offset', 'size'], known: [...FIELD_KEYS, ...extraKnown] });
  if (!f) return undefined;
  const offset = c.optional(f, 'offset', (x) => c.uint(x, at(p, 'offset'), { max: DESC_HEADER_MAX }));
  const size = c.optional(f, 'size', (x) => {
    if (!SIZES.includes(x as 1)) {
      c.error(at(p, 'size'), `must be 1, 2, 4 or 8 (bytes), got ${JSON.stringify(x)}`);
      return undefined;
    }
    return x as number;
  });
  c.optional(f, 'little_endian', (x) => c.bool(x, at(p, 'little_endian')));
  if (offset === undefined || size === undefined) return undefined;
  if (headerLen !== undefined && offset + size > headerLen) {
    c.error(at(p, 'offset'), `field [${offset}, ${offset + size}) is outside the ${headerLen}-byte header (header_len)`);
    return undefined;
  }
  return { path: p, offset, size };
}

/** A value that must fit a field of `size` bytes. */
function fitting(c: Checker, o: Obj, key: string, path: string, size: number | undefined): bigint | undefined {
  return c.optional(o, key, (x) => {
    const v = u64(c, x, at(path, key));
    if (v !== undefined && size !== undefined && v > maxOf(size)) {
      c.error(at(path, key), `${hex(v)} does not fit the ${size}-byte field`);
      return undefined;
    }
    return v;
  });
}

function checkLocation(c: Checker, v: unknown, path: string): void {
  const o = c.object(v, path, { known: LOCATION_KINDS });
  if (!o) return;
  const set = LOCATION_KINDS.filter((k) => o[k] !== undefined);
  if (set.length !== 1) c.error(path, `set exactly one of ${LOCATION_KINDS.join(', ')}`);
  c.optional(o, 'fixed', (x) => {
    const p = at(path, 'fixed');
    const f = c.object(x, p, { required: ['offset', 'length'], known: ['offset', 'length'] });
    if (f) c.optional(f, 'offset', (y) => c.uint(y, at(p, 'offset')));
    if (f) c.optional(f, 'length', (y) => c.uint(y, at(p, 'length'), { min: 1, max: pb.Limits.MAX_DESCRIPTOR_FIXED_LEN }));
  });
  c.optional(o, 'length_prefixed', (x) => {
    const p = at(path, 'length_prefixed');
    const f = c.object(x, p, { required: ['offset', 'length_size'], known: ['offset', 'length_size'] });
    if (f) c.optional(f, 'offset', (y) => c.uint(y, at(p, 'offset')));
    if (f && f.length_size !== undefined && ![1, 2, 4].includes(f.length_size as number)) {
      c.error(at(p, 'length_size'), `must be 1, 2 or 4 (bytes), got ${JSON.stringify(f.length_size)}`);
    }
  });
  c.optional(o, 'tlv', (x) => {
    const p = at(path, 'tlv');
    const f = c.object(x, p, { required: ['offset', 'type'], known: ['offset', 'type'] });
    if (f) c.optional(f, 'offset', (y) => c.uint(y, at(p, 'offset')));
    if (f) c.optional(f, 'type', (y) => c.uint(y, at(p, 'type'), { max: 255 }));
  });
}

/** The magic bytes, from exactly one of text (ASCII) or hex. */
function checkMagic(c: Checker, v: unknown, path: string, headerLen: number | undefined): Field | undefined {
  const o = c.object(v, path, { known: ['offset', 'text', 'hex'] });
  if (!o) return undefined;
  const offset = c.optional(o, 'offset', (x) => c.uint(x, at(path, 'offset'), { max: DESC_HEADER_MAX })) ?? 0;
  if ((o.text === undefined) === (o.hex === undefined)) {
    c.error(path, 'set exactly one of text, hex');
    return undefined;
  }
  const key = o.text !== undefined ? 'text' : 'hex';
  const s = c.string(o[key], at(path, key));
  if (s === undefined) return undefined;
  if (key === 'text' && !/^[\x20-\x7e]*$/.test(s)) {
    c.error(at(path, 'text'), 'must be printable ASCII; use hex for other bytes');
    return undefined;
  }
  if (key === 'hex' && !/^([0-9a-fA-F]{2})*$/.test(s)) {
    c.error(at(path, 'hex'), `"${s}" is not an even number of hex digits`);
    return undefined;
  }
  const bytes = magicBytes({ [key]: s });
  if (bytes.length < 1 || bytes.length > MAGIC_MAX) {
    c.error(at(path, key), `must be 1..${MAGIC_MAX} bytes, got ${bytes.length} (omit magic for none)`);
    return undefined;
  }
  if (headerLen !== undefined && offset + bytes.length > headerLen) {
    c.error(at(path, 'offset'), `magic [${offset}, ${offset + bytes.length}) is outside the ${headerLen}-byte header (header_len)`);
    return undefined;
  }
  return { path, offset, size: bytes.length };
}

/** The bytes a validated `magic` stands for. */
export function magicBytes(m: { text?: string; hex?: string }): Buffer {
  return m.text !== undefined ? Buffer.from(m.text, 'latin1') : Buffer.from(m.hex ?? '', 'hex');
}

function checkKind(c: Checker, o: Obj, path: string, headerLen: number | undefined): Field | undefined {
  const f = checkField(c, o, 'kind', path, headerLen, ['mask', ...KIND_VALUES]);
  const p = at(path, 'kind');
  const k = o.kind as Obj | undefined;
  if (!k || typeof k !== 'object') return f;
  for (const r of ['request', 'response'] as const) if (k[r] === undefined) c.error(at(p, r), 'required field is missing');
  let mask = fitting(c, k, 'mask', p, f?.size);
  if (mask === 0n) c.error(at(p, 'mask'), 'must be non-zero');
  if (mask === undefined && k.mask === undefined && f) mask = maxOf(f.size);
  const seen = new Map<bigint, string>();
  for (const name of KIND_VALUES) {
    const v = fitting(c, k, name, p, f?.size);
    if (v === undefined) continue;
    if (mask !== undefined && mask !== 0n && (v & ~mask) !== 0n) c.error(at(p, name), `${hex(v)} has bits outside mask ${hex(mask)}`);
    else if (seen.has(v)) c.error(at(p, name), `same value as kind.${seen.get(v)}`);
    seen.set(v, name);
  }
  if (k.heartbeat !== undefined && k.heartbeat_ack === undefined) c.error(at(p, 'heartbeat_ack'), 'required with heartbeat (the kind of the replies the sidecar sends itself)');
  return f;
}

function checkStatus(c: Checker, o: Obj, path: string, headerLen: number | undefined): Field | undefined {
  const p = at(path, 'status');
  const f = checkField(c, o, 'status', path, headerLen, ['ok', 'server_error', ...X_DESC_ERROR_STATUSES]);
  const s = o.status as Obj | undefined;
  if (!s || typeof s !== 'object') return f;
  for (const r of ['ok', 'server_error'] as const) if (s[r] === undefined) c.error(at(p, r), 'required field is missing');
  const ok = fitting(c, s, 'ok', p, f?.size);
  for (const name of ['server_error', ...X_DESC_ERROR_STATUSES]) {
    const v = fitting(c, s, name, p, f?.size);
    if (v !== undefined && ok !== undefined && v === ok) c.error(at(p, name), 'same value as status.ok (the error reply would read as a success)');
  }
  return f;
}

/** A descriptor's fields must not overlap: the sidecar writes them into a copy of a request's header. */
function checkOverlaps(c: Checker, fields: Array<[string, Field | undefined]>): void {
  for (let i = 0; i < fields.length; i++) {
    for (let j = i + 1; j < fields.length; j++) {
      const a = fields[i][1];
      const [nb, b] = fields[j];
      if (a && b && a.offset < b.offset + b.size && b.offset < a.offset + a.size) {
        c.error(at(a.path, 'offset'), `[${a.offset}, ${a.offset + a.size}) overlaps ${nb} [${b.offset}, ${b.offset + b.size})`);
        break; // one overlap per field is enough to fix it
      }
    }
  }
}

/** length.adjust: frame length = length field + adjust (a 32-bit signed integer, default 0). */
function lengthAdjust(c: Checker, v: unknown, path: string): number | undefined {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) {
    c.error(path, `expected a 32-bit signed integer, got ${JSON.stringify(v)}`);
    return undefined;
  }
  return v;
}

function checkDescriptor(c: Checker, v: unknown, path: string, maxFrame: number): string | undefined {
  const o = c.object(v, path, {
    required: ['name', 'header_len', 'length', 'request_id', 'kind'],
    known: ['name', 'header_len', 'magic', 'length', 'request_id', 'kind', 'status', 'service', 'method'],
  });
  if (!o) return undefined;
  const name = c.optional(o, 'name', (x) => {
    const s = c.string(x, at(path, 'name'), { nonEmpty: true });
    if (s === undefined) return undefined;
    if (s.length > NAME_MAX || !NAME_RE.test(s)) {
      c.error(at(path, 'name'), `"${s}": 1..${NAME_MAX} characters of A-Z a-z 0-9 _ . - (not starting with _ . -)`);
      return undefined;
    }
    if ((X_PROTOCOLS as readonly string[]).includes(s)) {
      c.error(at(path, 'name'), `"${s}" is a built-in protocol; a descriptor cannot replace it`);
      return undefined;
    }
    return s;
  });
  const headerLen = c.optional(o, 'header_len', (x) => c.uint(x, at(path, 'header_len'), { min: 1, max: DESC_HEADER_MAX }));
  if (headerLen !== undefined && headerLen > maxFrame) c.error(at(path, 'header_len'), `${headerLen} is above the filter's max_frame_size (${maxFrame})`);
  const magic = c.optional(o, 'magic', (x) => checkMagic(c, x, at(path, 'magic'), headerLen));
  const length = c.optional(o, 'length', () => checkField(c, o, 'length', path, headerLen, ['adjust']));
  const adjust = length ? lengthAdjust(c, (o.length as Obj).adjust, at(path, 'length.adjust')) : undefined;
  if (length && headerLen !== undefined && adjust !== undefined) {
    const empty = BigInt(headerLen - adjust);
    if (empty < 0n || empty > maxOf(length.size)) {
      c.error(at(path, 'length.adjust'), `header_len - adjust = ${empty} must fit the ${length.size}-byte length field (the sidecar writes it in its header-only replies)`);
    }
  }
  const id = c.optional(o, 'request_id', () => checkField(c, o, 'request_id', path, headerLen));
  if (id && id.size < 2) c.error(at(path, 'request_id.size'), 'multiplexing needs a request id of at least 2 bytes');
  const kind = c.optional(o, 'kind', () => checkKind(c, o, path, headerLen));
  const status = c.optional(o, 'status', () => checkStatus(c, o, path, headerLen));
  checkOverlaps(c, [['length', length], ['request_id', id], ['kind', kind], ['status', status], ['magic', magic]]);
  c.optional(o, 'service', (x) => checkLocation(c, x, at(path, 'service')));
  c.optional(o, 'method', (x) => checkLocation(c, x, at(path, 'method')));
  return name;
}

/** Check `descriptors` of an x_proxy at `path`; returns the names it defines (duplicates reported). */
export function checkDescriptors(c: Checker, v: unknown, path: string, maxFrame: number): string[] {
  const list = c.array(v, path);
  const names: string[] = [];
  list?.forEach((d, i) => {
    const name = checkDescriptor(c, d, idx(path, i), maxFrame);
    if (name === undefined) return;
    if (names.includes(name)) c.error(at(idx(path, i), 'name'), `duplicate descriptor name "${name}"`);
    else names.push(name);
  });
  return names;
}

/** A protocol name as an x_proxy resolves it: a built-in, or one of its descriptors. */
export function checkProtocolName(c: Checker, v: unknown, path: string, descriptorNames: readonly string[]): string | undefined {
  return c.enumOf(v, path, [...X_PROTOCOLS, ...descriptorNames]);
}
