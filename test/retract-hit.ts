// retract-hit.lua on a real Redis: a hit answered 503 whose command Redis applied anyway is taken
// back once, everywhere it counted; one that Redis applied without counting it (its path refused
// at api.maxPaths) or whose path was erased since (DELETE /stats) takes nothing back.
import test from 'ava';
import { bucketsAt } from '../src/analytics/buckets.js';
import { retractHitArgs } from '../src/redis/script-args.js';
import { loadScripts } from '../src/redis/scripts.js';
import { withApp, type TestApp } from './helpers/app.js';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 30);
const SECOND = Math.floor(T0 / 1000);
const LEDGER_MS = 60_000;

function retract(app: TestApp, path: string, seq: number): Promise<number> {
  const { minute, hour, day } = bucketsAt(T0);
  const keys = app.shard;
  return loadScripts(app.redis.client).retractHit(retractHitArgs({
    keys: { hits: keys.hits, retracted: keys.hitRetracted('epoch'), minute: keys.bucket(minute), hour: keys.bucket(hour), day: keys.bucket(day), second: keys.second(SECOND) },
    path, seq, retractedTtlMs: LEDGER_MS, inBuckets: true,
  }));
}

/** A path counted `hits` times at T0, in the ranking, its buckets and the second's counter. */
async function counted(app: TestApp, path: string, hits: number): Promise<void> {
  const { minute, hour, day } = bucketsAt(T0);
  const keys = app.shard;
  const redis = app.redis.client;
  for (const key of [keys.hits, keys.bucket(minute), keys.bucket(hour), keys.bucket(day)]) await redis.zincrby(key, hits, path);
  await redis.incrby(keys.second(SECOND), hits);
}

async function state(app: TestApp, path: string) {
  const { minute, hour, day } = bucketsAt(T0);
  const keys = app.shard;
  const redis = app.redis.client;
  return {
    ranking: await redis.zscore(keys.hits, path),
    buckets: [await redis.zscore(keys.bucket(minute), path), await redis.zscore(keys.bucket(hour), path), await redis.zscore(keys.bucket(day), path)],
    second: await redis.get(keys.second(SECOND)),
  };
}

test('a counted hit is taken back once: from the ranking, its buckets and its second, and a retry takes back nothing more', withApp, async (t, app) => {
  await counted(app, '/api/known', 3);
  t.is(await retract(app, '/api/known', 7), 1);
  t.deepEqual(await state(app, '/api/known'), { ranking: '2', buckets: ['2', '2', '2'], second: '2' });
  t.is(await retract(app, '/api/known', 7), 0, 'the same hit again: already taken back');
  t.deepEqual(await state(app, '/api/known'), { ranking: '2', buckets: ['2', '2', '2'], second: '2' });
});

test('a hit whose path the ranking does not hold (refused at api.maxPaths) takes nothing back, not even from the live counter', withApp, async (t, app) => {
  // The second's counter holds the batch's other hits, which were counted.
  await counted(app, '/api/other', 5);
  t.is(await retract(app, '/api/refused', 8), -1);
  t.deepEqual(await state(app, '/api/refused'), { ranking: null, buckets: [null, null, null], second: '5' });
  t.deepEqual(await state(app, '/api/other'), { ranking: '5', buckets: ['5', '5', '5'], second: '5' });
});
