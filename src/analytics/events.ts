// Reading the event log: a Redis Stream with one entry per hit, newest first, filtered, in pages
// that a cursor (the last entry id looked at) continues.
import type { Redis } from 'ioredis';
import { mergeSorted } from '../hits/merge.js';
import { underPrefix } from '../hits/normalize.js';
import { unavailable } from '../redis/unavailable.js';

export interface HitEvent {
  id: string;
  time: string;
  method: string;
  path: string;
  status: number;
  referrer: string;
  userAgent: string;
  visitor: string;
}

export interface EventQuery {
  path?: string;
  prefix?: string;
  /** ms since the epoch, inclusive */
  from?: number;
  /** ms since the epoch, exclusive */
  to?: number;
  /** Continue after this entry id (exclusive). */
  cursor?: string;
}

export interface EventPage {
  events: HitEvent[];
  /** Pass as `cursor` for the next page; null when nothing older matches. */
  next: string | null;
}

const BATCH = 500;

function toEvent(id: string, fields: string[]): HitEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return {
    id,
    time: new Date(Number(f.t)).toISOString(),
    method: f.method ?? '',
    path: f.path ?? '',
    status: Number(f.status),
    referrer: f.referrer ?? '',
    userAgent: f.ua ?? '',
    visitor: f.visitor ?? '',
  };
}

/** Stream ids are `<ms>-<seq>`: is a later than b? */
function idAfter(a: string, b: string): boolean {
  const [aMs, aSeq] = a.split('-').map(Number) as [number, number];
  const [bMs, bSeq] = b.split('-').map(Number) as [number, number];
  return aMs > bMs || (aMs === bMs && aSeq > bSeq);
}

export class EventLog {
  /** One stream per shard of the ranking (a hit's event is written with its count, in its slot). */
  constructor(private readonly redis: Redis, private readonly keys: readonly string[]) {}

  /** One stream's entries from `end` down to `start`, BATCH per round trip. */
  async *#entries(key: string, end: string, start: string): AsyncGenerator<[string, string[]]> {
    for (;;) {
      const batch = (await this.redis.xrevrange(key, end, start, 'COUNT', BATCH).catch(unavailable)) as Array<[string, string[]]>;
      yield* batch;
      if (batch.length < BATCH) return;
      end = `(${batch.at(-1)![0]}`;
    }
  }

  /**
   * Newest first, the shards' streams merged by id. Stops at `limit` matches, or after `maxScan`
   * entries looked at, so a rare filter can't make one request read the whole log; either way
   * `next` continues where it stopped.
   */
  async page(query: EventQuery, limit: number, maxScan = 10_000): Promise<EventPage> {
    const events: HitEvent[] = [];
    let scanned = 0;
    const end = query.cursor ? `(${query.cursor}` : query.to !== undefined ? `(${query.to}-0` : '+';
    const start = query.from !== undefined ? `${query.from}-0` : '-';
    const streams = this.keys.map((key) => this.#entries(key, end, start));
    const entries = streams.length === 1 ? streams[0]! : mergeSorted(streams, (a, b) => idAfter(a[0], b[0]));
    try {
      for await (const [id, fields] of entries) {
        scanned++;
        const event = toEvent(id, fields);
        if (matches(event, query)) events.push(event);
        if (events.length === limit || scanned >= maxScan) {
          const more = !(await entries.next()).done;
          return { events, next: more ? id : null };
        }
      }
      return { events, next: null };
    } finally {
      await entries.return(undefined);
    }
  }

  /** Every matching event, newest first, a batch at a time: for the CSV export. */
  async *all(query: EventQuery): AsyncGenerator<HitEvent> {
    let cursor = query.cursor;
    for (;;) {
      const { events, next } = await this.page({ ...query, cursor }, BATCH, BATCH);
      yield* events;
      if (next === null) return;
      cursor = next;
    }
  }
}

function matches(event: HitEvent, query: EventQuery): boolean {
  return (query.path === undefined || event.path === query.path) && underPrefix(event.path, query.prefix);
}
