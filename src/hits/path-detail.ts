// One path's detail (GET /stats/path) as a query of the read model: all-time hits, the window's
// hits and visitors, and a zero-filled series. The route parses and checks the window; this reads.
import { bucketId, series, type Granularity, type Range } from '../analytics/buckets.js';
import type { Rankings } from './rankings.js';

export interface PathDetailQuery {
  path: string;
  /** The window asked for; undefined: all time (the series then covers `range`, the kept days). */
  window: Range | undefined;
  /** What the series covers: the window, or the whole history still kept in buckets. */
  range: Range;
  granularity: Granularity;
  now: number;
}

export interface PathDetail {
  path: string;
  hits: number;
  window: { from: string; to: string; hits: number; visitors: number };
  granularity: Granularity;
  series: Array<{ time: string; hits: number }>;
}

export type PathDetailSource = Pick<Rankings, 'hitsOf' | 'seriesOf' | 'visitorsOf' | 'visitorRetentionMs'>;

/** Day ids whose visitor HyperLogLogs cover a range: all kept days for all time. */
export function visitorDays(range: Range | undefined, now: number, keptMs: number): string[] {
  const span = range ?? { from: now - keptMs, to: now + 1 };
  return series(span, 'day').map(bucketId);
}

/** The path's detail; undefined when it was never counted. */
export async function pathDetail(store: PathDetailSource, { path, window, range, granularity, now }: PathDetailQuery): Promise<PathDetail | undefined> {
  const hits = await store.hitsOf(path);
  if (hits === 0) return undefined;
  const buckets = series(range, granularity);
  const counts = await store.seriesOf(path, buckets);
  const [visitors = 0] = await store.visitorsOf([path], visitorDays(window, now, store.visitorRetentionMs()));
  // All time is the ranking's own count: it also holds hits older than the day buckets kept.
  const windowHits = window ? counts.reduce((a, b) => a + b, 0) : hits;
  const iso = (time: number) => new Date(time).toISOString();
  return {
    path,
    hits,
    window: { from: iso(range.from), to: iso(range.to), hits: windowHits, visitors },
    granularity,
    series: buckets.map((bucket, i) => ({ time: iso(bucket.start), hits: counts[i] ?? 0 })),
  };
}
