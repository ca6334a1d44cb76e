import test from 'ava';
import { startApp, withApp } from './helpers/app.js';
import { rawRequest, requestBytes } from './helpers/raw.js';

/** Sends a request target byte for byte, bypassing any client-side URL cleanup. */
async function rawGet(url: string, target: string): Promise<{ status: number; body: unknown }> {
  const { status, body } = await rawRequest(url, requestBytes('GET', target));
  return { status, body: JSON.parse(body) };
}

test('GET /api/<path> counts one hit and answers the new total', withApp, async (t, app) => {
  const first = await app.http.get('api/hello/world/');
  t.is(first.statusCode, 200);
  t.deepEqual(first.body, { path: '/api/hello/world', hits: 1 });
  const second = await app.http.get('api/hello/world');
  t.deepEqual(second.body, { path: '/api/hello/world', hits: 2 });
  t.is(await app.redis.client.zscore(app.shard.hits, '/api/hello/world'), '2');
});

test('every method but OPTIONS counts', withApp, async (t, app) => {
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const) {
    const response = await app.http('api/m', { method, json: method === 'GET' || method === 'HEAD' ? undefined : { ignored: true } });
    t.is(response.statusCode, 200, method);
  }
  const options = await app.http('api/m', { method: 'OPTIONS' });
  t.is(options.statusCode, 204);
  t.regex(String(options.headers.allow), /OPTIONS/);
  t.is(await app.store.hitsOf('/api/m'), 6);
});

test('the query string is ignored and variants of one path count as one', withApp, async (t, app) => {
  for (const target of ['/api/a/b', '/api/a/b/', '/api//a/b?utm=1', '/api/a/./b', '/api/a/x/../b', '/api/%61/b']) {
    const { status, body } = await rawGet(app.url, target);
    t.is(status, 200, target);
    t.is((body as { path: string }).path, '/api/a/b', target);
  }
  t.is(await app.store.hitsOf('/api/a/b'), 6);
  t.is(await app.store.distinctPaths(), 1);
});

test('/api and /api/ count as /api; case is kept', withApp, async (t, app) => {
  t.deepEqual((await app.http.get('api')).body, { path: '/api', hits: 1 });
  t.deepEqual((await app.http.get('api/')).body, { path: '/api', hits: 2 });
  t.deepEqual((await app.http.get('api/Case')).body, { path: '/api/Case', hits: 1 });
  t.deepEqual((await app.http.get('api/case')).body, { path: '/api/case', hits: 1 });
});

test('non-ASCII paths are counted decoded; raw non-ASCII bytes get a 400', withApp, async (t, app) => {
  t.deepEqual((await rawGet(app.url, '/api/caf%C3%A9')).body, { path: '/api/café', hits: 1 });
  // Node's HTTP parser refuses raw bytes above 0x7f in a request target, as RFC 9112 allows.
  const raw = await rawGet(app.url, Buffer.from('/api/café', 'utf8').toString('latin1'));
  t.is(raw.status, 400);
  t.deepEqual(raw.body, { error: 'Malformed HTTP request: Invalid char in url path; percent-encode non-ASCII characters' });
  t.is(await app.store.hitsOf('/api/café'), 1);
});

const badTargets: Array<[target: string, status: number, error: string]> = [
  ['/api/%zz', 400, 'Invalid path: malformed percent-encoding or invalid UTF-8'],
  ['/api/%C3', 400, 'Invalid path: malformed percent-encoding or invalid UTF-8'],
  ['/api/%FF%FE', 400, 'Invalid path: malformed percent-encoding or invalid UTF-8'],
  ['/api/a%00', 400, 'Invalid path: control characters are not allowed'],
  ['/api/a%0D%0A', 400, 'Invalid path: control characters are not allowed'],
  ['/api/a%7F', 400, 'Invalid path: control characters are not allowed'],
  ['/api/..', 400, 'Invalid path: ".." climbs out of /api'],
  ['/api/a/../../etc/passwd', 400, 'Invalid path: ".." climbs out of /api'],
  ['/api/%2e%2e/stats', 400, 'Invalid path: ".." climbs out of /api'],
  [`/api/${'x'.repeat(2044)}`, 414, 'Path too long: over 2048 bytes after normalization'],
];

for (const [target, status, error] of badTargets) {
  test(`bad input ${JSON.stringify(target.slice(0, 30))} gets ${status} and counts nothing`, async (t) => {
    const app = await startApp(t);
    await app.http.get('api/before');
    const response = await rawGet(app.url, target);
    t.is(response.status, status);
    t.deepEqual(response.body, { error });
    t.is(await app.totalHits(), 1);
    t.is(await app.store.distinctPaths(), 1);
  });
}

test('a request line Node itself rejects still gets the JSON error shape', withApp, async (t, app) => {
  const response = await rawRequest(app.url, 'GET /api/a\u0001b HTTP/1.1\r\nHost: x\r\n\r\n');
  const reply = `${response.head}\r\n\r\n${response.body}`;
  t.regex(reply, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.regex(reply, /\r\n\r\n\{"error":"Malformed HTTP request: [^"]+"\}$/);
  t.is(await app.totalHits(), 0);
});

test('unknown routes get 404 and known routes with the wrong method 405, in the error shape', withApp, async (t, app) => {
  const missing = await app.http.get('nope');
  t.is(missing.statusCode, 404);
  t.deepEqual(missing.body, { error: 'No route for GET /nope' });
  const wrongMethod = await app.http.delete('health');
  t.is(wrongMethod.statusCode, 405);
  t.deepEqual(wrongMethod.body, { error: 'Method DELETE is not allowed on /health; allowed: HEAD, GET' });
  t.regex(String(wrongMethod.headers.allow), /GET/);
  const wrongCase = await app.http.get('API/x');
  t.is(wrongCase.statusCode, 404);
  t.is(await app.totalHits(), 0);
});
