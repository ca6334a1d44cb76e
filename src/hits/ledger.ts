// The exactly-once ledger. Every call that counts hits carries a sequence number of its
// connection's epoch, and the script records the last number it applied (record-hits.lua,
// add-hits.lua). When a call's reply never comes (timeout, lost connection), its hits are kept
// here as unresolved until Redis says whether it applied them: one connection's commands apply in
// order, so exactly those numbered up to the recorded one were applied. Then:
// - a durable hit answered 503 that was applied after all is taken back (retract-hit.lua, idempotent);
// - a write-behind group that was not applied is handed back to be sent again.
// Nothing is ever retried blindly (ioredis: no offline queue, no resend after reconnect), so
// nothing is counted twice.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { bucketsAt } from '../analytics/buckets.js';
import type { Clock } from '../clock.js';
import type { ShardKeys } from '../redis/keys.js';
import { retractHitArgs } from '../redis/script-args.js';
import type { Scripts } from '../redis/scripts.js';
import { UnresolvedHits } from './unresolved.js';

/** What waits for Redis to say whether it applied a call whose reply never came. */
export type Unresolved<G> =
  | { kind: 'answered503'; path: string; time: number } // applied → take it back
  | { kind: 'flushed'; group: G }; // not applied → send it again

export interface LedgerOptions<G> {
  redis: Redis;
  scripts: Scripts;
  shards: readonly ShardKeys[];
  clock: Clock;
  logger: Logger;
  /** How long Redis keeps the sequence and retracted keys (redis.ledgerTtlSeconds). */
  ttlMs: number;
  /** Whether hits are counted in the buckets too (retraction takes them out there as well). */
  buckets: boolean;
  /** After a connection closes, how long to wait before concluding its unanswered calls were not applied. */
  settleMs: number;
  /** A write-behind group Redis did not apply. */
  notApplied(group: G): void;
}

const RECONCILE_EVERY_MS = 250;

export class Ledger<G> {
  readonly #o: LedgerOptions<G>;
  readonly #unresolved: UnresolvedHits<Unresolved<G>>;
  // Per shard: the current epoch (a connection's run of sequence numbers) and its last number.
  // A shard's commands go to one node over one connection, in order; that is what makes "applied
  // up to N" meaningful, so each shard numbers its own hits.
  readonly #epochs: string[] = [];
  readonly #seqs: number[] = [];
  readonly #epochShard = new Map<string, number>();
  #retracted = 0;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #reconciling: Promise<void> | undefined;
  // Each connection is an epoch with its own sequence numbers: a new one starts when the old closes.
  readonly #onClose = () => this.#o.shards.forEach((_, shard) => this.#roll(shard));

  constructor(options: LedgerOptions<G>) {
    this.#o = options;
    this.#unresolved = new UnresolvedHits(options.settleMs);
    options.shards.forEach((_, shard) => this.#newEpoch(shard));
    options.redis.on('close', this.#onClose);
  }

  /** Numbers `n` hits (or groups) of the shard: their epoch and the last one's number. */
  take(shard: number, n = 1): { epoch: string; seq: number } {
    return { epoch: this.#epochs[shard]!, seq: (this.#seqs[shard]! += n) };
  }

  /** A call's reply never came: keeps its item until Redis tells, and ends the epoch. */
  unknown(shard: number, epoch: string, seq: number, item: Unresolved<G>): void {
    this.#unresolved.add(epoch, seq, item);
    // Also at the first unknown outcome, not only when the connection closes: on Redis Cluster a
    // failover moves the shard to another node without the client as a whole closing, and hits
    // numbered on in the same epoch there would make "applied up to N" wrong.
    if (epoch === this.#epochs[shard]) this.#roll(shard);
    if (!this.#closed) this.#timer ??= setInterval(() => void this.reconcile(), RECONCILE_EVERY_MS).unref();
  }

  /** Hits answered 503 (or write-behind groups sent) whose fate Redis has not told yet. */
  get size(): number {
    return this.#unresolved.size;
  }

  items(): Iterable<Unresolved<G>> {
    return this.#unresolved.items();
  }

  /** Whether the reconcile timer runs: only while something is unresolved, never after close(). */
  get reconciling(): boolean {
    return this.#timer !== undefined;
  }

  /** Hits taken back since start-up: applied by Redis after their client was answered 503. */
  get retracted(): number {
    return this.#retracted;
  }

  /** Per shard, the sequence keys of this process's epochs: reset deletes them with the rest. */
  seqKeys(): string[][] {
    return this.#o.shards.map((keys, i) => [...this.#epochShard].filter(([, of]) => of === i).map(([epoch]) => keys.hitSeq(epoch)));
  }

  #newEpoch(shard: number): void {
    const epoch = randomUUID();
    this.#epochShard.set(epoch, shard);
    this.#epochs[shard] = epoch;
    this.#seqs[shard] = 0;
  }

  /** Ends the shard's epoch: its unanswered hits are resolved against what Redis recorded for it. */
  #roll(shard: number): void {
    this.#unresolved.closed(this.#epochs[shard]!, this.#o.clock.now());
    this.#newEpoch(shard);
  }

  /** Resolves what can be resolved now. Runs by itself while hits are unresolved. */
  reconcile(): Promise<void> {
    this.#reconciling ??= this.#reconcileOnce().finally(() => { this.#reconciling = undefined; });
    return this.#reconciling;
  }

  async #reconcileOnce(): Promise<void> {
    const { redis, clock, logger } = this.#o;
    if (redis.status !== 'ready') return;
    try {
      for (const epoch of this.#unresolved.epochs()) {
        const keys = this.#o.shards[this.#epochShard.get(epoch) ?? 0]!;
        const last = Number((await redis.get(keys.hitSeq(epoch))) ?? 0);
        const { applied, notApplied } = this.#unresolved.resolve(epoch, last, clock.now());
        let retracted = 0;
        for (const { seq, hit } of applied) {
          if (hit.kind === 'answered503' && await this.#retract(keys, epoch, seq, hit)) retracted++;
          this.#unresolved.retracted(epoch, seq);
        }
        for (const hit of notApplied) if (hit.kind === 'flushed') this.#o.notApplied(hit.group);
        if (applied.length > 0 || notApplied.length > 0) {
          logger.info({ epoch, applied: applied.length, retracted, notApplied: notApplied.length }, 'resolved writes whose replies were lost');
        }
      }
      this.#unresolved.prune();
      const open = new Set([...this.#epochs, ...this.#unresolved.epochs()]);
      for (const epoch of this.#epochShard.keys()) if (!open.has(epoch)) this.#epochShard.delete(epoch);
    } catch (error) {
      logger.debug({ err: error }, 'could not resolve unanswered hits yet; retrying');
    }
    if (this.#unresolved.size === 0) this.#stopTimer();
  }

  /** Takes back one applied hit; false when Redis had counted nothing for it (refused at api.maxPaths). */
  async #retract(keys: ShardKeys, epoch: string, seq: number, hit: { path: string; time: number }): Promise<boolean> {
    const { minute, hour, day } = bucketsAt(hit.time);
    const taken = await this.#o.scripts.retractHit(retractHitArgs({
      keys: { hits: keys.hits, retracted: keys.hitRetracted(epoch), minute: keys.bucket(minute), hour: keys.bucket(hour), day: keys.bucket(day), second: keys.second(Math.floor(hit.time / 1000)) },
      path: hit.path, seq, retractedTtlMs: this.#o.ttlMs, inBuckets: this.#o.buckets,
    }));
    if (Number(taken) === -1) return false;
    this.#retracted++;
    return true;
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stops the reconcile timer and the close listener. Safe to call twice. */
  close(): void {
    // A batch that times out during shutdown still reaches unknown(): it must not start a timer.
    this.#closed = true;
    this.#stopTimer();
    this.#o.redis.off('close', this.#onClose);
  }
}
