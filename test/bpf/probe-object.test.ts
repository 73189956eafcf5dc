// Checks the built eBPF object's ABI (map, value struct, rodata knob, program section) with
// bpftool, without loading anything. Skips when bpf/ has not been built or bpftool is absent.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const OBJ = path.join(ROOT, 'bpf', 'xmesh_probe.bpf.o');
const SKEL = path.join(ROOT, 'bpf', 'xmesh_probe.skel.h');

function bpftool(args: string[]): string | null {
  try {
    return execFileSync('bpftool', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return null;
  }
}

const skip = !fs.existsSync(OBJ) ? 'bpf/ not built (npm run build:bpf)' : bpftool(['version']) === null ? 'bpftool missing' : false;

const cases = [
  { desc: 'value struct xm_probe_counters is 16 bytes (two u64)', re: /STRUCT 'xm_probe_counters' size=16 vlen=2/ },
  { desc: 'per-CPU array map probe_counters is declared with BTF', re: /'probe_counters'/ },
  { desc: 'rodata knob match_ip_proto exists', re: /'match_ip_proto'/ },
  { desc: 'program xmesh_probe is in the object', re: /FUNC 'xmesh_probe'/ },
];

for (const c of cases) {
  test(`xmesh_probe.bpf.o: ${c.desc}`, { skip }, () => {
    const btf = bpftool(['btf', 'dump', 'file', OBJ]);
    assert.ok(btf, 'bpftool btf dump failed');
    assert.match(btf, c.re);
  });
}

test('skeleton exposes xmesh_probe_bpf__open_and_load and the counters map', { skip: fs.existsSync(SKEL) ? false : 'skeleton not built' }, () => {
  const h = fs.readFileSync(SKEL, 'utf8');
  assert.match(h, /xmesh_probe_bpf__open_and_load\(void\)/);
  assert.match(h, /struct bpf_map \*probe_counters;/);
  assert.match(h, /cgroup_skb\/egress|xmesh_probe/);
});
