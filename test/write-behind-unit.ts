// WriteBehind (src/hits/write-behind.ts) on its own, on a real Redis and a ManualClock: what
// record() answers, what flush() puts in Redis, requeue, drain, close, and what each kind of
// failed flush does with the hits (kept, lost and logged, or left to the ledger). The app-level
// behaviour (load, a Redis killed and restarted) is test/write-behind.ts.
import { Writable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { bucketId, bucketsAt } from '../src/analytics/buckets.js';
import { WriteBehind, type Group, type WriteBehindOptions } from '../src/hits/write-behind.js';
import { prefixedRedis, sharedRedis } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';
import { hitAt, hitParts, LIFETIMES, privateRedis, reconcileNow, silentLogger, T0, type HitParts } from './helpers/hits.js';

// Flushes only when a test calls flush(): the interval is tested on its own, at the end.
const NEVER_MS = 3_600_000;
const MINUTE = Math.floor(T0 / 60_000) * 60_000;

function writeBehind(t: ExecutionContext, parts: HitParts<Group>, options: Partial<WriteBehindOptions> = {}): WriteBehind {
  const wb = new WriteBehind({
    sender: parts.sender, ledger: parts.ledger, callKeys: parts.callKeys, lifetimes: LIFETIMES, maxPathsPerShard: 0,
    overflow: 'OVER', flushIntervalMs: NEVER_MS, clock: parts.clock, logger: silentLogger, ...options,
  });
  t.teardown(() => wb.close());
  return wb;
}

test('record answers the last total a flush returned plus the hits not yet flushed', async (t) => {
  const parts = await hitParts<Group>(t);
  const wb = writeBehind(t, parts);
  t.deepEqual([wb.record(hitAt('/api/a')), wb.record(hitAt('/api/a')), wb.record(hitAt('/api/b'))], [1, 2, 1]);
  t.is(wb.pendingHits, 3);
  await wb.flush();
  t.is(wb.pendingHits, 0);
  t.is(wb.record(hitAt('/api/a')), 3);
  // Another replica counts 10 more: known here only from the next flush's reply.
  await parts.redis.zincrby(parts.keys.hits, 10, '/api/a');
  t.is(wb.record(hitAt('/api/a')), 4);
  await wb.flush();
  t.is(wb.record(hitAt('/api/a')), 15);
});

test('flush puts each sum in the ranking and its minute bucket, in one pipeline, one sequence number per group', async (t) => {
  const parts = await hitParts<Group>(t);
  const wb = writeBehind(t, parts);
  for (let i = 0; i < 3; i++) wb.record(hitAt('/api/a'));
  wb.record(hitAt('/api/b'));
  wb.record(hitAt('/api/a', T0 + 60_000)); // the next minute: its own group and call
  await wb.flush();
  const { redis, keys } = parts;
  t.is(await redis.zscore(keys.hits, '/api/a'), '4');
  t.is(await redis.zscore(keys.hits, '/api/b'), '1');
  t.is(await redis.zscore(keys.bucket(bucketsAt(T0).minute), '/api/a'), '3');
  t.is(await redis.zscore(keys.bucket(bucketsAt(T0 + 60_000).minute), '/api/a'), '1');
  t.deepEqual(parts.flushes, [{ command: 'add_hits', hits: 5, ok: true }]);
  const { epoch, seq } = parts.ledger.take(0);
  t.is(seq, 4, 'groups 1 to 3 were numbered');
  t.is(await redis.get(keys.hitSeq(epoch)), '3');
  t.is(await redis.get(keys.second(Math.floor(T0 / 1000))), '5', "the live feed's second of the flush");
});

test('requeue merges a group into the pending one of its path and minute: counts add, visitors unite', async (t) => {
  const parts = await hitParts<Group>(t);
  const wb = writeBehind(t, parts, { lifetimes: { ...LIFETIMES, visitors: 60_000 } });
  wb.record(hitAt('/api/a', T0, 'v1'));
  wb.requeue({ path: '/api/a', time: MINUTE, count: 3, visitors: new Set(['v1', 'v2']), unhashed: new Set() });
  wb.requeue({ path: '/api/b', time: MINUTE, count: 2, visitors: new Set(), unhashed: new Set() });
  t.is(wb.pendingHits, 6);
  t.is(wb.record(hitAt('/api/a', T0 + 1000)), 5, 'the requeued hits are part of what record answers');
  await wb.flush();
  t.is(await parts.redis.zscore(parts.keys.hits, '/api/a'), '5');
  t.is(await parts.redis.zscore(parts.keys.hits, '/api/b'), '2');
  t.is(await parts.redis.pfcount(parts.keys.visitors(bucketId(bucketsAt(T0).day), '/api/a')), 2);
});

test('drain flushes until nothing is pending', async (t) => {
  const parts = await hitParts<Group>(t);
  const wb = writeBehind(t, parts);
  for (let i = 0; i < 7; i++) wb.record(hitAt(`/api/p${i % 3}`));
  await wb.drain(60_000);
  t.is(wb.pendingHits, 0);
  t.deepEqual(await parts.redis.zrange(parts.keys.hits, 0, -1, 'WITHSCORES'), ['/api/p1', '2', '/api/p2', '2', '/api/p0', '3']);
});

test('past maxPathsPerShard a new path counts under the overflow member, and record knows nothing more of it', async (t) => {
  const parts = await hitParts<Group>(t);
  const wb = writeBehind(t, parts, { maxPathsPerShard: 1 });
  wb.record(hitAt('/api/a'));
  await wb.flush();
  t.is(wb.record(hitAt('/api/new')), 1);
  await wb.flush();
  t.is(await parts.redis.zscore(parts.keys.hits, 'OVER'), '1');
  t.is(await parts.redis.zscore(parts.keys.hits, '/api/new'), null);
  t.is(wb.record(hitAt('/api/new')), 1, 'its last known total is 0');
});

test('a flush never sent keeps its hits, and the next one once connected counts them', async (t) => {
  const { redis: reader, prefix } = await prefixedRedis(t);
  // No offline queue and not connected yet: the first command starts connecting and is refused unsent.
  const lazy = new Redis((await sharedRedis()).url, { lazyConnect: true, enableOfflineQueue: false });
  t.teardown(() => lazy.disconnect());
  const parts = await hitParts<Group>(t, { on: { redis: lazy, prefix } });
  const wb = writeBehind(t, parts);
  wb.record(hitAt('/api/a'));
  wb.record(hitAt('/api/a'));
  await wb.flush();
  t.like(parts.flushes, [{ ok: false }]);
  t.is(wb.pendingHits, 2, 'kept for the next flush');
  await eventually(() => lazy.status === 'ready', { what: 'the client to connect' });
  await wb.flush();
  t.is(wb.pendingHits, 0);
  t.is(await reader.zscore(parts.keys.hits, '/api/a'), '2');
});

test('a flush Redis rejects loses its hits, and says so in one error line without the paths', async (t) => {
  const lines: string[] = [];
  const logger: Logger = pino({ level: 'error' }, new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } }));
  const parts = await hitParts<Group>(t);
  await parts.redis.set(parts.keys.hits, 'not a sorted set');
  const wb = writeBehind(t, parts, { logger });
  wb.record(hitAt('/api/secret'));
  wb.record(hitAt('/api/secret'));
  await wb.flush();
  t.is(wb.pendingHits, 0, 'not kept: sending it again would be rejected again');
  t.is(parts.ledger.size, 0);
  t.is(lines.length, 1);
  t.like(JSON.parse(lines[0]!), { paths: 1, hits: 2 });
  t.false(lines[0]!.includes('/api/secret'));
});

test('a lost reply: the hits stay pending in the ledger; applied, they are resolved and counted once', async (t) => {
  const { redis, admin, prefix } = await privateRedis(t, { commandTimeoutMs: 200 });
  const parts = await hitParts<Group>(t, { on: { redis, prefix } });
  const wb = writeBehind(t, parts);
  wb.record(hitAt('/api/a'));
  wb.record(hitAt('/api/a'));
  // CLIENT PAUSE WRITE holds the call unanswered until UNPAUSE: the reply times out first.
  await admin.client('PAUSE', 60_000, 'WRITE');
  t.teardown(() => admin.client('UNPAUSE').catch(() => {}));
  await wb.flush();
  t.is(parts.ledger.size, 1);
  t.is(wb.pendingHits, 2, 'acknowledged, not yet known to be in Redis');
  await admin.client('UNPAUSE');
  await eventually(() => wb.pendingHits === 0, { what: 'the ledger to resolve the flush' });
  t.is(await admin.zscore(parts.keys.hits, '/api/a'), '2');
  t.deepEqual(parts.notApplied, []);
});

test('a lost reply never applied (its connection closed first) comes back through the ledger and is counted once', async (t) => {
  const settleMs = 100;
  const { redis, admin, prefix } = await privateRedis(t, { commandTimeoutMs: 200 });
  const parts = await hitParts<Group>(t, { on: { redis, prefix }, settleMs });
  const wb = writeBehind(t, parts);
  wb.record(hitAt('/api/a'));
  wb.record(hitAt('/api/a'));
  const id = await redis.client('ID');
  await admin.client('PAUSE', 60_000, 'WRITE');
  t.teardown(() => admin.client('UNPAUSE').catch(() => {}));
  await wb.flush();
  // A paused command of a connection that closes is dropped unrun: the flush was not applied.
  redis.disconnect(true);
  await eventually(async () => !(await admin.client('LIST') as string).includes(`id=${id} `), { what: 'Redis to drop the old connection' });
  await admin.client('UNPAUSE');
  await eventually(() => redis.status === 'ready', { what: 'the client to reconnect' });
  parts.clock.advance(settleMs);
  await reconcileNow(parts.ledger);
  t.deepEqual(parts.notApplied.map(({ path, count }) => [path, count]), [['/api/a', 2]]);
  // As store.ts wires it: what the ledger hands back goes to the next flush.
  for (const group of parts.notApplied) wb.requeue(group);
  await wb.flush();
  t.is(await admin.zscore(parts.keys.hits, '/api/a'), '2');
  t.is(wb.pendingHits, 0);
});

test('close() stops the flush interval (twice is harmless): a twin left open flushes, the closed one never does', async (t) => {
  const { redis, prefix } = await prefixedRedis(t);
  const closedParts = await hitParts<Group>(t, { on: { redis, prefix: `${prefix}closed:` } });
  const openParts = await hitParts<Group>(t, { on: { redis, prefix: `${prefix}open:` } });
  // Same interval, started first: had it survived close(), it would fire before the open one's.
  const closed = writeBehind(t, closedParts, { flushIntervalMs: 20 });
  const open = writeBehind(t, openParts, { flushIntervalMs: 20 });
  closed.close();
  closed.close();
  closed.record(hitAt('/api/a'));
  open.record(hitAt('/api/a'));
  await eventually(async () => (await redis.zscore(openParts.keys.hits, '/api/a')) === '1', { what: 'the open twin to flush by itself' });
  t.is(closed.pendingHits, 1);
  t.is(await redis.exists(closedParts.keys.hits), 0);
});

test('drain gives up after timeoutMs of real time even when the injected clock stands still and Redis is gone', async (t) => {
  const { prefix } = await prefixedRedis(t);
  const lazy = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null });
  lazy.on('error', () => {});
  t.teardown(() => lazy.disconnect());
  const parts = await hitParts<Group>(t, { on: { redis: lazy, prefix } });
  const wb = writeBehind(t, parts);
  wb.record(hitAt('/api/a'));
  await wb.drain(300);
  t.is(wb.pendingHits, 1, 'nothing could be flushed, and drain returned anyway');
});

test('a drain that starts while a flush is on the wire waits for it: nothing acknowledged is left behind at a stop', async (t) => {
  const parts = await hitParts<Group>(t);
  // The sender holds the first flush's call until the test lets it go.
  let release!: () => void;
  const held = new Promise<void>((resolve) => { release = resolve; });
  const send = parts.sender.send.bind(parts.sender);
  let calls = 0;
  const sender = { ...parts.sender, send: async (...args: Parameters<typeof send>) => { if (calls++ === 0) await held; return send(...args); } } as typeof parts.sender;
  const wb = writeBehind(t, parts, { sender });
  wb.record(hitAt('/api/a'));
  const first = wb.flush(); // as the timer would: the hit is off the pending list and on its way
  t.is(wb.pendingHits, 1, 'a hit on the wire is still pending');
  let drained = false;
  const drain = wb.drain(60_000).then(() => { drained = true; });
  // The drain cannot be done before the flush it found on the wire has its reply.
  await new Promise((resolve) => setImmediate(resolve));
  t.false(drained);
  release();
  await Promise.all([first, drain]);
  t.is(wb.pendingHits, 0);
  t.is(await parts.redis.zscore(parts.keys.hits, '/api/a'), '1');
});
