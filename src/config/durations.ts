/** Envoy duration values ("1s", "0.25s", {seconds, nanos}; xmesh also accepts "100ms") to milliseconds. */

export type DurationResult = { ok: true; ms: number } | { ok: false; message: string };

const DURATION_RE = /^(\d+(?:\.\d+)?)(s|ms)$/;
/** Snapshot fields are uint32 milliseconds. */
export const MAX_DURATION_MS = 0xffffffff;

/**
 * Parse a duration. Positive durations below one millisecond round up to 1 ms, so that a tiny
 * timeout never turns into 0 (which the data plane reads as "disabled").
 */
export function parseDuration(v: unknown): DurationResult {
  let ms: number;
  if (typeof v === 'string') {
    const m = DURATION_RE.exec(v.trim());
    if (!m) return { ok: false, message: `invalid duration "${v}" (expected e.g. "1s", "0.25s" or "100ms")` };
    const n = Number(m[1]);
    ms = m[2] === 's' ? n * 1000 : n;
  } else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (k !== 'seconds' && k !== 'nanos') return { ok: false, message: `invalid duration: unknown field "${k}" (expected seconds, nanos)` };
    }
    const s = o.seconds ?? 0;
    const ns = o.nanos ?? 0;
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 0) return { ok: false, message: 'invalid duration: seconds must be a non-negative integer' };
    if (typeof ns !== 'number' || !Number.isInteger(ns) || ns < 0 || ns > 999_999_999) {
      return { ok: false, message: 'invalid duration: nanos must be an integer in 0..999999999' };
    }
    ms = s * 1000 + ns / 1e6;
  } else {
    return { ok: false, message: `invalid duration ${JSON.stringify(v)} (expected a string such as "1s" or "0.25s")` };
  }
  if (ms > 0 && ms < 1) ms = 1;
  ms = Math.round(ms);
  if (ms > MAX_DURATION_MS) return { ok: false, message: `duration too large (max ${MAX_DURATION_MS} ms)` };
  return { ok: true, ms };
}

/** For values already validated: the milliseconds, or `dflt` when absent. */
export function durationMs(v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  const r = parseDuration(v);
  if (!r.ok) throw new Error(`unvalidated duration: ${r.message}`);
  return r.ms;
}
