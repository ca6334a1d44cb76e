// Where the load generator may send traffic: this server, or another server on loopback.
// Never a third party, so the generator can't be turned into an attack tool.
import { isLoopbackHost } from '../loopback.js';

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/** Parses a loopback http(s) base URL, or returns undefined when it is anything else. */
export function loopbackUrl(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !isLoopbackHost(url.hostname)) return undefined;
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) return undefined;
  return url.origin;
}

/** This server as the generator reaches it: over loopback when it listens on every interface. */
export function selfUrl(host: string, port: number): string {
  if (WILDCARD_HOSTS.has(host)) return `http://127.0.0.1:${port}`;
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}
