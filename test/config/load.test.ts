import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../../src/config/errors';
import { loadConfigFile, parseConfigText } from '../../src/config/load';
import { bigConfigJson, bigConfigYaml } from '../../bench/tools/big-config';
import { baseConfig } from './helpers';

const dir = mkdtempSync(join(tmpdir(), 'xmesh-load-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const parseCases: Array<{ desc: string; text: string; format?: 'json' | 'yaml' | 'auto'; line?: number; message?: RegExp; doc?: unknown }> = [
  { desc: 'YAML document', text: 'a: 1\nb: [x, y]\n', doc: { a: 1, b: ['x', 'y'] } },
  { desc: 'JSON document', text: '{"a": {"b": 2}}', doc: { a: { b: 2 } } },
  { desc: 'bad YAML indentation reports the line', text: 'a:\n  b: 1\n c: 2\n', line: 3, message: /invalid YAML/ },
  { desc: 'duplicate YAML key reports the line', text: 'a: 1\nb: 2\na: 3\n', line: 3, message: /invalid YAML/ },
  { desc: 'bad JSON reports the line', text: '{\n"a": 1,\n"b": }\n', format: 'json', line: 3, message: /invalid JSON/ },
  { desc: 'an empty file is an error', text: '', line: 0, message: /the file is empty/ },
  { desc: 'a whitespace-only file is an error', text: ' \n\t\r\n\n', format: 'yaml', line: 0, message: /the file is empty/ },
  { desc: 'a comments-only file is an error', text: '\uFEFF# xmesh\n  # nothing yet\n', line: 0, message: /the file is empty/ },
  { desc: 'an empty .json file is an error', text: '\n', format: 'json', line: 0, message: /the file is empty/ },
  { desc: 'a YAML error names line and column', text: 'a: [1, 2\nb: 3\n', line: 2, message: /invalid YAML: / },
  { desc: 'two YAML documents are refused', text: 'a: 1\n---\nb: 2\n', line: 0, message: /invalid YAML: .*single document/ },
  { desc: 'YAML 1.2 core schema: yes/no and dates stay strings, 0o/0x are numbers', text: 'y: yes\nd: 2001-12-14\no: 0o17\nh: 0x1f\nn: ~\n', doc: { y: 'yes', d: '2001-12-14', o: 15, h: 31, n: null } },
  { desc: 'anchors and aliases resolve', text: 'a: &x {p: 1}\nb: *x\n', doc: { a: { p: 1 }, b: { p: 1 } } },
  { desc: 'durations stay strings', text: 'd: 0.1s\n', doc: { d: '0.1s' } },
  { desc: 'JSON content in a .yaml file takes the JSON fast path', text: '{"a": [1, {"b": "c"}]}', format: 'yaml', doc: { a: [1, { b: 'c' }] } },
  { desc: 'a YAML flow mapping that is not JSON still parses as YAML', text: '{a: 1, b: [x]}', format: 'yaml', doc: { a: 1, b: ['x'] } },
];
for (const c of parseCases) {
  test(`parseConfigText: ${c.desc}`, () => {
    const r = parseConfigText(c.text, c.format ?? 'auto');
    if (c.doc !== undefined) {
      assert.deepEqual(r, { status: 'parsed', doc: c.doc });
      return;
    }
    assert.equal(r.status, 'unparseable');
    if (r.status !== 'unparseable') return;
    if (c.line === 0) assert.equal(r.errors[0].path, '');
    else assert.match(r.errors[0].path, new RegExp(`^line ${c.line}, column \\d+$`));
    assert.match(r.errors[0].message, c.message!);
  });
}

test('loadConfigFile: a valid YAML file returns config and warnings', () => {
  const cfg = baseConfig();
  cfg.node = { id: 'n' };
  const yamlText = `# comment\n${JSON.stringify(cfg, null, 2)}`; // JSON is valid YAML
  const r = loadConfigFile(write('ok.yaml', yamlText));
  assert.equal(r.config.static_resources?.listeners?.[0].name, 'l');
  assert.deepEqual(r.warnings.map((w) => w.path), ['node']);
});

test('loadConfigFile: a valid .json file', () => {
  const r = loadConfigFile(write('ok.json', JSON.stringify(baseConfig())));
  assert.equal(r.config.static_resources?.clusters?.[0].name, 'c');
});

test('loadConfigFile: an invalid file throws ConfigError with every error', () => {
  const cfg = baseConfig();
  cfg.static_resources.clusters[0].lb_policy = 'FOO';
  cfg.static_resources.clusters[0].type = 'BAR';
  const file = write('bad.json', JSON.stringify(cfg));
  assert.throws(
    () => loadConfigFile(file),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.file, file);
      assert.deepEqual(e.errors.map((x) => x.path).sort(), ['static_resources.clusters[0].lb_policy', 'static_resources.clusters[0].type']);
      assert.match(e.message, /2 configuration errors/);
      return true;
    },
  );
});

test('loadConfigFile: a missing file is a ConfigError', () => {
  assert.throws(() => loadConfigFile(join(dir, 'nope.yaml')), (e: unknown) => e instanceof ConfigError && /cannot read file: ENOENT/.test(e.errors[0].message));
});

test('a generated big config (bench/tools/big-config.ts, bounded here) loads the same from YAML and JSON; errors keep their field path', () => {
  const o = { endpoints: 3000, clusters: 30 };
  const y = loadConfigFile(write('big.yaml', bigConfigYaml(o)));
  const j = loadConfigFile(write('big.json', bigConfigJson(o)));
  assert.deepEqual(y.config, j.config);
  assert.equal(y.config.static_resources?.clusters?.[29].load_assignment?.endpoints?.[0].lb_endpoints?.length, 100);
  const bad = bigConfigYaml(o).replace('address: 10.0.11.183, port_value: 8999 }', 'address: 10.0.11.183, port_value: 70000 }');
  assert.throws(
    () => loadConfigFile(write('big-bad.yaml', bad)),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.errors.length === 1 &&
      e.errors[0].path === 'static_resources.clusters[29].load_assignment.endpoints[0].lb_endpoints[99].endpoint.address.socket_address.port_value',
  );
});
