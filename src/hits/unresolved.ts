// Hits whose outcome is unknown: their command reached (or may have reached) Redis, but no reply
// came before the client had to be answered 503 (a timeout, or the connection died). Each is kept
// under its connection's epoch and sequence number until Redis can say whether it was applied.

interface Epoch<T> {
  /** When the connection closed; undefined while it is still open. */
  closedAt?: number;
  hits: Map<number, T>;
}

export interface Resolution<T> {
  /** Hits Redis applied after all: the caller takes them back. */
  applied: Array<{ epoch: string; seq: number; hit: T }>;
  /** Hits known never to have been applied: forgotten here, handed back to the caller. */
  notApplied: T[];
}

// ioredis emits 'close' before it rejects the commands that were in flight, and an epoch is also
// ended at its first unknown outcome while its other hits are still on their way: those arrive
// here after their epoch closed, so closing times are kept for them to find. Far longer than any
// command can stay in flight (redis.commandTimeoutMs), however many epochs end meanwhile.
export const KEEP_CLOSES_MS = 60_000;

export class UnresolvedHits<T> {
  readonly #epochs = new Map<string, Epoch<T>>();
  readonly #recentlyClosed = new Map<string, number>();

  constructor(private readonly settleMs: number) {}

  get size(): number {
    let size = 0;
    for (const epoch of this.#epochs.values()) size += epoch.hits.size;
    return size;
  }

  *items(): Generator<T> {
    for (const epoch of this.#epochs.values()) yield* epoch.hits.values();
  }

  epochs(): string[] {
    return [...this.#epochs.keys()];
  }

  add(epoch: string, seq: number, hit: T): void {
    let entry = this.#epochs.get(epoch);
    if (!entry) this.#epochs.set(epoch, (entry = { closedAt: this.#recentlyClosed.get(epoch), hits: new Map() }));
    entry.hits.set(seq, hit);
  }

  closed(epoch: string, at: number): void {
    const entry = this.#epochs.get(epoch);
    if (entry && entry.closedAt === undefined) entry.closedAt = at;
    this.#recentlyClosed.set(epoch, at);
    // Oldest first (insertion order): drop the ones no in-flight command can still belong to.
    for (const [old, closedAt] of this.#recentlyClosed) {
      if (at - closedAt < KEEP_CLOSES_MS) break;
      this.#recentlyClosed.delete(old);
    }
  }

  /**
   * Given the last sequence number Redis applied for `epoch`: every unresolved hit numbered up to
   * it was applied (one connection's commands apply in order). Hits above it were not, once the
   * connection has been closed for settleMs (time for Redis to drain what it had already read);
   * on an open connection they may still be applied, so they wait.
   */
  resolve(epoch: string, lastApplied: number, now: number): Resolution<T> {
    const resolution: Resolution<T> = { applied: [], notApplied: [] };
    const entry = this.#epochs.get(epoch);
    if (!entry) return resolution;
    const settled = entry.closedAt !== undefined && now - entry.closedAt >= this.settleMs;
    for (const [seq, hit] of entry.hits) {
      if (seq <= lastApplied) resolution.applied.push({ epoch, seq, hit });
      else if (settled) {
        entry.hits.delete(seq);
        resolution.notApplied.push(hit);
      }
    }
    return resolution;
  }

  /** The caller has dealt with this applied hit (taken it back, or just noted it). */
  retracted(epoch: string, seq: number): void {
    const entry = this.#epochs.get(epoch);
    entry?.hits.delete(seq);
    if (entry && entry.hits.size === 0 && entry.closedAt !== undefined) this.#epochs.delete(epoch);
  }

  /** Forgets empty epochs of closed connections. */
  prune(): void {
    for (const [epoch, entry] of this.#epochs) {
      if (entry.hits.size === 0 && entry.closedAt !== undefined) this.#epochs.delete(epoch);
    }
  }
}
