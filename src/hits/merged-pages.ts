// Several shards' rankings read as one: their pages k-way merged in ZREVRANGE order, offset and
// limit counted among merged rows, cut again into pages of pageSize, as one sorted set would page.
import { mergeSorted, rankedBefore } from './merge.js';

// rankings.ts's PathHits and Page, by shape: rankings.ts imports this module, so importing its
// types back would make a cycle (scripts/dependency-rules.cjs forbids cycles in src/).
type PathHits = { path: string; hits: number };
type Page = { offset: number; limit?: number };

async function* rowsOf(pages: AsyncIterable<PathHits[]>): AsyncGenerator<PathHits> {
  for await (const rows of pages) yield* rows;
}

export async function* mergedPages(shards: Array<AsyncIterable<PathHits[]>>, { offset, limit }: Page, pageSize: number): AsyncGenerator<PathHits[]> {
  const merged = mergeSorted(shards.map(rowsOf), rankedBefore);
  let skipped = 0;
  let taken = 0;
  let rows: PathHits[] = [];
  for await (const row of merged) {
    if (skipped < offset) { skipped++; continue; }
    if (limit !== undefined && taken >= limit) break;
    rows.push(row);
    taken++;
    if (rows.length === pageSize) { yield rows; rows = []; }
  }
  if (rows.length > 0) yield rows;
}
