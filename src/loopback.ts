// What counts as this machine: the admin check, the rate limits' exemption for the server's own
// load tests, the flood guard's loopback exemption and the load generator's targets all ask here.
// Dependency-free, so that the load generator's worker thread loads nothing else with it.
import { isIP } from 'node:net';

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./.test(host);
  return false;
}

/**
 * The header the built-in load generator sends, with a per-process secret, so that this server's
 * rate limits let its own load tests (from loopback) through: see ratelimit.ts.
 */
export const LOADGEN_HEADER = 'x-hitcounter-loadgen';
