/**
 * Reads a bootstrap file (YAML or JSON), reporting parse errors with line numbers and
 * validation errors with field paths. YAML goes through js-yaml, which builds plain objects
 * straight from parser events (no syntax tree): a 10 MB file loads in about a second instead
 * of the ~13 s and 1 GB a CST-keeping parser took (issue 15; bench/tools/big-config.ts).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { load as loadYaml, YAMLException } from 'js-yaml';
import { ConfigError, type ConfigIssue } from './errors';
import type { BootstrapCfg } from './types';
import { validateConfig } from './validate';

export interface LoadedConfig {
  config: BootstrapCfg;
  warnings: ConfigIssue[];
  /** File name, or a label such as "<embedded default>". */
  source: string;
}

export type ParseResult = { status: 'parsed'; doc: unknown } | { status: 'unparseable'; errors: ConfigIssue[] };

function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, col: offset - before.lastIndexOf('\n') };
}

/**
 * Where JSON.parse gives up, for engines whose message has no position: every prefix shorter
 * than the bad token fails with "end of input", every longer one with something else, so a
 * binary search over prefix lengths finds the offending character.
 */
function jsonErrorOffset(text: string): number | undefined {
  const endOfInput = (n: number): boolean => {
    try {
      JSON.parse(text.slice(0, n));
      return false;
    } catch (e) {
      return /end of JSON input|Unterminated|Expected/.test((e as Error).message) && !/Unexpected token|Unexpected non-whitespace/.test((e as Error).message);
    }
  };
  let lo = 0;
  let hi = text.length;
  if (endOfInput(hi)) return undefined;
  while (lo + 1 < hi) {
    const mid = (lo + hi) >> 1;
    if (endOfInput(mid)) lo = mid;
    else hi = mid;
  }
  return hi - 1;
}

/** Aliases (`*ref`) per document: bounds the work a small file of nested aliases can cause. */
const MAX_YAML_ALIASES = 1000;

/** Parse YAML 1.2 (core schema, duplicate keys are errors); the first error with its line and column. */
function yamlErrors(text: string, label: string): ConfigIssue[] | { doc: unknown } {
  try {
    return { doc: loadYaml(text, { maxAliases: MAX_YAML_ALIASES }) };
  } catch (e) {
    if (!(e instanceof YAMLException)) return [{ path: '', message: `${label}: ${(e as Error).message}` }];
    const where = e.mark ? `line ${e.mark.line + 1}, column ${e.mark.column + 1}` : '';
    return [{ path: where, message: `${label}: ${e.reason}` }];
  }
}

/** Text with nothing but whitespace and YAML comments (a BOM aside): no configuration at all. */
function isEmptyDocument(text: string): boolean {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '#') {
      const nl = text.indexOf('\n', i);
      if (nl < 0) return true;
      i = nl + 1;
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r') i++;
    else return false;
  }
  return true;
}

/** Parse text as JSON (when `format` says so or it looks like JSON) or YAML. An empty text is an error. */
export function parseConfigText(text: string, format: 'json' | 'yaml' | 'auto' = 'auto'): ParseResult {
  if (isEmptyDocument(text)) {
    // A truncated or not-yet-written file must not become "no listeners, no admin".
    return { status: 'unparseable', errors: [{ path: '', message: 'the file is empty (only whitespace or comments): no configuration to load' }] };
  }
  if (format === 'yaml' && /^\s*\{/.test(text)) {
    // JSON is YAML: generated configs are often JSON in a .yaml file, and JSON.parse is ~50x
    // faster than the YAML parser on a 10 MB bootstrap. Anything else goes to YAML below.
    try {
      return { status: 'parsed', doc: JSON.parse(text) };
    } catch {
      /* a YAML flow mapping that is not strict JSON */
    }
  }
  const asJson = format === 'json' || (format === 'auto' && /^\s*\{/.test(text));
  if (asJson) {
    try {
      return { status: 'parsed', doc: JSON.parse(text) };
    } catch (e) {
      // V8 appends a snippet of the input ('Unexpected token ... , "{..." is not valid JSON'): drop it.
      const msg = (e as Error).message.replace(/, "[\s\S]*$/, '').split('\n')[0];
      const m = /position (\d+)/.exec(msg);
      if (m) {
        const where = lineCol(text, Number(m[1]));
        return { status: 'unparseable', errors: [{ path: `line ${where.line}, column ${where.col}`, message: `invalid JSON: ${msg}` }] };
      }
      const off = jsonErrorOffset(text);
      if (format === 'json' || off !== undefined) {
        const where = off === undefined ? undefined : lineCol(text, off);
        return { status: 'unparseable', errors: [{ path: where ? `line ${where.line}, column ${where.col}` : '', message: `invalid JSON: ${msg}` }] };
      }
      const y = yamlErrors(text, 'invalid YAML');
      return Array.isArray(y) ? { status: 'unparseable', errors: y } : { status: 'parsed', doc: y.doc };
    }
  }
  const y = yamlErrors(text, 'invalid YAML');
  return Array.isArray(y) ? { status: 'unparseable', errors: y } : { status: 'parsed', doc: y.doc };
}

/** Parse and validate config text; throws ConfigError naming `source`. */
export function loadConfigText(text: string, source: string, format: 'json' | 'yaml' | 'auto' = 'auto'): LoadedConfig {
  const parsed = parseConfigText(text, format);
  if (parsed.status === 'unparseable') throw new ConfigError(source, parsed.errors);
  const v = validateConfig(parsed.doc);
  if (v.status === 'invalid') throw new ConfigError(source, v.errors, v.warnings);
  return { config: v.config, warnings: v.warnings, source };
}

/** Read, parse and validate a file; throws ConfigError (also for an unreadable file). */
export function loadConfigFile(file: string): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ConfigError(file, [{ path: '', message: `cannot read file: ${err.message}` }]);
  }
  const ext = extname(file).toLowerCase();
  const format = ext === '.json' ? 'json' : ext === '.yaml' || ext === '.yml' ? 'yaml' : 'auto';
  return loadConfigText(text, file, format);
}
