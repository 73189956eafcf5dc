/** Validation of Envoy `Address` blocks (only `socket_address` over TCP is supported). */
import { isHostname, isIpLiteral } from './addresses';
import { at, type Checker } from './checker';

export interface CheckedAddress {
  host: string;
  port: number;
}

export interface AddressRules {
  /** What the host may be: an IP literal only, or an IP literal or DNS hostname. */
  host: 'ip' | 'ip-or-hostname';
  /** Lowest port accepted: 0 for things we bind (ephemeral port), 1 for things we connect to. */
  minPort: 0 | 1;
  /** Why a hostname is not accepted here, appended to the error. */
  ipOnlyReason?: string;
}

export function checkAddress(c: Checker, v: unknown, path: string, rules: AddressRules): CheckedAddress | undefined {
  const a = c.object(v, path, { known: ['socket_address', 'pipe', 'envoy_internal_address'] });
  if (!a) return undefined;
  if (a.pipe !== undefined) c.error(at(path, 'pipe'), 'unix domain socket addresses are not supported by xmesh yet');
  if (a.envoy_internal_address !== undefined) c.error(at(path, 'envoy_internal_address'), 'internal addresses are not supported by xmesh');
  if (a.socket_address === undefined) {
    if (a.pipe === undefined && a.envoy_internal_address === undefined) c.error(at(path, 'socket_address'), 'required field is missing');
    return undefined;
  }
  const sp = at(path, 'socket_address');
  const s = c.object(a.socket_address, sp, {
    required: ['address'],
    known: ['address', 'port_value', 'protocol', 'ipv4_compat', 'resolver_name'],
  });
  if (!s) return undefined;
  if (s.protocol !== undefined) {
    const p = c.enumOf(s.protocol, at(sp, 'protocol'), ['TCP', 'UDP'] as const);
    if (p === 'UDP') c.error(at(sp, 'protocol'), 'UDP is not supported by xmesh');
  }
  if (s.ipv4_compat !== undefined) c.bool(s.ipv4_compat, at(sp, 'ipv4_compat'));
  if (s.resolver_name !== undefined) c.error(at(sp, 'resolver_name'), 'custom resolvers are not supported by xmesh');
  let host: string | undefined;
  if (s.address !== undefined) {
    host = c.string(s.address, at(sp, 'address'), { nonEmpty: true });
    if (host !== undefined) {
      if (!isIpLiteral(host)) {
        if (rules.host === 'ip') {
          c.error(at(sp, 'address'), `"${host}" is not an IP address literal${rules.ipOnlyReason ? ` (${rules.ipOnlyReason})` : ''}`);
          host = undefined;
        } else if (!isHostname(host)) {
          c.error(at(sp, 'address'), `"${host}" is neither an IP address literal nor a valid DNS hostname`);
          host = undefined;
        }
      }
    }
  }
  let port: number | undefined;
  if (s.port_value === undefined) {
    if (rules.minPort === 1) c.error(at(sp, 'port_value'), 'required field is missing');
    else port = 0;
  } else {
    port = c.uint(s.port_value, at(sp, 'port_value'), { min: rules.minPort, max: 65535 });
  }
  if (host === undefined || port === undefined) return undefined;
  return { host, port };
}
