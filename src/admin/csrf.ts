/**
 * Cross-site request checks for admin requests that change state (every method but GET and
 * HEAD): a web page the operator has open must not be able to silence logging, fail health
 * checks or stop the proxy with a form or a no-preflight fetch to 127.0.0.1:15000.
 */
import type { IncomingMessage } from 'node:http';

/** Methods that never change state; every other method is checked. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/** The content types an HTML form (or a fetch without a CORS preflight) can send. */
const FORM_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Why a state-changing request looks cross-site (the 403 text), or undefined. Accepted: no
 * Origin header (curl, scripts) or an Origin equal to `http://<Host>`; no `Sec-Fetch-Site`
 * or one of same-origin / none (typed by the user); no form content type.
 */
export function crossSiteRefusal(req: IncomingMessage): string | undefined {
  const origin = header(req, 'origin');
  if (origin !== undefined) {
    const host = header(req, 'host');
    if (host === undefined || origin.toLowerCase() !== `http://${host.toLowerCase()}`) {
      return `cross-origin request refused (Origin ${origin} is not http://${host ?? '<no Host>'})`;
    }
  }
  const site = header(req, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `cross-site request refused (Sec-Fetch-Site: ${site})`;
  const type = (header(req, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (FORM_TYPES.includes(type)) return `form content type ${type} refused (send no body, as curl -X POST does)`;
  return undefined;
}
