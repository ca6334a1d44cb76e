// Writer (src/hits/writer.ts), the durable write path, on a real Redis and a ManualClock: a turn's
// hits in one pipeline per shard, each answered with its exact total; the path cap; and what each
// kind of failure becomes for the client (403, 500, 503) and for the ledger.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { ReplyError } from 'ioredis';
import { ForbiddenError, ServiceUnavailableError, type HttpError } from '../src/errors.js';
import { shardOf } from '../src/hits/shards.js';
import { Writer, type WriterOptions } from '../src/hits/writer.js';
import { eventually } from './helpers/eventually.js';
import { hitAt, hitParts, LIFETIMES, offlineClient, privateRedis, T0, type HitParts } from './helpers/hits.js';

const SECOND = Math.floor(T0 / 1000);

function writer(parts: HitParts<unknown>, options: Partial<WriterOptions> = {}): Writer {
  return new Writer({ sender: parts.sender, ledger: parts.ledger, callKeys: parts.callKeys, lifetimes: LIFETIMES, maxEvents: 0, maxPathsPerShard: 0, maxPaths: 0, clock: parts.clock, ...options });
}

const failureOf = (promise: Promise<unknown>): Promise<Error> => promise.then(() => { throw new Error('expected the hit to fail'); }, (error: Error) => error);

test('hits of one turn go in one pipeline, each answered with its own running total; the next turn is another pipeline', async (t) => {
  const parts = await hitParts(t);
  const w = writer(parts);
  const totals = await Promise.all(Array.from({ length: 5 }, () => w.record(hitAt('/api/a'))));
  t.deepEqual([...totals].sort((a, b) => a - b), [1, 2, 3, 4, 5], `distinct totals: ${totals}`);
  t.deepEqual(parts.flushes, [{ command: 'record_hits', hits: 5, ok: true }]);
  const { epoch, seq } = parts.ledger.take(0);
  t.is(seq, 6, 'one sequence number per hit');
  t.is(await parts.redis.get(parts.keys.hitSeq(epoch)), '5', 'Redis recorded the last one applied');
  t.is(await w.record(hitAt('/api/a')), 6);
  t.is(parts.flushes.length, 2);
});

test('hits of different seconds share the pipeline but not the call: each second counts its own, in order', async (t) => {
  const parts = await hitParts(t);
  const w = writer(parts);
  const times = [T0, T0 + 1000, T0 + 1000, T0];
  t.deepEqual(await Promise.all(times.map((time) => w.record(hitAt('/api/a', time)))), [1, 2, 3, 4]);
  t.is(parts.flushes.length, 1);
  t.is(await parts.redis.get(parts.keys.second(SECOND)), '2');
  t.is(await parts.redis.get(parts.keys.second(SECOND + 1)), '2');
});

test('with shards, one pipeline per shard, each path counted in its own shard', async (t) => {
  const parts = await hitParts(t, { shards: 3 });
  // A path for each shard.
  const paths = [0, 1, 2].map((shard) => Array.from({ length: 100 }, (_, i) => `/api/p${i}`).find((path) => shardOf(path, 3) === shard)!);
  t.deepEqual(await Promise.all(paths.map((path) => writer(parts).record(hitAt(path)))), [1, 1, 1]);
  t.deepEqual(parts.flushes.map(({ hits }) => hits), [1, 1, 1]);
  for (const [shard, path] of paths.entries()) t.deepEqual(await parts.redis.zrange(parts.shards[shard]!.hits, 0, -1), [path]);
});

test('past maxPathsPerShard a new path is refused (403, path_cap), while a known one in the same call still counts', async (t) => {
  const parts = await hitParts(t);
  const w = writer(parts, { maxPathsPerShard: 2, maxPaths: 2 });
  await Promise.all([w.record(hitAt('/api/a')), w.record(hitAt('/api/b'))]);
  const [refused, known] = await Promise.allSettled([w.record(hitAt('/api/c')), w.record(hitAt('/api/a'))]);
  t.is(refused.status, 'rejected');
  const error = (refused as PromiseRejectedResult).reason as HttpError & { refusal?: string };
  t.true(error instanceof ForbiddenError);
  t.is(error.status, 403);
  t.is(error.refusal, 'path_cap');
  t.deepEqual(known, { status: 'fulfilled', value: 2 });
  t.deepEqual(await parts.redis.zrange(parts.keys.hits, 0, -1, 'WITHSCORES'), ['/api/b', '1', '/api/a', '2']);
  t.is(parts.ledger.size, 0, 'refused, not unknown');
});

test('a call Redis rejects fails its hits with the ReplyError itself (a 500), with nothing for the ledger', async (t) => {
  const parts = await hitParts(t);
  await parts.redis.set(parts.keys.hits, 'not a sorted set');
  const error = await failureOf(writer(parts).record(hitAt('/api/a')));
  t.true(error instanceof ReplyError, error.message);
  t.is(parts.ledger.size, 0);
});

test('a batch never sent fails with a 503, and nothing waits in the ledger', async (t) => {
  const offline = await offlineClient(t);
  const parts = await hitParts(t, { on: { redis: offline, prefix: `test:${randomUUID()}:` } });
  const error = await failureOf(writer(parts).record(hitAt('/api/a')));
  t.true(error instanceof ServiceUnavailableError);
  t.is(parts.ledger.size, 0);
});

test('Redis out of memory: a 503 with refusal redis_oom whose cause carries the reply text, not the batch', async (t) => {
  const { redis, admin, prefix } = await privateRedis(t);
  const parts = await hitParts(t, { on: { redis, prefix } });
  await admin.config('SET', 'maxmemory-policy', 'noeviction');
  await admin.config('SET', 'maxmemory', '1');
  const error = (await failureOf(writer(parts).record(hitAt('/api/secret-path')))) as HttpError & { refusal?: string };
  t.true(error instanceof ServiceUnavailableError);
  t.is(error.refusal, 'redis_oom');
  t.regex((error.cause as Error).message, /^OOM /);
  // ioredis puts the command's arguments on a ReplyError: other clients' paths, User-Agents, ….
  t.false(JSON.stringify(error.cause).includes('secret-path'));
  t.false('command' in (error.cause as object));
  t.is(parts.ledger.size, 0);
});

test('a lost reply: the client gets a 503, and once Redis turns out to have applied the hit it is taken back', async (t) => {
  const { redis, admin, prefix } = await privateRedis(t, { commandTimeoutMs: 200 });
  const parts = await hitParts(t, { on: { redis, prefix } });
  // CLIENT PAUSE WRITE holds the call unanswered until UNPAUSE: the reply times out first.
  await admin.client('PAUSE', 60_000, 'WRITE');
  t.teardown(() => admin.client('UNPAUSE').catch(() => {}));
  t.true((await failureOf(writer(parts).record(hitAt('/api/a')))) instanceof ServiceUnavailableError);
  t.is(parts.ledger.size, 1);
  await admin.client('UNPAUSE');
  await eventually(() => parts.ledger.size === 0, { what: 'the ledger to resolve the hit' });
  t.is(parts.ledger.retracted, 1);
  t.is(await admin.zscore(parts.keys.hits, '/api/a'), null, 'counted by the late call, then taken back: 503 means not counted');
});

test('durability replicated without a replica: 503, the next batches refused unsent for a second, and the applied ones taken back', async (t) => {
  const parts = await hitParts(t);
  const w = writer(parts, { replicatedWithinMs: 10 });
  t.true((await failureOf(w.record(hitAt('/api/a')))) instanceof ServiceUnavailableError);
  t.is(parts.flushes.length, 1);
  parts.clock.advance(999);
  t.regex((await failureOf(w.record(hitAt('/api/a', parts.clock.now())))).message, /No Redis replica/);
  t.is(parts.flushes.length, 1, 'refused before it was sent');
  parts.clock.advance(1);
  t.true((await failureOf(w.record(hitAt('/api/a', parts.clock.now())))) instanceof ServiceUnavailableError);
  t.is(parts.flushes.length, 2, 'a second later, one batch finds out again');
  await eventually(() => parts.ledger.size === 0, { what: 'the ledger to resolve both hits' });
  t.is(parts.ledger.retracted, 2);
  t.is(await parts.redis.zscore(parts.keys.hits, '/api/a'), null);
});
