import { readFileSync } from 'node:fs';
import test from 'ava';
import type { JobReport } from '../src/loadgen/jobs.js';
import { routeGroup } from '../src/ratelimit.js';
import { parseSettings } from '../src/settings.js';
import { defaultSettingsJson, startApp, withApp } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';
import { assertCountedExactly, tally } from './helpers/outcomes.js';

test('route groups: counting, reads, writes; /health is never limited', (t) => {
  t.is(routeGroup('GET', '/api/a'), 'api');
  t.is(routeGroup('POST', '/api'), 'api');
  t.is(routeGroup('GET', '/stats'), 'read');
  t.is(routeGroup('GET', '/test/jobs'), 'read');
  t.is(routeGroup('POST', '/test/10'), 'write');
  t.is(routeGroup('POST', '/test'), 'write', 'a staged run is a write like any load test');
  t.is(routeGroup('POST', '/test/search'), 'write');
  t.is(routeGroup('GET', '/test/jobs/x.csv'), 'read');
  t.is(routeGroup('DELETE', '/stats'), 'write');
  t.is(routeGroup('DELETE', '/test/jobs/x'), 'write');
  t.is(routeGroup('GET', '/health'), undefined);
  t.is(routeGroup('OPTIONS', '/stats'), undefined, 'a preflight spends no budget');
  t.is(routeGroup('OPTIONS', '/api/a'), undefined);
});

test('route groups cannot be escaped by another spelling of the path', (t) => {
  t.is(routeGroup('GET', '/stats/'), 'read');
  t.is(routeGroup('DELETE', '/stats/'), 'write');
  t.is(routeGroup('GET', '/stats.csv'), 'read');
  t.is(routeGroup('GET', '/stats/path/api/a'), 'read');
  t.is(routeGroup('GET', '/events'), 'read');
  t.is(routeGroup('GET', '/events.csv'), 'read');
  t.is(routeGroup('GET', '/statsx'), undefined);
  t.is(routeGroup('POST', '/test/'), 'write');
  t.is(routeGroup('POST', '/testing'), undefined);
});

test('load tests get the write limit: 429 with Retry-After and RateLimit-* headers past it', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.rateLimits.write = [{ points: 3, durationSeconds: 60 }]; } });
  for (let i = 0; i < 3; i++) {
    const ok = await app.http.post('test/1');
    t.is(ok.statusCode, 200);
    t.is(ok.headers['ratelimit-limit'], '3');
    t.is(ok.headers['ratelimit-remaining'], String(2 - i));
    t.is(ok.headers['ratelimit-policy'], '3;w=60');
  }
  const refused = await app.http.post('test/1');
  t.is(refused.statusCode, 429);
  t.is(refused.headers['ratelimit-remaining'], '0');
  const retryAfter = Number(refused.headers['retry-after']);
  t.true(retryAfter > 0 && retryAfter <= 60);
  t.is(refused.headers['ratelimit-reset'], String(retryAfter));
  t.deepEqual(refused.body, { error: `Rate limit reached: 3 write requests per 60 s; try again in ${retryAfter} s` });
  t.is((await app.http.get('stats')).statusCode, 200, 'reads have their own budget');
});

test('the limits live in Redis: a second replica sees the same budget', async (t) => {
  const a = await startApp(t, { tweak: (s) => { s.rateLimits.write = [{ points: 2, durationSeconds: 60 }]; } });
  const b = await startApp(t, { tweak: (s) => { s.rateLimits.write = [{ points: 2, durationSeconds: 60 }]; s.redis.keyPrefix = a.settings.redis.keyPrefix; } });
  t.is((await a.http.post('test/1')).statusCode, 200);
  t.is((await b.http.post('test/1')).statusCode, 200);
  t.is((await a.http.post('test/1')).statusCode, 429);
  t.is((await b.http.post('test/1')).statusCode, 429);
});

test('limits are per client IP', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.server.trustProxy = true; s.rateLimits.read = [{ points: 1, durationSeconds: 60 }]; } });
  const from = (ip: string) => app.http.get('stats', { headers: { 'x-forwarded-for': ip } });
  t.is((await from('198.51.100.1')).statusCode, 200);
  t.is((await from('198.51.100.1')).statusCode, 429);
  t.is((await from('198.51.100.2')).statusCode, 200);
});

test('counting is unlimited by default and carries no rate-limit headers', withApp, async (t, app) => {
  for (let i = 0; i < 300; i++) {
    const response = await app.http.get(`api/unlimited/${i % 3}`);
    if (response.statusCode !== 200 || response.headers['ratelimit-limit'] !== undefined) t.fail(`request ${i}: ${response.statusCode}`);
  }
  t.is(await app.totalHits(), 300);
});

test('the original design\'s profile, 5/second and 1000/day overall: the sixth hit in a second is refused', async (t) => {
  const profile = [{ points: 5, durationSeconds: 1 }, { points: 1000, durationSeconds: 86_400 }];
  const app = await startApp(t, { tweak: (s) => { s.rateLimits = { api: profile, read: profile, write: profile }; } });
  // A burst of six may straddle a second boundary on a slow machine (then all six pass, in two
  // windows); the limit shows in the first burst that lands within one second.
  const all: number[] = [];
  await eventually(async () => {
    const burst = await Promise.all(Array.from({ length: 6 }, async () => (await app.http.get('api/profile')).statusCode));
    all.push(...burst);
    return burst.filter((status) => status === 429).length === 1 && burst.filter((status) => status === 200).length === 5;
  }, { timeoutMs: 120_000, intervalMs: 1100, what: 'a burst of six within one second, its sixth refused' });
  assertCountedExactly(t, tally(all), await app.totalHits(), { allowed: [429] });
});

test('the server\'s own load tests are exempt from the counting limit; other clients are not', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.rateLimits.api = [{ points: 5, durationSeconds: 60 }]; } });
  const { body: report } = await app.http.post<JobReport>('test/200?concurrency=10');
  t.is(report.succeeded, 200);
  t.deepEqual(report.statusCodes, { '200': 200 });
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await app.http.get('api/outsider', { headers: { 'x-hitcounter-loadgen': 'guess' } })).statusCode);
  t.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
});

test('the README\'s example profile is valid settings, as it stands', (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const block = /example\s+profile[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)?.[1];
  t.truthy(block, 'the README shows the example profile');
  const json = defaultSettingsJson();
  json.rateLimits = JSON.parse(block!) as typeof json.rateLimits;
  const settings = parseSettings(json);
  t.deepEqual(settings.rateLimits.api, [{ points: 5, durationSeconds: 1 }, { points: 1000, durationSeconds: 86_400 }]);
  t.deepEqual(parseSettings(defaultSettingsJson(), { RATE_LIMITS: block! }).rateLimits, settings.rateLimits, 'the same JSON works as RATE_LIMITS');
});

test('rate limits key on the resolved client address: a client cannot rotate X-Forwarded-For past them', async (t) => {
  // The test's peer, 127.0.0.1, is not one of the trusted proxies: whatever it writes in
  // X-Forwarded-For, it is one client.
  const app = await startApp(t, {
    tweak: (s) => {
      s.server.trustProxy = true;
      s.server.trustedProxies = ['192.0.2.1'];
      s.rateLimits.read = [{ points: 2, durationSeconds: 600 }];
    },
  });
  const statuses: number[] = [];
  for (const forwarded of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
    statuses.push((await app.http.get('stats', { headers: { 'x-forwarded-for': forwarded } })).statusCode);
  }
  t.deepEqual(statuses, [200, 200, 429]);
});

test('behind a trusted proxy, each forwarded client has its own budget', async (t) => {
  const app = await startApp(t, {
    tweak: (s) => {
      s.server.trustProxy = true;
      s.rateLimits.read = [{ points: 1, durationSeconds: 600 }];
    },
  });
  const get = async (forwarded: string) => (await app.http.get('stats', { headers: { 'x-forwarded-for': forwarded } })).statusCode;
  t.is(await get('198.51.100.1'), 200);
  t.is(await get('198.51.100.2'), 200);
  // The same client through one more trusted hop, and with a spoofed entry to its left.
  t.is(await get('198.51.100.1, 127.0.0.1'), 429);
  t.is(await get('203.0.113.9, 198.51.100.2'), 429);
});
