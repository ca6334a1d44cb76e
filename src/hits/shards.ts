// Sharded counters: with redis.shards = K > 1 the ranking is K sorted sets, and every path lives
// in exactly one of them (shardOf), so its count stays exact. Each shard has its own hash tag,
// chosen so that the tags' slots are spread evenly over the 16384 slots: on a cluster whose
// masters own equal slot ranges (as `redis-cli --cluster create` makes them), shard i lands on
// master i mod M, and the shards' writes no longer queue on one node.
import calculateSlot from 'cluster-key-slot';

const SLOTS = 16_384;

/** The shard a path is counted in: a hash of the path (its slot), mod K. */
export function shardOf(path: string, shards: number): number {
  return shards === 1 ? 0 : calculateSlot(path) % shards;
}

/**
 * The hash tag of each shard: `<ranking>:<i>`, with the smallest `~n` suffix that puts its slot in
 * the i-th K-th of the slot space. Deterministic, so every replica computes the same names.
 */
export function shardTags(ranking: string, shards: number): string[] {
  return Array.from({ length: shards }, (_, i) => {
    const from = Math.floor((i * SLOTS) / shards);
    const to = Math.floor(((i + 1) * SLOTS) / shards);
    for (let n = 0; ; n++) {
      const tag = n === 0 ? `${ranking}:${i}` : `${ranking}:${i}~${n}`;
      const slot = calculateSlot(tag);
      if (slot >= from && slot < to) return tag;
    }
  });
}

/** Items grouped by shard (`shardOfItem`), each group in the items' order: a pipeline per shard. */
export function groupByShard<T>(items: Iterable<T>, shardOfItem: (item: T) => number): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const shard = shardOfItem(item);
    const group = groups.get(shard);
    if (group) group.push(item);
    else groups.set(shard, [item]);
  }
  return groups;
}
