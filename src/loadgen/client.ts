// The load generator's HTTP client: got, with the per-request costs a profile found taken out.
//
// bench/client.ts measures it against the old got.extend(...).stream(path) and bare node:http.
// Per request, got 14 (on Node 20) spent most of its own time in three places:
//  1. Options.createNativeRequestOptions spreads `cacheOptions` (four undefined keys by default)
//     into an object literal with ~35 more properties: V8 takes a slow path there, ~55 µs a call.
//     With cacheOptions {} it is ~4 µs. There is no cache, so cacheOptions are never read.
//  2. node:http's ClientRequest then merges those ~37 options, mostly undefined, into the URL's
//     null-prototype options object. `leanRequest` hands it only the ones got set.
//  3. Merging the call's options into the instance's defaults (cloneRaw, init hooks, setters)
//     and the handler chain: small next to 1 and 2, but free to skip. The options are built and
//     validated once; each request is `got(path, undefined, defaults)`, which is got's Request
//     constructed on top of them.
// Reuse shares no mutable state: got's Request copies the defaults into a fresh Options
// (cloneInternals: new headers, timeout, hooks, agent map, context... objects) before it touches
// anything, and the defaults are frozen so that nothing could change them anyway. The Agent is
// the one thing shared, as it is meant to be.
import http from 'node:http';
import https from 'node:https';
import got, { Options, type NativeRequestOptions, type Request } from 'got';

export interface LoadClient {
  /** One GET of `path` (starts with '/'), resolving with the status once the body has been fully read; rejects with got's error (with .code) on a network error/timeout. */
  send(path: string): Promise<number>;
  /** Destroys the keep-alive agent. Safe twice. */
  close(): void;
}

export interface LoadClientOptions {
  /** Origin, e.g. http://127.0.0.1:5000 */
  target: string;
  concurrency: number;
  timeoutMs: number;
  headers: Record<string, string>;
}

/**
 * node:http's request with only the options got set: an unset one is undefined, which node
 * treats as absent anyway, so this changes nothing but the cost. Called as a property, as got
 * calls its fallbacks (nock and the like replace them).
 */
function leanRequest(url: URL, options: NativeRequestOptions): http.ClientRequest {
  const given: Record<string, unknown> = {};
  for (const key in options) {
    const value = options[key as keyof NativeRequestOptions];
    if (value !== undefined) given[key] = value;
  }
  return url.protocol === 'https:' ? https.request(url, given) : http.request(url, given);
}

/** got(url, undefined, defaults): what got.paginate uses; typed for url undefined only. */
const gotWithDefaults = got as unknown as (url: string, options: undefined, defaults: Options) => Request;

export function createLoadClient({ target, concurrency, timeoutMs, headers }: LoadClientOptions): LoadClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const defaults = new Options({
    prefixUrl: target,
    agent: { http: agent },
    // A load test must show failures, never hide them behind retries.
    retry: { limit: 0 },
    timeout: { request: timeoutMs },
    throwHttpErrors: false,
    followRedirect: false,
    decompress: false,
    headers: { ...headers },
    isStream: true,
    request: leanRequest,
  });
  // Outside a merge this replaces the four undefined keys with none: see 1. above.
  defaults.cacheOptions = {};
  defaults.freeze();

  const send = (path: string): Promise<number> => new Promise((resolve, reject) => {
    // prefixUrl joins with a single slash, so the leading one is dropped here. A bad URL does
    // not throw: got's Request emits it as its error, as got.stream would.
    const request = gotWithDefaults(path.slice(1), undefined, defaults);
    let status = 0;
    request.once('response', (response: { statusCode: number }) => { status = response.statusCode; });
    request.once('error', reject);
    request.once('end', () => resolve(status));
    // Drained, never buffered: the body only flows through to be counted as read.
    request.resume();
  });

  return { send, close: () => agent.destroy() };
}
