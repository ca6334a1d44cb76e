// k-way merge of streams that are each already in order: how K shards read as one ranking (and K
// event streams as one log) without sorting anything in Node. K is small, so the next item is
// found by looking at every head.

/** Yields every item of `sources` in the order `before` defines (a before b: a comes first). */
export async function* mergeSorted<T>(sources: Array<AsyncIterable<T>>, before: (a: T, b: T) => boolean): AsyncGenerator<T> {
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  try {
    const heads = await Promise.all(iterators.map((iterator) => iterator.next()));
    for (;;) {
      let best = -1;
      heads.forEach((head, i) => {
        if (!head.done && (best < 0 || before(head.value, heads[best]!.value as T))) best = i;
      });
      if (best < 0) return;
      yield heads[best]!.value as T;
      heads[best] = await iterators[best]!.next();
    }
  } finally {
    await Promise.all(iterators.map((iterator) => iterator.return?.()));
  }
}

/** ZREVRANGE's order: more hits first; equal hits by member, bytewise, greater first. */
export function rankedBefore(a: { path: string; hits: number }, b: { path: string; hits: number }): boolean {
  return a.hits > b.hits || (a.hits === b.hits && Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)) > 0);
}
