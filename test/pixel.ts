// The counting pixel (GET /count.gif): its bytes and headers, GoatCounter's parameters, what it
// refuses and how, and a real browser loading it from a page of another origin.
import test, { type ExecutionContext } from 'ava';
import type { Browser } from 'playwright-core';
import { launchChromium } from './helpers/browser.js';
import { startApp, withApp, type TestApp } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';
import { assertCountedExactly, tally } from './helpers/outcomes.js';
import { servePage } from './helpers/page-server.js';
import { Exposition } from './helpers/prometheus.js';

const WAIT_MS = 120_000;
const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0';
const BOT_UA = 'Googlebot/2.1 (+http://www.google.com/bot.html)';

// The promise is kept, not the browser: tests starting at once must not launch two.
let browser: Promise<Browser> | undefined;
test.after.always(async () => { await (await browser)?.close(); });

const pixel = (app: TestApp, searchParams: Record<string, string> | string, headers: Record<string, string> = {}) =>
  app.http.get('count.gif', { searchParams, headers: { 'user-agent': UA, ...headers }, responseType: 'buffer' });

/** The error message of a JSON error answered to a buffer request. */
const errorOf = (body: Buffer) => (JSON.parse(body.toString('utf8')) as { error: string }).error;

async function ingest(t: ExecutionContext, app: TestApp, outcome: 'accepted' | 'dropped', reason?: string): Promise<number> {
  const response = await app.http.get('metrics', { responseType: 'text' });
  t.is(response.statusCode, 200);
  return new Exposition(response.body).value('hitcounter_ingest_hits_total', { source: 'pixel', outcome, ...(reason === undefined ? {} : { reason }) });
}

interface HitEvent { method: string; path: string; referrer: string; userAgent: string }
async function eventsOf(app: TestApp, path: string): Promise<HitEvent[]> {
  const response = await app.http.get<{ events: HitEvent[] }>('events', { searchParams: { path } });
  if (response.statusCode !== 200) throw new Error(`GET /events: ${response.statusCode}`);
  return response.body.events;
}

test('the pixel is a transparent 1×1 GIF89a of 43 bytes, never cached, and counts /api + p', withApp, async (t, app) => {
  const response = await pixel(app, { p: '/blog/post' });
  t.is(response.statusCode, 200);
  t.is(response.headers['content-type'], 'image/gif');
  const gif = response.body;
  t.is(gif.length, 43);
  t.is(Number(response.headers['content-length']), 43);
  t.is(gif.subarray(0, 6).toString('latin1'), 'GIF89a');
  t.is(gif.readUInt16LE(6), 1, 'width');
  t.is(gif.readUInt16LE(8), 1, 'height');
  // The graphic control extension marks colour 0 transparent; the file ends with the trailer.
  const gce = gif.indexOf(Buffer.from([0x21, 0xf9, 0x04]));
  t.true(gce > 0);
  t.is(gif[gce + 3]! & 1, 1, 'transparency flag');
  t.is(gif[gif.length - 1], 0x3b);
  t.is(response.headers['cache-control'], 'no-store');
  t.is(response.headers.pragma, 'no-cache');
  t.is(response.headers.expires, 'Thu, 01 Jan 1970 00:00:00 GMT');
  t.is(response.headers['cross-origin-resource-policy'], 'cross-origin');
  t.is(await app.store.hitsOf('/api/blog/post'), 1);
  t.is(await app.totalHits(), 1);
  const [event] = await eventsOf(app, '/api/blog/post');
  t.like(event, { method: 'pixel', path: '/api/blog/post', userAgent: UA });
  t.is(await ingest(t, app, 'accepted'), 1);
});

test('p is normalized like a hit; `/` counts /api; GoatCounter\'s t, q and rnd are ignored', withApp, async (t, app) => {
  const sent: Array<Record<string, string>> = [
    { p: '/blog/post/' }, { p: '//blog/./post' }, { p: '/blog/x/../post' }, { p: '/blog/post', t: 'A title', q: '?utm=1', rnd: 'abc12' },
    { p: '/' }, { p: '/100%' },
  ];
  for (const searchParams of sent) t.is((await pixel(app, searchParams)).statusCode, 200, JSON.stringify(searchParams));
  t.is(await app.store.hitsOf('/api/blog/post'), 4);
  t.is(await app.store.hitsOf('/api'), 1);
  t.is(await app.store.hitsOf('/api/100%'), 1);
  t.is(await app.totalHits(), sent.length);
});

test('the referrer is r when given (even empty), else the Referer header', withApp, async (t, app) => {
  t.is((await pixel(app, { p: '/r/param', r: 'https://news.example/item?id=1' }, { referer: 'https://blog.example/post' })).statusCode, 200);
  t.is((await pixel(app, { p: '/r/header' }, { referer: 'https://blog.example/post' })).statusCode, 200);
  t.is((await pixel(app, { p: '/r/empty', r: '' }, { referer: 'https://blog.example/post' })).statusCode, 200);
  t.is((await eventsOf(app, '/api/r/param'))[0]?.referrer, 'https://news.example/item?id=1');
  t.is((await eventsOf(app, '/api/r/header'))[0]?.referrer, 'https://blog.example/post');
  t.is((await eventsOf(app, '/api/r/empty'))[0]?.referrer, '');
});

test('a bad or missing p, or an unknown parameter, is a 400 that counts nothing and is never cached', withApp, async (t, app) => {
  const cases: Array<[string, string]> = [
    ['', 'Expected `p` to be a path such as /blog/post'],
    ['p=', 'Expected `p` to be a path such as /blog/post'],
    ['p=blog/post', 'Expected `p` to be a path such as /blog/post'],
    ['p=/a&p=/b', 'Expected `p` only once'],
    ['p=/..', 'Invalid path: ".." climbs out of /api'],
    ['p=/a%01b', 'Invalid path: control characters are not allowed'],
    ['p=/a&x=1', 'Unknown parameter `x`; expected one of: p, r, t, q, rnd'],
  ];
  for (const [search, message] of cases) {
    const response = await pixel(app, search);
    t.is(response.statusCode, 400, search);
    t.regex(String(response.headers['content-type']), /^application\/json/, search);
    t.is(errorOf(response.body), message, search);
    t.is(response.headers['cache-control'], 'no-store', search);
  }
  const long = await pixel(app, { p: `/${'x'.repeat(2100)}` });
  t.is(long.statusCode, 414);
  t.is(errorOf(long.body), 'Path too long: over 2048 bytes after normalization');
  t.is(await app.totalHits(), 0);
  t.is(await ingest(t, app, 'dropped', 'invalid'), cases.length + 1);
  t.is(await ingest(t, app, 'accepted'), 0);
});

test('web.pixel false: 404 with a clear message, nothing counted', withApp.using({ tweak: (s) => { s.web.pixel = false; } }), async (t, app) => {
  const response = await pixel(app, { p: '/blog/post' });
  t.is(response.statusCode, 404);
  t.is(errorOf(response.body), 'The counting pixel is off (web.pixel is false)');
  t.is(await app.totalHits(), 0);
  t.is(await ingest(t, app, 'dropped', 'disabled'), 1);
});

test('api.bots refuse: a bot\'s pixel is a 403, as on /api, and counts nothing', withApp.using({ tweak: (s) => { s.api.bots = 'refuse'; } }), async (t, app) => {
  const bot = await pixel(app, { p: '/blog/post' }, { 'user-agent': BOT_UA });
  t.is(bot.statusCode, 403);
  t.is(errorOf(bot.body), 'Hits from bots are not counted (api.bots: refuse)');
  t.is((await pixel(app, { p: '/blog/post' })).statusCode, 200);
  t.is(await app.totalHits(), 1);
  t.is(await ingest(t, app, 'dropped', 'bot'), 1);
  t.is(await ingest(t, app, 'accepted'), 1);
});

test('the flood limit of /api holds for the pixel too: counted == the 2xx answers', withApp.using({
  tweak: (s) => { s.api.floodLimit = { points: 5, durationSeconds: 3600, exemptLoopback: false }; },
}), async (t, app) => {
  const responses = await Promise.all(Array.from({ length: 12 }, () => pixel(app, { p: '/flood' })));
  assertCountedExactly(t, tally(responses.map((r) => r.statusCode)), await app.totalHits(), { allowed: [429], sent: 12 });
  t.is(responses.filter((r) => r.statusCode === 200).length, 5);
  for (const refused of responses.filter((r) => r.statusCode === 429)) {
    t.regex(errorOf(refused.body), /^Too many hits from one client: over 5 per 3600 s \(api\.floodLimit\); try again in \d+ s$/);
    t.truthy(refused.headers['retry-after']);
  }
  t.is(await ingest(t, app, 'dropped', 'flood_limit'), 7);
  t.is(await ingest(t, app, 'accepted'), 5);
});

test('many concurrent pixels: each counts once, counted == accepted', withApp, async (t, app) => {
  const n = 60;
  const responses = await Promise.all(Array.from({ length: n }, (_, i) => pixel(app, { p: `/many/${i % 3}` })));
  assertCountedExactly(t, tally(responses.map((r) => r.statusCode)), await app.totalHits(), { sent: n });
  t.is(await app.totalHits(), n);
  t.is(await ingest(t, app, 'accepted'), n);
});

test('chromium: an <img> on a page of another origin counts exactly once per load, with the page as referrer', async (t) => {
  t.timeout(300_000);
  const app = await startApp(t);
  const chromium = await (browser ??= launchChromium());
  const page = await servePage(t, `<!doctype html><title>post</title><h1>A post</h1><img id="px" src="${app.url}/count.gif?p=/blog/post" alt="">`);
  const context = await chromium.newContext();
  t.teardown(() => context.close());
  const tab = await context.newPage();
  tab.setDefaultTimeout(WAIT_MS);
  const statuses: number[] = [];
  const failed: string[] = [];
  tab.on('response', (response) => { if (response.url().includes('/count.gif')) statuses.push(response.status()); });
  tab.on('requestfailed', (request) => { if (request.url().includes('/count.gif')) failed.push(request.failure()?.errorText ?? 'failed'); });

  const loads = 3;
  for (let i = 1; i <= loads; i++) {
    // The load event waits for the image; each navigation fetches it anew (no-store).
    await tab.goto(page.url, { waitUntil: 'load' });
    // The browser's own view: the image decoded as 1×1.
    t.deepEqual(await tab.$eval('#px', (img) => {
      const image = img as unknown as { complete: boolean; naturalWidth: number; naturalHeight: number };
      return [image.complete, image.naturalWidth, image.naturalHeight];
    }), [true, 1, 1]);
    await eventually(async () => (await app.store.hitsOf('/api/blog/post')) === i, { timeoutMs: WAIT_MS, what: `${i} hits after ${i} loads` });
  }
  t.is(page.served(), loads);
  t.deepEqual(failed, []);
  assertCountedExactly(t, tally(statuses), await app.totalHits(), { sent: loads });
  t.is(await app.store.hitsOf('/api/blog/post'), loads);
  t.is(await ingest(t, app, 'accepted'), loads);
  // Across origins the browser sends only the page's origin as Referer (strict-origin-when-cross-origin).
  const events = await eventsOf(app, '/api/blog/post');
  t.is(events.length, loads);
  for (const event of events) t.like(event, { method: 'pixel', referrer: `${page.origin}/` });
});
