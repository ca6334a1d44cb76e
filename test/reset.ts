// DELETE /stats under load and alongside load-test jobs (issue 13): the reset leaves the ranking,
// its buckets and the event stream in step, and it leaves the job system (records and leases) alone.
import test from 'ava';
import { bucketsAt } from '../src/analytics/buckets.js';
import { resetCounts } from '../src/hits/reset.js';
import type { Job } from '../src/loadgen/jobs.js';
import { botsRanking, globalKeys, shardKeys } from '../src/redis/keys.js';
import { loadScripts } from '../src/redis/scripts.js';
import { prefixedRedis, startApp } from './helpers/app.js';
import { ManualClock } from './helpers/clock.js';
import { eventually } from './helpers/eventually.js';
import { startLoad } from './helpers/load.js';
import { settled } from './helpers/outcomes.js';
import { sumOfScores } from './helpers/redis.js';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 30);

test('a reset during load leaves the ranking, the minute, hour and day buckets and the event stream holding the same hits', async (t) => {
  t.timeout(300_000);
  // Frozen time: every hit falls in the same minute, hour and day bucket.
  const clock = new ManualClock(T0);
  const app = await startApp(t, { deps: { clock } });
  const redis = app.redis.client;
  // What a live deployment has besides the counts: a visitors HyperLogLog per path and day, many
  // thousands of them, for the reset to go through.
  const pipeline = redis.pipeline();
  for (let i = 0; i < 30_000; i++) pipeline.pfadd(app.shard.visitors(`2026-11-${10 + (i % 10)}`, `/api/old/${i}`), 'v');
  await pipeline.exec();

  const load = startLoad(app.url, { concurrency: 20, prefix: 'reset', spread: 50 });
  await eventually(() => load.outcomes.ok() >= 200, { what: '200 hits before the reset' });
  const beforeReset = load.outcomes.ok();
  const reset = await app.http.delete<{ deletedKeys: number }>('stats');
  t.is(reset.statusCode, 200, JSON.stringify(reset.body));
  const afterReset = load.outcomes.ok();
  await eventually(() => load.outcomes.ok() >= afterReset + 300, { what: '300 hits after the reset' });
  const outcomes = await load.stop();
  await settled(app);
  // Every request was answered 200.
  t.deepEqual([...outcomes.statuses.keys()], [200], `statuses ${JSON.stringify([...outcomes.statuses])}`);
  t.is(outcomes.errors.size, 0, `errors ${JSON.stringify([...outcomes.errors])}`);

  const { minute, hour, day } = bucketsAt(T0);
  const ranking = await sumOfScores(redis, app.shard.hits);
  const families = {
    ranking,
    minute: await sumOfScores(redis, app.shard.bucket(minute)),
    hour: await sumOfScores(redis, app.shard.bucket(hour)),
    day: await sumOfScores(redis, app.shard.bucket(day)),
    events: await redis.xlen(app.shard.events),
  };
  t.log(`answered 200: ${outcomes.ok()} (${beforeReset} before the reset was sent); ${JSON.stringify(families)}`);
  t.deepEqual(families, { ranking, minute: ranking, hour: ranking, day: ranking, events: ranking }, 'every family holds the same hits');
  t.true(ranking > 0 && ranking <= outcomes.ok() - beforeReset, `the hits after the reset: ${ranking}`);
  t.is((await redis.keys(`${app.keys.prefix}hitcounter:*:visitors:2026-11-1*`)).length, 0, 'the old visitors are gone');
});

test('a reset leaves running jobs and their leases alone: maxRunningJobs still holds and both jobs stay listed', async (t) => {
  t.timeout(300_000);
  const app = await startApp(t, { tweak: (s) => { s.loadtest.progressIntervalMs = 100; } });
  t.is(app.settings.loadtest.maxRunningJobs, 2);
  const paced = 'test/1000000?async=1&rate=200&concurrency=2';
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) {
    const started = await app.http.post<Job>(paced);
    t.is(started.statusCode, 202, JSON.stringify(started.body));
    ids.push(started.body.id);
  }
  t.teardown(async () => { for (const id of ids) await app.http.delete(`test/jobs/${id}`); });
  const running = async () => (await app.http.get<Job[]>('test/jobs')).body.filter((job) => job.status === 'running').map((job) => job.id).sort();
  await eventually(async () => (await running()).length === 2, { intervalMs: 100, what: 'both jobs running' });

  t.is((await app.http.delete('stats')).statusCode, 200);

  const third = await app.http.post('test/1000000?async=1&rate=200&concurrency=2');
  t.is(third.statusCode, 429, `${JSON.stringify(third.body)}; leases ${JSON.stringify(await app.redis.client.zrange(app.keys.runningJobs, 0, -1, 'WITHSCORES'))}; now ${Date.now()}`);
  if (third.statusCode === 202) ids.push((third.body as unknown as Job).id);
  t.deepEqual(await running(), [...ids.slice(0, 2)].sort(), 'both jobs still listed as running');
  for (const id of ids.splice(0)) t.true([200, 202].includes((await app.http.delete(`test/jobs/${id}`)).statusCode));
});

test('resetCounts on its own: one atomic step per shard with its family, its own sequence keys and the present\'s buckets; salts, jobs, the window budget and skipped keys stay', async (t) => {
  const { redis, prefix } = await prefixedRedis(t);
  const shards = shardKeys({ prefix, hits: 'hits' }, 2);
  const other = shardKeys({ prefix, hits: botsRanking('hits') }, 1)[0]!;
  const keys = globalKeys(prefix);
  const { minute } = bucketsAt(T0);
  const kept = [keys.salt('2026-11-20'), keys.job('j1'), keys.windowBudget, other.hits, other.bucket(minute)];
  const erased = [...shards.flatMap((shard) => [shard.hits, shard.events, shard.bucket(minute), shard.second(Math.floor(T0 / 1000)), shard.hitSeq('mine')]), `${keys.rateLimit('read', 60)}:1.2.3.4`];
  for (const key of [...kept, ...erased]) await redis.set(key, '1');
  const scripts = loadScripts(redis);
  const calls: number[] = [];
  // Counts the atomic steps: one per shard.
  const counting = { ...scripts, resetShard: (doomed: readonly string[]) => { calls.push(doomed.length); return scripts.resetShard(doomed); } };
  const deleted = await resetCounts({
    redis, keys, shards, scripts: counting, clock: new ManualClock(T0), lateMs: 0,
    seqKeys: shards.map((shard) => [shard.hitSeq('mine')]), resetSkips: (key) => other.inFamily(key),
  });
  t.is(deleted, erased.length);
  t.is(calls.length, 2, 'one reset-shard.lua call per shard');
  t.deepEqual((await redis.keys(`${prefix}*`)).sort(), [...kept].sort());
});
