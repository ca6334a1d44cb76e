// The query behind GET /stats, in the read model rather than in the route: which ranking (all time
// or a window's union), restricted to a prefix or not, offset and limit counted among the rows
// kept, how many there are in all, and with uniques each row's visitors. The route only renders.
//
// The total comes before the rows (X-Total-Count is a header). Without a prefix it is ZCARD, and a
// short page comes with it in one round trip (pageWithTotal). A prefix is another matter: Redis
// cannot filter a sorted set ordered by score by its members' names, so counting the matches takes
// a pass over the whole ranking. That same pass keeps the requested rows, so the ranking is read
// once, not counted and then streamed. What it keeps is bounded: at most `bufferRows` matching
// rows (default BUFFER_PAGES × pageSize), while the ranking may hold api.maxPaths (a million by
// default). When the requested matches outnumber the buffer (a long or unbounded limit), the pass
// notes where in the ranking (per shard) the buffer ended and goes on only counting; the rows then
// stream as the buffer followed by a read of the ranking from that point on. Only that case reads
// part of the ranking twice (the part after the buffer); test/ranking-query.ts watches both cases
// with MONITOR. As with ranking(), rows written meanwhile may shift: each page is exact when read.
import type { Range } from '../analytics/buckets.js';
import { mergeSorted, rankedBefore } from './merge.js';
import { API_ROOT, underPrefix } from './normalize.js';
import type { PathHits, Ranking, Rankings } from './rankings.js';

export type Row = PathHits & { visitors?: number };

export interface RankingQuery {
  /** A window (Rankings.rankingKey's); undefined: all time. */
  range: Range | undefined;
  /** Only the paths under it (normalized, as prefixParam gives it); undefined: every path. */
  prefix?: string;
  /** Rows skipped first, counted among the matches. */
  offset: number;
  /** Rows wanted at most; undefined: to the end. */
  limit?: number;
  /** Add each row's approximate distinct visitors over visitorDays. */
  uniques?: boolean;
  /** Day ids whose visitor HyperLogLogs are counted (with uniques). */
  visitorDays?: readonly string[];
  /** Matching rows a prefixed query keeps in memory at most; default BUFFER_PAGES × pageSize. */
  bufferRows?: number;
}

export interface RankingAnswer {
  /** Paths in the ranking, or matches under the prefix: known before any row is read. */
  total: number;
  /** The requested rows, highest first, in non-empty pages of at most pageSize; read once. */
  rows: AsyncGenerator<Row[]>;
}

/** What the query reads: a HitStore, or Rankings alone. */
export type RankingSource = Pick<Rankings, 'rankingKey' | 'pageSize' | 'ranking' | 'pageWithTotal' | 'distinctPaths' | 'visitorsOf'>;

/** Pages of matches a prefixed query keeps before it reads on from where they end (see above). */
export const BUFFER_PAGES = 10;

export async function query(store: RankingSource, q: RankingQuery): Promise<RankingAnswer> {
  const ranking = await store.rankingKey(q.range);
  // Every path is under the root: the same answer as no prefix, which has the short ways.
  const prefix = q.prefix === API_ROOT ? undefined : q.prefix;
  const { offset, limit } = q;
  let answer: { total: number; rows: AsyncIterable<PathHits[]> };
  if (prefix !== undefined) {
    answer = await underPrefixOnce(store, ranking, prefix, offset, limit, q.bufferRows ?? BUFFER_PAGES * store.pageSize);
  } else if (limit !== undefined && limit >= 1 && limit <= store.pageSize) {
    const [page, total] = await store.pageWithTotal(ranking, offset, limit);
    answer = { total, rows: once(page) };
  } else {
    answer = { total: await store.distinctPaths(ranking), rows: store.ranking({ offset, limit }, ranking) };
  }
  const rows = q.uniques ? withVisitors(store, answer.rows, [...(q.visitorDays ?? [])]) : nonEmpty(answer.rows);
  return { total: answer.total, rows };
}

/**
 * One pass over the ranking: counts the matches under `prefix` and keeps those of the page, at
 * most `bufferRows` of them. If wanted matches lie past the buffer, the rows read on afterwards
 * from the ranking's position (per shard) just after the buffer's last row.
 */
async function underPrefixOnce(store: RankingSource, ranking: Ranking, prefix: string, offset: number, limit: number | undefined, bufferRows: number): Promise<{ total: number; rows: AsyncIterable<PathHits[]> }> {
  const end = limit === undefined ? Infinity : offset + limit;
  const keep = Math.min(end - offset, Math.max(1, bufferRows));
  const buffer: PathHits[] = [];
  const read = ranking.map(() => 0); // rows read so far, per shard
  let bufferEnd: number[] | undefined; // `read` when the buffer filled
  let more = false; // wanted matches lie past the buffer
  let total = 0;
  for await (const { rows, shards } of readFrom(store, ranking, read.slice())) {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      read[shards?.[i] ?? 0]!++;
      if (!underPrefix(row.path, prefix)) continue;
      if (total >= offset && total < end) {
        if (buffer.length < keep) {
          buffer.push(row);
          if (buffer.length === keep) bufferEnd = read.slice();
        } else {
          more = true;
        }
      }
      total++;
    }
  }
  const pageSize = store.pageSize;
  async function* rows(): AsyncGenerator<PathHits[]> {
    for (let i = 0; i < buffer.length; i += pageSize) yield buffer.slice(i, i + pageSize);
    if (!more || !bufferEnd) return;
    let left = end - offset - keep;
    for await (const page of readFrom(store, ranking, bufferEnd)) {
      const kept: PathHits[] = [];
      for (const row of page.rows) {
        if (left <= 0) break;
        if (underPrefix(row.path, prefix)) { kept.push(row); left--; }
      }
      yield kept;
      if (left <= 0) return;
    }
  }
  return { total, rows: rows() };
}

/**
 * The ranking from per-shard positions on, in ZREVRANGE order, in pages. With shards, merged here
 * (not by ranking(), which would start every shard at 0) and each row's shard given alongside.
 */
async function* readFrom(store: RankingSource, ranking: Ranking, at: readonly number[]): AsyncGenerator<{ rows: PathHits[]; shards?: number[] }> {
  if (ranking.length === 1) {
    for await (const rows of store.ranking({ offset: at[0]! }, ranking)) yield { rows };
    return;
  }
  const tagged = ranking.map(async function* (key, shard) {
    for await (const rows of store.ranking({ offset: at[shard]! }, [key])) for (const row of rows) yield { row, shard };
  });
  let page: { rows: PathHits[]; shards: number[] } = { rows: [], shards: [] };
  for await (const { row, shard } of mergeSorted(tagged, (a, b) => rankedBefore(a.row, b.row))) {
    page.rows.push(row);
    page.shards.push(shard);
    if (page.rows.length === store.pageSize) {
      yield page;
      page = { rows: [], shards: [] };
    }
  }
  if (page.rows.length > 0) yield page;
}

async function* once(rows: PathHits[]): AsyncGenerator<PathHits[]> {
  yield rows;
}

async function* nonEmpty(pages: AsyncIterable<PathHits[]>): AsyncGenerator<Row[]> {
  for await (const rows of pages) if (rows.length > 0) yield rows;
}

/** Each page with its rows' visitors: one pipeline of PFCOUNTs per page (per shard). */
async function* withVisitors(store: RankingSource, pages: AsyncIterable<PathHits[]>, days: string[]): AsyncGenerator<Row[]> {
  for await (const rows of pages) {
    if (rows.length === 0) continue;
    const visitors = await store.visitorsOf(rows.map((row) => row.path), days);
    yield rows.map((row, i) => ({ ...row, visitors: visitors[i]! }));
  }
}
