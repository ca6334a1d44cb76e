import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import { pino, type DestinationStream, type Logger } from 'pino';

// Secrets never reach a log line, whatever object carries them.
const REDACT = [
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
  'token', '*.token', 'password', '*.password', 'adminToken', '*.adminToken',
];

// ioredis puts a failed command's arguments on its error (`command.args`): for a batch of hits,
// the clients' paths, User-Agents, Referers and visitor hashes, tens of KB. Never logged.
function errWithoutCommand(error: Error): unknown {
  const serialized = pino.stdSerializers.err(error) as unknown as Record<string, unknown>;
  if (serialized && typeof serialized === 'object') {
    delete serialized.command;
    delete serialized.args;
  }
  return serialized;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { service: 'hitcounter' }, redact: { paths: REDACT, censor: '[redacted]' }, serializers: { err: errWithoutCommand } };
  return destination ? pino(options, destination) : pino(options);
}

declare module 'koa' {
  interface DefaultState {
    /** The request's logger: every line carries its reqId. */
    log: Logger;
  }
}

// A client's own request id is kept when it looks like one, so traces join up across services.
const CLIENT_ID = /^[\w.:-]{1,128}$/;

/**
 * A request's state, with its logger made on first use: most requests (every successful hit)
 * never log, and a getter on the prototype costs nothing per request until it is read.
 */
class RequestState {
  #log: Logger | undefined;
  constructor(private readonly logger: Logger, private readonly reqId: string) {}
  get log(): Logger {
    return (this.#log ??= this.logger.child({ reqId: this.reqId }));
  }
}

/** Gives each request an id, echoed in X-Request-Id, and a logger that stamps it on every line. */
export function requestContext(logger: Logger): Middleware {
  const accessLog = logger.isLevelEnabled('debug');
  return async function withRequestId(ctx, next) {
    const given = ctx.get('X-Request-Id');
    const reqId = given !== '' && CLIENT_ID.test(given) ? given : randomUUID();
    ctx.set('X-Request-Id', reqId);
    ctx.state = new RequestState(logger, reqId);
    if (!accessLog) return next();
    const started = performance.now();
    try {
      await next();
    } finally {
      // One line per request at debug: at info, a busy counter would spend its time logging.
      ctx.state.log.debug({ method: ctx.method, url: ctx.url, status: ctx.status, ms: Math.round((performance.now() - started) * 1000) / 1000 }, 'request');
    }
  };
}
