/** What a reload changes: listeners and clusters added, changed and removed, by name. */
import { TimeSlice } from '../util/time-slice';
import type { BootstrapCfg } from './types';

export interface NamedDiff {
  added: string[];
  changed: string[];
  removed: string[];
}

export interface ConfigDiff {
  listeners: NamedDiff;
  clusters: NamedDiff;
}

type Named = { name?: unknown };

async function byName(list: readonly Named[] | undefined, slice: TimeSlice): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  // The serialized entry is the comparison key: any field that differs makes it "changed".
  for (const e of list ?? []) {
    if (typeof e.name === 'string') m.set(e.name, JSON.stringify(e));
    const t = slice.check();
    if (t) await t;
  }
  return m;
}

async function diffNamed(before: readonly Named[] | undefined, after: readonly Named[] | undefined, slice: TimeSlice): Promise<NamedDiff> {
  const a = await byName(before, slice);
  const b = await byName(after, slice);
  const d: NamedDiff = { added: [], changed: [], removed: [] };
  for (const [name, v] of b) {
    const old = a.get(name);
    if (old === undefined) d.added.push(name);
    else if (old !== v) d.changed.push(name);
  }
  for (const name of a.keys()) if (!b.has(name)) d.removed.push(name);
  return d;
}

/**
 * Static listeners and clusters of `after` compared with `before`, by name; serializing 10,000
 * clusters takes a few hundred ms, so it runs under a TimeSlice (one clock read per entry).
 */
export async function diffConfig(before: BootstrapCfg, after: BootstrapCfg, slice = new TimeSlice()): Promise<ConfigDiff> {
  return {
    listeners: await diffNamed(before.static_resources?.listeners as Named[] | undefined, after.static_resources?.listeners as Named[] | undefined, slice),
    clusters: await diffNamed(before.static_resources?.clusters as Named[] | undefined, after.static_resources?.clusters as Named[] | undefined, slice),
  };
}

/** Names listed in a log line at most; the rest is counted ("... and 9,950 more"). */
export const DIFF_NAMES_LOGGED = 50;

function names(list: string[]): string {
  if (list.length === 0) return '-';
  const shown = list.slice(0, DIFF_NAMES_LOGGED).join(', ');
  return list.length > DIFF_NAMES_LOGGED ? `${shown} ... and ${list.length - DIFF_NAMES_LOGGED} more` : shown;
}

/** One line for the log: `listeners added: a; changed: -; removed: b | clusters added: ...`. */
export function describeDiff(d: ConfigDiff): string {
  const part = (what: string, n: NamedDiff): string => `${what} added: ${names(n.added)}; changed: ${names(n.changed)}; removed: ${names(n.removed)}`;
  return `${part('listeners', d.listeners)} | ${part('clusters', d.clusters)}`;
}

/** Whether a diff changes anything at all. */
export function diffIsEmpty(d: ConfigDiff): boolean {
  return [d.listeners, d.clusters].every((n) => n.added.length + n.changed.length + n.removed.length === 0);
}
