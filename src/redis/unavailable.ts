import { ReplyError } from 'ioredis';
import { ServiceUnavailableError } from '../errors.js';

/**
 * For `.catch()` on a Redis command. A ReplyError is Redis answering "no" (a bug on our side,
 * so a 500). Anything else means no answer arrived in time or the connection is gone, so the
 * client gets a 503 it may retry, and nothing was changed on its behalf.
 */
export function unavailable(error: unknown): never {
  if (error instanceof ReplyError) throw error;
  throw new ServiceUnavailableError('Redis is unavailable: nothing was counted or changed', { cause: error });
}
