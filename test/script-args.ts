// The typed builders of src/redis/script-args.ts: the one place that knows each hit script's KEYS
// and ARGV order. First the layouts, position by position (a swapped pair would still run, and
// count into the wrong key); then each builder's output run by its real script on a real Redis, so
// that the layouts are the ones the scripts read.
import test from 'ava';
import { bucketsAt } from '../src/analytics/buckets.js';
import { CallKeys } from '../src/hits/hit.js';
import { addHitsArgs, recordHitsArgs, retractHitArgs, type HitCallKeys, type RecordedHit } from '../src/redis/script-args.js';
import { hitAt, hitParts, LIFETIMES, T0 } from './helpers/hits.js';

const KEYS: HitCallKeys = { hits: 'H', sequence: 'S', minute: 'm', hour: 'h', day: 'd', second: 's', visitorsOf: (path) => `v:${path}` };
const HIT: RecordedHit = { path: '/api/a', visitor: 'vis', time: T0 + 0.7, method: 'POST', referrer: 'https://r.example/', userAgent: 'UA' };
const LIFE = { buckets: { minute: 1, hour: 2, day: 3 }, second: 4, sequence: 5 };

test('recordHitsArgs: 7 keys, 11 arguments, then 7 fields per hit; the event path is sent only when cut (else empty) and the time is whole ms', (t) => {
  const args = recordHitsArgs({ keys: KEYS, lifetimes: LIFE, lastSeq: 42, maxPaths: 9, events: 'E', maxEvents: 100, hits: [HIT, { ...HIT, path: '/api/b', eventPath: '/api/b…' }, { ...HIT, eventPath: HIT.path }] });
  t.deepEqual(args, [
    7, 'H', 'S', 'm', 'h', 'd', 'E', 's',
    3, 42, 5, '1', 1, 2, 3, '', 100, 4, 9,
    '/api/a', 'vis', T0, 'POST', 'https://r.example/', 'UA', '',
    '/api/b', 'vis', T0, 'POST', 'https://r.example/', 'UA', '/api/b…',
    '/api/a', 'vis', T0, 'POST', 'https://r.example/', 'UA', '',
  ]);
});

test('recordHitsArgs: with visitors each hit adds its HyperLogLog key and ARGV[8] is their lifetime; without events only path and visitor are sent', (t) => {
  const args = recordHitsArgs({ keys: KEYS, lifetimes: { ...LIFE, visitors: 77 }, lastSeq: 3, maxPaths: 0, events: 'E', maxEvents: 0, hits: [HIT, { ...HIT, path: '/api/b' }] });
  t.deepEqual(args, [
    9, 'H', 'S', 'm', 'h', 'd', 'E', 's', 'v:/api/a', 'v:/api/b',
    2, 3, 5, '1', 1, 2, 3, 77, 0, 4, 0,
    '/api/a', 'vis',
    '/api/b', 'vis',
  ]);
});

test('addHitsArgs: 6 keys (+ one per group with visitors), 11 arguments, then path, count, k and k visitors per group (k = 0 without a set); no buckets sends 0s', (t) => {
  const args = addHitsArgs({
    keys: KEYS, lifetimes: { second: 4, sequence: 5, visitors: 77 }, lastSeq: 8, maxPaths: 2, overflow: 'OVER',
    groups: [{ path: '/api/a', count: 3, visitors: new Set(['x', 'y']) }, { path: '/api/b', count: 1 }],
  });
  t.deepEqual(args, [
    8, 'H', 'S', 'm', 'h', 'd', 's', 'v:/api/a', 'v:/api/b',
    2, 8, 5, '0', 0, 0, 0, 77, 4, 2, 'OVER',
    '/api/a', 3, 2, 'x', 'y',
    '/api/b', 1, 0,
  ]);
});

test('retractHitArgs: 6 keys, then path, sequence number, lifetime and whether buckets count', (t) => {
  const keys = { hits: 'H', retracted: 'R', minute: 'm', hour: 'h', day: 'd', second: 's' };
  t.deepEqual(retractHitArgs({ keys, path: '/api/a', seq: 12, retractedTtlMs: 99, inBuckets: true }), [6, 'H', 'R', 'm', 'h', 'd', 's', '/api/a', 12, 99, '1']);
  t.is(retractHitArgs({ keys, path: '/api/a', seq: 12, retractedTtlMs: 99, inBuckets: false }).at(-1), '0');
});

test('record-hits.lua reads recordHitsArgs as laid out: ranking, buckets, sequence, second, visitors and events all land', async (t) => {
  const { redis, keys } = await hitParts(t);
  const lifetimes = { ...LIFETIMES, visitors: 60_000 };
  const callKeys = new CallKeys(keys).at(T0, Math.floor(T0 / 1000), 'epoch');
  const hits = [hitAt('/api/a', T0, 'v1'), hitAt('/api/a', T0, 'v2'), { ...hitAt('/api/b', T0, 'v1'), eventPath: '/api/b-cut' }];
  const reply = await redis.hcRecordHits(...recordHitsArgs({ keys: callKeys, lifetimes, lastSeq: 3, maxPaths: 0, events: keys.events, maxEvents: 1000, hits }));
  t.deepEqual(reply.map(Number), [1, 2, 1], "each hit's running total");
  const { minute, hour, day } = bucketsAt(T0);
  for (const key of [keys.hits, keys.bucket(minute), keys.bucket(hour), keys.bucket(day)]) t.is(await redis.zscore(key, '/api/a'), '2', key);
  t.is(await redis.get(keys.hitSeq('epoch')), '3', 'the last sequence number');
  const seqTtl = await redis.pttl(keys.hitSeq('epoch'));
  t.true(seqTtl > 0 && seqTtl <= LIFETIMES.sequence, `sequence key lives ledgerTtl: ${seqTtl}`);
  t.is(await redis.get(keys.second(Math.floor(T0 / 1000))), '3');
  t.is(await redis.pfcount(callKeys.visitorsOf('/api/a')), 2);
  const events = await redis.xrange(keys.events, '-', '+');
  t.is(events.length, 3);
  // '' in ARGV: the script puts the whole path in the event.
  t.deepEqual(events[0]![1].slice(0, 6), ['t', String(T0), 'method', 'GET', 'path', '/api/a']);
  t.deepEqual(events[2]![1].slice(0, 6), ['t', String(T0), 'method', 'GET', 'path', '/api/b-cut']);
});

test('add-hits.lua reads addHitsArgs as laid out: sums, sequence, second, visitors, and a new path past maxPaths under the overflow member', async (t) => {
  const { redis, keys } = await hitParts(t);
  const lifetimes = { ...LIFETIMES, visitors: 60_000 };
  const callKeys = new CallKeys(keys).at(T0, Math.floor(T0 / 1000), 'epoch');
  const groups = [{ path: '/api/a', count: 4, visitors: new Set(['x', 'y', 'z']) }, { path: '/api/b', count: 2, visitors: new Set(['x']) }];
  const reply = await redis.hcAddHits(...addHitsArgs({ keys: callKeys, lifetimes, lastSeq: 2, maxPaths: 1, overflow: 'OVER', groups }));
  t.deepEqual(reply.map(Number), [4, -1], '/api/b is a second path past maxPaths 1');
  t.deepEqual(await redis.zrange(keys.hits, 0, -1, 'WITHSCORES'), ['OVER', '2', '/api/a', '4']);
  t.is(await redis.zscore(keys.bucket(bucketsAt(T0).minute), 'OVER'), '2');
  t.is(await redis.get(keys.hitSeq('epoch')), '2');
  t.is(await redis.get(keys.second(Math.floor(T0 / 1000))), '6');
  t.is(await redis.pfcount(callKeys.visitorsOf('/api/a')), 3);
  t.is(await redis.exists(callKeys.visitorsOf('/api/b')), 0, 'no visitors key for an overflowed path');
});

test('retract-hit.lua reads retractHitArgs as laid out: one hit comes out of the ranking, its buckets and its second', async (t) => {
  const { redis, keys, scripts } = await hitParts(t);
  const second = Math.floor(T0 / 1000);
  const callKeys = new CallKeys(keys).at(T0, second, 'epoch');
  await redis.hcRecordHits(...recordHitsArgs({ keys: callKeys, lifetimes: LIFETIMES, lastSeq: 2, maxPaths: 0, events: keys.events, maxEvents: 0, hits: [hitAt('/api/a'), hitAt('/api/a')] }));
  const { minute, hour, day } = bucketsAt(T0);
  const taken = await scripts.retractHit(retractHitArgs({
    keys: { hits: keys.hits, retracted: keys.hitRetracted('epoch'), minute: keys.bucket(minute), hour: keys.bucket(hour), day: keys.bucket(day), second: keys.second(second) },
    path: '/api/a', seq: 2, retractedTtlMs: LIFETIMES.sequence, inBuckets: true,
  }));
  t.is(taken, 1);
  for (const key of [keys.hits, keys.bucket(minute), keys.bucket(hour), keys.bucket(day)]) t.is(await redis.zscore(key, '/api/a'), '1', key);
  t.is(await redis.get(keys.second(second)), '1');
  t.deepEqual(await redis.smembers(keys.hitRetracted('epoch')), ['2']);
});
