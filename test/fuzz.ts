// 10,000 random requests against a live server, seeded so a failure replays: whatever arrives,
// nothing is a 5xx, the server keeps answering, and the hits equal the 2xx answers to hits.
import test from 'ava';
import fc from 'fast-check';
import pLimit from 'p-limit';
import { startApp } from './helpers/app.js';
import { assertCountedExactly, assertOnlyExpected, tally } from './helpers/outcomes.js';
import { rawRequest, requestBytes } from './helpers/raw.js';

const REQUESTS = 10_000;
const SEED = 20261124;
// What a client can earn by what it sends: malformed (400), no admin token (401), no such route
// (404), wrong method (405), body too large (413), target too long (414), headers too large (431).
const CLIENT_ERRORS = [400, 401, 404, 405, 413, 414, 431];

const junk = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.stringMatching(/^[\w%./~?=&-]{0,40}$/),
  fc.constantFrom('..', '%2e%2e', '%zz', '%FF', '%C3%A9', '%00', '//', '?x=1', '-1', '0', '1e9', '1000001', 'NaN', 'x'.repeat(3000)),
);
const target = fc.oneof(
  junk.map((s) => `/api/${s}`),
  junk.map((s) => `/stats?${s}`),
  fc.tuple(fc.constantFrom('limit', 'offset', 'lmit'), junk).map(([k, v]) => `/stats?${k}=${encodeURIComponent(v)}`),
  junk.map((s) => `/test/${s}`),
  junk.map((s) => `/test/jobs/${s}`),
  fc.constant('/health'),
  junk.map((s) => `/${s}`),
);
const request = fc.record({
  method: fc.constantFrom('GET', 'GET', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'PROPFIND'),
  // Most as a client would send it (ASCII, escaped); some with raw bytes Node must refuse.
  target: fc.oneof({ weight: 9, arbitrary: target.map((s) => s.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c))) }, { weight: 1, arbitrary: target }),
  authorization: fc.option(fc.oneof(fc.string({ maxLength: 30 }).map((s) => `Bearer ${s}`), fc.string({ maxLength: 30 }).map((s) => `Basic ${Buffer.from(s).toString('base64')}`)), { nil: undefined }),
  contentType: fc.constantFrom(undefined, 'application/json', 'text/plain', 'application/x-www-form-urlencoded'),
  body: fc.oneof(fc.constant(''), fc.json({ maxDepth: 12 }), fc.string({ maxLength: 200 }), fc.constant('{"concurrency": '), fc.constant('['.repeat(50))),
});

test(`${REQUESTS} random requests: no 5xx, the server still answers, hits equal the 2xx answers to hits`, async (t) => {
  t.timeout(300_000);
  // No rate limits here, so the requests reach the handlers (429s are tested in ratelimit.ts).
  const app = await startApp(t, {
    deps: { adminToken: 'fuzz-token-never-sent' },
    tweak: (s) => { s.rateLimits = { api: [], read: [], write: [] }; },
  });
  const samples = fc.sample(request, { numRuns: REQUESTS, seed: SEED });
  const statuses: number[] = [];
  const answersToHits: number[] = [];
  const fiveHundreds: string[] = [];
  const limit = pLimit(20);
  await Promise.all(samples.map((r) => limit(async () => {
    const headers: Record<string, string> = {};
    if (r.authorization !== undefined) headers.Authorization = r.authorization.replace(/[^\x20-\x7e]/g, '');
    if (r.contentType !== undefined) headers['Content-Type'] = r.contentType;
    const target = Buffer.from(r.target, r.target.match(/[^\x00-\x7f]/) ? 'utf8' : 'latin1');
    const { status } = await rawRequest(app.url, requestBytes(r.method, target, headers, r.body));
    statuses.push(status);
    if (status >= 500) fiveHundreds.push(`${r.method} ${r.target.slice(0, 80)} → ${status}`);
    if (r.method !== 'OPTIONS' && /^\/api(?:[/?#]|$)/.test(r.target)) answersToHits.push(status);
  })));

  t.deepEqual(fiveHundreds, [], 'no 5xx');
  t.log(`all answers: ${assertOnlyExpected(t, tally(statuses), { allowed: CLIENT_ERRORS, sent: REQUESTS })}`);
  t.is((await app.http.get('health')).statusCode, 200, 'the server still answers');
  // Every 2xx answer to a hit is exactly one hit, and nothing else counted.
  assertCountedExactly(t, tally(answersToHits), await app.totalHits(), { allowed: CLIENT_ERRORS });
});
