import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { loadAdminToken } from '../src/auth.js';
import { SettingsError } from '../src/errors.js';
import { parseSettings } from '../src/settings.js';
import { defaultSettingsJson, startApp } from './helpers/app.js';
import { tempDir } from './helpers/tmp.js';

const TOKEN = 's3cret-admin-token';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const WWW_AUTHENTICATE = 'Bearer realm="hitcounter", Basic realm="hitcounter"';

test('with a token: admin endpoints need it, as Bearer or as the Basic password', async (t) => {
  const app = await startApp(t, { deps: { adminToken: TOKEN } });

  const missing = await app.http.post('test/5');
  t.is(missing.statusCode, 401);
  t.is(missing.headers['www-authenticate'], WWW_AUTHENTICATE);
  t.deepEqual(missing.body, { error: 'Admin token required: send Authorization: Bearer <token>' });

  for (const authorization of [`Bearer ${TOKEN}x`, 'Bearer ', basic('', 'nope'), `Token ${TOKEN}`, 'Basic !!!']) {
    const wrong = await app.http.post('test/5', { headers: { authorization } });
    t.is(wrong.statusCode, 401, authorization);
    t.is(wrong.headers['www-authenticate'], WWW_AUTHENTICATE);
  }
  t.is((await app.http.post('test/5', { headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 200);
  t.is((await app.http.post('test/5', { headers: { authorization: basic('', TOKEN) } })).statusCode, 200);
  t.is((await app.http.post('test/5', { headers: { authorization: basic('anyone', TOKEN) } })).statusCode, 200);
});

test('with a token: job cancel and DELETE /stats are admin too; counting and reading stay public', async (t) => {
  const app = await startApp(t, { deps: { adminToken: TOKEN } });
  const auth = { authorization: `Bearer ${TOKEN}` };
  t.is((await app.http.get('api/public')).statusCode, 200);
  t.is((await app.http.get('stats')).statusCode, 200);
  t.is((await app.http.get('health')).statusCode, 200);
  t.is((await app.http.get('test/jobs')).statusCode, 200);

  const job = (await app.http.post<{ id: string }>('test/1000000?async=1&concurrency=2&rate=200', { headers: auth })).body;
  t.is((await app.http.delete(`test/jobs/${job.id}`)).statusCode, 401);
  t.is((await app.http.delete(`test/jobs/${job.id}`, { headers: auth })).statusCode, 200);

  const kept = await app.totalHits();
  t.true(kept >= 1, 'the public hit above, at least');
  t.is((await app.http.delete('stats')).statusCode, 401);
  t.is(await app.totalHits(), kept, 'a refused DELETE /stats deletes nothing');
  const reset = await app.http.delete<{ deletedKeys: number }>('stats', { headers: auth });
  t.is(reset.statusCode, 200);
  t.true(reset.body.deletedKeys > 0);
  t.is(await app.totalHits(), 0);
  t.deepEqual((await app.http.get('stats')).body, []);
});

test('auth.protectStats makes the read endpoints need the token too, never /api or /health', async (t) => {
  const app = await startApp(t, { deps: { adminToken: TOKEN }, tweak: (s) => { s.auth.protectStats = true; } });
  for (const path of ['stats', 'test/jobs', 'test/jobs/00000000-0000-4000-8000-000000000000']) {
    const response = await app.http.get(path);
    t.is(response.statusCode, 401, path);
    t.is(response.headers['www-authenticate'], WWW_AUTHENTICATE);
  }
  t.is((await app.http.get('stats', { headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 200);
  t.is((await app.http.get('api/still-public')).statusCode, 200);
  t.is((await app.http.get('health')).statusCode, 200);
});

test('without a token: admin endpoints answer loopback clients, and 403 anyone else', async (t) => {
  // trustProxy lets the test present a non-loopback client address through X-Forwarded-For.
  const app = await startApp(t, { tweak: (s) => { s.server.trustProxy = true; } });
  t.is((await app.http.post('test/5')).statusCode, 200, 'loopback');
  const remote = await app.http.post('test/5', { headers: { 'x-forwarded-for': '203.0.113.7' } });
  t.is(remote.statusCode, 403);
  t.deepEqual(remote.body, { error: 'Admin endpoints answer only loopback clients until an admin token is set (HITCOUNTER_ADMIN_TOKEN or auth.tokenFile)' });
  t.is((await app.http.delete('stats', { headers: { 'x-forwarded-for': '203.0.113.7' } })).statusCode, 403);
  t.is((await app.http.get('stats', { headers: { 'x-forwarded-for': '203.0.113.7' } })).statusCode, 200, 'reads stay public');
  t.is((await app.http.get('api/remote', { headers: { 'x-forwarded-for': '203.0.113.7' } })).statusCode, 200, 'counting stays public');
});

test('admin endpoints answer no page of another origin, with or without a token: a page cannot drive a loopback server', async (t) => {
  const app = await startApp(t);
  const refused = { error: 'Admin endpoints do not answer pages of another origin' };
  // What a browser sends for a simple POST or a DELETE from a page elsewhere: no preflight needed.
  for (const headers of [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'null' }]) {
    const started = await app.http.post('test/5', { headers });
    t.is(started.statusCode, 403, JSON.stringify(headers));
    t.deepEqual(started.body, refused);
    t.is((await app.http.delete('stats', { headers })).statusCode, 403);
  }
  t.deepEqual((await app.http.get('test/jobs')).body, [], 'no load test was started');
  // This server's own pages (the dashboard) and clients that are not browsers still are admin.
  const own = new URL(app.url).host;
  t.is((await app.http.post('test/5', { headers: { origin: `http://${own}`, 'sec-fetch-site': 'same-origin' } })).statusCode, 200);
  t.is((await app.http.post('test/5')).statusCode, 200);
  // Reads and counting from other origins are CORS's business, not refused here.
  t.is((await app.http.get('stats', { headers: { origin: 'https://elsewhere.example' } })).statusCode, 200);
  t.is((await app.http.get('api/from-elsewhere', { headers: { origin: 'https://elsewhere.example' } })).statusCode, 200);
});

test('behind a proxy, only the address the proxy appended counts: a spoofed loopback entry does not', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.server.trustProxy = true; } });
  const spoofed = await app.http.post('test/5', { headers: { 'x-forwarded-for': '127.0.0.1, 203.0.113.7' } });
  t.is(spoofed.statusCode, 403);
});

test('the token comes from HITCOUNTER_ADMIN_TOKEN or a file, never from settings.json', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'token');
  await writeFile(file, `${TOKEN}\n`);
  t.is(loadAdminToken(file, {}), TOKEN, 'from the file, trimmed');
  t.is(loadAdminToken(file, { HITCOUNTER_ADMIN_TOKEN: 'from-env' }), 'from-env', 'the env wins');
  t.is(loadAdminToken('', {}), undefined);
  t.throws(() => loadAdminToken(join(dir, 'missing'), {}), { instanceOf: SettingsError, message: /auth\.tokenFile.*cannot read/ });
  const json = defaultSettingsJson() as unknown as { auth: Record<string, unknown> };
  json.auth.token = TOKEN;
  t.throws(() => parseSettings(json), { instanceOf: SettingsError, message: 'Invalid setting `auth`: unknown field(s) token' });
});

test('behind a trusted proxy, X-Forwarded-For is walked from the right past trusted proxies only: `8.8.8.8, 127.0.0.1` is 8.8.8.8', async (t) => {
  // The peer (127.0.0.1) and the right-most entry are trusted proxies (server.trustedProxies'
  // loopback default); the next entry to the left is the client.
  const app = await startApp(t, { tweak: (s) => { s.server.trustProxy = true; } });
  const response = await app.http.post('test/5', { headers: { 'x-forwarded-for': '8.8.8.8, 127.0.0.1' } });
  t.is(response.statusCode, 403);
  t.is((await app.http.post('test/5', { headers: { 'x-forwarded-for': '8.8.8.8, ::1, 127.0.0.2' } })).statusCode, 403);
  t.is((await app.http.post('test/5', { headers: { 'x-forwarded-for': '127.0.0.1, 127.0.0.1' } })).statusCode, 200, 'loopback all the way');
});

test('X-Forwarded-For from a peer that is not in server.trustedProxies is ignored: the peer is the client', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.server.trustProxy = true; s.server.trustedProxies = ['10.0.0.0/8']; } });
  // The peer, 127.0.0.1, is loopback and not a trusted proxy: what it claims does not count.
  t.is((await app.http.post('test/5', { headers: { 'x-forwarded-for': '203.0.113.7' } })).statusCode, 200);
  t.is((await app.http.post('test/5', { headers: { 'x-forwarded-for': '8.8.8.8, 10.0.0.1' } })).statusCode, 200);
});

test('server.trustedProxies takes addresses and CIDR ranges, from settings.json or TRUSTED_PROXIES', (t) => {
  const json = defaultSettingsJson();
  t.deepEqual(parseSettings(json).server.trustedProxies, ['127.0.0.1/8', '::1/128']);
  t.deepEqual(parseSettings(json, { TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.7, fd00::/8' }).server.trustedProxies, ['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);
  t.throws(() => parseSettings(json, { TRUSTED_PROXIES: '10.0.0.0/8,nginx' }), {
    instanceOf: SettingsError,
    message: 'Invalid setting `server.trustedProxies` (from env TRUSTED_PROXIES): expected a list of IP addresses or CIDR ranges, such as ["127.0.0.1/8", "::1/128"], got ["10.0.0.0/8","nginx"]',
  });
  t.throws(() => parseSettings(json, { TRUSTED_PROXIES: '10.0.0.0/33' }), { instanceOf: SettingsError, message: /^Invalid setting `server\.trustedProxies`/ });
});
