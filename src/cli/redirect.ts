/** `xmesh redirect install|status|uninstall|listener`: does for a cgroup what istio-iptables does for a pod, with eBPF where the kernel allows and iptables where it does not. */
import { Command, Option } from 'commander';
import { LoaderError, registerInboundListener } from '../bpf/loader-cli';
import { DEFAULTS, REDIRECT_MODES, RedirectOptionError, validateInstallOptions, type RawInstallOptions } from '../bpf/options';
import { defaultEnv, installRedirect, redirectStatus, RedirectUnsupportedError, uninstallRedirect, type RedirectEnv, type StatusReport } from '../bpf/redirect';
import { EXIT, type ExitCode } from './exit-codes';
import type { CliIo } from './main';

const EXIT_HELP = `
Exit codes:
  0  done
  1  failed: the kernel lacks a feature --mode ebpf needs, or the loader / iptables refused (reason printed)
  2  usage error (bad option value: the message names the option)`;

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function fail(io: CliIo, e: unknown): ExitCode {
  if (e instanceof RedirectOptionError) {
    // the field path in option spelling: excludeCidrs[2] -> --exclude-cidrs[2]
    io.err(`xmesh redirect: --${e.field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${e.detail}\n`);
    return EXIT.USAGE;
  }
  if (e instanceof RedirectUnsupportedError || e instanceof LoaderError || e instanceof Error) {
    io.err(`xmesh redirect: ${(e as Error).message}\n`);
    return EXIT.BAD_CONFIG;
  }
  throw e;
}

function counters(ebpf: Record<string, unknown> | null): Record<string, number> {
  return (ebpf?.counters as Record<string, number> | undefined) ?? {};
}

/** Human-readable status: mode per part, attachments, fill levels, non-zero counters. */
export function formatStatus(s: StatusReport): string {
  const lines = [`instance ${s.instance}: ${s.installed ? 'installed' : 'not installed'}`];
  if (!s.installed) return `${lines[0]}\n`;
  if (s.parts) lines.push(`  parts: ${Object.entries(s.parts).map(([k, v]) => `${k}=${v}`).join(' ')}${s.netns ? ` (netns ${s.netns})` : ''}`);
  if (s.ebpf?.installed) {
    const knobs = s.ebpf.knobs as Record<string, unknown> | null;
    if (knobs) lines.push(`  outbound listener ${knobs.outbound_ip4}:${knobs.outbound_port}, inbound listener port ${knobs.inbound_port}, exclude uid ${knobs.exclude_uid ?? 'none'}, exclude mark ${knobs.exclude_mark}`);
    for (const a of (s.ebpf.attachments as Array<Record<string, unknown>>) ?? []) {
      const where = a.attach === 'cgroup' ? `cgroup id ${a.cgroup_id}` : a.attach === 'netns' ? `netns inode ${a.netns_ino}` : a.attach === 'xdp' ? `ifindex ${a.ifindex}` : `map ${a.map}`;
      lines.push(`  ${String(a.name).padEnd(10)} prog ${a.prog_id}${a.link_id !== undefined ? ` link ${a.link_id}` : ''} on ${where}`);
    }
    const maps = (s.ebpf.maps as Record<string, { entries: number; max: number }>) ?? {};
    lines.push(`  maps: ${Object.entries(maps).map(([k, v]) => `${k} ${v.entries}/${v.max}`).join(', ')}`);
    const nz = Object.entries(counters(s.ebpf)).filter(([, v]) => v > 0);
    lines.push(`  counters: ${nz.length ? nz.map(([k, v]) => `${k}=${v}`).join(' ') : 'all zero'}`);
  }
  for (const d of s.denyRules ?? []) lines.push(`  deny ${d.cidr}${d.port ? ` port ${d.port}` : ''}: ${d.packets} packets, ${d.bytes} bytes dropped (xdp)`);
  for (const d of s.iptablesDeny ?? []) lines.push(`  deny ${d.rule}: ${d.packets} packets, ${d.bytes} bytes dropped (iptables)`);
  lines.push('  existing connections are untouched: only connects made after install are redirected');
  return `${lines.join('\n')}\n`;
}

/** Adds `redirect` and its subcommands to the xmesh program. `env` is for tests (their own loader command and state directory). */
export function registerRedirectCommand(program: Command, io: CliIo, setCode: (c: ExitCode) => void, env: () => RedirectEnv = defaultEnv): Command {
  const redirect = program
    .command('redirect')
    .description('send an application cgroup\'s traffic through xmesh: eBPF (connect4/6, SO_ORIGINAL_DST, sockmap, sk_lookup, XDP) where the kernel allows, iptables otherwise')
    .addHelpText('after', EXIT_HELP);

  redirect
    .command('install')
    .description('redirect the cgroup\'s outbound TCP connects to the outbound listener (and, with --inbound-ports, inbound connections to the inbound listener); again to change options in place')
    .requiredOption('--cgroup <dir>', 'cgroup v2 directory of the application (never a hierarchy root)')
    .option('--instance <name>', 'instance name: pins under /sys/fs/bpf/xmesh/<name>/, state under /run/xmesh/redirect/', DEFAULTS.instance)
    .addOption(new Option('--mode <mode>', 'ebpf (fail when the kernel lacks a feature), iptables (the old-kernel path), auto (eBPF per feature, iptables for the rest)').choices(REDIRECT_MODES).default(DEFAULTS.mode))
    .option('--sidecar-cgroup <dir>', 'cgroup of xmesh itself, where SO_ORIGINAL_DST is answered (default: --cgroup)')
    .option('--sockops-cgroup <dir>', 'cgroup holding both the app and xmesh, for sockmap and original-destination tracking (default: --cgroup)')
    .option('--netns <path>', 'network namespace of the pod (/run/netns/NAME, /proc/PID/ns/net) for sk_lookup, XDP and iptables (default: this process\'s)')
    .option('--outbound-port <port>', 'outbound listener port', String(DEFAULTS.outboundPort))
    .option('--outbound-address <ipv4>', 'outbound listener IPv4 address', DEFAULTS.outboundAddress)
    .option('--outbound-address6 <ipv6>', 'outbound listener IPv6 address (with --redirect-ipv6)', DEFAULTS.outboundAddress6)
    .option('--inbound-port <port>', 'inbound listener port', String(DEFAULTS.inboundPort))
    .option('--inbound-ports <list>', 'application ports whose inbound connections go to the inbound listener, or "*" for all but --exclude-inbound-ports')
    .option('--exclude-inbound-ports <list>', `with --inbound-ports "*": ports left alone (default: ${DEFAULTS.excludeInboundPorts.join(',')})`)
    .option('--exclude-ports <list>', 'destination ports never redirected, comma-separated')
    .option('--exclude-cidrs <list>', 'destination CIDRs never redirected, comma-separated')
    .option('--include-cidrs <list>', 'redirect only these destination CIDRs (include-only mode)')
    .option('--exclude-uid <uid>', 'connects by this uid are never redirected ("none" to turn off)', String(DEFAULTS.excludeUid))
    .option('--exclude-mark <mark>', 'sockets carrying these mark bits are never redirected (0: none)', String(DEFAULTS.excludeMark))
    .option('--redirect-ipv6', 'also redirect native IPv6 connects (needs a listener on --outbound-address6)')
    .option('--sockmap', 'sk_msg acceleration of the app<->xmesh loopback legs (off by default: a blocking recv() on an app socket in the sockhash can fail with EAGAIN while another thread writes to it)')
    .option('--iface <name>', 'interface the deny list guards (XDP, or the raw table in iptables mode)')
    .option('--deny <cidr[:port]>', 'drop traffic from CIDR (to PORT); repeatable; [v6/len]:port for IPv6', collect)
    .option('--xdp-generic', 'XDP in generic (skb) mode even where the driver has native XDP')
    .option('--json', 'print the install report as JSON')
    .addHelpText('after', `\nExamples:\n  xmesh redirect install --cgroup /sys/fs/cgroup/kubepods/pod1/app --exclude-ports 22 --inbound-ports '*'\n  xmesh redirect install --cgroup /sys/fs/cgroup/app --mode iptables --netns /run/netns/pod1\n${EXIT_HELP}`)
    .action((raw: RawInstallOptions & { json?: boolean }) => {
      try {
        const r = installRedirect(validateInstallOptions(raw), env());
        if (raw.json) io.out(`${JSON.stringify(r)}\n`);
        else {
          io.out(`instance ${r.instance}: ${Object.entries(r.parts).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
          if (r.ebpf) io.out(`  ebpf: ${r.ebpf.attached.join(', ')}${r.ebpf.replaced ? ` (${r.ebpf.replaced} replaced in place)` : ''}${r.ebpf.reused_maps ? ', maps kept' : ''}${r.ebpf.xdp_mode ? `, xdp ${r.ebpf.xdp_mode}` : ''}\n`);
          if (r.iptablesRules) io.out(`  iptables: ${r.iptablesRules} rules\n`);
          for (const n of r.notes) io.out(`  note: ${n}\n`);
        }
        setCode(EXIT.OK);
      } catch (e) {
        setCode(fail(io, e));
      }
    });

  redirect
    .command('status')
    .description('show how the instance redirects: parts and their mode, programs and attach points, map fill levels, counters')
    .option('--instance <name>', 'instance name', DEFAULTS.instance)
    .option('--json', 'print JSON')
    .addHelpText('after', EXIT_HELP)
    .action((o: { instance: string; json?: boolean }) => {
      try {
        const s = redirectStatus(o.instance, env());
        io.out(o.json ? `${JSON.stringify(s)}\n` : formatStatus(s));
        setCode(EXIT.OK);
      } catch (e) {
        setCode(fail(io, e));
      }
    });

  redirect
    .command('uninstall')
    .description('remove every program, link, pin and iptables rule the instance added (nothing else)')
    .option('--instance <name>', 'instance name', DEFAULTS.instance)
    .addHelpText('after', EXIT_HELP)
    .action((o: { instance: string }) => {
      try {
        const r = uninstallRedirect(o.instance, env());
        io.out(`instance ${o.instance}: removed ${r.ebpfPins} eBPF pins${r.iptables ? ' and its iptables rules' : ''}\n`);
        setCode(EXIT.OK);
      } catch (e) {
        setCode(fail(io, e));
      }
    });

  redirect
    .command('listener')
    .description('register a running process\'s listening socket as the inbound listener sk_lookup steers to (the data plane will register its own)')
    .option('--instance <name>', 'instance name', DEFAULTS.instance)
    .requiredOption('--pid <pid>', 'process holding the listener')
    .requiredOption('--fd <fd>', 'its file descriptor number (ls -l /proc/PID/fd)')
    .addHelpText('after', EXIT_HELP)
    .action((o: { instance: string; pid: string; fd: string }) => {
      if (!/^\d+$/.test(o.pid) || !/^\d+$/.test(o.fd)) {
        io.err('xmesh redirect listener: --pid and --fd take numbers\n');
        setCode(EXIT.USAGE);
        return;
      }
      try {
        registerInboundListener(env().loader, o.instance, Number(o.pid), Number(o.fd));
        io.out(`instance ${o.instance}: inbound listener registered (pid ${o.pid} fd ${o.fd})\n`);
        setCode(EXIT.OK);
      } catch (e) {
        setCode(fail(io, e));
      }
    });

  return redirect;
}
