// The web dashboard in a real browser (Debian's chromium through playwright-core; never a
// downloaded one) against a real server on a real Redis: the ranking, its filter, a load test
// from the panel, stages, a breaking-point search and two runs compared, the live chart, the error
// banner, the admin token. Also the static files.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import got from 'got';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { launchChromium } from './helpers/browser.js';
import { startApp, type TestApp } from './helpers/app.js';
import { startLocalRedis, startRedis, type TestRedis } from './helpers/redis.js';

// The README shows test/screenshots/; a run rewrites them only when asked
// (UPDATE_SCREENSHOTS=1 npm test -- test/dashboard.ts), so that running the suite leaves the tree clean.
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS
  ? new URL('./screenshots/', import.meta.url)
  : pathToFileURL(`${mkdtempSync(join(tmpdir(), 'hitcounter-screenshots-'))}/`);
test.after.always('remove screenshots nobody asked to keep', () => {
  if (!process.env.UPDATE_SCREENSHOTS) rmSync(SCREENSHOTS, { recursive: true, force: true });
});
const WAIT_MS = 60_000;
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

let redis: TestRedis;
let browser: Browser;
test.before(async () => {
  [redis, browser] = await Promise.all([
    startRedis(),
    launchChromium(),
  ]);
});
test.after.always(async () => {
  await browser?.close();
  await redis?.stop();
});

interface Watched {
  page: Page;
  /** Console errors, page errors and requests to anything but the app's own origin. */
  problems: string[];
}

/** A page whose console errors, uncaught errors and off-origin requests are all recorded. */
async function openPage(t: ExecutionContext, app: TestApp, options: BrowserContextOptions = DESKTOP): Promise<Watched> {
  const context = await browser.newContext({ locale: 'en-US', colorScheme: 'light', ...options });
  t.teardown(() => context.close());
  const page = await context.newPage();
  // Every wait for the page (selectors, actions) may take this long: a busy machine only makes
  // the page slower, and a condition that never comes still fails, just later.
  page.setDefaultTimeout(WAIT_MS);
  const problems: string[] = [];
  const origin = new URL(app.url).origin;
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`); });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith('data:') && new URL(url).origin !== origin) problems.push(`request to ${url}`);
  });
  await page.goto(`${app.url}/`);
  return { page, problems };
}

// Functions passed to the page run in the browser, and this file is type-checked with Node's
// types, not the DOM's. (String expressions would not do: the page's CSP forbids eval.)
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const sessionStorage: { getItem(key: string): string | null };
const until = (page: Page, condition: (arg: number) => boolean, arg = 0, timeout = WAIT_MS) => page.waitForFunction(condition, arg, { timeout });
const numberAttribute = async (page: Page, selector: string, name: string) => Number(await page.getAttribute(selector, name));
const rowCount = (page: Page, n: number) => until(page, (n) => document.querySelectorAll('#top-body tr').length === n, n);

async function tableRows(page: Page): Promise<string[][]> {
  const rows = await page.locator('#top-body tr').all();
  return Promise.all(rows.map(async (row) => (await row.locator('td').allTextContents()).slice(0, 3).map((text) => text.trim())));
}

async function seed(app: TestApp, counts: Record<string, number>): Promise<void> {
  for (const [path, n] of Object.entries(counts)) for (let i = 0; i < n; i++) await app.http.get(path.slice(1));
}

test.serial('the ranking, its filter, a load test from the panel and live traffic; screenshots', async (t) => {
  t.timeout(300_000);
  // This test is about the panel, not pacing: on a busy machine the open model falls behind its
  // rate, and with the default maxLagMs it would drop requests rather than send them late.
  const app = await startApp(t, redis.url, { tweak: (s) => { s.loadtest.maxLagMs = 600_000; } });
  await seed(app, { '/api/blog/alpha': 5, '/api/blog/beta': 3, '/api/docs/intro': 2, '/api/about': 1 });
  const { page, problems } = await openPage(t, app);

  await rowCount(page, 4);
  t.deepEqual(await tableRows(page), [
    ['1', '/api/blog/alpha', '5'],
    ['2', '/api/blog/beta', '3'],
    ['3', '/api/docs/intro', '2'],
    ['4', '/api/about', '1'],
  ]);
  t.is(await page.textContent('#top-body tr:first-child .share__label'), '45.5%');
  t.is(await page.textContent('#top-summary'), '4 paths · 11 hits · all time');

  await page.fill('#top-prefix', 'blog');
  await rowCount(page, 2);
  t.deepEqual((await tableRows(page)).map(([, path]) => path), ['/api/blog/alpha', '/api/blog/beta']);
  await page.fill('#top-prefix', '');
  await rowCount(page, 4);
  await page.click('#top-window [data-window="1h"]');
  await until(page, () => document.querySelector('#top-summary').textContent.endsWith('the last hour'));
  t.is((await tableRows(page)).length, 4);
  await page.click('#top-window [data-window="all"]');

  // The live chart starts from the backlog (300 seconds) and grows a point a second.
  await until(page, () => Number(document.querySelector('#live-chart').dataset.points) >= 300);
  const pointsBefore = await numberAttribute(page, '#live-chart', 'data-points');

  await page.fill('#load-form [name=n]', '2000');
  await page.fill('#load-form [name=concurrency]', '20');
  // Paced over four seconds: the progress bar moves, and the live chart shows a plateau.
  await page.fill('#load-form [name=rate]', '500');
  await page.selectOption('#load-form [name=distribution]', 'zipf');
  await page.click('#load-start');
  await page.waitForSelector('#load-progress:not([hidden])');
  // 2,000 requests at 500/s take four seconds on an idle machine; the run ends whenever it ends.
  await until(page, () => document.querySelector('#load-bar').dataset.progress === '100', 0, 180_000);
  await page.waitForSelector('#load-report[data-state="shown"]');
  t.is(await page.textContent('#load-status'), 'Done');
  t.is(await page.textContent('#r-succeeded'), '2,000');
  t.is(await page.textContent('#r-codes'), '200 × 2,000');
  t.is(await page.locator('#r-latency-chart canvas').count(), 1);
  t.is(await page.locator('#r-latency td').count(), 6);

  await until(page, () => Number(document.querySelector('#live-chart').dataset.peak) > 0);
  await until(page, (before) => Number(document.querySelector('#live-chart').dataset.points) > before, pointsBefore);
  await page.waitForSelector('#live-badge[data-state="live"]');
  // The table refreshed after the run: the load test's paths are in it.
  await until(page, () => Number(document.querySelector('#top-table').dataset.total) > 4);
  await page.waitForSelector('#health[data-state="up"]');

  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: new URL('dashboard-desktop.png', SCREENSHOTS).pathname, fullPage: true, animations: 'disabled' });
  const phone = await openPage(t, app, PHONE);
  await phone.page.waitForSelector('#load-report[data-state="shown"]');
  await phone.page.waitForSelector('#health[data-state="up"]');
  await until(phone.page, () => Number(document.querySelector('#live-chart').dataset.peak) > 0);
  const width = await phone.page.evaluate(() => document.documentElement.scrollWidth as number);
  t.is(width, 390, 'nothing overflows the phone-width viewport');
  await phone.page.screenshot({ path: new URL('dashboard-phone.png', SCREENSHOTS).pathname, fullPage: true, animations: 'disabled' });

  t.deepEqual([...problems, ...phone.problems], []);
});

test.serial('an empty state before the first hit; the error banner while Redis is down, gone once it is back', async (t) => {
  t.timeout(300_000);
  const local = await startLocalRedis();
  t.teardown(() => local.stop());
  const app = await startApp(t, local.url, { tweak: (s) => { s.redis.commandTimeoutMs = 500; } });
  const { page, problems } = await openPage(t, app);

  await page.waitForSelector('#top-empty:not([hidden])');
  t.is(await page.textContent('#top-empty-title'), 'No hits yet');
  t.true(await page.isHidden('#banner'));

  await local.process!.kill();
  await page.waitForSelector('#banner:not([hidden])');
  t.regex((await page.textContent('#banner'))!, /Redis is unavailable|Redis is down|cannot be reached/);
  await page.waitForSelector('#health[data-state="down"]');

  await local.restart!();
  await page.waitForSelector('#banner', { state: 'hidden' });
  await page.waitForSelector('#health[data-state="up"]');
  // Chromium logs each 503 as a failed resource load; nothing else may appear.
  t.deepEqual(problems.filter((problem) => !/Failed to load resource: the server responded with a status of 503/.test(problem)), []);
});

test.serial('with an admin token configured, the panel asks for it, keeps it for the tab, and shows refusals', async (t) => {
  t.timeout(300_000);
  const app = await startApp(t, redis.url, { deps: { adminToken: 'correct-horse-battery-staple' } });
  const { page, problems } = await openPage(t, app);

  await page.fill('#load-form [name=concurrency]', '5000');
  await page.click('#load-start');
  await page.waitForSelector('#token-dialog[open]');
  await page.fill('#token-input', 'wrong');
  await page.click('#token-form [type=submit]');
  await until(page, () => document.querySelector('#token-reason').textContent.includes('refused'));
  await page.fill('#token-input', 'correct-horse-battery-staple');
  await page.click('#token-form [type=submit]');
  // The token is right; the concurrency is not: the API's 400 is shown next to the form.
  await page.waitForSelector('#load-error:not([hidden])');
  t.is(await page.textContent('#load-error'), 'Not started: Expected `concurrency` to be an integer from 1 to 1000');
  t.is(await page.evaluate(() => sessionStorage.getItem('hitcounter.adminToken')), 'correct-horse-battery-staple');

  await page.fill('#load-form [name=n]', '200');
  await page.fill('#load-form [name=concurrency]', '10');
  await page.click('#load-start');
  await page.waitForSelector('#load-report[data-state="shown"]');
  t.is(await page.textContent('#r-succeeded'), '200');
  t.true(await page.isHidden('#load-error'));
  t.deepEqual(problems.filter((problem) => !/Failed to load resource: the server responded with a status of (400|401)/.test(problem)), []);
});

// A load-test panel test is about the panel, not pacing: with the default maxLagMs a busy machine
// would drop requests rather than send them late, and no count would be exact. Progress ticks
// come often, so that every stage and every step is polled while it runs.
const patientLoad = (s: { loadtest: { maxLagMs: number; progressIntervalMs: number } }) => {
  s.loadtest.maxLagMs = 600_000;
  s.loadtest.progressIntervalMs = 100;
};
const texts = async (page: Page, selector: string) => (await page.locator(selector).allTextContents()).map((text) => text.trim());

test.serial('stages from the editor: the stage running and the ramp while it runs, each stage\'s figures and the warnings at the end', async (t) => {
  t.timeout(300_000);
  const app = await startApp(t, redis.url, { tweak: patientLoad });
  const { page, problems } = await openPage(t, app);
  // The tabs follow the keyboard as ARIA's pattern has it.
  await page.focus('#tab-quick');
  await page.keyboard.press('ArrowRight');
  t.is(await page.getAttribute('#tab-stages', 'aria-selected'), 'true');
  t.is(await page.evaluate(() => document.activeElement.id as string), 'tab-stages');
  t.true(await page.isHidden('#panel-quick'));

  const row = (n: number) => `#stages-rows > fieldset:nth-child(${n})`;
  t.is(await page.locator('#stages-rows > fieldset').count(), 1);
  t.true(await page.isDisabled(`${row(1)} [data-remove]`), 'the only stage cannot be removed');
  await page.click('#stages-add');
  await page.click('#stages-add');
  t.deepEqual(await texts(page, '#stages-rows legend'), ['Stage 1', 'Stage 2', 'Stage 3']);
  await page.click(`${row(3)} [data-remove]`);
  t.deepEqual(await texts(page, '#stages-rows legend'), ['Stage 1', 'Stage 2']);

  // A warm-up of 2 s at 100 req/s (200 requests), then a ramp from 100 to 300 req/s over 4 s (800).
  await page.fill(`${row(1)} [name=end]`, '2');
  await page.selectOption(`${row(1)} [name=unit]`, 's');
  await page.selectOption(`${row(1)} [name=load]`, 'rate');
  await page.fill(`${row(1)} [name=value]`, '100');
  await page.check(`${row(1)} [name=warmup]`);
  await page.fill(`${row(2)} [name=end]`, '4');
  await page.selectOption(`${row(2)} [name=load]`, 'ramp');
  await page.fill(`${row(2)} [name=value]`, '100');
  await page.fill(`${row(2)} [name=to]`, '');
  // A stage that says nothing whole is refused before anything is sent.
  await page.click('#stages-start');
  await page.waitForSelector('#load-error:not([hidden])');
  t.is(await page.textContent('#load-error'), 'Stage 2: a ramp goes from a whole number of requests per second to another, each at least 1.');
  await page.fill(`${row(2)} [name=to]`, '300');
  await page.click('#stages-start');

  await page.waitForSelector('#run-live:not([hidden])');
  t.true(await page.isHidden('#load-error'));
  t.deepEqual(await texts(page, '#run-stages li'), ['1warm-up, 100 req/s, 2 s', '2100 → 300 req/s, 4 s']);
  // The second stage runs for four seconds: the indicator moves to it, and the ramp climbs.
  await page.waitForSelector('#run-stages li:nth-child(2)[data-state="current"][aria-current="step"]');
  t.is(await page.getAttribute('#run-stages li:nth-child(1)', 'data-state'), 'done');
  t.regex((await page.textContent('#run-stage-now'))!, /^Stage 2 of 2: 100 → 300 req\/s\.$/);
  await until(page, () => Number(document.querySelector('#run-ramp-chart').dataset.targetMax) > 150);
  t.true(await numberAttribute(page, '#run-ramp-chart', 'data-points') >= 3);
  t.true(await numberAttribute(page, '#run-ramp-chart', 'data-achieved-max') > 0);
  t.is(await page.locator('#run-ramp-chart canvas').count(), 1);

  await page.waitForSelector('#load-report[data-state="shown"]');
  t.is(await page.textContent('#load-status'), 'Done');
  t.is(await page.textContent('#run-stage-now'), 'Done: 2 stages.');
  t.deepEqual(await page.locator('#run-stages li').evaluateAll((items) => items.map((item) => item.dataset.state)), ['done', 'done']);
  t.is(await page.textContent('#r-succeeded'), '800', 'the warm-up is left out of the figures');
  t.is(await page.getAttribute('#load-bar', 'data-progress'), '100');
  const stageRows = await page.locator('#r-stages tbody tr').all();
  t.deepEqual(await Promise.all(stageRows.map(async (tr) => (await tr.locator('th, td').allTextContents()).slice(0, 5))), [
    ['1 warm-up', '100 req/s', '200', '0', '0'],
    ['2', '100 → 300 req/s', '800', '0', '0'],
  ]);
  // The warnings shown are the report's, whatever this machine made of the run.
  const [job] = await app.http.get('test/jobs?limit=1').json<Array<{ report: { warnings: string[] } }>>();
  t.deepEqual(await texts(page, '#r-warnings li'), job!.report.warnings);
  t.is(await page.isVisible('#r-warnings'), job!.report.warnings.length > 0);
  t.deepEqual(problems, []);
});

test.serial('a breaking-point search from the panel: its steps as they come, then the breaking point', async (t) => {
  t.timeout(300_000);
  const app = await startApp(t, redis.url, { tweak: patientLoad });
  const { page, problems } = await openPage(t, app);
  await page.click('#tab-search');
  // An objective every step meets: the search doubles from 50 to 100 to 200 req/s and stops at the bound.
  await page.fill('#search-form [name=p99]', '60000');
  await page.fill('#search-form [name=errors]', '100');
  await page.fill('#search-form [name=minRate]', '50');
  await page.fill('#search-form [name=maxRate]', '200');
  await page.fill('#search-form [name=step]', '1');
  await page.fill('#search-form [name=warmup]', '0');
  await page.click('#search-start');

  await page.waitForSelector('#search-view:not([hidden])');
  t.true(await page.isHidden('#load-progress'), 'a search shows steps, not a run\'s progress');
  t.is(await page.textContent('#search-objective'), 'Objective: p99 ≤ 60,000 ms, errors ≤ 100% · 50 to 200 req/s');
  // Steps show while the search still runs (each lasts a second; the page polls twice a second).
  await until(page, () => document.querySelector('#load-status').textContent === 'Running' && document.querySelectorAll('#search-steps tbody tr[data-met]').length >= 1);
  await page.waitForSelector('#search-view[data-state="shown"]');
  t.is(await page.textContent('#load-status'), 'Done');
  const steps = await page.locator('#search-steps tbody tr').all();
  t.deepEqual(await Promise.all(steps.map(async (tr) => (await tr.locator('th, td').allTextContents()).slice(0, 3))), [
    ['1ramp', '50 req/s', 'Met'],
    ['2ramp', '100 req/s', 'Met'],
    ['3ramp', '200 req/s', 'Met'],
  ]);
  t.is(await page.textContent('#search-breaking'), '200 req/s');
  t.is(await page.textContent('#search-failing'), 'none');
  t.is(await page.textContent('#search-summary'), 'Every step up to the highest rate, 200 req/s, met the objective: the breaking point is there or above.');
  t.true((await page.textContent('#search-now'))!.startsWith('3 steps. '));
  t.deepEqual(problems, []);
});

test.serial('two finished runs compared side by side, with the verdict', async (t) => {
  t.timeout(300_000);
  const app = await startApp(t, redis.url, { tweak: patientLoad });
  // Six seconds each at the same rate: four full seconds apiece, enough to estimate the noise.
  const run = async () => {
    const response = await app.http.post('test/1200?rate=200&concurrency=20');
    return response.headers['content-location']!.split('/').at(-1)!;
  };
  const older = await run();
  const newer = await run();
  const { page, problems } = await openPage(t, app);
  await page.click('#tab-compare');
  t.true(await page.isHidden('#load-job'), 'the last job gives way to the comparison');
  await page.waitForSelector('#compare-form[data-runs="2"]');
  t.is(await page.inputValue('#compare-a'), older, 'the run before the newest as A');
  t.is(await page.inputValue('#compare-b'), newer, 'the newest as B');
  await page.click('#compare-start');
  await page.waitForSelector('#compare-result[data-state="shown"]');

  const comparison = await app.http.get(`test/jobs/${older}/compare/${newer}`).json<{ verdict: { summary: string }; metrics: Array<{ metric: string; beyondNoise: boolean }>; noise: { estimated: boolean } }>();
  t.true(comparison.noise.estimated);
  t.is(await page.textContent('#compare-verdict'), comparison.verdict.summary);
  t.deepEqual(await texts(page, '#compare-table tbody th'), ['Run', 'Throughput', 'p50', 'p90', 'p99', 'p99.9', 'Errors']);
  t.deepEqual(
    await page.locator('#compare-table tbody tr[data-metric]').evaluateAll((rows) => rows.map((row) => [row.dataset.metric, row.dataset.beyondNoise === 'true'])),
    comparison.metrics.map((metric) => [metric.metric, metric.beyondNoise]),
  );
  const changes = await texts(page, '#compare-table tbody tr[data-metric] .chip');
  t.true(changes.every((chip) => chip === 'beyond noise' || chip === 'within noise'), changes.join());
  t.regex((await page.textContent('#compare-table tbody tr[data-metric="requestsPerSecond"] td:nth-child(2)'))!, /^\d[\d,]* req\/s$/);

  // Back to a form: the last job is shown again.
  await page.click('#tab-quick');
  t.true(await page.isVisible('#load-job'));
  t.deepEqual(problems, []);
});

test('GET / and /dashboard/{file}: types, ETags, a fixed list of files, nothing else', async (t) => {
  const app = await startApp(t, redis.url);
  const http = got.extend({ prefixUrl: app.url, throwHttpErrors: false, retry: { limit: 0 } });
  const index = await http.get('');
  t.is(index.statusCode, 200);
  t.is(index.headers['content-type'], 'text/html; charset=utf-8');
  t.regex(String(index.headers['content-security-policy']), /default-src 'none'.*connect-src 'self'/);
  t.regex(index.body, /<title>hitcounter/);
  t.is((await http.get('', { headers: { 'If-None-Match': index.headers.etag! } })).statusCode, 304);

  const require = createRequire(import.meta.url);
  const uplot = await http.get('dashboard/uPlot.iife.min.js');
  t.is(uplot.headers['content-type'], 'text/javascript; charset=utf-8');
  t.is(uplot.body, readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'));
  t.is((await http.get('dashboard/uPlot.min.css')).headers['content-type'], 'text/css; charset=utf-8');
  t.is((await http.get('dashboard/style.css')).headers['content-type'], 'text/css; charset=utf-8');
  const script = await http.get('dashboard/app.js');
  t.is(script.headers['content-type'], 'text/javascript; charset=utf-8');
  t.is(script.headers['cache-control'], 'no-cache');
  t.is((await http.get('dashboard/app.js', { headers: { 'If-None-Match': script.headers.etag! } })).statusCode, 304, 'revalidated by its ETag');

  // Every module the page imports, and every module they import, is on the list.
  const seen = new Set(['app.js']);
  for (const name of seen) {
    const module = await http.get(`dashboard/${name}`);
    t.is(module.statusCode, 200, name);
    for (const [, imported] of module.body.matchAll(/from '\.\/([\w.-]+)'/g)) seen.add(imported!);
  }
  // …and the page uses every module there is: none is dead, none is missing from the walk.
  const modules = readdirSync(new URL('../src/dashboard/', import.meta.url)).filter((name) => name.endsWith('.js'));
  t.deepEqual([...seen].sort(), modules.sort());

  for (const path of ['dashboard/index.html', 'dashboard/nope.js', 'dashboard/..%2Fapp.ts', 'dashboard/%2e%2e%2f%2e%2e%2fpackage.json', 'dashboard/', 'dashboard/constructor']) {
    const response = await http.get(path, { responseType: 'json' });
    t.is(response.statusCode, 404, path);
    t.true(typeof (response.body as { error?: unknown }).error === 'string', path);
  }
});
