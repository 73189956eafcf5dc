/**
 * JSON text of a large value in chunks, byte for byte what `JSON.stringify(v, null, 2)` gives,
 * produced under a TimeSlice so that serializing a 100k-endpoint config dump never holds the
 * control thread for more than a slice.
 */
import type { TimeSlice } from './time-slice';

/** Chunks are flushed once they reach this many characters. */
export const JSON_CHUNK = 64 * 1024;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** What JSON.stringify does to a value before writing it: toJSON(), and drops what it cannot write. */
function prepare(v: unknown, key: string): unknown {
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON(k: string): unknown }).toJSON(key);
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return undefined;
  return v;
}

function isContainer(v: unknown): v is object {
  return v !== null && typeof v === 'object';
}

/** A container none of whose members is an object: small enough to write with one stringify call. */
function isLeafContainer(v: object): boolean {
  if (Array.isArray(v)) {
    if (v.length > 64) return false;
    for (const x of v) if (isContainer(x)) return false;
    return true;
  }
  let n = 0;
  for (const k in v) {
    if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
    if (++n > 64 || isContainer((v as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** Pieces of the JSON text of `v` (already prepared), at indentation `pad`. */
function* pieces(v: unknown, pad: string, ancestors: Set<object>): Generator<string> {
  if (!isContainer(v)) {
    yield JSON.stringify(v as Json) ?? 'null';
    return;
  }
  if (isLeafContainer(v)) {
    // JSON escapes newlines inside strings, so every raw newline is layout: indent it.
    yield JSON.stringify(v, null, 2).replace(/\n/g, `\n${pad}`);
    return;
  }
  if (ancestors.has(v)) throw new TypeError('Converting circular structure to JSON');
  ancestors.add(v);
  const inner = `${pad}  `;
  if (Array.isArray(v)) {
    yield '[';
    for (let i = 0; i < v.length; i++) {
      yield i === 0 ? `\n${inner}` : `,\n${inner}`;
      const x = prepare(v[i], String(i));
      if (x === undefined) yield 'null';
      else yield* pieces(x, inner, ancestors);
    }
    yield `\n${pad}]`;
  } else {
    let first = true;
    for (const k of Object.keys(v)) {
      const x = prepare((v as Record<string, unknown>)[k], k);
      if (x === undefined) continue;
      yield `${first ? '{' : ','}\n${inner}${JSON.stringify(k)}: `;
      first = false;
      yield* pieces(x, inner, ancestors);
    }
    yield first ? '{}' : `\n${pad}}`;
  }
  ancestors.delete(v);
}

/** `JSON.stringify(value, null, 2) + '\n'`, in chunks of about JSON_CHUNK characters. */
export async function* jsonChunks(value: unknown, slice: TimeSlice): AsyncGenerator<string> {
  const v = prepare(value, '');
  let buf = '';
  for (const p of pieces(v === undefined ? null : v, '', new Set())) {
    buf += p;
    if (buf.length >= JSON_CHUNK) {
      yield buf;
      buf = '';
    }
    const t = slice.tick();
    if (t) await t;
  }
  yield `${buf}\n`;
}
