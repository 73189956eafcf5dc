/**
 * Compiles the regexes admin requests carry (`/stats?filter=`) so that no pattern can pin the
 * control thread: V8's linear-time engine (the `l` flag, enabled by node's
 * --enable-experimental-regexp-engine, see src/cli/node-flags.ts) when node has it, else the
 * backtracking engine behind a refusal of the shapes that backtrack catastrophically.
 */

export type FilterRegex =
  | { status: 'ok'; regex: RegExp; engine: 'linear' | 'backtracking' }
  /** `message` is the 400 body: it names the construct and where it is. */
  | { status: 'refused'; message: string };

/** Longer patterns are refused: a filter is a name fragment, not a program. */
export const MAX_FILTER_LENGTH = 1000;

let linear: boolean | undefined;

/** Whether this node accepts the `l` (linear-time) RegExp flag. */
export function linearEngineAvailable(): boolean {
  if (linear === undefined) {
    try {
      new RegExp('', 'l');
      linear = true;
    } catch {
      linear = false;
    }
  }
  return linear;
}

/** A construct found in a pattern, at a character offset. */
interface Construct {
  what: string;
  text: string;
  at: number;
}

/**
 * The first construct that needs backtracking (backreference, lookahead, lookbehind), found
 * by a scan that skips escapes and character classes. Nothing else in JavaScript regex syntax
 * is outside what the linear engine runs (besides very large counted repetitions).
 */
function backtrackingConstruct(src: string): Construct | undefined {
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i];
    if (ch === '\\') {
      const next = src[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(next)) return { what: 'a backreference', text: `\\${/^\d+/.exec(src.slice(i + 1))![0]}`, at: i };
      if (!inClass && next === 'k' && src[i + 2] === '<') return { what: 'a named backreference', text: src.slice(i, src.indexOf('>', i) + 1 || i + 3), at: i };
      i++;
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
      continue;
    }
    if (ch === '[') inClass = true;
    else if (ch === '(' && src[i + 1] === '?') {
      const head = src.slice(i, i + 4);
      if (head.startsWith('(?=')) return { what: 'a lookahead', text: '(?=', at: i };
      if (head.startsWith('(?!')) return { what: 'a negative lookahead', text: '(?!', at: i };
      if (head.startsWith('(?<=')) return { what: 'a lookbehind', text: '(?<=', at: i };
      if (head.startsWith('(?<!')) return { what: 'a negative lookbehind', text: '(?<!', at: i };
    }
  }
  return undefined;
}

interface Group {
  start: number;
  /** The group holds a quantifier or an alternation: repeating it can backtrack exponentially. */
  ambiguous: boolean;
}

/** A quantifier at the start of `rest` (`*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`), with its lazy `?`. */
function quantifierAt(rest: string): { text: string; repeats: boolean; unbounded: boolean } | undefined {
  const m = /^(?:([*+?])|\{(\d+)(,(\d*))?\})\??/.exec(rest);
  if (!m) return undefined;
  const max = m[1] === '?' ? 1 : m[1] ? Infinity : m[3] === undefined ? Number(m[2]) : m[4] === '' ? Infinity : Number(m[4]);
  return { text: m[0], repeats: max > 1, unbounded: max === Infinity };
}

/**
 * For a node without the linear engine: the first repeated group whose body has a quantifier
 * or alternatives (`(\w+\.?)*`, `(a|aa)+`, `(a?a?){2,}`: exponential), or a third unbounded
 * quantifier (`.*a.*b.*c`: polynomial of that degree). Conservative: it also refuses some
 * harmless patterns, which the linear engine would run.
 */
function catastrophicShape(src: string): Construct | undefined {
  const stack: Group[] = [{ start: -1, ambiguous: false }];
  let unbounded = 0;
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i];
    if (ch === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
      continue;
    }
    const top = stack[stack.length - 1];
    if (ch === '[') {
      inClass = true;
    } else if (ch === '(') {
      stack.push({ start: i, ambiguous: false });
      // skip the group's prefix: (?: and (?<name>
      if (src[i + 1] === '?') i = src[i + 2] === '<' ? Math.max(i + 2, src.indexOf('>', i)) : i + 2;
    } else if (ch === '|') {
      top.ambiguous = true;
    } else if (ch === ')' && stack.length > 1) {
      const g = stack.pop()!;
      const q = quantifierAt(src.slice(i + 1));
      if (q) {
        if (q.repeats && g.ambiguous) return { what: 'a repeated group whose body repeats or has alternatives', text: src.slice(g.start, i + 1 + q.text.length), at: g.start };
        if (q.unbounded && ++unbounded > 2) return { what: 'a third unbounded quantifier', text: q.text, at: i + 1 };
        i += q.text.length;
      }
      // A quantified or ambiguous group makes the group around it ambiguous.
      if (q || g.ambiguous) stack[stack.length - 1].ambiguous = true;
    } else {
      const q = quantifierAt(src.slice(i));
      if (q) {
        top.ambiguous = true;
        if (q.unbounded && ++unbounded > 2) return { what: 'a third unbounded quantifier', text: q.text, at: i };
        i += q.text.length - 1;
      }
    }
  }
  return undefined;
}

/**
 * Compile `src` for matching stat names. `useLinear` defaults to what this node supports
 * (tests pass false to exercise the fallback).
 */
export function compileFilterRegex(src: string, useLinear = linearEngineAvailable()): FilterRegex {
  if (src.length > MAX_FILTER_LENGTH) return { status: 'refused', message: `filter regex is ${src.length} characters long; at most ${MAX_FILTER_LENGTH} are accepted` };
  // A syntax error is reported as such first, in the engine's words.
  let plain: RegExp;
  try {
    plain = new RegExp(src);
  } catch (e) {
    return { status: 'refused', message: `invalid filter regex: ${(e as Error).message}` };
  }
  const bt = backtrackingConstruct(src);
  if (bt) {
    return {
      status: 'refused',
      message: `filter regex needs backtracking: ${bt.what} (${bt.text} at offset ${bt.at}) is not supported; admin filters run in linear time (RE2-like: no backreferences, no lookaround)`,
    };
  }
  if (useLinear) {
    try {
      return { status: 'ok', regex: new RegExp(src, 'l'), engine: 'linear' };
    } catch (e) {
      return { status: 'refused', message: `filter regex cannot run in linear time (${(e as Error).message.replace(/^Invalid regular expression: /, '')}): use smaller counted repetitions` };
    }
  }
  const cat = catastrophicShape(src);
  if (cat) {
    return {
      status: 'refused',
      message: `filter regex refused: ${cat.what} (${cat.text} at offset ${cat.at}) can backtrack catastrophically, and this node runs without --enable-experimental-regexp-engine (start xmesh through bin/xmesh.js to get the linear-time engine)`,
    };
  }
  return { status: 'ok', regex: plain, engine: 'backtracking' };
}
