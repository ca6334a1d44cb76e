import { ReplyError } from 'ioredis';
import type { Logger } from 'pino';
import { ServiceUnavailableError } from '../errors.js';

// Redis refusing a command for the moment, without running it: a cluster between a master's
// failure and its replica's promotion (CLUSTERDOWN), a slot on another node (MOVED, ASK: ioredis
// follows them itself, except in a pipeline that also holds a keyless command such as WAIT), a
// slot migrating (TRYAGAIN), a node loading its data (LOADING), a replica that lost its master
// (MASTERDOWN), a demoted master (READONLY), or a Redis at its `maxmemory` with nothing it may
// evict (OOM: a script is refused before its first write, so none of it ran).
const REFUSED_FOR_NOW = /^(CLUSTERDOWN|MOVED|ASK|TRYAGAIN|LOADING|MASTERDOWN|READONLY|OOM)\b/;

/** A reply that says Redis did not run the command and may well run it later: a 503, not a 500. */
export function refusedForNow(error: unknown): boolean {
  return error instanceof ReplyError && REFUSED_FOR_NOW.test((error as Error).message);
}

/**
 * For `.catch()` on a Redis command. A ReplyError is Redis answering "no" (a bug on our side,
 * so a 500), unless it is refusedForNow. Anything else means no answer arrived in time or the
 * connection is gone, so the client gets a 503 it may retry, and nothing was changed on its behalf.
 */
export function unavailable(error: unknown): never {
  if (error instanceof ReplyError && !refusedForNow(error)) throw error;
  throw new ServiceUnavailableError('Redis is unavailable: nothing was counted or changed', { cause: error });
}

/** The reason label of a refusal (metrics, log): `redis_oom` for OOM, else `redis_refused`. */
export function refusalReason(error: unknown): 'redis_oom' | 'redis_refused' {
  return error instanceof Error && error.message.startsWith('OOM') ? 'redis_oom' : 'redis_refused';
}

/**
 * The first line of a Redis error's message, at most 200 characters: what may be logged of it.
 * Never the error object itself: ioredis puts the command's arguments on it (`command.args`),
 * which for a batch of hits are the clients' paths, User-Agents, Referers and visitor hashes.
 */
export function redisErrorText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n', 1)[0]!.slice(0, 200);
}

/**
 * One log line per reason per `everyMs` while Redis keeps refusing writes, carrying how many
 * refusals it stands for since the last line, and nothing of the requests refused.
 */
export class RefusalLog {
  readonly #last = new Map<string, { at: number; suppressed: number }>();
  constructor(readonly logger: Logger, readonly now: () => number, readonly everyMs = 10_000) {}

  report(reason: string, error: unknown): void {
    const now = this.now();
    const last = this.#last.get(reason);
    if (last && now - last.at < this.everyMs) {
      last.suppressed++;
      return;
    }
    this.logger.error({ reason, error: redisErrorText(error), suppressed: last?.suppressed ?? 0 }, `Redis refuses writes (${reason}): hits are answered 503 and not counted`);
    this.#last.set(reason, { at: now, suppressed: 0 });
  }
}
