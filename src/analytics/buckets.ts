// Time buckets: every hit also counts in a per-minute, a per-hour and a per-day sorted set, named
// by the UTC start of the bucket. This module is pure: times in, bucket names and covers out.
export const GRANULARITIES = ['minute', 'hour', 'day'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

export const MS: Record<Granularity, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** How long each granularity is kept (ms): a bucket older than this may be gone. */
export type Retention = Record<Granularity, number>;

export interface Bucket {
  granularity: Granularity;
  /** UTC start, ms since the epoch. */
  start: number;
}

export const floorTo = (time: number, granularity: Granularity) => Math.floor(time / MS[granularity]) * MS[granularity];

/** 2026-11-24T08:01 (minute), 2026-11-24T08 (hour), 2026-11-24 (day): readable in redis-cli. */
export function bucketId({ granularity, start }: Bucket): string {
  const iso = new Date(start).toISOString();
  return granularity === 'minute' ? iso.slice(0, 16) : granularity === 'hour' ? iso.slice(0, 13) : iso.slice(0, 10);
}

/** The three buckets a hit at `time` counts in. */
export function bucketsAt(time: number): Record<Granularity, Bucket> {
  return {
    minute: { granularity: 'minute', start: floorTo(time, 'minute') },
    hour: { granularity: 'hour', start: floorTo(time, 'hour') },
    day: { granularity: 'day', start: floorTo(time, 'day') },
  };
}

/** A bucket still holds its data when it started within its retention. */
const retained = (bucket: Bucket, now: number, retention: Retention) => bucket.start >= now - retention[bucket.granularity];

/**
 * The coarsest buckets that together cover [from, to) exactly, or undefined when no cover exists
 * (an edge not on a whole minute, or a part of the range whose fine buckets have expired).
 * Greedy from the left: minutes up to the next hour, hours up to the next day, whole days, then
 * hours and minutes for the tail.
 */
export function cover(from: number, to: number, now: number, retention: Retention): Bucket[] | undefined {
  if (from % MS.minute !== 0 || to % MS.minute !== 0 || from >= to) return undefined;
  const buckets: Bucket[] = [];
  for (let cursor = from; cursor < to;) {
    const fitting = (['day', 'hour', 'minute'] as const).find((granularity) => {
      const bucket = { granularity, start: cursor };
      return cursor % MS[granularity] === 0 && cursor + MS[granularity] <= to && retained(bucket, now, retention);
    });
    if (!fitting) return undefined;
    buckets.push({ granularity: fitting, start: cursor });
    cursor += MS[fitting];
  }
  return buckets;
}

export const WINDOWS = ['15m', '1h', '24h', '7d', '30d', 'all'] as const;
export type WindowName = (typeof WINDOWS)[number];

/** A time range [from, to); `all` has none: it is the all-time ranking itself. */
export interface Range {
  from: number;
  to: number;
}

/**
 * The range of a named window, ending with the current minute. Windows that reach past the minute
 * retention start on a whole hour, and those past the hour retention on a whole day, so their
 * cover exists (see README: granularity per window).
 */
export function windowRange(name: Exclude<WindowName, 'all'>, now: number, retention: Retention): Range {
  const length = { '15m': 15 * MS.minute, '1h': MS.hour, '24h': MS.day, '7d': 7 * MS.day, '30d': 30 * MS.day }[name];
  const to = floorTo(now, 'minute') + MS.minute;
  let from = to - length;
  if (from < now - retention.minute) from = floorTo(from, 'hour');
  if (from < now - retention.hour) from = floorTo(from, 'day');
  return { from, to };
}

/**
 * `all` where a route needs a range (the per-path series): everything the buckets still hold, from
 * the oldest day bucket sure to be kept to the end of the current minute.
 */
export function keptRange(now: number, retention: Retention): Range {
  return { from: Math.ceil((now - retention.day) / MS.day) * MS.day, to: floorTo(now, 'minute') + MS.minute };
}

/** Every bucket of one granularity from the one holding `from` up to `to`, for a zero-filled series. */
export function series(range: Range, granularity: Granularity): Bucket[] {
  const buckets: Bucket[] = [];
  for (let start = floorTo(range.from, granularity); start < range.to; start += MS[granularity]) buckets.push({ granularity, start });
  return buckets;
}
