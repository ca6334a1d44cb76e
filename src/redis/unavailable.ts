import { ReplyError } from 'ioredis';
import { ServiceUnavailableError } from '../errors.js';

// Redis refusing a command for the moment, without running it: a cluster between a master's
// failure and its replica's promotion (CLUSTERDOWN), a slot on another node (MOVED, ASK: ioredis
// follows them itself, except in a pipeline that also holds a keyless command such as WAIT), a
// slot migrating (TRYAGAIN), a node loading its data (LOADING), a replica that lost its master
// (MASTERDOWN), or a demoted master (READONLY).
const REFUSED_FOR_NOW = /^(CLUSTERDOWN|MOVED|ASK|TRYAGAIN|LOADING|MASTERDOWN|READONLY)\b/;

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
