/**
 * Writes a large bootstrap (YAML or JSON) for measuring config load time: one tcp_proxy
 * listener per cluster and ENDPOINTS endpoints spread over the clusters, in the block YAML
 * style of Envoy's examples. The defaults come close to issue 15's 10 MB / 113k-endpoint file
 * (12 MB of YAML). `--measure` loads each form in a child process of its own and prints the
 * time and RSS growth of loadConfigFile (parse + validate); it is not a timed unit test.
 *
 *   node dist/bench/tools/big-config.js [--endpoints N] [--clusters N] [--format yaml|json] [--out FILE]
 *   node dist/bench/tools/big-config.js --measure [--endpoints N]   # load it both ways, print ms and MB
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BigConfigOptions {
  endpoints: number;
  clusters: number;
}

const MAX_ENDPOINTS = 1_000_000;

function ip(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/** The document as YAML text (block style, as written by hand or by Helm templates). */
export function bigConfigYaml(o: BigConfigOptions): string {
  const out: string[] = ['admin:', '  address:', '    socket_address: { address: 127.0.0.1, port_value: 0 }', 'static_resources:', '  listeners:'];
  for (let c = 0; c < o.clusters; c++) {
    out.push(
      `  - name: listener_${c}`,
      '    address:',
      '      socket_address:',
      '        address: 127.0.0.1',
      '        port_value: 0',
      '    filter_chains:',
      '    - filters:',
      '      - name: envoy.filters.network.tcp_proxy',
      '        typed_config:',
      '          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
      `          stat_prefix: listener_${c}`,
      `          cluster: cluster_${c}`,
    );
  }
  out.push('  clusters:');
  let e = 0;
  for (let c = 0; c < o.clusters; c++) {
    out.push(`  - name: cluster_${c}`, '    type: STATIC', '    connect_timeout: 1s', '    lb_policy: ROUND_ROBIN', '    load_assignment:', `      cluster_name: cluster_${c}`, '      endpoints:', '      - lb_endpoints:');
    const n = Math.floor(o.endpoints / o.clusters) + (c < o.endpoints % o.clusters ? 1 : 0);
    for (let i = 0; i < n; i++, e++) {
      out.push('        - endpoint:', '            address:', `              socket_address: { address: ${ip(e)}, port_value: ${8000 + (e % 1000)} }`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** The same document as JSON (one line). */
export function bigConfigJson(o: BigConfigOptions): string {
  // Built directly (not by parsing the YAML): the parser is what is being measured.
  const listeners = [];
  const clusters = [];
  let e = 0;
  for (let c = 0; c < o.clusters; c++) {
    listeners.push({
      name: `listener_${c}`,
      address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: `listener_${c}`, cluster: `cluster_${c}` } }] }],
    });
    const n = Math.floor(o.endpoints / o.clusters) + (c < o.endpoints % o.clusters ? 1 : 0);
    const lb = [];
    for (let i = 0; i < n; i++, e++) lb.push({ endpoint: { address: { socket_address: { address: ip(e), port_value: 8000 + (e % 1000) } } } });
    clusters.push({ name: `cluster_${c}`, type: 'STATIC', connect_timeout: '1s', lb_policy: 'ROUND_ROBIN', load_assignment: { cluster_name: `cluster_${c}`, endpoints: [{ lb_endpoints: lb }] } });
  }
  return JSON.stringify({ admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } }, static_resources: { listeners, clusters } });
}

function parseArgs(argv: readonly string[]): BigConfigOptions & { format: 'yaml' | 'json'; out?: string; measure: boolean } {
  const o = { endpoints: 113_000, clusters: 1000, format: 'yaml' as 'yaml' | 'json', out: undefined as string | undefined, measure: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--endpoints' || a === '--clusters') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > MAX_ENDPOINTS) throw new Error(`${a}: an integer from 1 to ${MAX_ENDPOINTS}`);
      o[a === '--endpoints' ? 'endpoints' : 'clusters'] = n;
      i++;
    } else if (a === '--format' && (v === 'yaml' || v === 'json')) (o.format = v), i++;
    else if (a === '--out' && v) (o.out = v), i++;
    else if (a === '--measure') o.measure = true;
    else throw new Error(`big-config: unknown argument ${a} (usage: --endpoints N --clusters N --format yaml|json --out FILE | --measure)`);
  }
  return o;
}

async function measure(o: BigConfigOptions): Promise<void> {
  // Each format in a child process of its own, so one's heap does not count against the other.
  const { execFileSync } = await import('node:child_process');
  for (const format of ['json', 'yaml'] as const) {
    const file = join(tmpdir(), `xmesh-big-config-${process.pid}.${format}`);
    const text = format === 'yaml' ? bigConfigYaml(o) : bigConfigJson(o);
    writeFileSync(file, text);
    const script = `const {loadConfigFile}=require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'config', 'load.js'))});
      const rss0=process.memoryUsage().rss; const t=process.hrtime.bigint(); const c=loadConfigFile(${JSON.stringify(file)});
      const ms=Number(process.hrtime.bigint()-t)/1e6; const n=c.config.static_resources.clusters.reduce((s,x)=>s+x.load_assignment.endpoints[0].lb_endpoints.length,0);
      console.log(JSON.stringify({ms:Math.round(ms), endpoints:n, rssGrowthMB:Math.round((process.memoryUsage().rss-rss0)/1048576)}));`;
    const r = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { ms: number; endpoints: number; rssGrowthMB: number };
    console.log(`${format}: ${(text.length / 1048576).toFixed(1)} MB, ${r.endpoints} endpoints, load ${r.ms} ms, RSS +${r.rssGrowthMB} MB`);
    const { rmSync } = await import('node:fs');
    rmSync(file, { force: true });
  }
}

if (require.main === module) {
  const o = parseArgs(process.argv.slice(2));
  if (o.measure) void measure(o);
  else {
    const text = o.format === 'yaml' ? bigConfigYaml(o) : bigConfigJson(o);
    if (o.out) writeFileSync(o.out, text);
    else process.stdout.write(text);
  }
}
