// The product on a real Redis Cluster (3 masters, 3 replicas; test/helpers/cluster.ts) through
// ioredis's Cluster client: every key one operation touches must hash to one slot, or Redis
// answers CROSSSLOT. Proven twice: by asking Redis for the slot of every key name keys.ts builds,
// and by running every route that writes or reads several keys at once against the cluster.
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import test from 'ava';
import got from 'got';
import { Cluster, type Redis } from 'ioredis';
import { pino } from 'pino';
import { createApp } from '../src/app.js';
import { bucketsAt } from '../src/analytics/buckets.js';
import { createHttpServer } from '../src/http.js';
import type { RedisConnection } from '../src/redis/connection.js';
import { createKeys } from '../src/redis/keys.js';
import { parseSettings } from '../src/settings.js';
import { defaultSettingsJson } from './helpers/app.js';
import { startCluster, type TestCluster } from './helpers/cluster.js';

let cluster: TestCluster;
test.before(async () => { cluster = await startCluster(); });
test.after.always(async () => { await cluster?.stop(); });

const connect = async (t: { teardown(fn: () => void): void }) => {
  const client = new Cluster(cluster.nodes);
  t.teardown(() => client.disconnect());
  await client.ping();
  return client;
};

test('every key of one ranking, and every key of the jobs, hashes to one slot', async (t) => {
  const client = await connect(t);
  const node = client.nodes('master')[0]!;
  for (const prefix of ['', 'site-a:']) {
    const keys = createKeys({ prefix, hits: 'hits' });
    const now = Date.UTC(2026, 10, 24, 8, 1, 2);
    const { minute, hour, day } = bucketsAt(now);
    const ranking = [
      keys.hits, keys.bucket(minute), keys.bucket(hour), keys.bucket(day), keys.visitors('2026-11-24', '/api/a b/ü'),
      keys.events, keys.window(now - 3_600_000, now), keys.second(Math.floor(now / 1000)), keys.hitSeq(randomUUID()), keys.hitRetracted(randomUUID()),
    ];
    const jobs = [keys.jobs, keys.runningJobs, keys.job('j1'), keys.jobCancel('j1')];
    for (const family of [ranking, jobs]) {
      const slots = new Set(await Promise.all(family.map((key) => node.cluster('KEYSLOT', key))));
      t.is(slots.size, 1, `${prefix || '(no prefix)'}: ${family.join(', ')}`);
    }
  }
});

test('hits, rankings, windows, visitors, events and load-test jobs run on Redis Cluster without CROSSSLOT', async (t) => {
  t.timeout(120_000);
  const client = await connect(t);
  const json = defaultSettingsJson();
  json.server.host = '127.0.0.1';
  json.redis.keyPrefix = `test:${randomUUID()}:`;
  json.rateLimits = { api: [], read: [], write: [] };
  const settings = parseSettings(json);
  // The app borrows the client; this test owns it (ioredis's Cluster has Redis's command API).
  const redis = { client: client as unknown as Redis, status: 'ready', closing: false, connect: async () => {}, close: async () => {} } as unknown as RedisConnection;
  const app = createApp({ settings, redis, logger: pino({ level: 'silent' }) });
  const server = createHttpServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    await app.stopJobs();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const http = got.extend({ prefixUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, throwHttpErrors: false, retry: { limit: 0 }, responseType: 'json' });

  const paths = ['/api/a', '/api/b', '/api/c'];
  const expected = new Map<string, number>();
  await Promise.all(Array.from({ length: 60 }, async (_, i) => {
    const path = paths[i % 7 === 0 ? 0 : i % 3]!;
    const response = await http.get(path.slice(1), { headers: { 'user-agent': `agent ${i % 5}` } });
    t.is(response.statusCode, 200, JSON.stringify(response.body));
    expected.set(path, (expected.get(path) ?? 0) + 1);
  }));

  const stats = await http.get('stats');
  t.is(stats.statusCode, 200, JSON.stringify(stats.body));
  const ranking = stats.body as Array<{ path: string; hits: number }>;
  t.deepEqual(Object.fromEntries(ranking.map((row) => [row.path, row.hits])), Object.fromEntries(expected));
  const windowed = await http.get('stats?window=1h');
  t.is(windowed.statusCode, 200, JSON.stringify(windowed.body));
  t.deepEqual(windowed.body, ranking, 'the last hour (ZUNIONSTORE of buckets) equals all time here');
  const detail = await http.get('stats/path', { searchParams: { path: '/api/a' } });
  t.is(detail.statusCode, 200, JSON.stringify(detail.body));
  t.like(detail.body, { path: '/api/a', hits: expected.get('/api/a') });
  const events = await http.get('events?limit=5');
  t.is(events.statusCode, 200, JSON.stringify(events.body));

  const job = await http.post('test/200?concurrency=10&paths=20&seed=1');
  t.is(job.statusCode, 200, JSON.stringify(job.body));
  t.like(job.body, { succeeded: 200, failed: 0 });
  const jobs = await http.get('test/jobs');
  t.is(jobs.statusCode, 200, JSON.stringify(jobs.body));
  const total = (await http.get('stats')).body as Array<{ hits: number }>;
  t.is(total.reduce((sum, row) => sum + row.hits, 0), 260);

  const reset = await http.delete('stats');
  t.is(reset.statusCode, 200, JSON.stringify(reset.body));
  t.deepEqual((await http.get('stats')).body, []);
});
