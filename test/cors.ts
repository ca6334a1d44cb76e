// CORS (settings.cors, src/cors.ts): what a page on another origin may count and read, in a real
// browser (Debian's chromium through playwright-core) whose page comes from a second local server
// on another port; the preflights, the error answers and the settings, over plain HTTP; and no
// Access-Control-* header at all with CORS off (the default).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './helpers/browser.js';
import { startApp, withApp, type TestApp } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';
import { openSse } from './helpers/sse.js';

let browser: Browser;
test.before(async () => { browser = await launchChromium(); });
test.after.always(async () => { await browser?.close(); });

/** A second origin: a local server whose every path is an empty page. */
async function pageOrigin(t: ExecutionContext): Promise<string> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>a page on another origin</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function openPage(t: ExecutionContext, origin: string): Promise<Page> {
  const context = await browser.newContext();
  t.teardown(() => context.close());
  // tsx compiles this file with esbuild's keepNames, which wraps the functions named inside the
  // page.evaluate callbacks below in __name(): a helper of Node's side the page has not got.
  await context.addInitScript({ content: 'globalThis.__name = (target) => target;' });
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  return page;
}

// The page's own globals, which Node's types do not declare.
declare const navigator: { sendBeacon(url: string, data?: string | Blob): boolean };

const score = async (app: TestApp, path: string) => Number(await app.redis.client.zscore(app.shard.hits, path) ?? 0);

/** Access-Control-* headers and Vary of an answer. */
function corsOf(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('access-control-')).map(([name, value]) => [name, String(value)]));
}

/** What a page's fetch got: its status and the headers it could read, or that the browser blocked it. */
interface Seen { blocked?: string; status?: number; body?: unknown; headers?: Record<string, string | null> }

test('a page on an allowed origin counts with GET, POST and sendBeacon, reads its counts, /stats and the stream; admin routes stay closed', async (t) => {
  const allowed = await pageOrigin(t);
  const other = await pageOrigin(t);
  const app = await startApp(t, { tweak: (s) => { s.cors.origins = [allowed]; s.cors.credentials = true; } });
  const page = await openPage(t, allowed);

  // Each fetch as the page sees it: what it may read, or the browser's refusal.
  const seen = await page.evaluate(async (api) => {
    const read = async (url: string, init?: RequestInit): Promise<Seen> => {
      try {
        const response = await fetch(url, init);
        const headers = Object.fromEntries(['X-Request-Id', 'X-Total-Count', 'Link', 'Content-Type'].map((name) => [name, response.headers.get(name)]));
        return { status: response.status, headers, body: await response.json() };
      } catch (error) {
        return { blocked: (error as Error).name };
      }
    };
    return {
      get: await read(`${api}/api/x`),
      // Content-Type application/json is not a simple request: a preflight first, which must not count.
      post: await read(`${api}/api/y`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"ignored":true}' }),
      credentialed: await read(`${api}/api/x`, { credentials: 'include' }),
      stats: await read(`${api}/stats?limit=1`),
      // Not a simple request: the preflight has no Access-Control-Allow-Origin for DELETE, so the DELETE is never sent.
      reset: await read(`${api}/stats`, { method: 'DELETE' }),
    };
  }, app.url) as Record<string, Seen>;
  t.log(JSON.stringify(seen));
  t.is(seen.get!.status, 200);
  t.deepEqual(seen.get!.body, { path: '/api/x', hits: 1 });
  t.regex(seen.get!.headers!['X-Request-Id']!, /^[\w.:-]+$/, 'X-Request-Id is exposed');
  t.is(seen.post!.status, 200);
  t.deepEqual(seen.post!.body, { path: '/api/y', hits: 1 }, 'the preflight counted nothing');
  t.deepEqual(seen.credentialed!.body, { path: '/api/x', hits: 2 }, 'with credentials: the origin is echoed and credentials allowed');
  t.is(seen.stats!.status, 200);
  t.deepEqual(seen.stats!.body, [{ path: '/api/x', hits: 2 }]);
  t.is(seen.stats!.headers!['X-Total-Count'], '2', 'X-Total-Count is exposed');
  t.regex(seen.stats!.headers!.Link!, /rel="next"/, 'Link is exposed');
  t.is(seen.reset!.blocked, 'TypeError', 'DELETE /stats is refused at the preflight');

  // sendBeacon: a POST with credentials mode "include", of text/plain (a simple request, sent
  // without a preflight) or of JSON (after a credentialed preflight, which needs the origin echoed
  // and Access-Control-Allow-Credentials).
  const queued = await page.evaluate((api) => [
    navigator.sendBeacon(`${api}/api/z`, 'hello'),
    navigator.sendBeacon(`${api}/api/w`, new Blob(['{"a":1}'], { type: 'application/json' })),
  ], app.url);
  t.deepEqual(queued, [true, true]);
  await eventually(async () => (await score(app, '/api/z')) === 1 && (await score(app, '/api/w')) === 1, { what: 'both beacons counted' });

  // The live feed, with EventSource: its first event is the backlog.
  const first = await page.evaluate((api) => new Promise<string>((resolve, reject) => {
    const source = new EventSource(`${api}/stats/stream`);
    source.addEventListener('backlog', () => { source.close(); resolve('backlog'); });
    source.onerror = () => { source.close(); reject(new Error('EventSource failed')); };
  }), app.url);
  t.is(first, 'backlog');

  // A page on an origin not in the list: a simple GET is still sent (as an <img> would be) and
  // counts, but the page cannot read the answer; a POST that needs a preflight is never sent.
  const stranger = await openPage(t, other);
  const refused = await stranger.evaluate(async (api) => {
    const attempt = (url: string, init?: RequestInit) => fetch(url, init).then(() => 'read', (error: Error) => `blocked: ${error.name}`);
    return [
      await attempt(`${api}/api/q`),
      await attempt(`${api}/api/r`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }),
      await attempt(`${api}/stats`),
    ];
  }, app.url);
  t.deepEqual(refused, ['blocked: TypeError', 'blocked: TypeError', 'blocked: TypeError']);
  t.is(await score(app, '/api/q'), 1, 'a simple GET from another origin counts, though the page cannot read its answer');
  t.is(await score(app, '/api/r'), 0, 'a preflighted POST from another origin is never sent');

  // Counted == accepted: x twice, y, z, w, and q (the server answered 200; the page could not read it).
  const expected = { '/api/x': 2, '/api/y': 1, '/api/z': 1, '/api/w': 1, '/api/q': 1 };
  for (const [path, hits] of Object.entries(expected)) t.is(await score(app, path), hits, path);
  t.is(await app.totalHits(), 6, 'the DELETE deleted nothing and no preflight counted');
});

test('preflights: the covered routes answer as any OPTIONS, with the Access-Control-* headers; admin routes and other origins get none', withApp.using({ tweak: (s) => { s.cors.origins = ['https://Example.com:443']; } }), async (t, app) => {
  const origin = 'https://example.com';
  const preflight = (path: string, method: string, from = origin) =>
    app.http(path, { method: 'OPTIONS', headers: { Origin: from, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'content-type' } });

  const count = await preflight('api/x', 'POST');
  t.is(count.statusCode, 204);
  t.truthy(count.headers.allow, 'the route\'s own answer, with Allow');
  t.deepEqual(corsOf(count.headers), {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': 'GET,HEAD,POST',
    'access-control-allow-headers': 'Content-Type,Authorization,X-Request-Id,Idempotency-Key',
    'access-control-max-age': '600',
  });
  t.regex(String(count.headers.vary), /Origin/);

  const read = await preflight('stats', 'GET');
  t.is(read.statusCode, 200);
  t.is(read.headers['access-control-allow-methods'], 'GET,HEAD');
  t.is(read.headers['access-control-allow-origin'], origin);
  t.is((await preflight('stats/stream', 'GET')).headers['access-control-allow-methods'], 'GET');

  // Admin routes, methods outside a group's, and other origins: the route's answer, no CORS headers.
  for (const [path, method, from] of [['stats', 'DELETE', origin], ['test/10', 'POST', origin], ['test/jobs', 'GET', origin], ['metrics', 'GET', origin], ['api/x', 'DELETE', origin], ['stats', 'POST', origin], ['api/x', 'POST', 'https://evil.example'], ['docs', 'GET', origin]] as const) {
    const response = await preflight(path, method, from);
    t.true(response.statusCode < 300, `${path} ${method}: ${response.statusCode}`);
    t.deepEqual(corsOf(response.headers), {}, `OPTIONS /${path} for ${method} from ${from}`);
  }
  t.is(await app.totalHits(), 0, 'no preflight counted');

  // The actual requests: covered ones carry the headers, admin ones never.
  const hit = await app.http('api/x', { headers: { Origin: origin } });
  t.is(hit.statusCode, 200);
  t.is(hit.headers['access-control-allow-origin'], origin);
  t.is(hit.headers['access-control-allow-credentials'], undefined, 'no credentials unless cors.credentials');
  t.regex(String(hit.headers['access-control-expose-headers']), /X-Total-Count,Link,Retry-After/);
  for (const path of ['metrics', 'test/jobs', 'docs']) {
    const response = await app.http(path, { headers: { Origin: origin }, responseType: 'buffer' });
    t.deepEqual(corsOf(response.headers), {}, `GET /${path}`);
  }
  // An admin route answers no page of another origin, allowed by CORS or not (auth.ts).
  const reset = await app.http.delete('stats', { headers: { Origin: origin } });
  t.is(reset.statusCode, 403);
  t.deepEqual(corsOf(reset.headers), {}, 'DELETE /stats');
  t.deepEqual(corsOf((await app.http('api/x')).headers), {}, 'no Origin, not a CORS request: no headers');
});

test('error answers of covered routes carry the CORS headers: the page may read a 400, a 404, a 414 or a 429 and its Retry-After', withApp.using({
  tweak: (s) => {
    s.cors.origins = ['http://page.example'];
    s.rateLimits.read = [{ points: 2, durationSeconds: 600 }];
    s.server.maxUrlBytes = 256;
  },
}), async (t, app) => {
  const headers = { Origin: 'http://page.example' };
  const answers = [
    await app.http('api/%ZZ', { headers }),
    await app.http(`api/${'a'.repeat(300)}`, { headers }),
    await app.http('stats/path?path=/api/never', { headers }),
    await app.http('stats', { headers }),
    await app.http('stats', { headers }),
  ];
  t.deepEqual(answers.map((answer) => answer.statusCode), [400, 414, 404, 200, 429]);
  for (const answer of answers) t.is(answer.headers['access-control-allow-origin'], 'http://page.example', `${answer.statusCode}`);
  t.regex(String(answers[4]!.headers['access-control-expose-headers']), /Retry-After/);
  t.is(await app.totalHits(), 0);
});

test('origins ["*"]: "*" for any origin, never with credentials; origins listed beside it are echoed, with credentials', async (t) => {
  const anywhere = { Origin: 'https://anywhere.example' };
  const anyone = await startApp(t, { tweak: (s) => { s.cors.origins = ['*']; s.cors.credentials = true; } });
  const fromAnywhere = await anyone.http('api/x', { headers: anywhere });
  t.is(fromAnywhere.headers['access-control-allow-origin'], '*');
  t.is(fromAnywhere.headers['access-control-allow-credentials'], undefined, 'a browser refuses credentials with "*", and echoing any origin would hand them to any site');

  const mixed = await startApp(t, { tweak: (s) => { s.cors.origins = ['*', 'https://mine.example']; s.cors.credentials = true; } });
  const mine = await mixed.http('api/x', { headers: { Origin: 'https://mine.example' } });
  t.is(mine.headers['access-control-allow-origin'], 'https://mine.example');
  t.is(mine.headers['access-control-allow-credentials'], 'true');
  const stranger = await mixed.http('api/x', { headers: anywhere });
  t.is(stranger.headers['access-control-allow-origin'], '*');
  t.is(stranger.headers['access-control-allow-credentials'], undefined);
  t.is(await anyone.totalHits() + await mixed.totalHits(), 3);
});

test('cors.routes: only the groups listed are covered', withApp.using({ tweak: (s) => { s.cors.origins = ['*']; s.cors.routes = ['count']; } }), async (t, app) => {
  const headers = { Origin: 'https://anywhere.example' };
  t.is((await app.http('api/x', { headers })).headers['access-control-allow-origin'], '*');
  t.deepEqual(corsOf((await app.http('stats', { headers })).headers), {});
  t.deepEqual(corsOf((await app.http('health', { headers })).headers), {});
  const stream = openSse(`${app.url}/stats/stream`, headers);
  t.teardown(() => stream.close());
  t.deepEqual(corsOf((await stream.response).headers), {});
});

test('CORS off (cors.origins [], the default): no Access-Control-* header and no Vary: Origin anywhere', withApp, async (t, app) => {
  t.deepEqual(app.settings.cors.origins, []);
  const origin = 'https://example.com';
  const preflight = { 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' };
  const answers = [
    await app.http('api/x', { headers: { Origin: origin } }),
    await app.http.post('api/y', { headers: { Origin: origin }, body: 'x' }),
    await app.http('api/x', { method: 'OPTIONS', headers: { Origin: origin, ...preflight } }),
    await app.http('stats', { method: 'OPTIONS', headers: { Origin: origin, ...preflight, 'Access-Control-Request-Method': 'GET' } }),
    await app.http('stats', { headers: { Origin: origin } }),
    await app.http('stats.csv', { headers: { Origin: origin }, responseType: 'text' }),
    await app.http('health', { headers: { Origin: origin } }),
    await app.http('api/%ZZ', { headers: { Origin: origin } }),
    await app.http('nowhere', { headers: { Origin: origin } }),
  ];
  const stream = openSse(`${app.url}/stats/stream`, { Origin: origin });
  t.teardown(() => stream.close());
  const all = [...answers.map((answer) => answer.headers), (await stream.response).headers];
  t.deepEqual(answers.map((answer) => answer.statusCode), [200, 200, 204, 200, 200, 200, 200, 400, 404]);
  for (const headers of all) {
    t.deepEqual(corsOf(headers), {});
    t.notRegex(String(headers.vary ?? ''), /Origin/i);
  }
  t.is(await app.totalHits(), 2, 'counted == accepted: the two 200s of /api');
});
