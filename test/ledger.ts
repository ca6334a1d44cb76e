// Ledger (src/hits/ledger.ts) on a real Redis and a ManualClock: sequence numbers per shard and
// epoch, epochs ended by an unknown outcome or a closed connection, and reconcile() resolving a
// lost reply both ways: applied (a 503'd hit is taken back) and not applied (a write-behind group
// is handed back). Lost replies are declared with unknown() directly; test/send.ts provokes them.
import { once } from 'node:events';
import test from 'ava';
import type { Redis } from 'ioredis';
import { bucketsAt } from '../src/analytics/buckets.js';
import type { Group } from '../src/hits/write-behind.js';
import { recordHitsArgs } from '../src/redis/script-args.js';
import { eventually } from './helpers/eventually.js';
import { hitAt, hitParts, LIFETIMES, reconcileNow, T0, type HitParts } from './helpers/hits.js';

const SETTLE_MS = 100;
const SECOND = Math.floor(T0 / 1000);
const group = (path: string, count: number): Group => ({ path, time: T0, count, visitors: new Set(), unhashed: new Set() });

/** Counts `n` hits of `path` the way record-hits.lua does, as sequence numbers 1..n of `epoch`: Redis applied them all. */
async function applied(parts: HitParts<unknown>, epoch: string, path: string, n: number): Promise<void> {
  const hits = Array.from({ length: n }, () => hitAt(path));
  await parts.redis.hcRecordHits(...recordHitsArgs({ keys: parts.callKeys[0]!.at(T0, SECOND, epoch), lifetimes: LIFETIMES, lastSeq: n, maxPaths: 0, events: parts.keys.events, maxEvents: 0, hits }));
}

/** Closes the client's connection for real (its 'close' event) and waits until it is back. */
async function reconnect(redis: Redis): Promise<void> {
  await redis.ping(); // ready first: a connection still opening would be given up, not closed
  const closed = once(redis, 'close');
  redis.disconnect(true);
  await closed;
  await eventually(() => redis.status === 'ready', { what: 'the client to reconnect' });
}

test('take numbers each shard on its own, n at a time, in one epoch per shard', async (t) => {
  const { ledger } = await hitParts(t, { shards: 2 });
  const first = ledger.take(0);
  t.is(first.seq, 1);
  t.deepEqual(ledger.take(0, 3), { epoch: first.epoch, seq: 4 }, 'the last of the 3');
  const other = ledger.take(1);
  t.is(other.seq, 1, 'shard 1 counts from 1 too');
  t.not(other.epoch, first.epoch);
});

test("unknown() keeps the item and ends that shard's epoch, once: later unknowns of the old epoch start no other", async (t) => {
  const { ledger, shards } = await hitParts(t, { shards: 2 });
  const a = ledger.take(0, 2);
  const b = ledger.take(1);
  ledger.unknown(0, a.epoch, 1, { kind: 'answered503', path: '/api/x', time: T0 });
  const next = ledger.take(0);
  t.not(next.epoch, a.epoch);
  t.is(next.seq, 1, 'a new epoch counts from 1');
  t.deepEqual(ledger.take(1), { epoch: b.epoch, seq: 2 }, 'shard 1 goes on in its epoch');
  ledger.unknown(0, a.epoch, 2, { kind: 'answered503', path: '/api/y', time: T0 });
  t.is(ledger.take(0).epoch, next.epoch);
  t.is(ledger.size, 2);
  t.deepEqual([...ledger.items()].map((item) => item.kind === 'answered503' && item.path), ['/api/x', '/api/y']);
  // Reset deletes the sequence keys of every epoch still known, old and current.
  t.deepEqual(ledger.seqKeys(), [[shards[0]!.hitSeq(a.epoch), shards[0]!.hitSeq(next.epoch)], [shards[1]!.hitSeq(b.epoch)]]);
});

test('a closed connection starts a new epoch on every shard; reconcile then forgets the old ones', async (t) => {
  const { ledger, redis, shards } = await hitParts(t, { shards: 2 });
  const before = [ledger.take(0).epoch, ledger.take(1).epoch];
  await reconnect(redis);
  const after = [ledger.take(0), ledger.take(1)];
  t.deepEqual(after.map(({ seq }) => seq), [1, 1]);
  t.true(after.every(({ epoch }, shard) => epoch !== before[shard]));
  t.is(ledger.seqKeys()[0]!.length, 2, 'the old epoch is kept until reconcile');
  await ledger.reconcile();
  t.deepEqual(ledger.seqKeys(), [[shards[0]!.hitSeq(after[0]!.epoch)], [shards[1]!.hitSeq(after[1]!.epoch)]]);
});

test('applied after all: reconcile takes the 503 hit back from the ranking, its buckets and its second, once', async (t) => {
  const parts = await hitParts(t);
  const { ledger, redis, keys } = parts;
  const { epoch } = ledger.take(0, 2);
  await applied(parts, epoch, '/api/a', 2);
  // Only the second hit's client was answered 503 (its reply was lost); the first was acknowledged.
  ledger.unknown(0, epoch, 2, { kind: 'answered503', path: '/api/a', time: T0 });
  await ledger.reconcile();
  const { minute, hour, day } = bucketsAt(T0);
  for (const key of [keys.hits, keys.bucket(minute), keys.bucket(hour), keys.bucket(day)]) t.is(await redis.zscore(key, '/api/a'), '1', key);
  t.is(await redis.get(keys.second(SECOND)), '1');
  t.is(ledger.retracted, 1);
  t.is(ledger.size, 0);
  await ledger.reconcile();
  t.is(await redis.zscore(keys.hits, '/api/a'), '1', 'nothing more taken back');
  t.is(ledger.retracted, 1);
});

test('applied, but the path holds nothing (refused at the path cap, or reset since): resolved, nothing taken back', async (t) => {
  const { ledger, redis, keys } = await hitParts(t);
  const { epoch, seq } = ledger.take(0);
  await redis.set(keys.hitSeq(epoch), seq);
  ledger.unknown(0, epoch, seq, { kind: 'answered503', path: '/api/refused', time: T0 });
  await ledger.reconcile();
  t.is(ledger.size, 0);
  t.is(ledger.retracted, 0);
  t.is(await redis.exists(keys.hits), 0);
});

test('write-behind groups: one applied is just resolved; one not applied comes back through notApplied once settleMs has passed', async (t) => {
  const { ledger, redis, keys, clock, notApplied } = await hitParts<Group>(t, { settleMs: SETTLE_MS });
  const { epoch } = ledger.take(0, 2);
  await redis.set(keys.hitSeq(epoch), 1); // Redis applied group 1, not group 2
  ledger.unknown(0, epoch, 1, { kind: 'flushed', group: group('/api/one', 3) });
  ledger.unknown(0, epoch, 2, { kind: 'flushed', group: group('/api/two', 5) });
  await ledger.reconcile();
  t.is(ledger.size, 1, 'group 1 resolved at once');
  t.deepEqual(notApplied, [], 'group 2 may still be applied: Redis may be draining what it read');
  clock.advance(SETTLE_MS - 1);
  await ledger.reconcile();
  t.deepEqual(notApplied, []);
  clock.advance(1);
  await reconcileNow(ledger);
  t.deepEqual(notApplied.map(({ path, count }) => [path, count]), [['/api/two', 5]]);
  t.is(ledger.size, 0);
  t.is(ledger.retracted, 0, 'a flushed group is never taken back');
});

test('unresolved items are reconciled by themselves, without a call to reconcile()', async (t) => {
  const parts = await hitParts(t);
  const { epoch } = parts.ledger.take(0);
  await applied(parts, epoch, '/api/a', 1);
  parts.ledger.unknown(0, epoch, 1, { kind: 'answered503', path: '/api/a', time: T0 });
  await eventually(() => parts.ledger.size === 0, { what: 'the ledger timer to resolve the hit' });
  t.is(await parts.redis.zscore(parts.keys.hits, '/api/a'), null);
  t.is(parts.ledger.retracted, 1);
});

test('close() removes the close listener and stops the timer; a second close() is harmless', async (t) => {
  const { redis, prefix } = await hitParts(t);
  const listeners = redis.listenerCount('close');
  // Two ledgers on one client, each with an applied hit to resolve: only the one left open may.
  const closed = await hitParts(t, { on: { redis, prefix: `${prefix}closed:` } });
  const open = await hitParts(t, { on: { redis, prefix: `${prefix}open:` } });
  t.is(redis.listenerCount('close'), listeners + 2);
  for (const parts of [closed, open]) {
    const { epoch } = parts.ledger.take(0);
    await applied(parts, epoch, '/api/a', 1);
    parts.ledger.unknown(0, epoch, 1, { kind: 'answered503', path: '/api/a', time: T0 });
  }
  closed.ledger.close();
  closed.ledger.close();
  t.is(redis.listenerCount('close'), listeners + 1);
  // Same interval, started first: had it survived close(), the closed ledger's timer would have
  // fired, and its commands been answered on this one connection, before the open one's.
  await eventually(() => open.ledger.size === 0, { what: 'the open ledger to resolve its hit' });
  t.is(closed.ledger.size, 1);
  t.is(await redis.zscore(closed.keys.hits, '/api/a'), '1');
  // Without its listener, a real reconnection no longer rolls the closed ledger's epoch.
  const [closedEpoch, openEpoch] = [closed.ledger.take(0).epoch, open.ledger.take(0).epoch];
  await reconnect(redis);
  t.is(closed.ledger.take(0).epoch, closedEpoch);
  t.not(open.ledger.take(0).epoch, openEpoch, 'the open one still listens');
});

test('an unknown outcome after close() (a batch timing out during shutdown) starts no reconcile timer', async (t) => {
  const parts = await hitParts(t);
  const { epoch } = parts.ledger.take(0);
  await applied(parts, epoch, '/api/a', 1);
  parts.ledger.close();
  parts.ledger.unknown(0, epoch, 1, { kind: 'answered503', path: '/api/a', time: T0 });
  t.false(parts.ledger.reconciling, 'no timer started');
  t.is(parts.ledger.size, 1);
  // Resolving by hand still works.
  await parts.ledger.reconcile();
  t.is(parts.ledger.size, 0);
});
