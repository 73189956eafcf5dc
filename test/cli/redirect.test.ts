// `xmesh redirect`: --help on every subcommand, usage errors that name the option (exit 2), and status/uninstall of
// an instance that is not installed, on the real program (main.ts registers the command).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CommanderError } from 'commander';
import { formatStatus } from '../../src/cli/redirect';
import { buildProgram } from '../../src/cli/main';
import { EXIT, type ExitCode } from '../../src/cli/exit-codes';

const stateDir = mkdtempSync(join(tmpdir(), 'xmesh-redirect-cli-'));
after(() => rmSync(stateDir, { recursive: true, force: true }));
const env = () => ({ loader: ['/nonexistent/xmesh-bpf'], stateDir });

async function run(args: string[]): Promise<{ code: ExitCode; out: string; err: string }> {
  let out = '';
  let err = '';
  let code: ExitCode = EXIT.OK;
  const io = { out: (s: string) => (out += s), err: (s: string) => (err += s) };
  const program = buildProgram(io, (c) => (code = c), env);
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    code = e.code === 'commander.helpDisplayed' ? EXIT.OK : EXIT.USAGE;
  }
  return { code, out, err };
}

const helpCases: Array<{ args: string[]; has: RegExp[] }> = [
  { args: ['redirect', '--help'], has: [/install/, /status/, /uninstall/, /Exit codes:/] },
  { args: ['redirect', 'install', '--help'], has: [/--cgroup <dir>/, /--mode <mode>/, /choices: "ebpf", "iptables", "auto"/, /--exclude-uid <uid>/, /--sockmap/, /EAGAIN/, /--deny <cidr\[:port\]>/, /Examples:/] },
  { args: ['redirect', 'status', '--help'], has: [/--instance <name>/, /--json/] },
  { args: ['redirect', 'uninstall', '--help'], has: [/nothing else/] },
  { args: ['redirect', 'listener', '--help'], has: [/--pid <pid>/, /--fd <fd>/] },
];
for (const c of helpCases) {
  test(`xmesh ${c.args.join(' ')} prints help and exits 0`, async () => {
    const r = await run(c.args);
    assert.equal(r.code, EXIT.OK);
    const flat = r.out.replace(/\s+/g, ' '); // commander wraps help to the terminal width
    for (const h of c.has) assert.match(flat, h);
  });
}

const usageCases: Array<{ desc: string; args: string[]; err: RegExp }> = [
  { desc: 'install without --cgroup', args: ['redirect', 'install'], err: /required option '--cgroup <dir>'/ },
  { desc: 'an unknown mode', args: ['redirect', 'install', '--cgroup', '/c', '--mode', 'nft'], err: /Allowed choices are ebpf, iptables, auto/ },
  { desc: 'a bad port', args: ['redirect', 'install', '--cgroup', '/c', '--outbound-port', '0'], err: /--outbound-port: expected a port 1-65535, got "0"/ },
  { desc: 'a bad CIDR in a list names its index', args: ['redirect', 'install', '--cgroup', '/c', '--exclude-cidrs', '10.0.0.0/8,300.1.1.1'], err: /--exclude-cidrs\[1\]: expected an IPv4 or IPv6 CIDR/ },
  { desc: 'deny without --iface', args: ['redirect', 'install', '--cgroup', '/c', '--deny', '10.0.0.0/8'], err: /--iface: required with deny rules/ },
  { desc: 'listener with a non-numeric pid', args: ['redirect', 'listener', '--pid', 'x', '--fd', '3'], err: /--pid and --fd take numbers/ },
];
for (const c of usageCases) {
  test(`xmesh redirect: ${c.desc} is a usage error (exit 2)`, async () => {
    const r = await run(c.args);
    assert.equal(r.code, EXIT.USAGE);
    assert.match(r.err, c.err);
  });
}

test('status of an instance that was never installed says so (exit 0)', async () => {
  const r = await run(['redirect', 'status', '--instance', 'nothing']);
  assert.equal(r.code, EXIT.OK);
  assert.equal(r.out, 'instance nothing: not installed\n');
  const j = await run(['redirect', 'status', '--instance', 'nothing', '--json']);
  assert.equal(JSON.parse(j.out).installed, false);
});

test('uninstall of an instance that was never installed removes nothing and succeeds', async () => {
  const r = await run(['redirect', 'uninstall', '--instance', 'nothing']);
  assert.equal(r.code, EXIT.OK);
  assert.match(r.out, /removed 0 eBPF pins/);
});

test('install --mode ebpf without a loader fails with exit 1 and says why', async () => {
  const r = await run(['redirect', 'install', '--cgroup', '/sys/fs/cgroup/x', '--mode', 'ebpf']);
  assert.equal(r.code, 1);
  assert.match(r.err, /outbound: eBPF loader unavailable: cannot run \/nonexistent\/xmesh-bpf/);
});

test('formatStatus shows parts, attachments, fill levels, non-zero counters, deny counters and the existing-connections note', () => {
  const text = formatStatus({
    instance: 'p',
    installed: true,
    parts: { outbound: 'ebpf', inbound: 'iptables', sockmap: 'off', deny: 'ebpf' },
    ebpf: {
      installed: true,
      knobs: { outbound_ip4: '127.0.0.1', outbound_port: 15001, inbound_port: 15006, exclude_uid: 1337, exclude_mark: 0 },
      attachments: [{ name: 'connect4', prog_id: 7, link_id: 3, attach: 'cgroup', cgroup_id: 99 }],
      maps: { orig_dst_by_tuple: { entries: 2, max: 65536 } },
      counters: { connect_redirected: 5, connect_skip_uid: 0 },
    },
    denyRules: [{ id: 0, cidr: '10.0.0.0/8', port: 80, packets: 3, bytes: 180 }],
  });
  for (const s of ['parts: outbound=ebpf inbound=iptables sockmap=off deny=ebpf', 'connect4   prog 7 link 3 on cgroup id 99', 'orig_dst_by_tuple 2/65536', 'connect_redirected=5', 'deny 10.0.0.0/8 port 80: 3 packets, 180 bytes dropped (xdp)', 'existing connections are untouched']) {
    assert.ok(text.includes(s), `${s}\n${text}`);
  }
  assert.ok(!text.includes('connect_skip_uid'));
});
