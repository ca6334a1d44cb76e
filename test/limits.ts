// Limits on what a client may send: each ends in a 4xx in the JSON error shape, and counts nothing.
import { once } from 'node:events';
import { Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import test from 'ava';
import type { Method } from 'got';
import { jsonDepth } from '../src/limits.js';
import { startApp, withApp, type TestApp } from './helpers/app.js';
import { assertCountedExactly, tally } from './helpers/outcomes.js';
import { eventually } from './helpers/eventually.js';
import { rawRequest, requestBytes } from './helpers/raw.js';
import { openSse } from './helpers/sse.js';

test('jsonDepth counts nesting', (t) => {
  t.is(jsonDepth(1), 0);
  t.is(jsonDepth({}), 1);
  t.is(jsonDepth({ a: [1, { b: 2 }] }), 3);
  t.is(jsonDepth(JSON.parse('['.repeat(50) + ']'.repeat(50))), 50);
});

test('a request target over server.maxUrlBytes is a 414', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.server.maxUrlBytes = 300; } });
  const response = await app.http.get(`api/${'a'.repeat(300)}`);
  t.is(response.statusCode, 414);
  t.deepEqual(response.body, { error: 'URI too long: over 300 bytes' });
  t.is((await app.http.get(`stats?limit=1&x=${'a'.repeat(300)}`)).statusCode, 414);
  t.is(await app.totalHits(), 0);
});

test('headers over server.maxHeaderBytes are a 431, in the JSON shape', withApp, async (t, app) => {
  const response = await rawRequest(app.url, requestBytes('GET', '/api/big', { 'X-Padding': 'p'.repeat(20_000) }));
  t.is(response.status, 431);
  t.is(response.body, '{"error":"Malformed HTTP request: Header overflow"}');
  t.is(await app.totalHits(), 0);
});

test('a JSON body over server.maxBodyBytes is a 413', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.server.maxBodyBytes = 100; } });
  const response = await app.http.post('test/5', { json: { seed: 1, padding: 'x'.repeat(200) } });
  t.is(response.statusCode, 413);
  t.regex(JSON.stringify(response.body), /"error":"/);
  t.is(await app.totalHits(), 0);
});

test('a JSON body nested deeper than server.maxJsonDepth is a 400', withApp, async (t, app) => {
  const response = await app.http.post('test/5', { body: '{"a":'.repeat(9) + '1' + '}'.repeat(9), headers: { 'content-type': 'application/json' } });
  t.is(response.statusCode, 400);
  t.deepEqual(response.body, { error: 'Expected a JSON body nested at most 8 levels deep' });
  t.is(await app.totalHits(), 0);
});

test('hits ignore their body entirely, even malformed JSON', withApp, async (t, app) => {
  const response = await app.http.post('api/with-body', { body: '{"broken":', headers: { 'content-type': 'application/json' } });
  t.is(response.statusCode, 200);
  t.is(await app.totalHits(), 1);
});

test('an HTTP/1.1 request without a Host header is a 400 in the JSON shape, with an X-Request-Id, and counts nothing', withApp, async (t, app) => {
  const response = await rawRequest(app.url, 'GET /api/no-host HTTP/1.1\r\nConnection: close\r\n\r\n');
  t.is(response.status, 400);
  t.deepEqual(JSON.parse(response.body), { error: 'Missing Host header: HTTP/1.1 requests must send one' });
  t.regex(response.head, /\r\ncontent-type: application\/json/i);
  t.regex(response.head, /\r\nx-request-id: \S+/i);
  t.is(await app.totalHits(), 0);
  // HTTP/1.0 has no Host requirement.
  t.is((await rawRequest(app.url, 'GET /api/old-client HTTP/1.0\r\n\r\n')).status, 200);
  t.is(await app.totalHits(), 1);
});

/** A raw connection that reports when the server closes it, and what it sent before. */
function openSocket(url: string): { socket: Socket; received: () => string; closed: Promise<void>; connected: Promise<void> } {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  let text = '';
  socket.on('data', (chunk) => { text += chunk.toString('latin1'); });
  // A refused or reset connection is closed too; the error itself is not the point.
  socket.on('error', () => {});
  return { socket, received: () => text, closed: once(socket, 'close').then(() => undefined), connected: once(socket, 'connect').then(() => undefined) };
}

test('a silent connection and one stuck in its headers are closed after server.headersTimeoutMs, with a 408; a live feed is not', async (t) => {
  // requestTimeout as short as headersTimeout: it bounds receiving the request only, so the feed,
  // whose request was received at once, outlives both.
  const app = await startApp(t, { tweak: (s) => { s.server.headersTimeoutMs = 1000; s.server.requestTimeoutMs = 1000; } });
  const feed = openSse(`${app.url}/stats/stream`);
  t.teardown(() => feed.close());
  await feed.until((e) => e.event === 'backlog');
  let feedEnded = false;
  void feed.ended.then(() => { feedEnded = true; });

  const silent = openSocket(app.url);
  const stuck = openSocket(app.url);
  t.teardown(() => { silent.socket.destroy(); stuck.socket.destroy(); });
  await stuck.connected;
  stuck.socket.write('GET /api/slow HTTP/1.1\r\nHost: hitcounter.test\r\nX-Trickle: ');
  // Node's default would keep them for 60 s and more; the test's own timeout (3 min) is the bound.
  await Promise.all([silent.closed, stuck.closed]);
  t.regex(stuck.received(), /^HTTP\/1\.1 408 /);
  t.regex(stuck.received(), /\{"error":"Malformed HTTP request: /);

  // The feed was open before both and so has lived past the timeouts: it still gets new points.
  const seen = feed.events.length;
  await feed.until(() => feed.events.length > seen);
  t.false(feedEnded);
  t.is(await app.totalHits(), 0);
});

test('beyond server.maxConnections a new connection is closed unanswered; below it again, one is answered', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.server.maxConnections = 2; } });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const agent2 = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => { agent.destroy(); agent2.destroy(); });
  // Two keep-alive connections, each answered, so the server holds both.
  t.is((await app.http.get('health', { agent: { http: agent } })).statusCode, 200);
  t.is((await app.http.get('health', { agent: { http: agent2 } })).statusCode, 200);

  const third = openSocket(app.url);
  await third.connected;
  third.socket.write('GET /api/third HTTP/1.1\r\nHost: hitcounter.test\r\n\r\n');
  await third.closed;
  t.is(third.received(), '', 'closed without an answer');
  t.is(await app.totalHits(), 0);

  agent2.destroy();
  // Once the server has seen that connection close, there is room again.
  const answered = await eventually(async () => {
    const response = await app.http.get('api/fourth', { agent: { http: new Agent({ keepAlive: false }) } }).catch(() => undefined);
    return response?.statusCode === 200;
  }, { what: 'a connection to be accepted once one closed' });
  t.true(answered);
});

const refusedMetric = async (app: TestApp, reason: string) => {
  const text = String((await app.http.get('metrics', { responseType: 'text' })).body);
  return Number(new RegExp(`^hitcounter_hits_refused_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text)?.[1]);
};

test('api.maxPaths: past the cap a new path is a 403 and counts nothing, known paths still count, exactly under concurrency', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.api.maxPaths = 10; } });
  const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => app.http.get(`api/capped/${i % 40}`)));
  const statuses = responses.map((response) => response.statusCode);
  assertCountedExactly(t, tally(statuses), await app.totalHits(), { allowed: [403], sent: 200 });
  t.is(await app.store.distinctPaths(), 10, 'exactly maxPaths distinct paths, however the hits raced');
  const known = (await app.store.ranking({ offset: 0, limit: 1 }).next()).value![0]!.path;
  t.is((await app.http.get(known.slice(1))).statusCode, 200, 'a path already counted still counts');
  const refused = await app.http.get('api/capped/new-one');
  t.is(refused.statusCode, 403);
  t.regex((refused.body as unknown as { error: string }).error, /api\.maxPaths/);
  t.is(await refusedMetric(app, 'path_cap'), statuses.filter((s) => s === 403).length + 1);
});

test('api.countMethods: PROPFIND, SEARCH and TRACE are 405 with Allow and count nothing; the default methods count', withApp, async (t, app) => {
  for (const method of ['PROPFIND', 'SEARCH', 'TRACE']) {
    const response = await app.http(`api/webdav`, { method: method as Method });
    t.is(response.statusCode, 405, method);
    t.is(response.headers.allow, 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
  }
  for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']) t.is((await app.http(`api/webdav`, { method: method as Method })).statusCode, 200, method);
  t.is(await app.totalHits(), 6);
  t.is(await refusedMetric(app, 'method'), 3);
});

test('events.maxReferrerBytes, maxUserAgentBytes and maxPathBytes cut what an event entry keeps; the ranking keeps the whole path', withApp, async (t, app) => {
  const path = `api/${'é'.repeat(600)}`; // 1200 bytes of UTF-8
  t.is((await app.http.get(path, { headers: { 'user-agent': 'U'.repeat(2000), referer: `https://r.example/${'r'.repeat(2000)}` } })).statusCode, 200);
  const fields = (await app.redis.client.xrange(app.shard.events, '-', '+'))[0]![1];
  const entry = Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]]));
  t.is(Buffer.byteLength(entry.ua!), 256);
  t.is(Buffer.byteLength(entry.referrer!), 256);
  t.true(Buffer.byteLength(entry.path!) <= 512 && Buffer.byteLength(entry.path!) >= 510, `path cut to 512 bytes: ${Buffer.byteLength(entry.path!)}`);
  t.false(entry.path!.includes('\uFFFD'), 'never inside a character');
  t.is(await app.store.hitsOf(`/api/${'é'.repeat(600)}`), 1);
});

test('api.floodLimit: one client IP over its points per window is a 429 with Retry-After and counts nothing; others go on', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.server.trustProxy = true; s.api.floodLimit = { points: 20, durationSeconds: 3600, exemptLoopback: true }; } });
  const from = (ip: string) => app.http.get('api/flood', { headers: { 'x-forwarded-for': ip } });
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) statuses.push((await from('198.51.100.7')).statusCode);
  assertCountedExactly(t, tally(statuses), await app.totalHits(), { allowed: [429], sent: 30 });
  t.deepEqual(statuses, [...Array(20).fill(200), ...Array(10).fill(429)]);
  const refused = await from('198.51.100.7');
  t.true(Number(refused.headers['retry-after']) >= 1);
  t.is((await from('198.51.100.8')).statusCode, 200, 'another client is not affected');
  for (let i = 0; i < 30; i++) if ((await app.http.get('api/flood-loopback')).statusCode !== 200) t.fail('loopback is exempt');
  t.is(await refusedMetric(app, 'flood_limit'), 11);
});

test('api.bots "refuse": a bot\'s User-Agent is a 403 and counts nothing; a browser\'s counts', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.api.bots = 'refuse'; } });
  const bot = await app.http.get('api/crawled', { headers: { 'user-agent': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' } });
  t.is(bot.statusCode, 403);
  t.is((await app.http.get('api/crawled', { headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36' } })).statusCode, 200);
  t.is(await app.totalHits(), 1);
  t.is(await refusedMetric(app, 'bot'), 1);
});

test('api.bots "separate": a bot\'s hit is counted exactly in a ranking of its own, read with /stats?bots=1, and DELETE /stats erases both', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.api.bots = 'separate'; } });
  const googlebot = { 'user-agent': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' };
  const firefox = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' };
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await app.http.get('api/crawled', { headers: googlebot })).statusCode);
  const bodies: unknown[] = [];
  for (let i = 0; i < 2; i++) {
    const response = await app.http.get('api/crawled', { headers: firefox });
    statuses.push(response.statusCode);
    bodies.push(response.body);
  }
  t.deepEqual(statuses, [200, 200, 200, 200, 200]);
  t.deepEqual(bodies.at(-1), { path: '/api/crawled', hits: 2 }, 'people\'s count, the bots\' apart');

  t.deepEqual((await app.http.get('stats')).body, [{ path: '/api/crawled', hits: 2 }]);
  t.deepEqual((await app.http.get('stats?bots=1')).body, [{ path: '/api/crawled', hits: 3 }]);
  t.deepEqual((await app.http.get('stats?bots=1&window=1h')).body, [{ path: '/api/crawled', hits: 3 }], 'with its own buckets');
  t.is(await refusedMetric(app, 'bot'), 0, 'counted, not refused');

  t.is((await app.http.delete('stats')).statusCode, 200);
  t.deepEqual((await app.http.get('stats')).body, []);
  t.deepEqual((await app.http.get('stats?bots=1')).body, []);
  const left = await app.redis.client.keys(`${app.keys.prefix}*`);
  // Salts are kept by design; the reads above made a rate-limit counter since.
  t.deepEqual(left.filter((key) => !app.keys.isSalt(key) && !key.includes(':ratelimit:')), [], 'nothing of either ranking is left');
});

test('GET /stats?bots=1 without api.bots "separate" is a 400 that says why', withApp, async (t, app) => {
  const response = await app.http.get('stats?bots=1');
  t.is(response.statusCode, 400);
  t.deepEqual(response.body, { error: 'Expected `bots` only with api.bots "separate": bots are counted apart only then' });
});
