// A ranking restricted to the paths under a prefix (GET /stats?prefix=): Redis cannot filter a
// sorted set ordered by score by its members' names, so the ranking is read in pages and filtered
// here. Offset and limit count among the matches.
import { underPrefix } from './normalize.js';
import type { PathHits, Ranking, Rankings } from './rankings.js';

/**
 * One page of the matches and how many there are in all, in one pass over the ranking: the
 * page is kept (at most `limit` rows; 0 to only count), everything else only counted.
 */
export async function pageUnder(rankings: Rankings, ranking: Ranking, prefix: string, offset: number, limit: number): Promise<{ rows: PathHits[]; total: number }> {
  const rows: PathHits[] = [];
  let total = 0;
  for await (const page of rankings.ranking({ offset: 0 }, ranking)) {
    for (const row of page) {
      if (!underPrefix(row.path, prefix)) continue;
      if (total >= offset && rows.length < limit) rows.push(row);
      total++;
    }
  }
  return { rows, total };
}

/** The ranking's pages restricted to the prefix, streamed, with offset and limit counted among matches. */
export async function* pagesUnder(rankings: Rankings, ranking: Ranking, prefix: string, offset: number, limit: number | undefined): AsyncGenerator<PathHits[]> {
  let skipped = 0;
  let taken = 0;
  for await (const page of rankings.ranking({ offset: 0 }, ranking)) {
    const kept: PathHits[] = [];
    for (const row of page) {
      if (!underPrefix(row.path, prefix)) continue;
      if (skipped < offset) { skipped++; continue; }
      if (limit !== undefined && taken >= limit) break;
      kept.push(row);
      taken++;
    }
    yield kept;
    if (limit !== undefined && taken >= limit) return;
  }
}
