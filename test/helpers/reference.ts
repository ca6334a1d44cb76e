// Checks a sharded ranking against the answer one sorted set gives on the same data: the same
// counts ZADDed into a single reference set, read back with ZREVRANGE (Redis's own order, ties
// included), must equal /stats in full and for every limit/offset tried.
import type { ExecutionContext } from 'ava';
import type { Got } from 'got';
import type { Redis } from 'ioredis';

export async function assertMatchesSingleSet(t: ExecutionContext, http: Got, redis: Redis, counts: Map<string, number>, query = ''): Promise<void> {
  const reference = `{reference}:${Math.random().toString(36).slice(2)}`;
  const members: Array<string | number> = [];
  for (const [path, hits] of counts) members.push(hits, path);
  await redis.zadd(reference, ...members);
  try {
    const flat = await redis.zrevrange(reference, 0, -1, 'WITHSCORES');
    const expected: Array<{ path: string; hits: number }> = [];
    for (let i = 0; i < flat.length; i += 2) expected.push({ path: flat[i]!, hits: Number(flat[i + 1]) });

    const all = await http.get(`stats${query}`);
    t.is(all.statusCode, 200, JSON.stringify(all.body));
    t.deepEqual(all.body, expected, `GET /stats${query} in full`);
    t.is(all.headers['x-total-count'], String(expected.length));
    const join = query ? `${query}&` : '?';
    for (const [offset, limit] of [[0, 1], [0, 5], [3, 7], [10, 10], [expected.length - 2, 5], [expected.length, 3]] as const) {
      const page = await http.get(`stats${join}offset=${offset}&limit=${limit}`);
      t.deepEqual(page.body, expected.slice(offset, offset + limit), `offset ${offset}, limit ${limit}`);
    }
  } finally {
    await redis.del(reference);
  }
}
