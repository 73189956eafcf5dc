/**
 * Cooperative time slicing for long control-thread work (big admin pages, large sorts): the
 * work checks in often and gives the event loop a turn once it has run for a slice, so
 * /ready, other admin requests and signal handlers are served meanwhile.
 */
import { setImmediate as immediate } from 'node:timers/promises';

/** Default run time between two turns of the event loop. */
export const SLICE_MS = 10;

/**
 * Call `tick()` once per unit of work (a stat, a line, a JSON node): it reads the clock only
 * every `checkEvery` calls, and resolves after a setImmediate turn when the slice is used up.
 * `await` it only when it returns a promise (`const p = s.tick(); if (p) await p;`), so the
 * common case costs no microtask.
 */
export class TimeSlice {
  private count = 0;
  private started = performance.now();
  /** Event-loop turns given away so far (tests assert on it). */
  yields = 0;

  constructor(
    private readonly sliceMs = SLICE_MS,
    private readonly checkEvery = 256,
  ) {}

  tick(): Promise<void> | undefined {
    if (++this.count < this.checkEvery) return undefined;
    return this.check();
  }

  /** Like tick() but reads the clock now: for units of work that are each big (a sorted run). */
  check(): Promise<void> | undefined {
    this.count = 0;
    if (performance.now() - this.started < this.sliceMs) return undefined;
    return this.yieldNow();
  }

  /** Give the event loop a turn now. */
  async yieldNow(): Promise<void> {
    this.yields++;
    await immediate();
    this.started = performance.now();
  }
}

/** Runs of this many items are sorted with one synchronous Array.prototype.sort call. */
const RUN = 2048;

/**
 * Sorts `items` (in place, and returns it) like `items.sort(cmp)` — stable — but as a merge
 * sort of small runs that ticks `slice` per element merged, so half a million entries never
 * hold the thread for more than a slice.
 */
export async function sliceSort<T>(items: T[], cmp: (a: T, b: T) => number, slice: TimeSlice): Promise<T[]> {
  const n = items.length;
  for (let lo = 0; lo < n; lo += RUN) {
    const hi = Math.min(n, lo + RUN);
    const run = items.slice(lo, hi).sort(cmp);
    for (let i = lo; i < hi; i++) items[i] = run[i - lo];
    const p = slice.check();
    if (p) await p;
  }
  if (n <= RUN) return items;
  let src = items;
  let dst = new Array<T>(n);
  for (let width = RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(n, lo + width);
      const hi = Math.min(n, lo + 2 * width);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        // `<= 0` takes from the left run first: equal elements keep their order.
        dst[k++] = cmp(src[i], src[j]) <= 0 ? src[i++] : src[j++];
        const p = slice.tick();
        if (p) await p;
      }
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
    }
    [src, dst] = [dst, src];
  }
  if (src !== items) for (let i = 0; i < n; i++) items[i] = src[i];
  return items;
}

/** Plain string order (what `<` gives), for sort comparators. */
export function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
