// Limits on what a client may send: each ends in a 4xx in the JSON error shape, and counts nothing.
import test from 'ava';
import { jsonDepth } from '../src/limits.js';
import { startApp, withApp } from './helpers/app.js';
import { rawRequest, requestBytes } from './helpers/raw.js';

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
