// Cached window unions are bounded (issue 13): each distinct ?from=&to= costs Redis a copy of the
// ranking, so a global budget (analytics.maxCachedWindows) caps how many exist at once; past it a
// new distinct window gets 503 with Retry-After. Real Redis, injected clock for the buckets.
import test from 'ava';
import pLimit from 'p-limit';
import { WINDOW_READ_GRACE_MS } from '../src/hits/store.js';
import { startApp, type TestApp } from './helpers/app.js';
import { ManualClock } from './helpers/clock.js';
import { eventually } from './helpers/eventually.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);
const PATHS = 3000;

type Row = { path: string; hits: number };
const iso = (time: number) => new Date(time).toISOString();
const unions = (app: TestApp) => app.redis.client.keys(`${app.keys.prefix}hitcounter:*:window:*`);

/** PATHS paths with one hit each, path i in minute i % 60 of the hour before T0; returns each path's minute. */
async function seed(app: TestApp, clock: ManualClock): Promise<Map<string, number>> {
  const minuteOf = new Map<string, number>();
  const limit = pLimit(50);
  for (let m = 0; m < 60; m++) {
    clock.time = T0 - HOUR + m * MINUTE;
    const paths = Array.from({ length: PATHS / 60 }, (_, k) => `/api/w/${m + 60 * k}`);
    const statuses = await Promise.all(paths.map((path) => limit(async () => (await app.http.get(path.slice(1))).statusCode)));
    if (statuses.some((status) => status !== 200)) throw new Error(`seeding: ${statuses.filter((s) => s !== 200).join(',')}`);
    for (const path of paths) minuteOf.set(path, clock.time);
  }
  clock.time = T0 + 30_000;
  return minuteOf;
}

const expected = (minuteOf: Map<string, number>, from: number, to: number): Row[] =>
  [...minuteOf].filter(([, minute]) => minute >= from && minute < to).map(([path]) => ({ path, hits: 1 })).sort((a, b) => a.path.localeCompare(b.path));

test('a flood of distinct windows never caches more unions than analytics.maxCachedWindows; each answer is the right ranking or a 503 with Retry-After', async (t) => {
  t.timeout(300_000);
  const clock = new ManualClock(T0);
  // Registrations that outlive any run of this test: exactly the budget's worth are admitted.
  const app = await startApp(t, { deps: { clock }, tweak: (s) => { s.analytics.windowCacheSeconds = 3600; } });
  const budget = app.settings.analytics.maxCachedWindows;
  t.is(budget, 16, 'the default budget');
  const minuteOf = await seed(app, clock);

  const windows = Array.from({ length: 100 }, (_, j) => {
    const from = T0 - HOUR + (j % 60) * MINUTE;
    return { from, to: from + (5 + 7 * Math.floor(j / 60)) * MINUTE };
  });
  t.is(new Set(windows.map(({ from, to }) => `${from}:${to}`)).size, 100, '100 distinct windows');

  let flooding = true;
  let most = 0;
  const sampler = (async () => {
    while (flooding) most = Math.max(most, (await unions(app)).length);
  })();
  const limit = pLimit(20);
  const answers = await Promise.all(windows.map(({ from, to }) => limit(async () => ({
    from, to, response: await app.http.get<Row[] | { error: string }>('stats', { searchParams: { from: iso(from), to: iso(to) } }),
  }))));
  flooding = false;
  await sampler;

  let ok = 0;
  let refused = 0;
  const admitted: Array<{ from: number; to: number }> = [];
  for (const { from, to, response } of answers) {
    if (response.statusCode === 200) {
      ok++;
      admitted.push({ from, to });
      const rows = expected(minuteOf, from, to);
      t.deepEqual([...(response.body as Row[])].sort((a, b) => a.path.localeCompare(b.path)), rows, `${iso(from)}..${iso(to)}`);
      t.is(response.headers['x-total-count'], String(rows.length));
    } else if (response.statusCode === 503) {
      refused++;
      t.true(Number(response.headers['retry-after']) >= 1, `Retry-After ${response.headers['retry-after']}`);
      t.regex((response.body as { error: string }).error, /maxCachedWindows = 16/);
    } else {
      t.fail(`unexpected ${response.statusCode}: ${JSON.stringify(response.body)}`);
    }
  }
  t.is(ok, budget, 'as many distinct windows admitted as the budget');
  t.is(refused, 100 - budget, 'every other one refused');
  t.true(most <= budget, `at most ${budget} unions at any sampled moment (saw ${most})`);
  t.is((await unions(app)).length, budget, 'and after the flood');

  // An admitted window is shared: asked again, it costs nothing new and is answered.
  const again = admitted[0]!;
  const shared = await app.http.get<Row[]>('stats', { searchParams: { from: iso(again.from), to: iso(again.to) } });
  t.is(shared.statusCode, 200);
  t.is(shared.body.length, expected(minuteOf, again.from, again.to).length);
  // Named windows are bounded by construction and not refused while the custom budget is spent.
  const hour = await app.http.get<Row[]>('stats?window=1h');
  t.is(hour.statusCode, 200);
  t.is(hour.body.length, expected(minuteOf, T0 + MINUTE - HOUR, T0 + MINUTE).length);
  t.is((await unions(app)).length, budget + 1, 'the budget\'s unions and the named window\'s');

  // The ranking itself is intact.
  t.is(await app.totalHits(), PATHS);
  t.is(await app.store.distinctPaths(), PATHS);
});

test('once a registration ends, a new distinct window is admitted again', async (t) => {
  const clock = new ManualClock(T0 + 30_000);
  const app = await startApp(t, { deps: { clock }, tweak: (s) => { s.analytics.windowCacheSeconds = 1; s.analytics.maxCachedWindows = 1; } });
  t.is((await app.http.get(`api/one`)).statusCode, 200);
  const window = (from: number) => app.http.get<Row[] | { error: string }>('stats', { searchParams: { from: iso(from), to: iso(T0 + MINUTE) } });
  const first = await window(T0 - 10 * MINUTE);
  t.is(first.statusCode, 200);
  t.deepEqual(first.body, [{ path: '/api/one', hits: 1 }]);
  const second = await window(T0 - 20 * MINUTE);
  t.is(second.statusCode, 503, JSON.stringify(second.body));
  // The registration lasts windowCacheSeconds (1) and the read grace, on Redis's clock.
  const retryAfter = Number(second.headers['retry-after']);
  t.true(retryAfter >= 1 && retryAfter <= 1 + WINDOW_READ_GRACE_MS / 1000, `Retry-After: ${retryAfter}`);
  // The registration's end, brought forward to now rather than waited for (the registration and
  // the union it admitted end together, on Redis's clock): then the second is admitted.
  const [id] = await app.redis.client.zrange(app.keys.windowBudget, 0, 0);
  t.truthy(id, 'the first window is registered');
  const [seconds] = await app.redis.client.time();
  await app.redis.client.zadd(app.keys.windowBudget, Number(seconds) * 1000, id!);
  for (const union of await unions(app)) await app.redis.client.pexpireat(union, Number(seconds) * 1000);
  const admitted = await eventually(async () => {
    const response = await window(T0 - 20 * MINUTE);
    return response.statusCode === 200 ? response : undefined;
  }, { what: 'the second window to be admitted' });
  t.deepEqual(admitted.body, [{ path: '/api/one', hits: 1 }]);
  t.true((await unions(app)).length <= 1);
});
