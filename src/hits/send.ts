// The one way hits reach Redis, for both write paths: a script call, or a pipeline of them (one
// shard, so one slot on Redis Cluster), timed for the metrics, each call's outcome sorted by what it tells about
// exactness. The write paths decide what to do with each outcome; this decides what it means.
import { ReplyError, type ChainableCommander, type Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { ScriptArgs } from '../redis/script-args.js';
import { RefusalLog, redisErrorText, refusalReason, refusedForNow } from '../redis/unavailable.js';

export interface SendMetrics {
  /** `ok`: Redis replied to every call of the pipeline without an error. */
  flushed(command: 'record_hits' | 'add_hits' | 'record_batch', seconds: number, hits: number, ok: boolean): void;
}

/**
 * What a failed call tells:
 * - `not_sent`: ioredis refused to send it (not connected, no offline queue): not applied.
 * - `refused`: Redis refused it for now without running it (OOM, CLUSTERDOWN, …): not applied.
 * - `rejected`: Redis ran it and answered with an error: a bug, nothing to resolve.
 * - `unknown`: no reply (timeout, connection lost): it may or may not have been applied, so the
 *   ledger must find out before the hits are either taken back or sent again.
 */
export type Failure = 'not_sent' | 'refused' | 'rejected' | 'unknown';

// ioredis says this when it refused to send at all (not connected, no offline queue).
const NOT_SENT = /Stream isn't writeable|enableOfflineQueue/;

export function classify(error: Error): Failure {
  if (refusedForNow(error)) return 'refused';
  if (error instanceof ReplyError) return 'rejected';
  if (NOT_SENT.test(error.message)) return 'not_sent';
  return 'unknown';
}

type Command = 'record_hits' | 'add_hits' | 'record_batch';

export type Reply = { ok: true; value: string[] } | { ok: false; error: Error; failure: Failure };

export class Sender {
  // Redis's last refusal of a write (OOM, …), until a write succeeds again (see writeRefusal).
  #refusal: { reason: string; error: string } | undefined;
  readonly #refusals: RefusalLog;

  constructor(private readonly redis: Redis, private readonly probeKey: string, logger: Logger, clock: Clock, private readonly metrics?: SendMetrics) {
    this.#refusals = new RefusalLog(logger, () => clock.now());
  }

  /**
   * Sends the calls (a lone one on its own, several in one pipeline), followed by WAIT 1 `waitMs`
   * when given, and returns each call's reply in order, and WAIT's count of replicas (0 when it
   * failed or was not asked for).
   */
  async send(command: Command, hits: number, calls: readonly ScriptArgs[], waitMs?: number): Promise<{ replies: Reply[]; replicas: number }> {
    // A client closed for good (shutdown) sends nothing, though ioredis words its refusal like the
    // loss of a command in flight ("Connection is closed."): that would read as unknown, and the
    // ledger could never resolve it.
    if (this.redis.status === 'end') {
      const error = new Error('the Redis client is closed: nothing was sent');
      return { replies: calls.map(() => ({ ok: false, error, failure: 'not_sent' })), replicas: 0 };
    }
    const started = performance.now();
    let results: Array<[Error | null, unknown]>;
    try {
      results = calls.length === 1 && waitMs === undefined ? [[null, await this.#call(this.redis, command, calls[0]!)]] : await this.#pipeline(command, calls, waitMs);
    } catch (error) {
      this.metrics?.flushed(command, (performance.now() - started) / 1000, hits, false);
      const failed = this.#failed(error as Error);
      return { replies: calls.map(() => failed), replicas: 0 };
    }
    this.metrics?.flushed(command, (performance.now() - started) / 1000, hits, results.every(([error]) => !error));
    const replies = calls.map((_, i): Reply => {
      const [error, value] = results[i] ?? [new Error('no reply'), null];
      if (error) return this.#failed(error);
      this.#refusal = undefined;
      return { ok: true, value: value as string[] };
    });
    const [waitError, replicas] = waitMs === undefined ? [null, 0] : results[calls.length] ?? [null, 0];
    return { replies, replicas: waitError ? 0 : Number(replicas) };
  }

  /**
   * One call, sent on its own: the usual batch, one script call for the hits of one event-loop
   * turn. Not in a pipeline of one, because each ioredis Pipeline defines an accessor property on
   * itself (`length`) with a closure of its own, which gives every pipeline a hidden class of its
   * own; V8 keeps those reachable from the old generation until its next full GC, so a pipeline
   * per batch had the server promote about 1.4 KB per hit, and run a full GC every 3 s at
   * 1,500 hits/s (npm run bench:gc).
   */
  #call(on: Redis | ChainableCommander, command: Command, args: ScriptArgs) {
    if (command === 'record_hits') return on.hcRecordHits(...args);
    if (command === 'record_batch') return on.hcRecordBatch(...args);
    return on.hcAddHits(...args);
  }

  /** Several calls, and WAIT when asked for, in one pipeline: one write to the socket. */
  async #pipeline(command: Command, calls: readonly ScriptArgs[], waitMs: number | undefined): Promise<Array<[Error | null, unknown]>> {
    const pipeline = this.redis.pipeline();
    for (const args of calls) this.#call(pipeline, command, args);
    // WAIT counts the replicas that have every write this connection made so far: the calls.
    if (waitMs !== undefined) pipeline.wait(1, waitMs);
    return (await pipeline.exec()) ?? [];
  }

  #failed(error: Error): Reply {
    const failure = classify(error);
    if (failure === 'refused') {
      this.#refusal = { reason: refusalReason(error), error: redisErrorText(error) };
      this.#refusals.report(this.#refusal.reason, error);
    }
    return { ok: false, error, failure };
  }

  /**
   * Why Redis refuses writes (`redis_oom`: out of memory), or undefined when it takes them. Known
   * from the last call; while one was refused, each ask probes with a small write of its own, so
   * that the answer recovers without waiting for hits (a replica taken out of a load balancer by
   * its health check gets none).
   */
  async writeRefusal(): Promise<{ reason: string; error: string } | undefined> {
    if (!this.#refusal) return undefined;
    try {
      await this.redis.set(this.probeKey, '1', 'PX', 1000);
      this.#refusal = undefined;
    } catch (error) {
      if (refusedForNow(error)) this.#refusal = { reason: refusalReason(error), error: redisErrorText(error) };
    }
    return this.#refusal;
  }
}
