/** Small typed checks that collect every error (with its field path) instead of stopping at the first. */
import type { ConfigIssue } from './errors';
import { parseDuration } from './durations';

export type Obj = Record<string, unknown>;

export function at(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}
export function idx(path: string, i: number): string {
  return `${path}[${i}]`;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

export interface ObjectSpec {
  required?: readonly string[];
  known: readonly string[];
  /** Known keys that are accepted but have no effect in xmesh: each present one produces a warning. */
  ignored?: readonly string[];
}

export class Checker {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];

  error(path: string, message: string): void {
    this.errors.push({ path, message });
  }
  warn(path: string, message: string): void {
    this.warnings.push({ path, message });
  }

  /** An object with only known keys and all required keys. Returns it, or undefined if not an object. */
  object(v: unknown, path: string, spec: ObjectSpec): Obj | undefined {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      this.error(path, `expected an object, got ${describe(v)}`);
      return undefined;
    }
    const o = v as Obj;
    const known = new Set([...spec.known, ...(spec.ignored ?? [])]);
    for (const k of Object.keys(o)) {
      if (!known.has(k)) {
        this.error(at(path, k), `unknown field (known fields: ${[...known].join(', ')})`);
      } else if (spec.ignored?.includes(k)) {
        this.warn(at(path, k), 'not supported by xmesh; ignored');
      }
    }
    for (const k of spec.required ?? []) {
      if (o[k] === undefined || o[k] === null) this.error(at(path, k), 'required field is missing');
    }
    return o;
  }

  /** Any JSON object (contents not checked). */
  anyObject(v: unknown, path: string): Obj | undefined {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      this.error(path, `expected an object, got ${describe(v)}`);
      return undefined;
    }
    return v as Obj;
  }

  array(v: unknown, path: string, opts: { minItems?: number } = {}): unknown[] | undefined {
    if (!Array.isArray(v)) {
      this.error(path, `expected a list, got ${describe(v)}`);
      return undefined;
    }
    if (opts.minItems !== undefined && v.length < opts.minItems) {
      this.error(path, `expected at least ${opts.minItems} item${opts.minItems === 1 ? '' : 's'}, got ${v.length}`);
    }
    return v;
  }

  string(v: unknown, path: string, opts: { nonEmpty?: boolean } = {}): string | undefined {
    if (typeof v !== 'string') {
      this.error(path, `expected a string, got ${describe(v)}`);
      return undefined;
    }
    if (opts.nonEmpty && v.length === 0) {
      this.error(path, 'must not be empty');
      return undefined;
    }
    return v;
  }

  bool(v: unknown, path: string): boolean | undefined {
    if (typeof v !== 'boolean') {
      this.error(path, `expected true or false, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  /** An integer in [min, max] (defaults: 0 .. uint32 max). */
  uint(v: unknown, path: string, opts: { min?: number; max?: number } = {}): number | undefined {
    const min = opts.min ?? 0;
    const max = opts.max ?? 0xffffffff;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.error(path, `expected an integer, got ${describe(v)}`);
      return undefined;
    }
    if (v < min || v > max) {
      this.error(path, `value ${v} out of range (expected ${min}..${max})`);
      return undefined;
    }
    return v;
  }

  enumOf<T extends string>(v: unknown, path: string, values: readonly T[]): T | undefined {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      const shown = typeof v === 'string' ? `"${v}"` : describe(v);
      this.error(path, `unknown value ${shown} (expected one of ${values.join(', ')})`);
      return undefined;
    }
    return v as T;
  }

  /** A duration; returns milliseconds. */
  duration(v: unknown, path: string, opts: { minMs?: number } = {}): number | undefined {
    const r = parseDuration(v);
    if (!r.ok) {
      this.error(path, r.message);
      return undefined;
    }
    if (opts.minMs !== undefined && r.ms < opts.minMs) {
      this.error(path, `duration must be at least ${opts.minMs} ms`);
      return undefined;
    }
    return r.ms;
  }

  /** Run `fn` for a present, non-null optional field. */
  optional<T>(o: Obj, key: string, fn: (v: unknown) => T): T | undefined {
    const v = o[key];
    return v === undefined || v === null ? undefined : fn(v);
  }
}
