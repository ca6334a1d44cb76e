// The trackers people already use, pointed at hitcounter, with their real clients: Plausible's
// (@plausible-analytics/tracker) in chromium on a page of another origin, and Umami's
// (@umami/node) from Node. What they count, what they record, what is dropped and said so.
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Umami } from '@umami/node';
import test, { type ExecutionContext } from 'ava';
import got from 'got';
import type { Browser, Page } from 'playwright-core';
import { SettingsError } from '../src/errors.js';
import { declaredRoutes } from '../src/routes/index.js';
import { parseSettings } from '../src/settings.js';
import { defaultSettingsJson, startApp, withApp, type TestApp } from './helpers/app.js';
import { launchChromium } from './helpers/browser.js';
import { eventually } from './helpers/eventually.js';
import { Exposition } from './helpers/prometheus.js';

const TRACKER = readFileSync(createRequire(import.meta.url).resolve('@plausible-analytics/tracker'));
const WAIT_MS = 60_000;
const ENDPOINT = 'plausible/api/event';
const UMAMI_ID = '50429a93-8479-4073-be80-d5d29c09c2ec';
const DROPPED = 'x-hitcounter-dropped';

interface HitEvent { method: string; path: string; referrer: string }
type Answer = { outcome: string; path?: string; hits?: number; event?: string; reason?: string; message?: string };

// One browser for the file, launched by the first test that needs it: the promise is kept, not
// the browser, or two tests starting at once would launch two and leave one open.
let browser: Promise<Browser> | undefined;
test.after.always(async () => { await (await browser)?.close(); });
const chromium = () => (browser ??= launchChromium());

// Functions passed to the page run in the browser; this file is type-checked with Node's types.
declare const window: { signup(): Promise<unknown> };

/**
 * A site on another origin (127.0.0.1, its own port) whose pages load Plausible's tracker as an ES
 * module from node_modules, through this server, and init it with `?domain=` (example.com by
 * default) and the endpoint given once hitcounter is up. `window.signup()` tracks a custom event
 * and resolves with the tracker's callback result.
 */
async function startSite(t: ExecutionContext): Promise<{ origin: string; setEndpoint(url: string): void }> {
  let endpoint = '';
  const page = () => `<!doctype html>
<html><head><meta charset="utf-8"><title>A post</title></head>
<body><p>A post.</p>
<script type="module">
  import { init, track } from '/plausible.js';
  const domain = new URLSearchParams(location.search).get('domain') ?? 'example.com';
  // captureOnLocalhost: the page is on 127.0.0.1, which the tracker skips otherwise (and so it
  // also skips its check for a browser driven by automation).
  init({ domain, endpoint: ${JSON.stringify(endpoint)}, captureOnLocalhost: true, logging: false });
  window.signup = () => new Promise((resolve) => track('signup', { props: { tier: 'startup' }, callback: resolve }));
</script>
</body></html>`;
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/plausible.js') {
      response.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' }).end(TRACKER);
    } else if (path === '/favicon.ico') {
      response.writeHead(204).end();
    } else {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, setEndpoint: (url) => { endpoint = url; } };
}

interface Sent { n: string; u: string; d: string; status: number; dropped: string | null }

/**
 * A page whose every exchange with the endpoint is recorded (event sent, status, header). Not the
 * answer's body: the tracker's requests are `keepalive`, whose bodies the browser does not hand to
 * the devtools protocol (the API tests below read it).
 */
async function openPage(t: ExecutionContext, app: TestApp): Promise<{ page: Page; sent: Sent[]; problems: string[] }> {
  const context = await (await chromium()).newContext();
  t.teardown(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const sent: Sent[] = [];
  const problems: string[] = [];
  const endpoint = `${app.url}/${ENDPOINT}`;
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`); });
  page.on('requestfailed', (request) => {
    // Leaving a page sends the tracker's `engagement` event, which the navigation may cut off; and
    // it aborts the reading of answers that did arrive (those are in `sent`, status and all).
    if (request.url() === endpoint && (request.postDataJSON() as { n: string }).n === 'engagement') return;
    request.response().then((response) => {
      if (!response) problems.push(`failed: ${request.url()} ${request.postData()} ${request.failure()?.errorText}`);
    }, (error: Error) => problems.push(`failed: ${request.url()}: ${error.message}`));
  });
  page.on('response', (response) => {
    if (response.url() !== endpoint) return;
    const event = response.request().postDataJSON() as { n: string; u: string; d: string };
    // allHeaders: what the network got, whether or not CORS exposes it to the page.
    response.allHeaders().then(
      (headers) => sent.push({ ...event, status: response.status(), dropped: headers[DROPPED] ?? null }),
      (error: Error) => problems.push(`headers of ${event.n}: ${error.message}`),
    );
  });
  return { page, sent, problems };
}

async function scrape(app: TestApp): Promise<Exposition> {
  const response = await app.http.get('metrics', { responseType: 'text' });
  if (response.statusCode !== 200) throw new Error(`GET /metrics: ${response.statusCode}`);
  return new Exposition(response.body);
}

const ingest = (metrics: Exposition, source: string, outcome: string, reason = '') => metrics.value('hitcounter_ingest_hits_total', { source, outcome, reason });

async function eventsOf(app: TestApp, path: string): Promise<HitEvent[]> {
  const response = await app.http.get('events', { searchParams: { path } });
  if (response.statusCode !== 200) throw new Error(`GET /events: ${response.statusCode}`);
  return (response.body as unknown as { events: HitEvent[] }).events;
}

async function hitsOf(app: TestApp, path: string): Promise<number> {
  const response = await app.http.get('stats');
  if (response.statusCode !== 200) throw new Error(`GET /stats: ${response.statusCode}`);
  return (response.body as unknown as Array<{ path: string; hits: number }>).find((row) => row.path === path)?.hits ?? 0;
}

const pageviews = (sent: readonly Sent[]) => sent.filter((event) => event.n === 'pageview');

test('Plausible\'s tracker on a page of another origin: its page view counts, its custom event is recorded', async (t) => {
  const site = await startSite(t);
  const app = await startApp(t, { tweak: (s) => { s.cors.origins = [site.origin]; s.api.bots = 'count'; } });
  site.setEndpoint(`${app.url}/${ENDPOINT}`);
  t.not(new URL(site.origin).origin, new URL(app.url).origin, 'the page is on another origin');
  const { page, sent, problems } = await openPage(t, app);

  await page.goto(`${site.origin}/blog/post?utm_source=x#top`);
  await eventually(() => pageviews(sent).length === 1, { timeoutMs: WAIT_MS, what: 'the automatic page view answered' });
  const [view] = pageviews(sent);
  t.like(view, { u: `${site.origin}/blog/post?utm_source=x#top`, d: 'example.com', status: 202, dropped: null });

  // The tracker's own callback: what the page itself was told, through CORS.
  t.deepEqual(await page.evaluate(() => window.signup()), { status: 202 });
  await eventually(() => sent.some((event) => event.n === 'signup'), { timeoutMs: WAIT_MS, what: 'the custom event seen on the network' });
  t.like(sent.find((event) => event.n === 'signup'), { status: 202, dropped: null });

  t.is(await hitsOf(app, '/api/blog/post'), 1, '+1 on the page\'s path in /stats');
  const events = await eventsOf(app, '/api/blog/post');
  t.deepEqual(events.map((event) => event.method).sort(), ['event:signup', 'plausible'], 'the page view and the custom event, each in the event log');
  // counted == accepted: Redis holds exactly the page views answered 202 without a drop.
  const accepted = pageviews(sent).filter((event) => event.status === 202 && event.dropped === null).length;
  t.is(await app.totalHits(), accepted);
  t.is(ingest(await scrape(app), 'plausible', 'accepted'), accepted);
  t.deepEqual(problems, []);
});

test('web.sites: Plausible\'s page views count under their site\'s prefix; an unknown domain is dropped and said so', async (t) => {
  const site = await startSite(t);
  const app = await startApp(t, { tweak: (s) => {
    s.cors.origins = [site.origin];
    s.api.bots = 'count';
    s.web.sites = [{ domain: 'example.com', prefix: '/example.com' }];
  } });
  site.setEndpoint(`${app.url}/${ENDPOINT}`);
  const { page, sent, problems } = await openPage(t, app);

  await page.goto(`${site.origin}/blog/post`);
  await eventually(() => pageviews(sent).length === 1, { timeoutMs: WAIT_MS, what: 'the page view of example.com answered' });
  t.like(pageviews(sent)[0], { d: 'example.com', status: 202, dropped: null });
  t.is(await hitsOf(app, '/api/example.com/blog/post'), 1, 'counted under the site\'s prefix');

  await page.goto(`${site.origin}/blog/post?domain=unknown.example`);
  await eventually(() => pageviews(sent).length === 2, { timeoutMs: WAIT_MS, what: 'the page view of unknown.example answered' });
  const unknown = pageviews(sent)[1]!;
  t.like(unknown, { d: 'unknown.example', status: 202, dropped: 'unknown_site' });

  t.is(await app.totalHits(), 1, 'only the known site\'s page view counted');
  const metrics = await scrape(app);
  t.is(ingest(metrics, 'plausible', 'accepted'), 1);
  t.is(ingest(metrics, 'plausible', 'dropped', 'unknown_site'), 1);
  t.regex(metrics.text, /^hitcounter_ingest_hits_total\{source="plausible",outcome="dropped",reason="unknown_site"\} 1$/m);
  t.deepEqual(problems, []);
});

const plausible = (app: TestApp, body: unknown, options: { userAgent?: string; contentType?: string } = {}) => app.http.post(ENDPOINT, {
  body: typeof body === 'string' ? body : JSON.stringify(body),
  headers: { 'content-type': options.contentType ?? 'text/plain', 'user-agent': options.userAgent ?? 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0' },
});

test('Plausible\'s events API: 202 for every well-formed event, 400 for anything else', withApp.using({ tweak: (s) => { s.api.bots = 'refuse'; } }), async (t, app) => {
  const event = { n: 'pageview', u: 'https://example.com/a/b?q=1#x', d: 'example.com', r: 'https://search.example/', v: 36 };
  const counted = await plausible(app, event);
  t.is(counted.statusCode, 202);
  t.deepEqual(counted.body, { outcome: 'counted', path: '/api/a/b', hits: 1 });
  t.is(counted.headers[DROPPED], undefined);
  const json = await plausible(app, event, { contentType: 'application/json' });
  t.deepEqual([json.statusCode, json.body], [202, { outcome: 'counted', path: '/api/a/b', hits: 2 }], 'application/json is read alike');
  const hashed = await plausible(app, { ...event, u: 'https://example.com/app/#/settings', h: 1 });
  t.deepEqual(hashed.body, { outcome: 'counted', path: '/api/app/#/settings', hits: 1 }, 'hash-based routing counts the fragment');

  const drops: Array<[body: object, reason: string, userAgent?: string]> = [
    [{ ...event, u: 'not a url' }, 'invalid_url'],
    [{ ...event, u: 'https://example.com/%FF' }, 'invalid_url'],
    [{ ...event, u: `https://example.com/${'x'.repeat(2100)}` }, 'path_too_long'],
    [event, 'bot', 'Googlebot/2.1 (+http://www.google.com/bot.html)'],
  ];
  for (const [body, reason, userAgent] of drops) {
    const response = await plausible(app, body, { userAgent });
    t.is(response.statusCode, 202, reason);
    t.is(response.headers[DROPPED], reason);
    t.like(response.body, { outcome: 'dropped', reason });
  }
  const engagement = await plausible(app, { n: 'engagement', u: event.u, d: event.d, e: 1200, sd: 40, v: 36 });
  t.deepEqual([engagement.statusCode, engagement.body], [202, { outcome: 'ignored', reason: 'engagement' }]);

  const malformed: Array<[body: string, message: RegExp]> = [
    ['not json', /^Expected a JSON object as the body/],
    ['"pageview"', /^Expected a JSON object as the body/],
    ['[]', /^Expected a JSON object as the body, not an array$/],
    [JSON.stringify({ u: event.u }), /^Expected `n` to be the event's name/],
    [JSON.stringify({ n: 'pageview' }), /^Expected `u` to be the page's URL$/],
    [JSON.stringify({ n: 'x'.repeat(121), u: event.u }), /^Expected `n` to be at most 120 characters$/],
    ['', /^Expected a JSON object with `n` and `u`$|^Expected `n`/],
  ];
  for (const [body, message] of malformed) {
    const response = await plausible(app, body);
    t.is(response.statusCode, 400, body);
    t.regex((response.body as unknown as { error: string }).error, message, body);
  }
  const huge = await plausible(app, { ...event, p: { blob: 'x'.repeat(app.settings.server.maxBodyBytes) } });
  t.is(huge.statusCode, 413);

  t.is(await app.totalHits(), 3, 'counted == the 202s that counted');
  const metrics = await scrape(app);
  t.is(ingest(metrics, 'plausible', 'accepted'), 3);
  t.is(ingest(metrics, 'plausible', 'dropped', 'invalid_url'), 2);
  t.is(ingest(metrics, 'plausible', 'dropped', 'path_too_long'), 1);
  t.is(ingest(metrics, 'plausible', 'dropped', 'bot'), 1);
  t.deepEqual((await eventsOf(app, '/api/a/b')).map((entry) => [entry.method, entry.referrer]), [['plausible', 'https://search.example/'], ['plausible', 'https://search.example/']]);
});

test('Plausible\'s custom events: recorded, never counted; a bot\'s dropped', withApp.using({ tweak: (s) => { s.api.bots = 'refuse'; } }), async (t, app) => {
  const recorded = await plausible(app, { n: 'Outbound Link: Click', u: 'https://example.com/a', d: 'example.com', p: { url: 'https://elsewhere.example/' } });
  t.deepEqual([recorded.statusCode, recorded.body], [202, { outcome: 'recorded', path: '/api/a', event: 'Outbound Link: Click' }]);
  const bot = await plausible(app, { n: 'signup', u: 'https://example.com/a' }, { userAgent: 'Googlebot/2.1' });
  t.deepEqual([bot.statusCode, bot.headers[DROPPED]], [202, 'bot']);
  t.is(await app.totalHits(), 0);
  t.deepEqual((await eventsOf(app, '/api/a')).map((entry) => entry.method), ['event:Outbound Link: Click']);
  const metrics = await scrape(app);
  t.is(ingest(metrics, 'plausible', 'accepted') + ingest(metrics, 'plausible', 'dropped', 'bot'), 0, 'events are not hits');
});

test('the trackers\' endpoints answer 404 when switched off', withApp.using({ tweak: (s) => { s.web.plausible.enabled = false; s.web.umami.enabled = false; } }), async (t, app) => {
  const off = await plausible(app, { n: 'pageview', u: 'https://example.com/' });
  t.deepEqual([off.statusCode, off.body], [404, { error: 'Plausible\'s events API is off (web.plausible.enabled is false)' }]);
  const umamiOff = await app.http.post('umami/api/send', { json: { type: 'event', payload: { website: UMAMI_ID, url: '/x' } } });
  t.deepEqual([umamiOff.statusCode, umamiOff.body], [404, { error: 'Umami\'s collect API is off (web.umami.enabled is false)' }]);
  t.is(await app.totalHits(), 0);
});

test('web.plausible.endpoint moves the endpoint, but never under /api', async (t) => {
  const json = defaultSettingsJson();
  json.web.plausible.endpoint = '/api/event';
  t.throws(() => declaredRoutes(parseSettings(json)), {
    instanceOf: SettingsError,
    message: 'Invalid setting `web.plausible.endpoint`: expected a path outside /api (every path under it counts a hit), got "/api/event"',
  });
  const app = await startApp(t, { tweak: (s) => { s.web.plausible.endpoint = '/collect/event'; } });
  // Plain got: the document describes the default endpoint.
  const moved = await got.post(`${app.url}/collect/event`, { body: JSON.stringify({ n: 'pageview', u: 'https://example.com/moved' }), headers: { 'content-type': 'text/plain' }, throwHttpErrors: false, responseType: 'json' });
  t.deepEqual([moved.statusCode, moved.body], [202, { outcome: 'counted', path: '/api/moved', hits: 1 }]);
  const old = await got.post(`${app.url}/${ENDPOINT}`, { body: '{}', throwHttpErrors: false });
  t.is(old.statusCode, 404);
  t.is(await app.totalHits(), 1);
});

test('nothing under /api is reserved: /api/event and /api/send are paths that count', withApp, async (t, app) => {
  const event = await app.http.post('api/event', { body: JSON.stringify({ n: 'pageview', u: 'https://example.com/x' }), headers: { 'content-type': 'text/plain' } });
  t.deepEqual([event.statusCode, event.body], [200, { path: '/api/event', hits: 1 }]);
  const send = await app.http.post('api/send', { json: { type: 'event', payload: { website: UMAMI_ID, url: '/x' } } });
  t.deepEqual([send.statusCode, send.body], [200, { path: '/api/send', hits: 1 }]);
  t.is(await hitsOf(app, '/api/x'), 0, 'their bodies are not read');
  t.is(await app.totalHits(), 2);
});

test('Umami\'s client (@umami/node): page views count under the site, named events are recorded, an unknown website is refused', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.web.sites = [{ websiteId: UMAMI_ID, prefix: '/umami-site' }]; } });
  const umami = new Umami({ websiteId: UMAMI_ID, hostUrl: `${app.url}/umami` });
  const answers: Array<{ status: number; dropped: string | null; body: Answer }> = [];
  const send = async (call: Promise<Response>) => {
    const response = await call;
    const answer = { status: response.status, dropped: response.headers.get(DROPPED), body: await response.json() as Answer };
    answers.push(answer);
    return answer;
  };

  const views = 3;
  for (let i = 1; i <= views; i++) {
    const answer = await send(umami.track({ url: '/x?ref=mail', hostname: 'example.com', title: 'X', language: 'en-US', screen: '1920x1080', referrer: 'https://ref.example/' }));
    t.deepEqual(answer, { status: 200, dropped: null, body: { outcome: 'counted', path: '/api/umami-site/x', hits: i } });
  }
  t.deepEqual(await send(umami.track('signup', { plan: 'pro' })), { status: 200, dropped: null, body: { outcome: 'recorded', path: '/api/umami-site', event: 'signup' } }, 'a named event without a url, on the site\'s root');
  t.deepEqual(await send(umami.track({ url: '/x', name: 'click', data: { button: 'buy' } })), { status: 200, dropped: null, body: { outcome: 'recorded', path: '/api/umami-site/x', event: 'click' } });
  t.deepEqual(await send(umami.identify({ plan: 'pro' })), { status: 200, dropped: null, body: { outcome: 'ignored', reason: 'identify' } });

  const stranger = new Umami({ websiteId: '11111111-2222-4333-8444-555555555555', hostUrl: `${app.url}/umami` });
  const refused = await stranger.track({ url: '/x', hostname: 'elsewhere.example' });
  t.is(refused.status, 400, 'as Umami answers "Website not found"');
  t.is(refused.headers.get(DROPPED), 'unknown_site');
  t.regex(((await refused.json()) as { error: string }).error, /^Unknown site: no entry of web\.sites has website id "11111111-2222-4333-8444-555555555555" nor domain "elsewhere\.example"$/);

  t.is(await hitsOf(app, '/api/umami-site/x'), views);
  const counted = answers.filter((answer) => answer.status === 200 && answer.body.outcome === 'counted').length;
  t.is(await app.totalHits(), counted, 'counted == accepted');
  const xEvents = await eventsOf(app, '/api/umami-site/x');
  t.deepEqual(xEvents.map((entry) => entry.method), ['event:click', 'umami', 'umami', 'umami']);
  t.is(xEvents[1]!.referrer, 'https://ref.example/');
  t.deepEqual((await eventsOf(app, '/api/umami-site')).map((entry) => entry.method), ['event:signup']);
  const metrics = await scrape(app);
  t.is(ingest(metrics, 'umami', 'accepted'), counted);
  t.is(ingest(metrics, 'umami', 'dropped', 'unknown_site'), 1);
});

test('Umami\'s collect API: drops Umami would accept are answered 200 and said so; malformed calls 400', withApp.using({ tweak: (s) => { s.api.bots = 'refuse'; } }), async (t, app) => {
  const send = (json: unknown, userAgent = 'Mozilla/5.0 Umami/v20.20.0') => app.http.post('umami/api/send', { json, headers: { 'user-agent': userAgent } });
  const bot = await send({ type: 'event', payload: { website: UMAMI_ID, url: 'https://example.com/x' } }, 'Googlebot/2.1');
  t.deepEqual([bot.statusCode, bot.headers[DROPPED]], [200, 'bot']);
  t.like(bot.body, { outcome: 'dropped', reason: 'bot' });
  const noUrl = await send({ type: 'event', payload: { website: UMAMI_ID } });
  t.deepEqual([noUrl.statusCode, noUrl.headers[DROPPED], noUrl.body], [400, 'invalid_url', { error: 'Expected `payload.url`, the page\'s URL or path, for a page view' }]);
  const counted = await send({ type: 'event', payload: { website: UMAMI_ID, url: 'https://example.com/x#section' } });
  t.deepEqual([counted.statusCode, counted.body], [200, { outcome: 'counted', path: '/api/x', hits: 1 }], 'with no sites, any website id counts under /api');

  const malformed: Array<[body: unknown, message: string]> = [
    [{ type: 'event' }, 'Expected `payload` to be an object'],
    [{ type: 'pageview', payload: { website: UMAMI_ID } }, 'Expected `type` to be one of: event, identify, performance, engagement'],
    [{ type: 'event', payload: { url: '/x' } }, 'Expected `payload.website` to be the website id'],
    [{ type: 'event', payload: { website: UMAMI_ID, url: 42 } }, 'Expected `payload.url` to be the page\'s URL or path'],
  ];
  for (const [body, error] of malformed) {
    const response = await send(body);
    t.deepEqual([response.statusCode, response.body], [400, { error }], JSON.stringify(body));
  }
  t.is(await app.totalHits(), 1);
  const metrics = await scrape(app);
  t.is(ingest(metrics, 'umami', 'accepted'), 1);
  t.is(ingest(metrics, 'umami', 'dropped', 'bot'), 1);
  t.is(ingest(metrics, 'umami', 'dropped', 'invalid_url'), 1);
});
