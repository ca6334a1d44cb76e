// mergeSorted and rankedBefore (src/hits/merge.ts): how K shards read as one ranking. Ties, empty
// and single shards, stopping early, and a fast-check property against one sorted reference;
// rankedBefore's order is also checked against a real Redis's ZREVRANGE, whose order it copies.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import test from 'ava';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { mergeSorted, rankedBefore } from '../src/hits/merge.js';
import { startRedis, type TestRedis } from './helpers/redis.js';

type Row = { path: string; hits: number };

let redis: TestRedis;
test.before(async () => { redis = await startRedis(); });
test.after.always(async () => { await redis?.stop(); });

/** An async source that records how far it was read and whether it was closed. */
function source<T>(items: T[]) {
  const log = { pulled: 0, returned: false };
  const iterable: AsyncIterable<T> = {
    [Symbol.asyncIterator]: () => ({
      next: async () => (log.pulled < items.length ? { done: false, value: items[log.pulled++]! } : { done: true, value: undefined }),
      return: async () => {
        log.returned = true;
        return { done: true, value: undefined };
      },
    }),
  };
  return { iterable, log };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

const merge = (shards: Row[][]) => collect(mergeSorted(shards.map((rows) => source(rows).iterable), rankedBefore));

/** The reference: ZREVRANGE's order written out independently, on one list of every row. */
const byRank = (a: Row, b: Row) => b.hits - a.hits || Buffer.compare(Buffer.from(b.path), Buffer.from(a.path));

test('rankedBefore: more hits first; equal hits by path, bytewise, greater first', (t) => {
  t.true(rankedBefore({ path: '/a', hits: 2 }, { path: '/z', hits: 1 }));
  t.false(rankedBefore({ path: '/z', hits: 1 }, { path: '/a', hits: 2 }));
  t.true(rankedBefore({ path: '/b', hits: 1 }, { path: '/a', hits: 1 }));
  t.false(rankedBefore({ path: '/a', hits: 1 }, { path: '/a', hits: 1 }), 'strict: a row is not before itself');
  // Bytes, not letters: 'a' (0x61) is after 'B' (0x42), which a locale order would reverse.
  t.true(rankedBefore({ path: '/a', hits: 1 }, { path: '/B', hits: 1 }));
  // UTF-8 bytes, not UTF-16 code units: U+1F600 (F0 9F 98 80) sorts after U+FF61 (EF BD A1) in
  // bytes, though its first UTF-16 unit (D83D) is the smaller; JavaScript's < says the opposite.
  t.true('/😀' < '/｡');
  t.true(rankedBefore({ path: '/😀', hits: 1 }, { path: '/｡', hits: 1 }));
  t.true(rankedBefore({ path: '/é', hits: 1 }, { path: '/z', hits: 1 }), 'é is C3 A9, after z (7A)');
  t.true(rankedBefore({ path: '/ab', hits: 1 }, { path: '/a', hits: 1 }), 'a prefix comes after the longer path');
});

test('rankedBefore orders ties exactly as a real Redis\'s ZREVRANGE does', async (t) => {
  const client = new Redis(redis.url);
  t.teardown(() => client.disconnect());
  const key = `merge:${randomUUID()}`;
  const paths = ['/a', '/B', '/b', '/ab', '/é', '/e', '/z', '/😀', '/｡', '/\u00ff', '/\u0100', '/日本', '/a b', '/a%20b', '/ä', '/a\u0308'];
  // All tied but two, so that the order of the paths is what is compared.
  const rows = [...paths.map((path): Row => ({ path, hits: 1 })), { path: '/hot', hits: 5 }, { path: '/cold', hits: 0 }];
  await client.zadd(key, ...rows.flatMap(({ path, hits }) => [hits, path]));
  const flat = await client.zrevrange(key, 0, -1, 'WITHSCORES');
  await client.del(key);
  const fromRedis = Array.from({ length: flat.length / 2 }, (_, i): Row => ({ path: flat[2 * i]!, hits: Number(flat[2 * i + 1]) }));
  t.deepEqual([...rows].sort((a, b) => (rankedBefore(a, b) ? -1 : rankedBefore(b, a) ? 1 : 0)), fromRedis);
});

test('the shards\' rows come out as one ranking, ties across shards included', async (t) => {
  const shards: Row[][] = [
    [{ path: '/x', hits: 9 }, { path: '/c', hits: 5 }, { path: '/a', hits: 5 }, { path: '/q', hits: 1 }],
    [{ path: '/d', hits: 5 }, { path: '/b', hits: 5 }],
    [{ path: '/😀', hits: 5 }, { path: '/｡', hits: 5 }, { path: '/z', hits: 2 }],
  ];
  t.deepEqual((await merge(shards)).map((row) => row.path), ['/x', '/😀', '/｡', '/d', '/c', '/b', '/a', '/z', '/q']);
});

test('no shards, empty shards, one shard', async (t) => {
  const one: Row[] = [{ path: '/b', hits: 3 }, { path: '/a', hits: 1 }];
  t.deepEqual(await merge([]), []);
  t.deepEqual(await merge([[], [], []]), []);
  t.deepEqual(await merge([one]), one);
  t.deepEqual(await merge([[], one, []]), one);
  t.deepEqual(await merge([one, []]), one);
});

test('the merge reads each shard only as far as it is read, and closes every shard when the reader stops', async (t) => {
  const rows = (prefix: string) => Array.from({ length: 100 }, (_, i): Row => ({ path: `/${prefix}${i}`, hits: 100 - i }));
  const shards = [source(rows('a')), source(rows('b')), source([] as Row[])];
  const taken: Row[] = [];
  for await (const row of mergeSorted(shards.map((shard) => shard.iterable), rankedBefore)) {
    taken.push(row);
    if (taken.length === 5) break;
  }
  t.deepEqual(taken.map((row) => row.path), ['/b0', '/a0', '/b1', '/a1', '/b2']);
  // Five rows out: a head for each shard, plus one more from the shard each row came from.
  t.deepEqual(shards.map((shard) => shard.log.pulled), [3, 3, 0]);
  t.true(shards.every((shard) => shard.log.returned), 'every shard is closed, even the one already exhausted');
});

test('a failing shard fails the merge and the other shards are closed', async (t) => {
  const healthy = source<Row>([{ path: '/a', hits: 1 }]);
  const failing: AsyncIterable<Row> = {
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('shard down')) }),
  };
  await t.throwsAsync(collect(mergeSorted([healthy.iterable, failing], rankedBefore)), { message: 'shard down' });
  t.true(healthy.log.returned);
});

test('property: merging shards that are each in ZREVRANGE order gives the whole in that order', async (t) => {
  // Few distinct hit counts, so that ties are common; paths from all of Unicode, as percent-decoded
  // paths are; each path in one shard only, as the shard of a path is a function of it.
  const rows = fc.uniqueArray(fc.record({ path: fc.string({ unit: 'grapheme', maxLength: 6 }).map((s) => `/${s}`), hits: fc.integer({ min: 1, max: 4 }) }), {
    selector: (row) => row.path,
    maxLength: 60,
  });
  await fc.assert(fc.asyncProperty(rows, fc.integer({ min: 1, max: 5 }), fc.infiniteStream(fc.nat()), async (all, k, picks) => {
    const shards: Row[][] = Array.from({ length: k }, () => []);
    const pick = picks[Symbol.iterator]();
    for (const row of all) shards[pick.next().value! % k]!.push(row);
    for (const shard of shards) shard.sort(byRank);
    return isDeepStrictEqual(await merge(shards), [...all].sort(byRank));
  }), { numRuns: 500 });
  t.pass('fast-check found no counterexample in 500 runs');
});
