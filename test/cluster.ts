// The product on a real Redis Cluster (3 masters, 3 replicas; test/helpers/cluster.ts) through
// ioredis's Cluster client: every key one operation touches must hash to one slot, or Redis
// answers CROSSSLOT. Proven twice: by asking Redis for the slot of every key name keys.ts builds,
// and by running every route that writes or reads several keys at once against the cluster.
import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import calculateSlot from 'cluster-key-slot';
import got from 'got';
import { Cluster } from 'ioredis';
import { bucketsAt } from '../src/analytics/buckets.js';
import type { LoadReport } from '../src/loadgen/merge.js';
import { globalKeys, shardKeys } from '../src/redis/keys.js';
import { clusterSettings, startCluster, startClusterApp, type TestCluster } from './helpers/cluster.js';
import { eventually } from './helpers/eventually.js';
import { assertReportAddsUp } from './helpers/outcomes.js';
import { spawnServer } from './helpers/process.js';
import { assertMatchesSingleSet } from './helpers/reference.js';

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
    const keys = shardKeys({ prefix, hits: 'hits' }, 1)[0]!;
    const global = globalKeys(prefix);
    const now = Date.UTC(2026, 10, 24, 8, 1, 2);
    const { minute, hour, day } = bucketsAt(now);
    const ranking = [
      keys.hits, keys.bucket(minute), keys.bucket(hour), keys.bucket(day), keys.visitors('2026-11-24', '/api/a b/ü'),
      keys.events, keys.window(now - 3_600_000, now), keys.second(Math.floor(now / 1000)), keys.hitSeq(randomUUID()), keys.hitRetracted(randomUUID()),
    ];
    const jobs = [global.jobs, global.runningJobs, global.job('j1'), global.jobCancel('j1')];
    for (const family of [ranking, jobs]) {
      const slots = new Set(await Promise.all(family.map((key) => node.cluster('KEYSLOT', key))));
      t.is(slots.size, 1, `${prefix || '(no prefix)'}: ${family.join(', ')}`);
    }
  }
});

// Replicated: WAIT returns as soon as a replica confirms, so a long timeout costs nothing on an
// idle machine, while 200 ms let a busy one answer 503 (seen under load): these tests are about
// what is acknowledged, not how fast (the failover tests keep the short one).
const clusterApp = (t: ExecutionContext, shards: number, durability: 'local' | 'replicated' = 'local') =>
  startClusterApp(t, clusterSettings(cluster, { shards, durability, replicationTimeoutMs: 30_000 }));
test('hits, rankings, windows, visitors, events and load-test jobs run on Redis Cluster without CROSSSLOT', async (t) => {
  t.timeout(300_000);
  const { http, redis } = await clusterApp(t, 1);
  t.true(redis.isCluster);

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
  const ranking = stats.body as unknown as Array<{ path: string; hits: number }>;
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
  assertReportAddsUp(t, job.body as unknown as LoadReport);
  const jobs = await http.get('test/jobs');
  t.is(jobs.statusCode, 200, JSON.stringify(jobs.body));
  const total = (await http.get('stats')).body as unknown as Array<{ hits: number }>;
  t.is(total.reduce((sum, row) => sum + row.hits, 0), 260);

  const reset = await http.delete('stats');
  t.is(reset.statusCode, 200, JSON.stringify(reset.body));
  t.deepEqual((await http.get('stats')).body, []);
});

test('3 shards live on the 3 masters, and /stats over them equals one sorted set of the same counts', async (t) => {
  t.timeout(300_000);
  const { http, redis, settings } = await clusterApp(t, 3);
  const client = redis.client as unknown as Cluster;
  const shards = shardKeys({ prefix: settings.redis.keyPrefix, hits: settings.redis.key }, 3);
  const masters = new Set(shards.map((keys) => client.slots[calculateSlot(keys.hits)]![0]));
  t.is(masters.size, 3, `shard rankings on ${[...masters].join(', ')}`);

  const counts = new Map<string, number>();
  for (let i = 0; i < 30; i++) counts.set(`/api/s${i}`, 1 + (i % 4));
  for (const [path, hits] of counts) {
    for (let n = 0; n < hits; n++) t.is((await http.get(path.slice(1))).statusCode, 200);
  }
  await assertMatchesSingleSet(t, http, redis.client, counts);
  await assertMatchesSingleSet(t, http, redis.client, counts, '?window=1h');
  t.is((await http.delete('stats')).statusCode, 200);
});

test('two server processes on REDIS_CLUSTER_NODES share the ranking, and a job started on one is read and cancelled from the other', async (t) => {
  t.timeout(300_000);
  const env = {
    REDIS_CLUSTER_NODES: cluster.nodes.map(({ host, port }) => `${host}:${port}`).join(','),
    REDIS_SHARDS: '3',
    REDIS_KEY_PREFIX: `test:${randomUUID()}:`,
    // The default rate limits stay on: their counters live in the cluster too.
  };
  const servers = [spawnServer(env), spawnServer(env)];
  t.teardown(() => { for (const server of servers) server.child.kill('SIGKILL'); });
  await Promise.all(servers.map((server) => server.waitFor(/hitcounter is listening/)));
  const [one, two] = servers.map((server) => got.extend({ prefixUrl: server.url(), throwHttpErrors: false, retry: { limit: 0 }, timeout: { request: 30_000 }, responseType: 'json' }));
  t.false(/embedded|redis-server/.test(servers[0]!.output()), 'no embedded Redis with cluster nodes set');

  for (let i = 0; i < 30; i++) t.is((await (i % 2 ? one! : two!).get(`api/replicas/${i % 6}`)).statusCode, 200);
  const fromOne = (await one!.get('stats')).body;
  t.deepEqual((await two!.get('stats')).body, fromOne, 'both replicas read the same ranking');
  t.is((fromOne as Array<{ hits: number }>).reduce((sum, row) => sum + row.hits, 0), 30);

  const started = await one!.post('test/1000000?async=1&concurrency=5&rate=200');
  t.is(started.statusCode, 202, JSON.stringify(started.body));
  const { id } = started.body as { id: string };
  const seen = await two!.get(`test/jobs/${id}`);
  t.is(seen.statusCode, 200, JSON.stringify(seen.body));
  t.like(seen.body, { id });
  const cancelled = await two!.delete(`test/jobs/${id}`);
  t.is(cancelled.statusCode, 202, 'the other replica does not run the job: it asks the first to cancel it');
  // The first picks the cancel up at its next progress tick. (Every 100 ms: the polls are reads,
  // within the read rate limit.)
  await eventually(async () => ((await two!.get(`test/jobs/${id}`)).body as { status: string }).status === 'cancelled', { intervalMs: 100, what: 'the job to be cancelled' });
  // One read budget for both, counted in the cluster: a read on one is one fewer on the other
  // (unless the 60 s window rolled over between the two reads, and the second began a new one;
  // the second replica read several times already, so a budget of its own would show fewer).
  const remaining = async (client: typeof one) => Number((await client!.get('stats')).headers['ratelimit-remaining']);
  const onOne = await remaining(one);
  const onTwo = await remaining(two);
  t.true(onTwo === onOne - 1 || onTwo === 1199, `${onOne} reads left on one, then ${onTwo} on two`);
  t.is((await one!.delete('stats')).statusCode, 200);
  for (const server of servers) server.child.kill('SIGTERM');
  t.deepEqual(await Promise.all(servers.map((server) => server.exited)), [0, 0], 'both stop cleanly');
});

test('replicated durability on the cluster: every hit is acknowledged once a replica has it, and counted once', async (t) => {
  t.timeout(300_000);
  const { http } = await clusterApp(t, 3, 'replicated');
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => http.get(`api/replicated/${i % 10}`)));
  t.deepEqual([...new Set(answers.map((answer) => answer.statusCode))], [200]);
  const rows = (await http.get("stats")).body as unknown as Array<{ hits: number }>;
  t.is(rows.reduce((sum, row) => sum + row.hits, 0), 50);
  t.is((await http.delete('stats')).statusCode, 200);
});
