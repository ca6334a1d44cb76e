// The durable write path: a hit is acknowledged only after Redis replied to the call that counted
// it, and, with durability `replicated`, after a replica confirmed it. Hits that arrive in the
// same turn of the event loop are batched, flushed with setImmediate (after every ready socket has
// been read), and counted by one call of record-hits.lua per second they fall in: one write to
// Redis and one script run for many hits. Writing to a socket and building a command per hit were
// what a hit cost most; process.nextTick batching (ioredis's autopipelining) flushes after every
// single request, so it measured slower.
import { ForbiddenError, ServiceUnavailableError } from '../errors.js';
import type { Clock } from '../clock.js';
import { recordHitsArgs, type HitKeyLifetimes, type ScriptArgs } from '../redis/script-args.js';
import { redisErrorText, refusalReason } from '../redis/unavailable.js';
import type { Hit, CallKeys } from './hit.js';
import type { Ledger } from './ledger.js';
import type { Failure, Sender } from './send.js';
import { groupByShard, shardOf } from './shards.js';

export interface WriterOptions {
  sender: Sender;
  ledger: Ledger<unknown>;
  /** Per shard, the keys its calls write. */
  callKeys: readonly CallKeys[];
  lifetimes: HitKeyLifetimes;
  /** The event log's approximate length; 0: no event log. */
  maxEvents: number;
  /** Distinct paths per shard (api.maxPaths split evenly); 0: no cap. */
  maxPathsPerShard: number;
  /** For the refusal message: api.maxPaths as configured. */
  maxPaths: number;
  clock: Clock;
  /** Durability `replicated`: WAIT 1 within this many ms before acknowledging. */
  replicatedWithinMs?: number;
}

interface PendingHit {
  hit: Hit;
  shard: number;
  /** Numbered when its batch is sent (see #send), not before. */
  epoch: string;
  seq: number;
  resolve(count: number): void;
  reject(error: Error): void;
}

const UNREPLICATED_BACKOFF_MS = 1000;
// Hits per record-hits.lua call: about 10 Redis commands each, so a call stays well under a millisecond.
export const MAX_PER_CALL = 200;

export class Writer {
  #batch: PendingHit[] = [];
  // Durability replicated: per shard, until when batches are refused because the last WAIT found no replica.
  readonly #unreplicatedUntil: number[] = [];

  constructor(private readonly o: WriterOptions) {}

  /** Counts one hit; resolves with the path's new all-time total, as ZINCRBY reports it. */
  record(hit: Hit): Promise<number> {
    return new Promise((resolve, reject) => {
      const shard = this.o.callKeys.length === 1 ? 0 : shardOf(hit.path, this.o.callKeys.length);
      this.#batch.push({ hit, shard, epoch: '', seq: 0, resolve, reject });
      if (this.#batch.length === 1) setImmediate(this.#flush);
    });
  }

  readonly #flush = (): void => {
    const batch = this.#batch;
    this.#batch = [];
    // One pipeline per shard: on Redis Cluster a pipeline must stay in one slot.
    if (this.o.callKeys.length === 1) return this.#dispatch(0, batch);
    for (const [shard, hits] of groupByShard(batch, (pending) => pending.shard)) this.#dispatch(shard, hits);
  };

  #dispatch(shard: number, hits: PendingHit[]): void {
    // #send answers every hit itself; a throw would be a bug, and must still answer them.
    this.#send(shard, hits).catch((error: Error) => hits.forEach((pending) => pending.reject(error)));
  }

  /** Sends hits of one shard. */
  async #send(shard: number, batch: PendingHit[]): Promise<void> {
    const { replicatedWithinMs: waitMs, clock } = this.o;
    // WAIT holds the connection until it returns: while a shard has no replica in sync, one batch
    // a second finds out, and the others are refused before they are sent (not counted, 503)
    // instead of queueing one wait each behind it.
    if (waitMs !== undefined && clock.now() < (this.#unreplicatedUntil[shard] ?? 0)) {
      const error = new ServiceUnavailableError('No Redis replica is in sync: the hit was not counted (durability replicated)');
      for (const pending of batch) pending.reject(error);
      return;
    }
    // Numbered as it is sent, in the shard's current epoch, so that numbers follow the order of
    // the writes: a batch sent after an epoch ended (a reply lost) is never numbered in it.
    const { epoch, seq } = this.o.ledger.take(shard, batch.length);
    batch.forEach((pending, i) => { pending.epoch = epoch; pending.seq = seq - batch.length + 1 + i; });
    const calls = this.#calls(shard, batch);
    const { replies, replicas } = await this.o.sender.send('record_hits', batch.length, calls.map(({ args }) => args), waitMs);
    // Applied on the master but not known to be on a replica: a failover could still lose it, so
    // it is not acknowledged. It is resolved like a lost reply: found applied, taken back.
    const unreplicated = waitMs !== undefined && replicas < 1;
    if (unreplicated) this.#unreplicatedUntil[shard] = clock.now() + UNREPLICATED_BACKOFF_MS;
    calls.forEach(({ hits }, i) => {
      const reply = replies[i]!;
      if (!reply.ok) return hits.forEach((pending) => this.#failed(pending, reply.failure, reply.error));
      if (unreplicated) return hits.forEach((pending) => this.#failed(pending, 'unknown', new Error(`no replica confirmed the batch within ${waitMs} ms`)));
      hits.forEach((pending, j) => {
        const count = Number(reply.value[j]);
        if (count >= 0) return pending.resolve(count);
        pending.reject(Object.assign(new ForbiddenError(`Path cap reached: ${this.o.maxPaths} distinct paths are counted (api.maxPaths); a new path is not counted, known paths still are`), { refusal: 'path_cap' }));
      });
    });
  }

  /**
   * One script call per run of hits in the same second (their bucket keys and the live feed's
   * per-second counter), at most MAX_PER_CALL long so that no single call holds Redis for long.
   */
  #calls(shard: number, batch: PendingHit[]): Array<{ hits: PendingHit[]; args: ScriptArgs }> {
    const { callKeys, lifetimes, maxEvents, maxPathsPerShard } = this.o;
    const calls: Array<{ hits: PendingHit[]; args: ScriptArgs }> = [];
    for (let start = 0; start < batch.length;) {
      const { hit, epoch } = batch[start]!;
      const second = Math.floor(hit.time / 1000);
      let end = start + 1;
      while (end < batch.length && end - start < MAX_PER_CALL && Math.floor(batch[end]!.hit.time / 1000) === second) end++;
      const hits = start === 0 && end === batch.length ? batch : batch.slice(start, end);
      const keys = callKeys[shard]!.at(hit.time, second, epoch);
      const args = recordHitsArgs({ keys, lifetimes, lastSeq: hits[hits.length - 1]!.seq, maxPaths: maxPathsPerShard, events: callKeys[shard]!.keys.events, maxEvents, hits: hits.map((pending) => pending.hit) });
      calls.push({ hits, args });
      start = end;
    }
    return calls;
  }

  #failed(pending: PendingHit, failure: Failure, error: Error): void {
    if (failure === 'rejected') return pending.reject(error);
    if (failure === 'refused') {
      // Not the ReplyError as cause: it carries the batch's arguments (other clients' requests).
      return pending.reject(Object.assign(new ServiceUnavailableError('Redis is unavailable: the hit was not counted', { cause: new Error(redisErrorText(error)) }), { refusal: refusalReason(error) }));
    }
    if (failure === 'unknown') this.o.ledger.unknown(pending.shard, pending.epoch, pending.seq, { kind: 'answered503', path: pending.hit.path, time: pending.hit.time });
    pending.reject(new ServiceUnavailableError('Redis is unavailable: the hit was not counted', { cause: error }));
  }
}
