/** Converts native stat key templates (`cluster.{cluster=backend}.upstream_cx_total`) to Envoy names and Prometheus families + labels. */

export interface ParsedStatKey {
  /** Envoy-style dotted name: each {k=v} replaced by v. */
  envoyName: string;
  /** Name segments without the label segments, e.g. ["cluster", "upstream_cx_total"]. */
  segments: string[];
  /** Labels in template order. */
  labels: Array<[string, string]>;
}

/**
 * Parse a key. Segments are separated by '.' outside braces, so a label value may contain dots
 * (`outbound|80||reviews.default.svc.cluster.local`). A value never contains '}' (the native
 * side replaces it); a malformed brace is kept as literal text rather than thrown on.
 */
export function parseStatKey(key: string): ParsedStatKey {
  const segments: string[] = [];
  const labels: Array<[string, string]> = [];
  const envoy: string[] = [];
  let i = 0;
  while (i <= key.length) {
    if (key[i] === '{') {
      const end = key.indexOf('}', i);
      const eq = key.indexOf('=', i);
      if (end > 0 && eq > i && eq < end) {
        const k = key.slice(i + 1, eq);
        const v = key.slice(eq + 1, end);
        labels.push([k, v]);
        envoy.push(v);
        i = end + 1;
        if (key[i] === '.') i++;
        else if (i < key.length) {
          // Text glued after a label segment: treat it as its own segment.
          const next = key.indexOf('.', i);
          const seg = key.slice(i, next < 0 ? key.length : next);
          segments.push(seg);
          envoy.push(seg);
          i = next < 0 ? key.length + 1 : next + 1;
        } else i = key.length + 1;
        continue;
      }
    }
    const next = key.indexOf('.', i);
    const seg = key.slice(i, next < 0 ? key.length : next);
    if (seg.length > 0) {
      segments.push(seg);
      envoy.push(seg);
    }
    i = next < 0 ? key.length + 1 : next + 1;
  }
  return { envoyName: envoy.join('.'), segments, labels };
}

export function envoyName(key: string): string {
  return parseStatKey(key).envoyName;
}

export const PROMETHEUS_PREFIX = 'xmesh_';

/** Metric name charset [a-zA-Z_:][a-zA-Z0-9_:]*: anything else becomes '_'. */
export function sanitizeMetricName(s: string): string {
  const out = s.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[0-9]/.test(out) ? `_${out}` : out;
}

/** Label name charset [a-zA-Z_][a-zA-Z0-9_]*. */
export function sanitizeLabelName(s: string): string {
  const out = s.replace(/[^a-zA-Z0-9_]/g, '_');
  return out.length === 0 || /^[0-9]/.test(out) ? `_${out}` : out;
}

/** C0 controls, DEL and C1 controls: never printed raw in a text page (a name may come from a config). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

function hex2(c: string): string {
  return c.charCodeAt(0).toString(16).padStart(2, '0');
}

/**
 * A name as text /stats, /clusters and /listeners print it: `\n`, `\r`, `\t` and `\xHH` for
 * other control characters, so a cluster named "a\nb: 1" cannot forge a line of its own.
 */
export function escapeControlChars(s: string): string {
  return s.replace(CONTROL, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\x${hex2(c)}`));
}

/**
 * Label value escaping of the text exposition format: backslash, double quote and newline as
 * the format defines; other control characters as the text `\xHH` (its backslash escaped, the
 * format knows no other escape), so every line of a scrape stays one sample.
 */
export function escapeLabelValue(s: string): string {
  return s
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(CONTROL, (c) => (c === '\n' ? '\\n' : `\\\\x${hex2(c)}`));
}

export interface PrometheusName {
  family: string;
  labels: Array<[string, string]>;
}

export function prometheusName(key: string): PrometheusName {
  const p = parseStatKey(key);
  const seen = new Set<string>();
  const labels: Array<[string, string]> = [];
  for (const [k, v] of p.labels) {
    let name = sanitizeLabelName(k);
    // Duplicate label names would make the sample invalid; suffix later ones.
    for (let n = 2; seen.has(name); n++) name = `${sanitizeLabelName(k)}_${n}`;
    seen.add(name);
    labels.push([name, v]);
  }
  return { family: PROMETHEUS_PREFIX + sanitizeMetricName(p.segments.join('_')), labels };
}

/** `{a="x",b="y"}` or "" (extra labels, e.g. le, appended last). */
export function formatLabels(labels: Array<[string, string]>): string {
  if (labels.length === 0) return '';
  return `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}
