// TrafficSampler (src/analytics/traffic.ts), the reader behind GET /stats/stream, one read at a
// time: its clock is a ManualClock and its timers are fired by hand, so every second it reads
// and every delay it asks for is exact. The per-second counters are real keys in a real Redis,
// written as record-hits.lua writes them (INCRBY, then PEXPIRE NX).
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { Redis } from 'ioredis';
import { TrafficSampler, type SamplerTimers, type TrafficEvent, type TrafficPoint } from '../src/analytics/traffic.js';
import { SECOND_COUNTER_TTL_MS, shardKeys, type ShardKeys } from '../src/redis/keys.js';
import { ManualClock } from './helpers/clock.js';
import { eventually } from './helpers/eventually.js';
import { startRedis, type TestRedis } from './helpers/redis.js';

let redis: TestRedis;
let client: Redis;
test.before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});
test.after.always(async () => {
  client?.disconnect();
  await redis?.stop();
});

// A second s is first read 250 ms after it ends, plus a 15 ms margin for early timers; it is read
// again, and sent again if it changed, until it is 5 seconds old.
const READ_AFTER_MS = 265;
const SETTLE_SECONDS = 5;
const BACKLOG_SECONDS = 300;

/** Timers the test fires by hand: firing one first moves the clock to when it was due. */
class HandTimers implements SamplerTimers {
  tick: { ms: number; run: () => Promise<void> } | undefined;
  beat: { ms: number; run: () => void } | undefined;

  after(ms: number, run: () => Promise<void>): () => void {
    const tick = { ms, run };
    this.tick = tick;
    return () => { if (this.tick === tick) this.tick = undefined; };
  }

  every(ms: number, run: () => void): () => void {
    const beat = { ms, run };
    this.beat = beat;
    return () => { if (this.beat === beat) this.beat = undefined; };
  }

  /** Runs the next read `lateMs` after it was due (a busy process); returns the delay it asked for. */
  async fire(clock: ManualClock, lateMs = 0): Promise<number> {
    const tick = this.tick;
    if (!tick) throw new Error('no read is scheduled');
    this.tick = undefined;
    clock.advance(tick.ms + lateMs);
    await tick.run();
    return tick.ms;
  }
}

// The second the sampler's clock starts in, 400 ms into it: second S - 1 has been over long
// enough to be read, S has not.
const S = Math.floor(new ManualClock().now() / 1000);

interface Setup {
  clock: ManualClock;
  timers: HandTimers;
  sampler: TrafficSampler;
  shards: ShardKeys[];
  /** Adds hits to a second's counter of one shard, as a hit script does. */
  count(second: number, hits: number, shard?: number): Promise<void>;
}

function setup(options: { shards?: number; redis?: Redis } = {}): Setup {
  const shards = shardKeys({ prefix: `traffic:${randomUUID()}:`, hits: 'hits' }, options.shards ?? 1);
  const clock = new ManualClock(S * 1000 + 400);
  const timers = new HandTimers();
  const sampler = new TrafficSampler({ redis: options.redis ?? client, shards, clock, timers });
  const count = async (second: number, hits: number, shard = 0) => {
    const key = shards[shard]!.second(second);
    await client.multi().incrby(key, hits).pexpire(key, SECOND_COUNTER_TTL_MS, 'NX').exec();
  };
  return { clock, timers, sampler, shards, count };
}

/** A listener that keeps what it is told. */
function listen(sampler: TrafficSampler) {
  const events: TrafficEvent[] = [];
  const unsubscribe = sampler.subscribe((event) => events.push(event));
  return {
    events,
    unsubscribe,
    /** The events since the last call. */
    take(): TrafficEvent[] {
      return events.splice(0);
    },
  };
}

/** A listener that has had its backlog (the sampler's first read), for tests about what follows. */
async function pastBacklog(sampler: TrafficSampler, timers: Parameters<typeof firstRead>[0]) {
  const listener = listen(sampler);
  await firstRead(timers);
  listener.take();
  return listener;
}

/** Waits for the read a first listener starts at once (a real Redis round trip). */
const firstRead = (timers: HandTimers) => eventually(() => timers.tick, { timeoutMs: 120_000, what: 'the first read' });

const points = (events: TrafficEvent[]): TrafficPoint[] => events.map((event) => {
  if (event.type !== 'point') throw new Error(`expected a point, got ${JSON.stringify(event)}`);
  return event.point;
});
const at = (second: number, hits: number): TrafficPoint => ({ t: second * 1000, hits });

test('a first listener gets the last 300 ended seconds, zero where nothing was counted', async (t) => {
  const { timers, sampler, count } = setup();
  await count(S - 1, 5);
  await count(S - 1, 2);
  await count(S - BACKLOG_SECONDS, 7);
  await count(S - BACKLOG_SECONDS - 1, 9); // too old for the backlog
  await count(S, 4); // the current second: not over yet
  const listener = listen(sampler);
  await firstRead(timers);
  const [backlog, ...rest] = listener.take();
  t.deepEqual(rest, []);
  if (backlog?.type !== 'backlog') return t.fail(`expected the backlog first, got ${JSON.stringify(backlog)}`);
  const expected = Array.from({ length: BACKLOG_SECONDS }, (_, i) => at(S - BACKLOG_SECONDS + i, 0));
  expected[0] = at(S - BACKLOG_SECONDS, 7);
  expected[BACKLOG_SECONDS - 1] = at(S - 1, 7);
  t.deepEqual(backlog.points, expected);
  listener.unsubscribe();
});

test('each second is read 265 ms after it ends and sent as one point, zero for a second without hits', async (t) => {
  const { clock, timers, sampler, count } = setup();
  const listener = await pastBacklog(sampler, timers);
  await count(S, 3);
  await count(S + 2, 1);
  // From 400 ms into second S to 265 ms after it ends; then every second on the second.
  t.is(await timers.fire(clock), 1000 - 400 + READ_AFTER_MS);
  t.is(clock.now(), (S + 1) * 1000 + READ_AFTER_MS);
  t.deepEqual(points(listener.take()), [at(S, 3)]);
  t.is(await timers.fire(clock), 1000);
  t.deepEqual(points(listener.take()), [at(S + 1, 0)], 'a second without hits is still a point: the chart moves');
  t.is(await timers.fire(clock), 1000);
  t.deepEqual(points(listener.take()), [at(S + 2, 1)]);
  listener.unsubscribe();
});

test('hits that land in a second already sent are sent again until the second is 5 s old, then it is final', async (t) => {
  const { clock, timers, sampler, count } = setup();
  const listener = listen(sampler);
  await firstRead(timers);
  await timers.fire(clock);
  listener.take();
  // Second S was sent, with no hits. Before each later read one more hit lands in it.
  let hits = 0;
  for (let newest = S + 1; newest <= S + SETTLE_SECONDS + 2; newest++) {
    await count(S, 1);
    hits++;
    await timers.fire(clock);
    const stillOpen = newest - S < SETTLE_SECONDS;
    t.deepEqual(points(listener.take()), stillOpen ? [at(S, hits), at(newest, 0)] : [at(newest, 0)], `the read of second S + ${newest - S}`);
  }
  listener.unsubscribe();
});

test('every shard\'s counter of a second is summed, and writers adding to one counter add up', async (t) => {
  const { clock, timers, sampler, count, shards } = setup({ shards: 3 });
  t.is(new Set(shards.map((keys) => keys.second(S))).size, 3, 'one counter per shard');
  // Two processes counting in shard 0 in the same second, one in shard 2, none in shard 1.
  await count(S - 1, 2, 0);
  await count(S - 1, 3, 0);
  await count(S - 1, 4, 2);
  await count(S, 1, 1);
  await count(S, 1, 2);
  const listener = listen(sampler);
  await firstRead(timers);
  const [backlog] = listener.take();
  t.deepEqual(backlog?.type === 'backlog' ? backlog.points.at(-1) : backlog, at(S - 1, 9));
  await timers.fire(clock);
  t.deepEqual(points(listener.take()), [at(S, 2)]);
  listener.unsubscribe();
});

/**
 * Ten seconds of traffic, second S + i getting i + 1 hits, written by a process whose clock is
 * `writerAheadMs` ahead of the sampler's: before each read, it writes every hit its clock has
 * reached. Returns every point sent after the backlog, in order, and the last value of each second.
 */
async function playTenSeconds(writerAheadMs: number): Promise<{ sent: TrafficPoint[]; final: Map<number, number> }> {
  const { clock, timers, sampler, count } = setup();
  const hitTimes = Array.from({ length: 10 }, (_, i) => Array.from({ length: i + 1 }, (_, k) => (S + i) * 1000 + k * 50)).flat();
  const listener = await pastBacklog(sampler, timers);
  let written = 0;
  while (clock.now() < (S + 10 + SETTLE_SECONDS + 1) * 1000) {
    const readAt = clock.now() + timers.tick!.ms;
    for (; written < hitTimes.length && hitTimes[written]! <= readAt + writerAheadMs; written++) await count(Math.floor(hitTimes[written]! / 1000), 1);
    await timers.fire(clock);
  }
  listener.unsubscribe();
  const sent = points(listener.take());
  const final = new Map<number, number>();
  for (const point of sent) final.set(point.t, point.hits);
  return { sent, final };
}

const tenSeconds = new Map(Array.from({ length: 10 }, (_, i) => [(S + i) * 1000, i + 1]));

test('a sampler behind the writers\' clocks sends each second once, already complete', async (t) => {
  const { sent, final } = await playTenSeconds(2_500);
  for (const [time, hits] of tenSeconds) t.is(final.get(time), hits, new Date(time).toISOString());
  t.is(sent.filter((point) => tenSeconds.has(point.t)).length, 10, 'no second needed a correction');
});

test('a writer behind the sampler\'s clock: its hits land after their second was sent, which is then sent again', async (t) => {
  const { sent, final } = await playTenSeconds(-2_000);
  for (const [time, hits] of tenSeconds) t.is(final.get(time), hits, new Date(time).toISOString());
  // Each second was first read before the lagging writer had counted it: zero, then corrected.
  for (const time of tenSeconds.keys()) t.is(sent.find((point) => point.t === time)?.hits, 0);
});

test('a read that comes late sends every second it missed, in order, never more than the backlog', async (t) => {
  const { clock, timers, sampler, count } = setup();
  const listener = await pastBacklog(sampler, timers);
  for (let second = S; second < S + 10; second++) await count(second, second - S + 1);
  // The process was busy for 9 s: the read due after second S comes after second S + 9.
  await timers.fire(clock, 9_000);
  t.deepEqual(points(listener.take()), Array.from({ length: 10 }, (_, i) => at(S + i, i + 1)));
  t.is(await timers.fire(clock), 1000, 'and it is back on the second');
  t.deepEqual(points(listener.take()), [at(S + 10, 0)]);
  // Asleep for longer than the backlog: only the last 300 seconds are worth sending.
  await timers.fire(clock, 1000 * (BACKLOG_SECONDS + 50));
  const late = points(listener.take());
  t.is(late.length, BACKLOG_SECONDS);
  t.deepEqual(late.at(-1), at(S + 11 + BACKLOG_SECONDS + 50, 0));
  t.true(late.every((point, i) => i === 0 || point.t === late[i - 1]!.t + 1000));
  listener.unsubscribe();
});

test('a later listener gets the backlog at once from memory; the last one leaving stops the reads', async (t) => {
  const { clock, timers, sampler, count } = setup();
  await count(S, 6);
  const first = listen(sampler);
  await firstRead(timers);
  await timers.fire(clock);
  t.deepEqual(points(first.take().filter((event) => event.type === 'point')), [at(S, 6)]);
  // Subscribing answers synchronously: no Redis read could have happened in between.
  const second = listen(sampler);
  const [backlog] = second.take();
  t.is(backlog?.type, 'backlog');
  if (backlog?.type === 'backlog') {
    t.is(backlog.points.length, BACKLOG_SECONDS);
    t.deepEqual(backlog.points.at(-1), at(S, 6));
  }
  await timers.fire(clock);
  t.deepEqual(points(first.take()), [at(S + 1, 0)]);
  t.deepEqual(points(second.take()), [at(S + 1, 0)], 'both listeners get every point');
  t.is(timers.beat?.ms, 15_000);
  first.unsubscribe();
  t.truthy(timers.tick, 'one listener left: still reading');
  second.unsubscribe();
  t.is(timers.tick, undefined, 'no listener: the next read is cancelled');
  t.is(timers.beat, undefined, 'and the heartbeat');
  // A new listener starts afresh, with a fresh backlog from Redis.
  const third = listen(sampler);
  t.deepEqual(third.take(), []);
  await firstRead(timers);
  const [fresh] = third.take();
  t.true(fresh?.type === 'backlog' && fresh.points.at(-1)!.t === (S + 1) * 1000);
  third.unsubscribe();
});

test('a read still in flight when the last listener leaves is ignored', async (t) => {
  const { timers, sampler, count } = setup();
  await count(S - 1, 1);
  const listener = listen(sampler);
  listener.unsubscribe();
  // Replies on one connection come in order: once PING's has come, the sampler's MGET has been
  // answered too, and setImmediate lets its continuation run before we look.
  await client.ping();
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(listener.events, []);
  t.is(timers.tick, undefined, 'and it scheduled no further read');
  // Nor did it leave anything behind: the next listener starts from a backlog of its own.
  const next = listen(sampler);
  await firstRead(timers);
  const [backlog, ...rest] = next.take();
  t.deepEqual(rest, []);
  t.true(backlog?.type === 'backlog' && backlog.points.length === BACKLOG_SECONDS && backlog.points.at(-1)!.hits === 1, JSON.stringify(backlog)?.slice(0, 200));
  next.unsubscribe();
});

test('the heartbeat reaches every listener', async (t) => {
  const { timers, sampler } = setup();
  const listener = await pastBacklog(sampler, timers);
  timers.beat!.run();
  t.deepEqual(listener.take(), [{ type: 'heartbeat' }]);
  listener.unsubscribe();
});

test('when Redis cannot be read, listeners are told, and points resume once it can', async (t) => {
  const own = new Redis(redis.url);
  t.teardown(() => own.disconnect());
  const { clock, timers, sampler, count } = setup({ redis: own });
  const listener = await pastBacklog(sampler, timers);
  await count(S, 2);
  own.disconnect();
  await timers.fire(clock);
  const [unavailable, ...rest] = listener.take();
  t.deepEqual(rest, []);
  t.is(unavailable?.type, 'unavailable');
  t.truthy(timers.tick, 'it keeps trying');
  await own.connect();
  await timers.fire(clock);
  t.deepEqual(points(listener.take()), [at(S, 2), at(S + 1, 0)], 'the second missed while Redis was away comes too');
  listener.unsubscribe();
});

test('close ends every listener and refuses new ones', async (t) => {
  const { timers, sampler } = setup();
  const listener = await pastBacklog(sampler, timers);
  sampler.close();
  t.deepEqual(listener.take(), [{ type: 'close' }]);
  t.is(timers.tick, undefined);
  t.is(timers.beat, undefined);
  const late = listen(sampler);
  t.deepEqual(late.take(), [{ type: 'close' }]);
  t.is(timers.tick, undefined, 'a closed sampler does not start again');
});
