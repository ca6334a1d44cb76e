import test from 'ava';
import { startApp, type TestApp, withApp } from './helpers/app.js';
import { seedRanking } from './helpers/redis.js';

type Row = { path: string; hits: number };

/** What redis-cli ZREVRANGE <key> 0 -1 WITHSCORES shows, as rows. */
async function zrevrange(app: TestApp): Promise<Row[]> {
  const flat = await app.redis.client.zrevrange(app.shard.hits, 0, -1, 'WITHSCORES');
  const rows: Row[] = [];
  for (let i = 0; i < flat.length; i += 2) rows.push({ path: flat[i]!, hits: Number(flat[i + 1]) });
  return rows;
}

async function seed(app: TestApp, counts: Record<string, number>): Promise<void> {
  for (const [path, hits] of Object.entries(counts)) await app.redis.client.zadd(app.shard.hits, hits, path);
}

test('GET /stats lists every path in ZREVRANGE order, with hits as numbers', withApp, async (t, app) => {
  for (const path of ['a', 'b', 'b', 'c', 'c', 'c', 'd', 'd']) await app.http.get(`api/${path}`);
  const response = await app.http.get<Row[]>('stats');
  t.is(response.statusCode, 200);
  t.deepEqual(response.body, [
    { path: '/api/c', hits: 3 },
    { path: '/api/d', hits: 2 },
    { path: '/api/b', hits: 2 },
    { path: '/api/a', hits: 1 },
  ]);
  t.deepEqual(response.body, await zrevrange(app));
  t.is(response.headers['x-total-count'], '4');
});

test('an empty ranking is an empty array', withApp, async (t, app) => {
  const response = await app.http.get('stats');
  t.is(response.statusCode, 200);
  t.deepEqual(response.body, []);
  t.is(response.headers['x-total-count'], '0');
});

test('limit and offset page through the ranking; X-Total-Count stays the total', withApp, async (t, app) => {
  await seed(app, { '/api/a': 5, '/api/b': 4, '/api/c': 3, '/api/d': 2, '/api/e': 1 });
  const page = await app.http.get('stats?limit=2&offset=1');
  t.deepEqual(page.body, [{ path: '/api/b', hits: 4 }, { path: '/api/c', hits: 3 }]);
  t.is(page.headers['x-total-count'], '5');
  t.is(page.headers.link, '</stats?limit=2&offset=3>; rel="next"');
  t.is(page.headers['cache-control'], 'no-store');
  t.truthy(page.headers['content-length'], 'a short page is answered as one string, not streamed');
  t.is((await app.http.get('stats?limit=2&offset=3')).headers.link, undefined, 'the last page');
  t.deepEqual((await app.http.get('stats?limit=2')).body, [{ path: '/api/a', hits: 5 }, { path: '/api/b', hits: 4 }]);
  t.deepEqual((await app.http.get('stats?offset=4')).body, [{ path: '/api/e', hits: 1 }]);
  t.deepEqual((await app.http.get('stats?offset=99')).body, []);
});

test('paths with quotes, backslashes and unicode survive the JSON encoding', withApp, async (t, app) => {
  await seed(app, { '/api/"quoted"': 3, '/api/back\\slash': 2, '/api/日本': 1 });
  t.deepEqual((await app.http.get('stats')).body, await zrevrange(app));
});

test('a ranking longer than a page is streamed page by page and equals ZREVRANGE', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.redis.statsPageSize = 7; } });
  const pipeline = app.redis.client.pipeline();
  for (let i = 0; i < 100; i++) pipeline.zadd(app.shard.hits, (i * 37) % 11, `/api/p${i}`);
  await pipeline.exec();
  const all = await app.http.get<Row[]>('stats');
  t.is(all.headers['content-length'], undefined, 'streamed, not buffered');
  t.deepEqual(all.body, await zrevrange(app));
  const window = await app.http.get<Row[]>('stats?offset=5&limit=30');
  t.is(window.headers['content-length'], undefined, 'longer than a page: streamed');
  t.deepEqual(window.body, (await zrevrange(app)).slice(5, 35));
  const short = await app.http.get<Row[]>('stats?offset=5&limit=7');
  t.truthy(short.headers['content-length'], 'a page of statsPageSize rows: one string');
  t.deepEqual(short.body, (await zrevrange(app)).slice(5, 12));
});

const badParams: Array<[query: string, error: string]> = [
  ['limit=0', 'Expected `limit` to be an integer of at least 1'],
  ['limit=-1', 'Expected `limit` to be an integer of at least 1'],
  ['limit=abc', 'Expected `limit` to be an integer of at least 1'],
  ['limit=1.5', 'Expected `limit` to be an integer of at least 1'],
  ['limit=', 'Expected `limit` to be an integer of at least 1'],
  ['offset=-3', 'Expected `offset` to be a non-negative integer'],
  ['offset=1e3', 'Expected `offset` to be a non-negative integer'],
  ['limit=1&limit=2', 'Expected `limit` only once'],
  ['lmit=5', 'Unknown parameter `lmit`; expected one of: limit, offset, window, from, to, prefix, uniques, format, bots'],
];

for (const [query, error] of badParams) {
  test(`GET /stats?${query} is a 400`, async (t) => {
    const app = await startApp(t);
    const response = await app.http.get(`stats?${query}`);
    t.is(response.statusCode, 400);
    t.deepEqual(response.body, { error });
  });
}

test('300,000 distinct paths stream in full, in order across 300 pages of Redis reads', async (t) => {
  t.timeout(300_000);
  const app = await startApp(t);
  // 300 pages of redis.statsPageSize: every page boundary a million would cross, at a third of
  // the cost. A million is the benchmark's (`npm run bench`, /stats with 1,000,000 paths) and the
  // CSV export's (test/analytics.ts) size.
  t.is(app.settings.redis.statsPageSize, 1000);
  const total = 300_000;
  // Loaded inside Redis, not through HTTP.
  await seedRanking(app.redis.client, app.shard.hits, total, '/api/p', 1000);
  const response = await app.http.get('stats', { responseType: 'text' });
  t.is(response.statusCode, 200);
  t.is(response.headers['x-total-count'], String(total));
  const rows = JSON.parse(response.body) as Row[];
  t.is(rows.length, total);
  t.deepEqual(rows[0], { path: '/api/p99999', hits: 999 }); // ties: ZREVRANGE orders members from the last
  t.deepEqual(rows.at(-1), { path: '/api/p0', hits: 0 });
  for (let i = 1; i < rows.length; i++) {
    if (rows[i]!.hits > rows[i - 1]!.hits) t.fail(`row ${i} is out of order`);
  }
});

test('a path with a literal % is looked up by its once-encoded form, in path= and prefix=', withApp, async (t, app) => {
  // Counted as /api/100% and /api/a%25b: the request target is decoded once.
  t.is((await app.http.get('api/100%25')).statusCode, 200);
  t.is((await app.http.get('api/a%2525b')).statusCode, 200);
  t.is((await app.http.get('api/what%3Fnot')).statusCode, 200);
  t.deepEqual((await zrevrange(app)).map((row) => row.path).sort(), ['/api/100%', '/api/a%25b', '/api/what?not']);

  // A query parameter is decoded once too, by the URL parser, and then compared as it is.
  for (const [query, stored] of [['path=/api/100%25', '/api/100%'], ['path=/api/a%2525b', '/api/a%25b'], ['path=/api/what%3Fnot', '/api/what?not']] as const) {
    const response = await app.http.get<{ path: string; hits: number }>(`stats/path?${query}`);
    t.is(response.statusCode, 200, query);
    t.is(response.body.path, stored);
    t.is(response.body.hits, 1);
  }
  t.deepEqual((await app.http.get('stats?prefix=/api/100%25')).body, [{ path: '/api/100%', hits: 1 }]);
  t.deepEqual((await app.http.get('stats?prefix=/api/a%2525b')).body, [{ path: '/api/a%25b', hits: 1 }]);
  // Not decoded a second time: %25b does not name the path a%b, which was never counted.
  t.is((await app.http.get('stats/path?path=/api/a%25b')).statusCode, 404);
});
