// The README badge (GET /badge/<path>.svg): the count it shows, its options and their exact 400s,
// its caching, and counting views once per visitor within web.badge.dedupeSeconds, concurrency
// included; and a real browser showing it on a page of another origin.
import test, { type ExecutionContext } from 'ava';
import type { Browser } from 'playwright-core';
import { launchChromium } from './helpers/browser.js';
import { startApp, withApp, type TestApp } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';
import { servePage } from './helpers/page-server.js';
import { Exposition } from './helpers/prometheus.js';

const WAIT_MS = 120_000;
const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0';
const OTHER_UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15';
const BOT_UA = 'Googlebot/2.1 (+http://www.google.com/bot.html)';
const ETAG = /^"\d+-[\w-]{16}"$/;

// The promise is kept, not the browser: tests starting at once must not launch two.
let browser: Promise<Browser> | undefined;
test.after.always(async () => { await (await browser)?.close(); });

const badge = (app: TestApp, path: string, searchParams: Record<string, string> | string = {}, headers: Record<string, string> = {}) =>
  app.http.get(`badge/${path}`, { searchParams, headers: { 'user-agent': UA, ...headers }, responseType: 'text' });

const errorOf = (body: string) => (JSON.parse(body) as { error: string }).error;
const title = (svg: string) => /<title>([^<]*)<\/title>/.exec(svg)?.[1];

async function ingest(t: ExecutionContext, app: TestApp, outcome: 'accepted' | 'dropped', reason?: string): Promise<number> {
  const response = await app.http.get('metrics', { responseType: 'text' });
  t.is(response.statusCode, 200);
  return new Exposition(response.body).value('hitcounter_ingest_hits_total', { source: 'badge', outcome, ...(reason === undefined ? {} : { reason }) });
}

async function hit(app: TestApp, path: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) if ((await app.http.get(`api/${path}`, { headers: { 'user-agent': UA } })).statusCode !== 200) throw new Error(`GET /api/${path} failed`);
}

const badgeKeys = (app: TestApp) => app.redis.client.keys(`${app.keys.prefix}hitcounter:badge:*`);

test('the badge shows the all-time hits of /api/<path>, exactly, in thousands; never counted: 0', withApp, async (t, app) => {
  await hit(app, 'blog/post', 3);
  const response = await badge(app, 'blog/post.svg');
  t.is(response.statusCode, 200);
  t.is(response.headers['content-type'], 'image/svg+xml');
  t.true(response.body.startsWith('<svg '));
  t.is(title(response.body), 'hits: 3');
  t.is(response.headers['x-hit'], 'not-counting');
  t.is(title((await badge(app, 'never/counted.svg')).body), 'hits: 0');
  // Variants of the path show the path /api/* counts them as.
  t.is(title((await badge(app, 'blog//x/../post/.svg')).body), 'hits: 3');
  await app.redis.client.zadd(app.shard.hits, 1234567, '/api/big');
  t.is(title((await badge(app, 'big.svg')).body), 'hits: 1,234,567');
  t.is(await app.totalHits(), 3 + 1234567, 'viewing counted nothing');
});

test('label, color and style; the label is escaped into the SVG', withApp, async (t, app) => {
  const labelled = await badge(app, 'x.svg', { label: 'views' });
  t.is(title(labelled.body), 'views: 0');
  t.is(title((await badge(app, 'x.svg', { label: '' })).body), '0');
  const hostile = await badge(app, 'x.svg', { label: '<script>alert(1)</script>"&' });
  t.is(hostile.statusCode, 200);
  t.false(hostile.body.includes('<script'));
  t.true(hostile.body.includes('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;'));
  for (const color of ['ff8800', '#ff8800', 'F80']) {
    const response = await badge(app, 'x.svg', { color });
    t.is(response.statusCode, 200, color);
    t.regex(response.body, /fill="#(ff8800|f80)"/i, color);
  }
  // badge-maker's names and aliases: red, and critical for the same red.
  t.true((await badge(app, 'x.svg', { color: 'red' })).body.includes('fill="#dd4343"'));
  t.true((await badge(app, 'x.svg', { color: 'critical' })).body.includes('fill="#dd4343"'));
  t.true((await badge(app, 'x.svg')).body.includes('fill="#007ec6"'), 'blue by default');
  for (const style of ['flat', 'flat-square', 'plastic', 'for-the-badge', 'social']) {
    const response = await badge(app, 'x.svg', { style });
    t.is(response.statusCode, 200, style);
    t.true(response.body.startsWith('<svg '), style);
  }
});

test('bad options and paths are 400s with exact messages, and count nothing', withApp, async (t, app) => {
  const colors = 'brightgreen, green, yellowgreen, yellow, orange, red, blue, grey, lightgrey, gray, lightgray, success, important, critical, informational, inactive';
  const cases: Array<[string, Record<string, string> | string, string]> = [
    ['x.svg', { label: 'x'.repeat(65) }, 'Expected `label` to be at most 64 characters'],
    ['x.svg', { style: 'round' }, 'Expected `style` to be one of: flat, flat-square, plastic, for-the-badge, social'],
    ['x.svg', { color: 'ultraviolet' }, `Expected \`color\` to be a hex colour such as 4c1 or ff8800, or one of: ${colors}`],
    ['x.svg', { color: 'f'.repeat(500) }, `Expected \`color\` to be a hex colour such as 4c1 or ff8800, or one of: ${colors}`],
    ['x.svg', { count: 'yes' }, 'Expected `count` to be 1, 0, true or false'],
    ['x.svg', 'label=a&label=b', 'Expected `label` only once'],
    ['x.svg', { x: '1' }, 'Unknown parameter `x`; expected one of: label, color, style, count'],
    ['blog/post', {}, 'Expected `path` to end in .svg, such as /badge/blog/post.svg'],
    ['blog/post.png', { count: '1' }, 'Expected `path` to end in .svg, such as /badge/blog/post.svg'],
    ['%ff.svg', { count: '1' }, 'Invalid path: malformed percent-encoding or invalid UTF-8'],
    ['..%2F..%2Fx.svg', { count: '1' }, 'Invalid path: ".." climbs out of /api'],
  ];
  for (const [path, searchParams, message] of cases) {
    const response = await badge(app, path, searchParams);
    t.is(response.statusCode, 400, `${path} ${JSON.stringify(searchParams)}`);
    t.is(errorOf(response.body), message, `${path} ${JSON.stringify(searchParams)}`);
  }
  t.is((await badge(app, 'x.svg', { label: 'x'.repeat(64) })).statusCode, 200, '64 characters are fine');
  t.is(await app.totalHits(), 0);
  t.deepEqual(await badgeKeys(app), []);
});

test('not counting: public, max-age and s-maxage of web.badge.cacheSeconds, a count-based ETag, 304 while the count holds', withApp, async (t, app) => {
  await hit(app, 'cached', 2);
  const first = await badge(app, 'cached.svg');
  t.is(first.headers['cache-control'], 'public, max-age=300, s-maxage=300');
  const etag = String(first.headers.etag);
  t.regex(etag, ETAG);
  t.true(etag.startsWith('"2-'));
  const again = await badge(app, 'cached.svg', {}, { 'if-none-match': etag });
  t.is(again.statusCode, 304);
  t.is(again.body, '');
  t.is(again.headers.etag, etag);
  // Another option is another image: another ETag.
  t.not((await badge(app, 'cached.svg', { style: 'plastic' })).headers.etag, etag);
  await hit(app, 'cached', 1);
  const moved = await badge(app, 'cached.svg', {}, { 'if-none-match': etag });
  t.is(moved.statusCode, 200);
  t.is(title(moved.body), 'hits: 3');
  t.true(String(moved.headers.etag).startsWith('"3-'));
});

test('web.badge.cacheSeconds 0: no-cache', withApp.using({ tweak: (s) => { s.web.badge.cacheSeconds = 0; } }), async (t, app) => {
  t.is((await badge(app, 'x.svg')).headers['cache-control'], 'no-cache');
});

test('counting: no-cache, and one visitor\'s concurrent views of one badge count exactly once; another User-Agent is another visitor', withApp, async (t, app) => {
  const n = 40;
  const responses = await Promise.all(Array.from({ length: n }, () => badge(app, 'dedupe.svg', { count: '1' })));
  t.deepEqual(responses.map((r) => r.statusCode), Array.from({ length: n }, () => 200));
  for (const response of responses) t.is(response.headers['cache-control'], 'no-cache');
  const outcomes = responses.map((r) => String(r.headers['x-hit']));
  t.is(outcomes.filter((o) => o === 'counted').length, 1, outcomes.join(' '));
  t.is(outcomes.filter((o) => o === 'duplicate').length, n - 1);
  t.is(await app.store.hitsOf('/api/dedupe'), 1);
  t.is(title(responses[outcomes.indexOf('counted')]!.body), 'hits: 1');

  const both = await Promise.all(Array.from({ length: n }, (_, i) => badge(app, 'two.svg', 'count=1', { 'user-agent': i % 2 === 0 ? UA : OTHER_UA })));
  t.deepEqual(both.map((r) => r.statusCode), Array.from({ length: n }, () => 200));
  const counted = both.filter((r) => r.headers['x-hit'] === 'counted');
  t.is(counted.length, 2);
  t.deepEqual(new Set(counted.map((r) => r.request.options.headers['user-agent'])), new Set([UA, OTHER_UA]));
  t.is(await app.store.hitsOf('/api/two'), 2);
  // counted == accepted: what Redis holds is what the answers said counted, and the metrics agree.
  t.is(await app.totalHits(), 3);
  t.is(await ingest(t, app, 'accepted'), 3);
  t.is(await ingest(t, app, 'dropped', 'duplicate'), 2 * n - 3);
  // One dedupe key per visitor and path, living at most web.badge.dedupeSeconds.
  const keys = await badgeKeys(app);
  t.is(keys.length, 3);
  for (const key of keys) {
    const ttl = await app.redis.client.ttl(key);
    t.true(ttl > 0 && ttl <= 1800, `${key}: ${ttl}`);
  }
  // The visitor's hash, not their address or User-Agent, is what the key holds.
  for (const key of keys) t.false(key.includes('127.0.0.1') || key.includes('Mozilla'), key);
});

test('web.badge.countsHit true counts without count=1; count=0 still shows without counting', withApp.using({ tweak: (s) => { s.web.badge.countsHit = true; } }), async (t, app) => {
  const counted = await badge(app, 'on.svg');
  t.is(counted.headers['x-hit'], 'counted');
  t.is(title(counted.body), 'hits: 1');
  const off = await badge(app, 'on.svg', { count: '0' });
  t.is(off.headers['x-hit'], 'not-counting');
  t.is(off.headers['cache-control'], 'public, max-age=300, s-maxage=300');
  t.is(await app.totalHits(), 1);
});

test('after web.badge.dedupeSeconds the same visitor counts again; 0 counts every view', withApp.using({ tweak: (s) => { s.web.badge.dedupeSeconds = 1; } }), async (t, app) => {
  t.is((await badge(app, 'window.svg', { count: '1' })).headers['x-hit'], 'counted');
  // Each try is a view: a duplicate until the key has expired, then the one that counts.
  let views = 1;
  await eventually(async () => {
    views++;
    return (await badge(app, 'window.svg', { count: '1' })).headers['x-hit'] === 'counted';
  }, { timeoutMs: WAIT_MS, intervalMs: 100, what: 'a view after the window to count' });
  t.is(await app.store.hitsOf('/api/window'), 2);
  t.is(await ingest(t, app, 'dropped', 'duplicate'), views - 2);
});

test('web.badge.dedupeSeconds 0: every view counts', withApp.using({ tweak: (s) => { s.web.badge.dedupeSeconds = 0; } }), async (t, app) => {
  const responses = await Promise.all(Array.from({ length: 10 }, () => badge(app, 'every.svg', { count: '1' })));
  t.true(responses.every((r) => r.statusCode === 200 && r.headers['x-hit'] === 'counted'));
  t.is(await app.store.hitsOf('/api/every'), 10);
  t.deepEqual(await badgeKeys(app), []);
});

test('analytics.visitors off: views are still deduped, by a hash of IP and User-Agent', withApp.using({ tweak: (s) => { s.analytics.visitors = false; } }), async (t, app) => {
  const responses = await Promise.all(Array.from({ length: 20 }, () => badge(app, 'novisitors.svg', { count: '1' })));
  t.true(responses.every((r) => r.statusCode === 200));
  t.is(responses.filter((r) => r.headers['x-hit'] === 'counted').length, 1);
  t.is(await app.store.hitsOf('/api/novisitors'), 1);
  const [key] = await badgeKeys(app);
  t.regex(key ?? '', /hitcounter:badge:[0-9a-f]{16}:\/api\/novisitors$/);
});

test('refused views still show the badge: a bot with api.bots refuse', withApp.using({ tweak: (s) => { s.api.bots = 'refuse'; } }), async (t, app) => {
  await hit(app, 'bots', 2);
  const response = await badge(app, 'bots.svg', { count: '1' }, { 'user-agent': BOT_UA });
  t.is(response.statusCode, 200);
  t.is(response.headers['x-hit'], 'bot');
  t.is(title(response.body), 'hits: 2');
  t.is(await app.totalHits(), 2);
  t.deepEqual(await badgeKeys(app), []);
  t.is(await ingest(t, app, 'dropped', 'bot'), 1);
});

test('api.bots separate: a bot\'s view counts in the bots\' ranking, and the badge shows the people\'s count', withApp.using({ tweak: (s) => { s.api.bots = 'separate'; } }), async (t, app) => {
  await hit(app, 'apart', 1);
  const response = await badge(app, 'apart.svg', { count: '1' }, { 'user-agent': BOT_UA });
  t.is(response.headers['x-hit'], 'counted');
  t.is(title(response.body), 'hits: 1');
  t.is(await app.store.hitsOf('/api/apart'), 1);
  t.is(await app.services.bots!.hitsOf('/api/apart'), 1);
});

test('over the flood limit a view shows the badge uncounted, and does not use up the visitor\'s window', withApp.using({
  tweak: (s) => { s.api.floodLimit = { points: 1, durationSeconds: 3600, exemptLoopback: false }; },
}), async (t, app) => {
  t.is((await badge(app, 'flood.svg', { count: '1' })).headers['x-hit'], 'counted');
  const refused = await badge(app, 'flood.svg', { count: '1' }, { 'user-agent': OTHER_UA });
  t.is(refused.statusCode, 200);
  t.is(refused.headers['x-hit'], 'flood_limit');
  t.is(title(refused.body), 'hits: 1');
  // The refused view's dedupe key was taken back: only the counted view's remains.
  t.is((await badgeKeys(app)).length, 1);
  t.is(await app.totalHits(), 1);
  t.is(await ingest(t, app, 'dropped', 'flood_limit'), 1);
});

test('chromium: the badge renders on a page of another origin with the right count, and counts a reader once', async (t) => {
  t.timeout(300_000);
  const app = await startApp(t);
  const chromium = await (browser ??= launchChromium());
  await hit(app, 'blog/post', 41);
  const page = await servePage(t, `<!doctype html><title>readme</title>
<img id="shown" src="${app.url}/badge/blog/post.svg" alt="hits">
<img id="counting" src="${app.url}/badge/blog/counted.svg?count=1&label=views" alt="views">`);
  const context = await chromium.newContext();
  t.teardown(() => context.close());
  const tab = await context.newPage();
  tab.setDefaultTimeout(WAIT_MS);
  const statuses: number[] = [];
  tab.on('response', (response) => { if (response.url().includes('/badge/blog/counted.svg')) statuses.push(response.status()); });

  const loads = 3;
  for (let i = 0; i < loads; i++) {
    await tab.goto(page.url, { waitUntil: 'load' });
    for (const id of ['shown', 'counting']) {
      const [complete, width, height] = await tab.$eval(`#${id}`, (img) => {
        const image = img as unknown as { complete: boolean; naturalWidth: number; naturalHeight: number };
        return [image.complete, image.naturalWidth, image.naturalHeight];
      });
      t.true(complete, id);
      t.true(Number(width) > 0 && Number(height) > 0, `${id}: ${width}×${height}`);
    }
  }
  // The reader's three loads of the counting badge count once (web.badge.dedupeSeconds).
  await eventually(async () => (await app.store.hitsOf('/api/blog/counted')) === 1, { timeoutMs: WAIT_MS, what: 'the counting badge counted' });
  t.is(await app.store.hitsOf('/api/blog/counted'), 1);
  t.true(statuses.length >= 1 && statuses.every((status) => status === 200 || status === 304), statuses.join(' '));
  t.is(await ingest(t, app, 'accepted'), 1);
  // What the browser showed, fetched: the count it holds.
  t.is(title((await badge(app, 'blog/post.svg')).body), 'hits: 41');
  t.is(title((await badge(app, 'blog/counted.svg', { label: 'views' })).body), 'views: 1');
  t.is(await app.totalHits(), 42);
});
