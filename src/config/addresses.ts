/** Address helpers: IP literal vs DNS hostname, and the host:port keys used for uniqueness checks. */
import { isIP } from 'node:net';

export function isIpLiteral(s: string): boolean {
  return isIP(s) !== 0;
}

/** RFC 1123 hostname (letters, digits, hyphens; dot-separated labels of 1..63 chars; optional trailing dot). */
const LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
export function isHostname(s: string): boolean {
  const h = s.endsWith('.') ? s.slice(0, -1) : s;
  if (h.length === 0 || h.length > 253) return false;
  // An all-numeric dotted name is a malformed IPv4 literal, not a hostname.
  if (/^[\d.]+$/.test(h)) return false;
  return h.split('.').every((l) => LABEL_RE.test(l));
}

export function isWildcard(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::' || ip === '::0';
}

/** "ip:port", bracketing IPv6, for messages and keys. */
export function hostPort(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Whether two listener addresses would collide on bind (same port, same IP or a wildcard of the same family). */
export function addressesOverlap(a: { ip: string; port: number }, b: { ip: string; port: number }): boolean {
  if (a.port !== b.port || a.port === 0) return false;
  if (a.ip === b.ip) return true;
  if (isIP(a.ip) !== isIP(b.ip)) return false;
  return isWildcard(a.ip) || isWildcard(b.ip);
}
