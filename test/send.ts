// Sender and classify (src/hits/send.ts) on a real Redis: a lone call on its own, several (or any
// with WAIT) in one pipeline, each call's own outcome, and every failure provoked by real means and sorted by what it says about whether
// the hits were applied (not_sent, refused, rejected, unknown).
import test from 'ava';
import { Redis } from 'ioredis';
import type { Hit } from '../src/hits/hit.js';
import { classify, Sender } from '../src/hits/send.js';
import { recordHitsArgs, type ScriptArgs } from '../src/redis/script-args.js';
import { loadScripts } from '../src/redis/scripts.js';
import { sharedRedis } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';
import { hitAt, hitParts, LIFETIMES, offlineClient, privateRedis, silentLogger, T0, type HitParts } from './helpers/hits.js';

const SECOND = Math.floor(T0 / 1000);

/** One record-hits call of shard 0, numbered by the ledger; `hitsKey` replaces the ranking's key. */
function call(parts: HitParts<unknown>, hits: Hit[], hitsKey?: string): ScriptArgs {
  const { epoch, seq } = parts.ledger.take(0, hits.length);
  const keys = parts.callKeys[0]!.at(T0, SECOND, epoch);
  return recordHitsArgs({ keys: { ...keys, hits: hitsKey ?? keys.hits }, lifetimes: LIFETIMES, lastSeq: seq, maxPaths: 0, events: parts.keys.events, maxEvents: 0, hits });
}

const errorOf = (promise: Promise<unknown>): Promise<Error> => promise.then(() => { throw new Error('expected a failure'); }, (error: Error) => error);

test('classify: a command ioredis would not write is not_sent, a WRONGTYPE reply is rejected, a lost reply is unknown', async (t) => {
  const offline = await offlineClient(t);
  const { redis, keys } = await hitParts(t);
  t.is(classify(await errorOf(offline.get('x'))), 'not_sent');
  await redis.set(keys.hits, 'not a sorted set');
  t.is(classify(await errorOf(redis.zincrby(keys.hits, 1, '/api/a'))), 'rejected');
  t.is(classify(new Error('Command timed out')), 'unknown');
  // What counts is that Redis said it (a ReplyError), not the words: this one could have been applied.
  t.is(classify(new Error('OOM whatever')), 'unknown');
});

test('classify: Redis out of memory is refused', async (t) => {
  const { redis, admin } = await privateRedis(t);
  await admin.config('SET', 'maxmemory-policy', 'noeviction');
  await admin.config('SET', 'maxmemory', '1');
  t.is(classify(await errorOf(redis.set('k', 'v'))), 'refused');
});

test('calls go in one pipeline, each with its own reply in order; the metrics see the pipeline once', async (t) => {
  const parts = await hitParts(t);
  const { replies, replicas } = await parts.sender.send('record_hits', 3, [call(parts, [hitAt('/api/a'), hitAt('/api/a')]), call(parts, [hitAt('/api/b')])]);
  t.deepEqual(replies.map((reply) => reply.ok && reply.value.map(Number)), [[1, 2], [1]]);
  t.is(replicas, 0, 'not asked for');
  t.deepEqual(parts.flushes, [{ command: 'record_hits', hits: 3, ok: true }]);
  t.is(await parts.redis.zscore(parts.keys.hits, '/api/a'), '2');
});

test('one call rejected does not fail the others of its pipeline, and the metrics call the pipeline not ok', async (t) => {
  const parts = await hitParts(t);
  const wrong = `${parts.prefix}a-string`;
  await parts.redis.set(wrong, 'x');
  const { replies } = await parts.sender.send('record_hits', 2, [call(parts, [hitAt('/api/a')], wrong), call(parts, [hitAt('/api/b')])]);
  t.like(replies[0], { ok: false, failure: 'rejected' });
  t.true(!replies[0]!.ok && /WRONGTYPE/.test(replies[0]!.error.message));
  t.like(replies[1], { ok: true });
  t.is(await parts.redis.zscore(parts.keys.hits, '/api/b'), '1');
  t.deepEqual(parts.flushes, [{ command: 'record_hits', hits: 2, ok: false }]);
});

test('a client that cannot send: every call is not_sent, and nothing reaches Redis', async (t) => {
  const parts = await hitParts(t);
  const offline = await offlineClient(t);
  loadScripts(offline);
  const sender = new Sender(offline, parts.keys.probe, silentLogger, parts.clock);
  const { replies, replicas } = await sender.send('record_hits', 2, [call(parts, [hitAt('/api/a')]), call(parts, [hitAt('/api/b')])], 10);
  t.deepEqual(replies.map((reply) => !reply.ok && reply.failure), ['not_sent', 'not_sent']);
  t.is(replicas, 0);
  t.is(await parts.redis.exists(parts.keys.hits), 0);
});

test('a lone call, sent on its own: its reply, or not_sent from a client that cannot send; the metrics see it once', async (t) => {
  const parts = await hitParts(t);
  const { replies, replicas } = await parts.sender.send('record_hits', 2, [call(parts, [hitAt('/api/a'), hitAt('/api/a')])]);
  t.deepEqual(replies.map((reply) => reply.ok && reply.value.map(Number)), [[1, 2]]);
  t.is(replicas, 0);
  t.deepEqual(parts.flushes, [{ command: 'record_hits', hits: 2, ok: true }]);
  const offline = await offlineClient(t);
  loadScripts(offline);
  const flushes: boolean[] = [];
  const sender = new Sender(offline, parts.keys.probe, silentLogger, parts.clock, { flushed: (_command, _seconds, _hits, ok) => void flushes.push(ok) });
  const lost = await sender.send('record_hits', 1, [call(parts, [hitAt('/api/b')])]);
  t.like(lost.replies[0], { ok: false, failure: 'not_sent' });
  t.deepEqual(flushes, [false]);
  t.is(await parts.redis.zscore(parts.keys.hits, '/api/b'), null);
});

test('WAIT follows the calls: its count of replicas is returned apart from their replies (none on a lone Redis)', async (t) => {
  const parts = await hitParts(t);
  const { replies, replicas } = await parts.sender.send('record_hits', 1, [call(parts, [hitAt('/api/a')])], 10);
  t.is(replies.length, 1);
  t.like(replies[0], { ok: true });
  t.is(replicas, 0);
});

test('out of memory: calls are refused, writeRefusal says redis_oom until a probe write gets through again', async (t) => {
  const { redis, admin, prefix } = await privateRedis(t);
  const parts = await hitParts(t, { on: { redis, prefix } });
  await admin.config('SET', 'maxmemory-policy', 'noeviction');
  await admin.config('SET', 'maxmemory', '1');
  // Known from the last call: no refusal seen yet, so no probe and no refusal reported.
  t.is(await parts.sender.writeRefusal(), undefined);
  const { replies } = await parts.sender.send('record_hits', 1, [call(parts, [hitAt('/api/a')])]);
  t.like(replies[0], { ok: false, failure: 'refused' });
  t.is(await admin.exists(parts.keys.hits), 0, 'none of the script ran');
  t.like(await parts.sender.writeRefusal(), { reason: 'redis_oom' });
  t.regex((await parts.sender.writeRefusal())!.error, /^OOM /, 'the probe is still refused');
  await admin.config('SET', 'maxmemory', '0');
  t.is(await parts.sender.writeRefusal(), undefined, 'the probe got through');
});

test('a reply that never comes is unknown: the call may still be applied (and here it is, once Redis resumes)', async (t) => {
  const { redis, admin, prefix } = await privateRedis(t, { commandTimeoutMs: 200 });
  const parts = await hitParts(t, { on: { redis, prefix } });
  // CLIENT PAUSE WRITE holds every script call unanswered until UNPAUSE: the reply times out first.
  await admin.client('PAUSE', 60_000, 'WRITE');
  t.teardown(() => admin.client('UNPAUSE').catch(() => {}));
  const args = call(parts, [hitAt('/api/a')]);
  const { replies } = await parts.sender.send('record_hits', 1, [args]);
  t.like(replies[0], { ok: false, failure: 'unknown' });
  t.is(await admin.zscore(parts.keys.hits, '/api/a'), null, 'not applied yet when the reply was given up on');
  await admin.client('UNPAUSE');
  await eventually(async () => (await admin.zscore(parts.keys.hits, '/api/a')) === '1', { what: 'the timed-out call to be applied after all' });
});

test('a client closed for good sends nothing: every call is not_sent, never unknown', async (t) => {
  const parts = await hitParts(t);
  const closed = new Redis((await sharedRedis()).url);
  loadScripts(closed);
  await closed.quit();
  await eventually(() => closed.status === 'end', { what: 'the client to end' });
  const sender = new Sender(closed, parts.keys.probe, silentLogger, parts.clock);
  const { replies } = await sender.send('record_hits', 1, [call(parts, [hitAt('/api/a')])]);
  t.deepEqual(replies.map((reply) => !reply.ok && reply.failure), ['not_sent']);
  t.is(await parts.redis.exists(parts.keys.hits), 0);
});
